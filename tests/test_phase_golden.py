"""The golden phase model reproduces One-Spike's facts (CODINGS.md §2)."""
from fractions import Fraction

import numpy as np
import pytest

from golden.codings.phase import (BINARY, FixedQ, NeuronParams, PhaseParams, fire_phases,
                                  input_spikes, neuron_trace, run_layer, threshold_table)
from golden.convert import ConversionError
from golden.roms import weight_rom

Q = FixedQ.from_float(1.25, 8)


def encode_eq4(x: Fraction, q: Fraction, T: int) -> Fraction:
    """Eq. (4): round-off single-spike encoding of x."""
    if x < q ** -T * (q + 1) / (2 * q):
        return Fraction(0)
    if x >= q ** -1:
        return q ** -1
    t = 1
    while not x >= q ** -t * (q + 1) / (2 * q):   # smallest t with x above the midpoint
        t += 1
    return q ** -t


def encode_eq3(x: Fraction, q: Fraction, T: int) -> Fraction:
    """Eq. (3): naive floor encoding."""
    if x < q ** -T:
        return Fraction(0)
    if x >= q ** -1:
        return q ** -1
    t = 1
    while not x >= q ** -t:
        t += 1
    return q ** -t


def golden_encoding(x: Fraction, T: int, wait: int) -> Fraction:
    """Encode x with one golden neuron whose whole input is its bias (v = b = x·θ)."""
    theta = 1 << 24
    table = threshold_table(Fraction(theta), Q, Q, T, wait)
    params = NeuronParams(80, 8, 40, 80, Q, 0)
    _, fired = neuron_trace(params, int(x * theta), [], table, T + wait, wait)
    return Q.value ** -fired if fired else Fraction(0)


def test_single_neuron_encoding_follows_eq4_not_eq3():
    T, q = 8, Q.value
    grid = [Fraction(i, 4000) for i in range(1, 4000)]
    # stay clear of the exact midpoints, where the integer potential may round either way
    midpoints = [q ** -t * (q + 1) / (2 * q) for t in range(1, T + 1)]
    grid = [x for x in grid if all(abs(x - m) > Fraction(1, 100000) for m in midpoints)]
    golden = [golden_encoding(x, T, wait=T) for x in grid]
    assert golden == [encode_eq4(x, q, T) for x in grid]
    assert golden != [encode_eq3(x, q, T) for x in grid]
    worst = max(abs(x - e) for x, e in zip(grid, golden) if e and x < q ** -1)
    assert worst <= (q ** -1 - q ** -2) / 2


def test_hidden_neurons_fire_at_most_once(phase_network, split):
    result = phase_network.simulate(split.test_pixels)
    for counts in result.layers[:-1]:
        per_neuron = counts.spike_train.sum(1)
        assert per_neuron.max() == 1 and per_neuron.min() == 0
        assert counts.spike_train.shape[1] == phase_network.params.T
        assert (counts.output_spikes == per_neuron.sum(1)).all()
    assert (result.layers[-1].output_spikes == 0).all()


def test_with_wait_at_least_T_a_neuron_fires_where_eq4_puts_its_exact_sum(
        make_phase_network, split):
    T = 10
    network = make_phase_network(T=T, wait=T)
    layer = network.layers[0]                      # binary input: Q_in·v is exact
    pixels = split.test_pixels[:40].astype(np.int64)
    train, _, _ = run_layer(layer, input_spikes(pixels, T))
    fire_phase = fire_phases(train)
    theta = Fraction(layer.info["weight_scale_sigma"]) * (1 << layer.guard_bits)
    q = layer.q_out.value
    checked = 0
    for image, phases in zip(pixels, fire_phase):
        sums = (layer.bias << 8) + (image @ (layer.weight << layer.guard_bits))
        for total, phase in zip(sums, phases):
            x = Fraction(int(total), 256) / theta  # pixel/256, exact
            encoded = encode_eq4(x, q, T)
            assert (q ** -int(phase) if phase else Fraction(0)) == encoded
            checked += 1
    assert checked == 40 * layer.n_out


def test_default_build_is_within_one_point_of_the_ann(phase_network, model, split):
    from golden.network import ann_accuracy
    snn = (phase_network.simulate(split.test_pixels).classes == split.test_labels).mean()
    ann = ann_accuracy(model, split.test_pixels, split.test_labels)
    assert abs(snn - ann) <= 0.01


def test_potential_never_leaves_its_derived_width(make_phase_network, split):
    network = make_phase_network(T=12, wait=6, Q=1.5)
    # run_layer asserts the bound at every phase; check the widths are tight-ish and sane
    network.simulate(split.test_pixels)
    lo, hi = network.layers[0].potential_bounds()
    assert hi > 0 > lo
    assert network.layers[0].potential_width <= 48


@pytest.mark.parametrize("params, message", [
    ({"Q": 1.0}, r"Q must lie in \(1, 2\]"),
    ({"Q": 2.5}, r"Q must lie in \(1, 2\]"),
    ({"T": 1}, "T must be an integer from 2 to 64"),
    ({"wait": -1}, "wait must be an integer from 0 to 64"),
    ({"Q": 1.001, "q_frac_bits": 2}, "rounds to 1.0"),
])
def test_bad_parameters_are_clear_errors(params, message):
    with pytest.raises(ConversionError, match=message):
        PhaseParams(**params)


def test_oversized_potential_is_a_clear_error(make_phase_network):
    with pytest.raises(ConversionError, match=r"layer 1 .*potential needs \d+ bits.*reduce T"):
        make_phase_network(T=40, wait=40)


def test_fixed_point_q():
    assert FixedQ.from_float(1.25, 8) == FixedQ(5, 2)
    assert FixedQ.from_float(2.0, 8) == BINARY
    assert FixedQ.from_float(1.3, 8) == FixedQ(333, 8)
    assert Q.mul(-3) == -4        # floor toward minus infinity, like an arithmetic shift


def test_weight_rom_words_unpack_to_the_weights(phase_network):
    layer = phase_network.layers[1]
    lanes, width = 3, layer.weight_width
    rom = weight_rom("w", layer.weight, width, lanes)
    groups = -(-layer.n_out // lanes)
    for i in range(layer.n_in):
        for j in range(layer.n_out):
            word = rom.words[i * groups + j // lanes]
            raw = (word >> (width * (j % lanes))) & ((1 << width) - 1)
            value = raw - (1 << width) if raw >> (width - 1) else raw
            assert value == layer.weight[i, j]
