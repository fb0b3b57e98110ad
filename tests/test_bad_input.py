"""Bad input, command by command: exit status 2, one error line, no traceback, and every
file that was there before still there, byte for byte (nothing new written either).

Each case runs the command's `main` as a user's shell would, from a sandbox directory
that holds a folder of the user's, an earlier build, a model and data, and damaged
files; the sandbox is compared file by file before and after.
"""
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import bench.fmax
from flows import board, build, compare, networks, simulate, sweep
from flows.outputs import MARKER
from golden.data import load_digits_split

COMMANDS = {"build": build.main, "simulate": simulate.main, "board": board.main,
            "compare": compare.main, "sweep": sweep.main, "networks": networks.main,
            "bench.fmax": bench.fmax.main}


def export_small_mlp(path: Path) -> None:
    """A 64-16-10 MLP on the digits, untrained (the cases never get as far as accuracy)."""
    import contextlib
    import io
    import warnings
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)).eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 64),), str(path), dynamo=False,
                          input_names=["x"], output_names=["scores"])


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A user's working directory: their own folder and files, an earlier golden-only
    build and one with Verilog, a model with its data, and damaged inputs."""
    root = tmp_path_factory.mktemp("sandbox")
    assert build.main(["--golden-only", "--T", "4", "--wait", "2",
                       "--out", str(root / "earlier")]) == 0
    assert build.main(["--T", "4", "--wait", "2", "--out", str(root / "hardware")]) == 0
    (root / "home").mkdir()
    (root / "home" / ".profile").write_text("# the user's\n")
    (root / "precious").mkdir()
    (root / "precious" / "precious.txt").write_text("the user's own work\n")
    (root / "a_file.txt").write_text("not a directory\n")
    (root / "link").symlink_to(root / "earlier")
    (root / "taken.incomplete").mkdir()
    (root / "taken.incomplete" / "notes.txt").write_text("the user's, named like a staging "
                                                         "directory\n")
    (root / "hardware" / "rtl_sim").mkdir()
    (root / "hardware" / "rtl_sim" / "mine.v").write_text("// the user's, in a build\n")
    split = load_digits_split()
    np.savez(root / "data.npz", x_train=split.train_pixels.reshape(-1, 8, 8),
             y_train=split.train_labels, x_test=split.test_pixels.reshape(-1, 8, 8),
             y_test=split.test_labels)
    np.savez(root / "no_labels.npz", x_train=split.train_pixels, x_test=split.test_pixels)
    (root / "corrupt.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    export_small_mlp(root / "model.onnx")
    (root / "garbage.onnx").write_bytes(b"\x08\x07garbage, not a protobuf")
    (root / "model.txt").write_text("a model as text\n")
    np.save(root / "images.npy", split.test_pixels[:4].reshape(4, 8, 8))
    np.save(root / "wrong_shape.npy", np.zeros((4, 7, 7), np.uint8))
    np.save(root / "float_images.npy", np.zeros((4, 8, 8), np.float32) + 0.5)
    np.save(root / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(root / "labels3.npy", np.zeros(3, np.int64))
    (root / "text.npy").write_text("not numpy\n")
    (root / "empty.npy").write_bytes(b"")
    (root / "bad.toml").write_text("network = [unclosed\n")
    (root / "unknown.toml").write_text('network = "digits-mlp"\ncodings = ["phase"]\n'
                                       'run = "golden"\nlanes = [1]\n[grid]\nT = [4]\n'
                                       'colour = ["red"]\n')
    (root / "bench" / "digits-mlp-phase-ulx3s").mkdir(parents=True)
    (root / "bench" / "digits-mlp-phase-ulx3s" / "notes.txt").write_text("the user's\n")
    damaged = root / "build" / "compare-arty"
    damaged.mkdir(parents=True)
    (damaged / MARKER).write_text("")
    (damaged / "comparison.json").write_text('{"rows": [')
    return root


def snapshot(root: Path) -> dict:
    """Every file and link under `root`: relative path → content hash (links: target)."""
    state = {}
    for directory, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(directory) / name
            key = str(path.relative_to(root))
            if path.is_symlink():
                state[key] = f"link to {os.readlink(path)}"
            elif path.is_file():
                state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                state[key] = "directory"
    return state


# (command, arguments, what the one error line says); {root} is the sandbox
CASES = [
    # output directories: never a folder the toolkit did not write
    ("build", "--golden-only --out precious", r"precious: not written, because it is a folder "
                                              r"this toolkit did not write"),
    ("build", "--golden-only --out .", r"--out \.: not written, because it is the current "
                                       r"directory"),
    ("build", "--golden-only --out ..", r"--out \.\.: not written, because it holds the "
                                        r"current directory"),
    ("build", "--golden-only --out build/..", r"--out build/\.\.: not written, because it "
                                              r"is the current directory"),
    ("build", "--golden-only --out earlier/..", r"it is the current directory"),
    ("build", "--golden-only --out a_file.txt", r"it is an existing file, not a directory"),
    ("build", "--golden-only --out a_file.txt/build", r"a_file.txt is a file, so no directory "
                                                      r"can be made below it"),
    ("build", "--golden-only --out link", r"it is a symbolic link"),
    ("build", "--golden-only --out taken", r"would go through .*taken.incomplete, which is "
                                           r"not written"),
    ("build", "--golden-only --out ~", r"it is the home directory"),
    ("build", "--golden-only --out /", r"it is the file system's root"),
    # options
    ("build", "--T 0 --out never", r"T must be"),
    ("build", "--T many --out never", r"argument --T: invalid int value"),
    ("build", "--Q 3 --out never", r"Q"),
    ("build", "--Q fast --out never", r"argument --Q: expected a number or auto"),
    ("build", "--coding morse --out never", r"argument --coding: invalid choice"),
    ("build", "--network lenet --out never", r"argument --network: invalid choice"),
    ("build", "--lanes 0 --out never", r"lanes"),
    ("build", "--lanes four --out never", r"argument --lanes: expected a count"),
    ("build", "--runs 2 --out never", r"--runs does not apply to the phase coding"),
    ("build", "--clock-mhz 200 --board arty --out never", r"--clock-mhz and --inline-roms "
                                                          r"are options of --board asic"),
    ("build", "--no-timing-proxy --out never", r"--no-timing-proxy is an option of --board "
                                               r"arty"),
    ("build", "--weights-in spram --board arty --out never", r"only the icebreaker keeps "
                                                             r"weights in SPRAM"),
    ("build", "--input-mean 0.5 --out never", r"bundled with its own input contract"),
    # a user's model and data
    ("build", "--model missing.onnx --data data.npz --out never", r"missing.onnx"),
    ("build", "--model model.txt --data data.npz --out never", r"expected an .onnx file"),
    ("build", "--model garbage.onnx --data data.npz --out never", r"garbage.onnx"),
    ("build", "--model model.onnx --out never", r"--data is required with --model"),
    ("build", "--data data.npz --out never", r"--data goes with --model"),
    ("build", "--model model.onnx --network digits-mlp --data data.npz --out never",
     r"give --model or --network, not both"),
    ("build", "--model model.onnx --data missing.npz --out never", r"missing.npz"),
    ("build", "--model model.onnx --data corrupt.npz --out never", r"corrupt.npz"),
    ("build", "--model model.onnx --data no_labels.npz --out never", r"y_train"),
    # flows.simulate
    ("simulate", "nowhere --images images.npy", r"no build directory nowhere"),
    ("simulate", "precious --images images.npy", r"precious is not a finished build directory"),
    ("simulate", "earlier --images missing.npy", r"--images: no file missing.npy"),
    ("simulate", "earlier --images text.npy", r"is not a NumPy .npy file"),
    ("simulate", "earlier --images empty.npy", r"is empty \(0 bytes\)"),
    ("simulate", "earlier --images pickled.npy", r"holds Python objects"),
    ("simulate", "earlier --images wrong_shape.npy", r"wrong_shape.npy"),
    ("simulate", "earlier --images float_images.npy", r"float_images.npy"),
    ("simulate", "earlier --images images.npy --labels labels3.npy", r"holds 3 labels for 4 "
                                                                      r"images"),
    ("simulate", "earlier --images images.npy --rtl", r"has no snn_top.v"),
    ("simulate", "hardware --images images.npy --rtl --keep-sim",
     r"--keep-sim .*rtl_sim: not written, because it is a folder this toolkit did not write"),
    # flows.board
    ("board", "earlier --port sim --images images.npy", r"was built for board 'none'"),
    ("board", "precious --port sim --images images.npy", r"is not a finished build directory"),
    # flows.compare, flows.sweep, flows.networks, a bench with --out
    ("compare", "--out precious", r"precious: not written, because it is a folder this "
                                  r"toolkit did not write"),
    ("compare", "--out .", r"it is the current directory"),
    ("compare", "--model model.onnx --out never", r"--model needs --data"),
    ("compare", "--lanes 0 --out never", r"--lanes must be a positive integer"),
    ("sweep", "missing.toml --out never", r"missing.toml"),
    ("sweep", "bad.toml --out never", r"bad.toml"),
    ("sweep", "unknown.toml --out never", r"colour"),
    ("sweep", "bad.toml --out precious", r"bad.toml|precious"),
    ("networks", "--networks digits-cnn", r"no comparison report on arty for: digits-cnn"),
    ("networks", "--networks digits-mlp", r"comparison.json is not valid JSON"),
    ("bench.fmax", "--coding phase --out bench", r"--out bench/digits-mlp-phase-ulx3s: not "
                                                 r"written, because it is a folder this "
                                                 r"toolkit did not write"),
]


@pytest.mark.parametrize("command, arguments, message", CASES,
                         ids=[f"{c}:{a}" for c, a, _ in CASES])
def test_bad_input_is_refused_in_one_line_and_leaves_every_file(
        sandbox, monkeypatch, capsys, command, arguments, message):
    import re
    monkeypatch.chdir(sandbox)
    monkeypatch.setenv("HOME", str(sandbox / "home"))
    before = snapshot(sandbox)
    argv = [a.replace("~", str(sandbox / "home")) for a in arguments.split()]
    try:
        status = COMMANDS[command](argv)
    except SystemExit as stopped:          # argparse refuses an option's value itself
        status = stopped.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")
              or ": error: " in line]
    assert len(errors) == 1 and err.rstrip().endswith(errors[0]), err
    assert re.search(message, errors[0]), errors[0]
    assert snapshot(sandbox) == before


def test_the_corpus_covers_every_command_with_forty_cases():
    assert len(CASES) >= 40
    assert {command for command, _, _ in CASES} == set(COMMANDS)


def test_a_foreign_folder_is_refused_before_any_conversion(sandbox, monkeypatch, capsys):
    """The refusal comes first: no progress line of the conversion before it."""
    monkeypatch.chdir(sandbox)
    assert build.main(["--coding", "radix", "--out", "precious"]) == 2
    err = capsys.readouterr().err
    assert "converting" not in err and "not written" in err


def test_a_build_replaces_its_own_earlier_build_only(sandbox, tmp_path):
    """An earlier build (it carries the marker) is replaced whole; the marker is what
    makes a folder the toolkit's."""
    out = tmp_path / "again"
    assert build.main(["--golden-only", "--T", "4", "--wait", "2", "--out", str(out)]) == 0
    (out / "stale.txt").write_text("from the earlier build\n")
    assert build.main(["--golden-only", "--T", "5", "--wait", "2", "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists() and (out / MARKER).is_file()
    assert json.loads((out / "report.json").read_text())["params"]["T"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]
    (out / "mine.txt").write_text("the user's, now that the marker is gone\n")
    (out / MARKER).unlink()
    assert build.main(["--golden-only", "--T", "4", "--wait", "2", "--out", str(out)]) == 2
    assert (out / "mine.txt").exists() and (out / "report.json").exists()


def test_an_empty_folder_is_used(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert build.main(["--golden-only", "--T", "4", "--wait", "2", "--out", str(out)]) == 0
    assert (out / "report.json").exists() and (out / MARKER).exists()
