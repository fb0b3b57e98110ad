"""Max pooling between two layers, by the producing coding's rule (`MaxPoolRule`).

The pooled train's decoded value so far equals the largest decoded value so far in its
window, at every phase (`golden.codings.base.max_pool_spikes`, docs/codings.md §6). Two
units, chosen by the rule (`max_pool_unit`):

- `StreamingMaxPool` (binary places: phase, radix, deferred; counts: rate): a window's
  pooled spike of phase t can be decided by the first member spike that settles it, so
  the unit updates a window per member spike, as the producing layer emits it (no cycle
  of its own). After the producer is done it walks the producer's spikes once more to
  return the windows it touched to the empty state, so the next image starts clean.
- `TimeOnMaxPool` (tsc, `hdl/pool_time_on.py`): the time spent on grows at every step
  without any spike, so that unit scans every window at every phase, a word of the
  consumer's `lanes` windows per cycle.

Both start when the producer is done and raise `done` when the consumer may start;
`golden/cycles.py` gives the cycles in between. A member may belong to one window only
(overlapping windows are refused, naming the layer).
"""
from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .addressing import UnsupportedLayer
from .events import EventSink, EventSource

STREAM_FINISH_CYCLES = 7   # after the last walk read: the update pipeline drains


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


def member_rom(m, slots, windows: int, width: int, group: int = 1) -> Memory:
    """The member map as a ROM: producing neuron → (valid, window // group, window % group,
    slot); `group` windows share a memory word."""
    words = -(-windows // group)
    layout = data.StructLayout({"valid": 1, "window": range(max(words, 2)),
                                "lane": range(max(group, 2)), "slot": range(max(width, 2))})
    m.submodules.member_map = rom = Memory(
        shape=layout, depth=max(len(slots), 2),
        init=[layout.const({"valid": int(p >= 0), "window": max(p, 0) // group,
                            "lane": max(p, 0) % group, "slot": max(s, 0)})
              for p, s in slots])
    return rom


def clear_after_reset(m, cleared, words: int):
    """After reset, a counter over the unit's `words` memory words (written with zeros by
    the caller) that raises `cleared` when done: a block RAM or an SRAM macro may start
    with anything. Returns (clearing, the word to clear)."""
    word = Signal(range(max(words, 2) + 1))
    clearing = ~cleared
    with m.If(clearing):
        m.d.sync += word.eq(word + 1)
        with m.If(word == words - 1):
            m.d.sync += cleared.eq(1)
    return clearing, word


def max_pool_unit(pool_index, n_neurons: int, phases: int, rule, name: str, lanes: int = 1):
    """The unit for `rule`: streaming where spikes settle the pooled train, else scanning
    `lanes` windows per cycle (the consumer's lanes)."""
    if rule.integrate:
        from .pool_time_on import TimeOnMaxPool
        return TimeOnMaxPool(pool_index, n_neurons, phases, rule, name, group=lanes)
    return StreamingMaxPool(pool_index, n_neurons, phases, rule, name)


class StreamingMaxPool(wiring.Component):
    """Pooling as the producer emits (`tap`: the producer's spike stream).

    Window state, all zeros when empty:
    - binary places: `alive` (members still tied with the maximum), `hit` (alive members
      that spiked in phase `phase`, 0: untouched this image). A member spike of phase t
      first rolls a window touched in an earlier phase over (alive ← hit if hit ≠ 0);
      the window fires with the first alive member to spike in t: out_t = OR(alive & bits).
    - counts (rate): each member's count and their maximum `best`; a spike that makes a
      count exceed `best` fires (the maximum grows by at most one per phase, so once).

    Pipeline: tap registered (T1; the walk's event index arrives here too) → neuron
    registered, member map read (T2) → window and slot (T3) → window registered, state
    read (T4) → the window's state registered (T5, with the write of the op ahead
    forwarded, so that back-to-back spikes of one window see each other) → update,
    write, pooled spike registered (T6) → pooled spike out (T7). No memory output reaches
    a memory input or address through logic.
    """

    def __init__(self, pool_index, n_neurons: int, phases: int, rule, name: str):
        self.rule, self.name = rule, name
        self.windows, self.width = pool_index.shape
        self.phases = phases
        self.slots = member_map(pool_index.tolist(), n_neurons, name)
        super().__init__({
            "start": In(1),
            "done": Out(1),
            "cleared": Out(1),
            "tap": In(EventSink(n_neurons, phases)),
            "events": Out(EventSource(n_neurons, phases, phases)),
            "spikes": Out(EventSink(self.windows, phases)),
        })

    def state_layout(self) -> data.StructLayout:
        count = range(self.phases + 1)
        if self.rule.binary_places:
            return data.StructLayout({"alive": self.width, "hit": self.width,
                                      "phase": range(self.phases + 1)})
        return data.StructLayout({"counts": data.ArrayLayout(count, self.width), "best": count})

    def stage_layout(self) -> data.StructLayout:
        """An op in the unit's pipeline: a tapped spike or a step of the clearing walk."""
        return data.StructLayout({"valid": 1, "clear": 1, "phase": range(self.phases + 1),
                                  "window": range(max(self.windows, 2)),
                                  "slot": range(max(self.width, 2))})

    def update(self, m, state, slot, phase):
        """(next state, fire) of a window on a spike of member `slot` in `phase`."""
        w = self.width
        nxt, fire = Signal(self.state_layout()), Signal()
        if self.rule.binary_places:
            alive = Mux(state.phase == 0, Const((1 << w) - 1, w),
                        Mux((state.phase != phase) & (state.hit != 0), state.hit, state.alive))
            hit = Mux(state.phase == phase, state.hit, 0)
            member = alive.bit_select(slot, 1)
            m.d.comb += [fire.eq(member & (hit == 0)),
                         nxt.alive.eq(alive), nxt.phase.eq(phase),
                         nxt.hit.eq(hit | Mux(member, Const(1, w) << slot, 0))]
        else:
            best = state.best
            for index in range(w):
                grown = state.counts[index] + 1
                with m.If(slot == index):
                    m.d.comb += [nxt.counts[index].eq(grown), fire.eq(grown > best)]
                with m.Else():
                    m.d.comb += nxt.counts[index].eq(state.counts[index])
            m.d.comb += nxt.best.eq(Mux(fire, best + 1, best))
        return nxt, fire

    def elaborate(self, platform):
        m = Module()
        windows, phases = self.windows, self.phases
        members = member_rom(m, self.slots, windows, self.width)
        m.submodules.state = state_mem = Memory(shape=self.state_layout(),
                                                depth=max(windows, 2), init=[])
        state_write = state_mem.write_port()
        state_read = state_mem.read_port(transparent_for=(state_write,))
        map_read = members.read_port()

        # The clearing walk over the producer's spikes (after it is done), phase by phase.
        # The producer's buffer registers a phase's start address (off its read address
        # path), so each phase begins with a setup cycle. The count of a phase is looked up
        # a phase ahead (`ahead`, registered in `ahead_count`): no per-phase count mux lies
        # between `phase` and the decision to leave it.
        walking, setup = Signal(), Signal()
        phase = Signal(range(phases + 2), init=1)
        ahead = Signal(range(phases + 3), init=1)
        ahead_count, last = Signal.like(self.events.count), Signal.like(self.events.count)
        position = Signal.like(self.events.read_pos)
        reading = walking & ~setup
        m.d.sync += ahead_count.eq(self.events.ahead_count)
        m.d.comb += [self.events.phase.eq(phase), self.events.ahead.eq(ahead),
                     self.events.read_pos.eq(position), self.events.read_en.eq(reading)]

        # One op per stage (`stage_layout`); the member map gives the window and the slot
        # from T4 on.
        t1, t2, t3, t4, t5, t6 = (Signal(self.stage_layout(), name=f"t{index}")
                                  for index in range(1, 7))
        # T1: a tapped spike (registered) or the walk's event index.
        tap = self.tap.events
        t1_neuron = Signal.like(tap.payload.neuron)
        m.d.sync += [t1.valid.eq(tap.valid | reading), t1.clear.eq(reading),
                     t1.phase.eq(tap.payload.phase), t1_neuron.eq(tap.payload.neuron)]
        # T2: the tapped neuron and the walk's event index registered apart (the event
        # memory's output straight into a register), chosen into the member map's address.
        t2_neuron, t2_walked = Signal.like(t1_neuron), Signal.like(self.events.index)
        m.d.sync += [t2.eq(t1), t2_neuron.eq(t1_neuron), t2_walked.eq(self.events.index)]
        m.d.comb += [map_read.addr.eq(Mux(t2.clear, t2_walked, t2_neuron)), map_read.en.eq(1)]
        # T3: the window and slot arrive from the member map.
        m.d.sync += t3.eq(t2)
        target = map_read.data
        # T4: the window registered (no path from the member map's output into the state
        # memory's address and its read-write compare); the window's state is read.
        m.d.sync += [t4.eq(t3), t4.valid.eq(t3.valid & target.valid),
                     t4.window.eq(target.window), t4.slot.eq(target.slot)]
        m.d.comb += [state_read.addr.eq(t4.window), state_read.en.eq(1)]
        # T5: the window's state arrives from the memory and is registered; the op right
        # ahead (in T6, writing now) read before its own write lands, so an op for the
        # same window takes that write instead (the op two ahead wrote as this one read:
        # the read port's transparency covers it).
        m.d.sync += t5.eq(t4)
        t6_state = Signal(self.state_layout())
        forward = t6.valid & (t6.window == t5.window)
        m.d.sync += [t6.eq(t5), t6_state.eq(Mux(forward, state_write.data, state_read.data))]
        # T6: update and write back (zeros on the clearing walk); the pooled spike.
        nxt, fire = self.update(m, t6_state, t6.slot, t6.phase)
        # after reset: zeros to every window, before any pixel is taken
        clearing, clear_window = clear_after_reset(m, self.cleared, windows)
        m.d.comb += [state_write.addr.eq(Mux(clearing, clear_window, t6.window)),
                     state_write.data.eq(Mux(clearing | t6.clear, 0, nxt)),
                     state_write.en.eq(clearing | t6.valid)]
        # T7: the pooled spike leaves, registered (off the update's path).
        out = self.spikes.events
        m.d.sync += [out.valid.eq(t6.valid & ~t6.clear & fire),
                     out.payload.neuron.eq(t6.window), out.payload.phase.eq(t6.phase),
                     out.payload.sign.eq(0)]
        m.d.comb += self.spikes.clear.eq(self.tap.clear)

        # Sequencer of the clearing walk: Σ_t (1 + spikes of phase t) cycles.
        finishing = Signal(range(STREAM_FINISH_CYCLES + 1))

        def next_phase():
            with m.If(phase == phases):
                m.d.sync += [walking.eq(0), phase.eq(1), ahead.eq(1),
                             finishing.eq(STREAM_FINISH_CYCLES)]
            with m.Else():
                m.d.sync += [phase.eq(phase + 1), ahead.eq(ahead + 1), setup.eq(1)]

        # `ahead_count` holds the count of `phase` in its setup cycle: it was looked up in
        # the cycle before, when `ahead` was `phase` (the start cycle for phase 1: the
        # producer is done, its last spike written).
        with m.If(~walking & self.start):
            m.d.sync += [walking.eq(1), setup.eq(1), phase.eq(1), ahead.eq(2),
                         position.eq(0)]
        with m.Elif(walking & setup):
            m.d.sync += last.eq(ahead_count - 1)
            with m.If(ahead_count == 0):
                next_phase()
            with m.Else():
                m.d.sync += setup.eq(0)
        with m.Elif(walking):
            with m.If(position == last):
                m.d.sync += position.eq(0)
                next_phase()
            with m.Else():
                m.d.sync += position.eq(position + 1)
        with m.If(finishing != 0):
            m.d.sync += finishing.eq(finishing - 1)
            m.d.comb += self.done.eq(finishing == 1)
        return m
