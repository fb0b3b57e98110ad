"""Rate neuron core: integrate-and-fire with reset by subtraction (docs/codings.md §1, Eq. 3).

Mirrors `golden/codings/rate.py` (potential v, current, bias b, threshold θ):

constant-coded layer (first layer):
- STEP, current passes:  current = first ? 0 : 2·current           (W·x from bit planes)
- ADD:                   current += weight
- STEP, step passes:     m = (window_start ? v(0) : potential) + current + bias;
                         fire = m ≥ θ;  potential = m - fire·θ
spiking-input layer (hidden and output):
- STEP:                  fire = compare & (potential ≥ θ)          (for the step before)
                         potential = (first ? v(0) : potential - fire·θ) + bias
- ADD:                   potential += weight
- READ (output layer):   readout = potential (= Σ_t z(t))
"""
from amaranth.hdl import Mux, signed
from amaranth.lib import data

from golden.codings.rate import NeuronParams

from . import NeuronCoreBase, Op


def state_layout(params: NeuronParams) -> data.StructLayout:
    fields = {"potential": signed(params.potential_width)}
    if params.constant_input:
        fields["current"] = signed(params.current_width)
    return data.StructLayout(fields)


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)

    def update(self, m) -> None:
        p = self.params
        potential = self.state.potential
        if p.constant_input:
            current = self.state.current
            with m.Switch(self.op):
                with m.Case(Op.STEP):
                    with m.If(self.compare):
                        base = Mux(self.window_start, p.initial_potential, potential)
                        # two carry chains deep, not three: bias - θ runs beside base + current
                        partial = base + current
                        total = partial + self.bias
                        reduced = partial + (self.bias - self.threshold)
                        fire = self.enable & (reduced >= 0)
                        m.d.comb += [self.next_state.potential.eq(Mux(fire, reduced, total)),
                                     self.fire.eq(fire)]
                    with m.Else():
                        m.d.comb += self.next_state.current.eq(Mux(self.first, 0, current << 1))
                with m.Case(Op.ADD):
                    m.d.comb += self.next_state.current.eq(current + self.weight)
        else:
            with m.Switch(self.op):
                with m.Case(Op.STEP):
                    reduced = potential - self.threshold
                    fire = self.compare & self.enable & (reduced >= 0)
                    kept = Mux(fire, reduced, potential)
                    m.d.comb += [self.next_state.potential.eq(
                                     Mux(self.first, p.initial_potential, kept) + self.bias),
                                 self.fire.eq(fire)]
                with m.Case(Op.ADD):
                    m.d.comb += self.next_state.potential.eq(potential + self.weight)
