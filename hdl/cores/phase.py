"""Phase neuron core: one lane of the single-spike phase-coded neuron (One-Spike;
docs/codings.md §2).

Mirrors `golden/codings/phase.py` (same names: potential, fired, threshold, bias, q_in):

- STEP, first phase: potential = Q_in·bias, fired = 0            (Algorithm 1 line 5, Eq. 1)
- STEP:              potential = Q_in·potential; with `compare`,
                     fire = ~fired & (potential > Θ_t), fired |= fire   (Eq. 4 threshold)
- ADD:               potential += weight << guard_bits                  (Eq. 1 synaptic sum)

The compare of STEP looks at the potential *before* scaling: the engine issues the STEP
of phase k+1 right after the synaptic events of phase k, so one pass serves both.
Q_in·x is `(x·num) >> frac` built from shifts and adds (no multiplier).
"""
from amaranth.hdl import Mux, signed
from amaranth.lib import data

from golden.codings.phase import FixedQ, NeuronParams

from . import NeuronCoreBase, Op


def state_layout(params: NeuronParams) -> data.StructLayout:
    return data.StructLayout({"potential": signed(params.potential_width), "fired": 1})


def q_multiply(value, q: FixedQ):
    """(value·num) >> frac as a sum of shifted copies: the hardware form of Q·v."""
    terms = [value << bit for bit in range(q.num.bit_length()) if (q.num >> bit) & 1]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total >> q.frac


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)

    def update(self, m) -> None:
        p = self.params
        potential = self.state.potential
        with m.Switch(self.op):
            with m.Case(Op.STEP):
                base = Mux(self.first, self.bias, potential)
                fire = self.compare & self.enable & ~self.state.fired & (potential > self.threshold)
                m.d.comb += [
                    self.next_state.potential.eq(q_multiply(base, p.q_in)),
                    self.next_state.fired.eq(~self.first & (self.state.fired | fire)),
                    self.fire.eq(fire),
                ]
            with m.Case(Op.ADD):
                m.d.comb += self.next_state.potential.eq(
                    potential + (self.weight << p.guard_bits))
