"""The ADD-stage addressing of the layer engine: which weight row and which state word an
input event touches, for each of the layer's receptive entries.

- `DenseAddressing`: input event i is weight row i (ROM word i·CG + cg) and touches every
  neuron (state word cg); one entry. Two stages: the event index arrives (A1), registered
  (A2). With a row map (`LayerGeometry.row_map`: average pooling folded into the layer
  repeats its rows) the ROM keeps each distinct row once and a third stage (A3) reads
  the map ROM, row_of[i], with A2's registered index.
- `ConvAddressing`: an input event at (c, q) walks the receptive table of q
  (`golden.conv.receptive_table`, padded to E entries): for each entry (output site p,
  kernel offset k) and each channel group cg, potential[p, cg] += kernel[cg·lanes + l, c, k].
  Five stages: the event index arrives (A1), the input-site ROM read (A2), its word
  c·KK·CG, q·E and the row's end (A3: q·E + entry registered), the receptive ROM read
  (A4), the receptive word p·CG, k·CG (A5). Kernel ROM word (c·KK + k)·CG + cg holds
  kernel[cg·lanes .. +lanes-1, c, k]. No memory output feeds another memory's address
  through logic: the ROMs are read with registered addresses (a small site ROM becomes
  logic, straight after the event memory it was the slowest path; a site ROM in block
  RAM followed by the adder into the receptive ROM's address was the next).
  A row shorter than E (a border position, padding) ends early: when its last real op
  is in A2, the sequencer drops the rest of the row (`row_end`); the two ops issued
  behind it are padding entries and pass as bubbles (`golden.geometry.event_ops`). The
  flag is registered, raised by the op two before the last real one while it is in A3
  (the site ROM's word says which op that is), so no path runs from a ROM into the
  sequencer. A compact table (`LayerGeometry.compact_receptive`) holds one row per class of
  positions (`golden.conv.ReceptiveClasses`): the site ROM gives the class's row (q·E
  becomes class·E) and the position's anchor·CG; anchor·CG + cg goes along registered
  (A4, A5), where the entry's offset Δ·CG is added (stored modulo the state address
  range: the sum wraps to p·CG + cg exactly).

Both return an `EventAddress` for the op in their last stage, from which the engine
registers the memory addresses: at most one adder after a memory output or a multiplier
on the way, so that no address path limits the clock.
"""
from dataclasses import dataclass

from amaranth.hdl import Const, Signal
from amaranth.lib import data
from amaranth.lib.memory import Memory

from golden.conv import extract_kernel, receptive_classes, receptive_table
from golden.geometry import EARLY_END_LEAD, distinct_rows
from golden.roms import Rom, vector_rom, weight_rom

from .cores import Op


class UnsupportedLayer(ValueError):
    """A layer of the integer network that the RTL engines cannot run (yet)."""


@dataclass
class EventAddress:
    """For the ADD op in the addressing's last stage: its weight ROM word, its state RAM
    word, and whether its receptive entry is real (not padding); `row_end`: the op in A2
    is its event's last real op and the sequencer may skip the rest of the row."""
    weight: object
    state: object
    entry_valid: object
    row_end: object


class DenseAddressing:
    bias_per_site = False

    def __init__(self, layer, geometry):
        self.layer, self.geometry = layer, geometry
        self.rows, self.row_of = (distinct_rows(layer.weight) if geometry.row_map
                                  else (layer.weight, None))

    def roms(self, name: str, params, lanes: int) -> list[Rom]:
        roms = [weight_rom(f"{name}_weights", self.rows, params.weight_width, lanes),
                vector_rom(f"{name}_bias", self.layer.bias, params.bias_width, lanes)]
        if self.geometry.row_map:
            width = max(1, (len(self.rows) - 1).bit_length())
            roms.append(Rom(f"{name}_rowmap", width, [int(r) for r in self.row_of]))
        return roms

    def elaborate(self, m, index, stages, advance) -> EventAddress:
        """`index`: the event index of the op in A2 (registered); `stages`: the op records
        of A1, A2 (and A3 with a row map)."""
        groups = self.geometry.groups_per_site
        if not self.geometry.row_map:
            return EventAddress(weight=index * groups + stages[1].cg, state=stages[1].cg,
                                entry_valid=Const(1), row_end=Const(0))
        m.submodules.row_map = row_map = Memory(
            shape=range(max(len(self.rows), 2)), depth=max(len(self.row_of), 2),
            init=[int(r) for r in self.row_of])
        row_read = row_map.read_port()
        m.d.comb += [row_read.addr.eq(index), row_read.en.eq(advance)]
        return EventAddress(weight=row_read.data * groups + stages[2].cg, state=stages[2].cg,
                            entry_valid=Const(1), row_end=Const(0))


class ConvAddressing:
    def __init__(self, layer, geometry):
        self.layer, self.geometry = layer, geometry
        if layer.schedule.is_output:
            raise UnsupportedLayer(f"{layer.name}: a convolution as the output layer has no "
                                   "RTL (end the network with a dense layer)")
        try:
            kernel = extract_kernel(layer.weight.T, layer.conv)
        except ValueError as error:
            raise UnsupportedLayer(f"{layer.name}: {error}") from None
        c_out, self.c_in = kernel.shape[:2]
        self.kk = kernel.shape[2] * kernel.shape[3]
        # ROM rows c·KK + k (input channel, kernel offset), columns the output channels
        self.kernel = kernel.transpose(1, 2, 3, 0).reshape(-1, c_out)
        bias = layer.bias.reshape(c_out, geometry.sites)
        # One bias per channel, or per (site, channel) when they differ within a channel: a
        # normalised input's mean folded into a padded first convolution (border sites see
        # fewer inputs, golden.convert.fold_input_contract).
        self.bias_per_site = not (bias == bias[:, :1]).all()
        self.bias = bias.T if self.bias_per_site else bias[:, 0]
        self.table = receptive_table(layer.conv)
        # compact: the ROM rows are the classes' rows, relative to each position's anchor
        self.classes = receptive_classes(layer.conv) if geometry.compact_receptive else None
        # built once: the ROM files, the report and the memories all read them
        self.layouts, self.fields = self.table_layouts(), self.table_fields()

    def table_layouts(self) -> dict:
        """Field layouts of the input-site and receptive ROM words, as narrow as their values."""
        g = self.geometry
        positions = self.layer.conv.in_shape[1] * self.layer.conv.in_shape[2]
        rows = positions if self.classes is None else len(self.classes.rows)
        anchor = {} if self.classes is None else {"anchor": range(max(g.groups, 2))}
        return {
            "sites": data.StructLayout({
                "rf_base": range(max(rows * g.entries, 2)),
                "row_base": range(max(self.c_in * self.kk * g.groups_per_site, 2)),
                "ends_early": 1, "flag_entry": range(max(g.entries, 2)), **anchor}),
            "receptive": data.StructLayout({
                "valid": 1, "state_base": range(max(g.groups, 2)),
                "weight_offset": range(max(self.kk * g.groups_per_site, 2))})}

    def table_fields(self) -> dict:
        """Per word of the input-site ROM (by input index) and of the receptive ROM (by
        q·E + entry): the field values."""
        g = self.geometry
        groups, entries = g.groups_per_site, g.entries
        positions = self.layer.conv.in_shape[1] * self.layer.conv.in_shape[2]
        classes = self.classes
        sites = [{"rf_base": (q if classes is None else classes.row_of[q]) * entries,
                  "row_base": c * self.kk * groups,
                  "ends_early": int(g.ends_early(len(self.table[q]))),
                  "flag_entry": self.flag_entry(len(self.table[q])),
                  **({} if classes is None else {"anchor": classes.anchors[q] * groups})}
                 for c in range(self.c_in) for q in range(positions)]
        # compact: Δ·CG modulo the state address range, so that anchor·CG + cg + Δ·CG
        # wraps to p·CG + cg
        wrap = 1 << self.state_width
        receptive = []
        for row in self.table if classes is None else classes.rows:
            receptive += [{"valid": 1, "state_base": site * groups % wrap,
                           "weight_offset": k * groups} for site, k in row]
            receptive += [{"valid": 0, "state_base": 0, "weight_offset": 0}] * (entries - len(row))
        return {"sites": sites, "receptive": receptive}

    @property
    def state_width(self) -> int:
        """Bits of a state word's address (its range: the layer's groups)."""
        return max(1, (self.geometry.groups - 1).bit_length())

    def flag_entry(self, length: int) -> int:
        """The entry of the op that raises a short row's flag (channel group `flag_group`):
        EARLY_END_LEAD ops before the row's last real op."""
        groups = self.geometry.groups_per_site
        if not self.geometry.ends_early(length):
            return 0
        return (length * groups - 1 - EARLY_END_LEAD) // groups

    @property
    def flag_group(self) -> int:
        """The same for every row: an event's ops go entry by entry, group by group."""
        return (-1 - EARLY_END_LEAD) % self.geometry.groups_per_site

    def roms(self, name: str, params, lanes: int) -> list[Rom]:
        layouts, fields = self.layouts, self.fields
        tables = [Rom(f"{name}_{table}", layouts[table].size,
                      [layouts[table].const(f).as_value().value for f in fields[table]])
                  for table in ("sites", "receptive")]
        bias_rom = weight_rom if self.bias_per_site else vector_rom
        return [weight_rom(f"{name}_weights", self.kernel, params.weight_width, lanes),
                bias_rom(f"{name}_bias", self.bias, params.bias_width, lanes), *tables]

    def elaborate(self, m, index, stages, advance) -> EventAddress:
        """`index`: the event index of the op in A2 (registered); `stages`: the op records
        of A1 .. A5 (A5 gives the addresses)."""
        layouts, fields = self.layouts, self.fields
        memories = {}
        for table in ("sites", "receptive"):
            words = [layouts[table].const(f) for f in fields[table]]
            memories[table] = Memory(shape=layouts[table], depth=max(len(words), 2), init=words)
            m.submodules[table] = memories[table]
        site_read = memories["sites"].read_port()
        receptive_read = memories["receptive"].read_port()
        row_range = range(max(self.c_in * self.kk * self.geometry.groups_per_site, 2))
        row, a5_row = Signal(row_range, name="a4_weight_row"), Signal(row_range, name="a5_row")
        receptive_address = Signal.like(receptive_read.addr, name="a4_receptive_address")
        in_a3 = stages[2]
        m.d.comb += [site_read.addr.eq(index), site_read.en.eq(advance),
                     receptive_read.addr.eq(receptive_address),
                     receptive_read.en.eq(advance)]
        with m.If(advance):
            m.d.sync += [receptive_address.eq(site_read.data.rf_base + in_a3.entry),
                         row.eq(site_read.data.row_base + in_a3.cg), a5_row.eq(row)]
        entry, site = receptive_read.data, site_read.data
        # registered: raised while the op EARLY_END_LEAD before the row's last real op is
        # in A3, so it is up while the last real op is in A2
        row_end = Signal(name="a2_row_end")
        with m.If(advance):
            m.d.sync += row_end.eq(in_a3.valid & (in_a3.kind == Op.ADD) & site.ends_early
                                   & (in_a3.entry == site.flag_entry)
                                   & (in_a3.cg == self.flag_group))
        if self.classes is None:
            state = entry.state_base + stages[4].cg
        else:
            origin = Signal(range(max(self.geometry.groups, 2)), name="a4_origin")
            a5_origin = Signal.like(origin, name="a5_origin")
            with m.If(advance):
                m.d.sync += [origin.eq(site.anchor + in_a3.cg), a5_origin.eq(origin)]
            state = (entry.state_base + a5_origin)[:self.state_width]
        return EventAddress(weight=a5_row + entry.weight_offset, state=state,
                            entry_valid=entry.valid, row_end=row_end)


def addressing_for(layer, geometry):
    return DenseAddressing(layer, geometry) if layer.conv is None else ConvAddressing(
        layer, geometry)
