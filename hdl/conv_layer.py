"""Event-driven convolution engine: kernel ROM, state RAM addressed by (position, channel).

The same cores, schedule and spike output as the fully-connected engine (`hdl.layer`);
only the addressing differs. Neuron (o, y, x) of the C_out×H_out×W_out map, golden index
o·H_out·W_out + p with p = y·W_out + x, lives in state word p·CG + cg, lane l, where
o = cg·lanes + l and CG = ceil(C_out / lanes): `lanes` output channels in parallel.

    STEP pass  over the sites p and channel groups cg            (as the dense engine)
    ADD        an input event at (c, q) walks the receptive table of q,
               `golden.conv.receptive_table` padded to E entries: for each entry
               (output position p, kernel offset k) and each cg, potential[p, cg] +=
               kernel[cg·lanes + l, c, k]; padding entries are bubbles.

Pipeline: A0 (sequencer; event memory read) → A1 (input-site ROM: c·KK·CG and q·E) →
A2 (receptive ROM: p·CG and k·CG) → A3 (kernel ROM, state RAM, bias, thresholds) → B
(cores). ROMs: kernel word (c·KK + k)·CG + cg holds kernel[cg·lanes .. +lanes-1, c, k];
bias word cg holds the channels' biases (word p·CG + cg, as the state, when biases differ
between sites: an input mean folded into a padded first convolution).
"""
from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

from golden.conv import extract_kernel, receptive_table
from golden.roms import Rom, groups_of, table_rom, vector_rom, weight_rom

from .cores import Op
from .layer import LayerEngine, StageB, UnsupportedLayer


def conv_tables(layer) -> dict:
    """Kernel (C_in·KK, C_out), per-channel bias, receptive table and its padded length."""
    geometry = layer.conv
    if layer.schedule.is_output:
        raise UnsupportedLayer(f"{layer.name}: a convolution as the output layer has no "
                               "RTL (end the network with a dense layer)")
    try:
        kernel = extract_kernel(layer.weight.T, geometry)
    except ValueError as error:
        raise UnsupportedLayer(f"{layer.name}: {error}") from None
    c_out, c_in = kernel.shape[:2]
    sites = geometry.out_shape[1] * geometry.out_shape[2]
    bias = layer.bias.reshape(c_out, sites)
    # One bias per channel, or per (site, channel) when they differ within a channel: a
    # normalised input's mean folded into a padded first convolution (border sites see
    # fewer inputs, golden.convert.fold_input_contract).
    per_site = not (bias == bias[:, :1]).all()
    table = receptive_table(geometry)
    # ROM rows c·KK + k (input channel, kernel offset), columns the output channels
    return {"kernel": kernel.transpose(1, 2, 3, 0).reshape(-1, c_out),
            "bias": bias.T if per_site else bias[:, 0], "bias_per_site": per_site,
            "table": table,
            "entries": max(1, max(len(entries) for entries in table)), "sites": sites}


class ConvLayerEngine(LayerEngine):
    def __init__(self, layer, lanes: int, core_module, name: str):
        self.tables = conv_tables(layer)
        super().__init__(layer, lanes, core_module, name)
        c_out = layer.conv.out_shape[0]
        self.lanes = min(lanes, c_out)
        self.groups_per_site = groups_of(c_out, self.lanes)
        self.sites = self.tables["sites"]
        self.groups = self.sites * self.groups_per_site
        self.lane_count = c_out
        self.fields = self.table_fields()

    def layouts(self) -> dict:
        """Field layouts of the input-site and receptive ROM words, as narrow as their values."""
        c_in, height, width = self.layer.conv.in_shape
        groups, entries = self.groups_per_site, self.tables["entries"]
        kk = self.tables["kernel"].shape[0] // c_in
        return {
            "sites": data.StructLayout({"rf_base": range(max(height * width * entries, 2)),
                                        "row_base": range(max(c_in * kk * groups, 2))}),
            "receptive": data.StructLayout({"valid": 1,
                                            "state_base": range(max(self.groups, 2)),
                                            "weight_offset": range(max(kk * groups, 2))})}

    def table_fields(self) -> dict:
        """Per word of the input-site ROM (by input index) and of the receptive ROM (by
        q·E + entry): the field values."""
        c_in, height, width = self.layer.conv.in_shape
        groups, entries = self.groups_per_site, self.tables["entries"]
        kk = self.tables["kernel"].shape[0] // c_in
        positions = height * width
        sites = [{"rf_base": (i % positions) * entries, "row_base": (i // positions) * kk * groups}
                 for i in range(c_in * positions)]
        receptive = []
        for row in self.tables["table"]:
            receptive += [{"valid": 1, "state_base": site * groups, "weight_offset": k * groups}
                          for site, k in row]
            receptive += [{"valid": 0, "state_base": 0, "weight_offset": 0}] * (entries - len(row))
        return {"sites": sites, "receptive": receptive}

    def pack_roms(self) -> list[Rom]:
        p, t = self.layer.neuron_params, self.tables
        layouts, fields = self.layouts(), self.fields
        packed = {name: Rom(f"{self.name}_{name}", layouts[name].size,
                            [layouts[name].const(f).as_value().value for f in fields[name]])
                  for name in ("sites", "receptive")}
        return [weight_rom(f"{self.name}_weights", t["kernel"], p.weight_width, self.lanes),
                (weight_rom if t["bias_per_site"] else vector_rom)(
                    f"{self.name}_bias", t["bias"], p.bias_width, self.lanes),
                packed["sites"], packed["receptive"],
                table_rom(f"{self.name}_thresholds", self.layer.threshold_table,
                          p.threshold_width)]

    def elaborate(self, platform):
        m = Module()
        layer, lanes, schedule = self.layer, self.lanes, self.schedule
        params = layer.neuron_params
        groups, sites, entries = self.groups_per_site, self.sites, self.tables["entries"]
        c_in, height, width = layer.conv.in_shape
        kk = self.tables["kernel"].shape[0] // c_in
        positions = height * width
        roms = {rom.name.rsplit("_", 1)[1]: rom for rom in self.roms()}

        def memory(name, shape, depth, words):
            m.submodules[name] = mem = Memory(shape=shape, depth=max(depth, 2), init=words)
            return mem

        layouts, fields = self.layouts(), self.fields
        row_range = range(max(c_in * kk * groups, 2))
        state_range = range(max(sites * groups, 2))
        weights = memory("weights", unsigned(roms["weights"].width), len(roms["weights"].words),
                         roms["weights"].words)
        bias = memory("bias", unsigned(roms["bias"].width), len(roms["bias"].words),
                      roms["bias"].words)
        site_rom = memory("sites", layouts["sites"], c_in * positions,
                          [layouts["sites"].const(f) for f in fields["sites"]])
        receptive = memory("receptive", layouts["receptive"], len(fields["receptive"]),
                           [layouts["receptive"].const(f) for f in fields["receptive"]])
        state_shape = data.ArrayLayout(self.core_module.state_layout(params), lanes)
        state = memory("state", state_shape, sites * groups, [])
        thresholds = memory("thresholds", unsigned(params.threshold_width),
                            len(layer.threshold_table), roms["thresholds"].words)

        # --- A0: sequencer -------------------------------------------------------------
        def stage(suffix):
            return {"valid": Signal(name=f"valid_{suffix}"),
                    "kind": Signal(Op, name=f"kind_{suffix}"),
                    "phase": Signal(range(self.last_step + 1), name=f"phase_{suffix}"),
                    "site": Signal(range(max(sites, 2)), name=f"site_{suffix}"),
                    "cg": Signal(range(max(groups, 2)), name=f"cg_{suffix}"),
                    "entry": Signal(range(max(entries, 2)), name=f"entry_{suffix}")}
        a, n = stage("a0"), stage("next")
        a_pos = Signal.like(self.events.read_pos)
        n_pos = Signal.like(a_pos)
        stall = Signal()
        advance = ~stall
        m.d.comb += [self.events.phase.eq(a["phase"]), self.events.read_pos.eq(a_pos),
                     self.events.read_en.eq(advance & a["valid"] & (a["kind"] == Op.ADD))]
        has_events = (a["phase"] <= schedule.input_phases) & (self.events.count != 0)
        m.d.comb += [n[k].eq(a[k]) for k in a] + [n_pos.eq(a_pos)]

        def next_phase():
            with m.If(a["phase"] != self.last_step):
                m.d.comb += [n["kind"].eq(Op.STEP), n["phase"].eq(a["phase"] + 1),
                             n["site"].eq(0), n["cg"].eq(0)]
            with m.Else():
                m.d.comb += n["valid"].eq(0)

        with m.If(a["cg"] != groups - 1):
            m.d.comb += n["cg"].eq(a["cg"] + 1)
        with m.Else():
            m.d.comb += n["cg"].eq(0)
            with m.Switch(a["kind"]):
                with m.Case(Op.STEP):
                    with m.If(a["site"] != sites - 1):
                        m.d.comb += n["site"].eq(a["site"] + 1)
                    with m.Elif(has_events):
                        m.d.comb += [n["kind"].eq(Op.ADD), n["entry"].eq(0), n_pos.eq(0)]
                    with m.Else():
                        next_phase()
                with m.Case(Op.ADD):
                    with m.If(a["entry"] != entries - 1):
                        m.d.comb += n["entry"].eq(a["entry"] + 1)
                    with m.Elif(a_pos != self.events.count - 1):
                        m.d.comb += [n["entry"].eq(0), n_pos.eq(a_pos + 1)]
                    with m.Else():
                        next_phase()

        # --- A1 .. A3 and B pipeline registers ----------------------------------------------
        a1, a2, a3 = stage("a1"), stage("a2"), stage("a3")
        a2_negative, a3_negative, b_negative = Signal(), Signal(), Signal()
        b_valid, b_kind = Signal(), Signal(Op)
        b_phase, b_site, b_cg = Signal.like(a["phase"]), Signal.like(a["site"]), Signal.like(a["cg"])
        b_fresh = Signal()
        m.d.sync += b_fresh.eq(advance)

        site_read, receptive_read = site_rom.read_port(), receptive.read_port()
        state_write = state.write_port()
        state_read = state.read_port(transparent_for=(state_write,))
        weight_read, bias_read = weights.read_port(), bias.read_port()
        threshold_read = thresholds.read_port()
        a3_row_base = Signal(row_range)
        entry = receptive_read.data
        a3_is_add = a3["kind"] == Op.ADD
        with m.If(advance):
            m.d.sync += [a[k].eq(n[k]) for k in a] + [a_pos.eq(n_pos)]
            m.d.sync += [a1[k].eq(a[k]) for k in a] + [a2[k].eq(a1[k]) for k in a]
            m.d.sync += [a3[k].eq(a2[k]) for k in a]
            m.d.sync += [a2_negative.eq(self.events.sign), a3_negative.eq(a2_negative),
                         b_negative.eq(a3_negative), a3_row_base.eq(site_read.data.row_base),
                         b_valid.eq(a3["valid"] & (~a3_is_add | entry.valid)),
                         b_kind.eq(a3["kind"]), b_phase.eq(a3["phase"]),
                         b_site.eq(a3["site"]), b_cg.eq(a3["cg"])]

        busy, best_valid = Signal(), Signal()
        with m.If(~busy & self.start):
            m.d.sync += [busy.eq(1), a["valid"].eq(1), a["kind"].eq(Op.STEP), a["phase"].eq(1),
                         a["site"].eq(0), a["cg"].eq(0), a["entry"].eq(0), a_pos.eq(0)]
        in_flight = a["valid"] | a1["valid"] | a2["valid"] | a3["valid"] | b_valid
        with m.If(busy & ~in_flight):
            m.d.sync += busy.eq(0)
            m.d.comb += self.done.eq(1)

        # --- A1: input site; A2: receptive entry; A3: kernel, state, bias, thresholds ---
        step_address = a3["site"] * groups + a3["cg"]
        m.d.comb += [
            site_read.addr.eq(self.events.index), site_read.en.eq(advance),
            receptive_read.addr.eq(site_read.data.rf_base + a2["entry"]),
            receptive_read.en.eq(advance),
            weight_read.addr.eq(a3_row_base + entry.weight_offset + a3["cg"]),
            weight_read.en.eq(advance),
            state_read.addr.eq(Mux(a3_is_add, entry.state_base + a3["cg"], step_address)),
            state_read.en.eq(advance),
            bias_read.addr.eq(step_address if self.tables["bias_per_site"] else a3["cg"]),
            bias_read.en.eq(advance),
            threshold_read.addr.eq(a3["phase"] - (schedule.emit_offset + 1)),
            threshold_read.en.eq(advance),
        ]
        # The A3 → B state address, for the write-back in B.
        b_state_address = Signal(state_range)
        with m.If(advance):
            m.d.sync += b_state_address.eq(state_read.addr)
        m.d.comb += [state_write.addr.eq(b_state_address), state_write.en.eq(b_valid)]

        # --- B: the cores ----------------------------------------------------------------
        self.stage_b(m, StageB(b_valid, b_kind, b_phase, b_negative, b_fresh, b_cg,
                               neuron_base=b_cg * (lanes * sites) + b_site,
                               neuron_stride=sites),
                     state_read.data, state_write, bias_read.data, weight_read.data,
                     threshold_read.data, busy, best_valid, stall)
        return m

