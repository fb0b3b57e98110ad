"""The bundled MNIST-size networks (784-128-10, a LeNet-like CNN and a residual network
on the 5,000-image MNIST subset): the data, accuracy against the float ANN, and snn_top =
golden on Verilator (a sample in CI; the whole 1,000-image test split of mnist-mlp and
mnist-cnn, a sample of mnist-resnet in every coding, in the full regression)."""
import numpy as np
import pytest

from flows.design import convert
from golden.codings import REGISTRY
from golden.data import load_mnist_split

# Points the golden SNN may lose against the float ANN (as for the digits networks).
BOUNDS = {name: coding.golden.ACCURACY_BOUND for name, coding in REGISTRY.items()}


def test_mnist_subset_is_the_documented_split():
    split = load_mnist_split()
    assert split.image_shape == (1, 28, 28)
    assert split.train_pixels.shape == (4000, 784) and split.test_pixels.shape == (1000, 784)
    assert split.train_pixels.dtype == np.uint8
    assert np.bincount(split.test_labels).tolist() == [100] * 10
    assert np.bincount(split.train_labels).tolist() == [400] * 10


# mnist-mlp on Verilator in CI: tests/test_frontends.py (its ONNX export, flows.simulate
# --rtl); the mnist-cnn sample (~2.5 min of Verilator build and run) in the full regression
# (mnist-resnet: each coding 1 to 8 minutes, tsc the longest)
@pytest.mark.parametrize("name, coding", [
    pytest.param("mnist-cnn", "phase", marks=pytest.mark.slow),
    pytest.param("mnist-mlp", "radix", marks=pytest.mark.slow),
    *[pytest.param("mnist-resnet", coding, marks=pytest.mark.slow) for coding in sorted(BOUNDS)]])
def test_mnist_rtl_equals_golden_on_a_sample(name, coding, tmp_path):
    design = convert(name, coding=coding)
    images = design.split.test_pixels[:3].reshape(3, 28, 28)
    classes = design.simulate_rtl(images, lanes=4, directory=tmp_path / "sim")
    assert classes.tolist() == design.predict(images).tolist()


PAIRS = [(name, coding) for name in ("mnist-mlp", "mnist-cnn") for coding in sorted(BOUNDS)]


RESNET_PAIRS = [("mnist-resnet", coding) for coding in sorted(BOUNDS)]


# at each network's defaults (golden.codings.input_size_defaults: rate and tsc Robust Norm;
# golden.network.NETWORK_DEFAULTS: mnist-cnn rate T = 13, mnist-resnet rate T = 32 with
# v(0) = θ/2 and tsc trained through its steps), measured 2026-12-03 and (mnist-resnet)
# 2026-12-04: every pair within its bound
@pytest.mark.slow
@pytest.mark.parametrize("name, coding", PAIRS + RESNET_PAIRS)
def test_mnist_accuracy_within_the_bound(name, coding):
    accuracy = convert(name, coding=coding).accuracy()
    assert round(accuracy["ann_float_percent"] - accuracy["snn_golden_percent"], 3) <= \
        BOUNDS[coding]


@pytest.mark.slow
@pytest.mark.parametrize("name, coding", PAIRS)
def test_mnist_rtl_equals_golden_on_the_whole_test_split(name, coding, tmp_path):
    design = convert(name, coding=coding)
    design.simulate_rtl(design.split.test_pixels, lanes=4, directory=tmp_path / "sim")


def test_a_bundled_network_s_own_defaults_yield_to_the_user_s_options():
    """mnist-cnn runs rate with T = 13 and the 98.5th percentile unless told otherwise;
    the MNIST networks take their input size's defaults otherwise, the digits networks the
    coding's."""
    from flows.common import coding_params
    assert (coding_params("rate", {}, "mnist-cnn").T,
            coding_params("rate", {}, "mnist-cnn").percentile) == (13, 98.5)
    assert coding_params("rate", {"T": 16}, "mnist-cnn").T == 16
    assert coding_params("rate", {"percentile": 99.9}, "mnist-cnn").percentile == 99.9
    assert coding_params("rate", {}, "mnist-mlp").percentile == 99.5
    assert (coding_params("rate", {}, "mnist-resnet").T,
            coding_params("rate", {}, "mnist-resnet").half_init) == (32, True)
    assert coding_params("rate", {"half_init": False}, "mnist-resnet").half_init is False
    assert coding_params("tsc", {}, "mnist-mlp").percentile == 99.9
    assert coding_params("tsc", {"percentile": 100.0}, "mnist-mlp").percentile == 100.0
    assert coding_params("tsc", {}, "digits-mlp").percentile == 100.0
    assert coding_params("tsc", {}, "digits-resnet").finetune_epochs == 10
    assert coding_params("tsc", {"finetune_epochs": 0}, "digits-resnet").finetune_epochs == 0
    assert coding_params("tsc", {}, "mnist-resnet").finetune_epochs == 10
    assert coding_params("tsc", {}, "digits-cnn").finetune_epochs == 0
    assert coding_params("tsc", {}, "digits-mlp").T == coding_params("tsc", {}).T == 8


def test_a_user_s_model_takes_the_defaults_of_its_input_size():
    """From 784 values per image (28x28) rate and tsc take Robust Norm at the 99.5th and
    99.9th percentile; a smaller model and the other codings take the dataclass defaults;
    an option given wins."""
    from flows.common import coding_params
    assert coding_params("rate", {}, "my-model", inputs=784).percentile == 99.5
    assert coding_params("tsc", {}, None, inputs=3 * 32 * 32).percentile == 99.9
    assert coding_params("tsc", {"percentile": 100.0}, None, inputs=784).percentile == 100.0
    assert coding_params("rate", {}, "my-model", inputs=64).percentile == 99.9
    assert coding_params("rate", {}, "my-model").percentile == 99.9
    assert coding_params("phase", {}, None, inputs=784) == coding_params("phase", {})


def test_a_user_s_module_takes_them_through_the_api():
    """flows.design.convert on a module of 784 inputs: the network's params show them."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    design = convert(module, load_mnist_split(), coding="rate", T=4)
    assert (design.network.params.T, design.network.params.percentile) == (4, 99.5)
    assert design.network.describe()["params"]["percentile"] == 99.5


def test_a_build_outside_its_coding_s_bound_says_what_to_try():
    """Where the SNN loses more than the coding's bound against the float ANN (tsc at
    N = 8 under Max Norm on an MNIST-size MLP before the α search's tie-break: 91.7 %
    against 94.6 %), the report and the summary say so and name the settings to try from
    the ones in use on (a build measures them: tests/test_advice.py)."""
    from types import SimpleNamespace
    from flows.report import accuracy_bound
    from golden.codings.tsc import TscParams
    network = SimpleNamespace(params=TscParams(), layers=[])
    outside = accuracy_bound("tsc", 94.6, 91.7, network)
    assert outside["bound_points"] == 1.5
    assert "loses 2.90 points" in outside["outside_bound"]
    assert "--T 16" in outside["outside_bound"] and "--percentile 99.9" in outside["outside_bound"]
    at_99_9 = SimpleNamespace(params=TscParams(T=16, percentile=99.9), layers=[])
    hint = accuracy_bound("tsc", 94.6, 91.7, at_99_9)["outside_bound"]
    assert "--T 32" in hint and "--percentile 99.5" in hint and "--percentile 99.9" not in hint
    assert accuracy_bound("phase", 98.4, 97.9) == {"bound_points": 1.0}
    assert accuracy_bound("deferred", 98.4, 96.9) == {"bound_points": 1.5}
