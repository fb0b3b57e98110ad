"""The Arty's Vivado plan script runs as written: by its path, from any directory, with
every file its Tcl script reads beside it (Vivado itself is not installed here: a stand-in
records how it was called)."""
import os
import re
import subprocess

from boards.targets import write_vivado_plan
from hdl.export import build_top

STAND_IN_VIVADO = """\
#!/bin/sh
# Vivado's stand-in: records where and how it was called
pwd > "$VIVADO_CALL"
echo "$@" >> "$VIVADO_CALL"
"""


def test_vivado_plan_script_runs_from_any_directory(tmp_path, phase_network):
    directory = tmp_path / "build" / "phase-arty" / "arty"
    script = write_vivado_plan(build_top(phase_network, 1), directory)
    assert script == directory / "build_snn_board.sh"
    assert os.access(script, os.X_OK)
    vivado = tmp_path / "vivado"
    vivado.write_text(STAND_IN_VIVADO)
    vivado.chmod(0o755)
    call = tmp_path / "vivado_call.txt"
    env = {**os.environ, "VIVADO": str(vivado), "VIVADO_CALL": str(call)}
    env.pop("AMARANTH_ENV_VIVADO", None)
    result = subprocess.run(["build/phase-arty/arty/build_snn_board.sh"], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    working_directory, arguments = call.read_text().splitlines()
    assert os.path.realpath(working_directory) == os.path.realpath(directory)
    assert arguments == "-mode batch -log snn_board.log -source snn_board.tcl"
    # every file the Tcl script reads is in that directory
    tcl = (directory / "snn_board.tcl").read_text()
    read = re.findall(r"^(?:add_files|read_xdc|read_verilog)\s+(\S+)", tcl, re.M)
    assert {"snn_board.v", "snn_board.xdc"} <= set(read)
    for name in read:
        assert (directory / name).is_file(), name
