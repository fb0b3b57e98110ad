"""The input store: the pixels of an image as the first layer's input events, in one memory.

An input coding sorts each pixel into event lists, one per input phase: list t holds the
pixels that spike at phase t (`InputPlanes`: bit 8 - t set, binary coding MSB first; tsc:
`hdl.cores.tsc.PixelPairs`). All lists of an image live in one memory, list t in its own
region of n_inputs slots, so the store takes one block RAM where a memory per list took
one each. A pixel goes into its lists one write per cycle: it is taken from the stream,
then `writes_per_pixel` cycles write it (slot s writes the pixel into the list
`slot_list(s)` names, if any), and the next pixel is taken in the last of them. An image
therefore loads in `writes_per_pixel` · n_inputs cycles.

With `banks = 2` the memory holds two images: the next image loads while the layers read
the current one (double buffering), and starts as soon as the current one's result has
been taken. With `banks = 1` (the memory-lean choice) loading waits for that result.

Handshake with `snn_top`: `start` pulses when a loaded image begins (its bank becomes the
one read); `release` (the result taken) frees that bank for loading.
"""
from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .events import EventSource, PhaseCounts


def InputSource(n_inputs: int, phases: int, max_phase: int,
                pixel_bits: int = 8) -> wiring.Signature:
    """An input store seen from `snn_top`: pixels in, `start` when an image begins,
    `release` when its result has been taken; the events read as from any EventSource."""
    return wiring.Signature({
        "pixels": In(stream.Signature(pixel_bits)),
        "start": Out(1),
        "release": In(1),
        "read": In(EventSource(n_inputs, phases, max_phase)),
    })


class InputStore(wiring.Component):
    """The lists of `banks` images in one memory (see the module's docstring). A coding
    defines `writes_per_pixel`, `code(m, pixel)` (a value derived from the pixel, registered
    when the pixel is taken), `slot_list(m, code, slot)` → (list, write?) and `sign(list)`
    (the events' sign bit)."""
    writes_per_pixel: int

    def __init__(self, n_inputs: int, phases: int, max_phase: int, pixel_bits: int = 8,
                 banks: int = 2):
        if banks not in (1, 2):
            raise ValueError(f"input store: banks must be 1 or 2, not {banks!r}")
        self.n_inputs, self.phases, self.pixel_bits = n_inputs, phases, pixel_bits
        self.banks = banks
        super().__init__(InputSource(n_inputs, phases, max_phase, pixel_bits))

    @property
    def depth(self) -> int:
        return self.banks * self.phases * self.n_inputs

    def list_base(self, bank: int, list_number: int) -> int:
        """The first slot of list `list_number` (1 .. phases) of `bank` in the memory."""
        return (bank * self.phases + max(list_number - 1, 0)) * self.n_inputs

    def code(self, m, pixel):
        return pixel

    def sign(self, list_number):
        return Const(0)

    def elaborate(self, platform):
        m = Module()
        n, lists, banks, slots = self.n_inputs, self.phases, self.banks, self.writes_per_pixel
        region = lists * n
        m.submodules.lists = memory = Memory(shape=range(max(n, 2)), depth=max(self.depth, 2),
                                             init=[])
        counts = [PhaseCounts(n, lists, name=f"count_{bank}") for bank in range(banks)]
        # (a bit even with one bank: a 0-bit signal is a [-1:0] range in Verilog)
        load_bank, read_bank = Signal(range(max(banks, 2))), Signal(range(max(banks, 2)))
        loaded = Signal()     # a whole image waits in the load bank
        running = Signal()    # an image is in the layers (start .. release)

        # --- loading: take a pixel, then write it into its lists, a slot per cycle -----
        coded = self.code(m, self.pixels.payload)
        code = Signal.like(coded, name="pixel_code")
        index, slot = Signal(range(max(n, 2)), name="pixel_index"), Signal(range(max(slots, 2)))
        holding = Signal()    # a pixel is being written
        last_slot = slot == slots - 1
        # the load bank is taken while an image waits in it (and, with one bank, while the
        # layers read it); the next image's first pixel waits for the last one's writes
        bank_taken = loaded | (running if banks == 1 else Const(0))
        image_ends = holding & (index == n - 1)
        m.d.comb += self.pixels.ready.eq(~bank_taken & ~image_ends & (~holding | last_slot))
        taken = self.pixels.valid & self.pixels.ready
        with m.If(holding):
            m.d.sync += slot.eq(Mux(last_slot, 0, slot + 1))
            with m.If(last_slot):
                m.d.sync += [holding.eq(0), index.eq(Mux(index == n - 1, 0, index + 1))]
                with m.If(index == n - 1):
                    m.d.sync += loaded.eq(1)
        with m.If(taken):
            m.d.sync += [holding.eq(1), code.eq(coded)]

        target, write = self.slot_list(m, code, slot)
        write = holding & write
        # Each list keeps its next write address beside its count (bank and region base
        # included), so the write address is a mux of registers, and each count
        # increments itself: no count mux and no adder lie between the slot and a
        # register.
        next_address = [Array(Signal(range(self.depth + 1), name=f"address_{bank}_{t}",
                                     init=self.list_base(bank, t))
                              for t in range(lists + 1)) for bank in range(banks)]
        writer = memory.write_port()
        m.d.sync += [writer.addr.eq(Array(next_address[bank][target]
                                          for bank in range(banks))[load_bank]),
                     writer.data.eq(index), writer.en.eq(write)]
        for bank in range(banks):
            for t in range(1, lists + 1):
                with m.If(write & (target == t) & (load_bank == bank)):
                    counts[bank].write(m, t, counts[bank].count(t) + 1,
                                       several=counts[bank].nonempty(t))
                    m.d.sync += next_address[bank][t].eq(next_address[bank][t] + 1)

        # --- an image starts when it is loaded and the one before has been taken --------
        m.d.comb += self.start.eq(loaded & ~running)
        with m.If(self.start):
            m.d.sync += [loaded.eq(0), running.eq(1), read_bank.eq(load_bank)]
            if banks > 1:
                m.d.sync += load_bank.eq(~load_bank)
        with m.If(self.release):
            m.d.sync += running.eq(0)
            for bank in range(banks):
                with m.If(read_bank == bank):
                    m.d.sync += counts[bank].clear()
                    m.d.sync += [next_address[bank][t].eq(self.list_base(bank, t))
                                 for t in range(lists + 1)]

        # --- reading: the engine sets a phase a cycle before it reads there -------------
        phase, read_phase = self.read.phase, Signal.like(self.read.phase)
        with m.If(self.read.read_en):
            m.d.sync += read_phase.eq(phase)
        read_counts = counts[0] if banks == 1 else counts[0].choose(counts[1], read_bank)
        read_counts.drive(m, self.read)
        base = Signal(range(max(self.depth, 2)))
        m.d.sync += base.eq((read_bank * region if banks > 1 else 0) + (phase - 1) * n)
        reader = memory.read_port()
        m.d.comb += [reader.addr.eq(base + self.read.read_pos), reader.en.eq(self.read.read_en),
                     self.read.index.eq(reader.data), self.read.sign.eq(self.sign(read_phase))]
        return m


class InputPlanes(InputStore):
    """Binary input coding: list t holds the pixels whose bit 8 - t is set (MSB first)."""

    @property
    def writes_per_pixel(self) -> int:
        return self.phases

    def slot_list(self, m, pixel, slot):
        bits = Signal(self.phases, name="slot_bit")
        m.d.comb += bits.eq(pixel[self.pixel_bits - self.phases:][::-1])
        return slot + 1, bits.bit_select(slot, 1)
