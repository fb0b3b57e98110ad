"""The golden deferred-fire model (docs/codings.md §5, Error-Free ANN-to-SNN Conversion paper)."""
import numpy as np
import pytest
import torch

from golden.codings.deferred import (DeferredParams, bn_bias_shift, per_step_bn_sum, qcfs,
                                     quantised_ann, sparsity_loss)
from golden.convert import ConversionError


def test_T4_spikes_equal_the_qcfs_activation_bits(make_deferred_network, split):
    network = make_deferred_network(T=4)
    result = network.simulate(split.test_pixels)
    codes, classes = quantised_ann(network, split.test_pixels)
    mismatches = 0
    for layer, code, counts in zip(network.layers, codes, result.layers):
        bits = np.stack([(code >> (layer.T - t)) & 1 for t in range(1, layer.T + 1)], 1)
        mismatches += int((bits != counts.spike_train).sum())
    assert mismatches == 0
    np.testing.assert_array_equal(result.classes, classes)
    assert ((result.classes == split.test_labels).mean()
            == (classes == split.test_labels).mean())
    assert (result.classes == split.test_labels).mean() > 0.95


def test_qcfs_clips_at_2_to_the_T_minus_1():
    z = torch.tensor([-1.0, 0.0, 0.06, 0.5, 0.97, 5.0], dtype=torch.float64)
    a, code = qcfs(z, torch.tensor(1.0, dtype=torch.float64), 2)
    assert code.tolist() == [0, 0, 0, 2, 3, 3]            # never 4 = 2^T
    assert a.tolist() == [0, 0, 0, 0.5, 0.75, 0.75]


def test_sparsity_loss_value_and_surrogate_gradient():
    a = torch.tensor([[0.0, 0.3, 0.9, 1.2]], dtype=torch.float64, requires_grad=True)
    lam = torch.tensor(1.0, dtype=torch.float64)
    code = torch.tensor([[0, 1, 3, 3]])
    loss = sparsity_loss(a, code, lam, 2)
    assert loss.item() == 0 + 1 + 2 + 2                  # number of 1 bits (Eq. 10)
    loss.backward()
    assert a.grad.tolist() == [[0.0, 2.0, 2.0, 0.0]]      # T·[0 < a < λ] (Eq. 11)


def test_sparsity_regulariser_reduces_spikes(make_deferred_network, split):
    plain = make_deferred_network(T=4, sparsity=0.0).simulate(split.test_pixels)
    sparse = make_deferred_network(T=4, sparsity=1e-2).simulate(split.test_pixels)
    assert sparse.summary()["total_spikes"] < 0.8 * plain.summary()["total_spikes"]


def test_bn_bias_shift_per_step_equals_folded_bn(rng):
    T, n_in, n_out = 4, 6, 5
    weight = rng.normal(size=(n_out, n_in))
    gamma, beta = rng.normal(size=n_out), rng.normal(size=n_out)
    mu, sigma = rng.normal(size=n_out), rng.uniform(0.5, 2, size=n_out)
    spikes = rng.integers(0, 2, size=(10, T, n_in)).astype(float)
    activation = sum(spikes[:, t - 1] * (1 << (T - t)) for t in range(1, T + 1))
    folded = gamma * (activation @ weight.T - mu) / sigma + beta
    np.testing.assert_allclose(per_step_bn_sum(weight, gamma, beta, mu, sigma, spikes), folded)
    # the printed statement's γμ/β gives another sum: the typo matters
    typo = beta / T + (1 - 1 / T) * gamma * mu / beta
    assert not np.allclose(typo, bn_bias_shift(beta, gamma, mu, sigma, T))


@pytest.mark.parametrize("params, message", [
    ({"T": 0}, "T must be an integer from 1 to 16"),
    ({"sparsity": -1.0}, "sparsity must be a number"),
])
def test_bad_parameters_are_clear_errors(params, message):
    with pytest.raises(ConversionError, match=message):
        DeferredParams(**params)


def test_theta_that_weights_cannot_reach_is_a_clear_error(float_layers, calibration):
    from golden.codings.deferred import convert
    with pytest.raises(ConversionError, match=r"layer 1 .*multiple of 2\^\(T\+1\)"):
        convert(float_layers, calibration, DeferredParams(T=16, weight_bits=3))
