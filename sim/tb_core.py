"""cocotb: one neuron core (in `sim.harness`) against its golden neuron, op by op.

The case file (SNN_CORE_CASE, JSON, written by `sim.core_cases`) lists operations with
the golden model's expectations: the potential before the op, the fire decision of the
op (and its sign, for signed codings), and the read-out. Stimulus, model and checker are separate: `sim.core_cases` drives
the golden neuron, this module drives the RTL and compares.
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge


def signed_low_bits(value: int, width: int) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


@cocotb.test()
async def core_matches_golden_neuron(dut):
    case = json.loads(open(os.environ["SNN_CORE_CASE"]).read())
    width = case["potential_width"]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.apply.value = 0
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    for number, op in enumerate(case["ops"]):
        for port in ("op", "first", "compare", "window_start", "settle", "last", "weight",
                     "bias", "threshold"):
            getattr(dut, port).value = op[port]
        dut.apply.value = 1
        await ReadOnly()
        where = f"op {number} ({op['note']})"
        if op["potential_before"] is not None:
            potential = signed_low_bits(dut.state.value.to_unsigned(), width)
            assert potential == op["potential_before"], (
                f"{where}: RTL potential {potential}, golden {op['potential_before']}")
        assert int(dut.fire.value) == op["fire"], f"{where}: RTL fire {int(dut.fire.value)}"
        if op["fire"]:
            negative = int(dut.spike_negative.value)
            assert negative == op["negative"], f"{where}: RTL spike sign negative={negative}"
        if op["readout"] is not None:
            readout = dut.readout.value.to_signed()
            assert readout == op["readout"], f"{where}: RTL read-out {readout}, golden {op['readout']}"
        await RisingEdge(dut.clk)
