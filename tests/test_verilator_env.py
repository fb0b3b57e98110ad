"""sim.verilator_env: the toolkit's Verilator set up from a plain shell by its export lines."""
import subprocess
import sys

from sim.verilator_env import (MAKE_OVERRIDES, packaged_verilator_environment,
                                packaged_verilator_root)

from .test_asic import plain_shell_environment


def test_export_lines_set_up_a_plain_shell_for_the_toolkits_verilator():
    shell = ('eval "$("$0" -m sim.verilator_env)" && command -v verilator '
             '&& verilator --getenv VERILATOR_ROOT && echo "MAKEFLAGS=$MAKEFLAGS"')
    result = subprocess.run(["sh", "-c", shell, sys.executable], capture_output=True,
                            text=True, env=plain_shell_environment())
    assert result.returncode == 0, result.stderr
    executable, root, makeflags = result.stdout.splitlines()
    assert executable == str(packaged_verilator_root() / "bin" / "verilator")
    assert root == str(packaged_verilator_root())
    assert makeflags == "MAKEFLAGS=" + " ".join(f"{k}={v}" for k, v in MAKE_OVERRIDES.items())


def test_overrides_added_once_and_a_users_own_value_kept():
    once = packaged_verilator_environment({"PATH": "/usr/bin", "MAKEFLAGS": "-k"})
    twice = packaged_verilator_environment(once)
    assert twice == once
    assert once["MAKEFLAGS"].split() == ["-k", *(f"{k}={v}" for k, v in MAKE_OVERRIDES.items())]
    assert once["PATH"].split(":")[1:] == ["/usr/bin"]
    own = packaged_verilator_environment({"MAKEFLAGS": "CFG_CXXFLAGS_COROUTINES=-fcoroutines"})
    assert "-std=c++20" not in own["MAKEFLAGS"]


def test_arguments_are_refused_with_the_usage():
    result = subprocess.run([sys.executable, "-m", "sim.verilator_env", "verilator"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "usage: python -m sim.verilator_env" in result.stderr and result.stdout == ""
