"""Rate neuron core: integrate-and-fire with reset by subtraction (docs/codings.md §1, Eq. 3).

Mirrors `golden/codings/rate.py` (potential v, current, bias b, threshold θ):

constant-coded layer (first layer): the potential word holds w = m(t+1) - θ, the next
step's m against the threshold, so that the fire decision is w's sign bit, known as B1
begins (with the current I = W·x and the bias b constant over the steps, Eq. 3 gives
w(t) = w(t-1) + I + b - θ·s(t) and s(t) = [w(t-1) ≥ 0]):
- STEP, current passes:  current = first ? 0 : 2·current           (W·x from bit planes)
- ADD:                   current += weight
- STEP, settle pass:     w = current + v(0) + b - θ   (= m(1) - θ; the pass before the window)
- STEP, step passes:     fire = w ≥ 0;  w = w + current + b - fire·θ
- other ops:             w = 0 (so that no mask lies between the state and B1's adder)
spiking-input layer (hidden and output):
- STEP:                  fire = compare & (potential ≥ θ)          (for the step before)
                         potential = (first ? v(0) : potential - fire·θ) + bias
- ADD:                   potential += weight
- READ (output layer):   readout = potential (= Σ_t z(t))
"""
from amaranth.hdl import Mux, signed, unsigned
from amaranth.lib import data

from golden.codings.rate import NeuronParams

from . import NeuronCoreBase, Op, carry_save_sum


def state_layout(params: NeuronParams) -> data.StructLayout:
    if params.constant_input:
        # w = m - θ: one bit beyond m and θ
        return data.StructLayout({
            "potential": signed(max(params.potential_width, params.threshold_width + 1) + 1),
            "current": signed(params.current_width)})
    return data.StructLayout({"potential": signed(params.potential_width)})


def operand_layout(params: NeuronParams) -> data.StructLayout:
    # keep_addend / fire_addend: what B1 adds to the potential when the neuron does not /
    # does fire; wide enough for v(0) + bias - θ exactly
    addend = signed(max(params.potential_width, params.bias_width,
                        params.threshold_width + 1, params.weight_width) + 2)
    fields = {"keep_addend": addend, "fire_addend": addend,
              "may_fire": 1}      # STEP with `compare`, on an enabled lane
    if params.constant_input:
        fields.update({"current_addend": signed(params.weight_width),
                       "integrate": 1,          # settle or step pass: w moves, else 0
                       "double": 1, "clear": 1, "add": 1})   # how the current moves
    else:
        fields.update({"threshold": unsigned(params.threshold_width),
                       "first": 1,              # first STEP: v(0) + bias
                       "first_value": signed(params.potential_width)})
    return data.StructLayout(fields)


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)
    operand_layout = staticmethod(operand_layout)

    def prepare(self, m) -> None:
        p, prepared = self.params, self.prepared
        step, add = self.op == Op.STEP, self.op == Op.ADD
        window = step & self.compare
        m.d.comb += prepared.may_fire.eq(window & self.enable)
        if p.constant_input:
            # the settle pass adds v(0) + b - θ whichever way; a step pass b, less θ if
            # the neuron fires
            settle = step & self.settle
            settle_addend = p.initial_potential + self.bias - self.threshold
            current_pass = step & ~self.compare & ~self.settle
            m.d.comb += [
                prepared.keep_addend.eq(Mux(settle, settle_addend, self.bias)),
                prepared.fire_addend.eq(Mux(settle, settle_addend, self.bias - self.threshold)),
                prepared.integrate.eq(window | settle),
                prepared.current_addend.eq(self.weight),
                prepared.double.eq(current_pass & ~self.first),
                prepared.clear.eq(current_pass & self.first),
                prepared.add.eq(add),
            ]
        else:
            m.d.comb += [
                prepared.keep_addend.eq(Mux(add, self.weight, Mux(step, self.bias, 0))),
                prepared.fire_addend.eq(self.bias - self.threshold),
                prepared.threshold.eq(self.threshold),
                prepared.first.eq(step & self.first),
                prepared.first_value.eq(p.initial_potential + self.bias),
            ]

    def update(self, m) -> None:
        operands, potential = self.operands, self.state.potential
        if self.params.constant_input:
            current = self.state.current
            fire = operands.may_fire & ~potential[-1]
            # w + current + addend: three operands, one carry chain (a carry-save layer of
            # LUTs in front) for either decision side by side; the decision is known
            # before them, so one LUT after the chains picks (and zeroes outside a pass
            # that integrates)
            kept = carry_save_sum(m, potential, current, operands.keep_addend, "kept")
            reduced = carry_save_sum(m, potential, current, operands.fire_addend, "reduced")
            m.d.comb += [self.next_state.potential.eq(
                             Mux(operands.integrate, Mux(fire, reduced, kept), 0)),
                         self.fire.eq(fire)]
            with m.If(operands.double):
                m.d.comb += self.next_state.current.eq(current << 1)
            with m.If(operands.clear):
                m.d.comb += self.next_state.current.eq(0)
            with m.If(operands.add):
                m.d.comb += self.next_state.current.eq(current + operands.current_addend)
        else:
            fire = operands.may_fire & (potential >= operands.threshold)
            kept = potential + operands.keep_addend
            reduced = potential + operands.fire_addend
            m.d.comb += [self.next_state.potential.eq(
                             Mux(operands.first, operands.first_value,
                                 Mux(fire, reduced, kept))),
                         self.fire.eq(fire)]

