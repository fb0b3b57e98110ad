"""Classify images with a build: the golden model, or the build's Verilog on Verilator.

    python -m flows.simulate BUILD_DIR --images FILE.npy [--rtl]

FILE.npy holds uint8 pixels of shape (n, 8, 8) or (n, 64). One class per line goes to
stdout; progress and errors go to stderr.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from golden.data import check_images

from .common import FlowError, load_network


def load_images(path: Path, n_inputs: int) -> np.ndarray:
    if not path.exists():
        raise FlowError(f"--images: no file {path}")
    try:
        images = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise FlowError(f"--images: {path} is not a NumPy .npy file ({error})") from None
    try:
        return check_images(images, n_inputs, source=str(path))
    except ValueError as error:
        raise FlowError(str(error)) from None


def classify(build_dir: Path, images_path: Path, rtl: bool) -> np.ndarray:
    build_dir = Path(build_dir)
    if not build_dir.is_dir():
        raise FlowError(f"no build directory {build_dir}")
    network = load_network(build_dir)
    images = load_images(Path(images_path), network.n_inputs)
    if not rtl:
        return network.simulate(images).classes
    verilog = build_dir / "snn_top.v"
    if not verilog.exists():
        raise FlowError(f"{build_dir} has no snn_top.v")
    from sim.runner import run_snn_top
    print(f"Verilating {verilog} and streaming {len(images)} images through it ...",
          file=sys.stderr, flush=True)
    return run_snn_top(verilog, images, build_dir / "rtl_sim")["classes"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.simulate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir", type=Path, help="a directory written by flows.build")
    parser.add_argument("--images", type=Path, required=True, help=".npy file of uint8 images")
    parser.add_argument("--rtl", action="store_true",
                        help="run the generated Verilog on Verilator instead of the golden model")
    args = parser.parse_args(argv)
    try:
        classes = classify(args.build_dir, args.images, args.rtl)
    except FlowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write("".join(f"{int(c)}\n" for c in classes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
