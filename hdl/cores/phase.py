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


def operand_layout(params: NeuronParams) -> data.StructLayout:
    return data.StructLayout({
        "addend": signed(params.weight_width + params.guard_bits),   # ADD: weight << g
        "first_value": signed(params.potential_width),   # first STEP: Q_in·bias
        # -(Θ + 1): potential > Θ is the sign of potential + this, one carry chain
        "not_threshold": signed(params.threshold_width + 1),
        "add": 1, "step": 1, "first": 1,
        "may_fire": 1,      # STEP with `compare`, on an enabled lane
    })


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)
    operand_layout = staticmethod(operand_layout)

    def prepare(self, m) -> None:
        p, step = self.params, self.op == Op.STEP
        m.d.comb += [
            self.prepared.addend.eq(self.weight << p.guard_bits),
            self.prepared.first_value.eq(q_multiply(self.bias, p.q_in)),
            self.prepared.not_threshold.eq(-1 - self.threshold),
            self.prepared.add.eq(self.op == Op.ADD),
            self.prepared.step.eq(step),
            self.prepared.first.eq(step & self.first),
            self.prepared.may_fire.eq(step & self.compare & self.enable),
        ]

    def update(self, m) -> None:
        # Q_in·potential and potential + weight side by side; the op picks one. `fired` is
        # one LUT after the compare (its carry chain's sign) for every op: `may_fire` is 0
        # outside STEP, `first` (the first STEP) clears it.
        p, operands = self.params, self.operands
        potential, fired = self.state.potential, self.state.fired
        above = ~(potential + operands.not_threshold)[-1]
        m.d.comb += [self.next_state.fired.eq(~operands.first &
                                              (fired | (operands.may_fire & above))),
                     self.fire.eq(operands.may_fire & ~fired & above)]
        with m.If(operands.step):
            m.d.comb += self.next_state.potential.eq(
                Mux(operands.first, operands.first_value, q_multiply(potential, p.q_in)))
        with m.If(operands.add):
            m.d.comb += self.next_state.potential.eq(potential + operands.addend)
