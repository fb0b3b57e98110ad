"""A single neuron around a core, for step-by-step checks of the core against golden.

The harness holds one neuron's state in a register and applies one operation per cycle
when `apply` is high; `fire` is the core's decision for the operation on the inputs now.
"""
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hdl.cores import STEP_FLAGS, Op


class NeuronHarness(wiring.Component):
    def __init__(self, core_module, params):
        self.core_module, self.params = core_module, params
        self.core = core_module.NeuronCore(params)
        ports = self.core.signature.members
        super().__init__({
            "apply": In(1),
            "op": In(Op),
            **{flag: In(1) for flag in STEP_FLAGS},
            "weight": In(ports["weight"].shape),
            "bias": In(ports["bias"].shape),
            "threshold": In(ports["threshold"].shape),
            "state": Out(ports["state"].shape),
            "fire": Out(1),
            "spike_negative": Out(1),
            "readout": Out(ports["readout"].shape),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        m.d.comb += [getattr(core, flag).eq(getattr(self, flag)) for flag in STEP_FLAGS]
        m.d.comb += [core.op.eq(self.op), core.enable.eq(1),
                     core.operands.eq(core.prepared),   # P and B1 in one cycle here
                     core.state.eq(self.state), core.weight.eq(self.weight),
                     core.bias.eq(self.bias), core.threshold.eq(self.threshold),
                     self.fire.eq(core.fire & self.apply),
                     self.spike_negative.eq(core.spike_negative & self.apply),
                     self.readout.eq(core.readout)]
        with m.If(self.apply):
            m.d.sync += self.state.eq(core.next_state)
        return m
