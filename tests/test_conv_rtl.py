"""The convolution engine (hdl/layer.py with hdl/addressing.py) and the max pooling unit (hdl/pool.py)
against golden: random geometries and pooling in every coding (Amaranth simulation:
classes, cycles, every spike; Verilator: classes and cycles), and the bundled digits CNNs
on Verilator."""
import numpy as np
import pytest
import torch
from torch import nn

from golden.codings import convert_network, get_coding
from golden.convert import calibrate, fold_network
from golden.data import pixels_to_input
from golden import geometry as geometry_module
from golden.geometry import DENSE_ADDRESS_STAGES, layer_geometry
from golden.network import load_bundled
from hdl.export import snn_top_verilog
from hdl.network import SnnTop, UnsupportedLayer
from sim.runner import lint

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden
from .test_conv import randomise_batch_norm

SMALL = {"phase": {"T": 5, "wait": 2}, "radix": {"T": 3}, "deferred": {"T": 3},
         "rate": {"T": 5}, "tsc": {"T": 5}}
INPUT_SHAPES = [(1, 8, 8), (4, 4, 4), (2, 8, 4)]   # 64 pixels, seen as C x H x W


def random_conv(rng, shape):
    """A Conv2d the shape admits, with random channels, kernel, stride and padding."""
    c, h, w = shape
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 5, 2))
        stride = tuple(int(s) for s in rng.integers(1, 3, 2))
        padding = tuple(int(rng.integers(0, min(k, 3))) for k in kernel)
        out = ((h + 2 * padding[0] - kernel[0]) // stride[0] + 1,
               (w + 2 * padding[1] - kernel[1]) // stride[1] + 1)
        if kernel[0] <= h + 2 * padding[0] and kernel[1] <= w + 2 * padding[1] and min(out) >= 1:
            channels = int(rng.integers(2, 7))
            return nn.Conv2d(c, channels, kernel, stride, padding), (channels, *out)


def random_pool(rng, shape, allow_average: bool):
    """None, or a non-overlapping max pool (any window the map admits; rows or columns
    left over are dropped), or an average pool that tiles the map (it folds into the next
    convolution); with the shape after it."""
    c, h, w = shape
    choice = rng.integers(0, 3)
    if choice == 1 and h > 1 and w > 1:
        kernel = [(2, 2), (2, 1), (1, 2), (3, 3), (2, 3)][int(rng.integers(0, 5))]
        if kernel[0] <= h and kernel[1] <= w and kernel != (1, 1):
            return nn.MaxPool2d(kernel), (c, h // kernel[0], w // kernel[1])
    if choice == 2 and allow_average and h % 2 == 0 and w % 2 == 0:
        return nn.AvgPool2d(2), (c, h // 2, w // 2)
    return None, shape


def random_cnn(seed: int) -> nn.Sequential:
    """Two random convolutions, random pooling after each, a dense output layer."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    shape = INPUT_SHAPES[seed % len(INPUT_SHAPES)]
    modules = [nn.Unflatten(1, shape)]
    for index in range(2):
        conv, shape = random_conv(rng, shape)
        modules += [conv, nn.BatchNorm2d(shape[0]), nn.ReLU()]
        pool, shape = random_pool(rng, shape, allow_average=index == 0)
        modules += [pool] if pool is not None else []
    modules += [nn.Flatten(), nn.Linear(int(np.prod(shape)), 10)]
    return randomise_batch_norm(nn.Sequential(*modules), seed)


def pooling_of(network) -> str:
    """'max' if a layer max-pools its input, 'average' if one has average pooling folded."""
    kinds = {"max" for l in network.layers if l.input_pool is not None}
    kinds |= {"average" for l in network.layers if l.conv is not None and l.conv.pooled_input}
    return " ".join(sorted(kinds))


def convert_random(coding: str, seed: int, split):
    layers = fold_network(random_cnn(seed))
    calibration = calibrate(layers, pixels_to_input(split.train_pixels))
    network = get_coding(coding).golden.convert(layers, calibration,
                                                get_coding(coding).params(**SMALL[coding]))
    assert [getattr(l, "conv", None) is not None for l in network.layers] == [True, True, False]
    return network


def assert_active(network, images):
    """Both convolution layers spike on the stimuli, so the comparison is not vacuous."""
    result = network.simulate(images)
    assert all(counts.output_spikes.sum() > 0 for counts in result.layers[:2])


CODINGS = sorted(SMALL)
# Seeds whose networks spike in both convolutions; pooling: phase, rate, deferred max,
# radix average (folded into the convolution), tsc both.
CI_SEEDS = {"phase": 3, "radix": 43, "rate": 6, "tsc": 164, "deferred": 16}


@pytest.mark.parametrize("coding", CODINGS)
def test_random_convolutions_equal_golden_in_amaranth_sim(coding, split):
    seed = CI_SEEDS[coding]
    network = convert_random(coding, seed, split)
    assert pooling_of(network) == {"radix": "average", "tsc": "average max"}.get(coding, "max")
    assert_active(network, split.test_pixels[:2])
    # lanes per layer: each engine with its own
    amaranth_vs_golden(network, split.test_pixels[:2],
                       lanes=[1 + (seed + index) % 3 for index in range(len(network.layers))])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 17, 20, 24, 57, 70, 112])
@pytest.mark.parametrize("coding", CODINGS)
def test_more_random_convolutions_in_amaranth_sim(coding, seed, split):
    network = convert_random(coding, seed, split)
    assert_active(network, split.test_pixels[:2])
    amaranth_vs_golden(network, split.test_pixels[:2],
                       lanes=[1 + (seed + index) % 4 for index in range(len(network.layers))])


# Compact tables (`golden.geometry`): the receptive table by classes of positions and the
# dense row map, which only MNIST-size layers get by default (COMPACT_TABLE_WORDS), forced
# here onto smaller ones. radix and deferred fine-tune their weights, which leaves no
# repeated rows in the digits CNN's dense layer: only the receptive table is compact.
@pytest.mark.parametrize("coding", [pytest.param(
    coding, marks=() if coding in ("phase", "radix") else pytest.mark.slow) for coding in CODINGS])
def test_compact_tables_equal_golden_in_amaranth_sim(coding, make_cnn, split, monkeypatch):
    monkeypatch.setattr(geometry_module, "COMPACT_TABLE_WORDS", 0)
    network = make_cnn("digits-cnn", coding)
    lanes = [3, 2, 4]
    first, dense = (layer_geometry(network.layers[i], lanes[i]) for i in (0, -1))
    assert first.compact_receptive and not dense.compact_receptive
    assert dense.row_map == (coding not in ("radix", "deferred"))
    assert dense.address_stages == DENSE_ADDRESS_STAGES + dense.row_map
    amaranth_vs_golden(network, split.test_pixels[:2], lanes=lanes)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 17, 57, 112])
@pytest.mark.parametrize("coding", CODINGS)
def test_compact_receptive_tables_of_random_convolutions(coding, seed, split, monkeypatch):
    monkeypatch.setattr(geometry_module, "COMPACT_TABLE_WORDS", 0)
    network = convert_random(coding, seed, split)
    assert layer_geometry(network.layers[0], 2).compact_receptive
    amaranth_vs_golden(network, split.test_pixels[:2],
                       lanes=[1 + (seed + index) % 4 for index in range(len(network.layers))])


@pytest.mark.slow
@pytest.mark.parametrize("coding", CODINGS)
def test_random_convolutions_on_verilator(coding, split, tmp_path):
    for seed in (27, 115, 164):
        network = convert_random(coding, seed, split)
        assert_active(network, split.test_pixels[:20])
        (tmp_path / str(seed)).mkdir()
        rtl_vs_golden(network, split.test_pixels[:20], 2 + seed % 3, tmp_path / str(seed))


@pytest.fixture(scope="module")
def make_cnn(split):
    cache = {}

    def make(name, coding):
        if name not in cache:
            layers = fold_network(load_bundled(name))
            cache[name] = layers, calibrate(layers, pixels_to_input(split.train_pixels))
        if (name, coding) not in cache:
            params = get_coding(coding).params()
            cache[name, coding] = convert_network(coding, *cache[name], split, params)[0]
        return cache[name, coding]
    return make


CNNS = ["digits-cnn", "digits-cnn-maxpool"]


# CI: the max-pooling CNN in rate (its integrating rule; its convolutions, pooling unit and
# event buffers); average pooling and padding are checked spike by spike on random CNNs in
# Amaranth. The other pairs in the full regression, as all of them on the whole test split
CI_CNN_PAIRS = {("digits-cnn-maxpool", "rate")}


@pytest.mark.parametrize("name, coding", [
    pytest.param(name, coding, marks=() if (name, coding) in CI_CNN_PAIRS else pytest.mark.slow)
    for name in CNNS for coding in CODINGS])
def test_bundled_cnn_equals_golden_on_verilator(name, coding, make_cnn, split, tmp_path):
    rtl_vs_golden(make_cnn(name, coding), split.test_pixels[:8], 4, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("name", CNNS)
def test_bundled_cnn_whole_test_split_on_verilator(name, coding, make_cnn, split, tmp_path):
    rtl_vs_golden(make_cnn(name, coding), split.test_pixels, 4, tmp_path)


@pytest.mark.parametrize("coding", ["tsc", "rate"])
@pytest.mark.parametrize("lanes", [1, 3, 32])
def test_cnn_verilog_lints_clean(make_cnn, coding, lanes, tmp_path):
    source = tmp_path / "snn_top.v"
    source.write_text(snn_top_verilog(make_cnn("digits-cnn-maxpool", coding), lanes)[0])
    lint(source, "snn_top")


def test_overlapping_max_pooling_is_refused_with_the_layer_named(split):
    model = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.ReLU(),
                          nn.MaxPool2d(2, stride=1), nn.Flatten(), nn.Linear(50, 10)).eval()
    layers = fold_network(model)
    network = get_coding("radix").golden.convert(
        layers, calibrate(layers, pixels_to_input(split.train_pixels[:100])),
        get_coding("radix").params())
    with pytest.raises(UnsupportedLayer, match=r"layer 2 \(Linear at position 5\): overlapping"):
        SnnTop(network, get_coding("radix").core)


@pytest.mark.parametrize("coding", ["phase", "tsc"])
def test_normalised_input_on_a_padded_convolution_equals_golden(coding, split):
    """An input mean folded into a padded first convolution gives border sites their own
    bias (golden.convert.fold_input_contract); the engine then holds one bias per site."""
    from golden.data import InputContract
    from golden.convert import fold_input_contract
    from golden.geometry import layer_geometry
    from hdl.addressing import ConvAddressing
    torch.manual_seed(5)
    model = randomise_batch_norm(nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)), 5)
    layers = fold_network(model)
    fold_input_contract(layers, InputContract(mean=(0.3,), std=(0.4,)), (1, 8, 8))
    calibration = calibrate(layers, pixels_to_input(split.train_pixels))
    network = get_coding(coding).golden.convert(layers, calibration,
                                                get_coding(coding).params(**SMALL[coding]))
    first = network.layers[0]
    addressing = ConvAddressing(first, layer_geometry(first, 3))
    assert addressing.bias_per_site and addressing.bias.shape == (64, 4)
    assert len(np.unique(addressing.bias[:, 0])) > 1
    assert network.simulate(split.test_pixels[:2]).layers[0].output_spikes.sum() > 0
    amaranth_vs_golden(network, split.test_pixels[:2], lanes=3)
