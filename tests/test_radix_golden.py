"""The golden radix model (docs/codings.md §3, Radix Encoding paper)."""
import numpy as np
import pytest

from golden.codings.radix import (BitSerialLayer, RadixParams, lsb_first_neuron,
                                  neuron_trace, quantised_ann)
from golden.convert import ConversionError
from golden.network import ann_accuracy


def test_paper_fig4_weight_2_times_101_is_1010_keep_101():
    # one input, weight 2, input train '101' (5), three input steps; ΔT = 1 keeps the top bits
    layer = BitSerialLayer("fig4", np.array([[2]]), np.array([0]), theta=1 << (1 + 3),
                           input_phases=3, T=3, is_output=False)
    trace, bits = neuron_trace(0, [[2], [], [2]], layer.threshold_table, 3)
    assert trace[-1] == 10                                        # '1010'
    assert bits == [1, 0, 1]                                      # '101'
    assert lsb_first_neuron(0, [2], [[1, 0, 1]], 4) == [0, 1, 0, 1]   # '1010', LSB first


def test_equals_the_papers_lsb_first_neuron_for_non_negative_sums(rng):
    for _ in range(300):
        n_in, steps = int(rng.integers(1, 6)), int(rng.integers(1, 7))
        weights = [int(w) for w in rng.integers(0, 16, size=n_in)]
        trains = rng.integers(0, 2, size=(n_in, steps))
        bias = int(rng.integers(0, 64))
        out_steps = steps + 12                          # long enough to hold the whole sum
        lsb = lsb_first_neuron(bias, weights, [list(t[::-1]) for t in trains], out_steps)
        msb_inputs = [[w for w, t in zip(weights, trains[:, k]) if t] for k in range(steps)]
        table = [1 << (out_steps - t) for t in range(1, out_steps + 1)]   # ΔT = 0, T = out_steps
        _, bits = neuron_trace(bias, msb_inputs, table, steps)
        assert bits == lsb[::-1]


def test_snn_equals_the_quantised_ann_exactly(make_radix_network, split):
    network = make_radix_network(T=6)
    result = network.simulate(split.test_pixels)
    codes, classes = quantised_ann(network, split.test_pixels)
    np.testing.assert_array_equal(result.classes, classes)
    for layer, code, counts in zip(network.layers, codes, result.layers):
        bits = np.stack([(code >> (layer.T - t)) & 1 for t in range(1, layer.T + 1)], 1)
        np.testing.assert_array_equal(counts.spike_train, bits)


def test_T6_accuracy_within_one_point_of_the_float_ann(make_radix_network, model, split):
    network = make_radix_network(T=6)
    snn = (network.simulate(split.test_pixels).classes == split.test_labels).mean()
    assert abs(snn - ann_accuracy(model, split.test_pixels, split.test_labels)) <= 0.01


def test_negative_sums_give_no_spikes_and_overflow_saturates():
    layer = BitSerialLayer("edge", np.array([[1]]), np.array([0]), theta=1 << 2,
                           input_phases=2, T=2, is_output=False)
    assert neuron_trace(-5, [[1], [1]], layer.threshold_table, 2)[1] == [0, 0]
    assert neuron_trace(100, [[1], [1]], layer.threshold_table, 2)[1] == [1, 1]


@pytest.mark.parametrize("params, message", [
    ({"T": 1}, "T must be an integer from 2 to 16"),
    ({"weight_bits": 40}, "weight_bits must be an integer from 2 to 16"),
])
def test_bad_parameters_are_clear_errors(params, message):
    with pytest.raises(ConversionError, match=message):
        RadixParams(**params)
