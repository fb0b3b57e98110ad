"""Convolution and pooling in the converter and the golden model (golden/conv.py)."""
import numpy as np
import pytest
import torch
from torch import nn

from golden.codings.base import (BINARY_MAX_POOL, COUNT_MAX_POOL, TIME_ON_MAX_POOL,
                                 max_pool_spikes)
from golden.conv import check_shared, tie_to_weight
from golden.convert import ConversionError, calibrate, fold_network, forward
from golden.trainable import TrainableLayer


def randomise_batch_norm(model: nn.Module, seed: int) -> nn.Module:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))
    return model.eval()


CASES = {   # shapes, kernels, strides, paddings and pools the converter must unroll exactly
    "stride 2, no padding": lambda: nn.Sequential(
        nn.Unflatten(1, (2, 9, 9)), nn.Conv2d(2, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Flatten(), nn.Linear(64, 5)),
    "non-square kernel, padding 2, max pool": lambda: nn.Sequential(
        nn.Unflatten(1, (1, 8, 7)), nn.Conv2d(1, 3, (3, 2), padding=2), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(3, 4, 2, stride=(1, 2), padding=(0, 1)), nn.BatchNorm2d(4),
        nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 3, 3)),
    "overlapping max pool, two pools in a row": lambda: nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.ReLU(),
        nn.MaxPool2d(3, stride=1), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 4)),
    "average pool folded into conv and dense": lambda: nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6, 3)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unrolled_network_equals_torch(case):
    torch.manual_seed(sum(map(ord, case)))
    model = randomise_batch_norm(CASES[case](), seed=len(case))
    n_in = int(np.prod(model[0].unflattened_size))
    x = np.random.default_rng(0).random((20, n_in))
    with torch.no_grad():
        expected = model(torch.from_numpy(x).float()).double().numpy()
    layers = fold_network(model)
    np.testing.assert_allclose(forward(layers, x)[-1], expected, rtol=1e-4, atol=1e-4)
    for layer in layers:
        if layer.kernel is not None:      # the dense weight is the kernel, shared
            np.testing.assert_array_equal(
                layer.weight, tie_to_weight(layer.tie, layer.kernel, layer.n_out, layer.n_in))
            assert check_shared(layer.weight, layer.tie)


def test_channel_wise_calibration_and_fan_out():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(512, 2)).eval()
    layers = fold_network(model)
    x = np.random.default_rng(1).random((30, 64))
    peak = calibrate(layers, x)[0].reshape(8, 64)
    activation = forward(layers, x)[0].reshape(30, 8, 64)
    np.testing.assert_array_equal(peak, np.repeat(activation.max((0, 2))[:, None], 64, 1))
    fan_out = layers[0].fan_out.reshape(8, 8)
    assert fan_out[3, 3] == 8 * 9 and fan_out[0, 0] == 8 * 4 and fan_out[0, 3] == 8 * 6


def test_trained_convolution_stays_a_convolution():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Unflatten(1, (1, 6, 6)), nn.Conv2d(1, 3, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 2)).eval()
    layer = fold_network(model)[0]
    trainable = TrainableLayer(layer)
    np.testing.assert_allclose(trainable.weight().detach().numpy(), layer.weight)
    x = torch.rand(5, 36, dtype=torch.float64)
    (x @ trainable.weight().T + trainable.bias()).square().sum().backward()
    with torch.no_grad():
        for p in trainable.parameters():
            p -= 0.1 * p.grad
    trained = trainable.to_float_layer()
    assert not np.allclose(trained.weight, layer.weight)
    np.testing.assert_allclose(trained.weight, tie_to_weight(
        trained.tie, trained.kernel, trained.n_out, trained.n_in))
    assert len(np.unique(trained.bias)) == 3        # one bias per output channel


@pytest.mark.parametrize("model, message", [
    (nn.Sequential(nn.Conv2d(1, 2, 3)), "input shape is unknown"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3, dilation=2)),
     r"Conv2d at position 1: Conv2d with groups or dilation"),
    (nn.Sequential(nn.Unflatten(1, (2, 8, 8)), nn.Conv2d(2, 2, 3, groups=2)),
     r"Conv2d at position 1: Conv2d with groups or dilation"),
    (nn.Sequential(nn.Unflatten(1, (1, 4, 4)), nn.Conv2d(1, 2, 5)),
     r"Conv2d at position 1: kernel 5x5 is larger than the 4x4 input"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(2, 2, 3)),
     r"Conv2d expects 2 channels, the input has 1"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.MaxPool2d(2)),
     r"MaxPool2d at position 1: MaxPool2d must follow a ReLU"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.ReLU(),
                   nn.MaxPool2d(2, padding=1)), r"MaxPool2d at position 3: .* padding"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.ReLU(),
                   nn.AvgPool2d(3, stride=1)), r"AvgPool2d at position 3: .* must not overlap"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2),
                   nn.MaxPool2d(2)), r"MaxPool2d at position 4: MaxPool2d after AvgPool2d"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.ReLU(),
                   nn.MaxPool2d(7)), r"window 7x7 is larger than the 6x6 map"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.ReLU(),
                   nn.Linear(72, 2)), r"Linear at position 3: Linear after a 2-D map needs"),
    (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.BatchNorm1d(2)),
     r"BatchNorm1d at position 2: BatchNorm1d must follow a Linear"),
])
def test_unsupported_configurations_name_the_layer(model, message):
    with pytest.raises(ConversionError, match=message):
        fold_network(model)


def decoded(train: np.ndarray, rule) -> np.ndarray:
    """(batch, phases, n) → (batch, phases, n) decoded value so far."""
    x = np.cumsum(train, 1) if rule.integrate else train
    return np.cumsum(x * rule.places(train.shape[1])[None, :, None], 1)


WINDOWS = np.array([[0, 1, 2, 3], [2, 3, 4, 5], [5, 6, 6, 7]])


@pytest.mark.parametrize("rule", [BINARY_MAX_POOL, COUNT_MAX_POOL], ids=["binary", "count"])
def test_max_pool_follows_the_largest_value_at_every_phase(rule, rng):
    train = rng.integers(0, 2, (50, 6, 8))
    pooled = np.stack(max_pool_spikes(list(train.transpose(1, 0, 2)), WINDOWS, rule), 1)
    assert set(np.unique(pooled)) <= {0, 1}
    np.testing.assert_array_equal(decoded(pooled, rule),
                                  decoded(train, rule)[:, :, WINDOWS].max(-1))


def test_phase_max_pool_passes_the_earliest_spike(rng):
    phases = 10
    first = rng.integers(0, phases + 1, (40, 8))      # phase of each neuron's spike, or none
    train = (np.arange(phases)[None, :, None] == first[:, None, :]).astype(np.int64)
    pooled = np.stack(max_pool_spikes(list(train.transpose(1, 0, 2)), WINDOWS,
                                      BINARY_MAX_POOL), 1)
    earliest = first[:, WINDOWS].min(-1)
    expected = (np.arange(phases)[None, :, None] == earliest[:, None, :]).astype(np.int64)
    np.testing.assert_array_equal(pooled, expected)


def test_tsc_max_pool_keeps_the_longest_time_on(rng):
    steps = 9
    start = rng.integers(0, steps, (40, 8))
    stop = np.minimum(start + rng.integers(0, steps, (40, 8)), steps - 1)
    t = np.arange(steps)[None, :, None]
    train = (t == start[:, None]).astype(np.int64) - (t == stop[:, None]).astype(np.int64)
    pooled = np.stack(max_pool_spikes(list(train.transpose(1, 0, 2)), WINDOWS,
                                      TIME_ON_MAX_POOL), 1)
    state = np.cumsum(pooled, 1)
    assert set(np.unique(state)) <= {0, 1} and set(np.unique(pooled)) <= {-1, 0, 1}
    time_on = np.cumsum(train, 1).sum(1)
    np.testing.assert_array_equal(state.sum(1), time_on[:, WINDOWS].max(-1))


def test_trainable_direct_convolution_equals_the_unrolled_weight(monkeypatch):
    """Fine-tuning runs large convolutions as pooling + conv2d (golden.trainable): the same
    function as the unrolled weight, with average pooling folded in and max pooling before."""
    from golden import trainable
    torch.manual_seed(0)
    model = randomise_batch_norm(nn.Sequential(
        nn.Unflatten(1, (1, 16, 16)), nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3),
        nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(4, 5, 2), nn.ReLU(), nn.Flatten(), nn.Linear(5, 3)), 0)
    layers = fold_network(model)
    x = torch.rand(6, 256, dtype=torch.float64)
    outputs = {}
    for name, threshold in (("unrolled", 1 << 40), ("direct", 0)):
        monkeypatch.setattr(trainable, "DIRECT_CONV_ABOVE", threshold)
        a, outputs[name] = x, []
        for layer in layers:
            a = torch.relu(trainable.TrainableLayer(layer)(a))
            outputs[name].append(a)
    assert layers[1].avg_windows and layers[2].input_pool is not None
    for unrolled, direct in zip(outputs["unrolled"], outputs["direct"]):
        assert torch.allclose(unrolled, direct, atol=1e-12)


def test_sparse_spike_product_is_exact(monkeypatch):
    """Large, mostly-zero weights (unrolled convolutions) multiply as sparse: the same
    integers as the dense product."""
    from golden.codings import base
    rng = np.random.default_rng(0)
    weight = rng.integers(-127, 128, (300, 200)) * (rng.random((300, 200)) < 0.05)
    spikes = rng.integers(-3, 4, (7, 300))
    monkeypatch.setattr(base, "SPARSE_ABOVE", 0)
    assert np.array_equal(base.spike_matmul(spikes, weight), spikes @ weight)


def test_short_receptive_rows_end_early_in_the_cycle_model():
    """A padded 3x3 convolution on 4x4: corner positions reach 4 outputs, edges 6, the
    middle 9. A short row costs its real entries plus two bubbles, never more than a full
    row (`golden.geometry`; the RTL follows it clock for clock in test_conv_rtl)."""
    from types import SimpleNamespace

    from golden.conv import ConvGeometry
    from golden.geometry import layer_geometry
    geometry = ConvGeometry((2, 4, 4), (8, 4, 4), (3, 3), (1, 1), (1, 1))
    layer = SimpleNamespace(conv=geometry, n_out=8 * 16,
                            schedule=SimpleNamespace(is_output=False))
    engine = layer_geometry(layer, 4)                    # 2 channel groups per site
    assert engine.entries == 9 and engine.groups_per_site == 2
    assert engine.row_lengths[0] == 4 and engine.row_lengths[1] == 6
    assert engine.row_lengths[5] == 9
    ops = engine.ops_per_input(2 * 16)                   # both input channels
    assert ops[0] == ops[16] == 4 * 2 + 2                # corner, either channel
    assert ops[1] == 6 * 2 + 2 and ops[5] == 9 * 2
    one_group = layer_geometry(layer, 8)                 # 1 group: 8 of 9 entries is 1 bubble
    assert one_group.event_ops(8) == 9 and one_group.event_ops(7) == 7 + 2
    assert one_group.event_ops(2) == 9                   # two ops: none early enough to flag


@pytest.mark.parametrize("shape, kernel, stride, padding", [
    ((1, 28, 28), (5, 5), (1, 1), (0, 0)), ((2, 9, 7), (3, 3), (1, 1), (1, 1)),
    ((1, 12, 10), (4, 2), (2, 1), (1, 0)), ((3, 24, 24), (10, 10), (2, 2), (0, 0))])
def test_receptive_classes_rebuild_the_receptive_table(shape, kernel, stride, padding):
    """Compact receptive tables (`golden.conv.ReceptiveClasses`): every position's row is its
    class's row shifted by its anchor, entry for entry; a large stride-1 map has few
    classes (28x28 with 5x5: 9 per axis)."""
    from golden.conv import ConvGeometry, output_size, receptive_classes, receptive_table
    out = tuple(output_size(n, k, s, p) for n, k, s, p in zip(shape[1:], kernel, stride, padding))
    geometry = ConvGeometry(shape, (4, *out), kernel, stride, padding)
    table, classes = receptive_table(geometry), receptive_classes(geometry)
    assert len(classes.anchors) == len(classes.row_of) == len(table) == shape[1] * shape[2]
    for q, row in enumerate(table):
        shifted = [(classes.anchors[q] + delta, k) for delta, k in classes.rows[classes.row_of[q]]]
        assert shifted == list(row)
    if geometry.kernel == (5, 5):
        assert len(classes.rows) == 81


def test_distinct_rows_rebuild_the_weight():
    """The dense row map (`golden.geometry.distinct_rows`): average pooling folded into a
    dense layer repeats rows; the distinct ones in first-use order and the map rebuild it."""
    from golden.geometry import distinct_rows
    rng = np.random.default_rng(5)
    rows = rng.integers(-9, 10, (6, 5))
    weight = rows[rng.integers(0, 6, 40)]
    kept, row_of = distinct_rows(weight)
    assert np.array_equal(kept[row_of], weight)
    assert len(kept) == len(np.unique(weight, axis=0)) and row_of[0] == 0
    assert sorted(set(row_of.tolist())) == list(range(len(kept)))
