"""Pieces the flows share: the bundled network, coding parameters, safe build directories."""
import dataclasses
import json
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from golden.codings import get_coding, input_size_defaults
from golden.convert import ConversionError
from golden.network import DEFAULT_NETWORK, NETWORKS, coding_defaults, load_bundled

NETWORK_FILE = "network.json"


class FlowError(RuntimeError):
    """An error to show the user as one clear message, without a traceback."""


def run_flow(flow, args) -> int:
    """Run a flow's main step; exit status 0, 2 for bad input (FlowError), 1 for a failed
    tool step (boards.targets.StepError), each with one clear message on stderr."""
    from boards.targets import StepError
    try:
        flow(args)
    except FlowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except StepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def coding_params(coding_name: str, given: dict, network_name: str | None = None,
                  inputs: int | None = None):
    """The coding's parameter object from the options the user gave (None = default: for
    a bundled network `golden.network.coding_defaults`, its input size's and its own; for
    a user's model of `inputs` values per image `golden.codings.input_size_defaults`; else
    the coding's)."""
    coding = get_coding(coding_name)
    fields = {f.name for f in dataclasses.fields(coding.params)}
    values = (coding_defaults(network_name, coding_name) if network_name in NETWORKS
              else input_size_defaults(coding_name, inputs))
    for name, value in given.items():
        if value is None:
            continue
        if name not in fields:
            raise FlowError(f"--{name.replace('_', '-')} does not apply to the "
                            f"{coding_name} coding (its parameters: {', '.join(sorted(fields))})")
        values[name] = value
    try:
        return coding.params(**values)
    except ConversionError as error:
        raise FlowError(str(error)) from None


def convert_bundled(coding_name: str, params, with_layers: bool = False,
                    network_name: str = DEFAULT_NETWORK):
    """A bundled network → (float model, data split, integer network for the coding)
    (+ the float layers the coding converted, after its fine-tuning, with `with_layers`)."""
    from .design import convert
    if network_name not in NETWORKS:
        raise FlowError(f"--network: unknown network {network_name!r}; bundled: "
                        f"{', '.join(NETWORKS)}")
    design = convert(network_name, coding=coding_name, params=params)
    model = load_bundled(network_name)
    return (model, design.split, design.network, design.layers) if with_layers else \
        (model, design.split, design.network)


def jsonable(value):
    """json.dumps `default`: NumPy scalars as Python numbers."""
    import numpy as np
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def save_network(network, directory: Path, image_shape=None) -> None:
    """network.json: the coding's integer network, and the images' per-image shape."""
    data = get_coding(network.coding).golden.network_to_json(network)
    if image_shape is not None:
        data["image_shape"] = list(image_shape)
    (directory / NETWORK_FILE).write_text(json.dumps(data))


def network_image_shape(directory: Path, network) -> tuple:
    """The per-image shape a build takes (flat for builds that did not record it)."""
    try:
        shape = json.loads((Path(directory) / NETWORK_FILE).read_text()).get("image_shape")
    except (OSError, ValueError):
        shape = None
    return tuple(shape) if shape else (network.n_inputs,)


def load_network(directory: Path):
    path = Path(directory) / NETWORK_FILE
    if not path.exists():
        raise FlowError(f"{directory} is not a finished build directory (no {NETWORK_FILE}); "
                        "run python -m flows.build first")
    try:
        data = json.loads(path.read_text())
        golden = get_coding(data["coding"]).golden
        return golden.network_from_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FlowError(f"{path} is not valid JSON ({error}); the file is damaged or "
                        "truncated: build again with python -m flows.build") from None
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise FlowError(f"{path} is not a network written by flows.build "
                        f"({type(error).__name__}: {error}); build again") from None


def check_output_path(out: Path) -> None:
    """Before any work: `out` (and its staging directory) must be directories or absent."""
    out = Path(out)
    for path in (out, out.with_name(out.name + ".incomplete")):
        if path.exists() and not path.is_dir():
            raise FlowError(f"--out {out}: {path} is an existing file, not a directory; "
                            "choose another path or remove the file")


class Progress:
    """Numbered steps with elapsed time, on stderr so stdout stays machine-readable."""

    def __init__(self, total: int):
        self.total, self.number, self.started = total, 0, time.monotonic()

    def step(self, text: str) -> None:
        self.number += 1
        elapsed = time.monotonic() - self.started
        print(f"[{self.number}/{self.total} {elapsed:6.1f}s] {text}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        print(f"          {text}", file=sys.stderr, flush=True)


@contextmanager
def staged_directory(out: Path):
    """Build into `<out>.incomplete`; only a complete build is renamed to `<out>`.

    On failure the staging directory stays for inspection, with FAILED.txt naming the
    error, and an earlier finished `<out>` is left untouched.
    """
    out = Path(out)
    check_output_path(out)
    staging = out.with_name(out.name + ".incomplete")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException as error:
        (staging / "FAILED.txt").write_text(f"{type(error).__name__}: {error}\n")
        raise
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
