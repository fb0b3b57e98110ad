"""The golden TSC model (docs/codings.md §4, the TSC paper)."""
from dataclasses import replace

import numpy as np
import pytest

from golden.codings.tsc import (ALPHA_GRID, NeuronParams, TscLayer, TscParams, convert,
                                encode_pixels, max_spikes, network_from_json, network_to_json,
                                neuron_trace, output_fidelity, run_layer, spike_rate,
                                switch_step)
from golden.convert import ConversionError
from golden.network import ann_accuracy
from hdl.cores.tsc import _divide_by_pixel_max

WIDE = NeuronParams(30, 20, 9, 9, 12, runs=1)       # the §4 text: one run per neuron
UNCAPPED = replace(WIDE, runs=0)


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
    """runs = 1, the §4 rule as written: a neuron whose current stays below θ stops at the
    first step its potential is below θ again (the non-linear regime of §4.1)."""
    inputs = [[3] if t == 1 else [] for t in range(1, 11)]
    currents, potentials, spikes = neuron_trace(WIDE, 0, inputs, 5, 10)
    assert currents == [3] * 10 and spikes[:3] == [0, 1, -1] and spikes[3:] == [0] * 7


def soft_reset_if_train(current_per_step, theta):
    """The soft-reset IF neuron's 0/1 train, step by step (no cap on runs)."""
    v, train = 0, []
    for current in current_per_step:
        v += current
        train.append(int(v >= theta))
        v -= theta * train[-1]
    return train


def test_uncapped_neuron_is_the_frame_difference_of_the_soft_reset_if_train():
    """runs = 0: +1 where the soft-reset IF train turns on, -1 where it turns off (closed
    at step N), so the running sum of the spikes is the IF train itself."""
    inputs = [[3] if t == 1 else [] for t in range(1, 11)]
    _, _, spikes = neuron_trace(UNCAPPED, 0, inputs, 5, 10)
    train = soft_reset_if_train([3] * 10, 5)                 # 0 1 0 1 1 0 1 0 1 1
    assert np.cumsum(spikes)[:-1].tolist() == train[:-1]
    assert spikes == [0, 1, -1, 1, 0, -1, 1, -1, 1, -1]      # four runs, the last closed at N


@pytest.mark.parametrize("runs", [1, 2, 3, 0])
def test_runs_caps_the_on_runs_per_neuron(runs):
    inputs = [[3] if t == 1 else [] for t in range(1, 21)]
    _, _, spikes = neuron_trace(replace(WIDE, runs=runs), 0, inputs, 5, 20)
    on_runs = spikes.count(1)
    assert spikes.count(-1) == on_runs and np.cumsum(spikes).min() == 0
    assert on_runs == (runs if runs else 8)              # uncapped: 8 runs in 20 steps
    assert len([s for s in spikes if s]) <= max_spikes(20, runs)


def test_random_multi_run_traces_are_well_formed_and_within_the_cap(rng):
    """Random signed input trains of several runs: every neuron's output alternates +1, -1
    (so downstream x_i ∈ {0, 1}), every run is closed by step N, and it emits at most
    `max_spikes(N, runs)` spikes."""
    for _ in range(200):
        N, runs = int(rng.integers(2, 24)), int(rng.integers(0, 4))
        weights = rng.integers(-40, 41, size=6)
        toggles = [sorted(rng.choice(N, size=int(rng.integers(0, N + 1)), replace=False))
                   for _ in weights]
        inputs = [[] for _ in range(N)]
        for w, steps in zip(weights, toggles):
            for k, t in enumerate(steps):
                inputs[t].append(int(w) if k % 2 == 0 else -int(w))
        _, _, spikes = neuron_trace(replace(WIDE, runs=runs), int(rng.integers(-20, 21)),
                                    inputs, int(rng.integers(1, 60)), N)
        running = np.cumsum(spikes)
        assert set(running.tolist()) <= {0, 1} and running[-1] == 0
        assert sum(map(abs, spikes)) <= max_spikes(N, runs)
        assert runs == 0 or spikes.count(1) <= runs


def test_max_spikes_counts_the_longest_alternating_train():
    assert [max_spikes(N, 0) for N in (2, 3, 4, 9, 10)] == [2, 2, 4, 8, 10]
    assert [max_spikes(10, runs) for runs in (1, 2, 5, 6)] == [2, 4, 10, 10]


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


@pytest.mark.parametrize("runs", [1, 0])
def test_bundled_network_trains_are_closed_runs_within_the_cap(make_tsc_network, split, runs):
    network = make_tsc_network(runs=runs)
    result = network.simulate(split.test_pixels[:100])
    cap = max_spikes(network.params.T, runs)
    multi_run = 0
    for layer, counts in zip(network.layers, result.layers[:-1]):
        assert layer.schedule.max_spikes_per_neuron == cap
        train = counts.spike_train.astype(int)
        assert (np.abs(train).sum(1) <= cap).all()
        running = np.cumsum(train, axis=1)
        assert ((running == 0) | (running == 1)).all()        # +1 first, then its -1, ...
        assert (running[:, -1] == 0).all()                    # every run is closed by step N
        multi_run += int(((train == 1).sum(1) > 1).sum())
    assert (multi_run > 0) == (runs != 1)      # uncapped neurons do fire several runs


def test_thresholds_are_alpha_times_the_largest_input_sum(make_tsc_network):
    for alpha in (0.3, 0.6):
        for layer in make_tsc_network(alpha=alpha).layers[:-1]:
            assert layer.threshold == max(1, round(alpha * layer.info["v_in_max"]))


def test_robust_norm_scales_the_next_layer_s_bias_by_a_percentile(make_tsc_network,
                                                                   float_layers, calibration):
    """λ_l (percentile = 100: Max Norm, §4.1; below: that percentile of the layer's
    calibration activations) is the activation an always-on neuron of layer l stands for.
    Each layer's weights are quantised to the ROM's full range, so λ cancels in them; it
    sets layer l + 1's bias against its weights: b·w_max / (max|W|·λ_l)."""
    from golden.convert import forward
    max_norm = make_tsc_network(alpha=0.5)
    assert max_norm.params.percentile == 100.0
    robust = make_tsc_network(alpha=0.5, percentile=99.0)
    first = forward(float_layers, calibration.inputs)[0]
    for network, lam in ((max_norm, float(first.max())),
                         (robust, float(np.percentile(first, 99.0)))):
        second = float_layers[1]
        expected = np.rint(second.bias * 127 / (np.abs(second.weight).max() * lam))
        assert network.layers[1].bias.tolist() == expected.astype(np.int64).tolist()
    for index in (0, 1):
        assert (robust.layers[index].weight == max_norm.layers[index].weight).all()
    assert (robust.layers[0].bias == max_norm.layers[0].bias).all()
    assert (robust.layers[1].bias != max_norm.layers[1].bias).any()


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
    assert 0.8 in ALPHA_GRID and max(ALPHA_GRID) == 1.0        # the paper's α and the top
    fidelity = network.alpha_fidelity
    assert set(fidelity) == set(ALPHA_GRID)
    assert search[network.alpha] == max(search.values())
    # ties: the output potentials closest to the float outputs, then the lowest α
    assert min(ALPHA_GRID, key=lambda a: (-search[a], -fidelity[a], a)) == network.alpha
    explicit = make_tsc_network(alpha=0.5)
    assert explicit.alpha == 0.5 and explicit.alpha_search == explicit.alpha_fidelity == {}


def test_output_fidelity_is_the_mean_correlation_with_the_float_outputs():
    ann = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    assert output_fidelity(np.array([[10, 20, 30], [5, -10, 0]]), ann) == pytest.approx(1.0)
    assert output_fidelity(np.array([[30, 20, 10], [5, -10, 0]]), ann) == pytest.approx(0.0)
    # an image whose potentials are all equal follows nothing: 0, not a division by zero
    assert output_fidelity(np.array([[7, 7, 7], [5, -10, 0]]), ann) == pytest.approx(0.5)


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


@pytest.mark.parametrize("N", [2, 3, 8, 32, 64, 65, 300])
def test_hardware_p_star_equals_eq_1_for_every_pixel(N):
    """The input store's p* (compares up to COMPARE_STEPS_MAX_N, the constant
    multiplication above) in Amaranth simulation, every 8-bit pixel."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from golden.codings.tsc import switch_step
    from hdl.cores.tsc import COMPARE_STEPS_MAX_N, PixelPairs
    assert (N > COMPARE_STEPS_MAX_N) == (N in (65, 300))
    m, pixel = Module(), Signal(8)
    p_star = PixelPairs(4, N, N + 1).code(m, pixel)
    got = []

    async def testbench(ctx):
        for value in range(256):
            ctx.set(pixel, value)
            got.append(ctx.get(p_star))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert got == switch_step(np.arange(256), N).tolist()


@pytest.mark.parametrize("params, message", [
    ({"alpha": 1.5}, r"alpha must lie in \(0, 1\]"),
    ({"alpha": 0}, r"alpha must lie in \(0, 1\]"),
    ({"T": 1}, "T must be an integer from 2 to 1024"),
    ({"runs": -1}, "runs must be an integer from 0 to 512"),
    ({"percentile": 40}, r"percentile must lie in \[50, 100\], not 40"),
    ({"percentile": "high"}, r"percentile must lie in \[50, 100\], not 'high'"),
])
def test_bad_parameters_are_clear_errors(params, message):
    with pytest.raises(ConversionError, match=message):
        TscParams(**params)


def test_missing_calibration_set_is_a_clear_error(float_layers):
    with pytest.raises(ConversionError, match="needs a calibration set"):
        convert(float_layers, [np.ones(64), np.ones(32), np.ones(10)], TscParams())
