"""The golden rate model (the Rate Norm Layer paper, docs/codings.md §1)."""
import numpy as np
import pytest
import torch

from golden.codings.rate import (NeuronParams, RateParams, k_curve, network_from_json,
                                 network_to_json, neuron_trace, rate_units)
from golden.convert import ConversionError
from golden.data import pixels_to_input
from golden.network import ann_accuracy
from golden.rnl import RateNormLayer, rate_inference_loss


def spiking(v0=0):
    return NeuronParams(20, 0, 8, 8, 8, v0)


def test_reset_by_subtraction_keeps_the_remainder():
    trace, spikes, _ = neuron_trace(spiking(), 0, [[7]] * 5, 5, 5)
    assert trace == [7, 9, 11, 13, 15] and spikes == [1] * 5      # m - θ carries over
    trace, spikes, _ = neuron_trace(spiking(), 0, [[3]] * 5, 5, 5)
    assert spikes == [0, 1, 0, 1, 1]                                # 15 / 5 = 3 spikes


def test_half_initial_potential():
    assert sum(neuron_trace(spiking(0), 0, [[2]] * 4, 5, 4)[1]) == 1     # floor(8 / 5)
    assert sum(neuron_trace(spiking(2), 0, [[2]] * 4, 5, 4)[1]) == 2     # floor(8/5 + 1/2)


def test_constant_coding_adds_the_pixel_current_every_step():
    params = NeuronParams(24, 16, 8, 12, 12, 0)
    planes = [[3] if k in (0, 7) else [] for k in range(8)]             # pixel 129, weight 3
    trace, spikes, current = neuron_trace(params, 5, planes, 100, 4)
    assert current == 3 * 129
    assert trace[0] == 3 * 129 + 5 and trace[1] - trace[0] == 3 * 129 + 5 - 100


@pytest.mark.parametrize("norm", ["robust", "max", "rnl"])
def test_default_T_within_one_and_a_half_points_of_the_float_ann(make_rate_network, model,
                                                                 split, norm):
    network = make_rate_network(norm=norm)
    snn = (network.simulate(split.test_pixels).classes == split.test_labels).mean()
    assert abs(snn - ann_accuracy(model, split.test_pixels, split.test_labels)) <= 0.015


def test_robust_norm_threshold_is_below_max_norm(make_rate_network):
    robust, top = make_rate_network(norm="robust"), make_rate_network(norm="max")
    for a, b in zip(robust.layers[:-1], top.layers[:-1]):
        assert a.info["threshold_float"] < b.info["threshold_float"]


def test_more_steps_fit_the_rates_better(make_rate_network, float_layers, split):
    network = make_rate_network(norm="max", T=128)
    result = network.simulate(split.test_pixels[:60])
    for curve in k_curve(network, float_layers, result, split.test_pixels[:60], [4, 32, 128]):
        assert curve["K"][4] > curve["K"][32] > curve["K"][128] >= 0


def test_k_tends_to_zero_with_the_conversion_thresholds(make_rate_network, float_layers, split):
    """Eq. 7: r̂ under the thresholds the SNN was converted with (calibration = training
    data). Under thresholds recomputed from the test images K stalls far above 0."""
    network = make_rate_network(norm="max").with_steps(512)
    pixels = split.test_pixels
    result = network.simulate(pixels)
    steps = [1 << i for i in range(10)]                                  # 1, 2, 4, ..., 512
    curves = k_curve(network, float_layers, result, pixels, steps)
    test_thresholds = [theta for _, _, theta in rate_units(
        float_layers, pixels_to_input(pixels).astype(np.float64), network.params)]
    stalled = k_curve(network, float_layers, result, pixels, steps, test_thresholds)
    assert len(curves) == 2
    for curve, wrong in zip(curves, stalled):
        K = [curve["K"][t] for t in steps]
        assert all(a > b for a, b in zip(K, K[1:]))                      # falls at each doubling
        assert all(a > 2 * b for a, b in zip(K[1:], K[2:7]))             # halving from 2 to 64
        assert K[-1] < 1e-3 and K[-1] < K[0] / 1000
        assert wrong["K"][512] > 5 * K[-1]
    loaded = network_from_json(network_to_json(network))                 # network.json keeps λ
    assert k_curve(loaded, float_layers, result, pixels, steps) == curves


def test_rate_norm_layer_and_rate_inference_loss():
    layer = RateNormLayer(initial_max=2.0)
    layer.train()
    z = torch.tensor([[-1.0, 1.0, 4.0]], dtype=torch.float64)
    r = layer(z, use_p=False)
    assert layer.running_max.item() == pytest.approx(0.9 * 2.0 + 0.1 * 4.0)
    assert r.tolist() == [[0.0, 1.0 / 2.2, 1.0]]                        # clip(z/θ, 0, 1), Eq. 6
    rates = torch.tensor([[0.5, 0.5, 0.0]], dtype=torch.float64)
    assert rate_inference_loss([rates]).item() == pytest.approx(1.0 / 0.5)   # ||r||_1/||r||_2²


@pytest.mark.parametrize("params, message", [
    ({"norm": "median"}, "norm must be one of robust, max, rnl"),
    ({"T": 0}, "T must be an integer from 1 to 4096"),
])
def test_bad_parameters_are_clear_errors(params, message):
    with pytest.raises(ConversionError, match=message):
        RateParams(**params)


def test_missing_calibration_set_is_a_clear_error(float_layers):
    from golden.codings.rate import convert
    with pytest.raises(ConversionError, match="needs a calibration set"):
        convert(float_layers, [np.ones(64), np.ones(32), np.ones(10)], RateParams())
