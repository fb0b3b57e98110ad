"""A board on Verilator behind a pseudo-terminal: the host program's test bench.

    with SimulatedBoard(snn_top, clk_frequency=12e6, directory="build/sim") as port:
        serial.Serial(port, 115200)  # ... the host program, unchanged

The board top without its pins (`boards.top.SerialClassifier`: UART, snn_top, class
register) is verilated and run at the board's clock; `sim/tb_serial_board.py` bridges its
rx/tx pins to a pty at the real baud rate, so the host's bytes travel as 8N1 frames that
the board's UART samples with the divisor it has on the board.
"""
import threading
import time
from pathlib import Path

from amaranth.back import verilog

from boards.top import BAUD, SerialClassifier
from hdl.export import relative_sources

from .runner import run_test, verilate

TOPLEVEL = "snn_serial"


class SimulatedBoard:
    """Context manager: verilates the serial board top of `snn_top` (an `hdl.network.SnnTop`)
    for a `clk_frequency` (Hz) clock, runs it in the background and gives the pty's name."""

    def __init__(self, snn_top, clk_frequency: float, directory, baud: int = BAUD,
                 wall_seconds: float = 900):
        self.top = SerialClassifier(snn_top, clk_frequency, baud)
        self.clk_frequency, self.baud, self.wall_seconds = clk_frequency, baud, wall_seconds
        self.directory = Path(directory).resolve()
        self.error = None

    def __enter__(self) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        source = self.directory / f"{TOPLEVEL}.v"
        source.write_text(relative_sources(verilog.convert(self.top, name=TOPLEVEL)))
        runner = verilate(source, TOPLEVEL, self.directory)
        self.name_file, self.done_file = self.directory / "pty_name", self.directory / "done"
        for stale in (self.name_file, self.done_file):
            stale.unlink(missing_ok=True)
        env = {"SNN_CLOCK_PS": str(round(1e12 / self.clk_frequency)), "SNN_BAUD": str(self.baud),
               "SNN_PTY_NAME": str(self.name_file), "SNN_DONE": str(self.done_file),
               "SNN_WALL_SECONDS": str(self.wall_seconds)}
        self.thread = threading.Thread(target=self._run, args=(runner, env), daemon=True)
        self.thread.start()
        while not self.name_file.exists():         # the simulator starts in a second or two
            if not self.thread.is_alive():
                raise RuntimeError(f"the simulated board stopped before it opened its pty: "
                                   f"{self.error}")
            time.sleep(0.05)
        return self.name_file.read_text()

    def _run(self, runner, env) -> None:
        try:
            run_test(runner, TOPLEVEL, "sim.tb_serial_board", self.directory, env)
        except Exception as error:       # reported by __exit__ in the caller's thread
            self.error = error

    def __exit__(self, kind, value, traceback) -> None:
        self.done_file.touch()
        self.thread.join(timeout=60)
        if kind is None and self.error is not None:
            raise RuntimeError(f"the simulated board failed: {self.error}")
