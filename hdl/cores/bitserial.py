"""Bit-serial neuron core (radix §3, deferred §5): left-shift accumulator + bit extractor.

Mirrors `golden/codings/bitserial.py` (potential u, bias B, threshold θ_t = θ/2^t):

- STEP, accumulation phase:  potential = first ? 0 : 2·potential        (Horner, Eq. 16)
- ADD:                       potential += weight
- STEP in the output window: base = potential (+ bias on the window's first pass);
                             fire = base ≥ θ_t; potential = base - fire·θ_t  (MSB first)
- READ (output layer):       readout = potential + bias

Stage P folds the op into two addends: `keep_addend` (weight, the window's bias, or 0)
and `fire_addend` (the window's bias - θ_t), so B1 runs `base` and `base - θ_t` as two
carry chains side by side and picks one.
"""
from amaranth.hdl import Mux, signed
from amaranth.lib import data

from golden.codings.bitserial import NeuronParams

from . import NeuronCoreBase, Op


def state_layout(params: NeuronParams) -> data.StructLayout:
    return data.StructLayout({"potential": signed(params.potential_width)})


def operand_layout(params: NeuronParams) -> data.StructLayout:
    addend = max(params.weight_width, params.bias_width)
    return data.StructLayout({
        "keep_addend": signed(addend),
        "fire_addend": signed(max(params.bias_width, params.threshold_width + 1) + 1),
        "bias": signed(params.bias_width),      # READ: the read-out adds it
        "shift": 1,         # accumulation STEP: potential doubles (Horner)
        "clear": 1,         # first accumulation STEP: potential = 0
        "may_fire": 1,      # STEP in the output window, on an enabled lane
    })


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)
    operand_layout = staticmethod(operand_layout)
    readout_extra_bits = 1

    def readout_value(self):
        return self.state.potential + self.operands.bias

    def prepare(self, m) -> None:
        step, window = self.op == Op.STEP, self.compare
        window_bias = Mux(window & self.window_start, self.bias, 0)
        m.d.comb += [
            self.prepared.keep_addend.eq(Mux(self.op == Op.ADD, self.weight,
                                             Mux(step, window_bias, 0))),
            self.prepared.bias.eq(self.bias),
            self.prepared.fire_addend.eq(Mux(self.window_start, self.bias, 0) - self.threshold),
            self.prepared.shift.eq(step & ~window & ~self.first),
            self.prepared.clear.eq(step & ~window & self.first),
            self.prepared.may_fire.eq(step & window & self.enable),
        ]

    def update(self, m) -> None:
        potential, operands = self.state.potential, self.operands
        base = Mux(operands.shift, potential << 1, potential) + operands.keep_addend
        reduced = potential + operands.fire_addend
        fire = operands.may_fire & (reduced >= 0)
        m.d.comb += [self.next_state.potential.eq(Mux(operands.clear, 0,
                                                      Mux(fire, reduced, base))),
                     self.fire.eq(fire)]
