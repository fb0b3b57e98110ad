"""The input contract is recorded and checked: report.json and the summary say what the
float model takes; a user's model scored clearly higher under another contract is warned
about, naming the options (golden/contract.py); an unsupported module is refused once."""
import json

import numpy as np
import pytest
import torch
from torch import nn

from flows.build import main as build
from flows.common import FlowError
from flows.design import convert
from golden.contract import clearly_better
from golden.data import InputContract
from golden.torch_threads import single_thread

from .test_frontends import export, mnist, mnist_npz  # noqa: F401 (fixtures)


def data_statistics(split) -> tuple[float, float]:
    """Mean and std of pixel/255 over the training images, to 4 decimals."""
    values = split.train_pixels / 255.0
    return round(float(values.mean()), 4), round(float(values.std()), 4)


@pytest.fixture(scope="module")
def normalised_model(mnist, tmp_path_factory):
    """A 784-32-10 MLP trained (seconds, one thread, seeded) on the MNIST subset
    normalised by its own statistics, as an ONNX file; and those statistics."""
    mean, std = data_statistics(mnist)
    contract = InputContract(mean=(mean,), std=(std,))
    x = torch.from_numpy(contract.model_input(mnist.train_pixels, (1, 28, 28)))
    y = torch.from_numpy(mnist.train_labels)
    with single_thread():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))
        optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(60):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(x.reshape(-1, 1, 28, 28)), y).backward()
            optimiser.step()
    path = export(model, (1, 28, 28), tmp_path_factory.mktemp("model") / "normalised.onnx",
                  False)
    return path, mean, std


def build_report(tmp_path, model, data, *options) -> dict:
    out = tmp_path / "out"
    assert build(["--model", str(model), "--data", str(data), "--golden-only", "--T", "8",
                  "--out", str(out), *options]) == 0
    return json.loads((out / "report.json").read_text())


def test_a_normalised_model_built_without_its_contract_is_warned(tmp_path, normalised_model,
                                                                 mnist_npz, capsys):
    """Built without --input-mean/--input-std: the build warns on stderr and in its
    summary, naming the options with the data's statistics; the report records pixel/255
    as the default, the scores, and the warning."""
    model, mean, std = normalised_model
    report = build_report(tmp_path, model, mnist_npz)
    options = f"--input-mean {mean:g} --input-std {std:g}"
    out, err = capsys.readouterr()
    assert "warning: input contract: the float model scores" in err
    assert f"build with {options}" in err
    assert "  warning    input contract:" in out and options in out
    contract = report["input_contract"]
    assert contract["model_input"] == "pixel/255" and contract["mean"] == [0.0]
    assert contract["given_by"].startswith("the default")
    assert options in contract["check"]["warning"]
    scores = {s["contract"]: s["percent"] for s in contract["check"]["scores"]}
    assert scores["the data's own statistics"] >= scores["as given (the default)"] + 2
    # MNIST's published statistics are near the subset's own: they score alike
    assert abs(scores["MNIST's"] - scores["the data's own statistics"]) < 2
    assert contract["check"]["training_images"] == 2000


def test_the_right_contract_given_is_recorded_without_a_warning(tmp_path, normalised_model,
                                                                mnist_npz, capsys):
    model, mean, std = normalised_model
    report = build_report(tmp_path, model, mnist_npz, "--input-mean", str(mean),
                          "--input-std", str(std))
    out, err = capsys.readouterr()
    assert "warning" not in err and "warning" not in out
    assert f"  input      (pixel/255 - {mean:g}) / {std:g} (--input-mean/--input-std)" in out
    contract = report["input_contract"]
    assert contract["mean"] == [mean] and contract["std"] == [std]
    assert contract["given_by"] == "--input-mean/--input-std"
    assert contract["check"]["warning"] is None
    given = contract["check"]["scores"][0]
    assert given["contract"] == "as given"
    assert given["percent"] == max(s["percent"] for s in contract["check"]["scores"])


def test_a_bundled_network_records_its_own_contract():
    design = convert("digits-mlp", coding="phase", T=6)
    assert design.input_contract() == {"model_input": "pixel/256", "scale": 256.0,
                                       "mean": [0.0], "std": [1.0],
                                       "given_by": "bundled network digits-mlp",
                                       "check": None}
    assert design.input_contract_warning is None


@pytest.mark.parametrize("images, given, gained, lost, warned", [
    (2000, 1800, 40, 0, True),     # 2 points, each image a gain: not luck
    (2000, 1800, 30, 0, False),    # 1.5 points: too small to matter
    (2000, 1800, 200, 160, False),  # 2 points net of 360 images either way: could be luck
    (100, 90, 3, 0, False),        # 3 points, but 3 images: a coin could do it
    (100, 80, 10, 0, True),        # 10 images, every one a gain
])
def test_another_contract_must_win_by_points_and_more_than_luck(images, given, gained, lost,
                                                               warned):
    given_right = np.arange(images) < given
    other_right = given_right.copy()
    other_right[given:given + gained] = True
    other_right[:lost] = False
    assert clearly_better(given_right, other_right) is warned


def test_an_unsupported_module_is_refused_once_with_its_place(mnist_npz):
    """One refusal naming the module and where it is, and the supported list: not the
    same refusal once per input shape tried, nor a headline about the data's shape."""
    with pytest.raises(FlowError) as refused:
        convert(nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.Sigmoid(),
                              nn.Linear(32, 10)), mnist_npz)
    message = str(refused.value)
    assert message.startswith("Sequential layer 3 (2): Sigmoid: not supported; supported "
                              "modules: Linear, Conv2d")
    assert message.count("Sigmoid") == 1 and len(message) < 400
    assert "images" not in message and "(n, " not in message

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(),
                                       nn.Linear(32, 10), nn.Softmax(1))
            self.head = nn.Linear(10, 10)

        def forward(self, x):
            return self.head(self.model(x))
    with pytest.raises(FlowError, match=r"^Net layer 5 \(model\.4\): Softmax: Softmax/"
                                        r"LogSoftmax is supported only at the end$"):
        convert(Net(), mnist_npz)


def test_a_module_that_takes_no_shape_of_the_data_names_the_shapes_tried(mnist_npz):
    with pytest.raises(FlowError) as refused:
        convert(nn.Sequential(nn.Linear(100, 10)), mnist_npz)
    message = str(refused.value)
    assert message.startswith("Sequential does not take the data's images (1, 28, 28)")
    for shape in ("(n, 1, 28, 28)", "(n, 28, 28)", "(n, 784)"):
        assert f"as {shape}: " in message
