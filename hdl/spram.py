"""Weight tables in the iCE40 UP5K's single-port RAMs, loaded at run time.

The UP5K has 4 SPRAMs (`SB_SPRAM256KA`, 16384 words of 16 bits each, 1 Mbit in all) beside
its 30 block RAMs. A bitstream cannot initialise them, so tables kept there are written
after programming (over the UART: `boards/top.py`) and read by the layers like a ROM.

Layout (`SpramLayout`, shared by the RTL and the host's weight image): the SPRAMs form one
store of `rows` × `columns` SPRAMs; a store word is 16·columns bits, spread over the
columns (column 0 the lowest 16 bits), row r holds store words r·16384 .. r·16384+16383.
Each table (a `golden.roms.Rom`, word width W) packs `per_word` = the largest power of two
with per_word·W <= 16·columns of its words into one store word (table word i at store word
base + i // per_word, bits (i % per_word)·W up), and starts at its own store word `base`,
after the table before it. The weight image the host sends is the store words in order,
each little-endian.

The layers run one after another (a layer starts when the one before it is done), so at
most one table is read in a cycle: the tables share the SPRAMs' address bus, each read
enabled only while its layer is busy. A read behaves as a block-RAM read port: the data
arrives the cycle after the address and holds while the read is not enabled (an SPRAM
keeps DATAOUT while it is not selected).
"""
import math
from dataclasses import asdict, dataclass

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.vendor import SiliconBluePlatform

SPRAM_WORDS, SPRAM_WIDTH = 16384, 16
UP5K_SPRAMS = 4
STORE_NAME = "weight_store"      # the store's submodule name in snn_top


class SpramFull(ValueError):
    """The tables need more SPRAMs than the device has."""


@dataclass(frozen=True)
class SpramTable:
    name: str
    width: int          # bits per table word
    depth: int          # table words
    per_word: int       # table words per store word
    base: int           # first store word
    words: int          # store words it takes


class SpramLayout:
    """Where each table (a `golden.roms.Rom`) lives in the SPRAM store."""

    def __init__(self, roms, available: int = UP5K_SPRAMS):
        self.roms = list(roms)
        widest = max(rom.width for rom in self.roms)
        self.columns = math.ceil(widest / SPRAM_WIDTH)
        self.word_width = SPRAM_WIDTH * self.columns
        self.tables, base = [], 0
        for rom in self.roms:
            per_word = 1 << int(math.log2(self.word_width // rom.width))
            words = math.ceil(len(rom.words) / per_word)
            self.tables.append(SpramTable(rom.name, rom.width, len(rom.words), per_word,
                                          base, words))
            base += words
        self.words = base
        self.rows = math.ceil(self.words / SPRAM_WORDS)
        self.sprams = self.rows * self.columns
        if self.sprams > available:
            raise SpramFull(
                f"the weight tables {', '.join(t.name for t in self.tables)} need "
                f"{self.sprams} SPRAMs ({self.words} words of {self.word_width} bits) of the "
                f"{available} the device has")

    @property
    def image_bytes(self) -> int:
        return self.words * self.word_width // 8

    def store_words(self) -> list[int]:
        """The store's contents, address by address (what the weights_load port writes)."""
        words = []
        for rom, table in zip(self.roms, self.tables):
            for word_index in range(table.words):
                chunk = rom.words[word_index * table.per_word:(word_index + 1) * table.per_word]
                words.append(sum(value << (slot * table.width)
                                 for slot, value in enumerate(chunk)))
        return words

    def image(self) -> bytes:
        """The store words as the host sends them: in order, each little-endian."""
        size = self.word_width // 8
        return b"".join(word.to_bytes(size, "little") for word in self.store_words())

    def describe(self) -> dict:
        return {"sprams": self.sprams, "columns": self.columns, "rows": self.rows,
                "store_words": self.words, "image_bytes": self.image_bytes,
                "tables": [asdict(table) for table in self.tables]}


def read_signature(width: int, depth: int) -> wiring.Signature:
    """A layer's read of its table (the layer's side): a block-RAM read port's members."""
    return wiring.Signature({"addr": Out(range(max(depth, 2))), "en": Out(1),
                             "data": In(width)})


def write_signature(layout: SpramLayout) -> wiring.Signature:
    """The loader's side of the store: one store word written per `en` cycle."""
    return wiring.Signature({"addr": Out(range(max(layout.words, 2))), "en": Out(1),
                             "data": Out(layout.word_width)})


class Spram(wiring.Component):
    """One SPRAM: `SB_SPRAM256KA` on an iCE40 platform, else a behavioural model of it
    (write or read per cycle at one address; DATAOUT holds while not selected), so that
    snn_top.v simulates anywhere."""

    address: In(range(SPRAM_WORDS))
    data_in: In(SPRAM_WIDTH)
    write: In(1)
    select: In(1)
    data_out: Out(SPRAM_WIDTH)

    def elaborate(self, platform):
        m = Module()
        if isinstance(platform, SiliconBluePlatform):
            m.submodules.spram = Instance(
                "SB_SPRAM256KA", i_ADDRESS=self.address, i_DATAIN=self.data_in,
                i_MASKWREN=0b1111, i_WREN=self.write, i_CHIPSELECT=self.select,
                i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                o_DATAOUT=self.data_out)
            return m
        m.submodules.memory = memory = Memory(shape=unsigned(SPRAM_WIDTH), depth=SPRAM_WORDS,
                                              init=[])
        write_port = memory.write_port()
        read_port = memory.read_port()
        m.d.comb += [write_port.addr.eq(self.address), read_port.addr.eq(self.address),
                     write_port.data.eq(self.data_in),
                     write_port.en.eq(self.select & self.write),
                     read_port.en.eq(self.select & ~self.write),
                     self.data_out.eq(read_port.data)]
        return m


class SpramStore(wiring.Component):
    """The SPRAMs of `layout`: `reads[i]` serves table i (a layer), `load` writes store words."""

    def __init__(self, layout: SpramLayout):
        self.layout = layout
        super().__init__({
            "load": In(write_signature(layout)),
            **{f"read_{table.name}": In(read_signature(table.width, table.depth))
               for table in layout.tables}})

    def reads(self):
        return [getattr(self, f"read_{table.name}") for table in self.layout.tables]

    def elaborate(self, platform):
        m = Module()
        layout = self.layout
        store_address = Signal(range(max(layout.words, 2)))
        reading = Signal()
        # at most one table reads in a cycle (the layers take turns): an OR of the reads
        m.d.comb += reading.eq(Cat(*(port.en for port in self.reads())).any())
        for port, table in zip(self.reads(), layout.tables):
            shift = int(math.log2(table.per_word))
            with m.If(port.en):
                m.d.comb += store_address.eq(table.base + (port.addr >> shift))
        with m.If(self.load.en):
            m.d.comb += store_address.eq(self.load.addr)
        row = store_address >> int(math.log2(SPRAM_WORDS))
        row_data = []
        for row_index in range(layout.rows):
            columns = []
            for column in range(layout.columns):
                m.submodules[f"spram_{row_index}_{column}"] = spram = Spram()
                m.d.comb += [
                    spram.address.eq(store_address[:14]),
                    spram.data_in.eq(self.load.data[column * SPRAM_WIDTH:][:SPRAM_WIDTH]),
                    spram.write.eq(self.load.en),
                    spram.select.eq((row == row_index) & (reading | self.load.en))]
                columns.append(spram.data_out)
            row_data.append(Signal(layout.word_width, name=f"row_{row_index}_data"))
            m.d.comb += row_data[-1].eq(Cat(*columns))
        # each table's slice: the row and slot of its last read, registered with the read
        for port, table in zip(self.reads(), layout.tables):
            read_row = Signal(range(max(layout.rows, 2)), name=f"{table.name}_row")
            slot = Signal(range(max(table.per_word, 2)), name=f"{table.name}_slot")
            with m.If(port.en):
                m.d.sync += read_row.eq(row)
                if table.per_word > 1:
                    m.d.sync += slot.eq(port.addr[:int(math.log2(table.per_word))])
            word = Signal(layout.word_width, name=f"{table.name}_word")
            m.d.comb += word.eq(row_data[0])
            for row_index in range(1, layout.rows):
                with m.If(read_row == row_index):
                    m.d.comb += word.eq(row_data[row_index])
            m.d.comb += port.data.eq(word.word_select(slot, table.width)
                                     if table.per_word > 1 else word[:table.width])
        return m
