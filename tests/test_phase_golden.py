"""The golden phase model reproduces One-Spike's facts (docs/codings.md §2)."""
import json
from fractions import Fraction

import numpy as np
import pytest

from golden.codings.phase import (BINARY, Q_AUTO_GRID, FixedQ, NeuronParams, PhaseParams,
                                  eq5_mape, fire_phases, input_spikes, network_from_json,
                                  network_to_json, neuron_trace, q_auto_search, run_layer,
                                  threshold_table)
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
    ({"Q": "fast"}, r"Q must lie in \(1, 2\] or be 'auto', not 'fast'"),
    ({"Q": "auto", "Q_auto": "yes"}, "Q_auto must be true or false"),
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


def brute_force_eq5(q: float, T: int, n: int = 1_000_000) -> float:
    """One-Spike Eq. 5 by the midpoint rule on n points of (0, 1), x̄ straight from Eq. 4."""
    x = (np.arange(n) + 0.5) / n
    cut = q ** -T * (q + 1) / (2 * q)
    rounded = q ** np.floor(np.log(2 * q / (q + 1) * np.maximum(x, cut)) / np.log(q))
    encoded = np.where(x < cut, 0.0, np.where(x >= 1 / q, 1 / q, rounded))
    density = np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi)
    return float(np.mean(np.abs((x - encoded) / x) * density))


@pytest.mark.parametrize("q, T", [(FixedQ.from_float(1.3, 8).value, 16), (Fraction(3, 2), 8)])
def test_eq5_error_equals_a_brute_force_integration(q, T):
    assert eq5_mape(q, T) == pytest.approx(brute_force_eq5(float(q), T), rel=1e-4)


def test_eq5_error_falls_with_T_and_is_smallest_inside_the_grid():
    assert eq5_mape(1.25, 8) > eq5_mape(1.25, 16) > eq5_mape(1.25, 24)
    for T in (16, 24):
        errors = list(q_auto_search(T, 8).values())
        best = errors.index(min(errors))
        assert 0 < best < len(errors) - 1                   # an interior minimum
        assert errors[:best + 1] == sorted(errors[:best + 1], reverse=True)


@pytest.mark.parametrize("T, paper_q", [(16, 1.3), (24, 1.2)])
def test_q_auto_picks_the_papers_optimal_base(T, paper_q):
    """One-Spike: "When T=16, the minimum MAPE is achieved when Q is near 1.3; when T=24,
    Q=1.2" (Eq. 5 at the fixed-point base the hardware uses)."""
    params = PhaseParams(T=T, Q="auto").resolved()
    assert params.Q == paper_q and params.Q_auto
    assert params.q_fixed == FixedQ.from_float(paper_q, 8)
    search = q_auto_search(T, 8)
    assert list(search) == list(Q_AUTO_GRID)
    assert params.eq5_mape == search[paper_q] == min(search.values())


def test_auto_params_convert_and_simulate(make_phase_network, model, split):
    from golden.network import ann_accuracy
    network = make_phase_network(Q="auto")
    given = make_phase_network(Q=1.3)                       # the same network, Q given
    assert network.params == PhaseParams(Q=1.3, Q_auto=True)
    for auto_layer, layer in zip(network.layers, given.layers):
        assert auto_layer.q_out == layer.q_out == FixedQ(333, 8)
        assert (auto_layer.weight == layer.weight).all()
        assert auto_layer.threshold_table == layer.threshold_table
    result = network.simulate(split.test_pixels)
    assert (result.classes == given.simulate(split.test_pixels).classes).all()
    snn = (result.classes == split.test_labels).mean()
    assert abs(snn - ann_accuracy(model, split.test_pixels, split.test_labels)) <= 0.01
    described = network.describe()
    assert described["params"]["Q"] == 1.3 and described["params"]["Q_auto"] is True
    assert described["eq5_mape"] == eq5_mape(Fraction(333, 256), 16)
    assert described["Q_auto_eq5_mape"]["1.3"] == min(described["Q_auto_eq5_mape"].values())
    loaded = network_from_json(json.loads(json.dumps(network_to_json(network))))
    assert loaded.params == network.params and loaded.describe() == described
    assert (loaded.simulate(split.test_pixels[:50]).classes == result.classes[:50]).all()


def test_a_given_q_reports_its_eq5_error(phase_network):
    described = phase_network.describe()
    assert described["params"]["Q"] == 1.25 and described["params"]["Q_auto"] is False
    assert described["eq5_mape"] == pytest.approx(0.031147, abs=1e-6)
    assert "Q_auto_eq5_mape" not in described
