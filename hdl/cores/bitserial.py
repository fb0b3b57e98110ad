"""Bit-serial neuron core (radix §3, deferred §5): left-shift accumulator + bit extractor.

Mirrors `golden/codings/bitserial.py` (potential u, bias B, threshold θ_t = θ/2^t):

- STEP, accumulation phase:  potential = first ? 0 : 2·potential        (Horner, Eq. 16)
- ADD:                       potential += weight
- STEP in the output window: base = potential (+ bias on the window's first pass);
                             fire = base ≥ θ_t; potential = base - fire·θ_t  (MSB first)
- READ (output layer):       readout = potential + bias
"""
from amaranth.hdl import Mux, signed
from amaranth.lib import data

from golden.codings.bitserial import NeuronParams

from . import NeuronCoreBase, Op


def state_layout(params: NeuronParams) -> data.StructLayout:
    return data.StructLayout({"potential": signed(params.potential_width)})


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)
    readout_extra_bits = 1

    def readout_value(self):
        return self.state.potential + self.bias

    def update(self, m) -> None:
        potential = self.state.potential
        with m.Switch(self.op):
            with m.Case(Op.STEP):
                with m.If(self.compare):
                    base = Mux(self.window_start, potential + self.bias, potential)
                    # one subtraction serves the compare and the reset (a carry chain less)
                    reduced = base - self.threshold
                    fire = self.enable & (reduced >= 0)
                    m.d.comb += [self.next_state.potential.eq(Mux(fire, reduced, base)),
                                 self.fire.eq(fire)]
                with m.Else():
                    m.d.comb += self.next_state.potential.eq(
                        Mux(self.first, 0, potential << 1))
            with m.Case(Op.ADD):
                m.d.comb += self.next_state.potential.eq(potential + self.weight)
