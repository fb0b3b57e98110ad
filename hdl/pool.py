"""Max pooling between two layers, by the producing coding's rule (`MaxPoolRule`).

The pooled train's decoded value so far equals the largest decoded value so far in its
window, at every phase (`golden.codings.base.max_pool_spikes`). The unit runs after the
producing layer and before the consuming one, phase by phase:

    LOAD  each spike (neuron n, sign) of phase t goes to its window's member slot:
          slot bank m, word p (member map ROM: n → p, m; windows must not overlap)
    WAIT  2 cycles, the last LOAD writes land
    PASS  for every window p: all member slots and the window state are read at once,
          the rule updates the state, the slots are cleared, and the pooled spike of
          phase t (if any) goes to the consumer's event buffer

Window state per rule (phase 1 starts from the initial state, so no clearing between
images): binary places (phase, radix, deferred) keep the members still tied with the
maximum, `alive`: out = OR(alive & bits), and alive &= bits when out; counts (rate) keep
each member's count and the maximum: out = max(counts) grew; time on (tsc) keeps each
member's on/off state, its time on, the maximum and the pooled on/off state: the pooled
train switches on (+1) or off (-1) when "the maximum grew this step" changes.

Cycles from `start` to `done`: Σ_t (max(1, events(t)) + 2 + windows) + 2 (`golden/cycles.py`).

The slot banks must start empty, and a block RAM (or an SRAM macro) may not: after reset
the unit writes zeros to every window (`windows` cycles) and raises `cleared`; `snn_top`
takes no pixel before that, so no cycle count from the last pixel changes.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .events import EventSink, EventSource
from .layer import UnsupportedLayer

WAIT_CYCLES = 2
FINISH_CYCLES = 2


def member_map(pool_index, n_neurons: int, name: str) -> list[tuple[int, int]]:
    """Per producing neuron: (window, slot), or (-1, -1) for a neuron no window reads."""
    slots = [(-1, -1)] * n_neurons
    for window, members in enumerate(pool_index):
        for slot, neuron in enumerate(members):
            if slots[neuron] != (-1, -1):
                raise UnsupportedLayer(f"{name}: overlapping max pooling windows have no RTL "
                                       f"(neuron {neuron} is in two windows)")
            slots[neuron] = (window, slot)
    return slots


class MaxPoolUnit(wiring.Component):
    def __init__(self, pool_index, n_neurons: int, phases: int, rule, name: str):
        self.pool_index, self.rule, self.name = pool_index, rule, name
        self.windows, self.width = pool_index.shape
        self.phases = phases
        self.slots = member_map(pool_index.tolist(), n_neurons, name)
        super().__init__({
            "start": In(1),
            "done": Out(1),
            "cleared": Out(1),
            "events": Out(EventSource(n_neurons, phases, phases)),
            "spikes": Out(EventSink(self.windows, phases)),
        })

    def state_layout(self) -> data.StructLayout:
        count = range(self.phases + 1)
        w = self.width
        if self.rule.integrate:
            return data.StructLayout({"on": w, "time_on": data.ArrayLayout(count, w),
                                      "best": count, "out_on": 1})
        if self.rule.binary_places:
            return data.StructLayout({"alive": w})
        return data.StructLayout({"counts": data.ArrayLayout(count, w), "best": count})

    def update(self, m, state, first, values):
        """(next state, fire, negative) of one window from its state and member values."""
        layout, w = self.state_layout(), self.width
        nxt = Signal(layout)
        fire, negative = Signal(), Signal()
        if self.rule.integrate:
            on = Mux(first, 0, state.on)
            grew_from = Mux(first, 0, state.best)
            new_on = Signal(w)
            times = []
            for slot in range(w):
                value = values[slot]               # 2-bit signed: +1 on, -1 off
                switched = Mux(value == 0b01, 1, Mux(value == 0b11, 0, on[slot]))
                m.d.comb += new_on[slot].eq(switched)
                time = Mux(first, 0, state.time_on[slot]) + switched
                times.append(time)
                m.d.comb += nxt.time_on[slot].eq(time)
            best = grew_from
            for time in times:
                best = Mux(time > best, time, best)
            grew = best > grew_from
            out_on = Mux(first, 0, state.out_on)
            m.d.comb += [nxt.on.eq(new_on), nxt.best.eq(best), nxt.out_on.eq(grew),
                         fire.eq(grew != out_on), negative.eq(~grew)]
        elif self.rule.binary_places:
            alive = Mux(first, Const((1 << w) - 1, w), state.alive)
            bits = Cat(*(values[slot][0] for slot in range(w)))
            hit = alive & bits
            m.d.comb += [fire.eq(hit != 0), nxt.alive.eq(Mux(hit != 0, hit, alive))]
        else:
            best_before = Mux(first, 0, state.best)
            best = best_before
            for slot in range(w):
                count = Mux(first, 0, state.counts[slot]) + values[slot][0]
                m.d.comb += nxt.counts[slot].eq(count)
                best = Mux(count > best, count, best)
            m.d.comb += [nxt.best.eq(best), fire.eq(best > best_before)]
        return nxt, fire, negative

    def elaborate(self, platform):
        m = Module()
        windows, w, phases = self.windows, self.width, self.phases
        value_bits = 2 if self.rule.integrate else 1
        slot_layout = data.StructLayout({"valid": 1, "window": range(max(windows, 2)),
                                         "slot": range(max(w, 2))})
        m.submodules.member_map = member_rom = Memory(
            shape=slot_layout, depth=max(len(self.slots), 2),
            init=[slot_layout.const({"valid": int(p >= 0), "window": max(p, 0),
                                     "slot": max(s, 0)}) for p, s in self.slots])
        m.submodules.state = state_mem = Memory(shape=self.state_layout(),
                                                depth=max(windows, 2), init=[])
        banks = []
        for slot in range(w):
            bank = Memory(shape=value_bits, depth=max(windows, 2), init=[])
            m.submodules[f"slot_{slot}"] = bank
            banks.append((bank.read_port(), bank.write_port()))

        busy, mode = Signal(), Signal(range(3))          # 0 LOAD, 1 WAIT, 2 PASS
        LOAD, WAIT, PASS = 0, 1, 2
        phase = Signal(range(phases + 2))
        position = Signal.like(self.events.read_pos)
        wait = Signal(range(WAIT_CYCLES + 1))
        window = Signal(range(max(windows, 2)))

        # LOAD pipeline: event read → member map read → slot write.
        loading = busy & (mode == LOAD) & (self.events.count != 0)
        load_1, load_2, sign_2 = Signal(), Signal(), Signal()
        map_read = member_rom.read_port()
        m.d.comb += [self.events.phase.eq(phase), self.events.ahead.eq(0),
                     self.events.read_pos.eq(position),
                     self.events.read_en.eq(loading),
                     map_read.addr.eq(self.events.index), map_read.en.eq(1)]
        m.d.sync += [load_1.eq(loading), load_2.eq(load_1), sign_2.eq(self.events.sign)]
        target = map_read.data

        # PASS pipeline: slot and state reads → update, clear, emit.
        passing = busy & (mode == PASS)
        pass_1, pass_window, pass_phase = Signal(), Signal.like(window), Signal.like(phase)
        m.d.sync += [pass_1.eq(passing), pass_window.eq(window), pass_phase.eq(phase)]
        state_read, state_write = state_mem.read_port(), state_mem.write_port()
        m.d.comb += [state_read.addr.eq(window), state_read.en.eq(1),
                     state_write.addr.eq(pass_window), state_write.en.eq(pass_1)]
        # after reset: zeros to every window of the slot banks, before any pixel is taken
        clear_window = Signal(range(max(windows, 2) + 1))
        clearing = ~self.cleared
        with m.If(clearing):
            m.d.sync += clear_window.eq(clear_window + 1)
            with m.If(clear_window == windows - 1):
                m.d.sync += self.cleared.eq(1)
        values = []
        for slot, (read, write) in enumerate(banks):
            load_here = load_2 & target.valid & (target.slot == slot)
            value = Mux(sign_2, 0b11, 0b01) if self.rule.integrate else 1
            m.d.comb += [read.addr.eq(window), read.en.eq(1),
                         write.addr.eq(Mux(clearing, clear_window,
                                           Mux(load_here, target.window, pass_window))),
                         write.data.eq(Mux(load_here & ~clearing, value, 0)),
                         write.en.eq(load_here | pass_1 | clearing)]
            values.append(read.data)
        nxt, fire, negative = self.update(m, state_read.data, pass_phase == 1, values)
        m.d.comb += [state_write.data.eq(nxt),
                     self.spikes.events.valid.eq(pass_1 & fire),
                     self.spikes.events.payload.neuron.eq(pass_window),
                     self.spikes.events.payload.sign.eq(negative),
                     self.spikes.events.payload.phase.eq(pass_phase),
                     self.spikes.clear.eq(~busy & self.start)]

        # Sequencer.
        finishing = Signal(range(FINISH_CYCLES + 1))
        with m.If(~busy & self.start):
            m.d.sync += [busy.eq(1), mode.eq(LOAD), phase.eq(1), position.eq(0)]
        with m.Elif(busy):
            with m.Switch(mode):
                with m.Case(LOAD):
                    with m.If((self.events.count == 0) |
                              (position == self.events.count - 1)):
                        m.d.sync += [mode.eq(WAIT), wait.eq(0), position.eq(0)]
                    with m.Else():
                        m.d.sync += position.eq(position + 1)
                with m.Case(WAIT):
                    m.d.sync += wait.eq(wait + 1)
                    with m.If(wait == WAIT_CYCLES - 1):
                        m.d.sync += [mode.eq(PASS), window.eq(0)]
                with m.Case(PASS):
                    m.d.sync += window.eq(window + 1)
                    with m.If(window == windows - 1):
                        m.d.sync += [window.eq(0), phase.eq(phase + 1), mode.eq(LOAD)]
                        with m.If(phase == phases):
                            m.d.sync += [busy.eq(0), finishing.eq(FINISH_CYCLES)]
        with m.If(finishing != 0):
            m.d.sync += finishing.eq(finishing - 1)
            m.d.comb += self.done.eq(finishing == 1)
        return m
