"""Run a build on its board: send images over the UART, read the classes back.

    python -m flows.board BUILD_DIR --port /dev/ttyUSB1 --images FILE.npy [--labels FILE.npy]
    python -m flows.board BUILD_DIR --port sim --images FILE.npy     # the board on Verilator

BUILD_DIR is a `flows.build --board icebreaker|ulx3s|arty` build. The host sends each
image's pixel bytes (the order of `flows.simulate`), waits for the class byte (protocol:
`boards/top.py`), and prints one class per line on stdout. An iCEBreaker build whose
weights live in SPRAM (report.json: spram_layers) gets them first: spram_weights.bin with
its CRC, acknowledged by the board (`boards/commands.py`); a refused load stops the run. On stderr: progress, the
agreement with the golden model of the build (every class must match: exit 1 names the
images that differ), the images per second and, with --labels, the accuracy.

--program flashes the build's bitstream first with iceprog or openFPGALoader (whichever is
installed). --port accepts a device (/dev/ttyUSB1, COM4), a pyserial URL (socket://host:port,
rfc2217://…) or `sim`: the build's board top on Verilator behind a pseudo-terminal, at the
board's clock and baud rate (no board needed; a few images per second).
"""
import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from boards import commands
from boards.targets import StepError
from boards.top import BAUD

from .common import FlowError, load_network, network_image_shape, rate_text, run_flow
from .simulate import load_images, load_labels

PROGRAMMERS = {     # board → bitstream in the build directory, programmer command lines
    "icebreaker": ("icebreaker/snn_board.bin", [["iceprog", "{bitstream}"],
                                                ["openFPGALoader", "-b", "ice40_generic",
                                                 "{bitstream}"]]),
    "ulx3s": ("ulx3s/snn_board.bit", [["openFPGALoader", "-b", "ulx3s", "{bitstream}"],
                                      ["fujprog", "{bitstream}"]]),
    "arty": ("arty/snn_board.bit", [["openFPGALoader", "-b", "arty", "{bitstream}"]]),
}
INSTALL_HINT = ("iceprog (Debian/Ubuntu: apt install fpga-icestorm) or openFPGALoader "
                "(apt install openfpgaloader)")


class BoardError(StepError):
    """The board did not answer as the protocol says: reported with exit status 1."""


class BoardLink:
    """The host's side of the board top's protocol over a pyserial-style `port` (an object
    with write, flush and read; its timeout bounds each wait for a class byte).
    `commands`: the build keeps weights in SPRAM and speaks `boards/commands.py`."""

    def __init__(self, port, n_classes: int, commands: bool = False):
        self.port, self.n_classes, self.commands = port, n_classes, commands

    def load_weights(self, image: bytes, crc: int | None = None) -> None:
        """Write the SPRAM weight image (`crc`: another checksum than the image's, to test the
        board's refusal); BoardError if the board does not acknowledge it."""
        crc = commands.checksum(image) if crc is None else crc
        self.port.write(commands.LOAD + image + crc.to_bytes(2, "big"))
        self.port.flush()
        answer = self.port.read(1)
        if answer == commands.LOADED:
            return
        if answer == commands.BAD_CHECKSUM:
            raise BoardError(f"the board refused the weights: their checksum did not match "
                             f"(CRC {crc:#06x} sent over {len(image)} bytes); a byte was lost "
                             "or changed on the line, or the bitstream on the board is another "
                             "build's; nothing runs until a load succeeds")
        raise BoardError(f"no acknowledgement of the weights within {self.port.timeout:g} s "
                         + (f"(answer {answer!r})" if answer else "(no answer)")
                         + "; is this build's bitstream on the board (--program)?")

    def classify(self, images: np.ndarray, progress=None) -> np.ndarray:
        """Classes of flat uint8 `images` (n, n_in), one image after another."""
        classes = np.zeros(len(images), dtype=np.int64)
        prefix = commands.IMAGE if self.commands else b""
        for index, image in enumerate(images):
            self.port.write(prefix + image.astype(np.uint8).tobytes())
            self.port.flush()
            answer = self.port.read(1)
            if len(answer) == 0:
                raise BoardError(
                    f"no answer from the board within {self.port.timeout:g} s after image "
                    f"{index} (of {len(images)}); is this build's bitstream on the board "
                    "(--program) and the port its UART? (--timeout waits longer)")
            if self.commands and answer[0] == commands.NOT_LOADED:
                raise BoardError(f"the board refused image {index}: it has no weights loaded "
                                 "(a weight load failed or did not happen)")
            if answer[0] >= self.n_classes:
                raise BoardError(f"the board answered {answer[0]} to image {index}: not a "
                                 f"class of this build's network (0..{self.n_classes - 1}); "
                                 "is another bitstream on the board?")
            classes[index] = answer[0]
            if progress is not None:
                progress.update(1)
        return classes


def open_port(port: str, timeout: float, baud: int = BAUD):
    """A pyserial port (device name or URL), or a FlowError naming the port."""
    import serial
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=timeout)
    except (serial.SerialException, ValueError) as error:
        raise FlowError(f"--port {port}: cannot open it ({error}); on Linux the "
                        "iCEBreaker's and the Arty's UART is usually /dev/ttyUSB1, the "
                        "ULX3S's /dev/ttyUSB0; `python -m serial.tools.list_ports` lists "
                        "them") from None


def read_report(build_dir: Path) -> dict:
    path = build_dir / "report.json"
    try:
        report = json.loads(path.read_text())
    except OSError:
        raise FlowError(f"{build_dir} is not a finished build directory (no report.json); "
                        "run python -m flows.build --board ... first") from None
    except ValueError as error:
        raise FlowError(f"{path} is not valid JSON ({error}); build again") from None
    board = report.get("board")
    if board not in PROGRAMMERS:
        raise FlowError(f"{build_dir} was built for board {board!r}, which has no UART board "
                        f"top; build with --board {' or '.join(sorted(PROGRAMMERS))}")
    return report


def program(build_dir: Path, board: str) -> None:
    """Flash the build's bitstream with the first installed programmer of the board."""
    bitstream_name, commands = PROGRAMMERS[board]
    bitstream = build_dir / bitstream_name
    if not bitstream.exists():
        made_by = ("Vivado: run build_snn_board.sh in the build's arty/ directory where "
                   "Vivado is installed" if board == "arty" else "flows.build; build again")
        raise FlowError(f"--program: no bitstream {bitstream} (it is made by {made_by})")
    for command in commands:
        executable = shutil.which(command[0])
        if executable is None:
            continue
        line = [executable, *(part.format(bitstream=bitstream) for part in command[1:])]
        print(f"programming {board}: {' '.join(line)}", file=sys.stderr, flush=True)
        result = subprocess.run(line, capture_output=True, text=True)
        if result.returncode != 0:
            raise FlowError(f"--program: {command[0]} failed (exit {result.returncode}):\n"
                            f"{(result.stdout + result.stderr)[-2000:]}")
        time.sleep(1.0)             # the FPGA configures itself from the flash
        return
    raise FlowError(f"--program: no programmer found for {board} "
                    f"({', '.join(c[0] for c in commands)}); install {INSTALL_HINT}")


def simulated_board(build_dir: Path, report: dict, network, scratch: Path):
    """`--port sim`: the build's board top on Verilator (its lanes, its board clock)."""
    from boards.fit import BOARDS as FPGAS, EVENT_PARTS
    from hdl.export import build_top
    from sim.serial_board import SimulatedBoard
    clock_mhz = report.get("resources", {}).get("clock_mhz")
    lanes = report.get("lanes_per_layer")
    if not clock_mhz or not lanes:
        raise FlowError(f"{build_dir}/report.json gives no board clock or lanes per layer; "
                        "build again")
    print(f"--port sim: Verilating the {report['board']} board top at {clock_mhz:g} MHz "
          "(takes a minute)", file=sys.stderr, flush=True)
    plan = report.get("memory_plan") or {}
    family = FPGAS[report["board"]]["family"] if report.get("board") in FPGAS else None
    top = build_top(network, lanes, report.get("spram_layers", ()),
                    input_banks=plan.get("input_banks", 2),
                    shared_state=plan.get("shared_state_ram", False),
                    event_parts=EVENT_PARTS.get(family))   # as boards.fit.fit_memories built it
    return SimulatedBoard(top, clock_mhz * 1e6, scratch)


def weight_image(build_dir: Path, report: dict) -> bytes | None:
    """The SPRAM weight image of a build that keeps weights there (None: ROM weights),
    checked against the length and CRC its report gives."""
    if not report.get("spram_layers"):
        return None
    entry = report.get("resources", {}).get("run_time_weights", {})
    path = build_dir / entry.get("file", "spram_weights.bin")
    try:
        image = path.read_bytes()
    except OSError:
        raise FlowError(f"{path}: missing; the build keeps the weights of "
                        f"{', '.join(report['spram_layers'])} in SPRAM and the board needs "
                        "them; build again") from None
    if len(image) != entry.get("image_bytes") or \
            commands.checksum(image) != entry.get("crc16_ccitt"):
        raise FlowError(f"{path} is not the image report.json describes ({len(image)} bytes; "
                        f"expected {entry.get('image_bytes')} with CRC "
                        f"{entry.get('crc16_ccitt')}); build again")
    return image


def run(args) -> None:
    build_dir = Path(args.build_dir)
    report = read_report(build_dir)
    network = load_network(build_dir)
    images = load_images(Path(args.images), network_image_shape(build_dir, network))
    labels = None if args.labels is None else load_labels(args.labels, len(images))
    if args.program:
        if args.port == "sim":
            raise FlowError("--program goes to a real board, not to --port sim")
        program(build_dir, report["board"])
    n_classes = network.layers[-1].n_out
    weights = weight_image(build_dir, report)
    with tempfile.TemporaryDirectory(prefix="snn-board-") as scratch:
        if args.port == "sim":
            try:
                with simulated_board(build_dir, report, network, Path(scratch)) as name:
                    # the simulated board runs about a hundred times slower than a board
                    classes, seconds = talk(name, max(args.timeout, 60.0), images, n_classes,
                                            weights, slowdown=300)
            except (FlowError, StepError):
                raise
            except RuntimeError as error:   # Verilator missing or the simulation failed
                raise BoardError(f"--port sim: {error}") from None
        else:
            classes, seconds = talk(args.port, args.timeout, images, n_classes, weights)
    sys.stdout.write("".join(f"{int(c)}\n" for c in classes))
    print(f"{len(images)} images in {seconds:.2f} s: {rate_text(len(images), seconds)} "
          f"(UART {BAUD} baud)", file=sys.stderr)
    if labels is not None:
        correct = int((classes == labels).sum())
        print(f"accuracy {100 * correct / len(labels):.2f} % ({correct} of {len(labels)})",
              file=sys.stderr)
    differs = np.flatnonzero(classes != network.simulate(images).classes)
    if differs.size:
        raise BoardError(f"the board differs from the golden model of {build_dir} at images "
                         f"{differs.tolist()[:20]} (of {len(images)})")
    print(f"the board equals the golden model on all {len(images)} images", file=sys.stderr)


def talk(port_name: str, timeout: float, images, n_classes: int, weights: bytes | None = None,
         slowdown: float = 1):
    """Classes and seconds from the board at `port_name`; the SPRAM `weights` loaded first."""
    from tqdm import tqdm
    port = open_port(port_name, timeout)
    try:
        port.reset_input_buffer()
        link = BoardLink(port, n_classes, commands=weights is not None)
        if weights is not None:
            seconds = len(weights) * 10 / BAUD
            print(f"loading {len(weights)} bytes of weights into SPRAM (about {seconds:.0f} s "
                  "on a board)", file=sys.stderr, flush=True)
            port.timeout = timeout + 2 * seconds * slowdown
            link.load_weights(weights)
            port.timeout = timeout
            print("weights loaded (checksum acknowledged)", file=sys.stderr, flush=True)
        started = time.perf_counter()
        with tqdm(total=len(images), unit="image", file=sys.stderr, disable=None) as progress:
            classes = link.classify(images, progress)
        return classes, time.perf_counter() - started
    finally:
        port.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.board", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("build_dir", type=Path, help="a flows.build directory with a board")
    parser.add_argument("--port", required=True,
                        help="the board's serial port (/dev/ttyUSB1, COM4, a pyserial URL) "
                             "or sim (the board top on Verilator)")
    parser.add_argument("--images", type=Path, required=True, help=".npy file of uint8 images")
    parser.add_argument("--labels", type=Path, help=".npy file of integer labels: accuracy")
    parser.add_argument("--program", action="store_true",
                        help="flash the build's bitstream first (iceprog or openFPGALoader)")
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds to wait for each class byte (default 2; 60 or more "
                             "with --port sim)")
    return run_flow(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
