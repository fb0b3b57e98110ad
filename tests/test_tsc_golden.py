"""The golden TSC model (CODINGS.md §4, temporal-switch-coding.txt)."""
import numpy as np
import pytest

from golden.codings.tsc import (ALPHA_GRID, NeuronParams, TscLayer, TscParams, convert, encode_pixels,
                                network_from_json, network_to_json, neuron_trace, run_layer,
                                spike_rate, switch_step)
from golden.convert import ConversionError
from golden.network import ann_accuracy
from hdl.cores.tsc import _divide_by_pixel_max

WIDE = NeuronParams(30, 20, 9, 9, 12)


def test_pixel_pairs_follow_eq_1_and_2():
    pixels = np.array([[0, 17, 34, 128, 255]])
    N = 16
    assert switch_step(pixels, N).tolist() == [[1, 2, 3, 8, 16]]    # floor(p·15) + 1, p = x/255
    train = np.stack(encode_pixels(pixels, N), 1)[0]                 # (N, pixels)
    assert train[:, 0].tolist() == [0] * N                           # p* = 1: no spike
    for column, p_star in ((1, 2), (2, 3), (3, 8), (4, 16)):
        expected = np.zeros(N, dtype=int)
        expected[0], expected[p_star - 1] = 1, -1                   # +1 at t = 1, -1 at t = p*
        assert train[:, column].tolist() == expected.tolist()
        # the pair replaces a run of p* - 1 ones (the frame-subtracted shifted TTFS train)
        assert np.cumsum(train[:, column]).sum() == p_star - 1


def test_second_difference_equals_the_direct_weighted_sum(rng):
    """Eq. 5-6: adding w·T_i(t) to the current gives the same V as summing w over the
    runs every step (Eq. 3-4), bias included as the always-on input."""
    N, n_in, n_out = 12, 9, 5
    weight = rng.integers(-20, 21, size=(n_in, n_out))
    bias = rng.integers(-20, 21, size=n_out)
    layer = TscLayer("test", weight, bias, 0, N, is_output=True)
    layer.derive_widths()
    pixels = rng.integers(0, 256, size=(7, n_in))
    _, potential, adds = run_layer(layer, encode_pixels(pixels, N))
    p_star = switch_step(pixels, N)
    runs = np.stack([(t < p_star) for t in range(1, N + 1)], 1)      # x_i(t) = 1 for t < p*
    direct = (runs.sum(1) @ weight) + bias * (N - 1)
    assert potential.tolist() == direct.tolist()
    assert adds.tolist() == ((p_star >= 2).sum(1) * 2 * n_out).tolist()   # two per pair


def test_linear_region_spills_the_whole_potential_in_one_run():
    """One input with w ≥ θ for L steps: the neuron fires every step and keeps firing until
    the stored potential is spent, so the run is floor(w·L/θ) long (Fig. 6, η ≤ 1)."""
    w, theta, L, N = 7, 5, 6, 20
    inputs = [[w] if t == 1 else [-w] if t == L + 1 else [] for t in range(1, N + 1)]
    _, _, spikes = neuron_trace(WIDE, 0, inputs, theta, N)
    assert spikes.count(1) == 1 and spikes.count(-1) == 1
    assert spikes.index(-1) - spikes.index(1) == w * L // theta


def test_below_threshold_current_fires_a_short_pair():
    """The §4 rule as written: a neuron whose current stays below θ stops at the first
    step its potential is below θ again (the non-linear regime of §4.1)."""
    inputs = [[3] if t == 1 else [] for t in range(1, 11)]
    currents, potentials, spikes = neuron_trace(WIDE, 0, inputs, 5, 10)
    assert currents == [3] * 10 and spikes[:3] == [0, 1, -1] and spikes[3:] == [0] * 7


def test_last_step_decisions():
    # still FIRING after step N → -1 at step N
    _, _, spikes = neuron_trace(WIDE, 0, [[50]] + [[]] * 3, 5, 4)
    assert spikes == [1, 0, 0, -1]
    # crossing θ only at step N: no spike at all (the pair would cancel)
    _, _, spikes = neuron_trace(WIDE, 0, [[]] * 3 + [[9]], 5, 4)
    assert spikes == [0, 0, 0, 0]


def test_bias_is_an_always_on_input():
    currents, potentials, _ = neuron_trace(WIDE, 4, [[]] * 6, 0, 6, is_output=True)
    assert currents == [4, 4, 4, 4, 4, 0] and potentials[-1] == 4 * 5


def test_trace_equals_the_vectorised_model(rng):
    N, n_in, n_out = 10, 6, 8
    weight = rng.integers(-30, 31, size=(n_in, n_out))
    bias = rng.integers(-10, 11, size=n_out)
    layer = TscLayer("test", weight, bias, 25, N, is_output=False)
    layer.derive_widths()
    pixels = rng.integers(0, 256, size=(1, n_in))
    spikes = encode_pixels(pixels, N)
    train, potential, _ = run_layer(layer, spikes)
    for j in range(n_out):
        inputs = [[int(weight[i, j] * s[0, i]) for i in np.flatnonzero(s[0])] for s in spikes]
        _, potentials, trace = neuron_trace(layer.neuron_params, int(bias[j]), inputs, 25, N)
        assert trace == train[0, :, j].tolist() and potentials[-1] == potential[0, j]


def test_bundled_network_at_most_two_spikes_as_well_formed_pairs(make_tsc_network, split):
    result = make_tsc_network().simulate(split.test_pixels[:100])
    for counts in result.layers[:-1]:
        train = counts.spike_train.astype(int)
        assert (np.abs(train).sum(1) <= 2).all()
        running = np.cumsum(train, axis=1)
        assert ((running == 0) | (running == 1)).all()        # +1 first, then its -1
        assert (running[:, -1] == 0).all()                    # every pair is closed by step N


def test_thresholds_are_alpha_times_the_largest_input_sum(make_tsc_network):
    for alpha in (0.3, 0.6):
        for layer in make_tsc_network(alpha=alpha).layers[:-1]:
            assert layer.threshold == max(1, round(alpha * layer.info["v_in_max"]))


def test_widths_hold_adversarial_pairs(rng):
    """Every input on from t = 1 to the end with the sign that drives V to its bound."""
    N = 9
    weight = rng.integers(-127, 128, size=(12, 4))
    bias = rng.integers(-127, 128, size=4)
    for threshold in (1, 10 ** 6):
        layer = TscLayer("test", weight, bias, threshold, N, is_output=False)
        layer.derive_widths()
        spikes = [np.ones((1, 12), dtype=np.int64)] + [np.zeros((1, 12), dtype=np.int64)] * (N - 1)
        run_layer(layer, spikes)       # asserts that V stays within potential_width


def test_spike_rate_eq_8(make_tsc_network, split):
    network = make_tsc_network()
    result = network.simulate(split.test_pixels[:50])
    hidden = result.layers[:-1]
    total = sum(c.output_spikes.sum() for c in hidden) / 50
    assert spike_rate(result, network.params.T) == pytest.approx(
        100 * total / (sum(c.neurons for c in hidden) * network.params.T))


def test_default_N_within_one_and_a_half_points_of_the_float_ann(make_tsc_network, model,
                                                                 split):
    accuracy = (make_tsc_network().simulate(split.test_pixels).classes == split.test_labels).mean()
    assert abs(accuracy - ann_accuracy(model, split.test_pixels, split.test_labels)) <= 0.015


def test_alpha_search_keeps_the_best_calibration_agreement(make_tsc_network):
    network = make_tsc_network()
    search = network.alpha_search
    assert set(search) == set(ALPHA_GRID)
    assert search[network.alpha] == max(search.values())
    assert min(ALPHA_GRID, key=lambda a: (-search[a], a)) == network.alpha   # ties: lowest α
    explicit = make_tsc_network(alpha=0.5)
    assert explicit.alpha == 0.5 and explicit.alpha_search == {}


def test_json_round_trip(make_tsc_network, split):
    network = make_tsc_network(T=8)
    again = network_from_json(network_to_json(network))
    pixels = split.test_pixels[:20]
    assert (again.simulate(pixels).classes == network.simulate(pixels).classes).all()


def test_hardware_division_by_255_is_exact_for_every_N():
    pixels = np.arange(256, dtype=np.int64)
    for N in range(2, 1025):
        multiplier, shift = _divide_by_pixel_max(N)
        assert ((pixels * (N - 1) * multiplier) >> shift).tolist() == \
            (pixels * (N - 1) // 255).tolist(), f"N = {N}"


@pytest.mark.parametrize("params, message", [
    ({"alpha": 1.5}, r"alpha must lie in \(0, 1\]"),
    ({"alpha": 0}, r"alpha must lie in \(0, 1\]"),
    ({"T": 1}, "T must be an integer from 2 to 1024"),
])
def test_bad_parameters_are_clear_errors(params, message):
    with pytest.raises(ConversionError, match=message):
        TscParams(**params)


def test_missing_calibration_set_is_a_clear_error(float_layers):
    with pytest.raises(ConversionError, match="needs a calibration set"):
        convert(float_layers, [np.ones(64), np.ones(32), np.ones(10)], TscParams())
