"""--board asic: every memory a module of its own, the memory list, ROM files, the .sdc,
the generic gate count, and the self-checking Verilog testbench, run by the build's own
scripts from a plain shell (Verilator, Icarus Verilog)."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from boards.asic import write_testbench_scripts
from boards.fit import design_memories
from flows import build as build_flow
from flows.common import load_network
from hdl.export import build_top
from sim.verilator_env import packaged_verilator_root

from .test_flows import assert_no_machine_paths


def asic_build(out, *options):
    assert build_flow.main([*options, "--board", "asic", "--out", str(out)]) == 0
    return out / "asic"


def plain_shell_environment() -> dict[str, str]:
    """This process's environment as a fresh login shell has it: no Verilator set-up
    (VERILATOR_ROOT, MAKEFLAGS: make's, or the overrides sim.runner adds), and neither
    the virtual environment's bin/ nor the packaged Verilator's on PATH."""
    toolkit_dirs = {os.path.realpath(os.path.dirname(sys.executable)),
                    os.path.realpath(packaged_verilator_root() / "bin")}
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep)
            if d and os.path.realpath(d) not in toolkit_dirs]
    drop = {"VERILATOR_ROOT", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV"}
    return {**{k: v for k, v in os.environ.items() if k not in drop},
            "PATH": os.pathsep.join(path)}


def run_script(directory, script, *plusargs, cwd=None) -> subprocess.CompletedProcess:
    """One of the build's scripts, run by its path as the README says, from a plain shell
    in `cwd` (the parent of the build directory if not given)."""
    return subprocess.run([str(directory / script), *plusargs], capture_output=True,
                          text=True, cwd=cwd or directory.parent.parent,
                          env=plain_shell_environment())


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout[-2000:] + result.stderr[-2000:]


def check_users_verilator_comes_first(directory, scratch):
    """run_verilator.sh takes a `verilator` on PATH, else $VERILATOR_ROOT/bin/verilator,
    before the toolkit's: a stand-in that only records its call (the testbench built
    before runs)."""
    stand_in = scratch / "bin" / "verilator"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text(f'#!/bin/sh\necho "$@" > "{scratch / "called"}"\n')
    stand_in.chmod(0o755)
    plain = plain_shell_environment()
    for env in ({**plain, "PATH": f"{stand_in.parent}:{plain['PATH']}"},
                {**plain, "VERILATOR_ROOT": str(scratch)}):
        (scratch / "called").unlink(missing_ok=True)
        result = subprocess.run([str(directory / "run_verilator.sh")], capture_output=True,
                                text=True, env=env)
        assert result.returncode == 0 and "PASS: 20 images" in result.stdout, output(result)
        assert "--binary" in (scratch / "called").read_text()


def test_asic_build_gives_every_memory_its_module_and_its_file(tmp_path):
    out = tmp_path / "phase-asic"
    directory = asic_build(out, "--clock-mhz", "250")
    manifest = json.loads((directory / "memories.json").read_text())["memories"]
    top_text = (directory / "snn_top.v").read_text()
    bodies = (directory / "memories.v").read_text()
    # every memory of the design (counted independently, as the fit check sees them)
    report = json.loads((out / "report.json").read_text())
    top = build_top(load_network(out), report["lanes_per_layer"])
    assert len(manifest) == len(list(design_memories(top))) >= 10
    for memory in manifest:
        assert re.search(rf"^module {memory['name']} \(", bodies, re.M), memory["name"]
        assert re.search(rf"^\s*{memory['name']} \S+\s+\(", top_text, re.M), memory["name"]
        if memory["kind"] == "rom":
            words = (directory / memory["contents"]).read_text().split()
            assert len(words) == memory["depth"], memory["name"]
            assert f'$readmemh("{memory["contents"]}", mem)' in bodies
    assert not re.search(r"reg \[[^\]]+\] \S+ \[", top_text), "a memory left inline"
    # the ROM words are the golden model's ROM files, word for word
    for name in ("layer1_weights", "layer2_thresholds", "layer3_bias"):
        golden = [int(w, 16) for w in (out / "roms" / f"{name}.hex").read_text().split()]
        asic = [int(w, 16) for w in (directory / "roms" / f"snn_mem_{name}.hex").read_text()
                .split()]
        assert asic[:len(golden)] == golden, name
    assert "create_clock -name clk -period 4.000 [get_ports clk]" in \
        (directory / "snn_top.sdc").read_text()
    size = report["resources"]["asic"]
    assert size["logic_cells"] > 1000 and size["estimated_transistors"] > size["logic_cells"]
    assert size["flip_flops"] > 100
    assert size["memory_bits"] == sum(m["bits"] for m in manifest)
    assert not any(cell.startswith("snn_mem_") for cell in size["cells_by_type"])
    assert_no_machine_paths(out)

    # run_verilator.sh from a plain shell: the toolkit's own Verilator, set up by the script
    # (a machine with a Verilator of its own on PATH runs that one)
    result = run_script(directory, "run_verilator.sh")
    assert result.returncode == 0, output(result)
    assert "PASS: 20 images, every class and cycle count" in result.stdout, output(result)
    check_users_verilator_comes_first(directory, tmp_path / "own-verilator")
    # RAMs and read registers that power up with arbitrary words change nothing
    result = run_script(directory, "run_verilator.sh", "+random_ram", cwd=directory)
    assert result.returncode == 0 and "PASS: 20 images" in result.stdout, output(result)
    # the testbench can fail: one expected class and one cycle count changed
    expected_file = directory / "tb" / "expected.hex"
    golden_expected = expected_file.read_text()
    expected = golden_expected.split()
    expected[6] = f"{(int(expected[6], 16) + 1) % 10:08x}"
    expected[9] = f"{int(expected[9], 16) + 1:08x}"
    expected_file.write_text("\n".join(expected) + "\n")
    failed = run_script(directory, "run_verilator.sh")
    assert failed.returncode == 1, output(failed)
    assert "image 3: class" in failed.stdout and "image 4: " in failed.stdout
    assert "cycles, expected" in failed.stdout
    assert "FAIL: 2 mismatches in 20 images" in failed.stdout
    expected_file.write_text(golden_expected)

    # run_icarus.sh: the same files on Icarus Verilog, strict Verilog-2005 (a minute)
    if shutil.which("iverilog") is None:
        pytest.skip("Verilator checks passed; iverilog is not installed, run_icarus.sh not "
                    "run (Debian/Ubuntu: apt install iverilog)")
    result = run_script(directory, "run_icarus.sh")
    assert result.returncode == 0, output(result)
    assert "PASS: 20 images, every class and cycle count" in result.stdout, output(result)
    assert (directory / "tb_snn_top.vvp").is_file() and (directory / "tb").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("coding, network", [
    ("radix", None), ("deferred", None), ("rate", None), ("tsc", None),
    ("phase", "digits-cnn"), ("rate", "digits-cnn-maxpool"), ("tsc", "digits-cnn-maxpool")])
def test_asic_testbench_passes_for_every_coding(tmp_path, coding, network):
    options = ["--coding", coding] + (["--network", network] if network else [])
    directory = asic_build(tmp_path / "asic-build", *options)
    result = run_script(directory, "run_verilator.sh")
    assert result.returncode == 0 and "PASS" in result.stdout, output(result)
    result = run_script(directory, "run_verilator.sh", "+random_ram")
    assert result.returncode == 0 and "PASS" in result.stdout, output(result)


def test_testbench_scripts_name_the_missing_simulator(tmp_path, monkeypatch):
    """With no simulator to be found, each script says what it looked for and exits 127."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-venv" / "bin" / "python"))
    write_testbench_scripts(tmp_path)
    bare = {**plain_shell_environment(), "PATH": str(tmp_path / "empty-bin")}
    shell = shutil.which("sh")
    for script, message in [
            ("run_verilator.sh", "run_verilator.sh: no Verilator: none on PATH, VERILATOR_ROOT "
                                 f"unset or without bin/verilator, and no toolkit Python at "
                                 f"{tmp_path / 'no-such-venv' / 'bin' / 'python'}"),
            ("run_icarus.sh", "run_icarus.sh: iverilog is not on PATH")]:
        result = subprocess.run([shell, str(tmp_path / script)], capture_output=True,
                                text=True, env=bare)
        assert result.returncode == 127, output(result)
        assert message in result.stderr, result.stderr
        assert "PASS" not in result.stdout


def test_inline_roms_need_no_files(tmp_path):
    """--inline-roms: the ROM words inside memories.v, no roms/ files read."""
    from hdl.asic import asic_verilog, memory_verilog
    network = load_network(_golden_build(tmp_path))
    _, macros = asic_verilog(build_top(network, 2))
    rom = next(m for m in macros if not m.writable and m.depth > 4)
    text = memory_verilog(rom, inline=True)
    assert "$readmemh" not in text
    assert text.count("mem[") >= rom.depth
    assert f"mem[{rom.depth - 1}] = {rom.width}'h{rom.init[-1]:0{(rom.width + 3) // 4}x};" \
        in text


def _golden_build(tmp_path):
    out = tmp_path / "golden"
    assert build_flow.main(["--golden-only", "--T", "8", "--out", str(out)]) == 0
    return out
