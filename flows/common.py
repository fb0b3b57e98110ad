"""Pieces the flows share: the bundled network, coding parameters, errors and progress."""
import dataclasses
import json
import signal
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from amaranth.hdl import UnusedElaboratable

from golden.codings import get_coding, input_size_defaults
from golden.convert import ConversionError
from golden.network import DEFAULT_NETWORK, NETWORKS, coding_defaults, load_bundled

from . import INTERRUPTED

NETWORK_FILE = "network.json"


class FlowError(RuntimeError):
    """An error to show the user as one clear message, without a traceback."""


def run_flow(flow, args, failures: tuple = ()) -> int:
    """Run a flow's main step; exit status 0, 2 for bad input (FlowError), 1 for a failed
    tool step (boards.targets.StepError) or one of `failures`, 130 for Ctrl-C (SIGINT),
    each with one clear message on stderr and no traceback."""
    from boards.targets import StepError
    try:
        with watching_interrupts():
            flow(args)
    except FlowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (StepError, *failures) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as error:   # flows.outputs.Interrupted says what was kept
        # designs left half-built are dropped on purpose: no warning for each at exit
        warnings.simplefilter("ignore", UnusedElaboratable)
        print(str(error) or "interrupted; nothing was written", file=sys.stderr)
        return INTERRUPTED
    return 0


_pending_interrupt = threading.Event()


@contextmanager
def watching_interrupts():
    """SIGINT raises KeyboardInterrupt and is remembered: Python drops an exception raised
    while a finaliser (`__del__`) runs, so a remembered one is raised again at the next
    progress line (`raise_pending_interrupt`), and the dropped one is not printed."""
    if threading.current_thread() is not threading.main_thread():
        yield                            # signals reach the main thread only
        return

    def interrupt(signum, frame):
        _pending_interrupt.set()
        raise KeyboardInterrupt

    def unraisable(dropped) -> None:
        if not isinstance(dropped.exc_value, KeyboardInterrupt):
            previous_hook(dropped)
    previous_handler = signal.signal(signal.SIGINT, interrupt)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook
        _pending_interrupt.clear()


def raise_pending_interrupt() -> None:
    if _pending_interrupt.is_set():
        raise KeyboardInterrupt


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


class Progress:
    """Numbered steps with elapsed time, on stderr so stdout stays machine-readable."""

    def __init__(self, total: int):
        self.total, self.number, self.started = total, 0, time.monotonic()
        self.current = ""                # the step under way, for FAILED.txt

    def step(self, text: str) -> None:
        raise_pending_interrupt()
        self.number += 1
        self.current = text
        elapsed = time.monotonic() - self.started
        print(f"[{self.number}/{self.total} {elapsed:6.1f}s] {text}", file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        raise_pending_interrupt()
        print(f"          {text}", file=sys.stderr, flush=True)


def rate_text(count: int, seconds: float, unit: str = "image") -> str:
    """How fast `count` items took `seconds`: per second, or seconds each when slower."""
    if count and seconds > count:
        return f"{seconds / count:.1f} s per {unit}"
    return f"{count / max(seconds, 1e-9):,.1f} {unit}s/s"
