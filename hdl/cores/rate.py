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
from amaranth.hdl import Mux, signed, unsigned
from amaranth.lib import data

from golden.codings.rate import NeuronParams

from . import NeuronCoreBase, Op, carry_save_sum


def state_layout(params: NeuronParams) -> data.StructLayout:
    fields = {"potential": signed(params.potential_width)}
    if params.constant_input:
        fields["current"] = signed(params.current_width)
    return data.StructLayout(fields)


def operand_layout(params: NeuronParams) -> data.StructLayout:
    # keep_addend / fire_addend: what B1 adds to the potential when the neuron does not /
    # does fire; wide enough for v(0) + bias - θ exactly
    addend = signed(max(params.potential_width, params.bias_width,
                        params.threshold_width + 1, params.weight_width) + 2)
    fields = {"keep_addend": addend, "fire_addend": addend,
              "may_fire": 1}      # STEP with `compare`, on an enabled lane
    if params.constant_input:
        fields.update({"current_addend": signed(params.weight_width),
                       "use_potential": 1,      # not the window's first pass: base = v
                       "window": 1,             # STEP with `compare`: m = base + I + b
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
            # m = base + current + bias with base = v(0) on the window's first pass
            start = Mux(self.window_start, p.initial_potential, 0)
            m.d.comb += [
                prepared.keep_addend.eq(Mux(window, start + self.bias, 0)),
                prepared.fire_addend.eq(start + self.bias - self.threshold),
                prepared.use_potential.eq(~(window & self.window_start)),
                prepared.window.eq(window),
                prepared.current_addend.eq(self.weight),
                prepared.double.eq(step & ~self.compare & ~self.first),
                prepared.clear.eq(step & ~self.compare & self.first),
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
            base = Mux(operands.use_potential, potential, 0)
            # base + current + addend: three operands, one carry chain (a carry-save
            # layer of LUTs in front), for the non-fire and the fire result side by side;
            # outside the window the masks make `total` the potential itself
            total = carry_save_sum(m, base, Mux(operands.window, current, 0),
                                   operands.keep_addend, "total")
            reduced = carry_save_sum(m, base, current, operands.fire_addend, "reduced")
            fire = operands.may_fire & ~reduced[-1]
            m.d.comb += [self.next_state.potential.eq(Mux(fire, reduced, total)),
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

