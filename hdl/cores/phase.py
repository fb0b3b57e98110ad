"""Phase neuron core: one lane of the single-spike phase-coded neuron (One-Spike;
docs/codings.md §2).

Mirrors `golden/codings/phase.py` (same names: potential, fired, threshold, bias, q_in):

- STEP, first phase: potential = Q_in·bias, fired = 0            (Algorithm 1 line 5, Eq. 1)
- STEP:              potential = Q_in·potential; with `compare`,
                     fire = ~fired & (potential > Θ_t), fired |= fire   (Eq. 4 threshold)
- ADD:               potential += weight << guard_bits                  (Eq. 1 synaptic sum)

The compare of STEP looks at the potential *before* scaling: the engine issues the STEP
of phase k+1 right after the synaptic events of phase k, so one pass serves both.
Q_in·x is `(x·num) >> frac` built from shifts and adds (no multiplier); the update takes
it as x + (Q_in − 1)·x (`q_rest`), so that every op is one addition to the potential.
"""
from amaranth.hdl import Mux, Signal, signed
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


def q_rest(q: FixedQ) -> FixedQ:
    """R = Q − 1 for Q > 1 (every Q here: the input base is 2, `Params` keeps Q in
    (1, 2]): Q·v = v + (v·r) >> frac exactly, since v·2^frac is a multiple of 2^frac.
    At the default Q = 1.25, R·v is v >> 2: wiring, no adder."""
    assert q.num > 1 << q.frac, f"Q = {q.value} is not above 1"
    return FixedQ(q.num - (1 << q.frac), q.frac)


def operand_layout(params: NeuronParams) -> data.StructLayout:
    width = params.potential_width
    return data.StructLayout({
        # what the adder adds to the potential unless `scale`: ADD: weight << g; the first
        # STEP: Q_in·bias (its potential input is 0 then)
        "addend": signed(width),
        # -(Θ + 1): potential > Θ is the sign of potential + this, one carry chain
        "not_threshold": signed(params.threshold_width + 1),
        "scale": 1,         # STEP after the first: the adder adds R·potential (q_rest)
        "first": 1,         # the first STEP: the adder's other input is 0, not the potential
        "may_fire": 1,      # STEP with `compare`, on an enabled lane
    })


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)
    operand_layout = staticmethod(operand_layout)

    def prepare(self, m) -> None:
        p, step, add = self.params, self.op == Op.STEP, self.op == Op.ADD
        first = step & self.first
        m.d.comb += [
            self.prepared.addend.eq(Mux(add, self.weight << p.guard_bits,
                                        q_multiply(self.bias, p.q_in))),
            self.prepared.not_threshold.eq(-1 - self.threshold),
            self.prepared.scale.eq(step & ~self.first),
            self.prepared.first.eq(first),
            self.prepared.may_fire.eq(step & self.compare & self.enable),
        ]

    def update(self, m) -> None:
        # One adder for every op, its inputs chosen from registered flags (one LUT before
        # the carry chain) and nothing after it but the engine's forwarding mux, where a
        # layer has one (the loop state → adder → state was the iCE40's slowest path).
        #   ADD: potential + weight << g; first STEP: 0 + Q_in·bias; STEP: potential + R·potential
        # `fired` is one LUT after the compare (its carry chain's sign) for every op:
        # `may_fire` is 0 outside STEP, `first` (the first STEP) clears it.
        p, operands = self.params, self.operands
        potential, fired = self.state.potential, self.state.fired
        above = ~(potential + operands.not_threshold)[-1]
        m.d.comb += [self.next_state.fired.eq(~operands.first &
                                              (fired | (operands.may_fire & above))),
                     self.fire.eq(operands.may_fire & ~fired & above)]
        scaled = q_multiply(potential, q_rest(p.q_in))
        kept = Signal(signed(p.potential_width), name="kept")
        other = Signal(signed(p.potential_width), name="other")
        m.d.comb += [kept.eq(Mux(operands.first, 0, potential)),
                     other.eq(Mux(operands.scale, scaled, operands.addend)),
                     self.next_state.potential.eq(kept + other)]
