"""cocotb: the phase core (in `sim.harness`) against `golden.codings.phase.neuron_trace`.

The case file (SNN_CORE_CASE, JSON) holds the core parameters and, per neuron, a bias,
the weights of its input spikes per phase, and a threshold table. Each neuron runs as the
layer engine runs it: STEP (compare for the phase before), then one ADD per input spike;
a last STEP makes the final compare. Potential and fire are checked after every phase.
"""
import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from golden.codings.phase import FixedQ, NeuronParams, neuron_trace

STEP, ADD = 0, 1


async def apply(dut, op, first=0, compare=0, weight=0, threshold=0):
    dut.apply.value = 1
    dut.op.value = op
    dut.first.value = first
    dut.compare.value = compare
    dut.weight.value = weight
    dut.threshold.value = threshold
    await ReadOnly()
    fire = int(dut.fire.value)
    await RisingEdge(dut.clk)
    return fire


@cocotb.test()
async def core_matches_golden_neuron(dut):
    case = json.loads(open(os.environ["SNN_CORE_CASE"]).read())
    p = case["params"]
    params = NeuronParams(p["potential_width"], p["weight_width"], p["bias_width"],
                          p["threshold_width"], FixedQ(*p["q_in"]), p["guard_bits"])
    steps, wait = case["steps"], case["wait"]
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.apply.value = 0
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    for number, neuron in enumerate(case["neurons"]):
        table = neuron["table"]
        trace, fired = neuron_trace(params, neuron["bias"], neuron["inputs"], table, steps, wait)
        dut.bias.value = neuron["bias"]
        rtl_fired = 0
        for k in range(1, steps + 2):
            t = k - 1 - wait
            compare = 1 if 1 <= t <= len(table) else 0
            fire = await apply(dut, STEP, first=int(k == 1), compare=compare,
                               threshold=table[t - 1] if compare else 0)
            if fire:
                assert rtl_fired == 0, f"neuron {number}: second spike at phase {t}"
                rtl_fired = t
            if k > steps:
                break
            for weight in (neuron["inputs"][k - 1] if k <= len(neuron["inputs"]) else []):
                await apply(dut, ADD, weight=weight)
            dut.apply.value = 0
            await ReadOnly()
            potential = dut.state.value.to_unsigned() & ((1 << params.potential_width) - 1)
            if potential >> (params.potential_width - 1):
                potential -= 1 << params.potential_width
            assert potential == trace[k - 1], (
                f"neuron {number}, phase {k}: RTL potential {potential}, golden {trace[k - 1]}")
            await RisingEdge(dut.clk)
        assert rtl_fired == fired, f"neuron {number}: RTL fired at {rtl_fired}, golden at {fired}"
