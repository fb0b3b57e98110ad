"""TSC neuron core and spike-pair input coding (TSC paper; docs/codings.md §4).

Mirrors `golden/codings/tsc.py` (same names: current I, potential V, mode, runs_done, θ,
bias b, the cap `runs` on on-runs per neuron).
The engine runs N + 1 STEP passes; STEP pass k finishes step k - 1 (whose input events
were added in the ADD pass of phase k - 1):

- STEP, first pass:  current = b (the always-on input's +1 at t = 1), potential = 0, IDLE,
                     runs_done = 0
- ADD:               current += ±weight        (Eq. 6: one addition per input spike;
                                                the engine negates the weight of a -1)
- STEP, k ≥ 2:       current -= b if `last` (the always-on input's -1 at t = N);
                     potential += current        (Eq. 5)
                     with `compare` (hidden layers), the frame-subtracted soft-reset IF:
                       IDLE & V ≥ θ → +1, V -= θ, FIRING   (at the last step: no spike, DONE)
                       FIRING & V ≥ θ → V -= θ              (at the last step: -1, DONE)
                       FIRING & V < θ → -1, then IDLE, or DONE once `runs` runs are over
- READ (output layer): readout = potential.

`input_source` turns the streamed pixels into Eq. 2's pairs: phase 1 lists every pixel
with p* ≥ 2 (+1 spikes), phase t ≥ 2 the pixels with p* = t (-1 spikes).
"""
from amaranth.hdl import Const, Mux, Signal, signed, unsigned
from amaranth.lib import data

from golden.codings.tsc import (DONE, FIRING, IDLE, INPUT_WRITES_PER_PIXEL, PIXEL_MAX,
                                NeuronParams)
from golden.data import PIXEL_BITS

from ..input_store import InputStore
from . import NeuronCoreBase, Op, carry_save_sum


def state_layout(params: NeuronParams) -> data.StructLayout:
    # potential first: the core testbench reads it from the low bits of the state word
    fields = {"potential": signed(params.potential_width),
              "current": signed(params.current_width),
              "mode": unsigned(2)}
    if params.run_count_width:      # only a cap of two runs or more needs counting
        fields["runs_done"] = unsigned(params.run_count_width)
    return data.StructLayout(fields)


def operand_layout(params: NeuronParams) -> data.StructLayout:
    return data.StructLayout({
        "current_addend": signed(max(params.weight_width, params.bias_width + 1)),
        "keep_addend": signed(params.bias_width + 1),   # the always-on input's -b at t = N
        "fire_addend": signed(max(params.bias_width + 1, params.threshold_width + 1) + 1),
        "bias": signed(params.bias_width),
        "first": 1,
        "step": 1,          # STEP k ≥ 2: V += I
        "last": 1,
        "may_fire": 1,      # STEP k ≥ 2 with `compare`, on an enabled lane
    })


class NeuronCore(NeuronCoreBase):
    state_layout = staticmethod(state_layout)
    operand_layout = staticmethod(operand_layout)

    def prepare(self, m) -> None:
        step, add, prepared = self.op == Op.STEP, self.op == Op.ADD, self.prepared
        last_bias = Mux(self.last, -self.bias, 0)
        m.d.comb += [
            prepared.current_addend.eq(Mux(add, self.weight, Mux(step, last_bias, 0))),
            prepared.keep_addend.eq(Mux(step & ~self.first, last_bias, 0)),
            prepared.fire_addend.eq(last_bias - self.threshold),
            prepared.bias.eq(self.bias),
            prepared.first.eq(step & self.first),
            prepared.step.eq(step & ~self.first),
            prepared.last.eq(self.last),
            prepared.may_fire.eq(step & ~self.first & self.compare & self.enable),
        ]

    def update(self, m) -> None:
        operands, params = self.operands, self.params
        current, potential = self.state.current, self.state.potential
        # V + I (- b at the last step) and the same - θ, carry-save, side by side; the
        # masks make `total` 0 on the first pass and V on ops that do not step
        kept = Mux(operands.first, 0, potential)
        stepped = Mux(operands.step, current, 0)
        total = carry_save_sum(m, kept, stepped, operands.keep_addend, "total")
        reduced = carry_save_sum(m, potential, current, operands.fire_addend, "reduced")
        above = ~reduced[-1]
        # the mode logic for both outcomes of V ≥ θ, ready before the compare is
        below_case, above_case = (self.transition(m, outcome) for outcome in (0, 1))
        chosen = {name: Mux(above, above_case[name], below_case[name]) for name in below_case}
        m.d.comb += [
            self.next_state.current.eq(Mux(operands.first, operands.bias,
                                           current + operands.current_addend)),
            self.next_state.potential.eq(Mux(chosen["reduce"], reduced, total)),
            self.fire.eq(chosen["fire"]), self.spike_negative.eq(chosen["negative"]),
            self.next_state.mode.eq(Mux(operands.first, IDLE, chosen["mode"])),
        ]
        if params.run_count_width:
            m.d.comb += self.next_state.runs_done.eq(
                Mux(operands.first, 0, chosen["runs_done"]))

    def transition(self, m, above: int) -> dict:
        """Fire, sign, next mode (and runs done), and whether V -= θ, for V ≥ θ = `above`:
        the frame-subtracted soft-reset IF of the module docstring."""
        operands, mode = self.operands, self.state.mode
        runs = self.params.runs
        idle, firing = mode == IDLE, mode == FIRING
        start, keep, stop = (idle, firing, 0) if above else (0, 0, firing)
        out = {"fire": Signal(name=f"fire_{above}"), "negative": Signal(name=f"negative_{above}"),
               "mode": Signal.like(mode, name=f"mode_{above}"),
               "reduce": Signal(name=f"reduce_{above}")}
        m.d.comb += out["mode"].eq(mode)
        if self.params.run_count_width:
            out["runs_done"] = Signal.like(self.state.runs_done, name=f"runs_done_{above}")
            m.d.comb += out["runs_done"].eq(self.state.runs_done)
        with m.If(operands.may_fire):
            m.d.comb += out["reduce"].eq(start | keep)
            with m.If(operands.last):
                m.d.comb += [out["fire"].eq(firing), out["negative"].eq(firing)]
                with m.If(start | firing):
                    m.d.comb += out["mode"].eq(DONE)
            with m.Else():
                m.d.comb += [out["fire"].eq(start | stop), out["negative"].eq(stop)]
                with m.If(start):
                    m.d.comb += out["mode"].eq(FIRING)
                with m.If(stop):
                    # a run ended (its -1 went out): IDLE again, or DONE after `runs` runs
                    if runs == 0:
                        m.d.comb += out["mode"].eq(IDLE)
                    elif runs == 1:
                        m.d.comb += out["mode"].eq(DONE)
                    else:
                        runs_done = self.state.runs_done
                        with m.If(runs_done == runs - 1):
                            m.d.comb += out["mode"].eq(DONE)
                        with m.Else():
                            m.d.comb += [out["mode"].eq(IDLE),
                                         out["runs_done"].eq(runs_done + 1)]
        return out


def _divide_by_pixel_max(N: int) -> tuple[int, int]:
    """(M, s) with (pixel·(N-1)·M) >> s == pixel·(N-1) // 255 for every 8-bit pixel: the
    division of Eq. 1 as one constant multiplication, checked exhaustively here."""
    for shift in range(8, 40):
        multiplier = -(-(1 << shift) // PIXEL_MAX)
        if all((p * (N - 1) * multiplier) >> shift == p * (N - 1) // PIXEL_MAX
               for p in range(PIXEL_MAX + 1)):
            return multiplier, shift
    raise ValueError(f"no exact reciprocal of {PIXEL_MAX} for N = {N}")


# Up to this N, Eq. 1's p* comes from N - 1 compares (a few LUT levels); above, from the
# constant multiplication (a chain of adders: on the iCE40 the slowest path of the design).
COMPARE_STEPS_MAX_N = 64


def switch_thresholds(N: int) -> list[int]:
    """The pixel values where p* steps up: p* = 1 + #{k : pixel ≥ ⌈255·k / (N-1)⌉},
    k = 1 .. N-1, since ⌊pixel·(N-1)/255⌋ ≥ k ⇔ pixel·(N-1) ≥ 255·k (Eq. 1)."""
    return [-(-PIXEL_MAX * k // (N - 1)) for k in range(1, N)]


class PixelPairs(InputStore):
    """The current image as Eq. 2's spike pairs (`hdl.input_store`): list 1 holds the
    pixels with p* ≥ 2 (all spike +1 at phase 1), list t ≥ 2 the pixels with p* = t
    (which spike -1 at phase t). Only pixels that spike are stored or read. A pixel's p* is
    computed as it is taken and registered; its two writes follow (`writes_per_pixel`)."""
    writes_per_pixel = INPUT_WRITES_PER_PIXEL

    def __init__(self, n_inputs: int, phases: int, max_phase: int, banks: int = 2):
        self.multiplier, self.shift = _divide_by_pixel_max(phases)
        super().__init__(n_inputs, phases, max_phase, PIXEL_BITS, banks)

    def code(self, m, pixel):
        """p* of Eq. 1 (1 .. N)."""
        N = self.phases
        if N > COMPARE_STEPS_MAX_N:
            return ((pixel * ((N - 1) * self.multiplier)) >> self.shift) + 1
        # the compares form a thermometer code; p* = 1 + the number of steps passed,
        # encoded from the one place where the thermometer ends
        steps = [Const(1)] + [pixel >= threshold for threshold in switch_thresholds(N)]
        p_star = Signal(range(N + 1), name="p_star")
        ends = [steps[k] & (~steps[k + 1] if k + 1 < N else Const(1)) for k in range(N)]
        value = Const(0, range(N + 1))
        for k, end in enumerate(ends):
            value = value | Mux(end, k + 1, 0)
        m.d.comb += p_star.eq(value)
        return p_star

    def slot_list(self, m, p_star, slot):
        return Mux(slot == 0, 1, p_star), p_star >= 2

    def sign(self, list_number):
        return list_number != 1


def input_source(n_inputs: int, phases: int, max_phase: int, banks: int = 2) -> PixelPairs:
    return PixelPairs(n_inputs, phases, max_phase, banks)
