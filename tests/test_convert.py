import numpy as np
import pytest
import torch
from torch import nn

from golden.convert import ConversionError, fold_network, forward, quantise_weights, signed_width
from golden.data import check_images, pixels_to_input
from golden.network import ann_accuracy


def test_batch_norm_folding_matches_the_module(model, float_layers, split):
    x = pixels_to_input(split.test_pixels[:50])
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).double().numpy()
    np.testing.assert_allclose(forward(float_layers, x.astype(np.float64))[-1], expected,
                               rtol=1e-5, atol=1e-5)


def test_bundled_network_is_trained(model, split):
    assert ann_accuracy(model, split.test_pixels, split.test_labels) > 0.95


def test_split_is_fixed_and_twenty_percent(split):
    total = len(split.train_labels) + len(split.test_labels)
    assert len(split.test_labels) == int(np.ceil(0.2 * total))
    assert split.test_pixels.dtype == np.uint8 and split.test_pixels.max() == 255


def test_unsupported_layer_is_named_with_its_position():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.Sigmoid(), nn.Linear(8, 2))
    with pytest.raises(ConversionError, match=r"Sigmoid at position 2: unsupported layer type"):
        fold_network(model)


def test_output_relu_and_shape_mismatch_are_errors():
    with pytest.raises(ConversionError, match="output layer must not end in a ReLU"):
        fold_network(nn.Sequential(nn.Linear(4, 3), nn.ReLU()))
    with pytest.raises(ConversionError, match="expects 5 inputs, previous layer gives 3"):
        fold_network(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2)))


def test_quantisation_uses_the_full_signed_range():
    weights, sigma = quantise_weights(np.array([[0.5, -1.0], [0.25, 0.0]]), 8, "w")
    assert weights.tolist() == [[64, -127], [32, 0]] and sigma == 127.0
    with pytest.raises(ConversionError, match="weight bits must be an integer from 2 to 16"):
        quantise_weights(np.ones((2, 2)), 1, "w")


def test_signed_width():
    assert signed_width(-128, 127) == 8
    assert signed_width(-129, 0) == 9
    assert signed_width(0, 128) == 9


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 64), dtype=np.float32), "must be uint8"),
    (np.zeros((2, 7, 7), dtype=np.uint8), r"shape must be \(n, 1, 8, 8\) or \(n, 8, 8\) or \(n, 64\)"),
    (np.zeros((0, 64), dtype=np.uint8), "holds no images"),
])
def test_malformed_images_are_clear_errors(images, message):
    with pytest.raises(ValueError, match=message):
        check_images(images)
