"""A residual merge's second event source (docs/codings.md §7, `golden.graph`).

A merge layer reads two sources: the layer before it (the branch F) and the block's
input x (the shortcut). Its engine is an ordinary layer engine whose inputs are both
sources side by side: the branch's neurons first, then the shortcut's.

- `ShortcutTap` copies x's spikes, as x's engine emits them, into a buffer of their own
  (an `EventBuffer`), keeping the neurons the shortcut reads (`Source.select`: every s-th
  row and column for a strided 1x1 shortcut) and numbering them by their place there. x's
  own buffer feeds the next layer as before, and the shortcut's buffer is only read when
  the merge runs: the layers run one after another, so it holds the image's spikes until
  then (the delay the phase and tsc schedules need, §7).
- `EventConcat` shows the merge's engine one event source: phase k holds the branch's
  events of phase k, then the shortcut's, whose indices follow the branch's neurons.
"""
import numpy as np
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .events import EventSink, EventSource


class ShortcutTap(wiring.Component):
    """x's spikes (`tap`, a copy of its engine's stream) → the shortcut's (`spikes`). With
    a selection, a table (a word per x neuron: its place + 1, 0 if not read) renumbers
    them, two cycles later (the table's read, then a register: a block RAM's output is
    slow, and nothing waits for these spikes); the identity passes them through."""

    def __init__(self, select: np.ndarray | None, n_source: int, phases: int):
        self.identity = select is None or np.array_equal(select, np.arange(n_source))
        self.select = np.arange(n_source) if select is None else np.asarray(select)
        self.n_source, self.phases = n_source, phases
        super().__init__({
            "tap": In(EventSink(n_source, phases)),
            "spikes": Out(EventSink(len(self.select), phases)),
        })

    def table(self) -> list[int]:
        """Per x neuron: its place in the selection + 1, or 0."""
        words = [0] * self.n_source
        for place, neuron in enumerate(self.select.tolist()):
            words[neuron] = place + 1
        return words

    def elaborate(self, platform):
        m = Module()
        tap, out = self.tap.events, self.spikes.events
        m.d.comb += self.spikes.clear.eq(self.tap.clear)
        if self.identity:
            m.d.comb += [out.valid.eq(tap.valid), out.payload.eq(tap.payload)]
            return m
        words = self.table()
        m.submodules.places = places = Memory(shape=range(len(self.select) + 1),
                                              depth=max(len(words), 2), init=words)
        read = places.read_port()
        m.d.comb += read.addr.eq(tap.payload.neuron)
        valid, phase, sign = Signal(), Signal.like(tap.payload.phase), Signal()
        m.d.sync += [valid.eq(tap.valid), phase.eq(tap.payload.phase),
                     sign.eq(tap.payload.sign)]
        m.d.sync += [out.valid.eq(valid & (read.data != 0)),
                     out.payload.neuron.eq(read.data - 1),
                     out.payload.phase.eq(phase), out.payload.sign.eq(sign)]
        return m


class EventConcat(wiring.Component):
    """The merge's event source: `first` (the branch's buffer, `n_first` neurons) and
    `second` (the shortcut's), phase by phase, the second's indices after the first's."""

    def __init__(self, n_first: int, n_second: int, phases: int, max_phase: int):
        self.n_first = n_first
        super().__init__({
            "read": In(EventSource(n_first + n_second, phases, max_phase)),
            "first": Out(EventSource(n_first, phases, max_phase)),
            "second": Out(EventSource(n_second, phases, max_phase)),
        })

    def elaborate(self, platform):
        m = Module()
        read, first, second = self.read, self.first, self.second
        for source in (first, second):
            m.d.comb += [source.phase.eq(read.phase), source.ahead.eq(read.ahead)]
        m.d.comb += [
            read.count.eq(first.count + second.count),
            read.ahead_count.eq(first.ahead_count + second.ahead_count),
            read.nonempty.eq(first.nonempty | second.nonempty),
            read.several.eq(first.several | second.several
                            | (first.nonempty & second.nonempty)),
            read.ahead_nonempty.eq(first.ahead_nonempty | second.ahead_nonempty),
            read.ahead_several.eq(first.ahead_several | second.ahead_several
                                  | (first.ahead_nonempty & second.ahead_nonempty)),
        ]
        in_second = Signal()
        m.d.comb += [in_second.eq(read.read_pos >= first.count),
                     first.read_pos.eq(read.read_pos),
                     second.read_pos.eq(read.read_pos - first.count),
                     first.read_en.eq(read.read_en & ~in_second),
                     second.read_en.eq(read.read_en & in_second)]
        # the index comes a cycle after the read: remember which source it is read from
        from_second = Signal()
        with m.If(read.read_en):
            m.d.sync += from_second.eq(in_second)
        m.d.comb += [read.index.eq(Mux(from_second, second.index + self.n_first, first.index)),
                     read.sign.eq(Mux(from_second, second.sign, first.sign))]
        return m
