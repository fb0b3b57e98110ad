"""Classify images with a build: the golden model, or the build's Verilog on Verilator.

    python -m flows.simulate BUILD_DIR --images FILE.npy [--labels FILE.npy] [--rtl [--keep-sim]]

FILE.npy holds uint8 images of the build's input shape: (n, C, H, W), (n, H, W) for one
channel, or flat (n, C·H·W) in channel-major, row-major order (the digits: (n, 8, 8)). One class per line goes to
stdout; progress, errors and, with --labels, the accuracy go to stderr. With --rtl the
Verilog runs on Verilator in a scratch directory (kept in BUILD_DIR/rtl_sim with
--keep-sim) and is checked against the golden model on every image, class and cycle count:
any mismatch fails (exit 1), naming the images.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from golden.cycles import inference_cycles
from golden.data import check_images

from .common import FlowError, load_network, network_image_shape, run_flow
from .outputs import claim_directory

NPY_MAGIC = b"\x93NUMPY"


def load_array(path: Path, option: str) -> np.ndarray:
    """A .npy file without pickles, or a clear error naming the option and the file."""
    if not path.exists():
        raise FlowError(f"{option}: no file {path}")
    with open(path, "rb") as handle:
        head = handle.read(len(NPY_MAGIC))
    if len(head) == 0:
        raise FlowError(f"{option}: {path} is empty (0 bytes), not a NumPy .npy file")
    if head != NPY_MAGIC:
        raise FlowError(f"{option}: {path} is not a NumPy .npy file (it does not start with "
                        "the .npy header; write it with numpy.save)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as error:
        if "pickled" in str(error) or "Object arrays" in str(error):
            raise FlowError(f"{option}: {path} holds Python objects (pickled data), which are "
                            "not loaded; save a plain uint8 array") from None
        raise FlowError(f"{option}: {path} is a damaged .npy file ({error})") from None
    except (OSError, EOFError) as error:
        raise FlowError(f"{option}: {path} is a damaged or truncated .npy file "
                        f"({type(error).__name__}: {error})") from None


def load_images(path: Path, image_shape: tuple) -> np.ndarray:
    try:
        return check_images(load_array(path, "--images"), image_shape, source=str(path))
    except ValueError as error:
        raise FlowError(str(error)) from None


def load_labels(path: Path, n_images: int) -> np.ndarray:
    labels = load_array(path, "--labels")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise FlowError(f"--labels: {path} must be a 1-D integer array, got dtype "
                        f"{labels.dtype} and shape {labels.shape}")
    if len(labels) != n_images:
        raise FlowError(f"--labels: {path} holds {len(labels)} labels for {n_images} images")
    return labels


def build_lanes(build_dir: Path) -> int:
    try:
        return int(json.loads((build_dir / "report.json").read_text())["lanes"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FlowError(f"{build_dir}/report.json gives no lane count ({error}); it is needed "
                        "to check the RTL's cycles; build again") from None


def rtl_check(build_dir: Path, network, images: np.ndarray, keep_sim: bool) -> np.ndarray:
    """Classes from a build's snn_top on Verilator, checked against golden."""
    verilog = build_dir / "snn_top.v"
    if not verilog.exists():
        raise FlowError(f"{build_dir} has no snn_top.v (a --golden-only build?)")
    lanes = build_lanes(build_dir)
    if keep_sim:
        kept = claim_directory(build_dir / "rtl_sim", "--keep-sim")
        return check_rtl(verilog, network, images, lanes, kept)
    with tempfile.TemporaryDirectory(prefix="snn-simulate-") as scratch:
        return check_rtl(verilog, network, images, lanes, Path(scratch) / "rtl_sim")


def check_rtl(verilog: Path, network, images: np.ndarray, lanes: int,
              sim_dir: Path) -> np.ndarray:
    """Classes from `verilog` (snn_top) on Verilator, checked against the golden model in
    class and cycle count on every image; RtlMismatch names the images that differ."""
    from sim.runner import run_snn_top
    print(f"Verilating {verilog.name} and streaming {len(images)} images through it ...",
          file=sys.stderr, flush=True)
    rtl = run_snn_top(verilog, images, sim_dir)
    golden = network.simulate(images)
    cycles = inference_cycles(network, golden, lanes)["latency"]
    wrong_class = np.flatnonzero(rtl["classes"] != golden.classes)
    wrong_cycles = np.flatnonzero(rtl["latency"] != cycles)
    if wrong_class.size or wrong_cycles.size:
        raise RtlMismatch(f"RTL differs from the golden model: class at images "
                          f"{wrong_class.tolist()[:20]}, cycle count at images "
                          f"{wrong_cycles.tolist()[:20]} (of {len(images)})")
    print(f"RTL equals the golden model on all {len(images)} images (class and cycles)",
          file=sys.stderr)
    return rtl["classes"]


class RtlMismatch(Exception):
    """The Verilog and the golden model disagree: a bug, reported with exit status 1."""


def classify(build_dir: Path, images_path: Path, rtl: bool, keep_sim: bool = False) -> np.ndarray:
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise FlowError(f"no build directory {build_dir}")
    network = load_network(build_dir)
    images = load_images(Path(images_path), network_image_shape(build_dir, network))
    if not rtl:
        return network.simulate(images).classes
    return rtl_check(build_dir, network, images, keep_sim)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir", type=Path, help="a directory written by flows.build")
    parser.add_argument("--images", type=Path, required=True, help=".npy file of uint8 images")
    parser.add_argument("--labels", type=Path,
                        help=".npy file of integer labels: the accuracy goes to stderr")
    parser.add_argument("--rtl", action="store_true",
                        help="run the generated Verilog on Verilator instead of the golden "
                             "model, and check it against the golden model")
    parser.add_argument("--keep-sim", action="store_true",
                        help="with --rtl: keep the simulator files in BUILD_DIR/rtl_sim")
    return run_flow(run, parser.parse_args(argv), failures=(RtlMismatch,))


def run(args) -> None:
    """Classes on stdout; the accuracy on stderr when labels are given."""
    classes = classify(args.build_dir, args.images, args.rtl, args.keep_sim)
    labels = None if args.labels is None else load_labels(args.labels, len(classes))
    sys.stdout.write("".join(f"{int(c)}\n" for c in classes))
    if labels is not None:
        correct = int((classes == labels).sum())
        print(f"accuracy {100 * correct / len(labels):.2f} % ({correct} of {len(labels)})",
              file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
