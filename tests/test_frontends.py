"""Your network and your data: the ONNX and PyTorch front ends, the input contract, .npz
data, and the Python API (flows.design) they feed."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from flows.common import FlowError
from flows.design import convert
from golden.codings import REGISTRY
from golden.convert import ConversionError, fold_input_contract, fold_network, forward
from golden.data import DataError, InputContract, load_mnist_split, load_npz, pixels_to_input
from golden.frontends.onnx_graph import sequential_from_onnx
from golden.frontends.torch_graph import sequential_from_module
from golden.network import ann_accuracy, load_bundled

EXPORTERS = {"torchscript": False, "dynamo": True}


def export(module, shape, path, dynamo: bool, external: bool = False):
    """`torch.onnx.export` as a user calls it (one exporter or the other)."""
    import contextlib
    import io
    import warnings
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")     # the legacy exporter's deprecation notice
        options = {"external_data": external} if dynamo else {}
        torch.onnx.export(module.eval(), (torch.zeros(1, *shape),), str(path), dynamo=dynamo,
                          input_names=["x"], output_names=["scores"], **options)
    return path


class UserCnn(nn.Module):
    """A LeNet-style module with forward code, Dropout, BatchNorm and a final LogSoftmax,
    the way people write them (not nn.Sequential)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 5, padding=2), nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 5)
        self.fc1, self.drop, self.fc2 = nn.Linear(8 * 5 * 5, 32), nn.Dropout(0.3), nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.avg_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


def randomised(module, seed=0):
    torch.manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, nn.BatchNorm2d | nn.BatchNorm1d):
                sub.running_mean.uniform_(-0.2, 0.2)
                sub.running_var.uniform_(0.5, 2.0)
                sub.weight.uniform_(0.5, 1.5)
    return module.eval()


@pytest.fixture(scope="module")
def mnist():
    return load_mnist_split()


@pytest.fixture(scope="module")
def mnist_npz(tmp_path_factory, mnist):
    """The bundled MNIST subset written as a user's --data file."""
    path = tmp_path_factory.mktemp("data") / "mnist.npz"
    n = len(mnist.train_pixels)
    np.savez(path, x_train=mnist.train_pixels.reshape(n, 28, 28), y_train=mnist.train_labels,
             x_test=mnist.test_pixels.reshape(-1, 28, 28), y_test=mnist.test_labels)
    return path


def integer_equal(a, b) -> bool:
    return all(np.array_equal(x.weight, y.weight) and np.array_equal(x.bias, y.bias)
               for x, y in zip(a.layers, b.layers)) and len(a.layers) == len(b.layers)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", ["mnist-mlp", "mnist-cnn"])
def test_onnx_export_converts_to_the_same_integer_network(name, exporter, mnist, mnist_npz,
                                                         tmp_path):
    """A user's ONNX file (either exporter, 28x28 input) = the module it came from: the same
    float accuracy as PyTorch measures, the same integer network, SNN within the bound."""
    module = load_bundled(name)
    user_module, shape = module, (784,)
    if name == "mnist-cnn":                  # as a user has it: it takes (n, 1, 28, 28)
        user_module, shape = nn.Sequential(*list(module)[1:]), (1, 28, 28)
    path = export(user_module, shape, tmp_path / "user.onnx", EXPORTERS[exporter])
    design = convert(path, mnist_npz, "phase")
    bundled = convert(name, coding="phase")
    assert integer_equal(design.network, bundled.network)
    accuracy = design.accuracy()
    torch_percent = 100 * ann_accuracy(module, mnist.test_pixels, mnist.test_labels,
                                       InputContract(), (1, 28, 28))
    assert accuracy["ann_float_percent"] == round(torch_percent, 3)
    assert abs(accuracy["snn_golden_percent"] - accuracy["ann_float_percent"]) <= 1.5


def test_torch_module_converts_to_the_same_network_as_its_onnx_export(mnist_npz, tmp_path):
    """Not nn.Sequential: forward code, torch.flatten, Dropout, BatchNorm, LogSoftmax."""
    module = randomised(UserCnn())
    via_torch = convert(module, mnist_npz, "phase", T=8, wait=4)
    for dynamo in EXPORTERS.values():
        path = export(module, (1, 28, 28), tmp_path / f"user{int(dynamo)}.onnx", dynamo)
        via_onnx = convert(path, mnist_npz, "phase", T=8, wait=4)
        assert integer_equal(via_torch.network, via_onnx.network)
    assert via_torch.source == "torch module UserCnn"
    assert [l.n_out for l in via_torch.network.layers] == [4 * 28 * 28, 8 * 10 * 10, 32, 10]


def test_module_fx_cannot_trace_goes_through_torch_export():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(16, 8), nn.Linear(8, 3)

        def forward(self, x):
            if x.dim() == 4:            # Python control flow on the input: fx cannot trace
                x = x.flatten(1)
            return self.fc2(torch.relu(self.fc1(x)))
    module = randomised(Branchy())
    sequential = sequential_from_module(module, (1, 4, 4))
    x = torch.rand(5, 1, 4, 4)
    with torch.no_grad():
        assert torch.allclose(sequential(x.reshape(5, -1)), module(x), atol=1e-6)


def test_external_data_and_the_input_contract(tmp_path, mnist):
    """Weights in an external-data file beside the model; a normalised model's mean and
    std folded into a padded first convolution give the float model's exact outputs."""
    module = randomised(UserCnn(), seed=3)
    path = export(module, (1, 28, 28), tmp_path / "ext.onnx", True, external=True)
    assert (tmp_path / "ext.onnx.data").exists()
    sequential, shape = sequential_from_onnx(path)
    assert shape == (1, 28, 28)
    contract = InputContract(mean=(0.1307,), std=(0.3081,))
    layers = fold_network(sequential)
    fold_input_contract(layers, contract, shape)
    pixels = mnist.test_pixels[:50]
    folded = forward(layers, pixels_to_input(pixels).astype(np.float64))[-1]
    with torch.no_grad():
        x = torch.from_numpy(contract.model_input(pixels, shape)).reshape(-1, 1, 28, 28)
        reference = module(x)
    assert np.allclose(F.log_softmax(torch.from_numpy(folded), 1).numpy(), reference.numpy(),
                       atol=1e-4)
    assert not np.allclose(layers[0].bias[:196], layers[0].bias[98])   # border sites differ


@pytest.mark.parametrize("op, builder", [
    ("Sigmoid", lambda: nn.Sequential(nn.Linear(16, 8), nn.Sigmoid(), nn.Linear(8, 3))),
    ("Tanh", lambda: nn.Sequential(nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)))])
def test_unsupported_onnx_operator_is_named_before_anything_is_written(op, builder, tmp_path,
                                                                      mnist_npz):
    path = export(randomised(builder()), (16,), tmp_path / "bad.onnx", False)
    with pytest.raises(ConversionError, match=f"ONNX node .*{op}.*unsupported operator {op}; "
                                              "supported: Gemm"):
        sequential_from_onnx(path)
    out = tmp_path / "build"
    from flows.build import main
    assert main(["--model", str(path), "--data", str(mnist_npz), "--out", str(out)]) == 2
    assert not out.exists() and not (tmp_path / "build.incomplete").exists()


def test_branches_that_are_not_residual_blocks_are_refused_naming_the_node(tmp_path):
    """Two paths that do not meet in one sum (a concatenation) are not a residual block
    (those convert: tests/test_residual.py)."""
    class Concatenating(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.out = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(16, 2)

        def forward(self, x):
            y = torch.relu(self.fc1(x))
            return self.out(torch.cat([torch.relu(self.fc2(y)), y], 1))
    module = randomised(Concatenating())
    with pytest.raises(ConversionError, match="node cat .*joins two paths, but not by a sum"):
        sequential_from_module(module, (8,))
    path = export(module, (8,), tmp_path / "cat.onnx", False)
    with pytest.raises(ConversionError, match="ONNX node .*Concat.*joins two paths, but "
                                              "not by a sum"):
        sequential_from_onnx(path)


def test_bad_onnx_and_npz_files_give_clear_errors(tmp_path, mnist):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf at all")
    with pytest.raises(ConversionError, match="junk.onnx: not a readable ONNX model"):
        sequential_from_onnx(junk)
    with pytest.raises(DataError, match="no such file"):
        load_npz(tmp_path / "absent.npz")
    text = tmp_path / "text.npz"
    text.write_text("x_train,y_train\n")
    with pytest.raises(DataError, match="text.npz: not a zip archive, not an .npz archive"):
        load_npz(text)
    single = tmp_path / "single.npz"
    with open(single, "wb") as handle:
        np.save(handle, mnist.test_pixels)
    with pytest.raises(DataError, match="a single .npy array, not an .npz archive"):
        load_npz(single)
    truncated = tmp_path / "truncated.npz"
    np.savez(truncated, x_train=mnist.train_pixels)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(DataError, match="not a readable .npz archive"):
        load_npz(truncated)
    cases = {
        "missing": ({"x_train": mnist.train_pixels[:4]}, "missing y_train, x_test, y_test"),
        "float": ({"x_train": mnist.train_pixels[:4].astype(float),
                   "y_train": np.zeros(4, int), "x_test": mnist.test_pixels[:2],
                   "y_test": np.zeros(2, int)}, "x_train: pixels must be uint8"),
        "count": ({"x_train": mnist.train_pixels[:4], "y_train": np.zeros(3, int),
                   "x_test": mnist.test_pixels[:2], "y_test": np.zeros(2, int)},
                  "4 images in x_train but 3 labels"),
        "shapes": ({"x_train": mnist.train_pixels[:4], "y_train": np.zeros(4, int),
                    "x_test": mnist.test_pixels[:2, :700], "y_test": np.zeros(2, int)},
                   "they must have one shape"),
        "pickled": ({"x_train": np.array([{}], dtype=object), "y_train": np.zeros(1, int),
                     "x_test": mnist.test_pixels[:2], "y_test": np.zeros(2, int)},
                    "without unpickling"),
    }
    for name, (arrays, message) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        with pytest.raises(DataError, match=message):
            load_npz(path)


def test_a_coding_option_is_checked_before_the_model_is_read(tmp_path, capsys):
    """A user's model's defaults wait for its input shape; an option its coding does not
    have is still refused first, naming it, with nothing read or written."""
    from flows.build import main as build
    out = tmp_path / "out"
    assert build(["--model", str(tmp_path / "missing.onnx"), "--data",
                  str(tmp_path / "missing.npz"), "--coding", "rate", "--Q", "1.5",
                  "--out", str(out)]) == 2
    assert "--Q does not apply to the rate coding" in capsys.readouterr().err
    assert not out.exists()


def test_model_and_data_shapes_must_agree(tmp_path, mnist_npz):
    path = export(randomised(nn.Sequential(nn.Flatten(), nn.Linear(64, 10))), (1, 8, 8),
                  tmp_path / "small.onnx", False)
    with pytest.raises(FlowError, match=r"takes inputs of shape \(1, 8, 8\), the data's "
                                        r"images are \(1, 28, 28\)"):
        convert(path, mnist_npz)
    with pytest.raises(FlowError, match="--data is required"):
        convert(path)
    with pytest.raises(FlowError, match="--input-mean: 2 values for an input of 1 channels"):
        convert(export(randomised(nn.Sequential(nn.Flatten(), nn.Linear(784, 10))), (1, 28, 28),
                       tmp_path / "mlp.onnx", False), mnist_npz, input_mean=(0.1, 0.2))


def run_cli(tmp_path, name: str, coding: str, dynamo: bool, mnist_npz, images: int,
            **options):
    """flows.build --model --data, then flows.simulate --rtl on the first test images."""
    import json
    from flows.build import main as build
    from flows.simulate import main as simulate
    module = load_bundled(name)
    shape = (784,)
    if name == "mnist-cnn":
        module, shape = nn.Sequential(*list(module)[1:]), (1, 28, 28)
    path = export(module, shape, tmp_path / f"{name}.onnx", dynamo)
    out = tmp_path / f"{name}-{coding}"
    argv = ["--model", str(path), "--data", str(mnist_npz), "--coding", coding, "--out", str(out)]
    argv += [f"--{k}={v}" for k, v in options.items()]
    assert build(argv) == 0
    report = json.loads((out / "report.json").read_text())
    data = np.load(mnist_npz)
    np.save(tmp_path / "images.npy", data["x_test"][:images])       # (n, 28, 28) as given
    np.save(tmp_path / "labels.npy", data["y_test"][:images])
    assert simulate([str(out), "--images", str(tmp_path / "images.npy"), "--labels",
                     str(tmp_path / "labels.npy"), "--rtl"]) == 0
    return report


def test_user_onnx_mlp_builds_and_its_rtl_equals_golden(tmp_path, mnist, mnist_npz, capsys):
    """The acceptance path on a 784-128-10 ONNX file: report, float accuracy as PyTorch
    measures it, snn_top = golden in class and cycles on Verilator."""
    report = run_cli(tmp_path, "mnist-mlp", "phase", False, mnist_npz, images=4)
    torch_percent = 100 * ann_accuracy(load_bundled("mnist-mlp"), mnist.test_pixels,
                                       mnist.test_labels, InputContract(), (1, 28, 28))
    assert report["accuracy"]["ann_float_percent"] == round(torch_percent, 3)
    assert report["image_shape"] == [1, 28, 28] and report["source"] == "ONNX file mnist-mlp.onnx"
    assert "RTL equals the golden model on all 4 images" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("coding", ["deferred", "phase", "radix", "rate", "tsc"])
@pytest.mark.parametrize("name", ["mnist-mlp", "mnist-cnn"])
def test_user_onnx_networks_in_every_coding(name, coding, exporter, tmp_path, mnist_npz):
    """Every coding builds the user's ONNX files at its defaults (those of a 784-input
    model), snn_top = golden on 20 images; the float accuracy is the bundled network's
    (the same weights); the SNN is within the coding's bound on the 1,000 test images."""
    report = run_cli(tmp_path, name, coding, EXPORTERS[exporter], mnist_npz, images=20)
    bundled = convert(name, coding="phase").accuracy()["ann_float_percent"]
    assert report["accuracy"]["ann_float_percent"] == bundled
    assert "outside_bound" not in report["accuracy"]
    assert round(bundled - report["accuracy"]["snn_golden_percent"], 3) <= \
        REGISTRY[coding].golden.ACCURACY_BOUND


def test_compare_takes_a_user_model_and_data(tmp_path):
    """flows.compare --model --data: the same engine, the user's network and data; its
    default build equals flows.build --model --data."""
    import json
    from flows import build as build_flow
    from flows import compare as compare_flow
    from golden.data import load_digits_split
    digits = load_digits_split()
    data = tmp_path / "digits.npz"
    np.savez(data, x_train=digits.train_pixels.reshape(-1, 8, 8), y_train=digits.train_labels,
             x_test=digits.test_pixels.reshape(-1, 8, 8), y_test=digits.test_labels)
    module = randomised(nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(),
                                      nn.Linear(32, 10)))
    model = export(module, (1, 8, 8), tmp_path / "tiny.onnx", True)
    out = tmp_path / "compare"
    assert compare_flow.main(["--model", str(model), "--data", str(data), "--board", "none",
                              "--codings", "phase", "--T", "6", "--input-mean", "0.5",
                              "--out", str(out), "--workers", "0",
                              "--cache", str(tmp_path / "cache")]) == 0
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["network"] == "tiny"
    row = comparison["rows"][0]
    assert build_flow.main(["--model", str(model), "--data", str(data), "--input-mean", "0.5",
                            "--out", str(tmp_path / "build")]) == 0
    report = json.loads((tmp_path / "build" / "report.json").read_text())
    assert row["snn_golden_percent"] == report["accuracy"]["snn_golden_percent"]
    assert row["ann_float_percent"] == report["accuracy"]["ann_float_percent"]
    assert report["network_name"] == "tiny" and report["image_shape"] == [1, 8, 8]
    assert compare_flow.main(["--model", str(model), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("dynamo", [False, True])
def test_global_average_pooling_becomes_one_average_pool(dynamo, tmp_path):
    module = randomised(nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                      nn.Flatten(), nn.Linear(4, 3)))
    path = export(module, (2, 6, 6), tmp_path / "gap.onnx", dynamo)
    for sequential in (sequential_from_onnx(path)[0], sequential_from_module(module, (2, 6, 6))):
        assert any(isinstance(m, nn.AvgPool2d) and m.kernel_size == (4, 4) for m in sequential)
        x = torch.rand(3, 2, 6, 6)
        with torch.no_grad():
            assert torch.allclose(sequential(x.reshape(3, -1)), module(x), atol=1e-6)
