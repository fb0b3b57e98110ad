"""Spike event storage between layers: the engine reads events of one phase at a time.

Two sources share one read interface (`EventSource`, seen from the reading engine):
- the input store (`hdl.input_store`): the pixels of one image as per-phase event lists;
- `EventBuffer`: the spikes a hidden layer emits, in the order it emits them (phase order),
  with a count and a start address per phase.
Only events are stored and read: a phase with no spikes costs no cycle. Events carry a
sign bit (`sign` = 1: the spike is -1) for codings with signed spikes (tsc); the other
sources and buffers keep it 0.
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


def EventSource(n_inputs: int, phases: int, max_phase: int) -> wiring.Signature:
    """Read side, from the engine's point of view. `index` is valid one cycle after a
    `read_en` at (`phase`, `read_pos`), and so is `sign`; `count` is the number of events
    of `phase`, `ahead_count` that of phase `ahead` (a second lookup, so that a reader can
    keep the counts of the phases to come in registers). `nonempty` / `several` say
    whether `phase` has at least one / two events (`ahead_...` for `ahead`): kept per phase
    in registers by the source, so that a reader decides on them without a compare."""
    return wiring.Signature({
        "phase": Out(range(max_phase + 1)),
        "ahead": Out(range(max_phase + 3)),
        "read_pos": Out(range(max(n_inputs, 2))),
        "read_en": Out(1),
        "count": In(range(n_inputs + 1)),
        "ahead_count": In(range(n_inputs + 1)),
        "nonempty": In(1),
        "several": In(1),
        "ahead_nonempty": In(1),
        "ahead_several": In(1),
        "index": In(range(max(n_inputs, 2))),
        "sign": In(1),
    })


def event_layout(n_neurons: int, phases: int) -> data.StructLayout:
    """One spike event: the neuron that fired, its sign (1: a -1 spike) and its phase."""
    return data.StructLayout({"neuron": range(max(n_neurons, 2)), "sign": 1,
                              "phase": range(phases + 1)})


def EventSink(n_neurons: int, phases: int) -> wiring.Signature:
    """Write side, from the producer's point of view: `events`, a stream of spike events
    (`amaranth.lib.stream`; the buffer takes one every cycle, so it is always ready), and
    `clear`, which empties the buffer before an image."""
    return wiring.Signature({
        "clear": Out(1),
        "events": Out(stream.Signature(event_layout(n_neurons, phases), always_ready=True)),
    })


class PhaseCounts:
    """Per-phase event counters (phases 1 .. `phases`) with the flags a reader decides on,
    `nonempty` (count ≥ 1) and `several` (count ≥ 2): one register per phase holding all
    three (one write decoder and one read multiplexer for the three)."""

    def __init__(self, n: int, phases: int, name: str = "count"):
        self.phases, self.width = phases, n.bit_length()
        # entry 0 is never written: a constant, so that a lookup of phase 0 needs no logic
        self.entries = [Const(0, self.width + 2)] + [
            Signal(self.width + 2, name=f"{name}_{t}") for t in range(1, phases + 1)]

    def count(self, phase: int):
        return self.entries[phase][:self.width]

    def nonempty(self, phase: int):
        return self.entries[phase][self.width]

    def write(self, m, phase, count, several) -> None:
        """Phase `phase` (1 .. phases) now holds `count` ≥ 1 events; `several`: whether
        that is 2 or more (given by the writer, which knows it without a lookup)."""
        value = Cat(count[:self.width], Const(1, 1), several)
        if isinstance(phase, int):
            m.d.sync += self.entries[phase].eq(value)
            return
        for t in range(1, self.phases + 1):
            with m.If(phase == t):
                m.d.sync += self.entries[t].eq(value)

    def clear(self) -> list:
        return [entry.eq(0) for entry in self.entries[1:]]

    def choose(self, other: "PhaseCounts", select) -> "PhaseCounts":
        """The counts of `other` where `select` is 1, else these (two input banks)."""
        chosen = PhaseCounts.__new__(PhaseCounts)
        chosen.phases, chosen.width = self.phases, self.width
        chosen.entries = [self.entries[0]] + [Mux(select, b, a) for a, b in
                                              zip(self.entries[1:], other.entries[1:])]
        return chosen

    def lookup(self, phase):
        """The entry of `phase`; 0 for phase 0 and beyond `phases`. The table is padded
        with zeros to every value `phase` can take, so no range check lies before the
        multiplexer (on the iCE40 its compare was two of the path's six LUTs)."""
        size = 1 << len(phase)
        padding = [Const(0, self.width + 2)] * max(size - len(self.entries), 0)
        return Array(self.entries + padding)[phase]

    def drive(self, m, read) -> None:
        """`count`, `nonempty`, `several` and their `ahead_` twins of an EventSource `read`
        (0 outside phases 1 .. phases)."""
        for phase, prefix in ((read.phase, ""), (read.ahead, "ahead_")):
            entry = Signal(self.width + 2, name=f"{prefix}entry")
            m.d.comb += entry.eq(self.lookup(phase))
            count = "ahead_count" if prefix else "count"
            m.d.comb += [getattr(read, count).eq(entry[:self.width]),
                         getattr(read, f"{prefix}nonempty").eq(entry[self.width]),
                         getattr(read, f"{prefix}several").eq(entry[self.width + 1])]


class EventBuffer(wiring.Component):
    """Holds up to `capacity` spikes of the producing layer (n_neurons × its spikes per neuron),
    written in phase order; at most one spike per neuron and phase. With `signed`, each
    event keeps its sign bit next to the neuron index. The start address of the read
    phase is registered (off the read address path): a reader sets `phase` at least one
    cycle before it reads at it, as a layer engine does (every phase begins with a STEP
    pass) and the max pooling units do (a setup cycle, or a phase set during DRAIN).

    `parts`: a function (word width, depth) → the widths of the memories the words are
    split over, low bits first (one address, one enable: the same reads in the same
    cycles). A board's block RAMs take some widths better than others: on the XC7 a
    12-bit word over 44,928 events takes 16.5 RAMB36 whole and 15.5 as 3 + 9 bits
    (`boards.fit.event_word_parts`). None: one memory."""

    def __init__(self, capacity: int, n_neurons: int, phases: int, max_phase: int,
                 signed: bool = False, parts=None):
        self.capacity, self.n_neurons, self.phases = capacity, n_neurons, phases
        self.signed = signed
        self.index_bits = (max(n_neurons, 2) - 1).bit_length()
        width = self.index_bits + int(signed)
        self.part_widths = tuple(parts(width, max(capacity, 2))) if parts else (width,)
        if sum(self.part_widths) != width or min(self.part_widths) < 1:
            raise ValueError(f"EventBuffer: parts {self.part_widths} do not split a "
                             f"{width}-bit event word")
        super().__init__({
            "write": In(EventSink(n_neurons, phases)),
            "read": In(EventSource(n_neurons, phases, max_phase)),
        })

    def elaborate(self, platform):
        m = Module()
        n, phases, capacity = self.n_neurons, self.phases, self.capacity
        index_bits = self.index_bits
        memories = [Memory(shape=width, depth=max(capacity, 2), init=[])
                    for width in self.part_widths]
        for number, memory in enumerate(memories):
            m.submodules["events" if len(memories) == 1 else f"events_{number}"] = memory
        counts = PhaseCounts(n, phases)
        starts = Array(Signal(range(max(capacity, 2)), name=f"start_{t}")
                       for t in range(phases + 1))
        write_ptr = Signal(range(capacity + 1))

        event, valid = self.write.events.payload, self.write.events.valid
        entry = Cat(event.neuron[:index_bits], event.sign) if self.signed else event.neuron
        writers = [memory.write_port() for memory in memories]
        low = 0
        for writer, width in zip(writers, self.part_widths):
            m.d.comb += [writer.addr.eq(write_ptr), writer.data.eq(entry[low:low + width]),
                         writer.en.eq(valid)]
            low += width
        # Spikes arrive in phase order: a phase begins where the written phase changes. The
        # running count of that phase is kept apart, so no per-phase mux is on this path.
        last_phase = Signal.like(event.phase)
        running = Signal(range(n + 1))
        begins = event.phase != last_phase
        count = Mux(begins, 1, running + 1)
        with m.If(self.write.clear):
            m.d.sync += [write_ptr.eq(0), last_phase.eq(0)]
            m.d.sync += counts.clear()
        with m.Elif(valid):
            m.d.sync += [write_ptr.eq(write_ptr + 1), last_phase.eq(event.phase),
                         running.eq(count)]
            counts.write(m, event.phase, count, several=~begins)
            with m.If(begins):
                m.d.sync += starts[event.phase].eq(write_ptr)

        readers = [memory.read_port() for memory in memories]
        base = Signal.like(write_ptr)
        m.d.sync += base.eq(starts[self.read.phase])
        counts.drive(m, self.read)
        read_addr = Signal.like(write_ptr)
        m.d.comb += read_addr.eq(base + self.read.read_pos)    # one adder for every part
        for reader in readers:
            m.d.comb += [reader.addr.eq(read_addr), reader.en.eq(self.read.read_en)]
        data = Cat(reader.data for reader in readers)
        m.d.comb += [self.read.index.eq(data[:index_bits]),
                     self.read.sign.eq(data[index_bits] if self.signed else 0)]
        return m
