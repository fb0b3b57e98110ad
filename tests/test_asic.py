"""--board asic: every memory a module of its own, the memory list, ROM files, the .sdc,
the generic gate count, and the self-checking Verilog testbench on `verilator --binary`."""
import json
import os
import re
import subprocess

import pytest

from boards.fit import design_memories
from flows import build as build_flow
from flows.common import load_network
from hdl.export import build_top
from sim.runner import use_packaged_verilator

from .test_flows import assert_no_machine_paths


def asic_build(out, *options):
    assert build_flow.main([*options, "--board", "asic", "--out", str(out)]) == 0
    return out / "asic"


def run_testbench(directory) -> subprocess.CompletedProcess:
    """The build's own run_verilator.sh, with the packaged Verilator found as sim.runner does."""
    use_packaged_verilator()
    return subprocess.run(["sh", str(directory / "run_verilator.sh")], capture_output=True,
                          text=True, env=dict(os.environ))


def run_binary(directory, *plusargs) -> str:
    """The testbench already built by run_verilator.sh, run again (its output)."""
    return subprocess.run([str(directory / "obj_dir" / "Vtb_snn_top"), *plusargs],
                          cwd=directory, capture_output=True, text=True).stdout


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

    result = run_testbench(directory)
    assert "PASS: 20 images, every class and cycle count" in result.stdout, \
        result.stdout[-2000:] + result.stderr[-2000:]
    # RAMs and read registers that power up with arbitrary words change nothing
    assert "PASS: 20 images" in run_binary(directory, "+random_ram")
    # the testbench can fail: one expected class and one cycle count changed
    expected = (directory / "tb" / "expected.hex").read_text().split()
    expected[6] = f"{(int(expected[6], 16) + 1) % 10:08x}"
    expected[9] = f"{int(expected[9], 16) + 1:08x}"
    (directory / "tb" / "expected.hex").write_text("\n".join(expected) + "\n")
    failed = run_binary(directory)
    assert "image 3: class" in failed and "image 4: " in failed and "cycles, expected" in failed
    assert "FAIL: 2 mismatches in 20 images" in failed


@pytest.mark.slow
@pytest.mark.parametrize("coding, network", [
    ("radix", None), ("deferred", None), ("rate", None), ("tsc", None),
    ("phase", "digits-cnn"), ("rate", "digits-cnn-maxpool"), ("tsc", "digits-cnn-maxpool")])
def test_asic_testbench_passes_for_every_coding(tmp_path, coding, network):
    options = ["--coding", coding] + (["--network", network] if network else [])
    directory = asic_build(tmp_path / "asic-build", *options)
    result = run_testbench(directory)
    assert "PASS" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    assert "PASS" in run_binary(directory, "+random_ram")


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
