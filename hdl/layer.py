"""Fully-connected layer engine: weight ROM, state RAM, threshold table, `lanes` cores.

Schedule of one inference (the golden cycle model in `golden/cycles.py` mirrors it):

    for k in 1 .. last_step:                       hidden: T+w+1, output: T
        STEP pass  over the groups g = 0..G-1       scale v; fire for phase k-1-w
        ADD  pass  for each input event of phase k, over the groups
    READ pass over the groups                      output layer only: argmax

G = ceil(n_out / lanes); one operation per cycle on `lanes` neurons at once. A STEP op
whose group fires n > 1 neurons holds the pipeline n - 1 extra cycles: spikes leave one
per cycle. The extra STEP pass k = T+w+1 of a hidden layer only makes the last compare.
For codings with signed spikes (`Schedule.signed_spikes`, tsc) an ADD of a -1 input event
hands the cores the negated weight, and each emitted spike carries the core's sign.

Pipeline: A0 (sequencer; reads the event memory) → A1 .. Ak (the ADD addressing of
`hdl.addressing`: dense k = 1, convolution k = 3) → Ak reads the weight ROM, state RAM,
bias ROM and threshold ROM → B (cores compute; state written back; spikes emitted). The
state RAM read is transparent to its write port, so B's write is seen by the next op's
read even when both touch the same word. A dense layer is a convolution with one site and
one receptive entry per event (`golden.geometry`): one sequencer walks both.
"""
from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.geometry import layer_geometry
from golden.roms import Rom, table_rom

from .addressing import UnsupportedLayer, addressing_for  # noqa: F401  (re-exported)
from .cores import Op
from .events import EventSink, EventSource


def op_layout(geometry, last_step: int) -> data.StructLayout:
    """One op as it moves down the pipeline."""
    return data.StructLayout({
        "valid": 1, "kind": Op, "phase": range(last_step + 1),
        "site": range(max(geometry.sites, 2)), "cg": range(max(geometry.groups_per_site, 2)),
        "entry": range(max(geometry.entries, 2)),
        "negative": 1,          # the input event is a -1 spike (signed codings)
    })


class LayerEngine(wiring.Component):
    """One layer: `geometry.lanes` cores over the layer's neurons, the memories, the schedule."""

    def __init__(self, *, layer, lanes: int, core_module, name: str):
        self.layer, self.core_module, self.name = layer, core_module, name
        self.geometry = layer_geometry(layer, lanes)
        self.addressing = addressing_for(layer, self.geometry)
        self.lanes, self.groups = self.geometry.lanes, self.geometry.groups
        self.schedule = schedule = layer.schedule
        self.last_step = schedule.step_passes
        members = {
            "start": In(1),
            "done": Out(1),
            "events": Out(EventSource(layer.n_in, schedule.input_phases, self.last_step)),
        }
        if schedule.is_output:
            members["result"] = Out(range(max(layer.n_out, 2)))
        else:
            members["spikes"] = Out(EventSink(layer.n_out, schedule.output_phases))
        super().__init__(members)

    def roms(self) -> list[Rom]:
        """The constant tables of this layer, packed as in the RTL memories (packed once:
        the memories, the ROM files and the reports all read them)."""
        if not hasattr(self, "_roms"):
            params = self.layer.neuron_params
            self._roms = self.addressing.roms(self.name, params, self.lanes)
            if not self.schedule.is_output:
                self._roms.append(table_rom(f"{self.name}_thresholds",
                                            self.layer.threshold_table, params.threshold_width))
        return self._roms

    def elaborate(self, platform):
        m = Module()
        layer, geometry, schedule = self.layer, self.geometry, self.schedule
        params = layer.neuron_params
        lanes, groups, sites = self.lanes, geometry.groups_per_site, geometry.sites
        hidden = not schedule.is_output
        roms = {rom.name.rsplit("_", 1)[1]: rom for rom in self.roms()}

        def memory(name, shape, words, depth=None):
            # Depths of at least 2 keep every address at least one bit wide (a 0-bit
            # address becomes a [-1:0] range in Verilog, which Verilator rejects).
            depth = len(words) if depth is None else depth
            m.submodules[name] = mem = Memory(shape=shape, depth=max(depth, 2), init=words)
            return mem

        weights = memory("weights", unsigned(roms["weights"].width), roms["weights"].words)
        bias = memory("bias", unsigned(roms["bias"].width), roms["bias"].words)
        state_shape = data.ArrayLayout(self.core_module.state_layout(params), lanes)
        state = memory("state", state_shape, [], depth=geometry.groups)
        if hidden:
            thresholds = memory("thresholds", unsigned(params.threshold_width),
                                roms["thresholds"].words)

        # --- A0: sequencer -------------------------------------------------------------
        layout = op_layout(geometry, self.last_step)
        stages = [Signal(layout, name=f"a{index}")
                  for index in range(geometry.address_stages + 2)]
        a, n = stages[0], Signal(layout, name="next")
        a_pos = Signal.like(self.events.read_pos)
        n_pos = Signal.like(a_pos)
        stall = Signal()
        advance = ~stall
        m.d.comb += [self.events.phase.eq(a.phase), self.events.read_pos.eq(a_pos),
                     self.events.read_en.eq(advance & a.valid & (a.kind == Op.ADD))]
        has_events = (a.phase <= schedule.input_phases) & (self.events.count != 0)
        m.d.comb += [n.eq(a), n_pos.eq(a_pos)]

        def next_phase():
            with m.If(a.phase != self.last_step):
                m.d.comb += [n.kind.eq(Op.STEP), n.phase.eq(a.phase + 1),
                             n.site.eq(0), n.cg.eq(0)]
            with m.Else():
                if hidden:
                    m.d.comb += n.valid.eq(0)
                else:
                    m.d.comb += [n.kind.eq(Op.READ), n.site.eq(0), n.cg.eq(0)]

        with m.If(a.cg != groups - 1):
            m.d.comb += n.cg.eq(a.cg + 1)
        with m.Else():
            m.d.comb += n.cg.eq(0)
            with m.Switch(a.kind):
                with m.Case(Op.STEP):
                    with m.If(a.site != sites - 1):
                        m.d.comb += n.site.eq(a.site + 1)
                    with m.Elif(has_events):
                        m.d.comb += [n.kind.eq(Op.ADD), n.entry.eq(0), n_pos.eq(0)]
                    with m.Else():
                        next_phase()
                with m.Case(Op.ADD):
                    with m.If(a.entry != geometry.entries - 1):
                        m.d.comb += n.entry.eq(a.entry + 1)
                    with m.Elif(a_pos != self.events.count - 1):
                        m.d.comb += [n.entry.eq(0), n_pos.eq(a_pos + 1)]
                    with m.Else():
                        next_phase()
                with m.Case(Op.READ):
                    with m.If(a.site != sites - 1):
                        m.d.comb += n.site.eq(a.site + 1)
                    with m.Else():
                        m.d.comb += n.valid.eq(0)

        # --- A1 .. Ak: addressing; Ak: memory reads; B: the cores ----------------------
        read_stage, b = stages[-1], Signal(layout, name="b")
        b_fresh = Signal()
        m.d.sync += b_fresh.eq(advance)
        address = self.addressing.elaborate(m, self.events.index, stages[1:], advance)
        is_add = read_stage.kind == Op.ADD
        with m.If(advance):
            m.d.sync += [a.eq(n), a_pos.eq(n_pos)]
            m.d.sync += [later.eq(earlier) for earlier, later in zip(stages, stages[1:])]
            m.d.sync += [b.eq(read_stage),
                         b.valid.eq(read_stage.valid & (~is_add | address.entry_valid))]
            # The event's sign arrives with its index, in A1: it joins the op leaving A1.
            after_a1 = stages[2] if len(stages) > 2 else b
            m.d.sync += after_a1.negative.eq(self.events.sign)

        busy = Signal()
        best_valid = Signal()
        with m.If(~busy & self.start):
            m.d.sync += [busy.eq(1), a.valid.eq(1), a.kind.eq(Op.STEP), a.phase.eq(1),
                         a.site.eq(0), a.cg.eq(0), a.entry.eq(0), a_pos.eq(0),
                         best_valid.eq(0)]
        in_flight = b.valid
        for stage in stages:
            in_flight = in_flight | stage.valid
        with m.If(busy & ~in_flight):
            m.d.sync += busy.eq(0)
            m.d.comb += self.done.eq(1)

        state_write = state.write_port()
        state_read = state.read_port(transparent_for=(state_write,))
        weight_read, bias_read = weights.read_port(), bias.read_port()
        step_address = read_stage.site * groups + read_stage.cg
        m.d.comb += [
            weight_read.addr.eq(address.row_base + address.weight_offset + read_stage.cg),
            weight_read.en.eq(advance),
            state_read.addr.eq(Mux(is_add, address.state_base + read_stage.cg, step_address)),
            state_read.en.eq(advance),
            bias_read.addr.eq(step_address if self.addressing.bias_per_site else read_stage.cg),
            bias_read.en.eq(advance),
        ]
        if hidden:
            threshold_read = thresholds.read_port()
            m.d.comb += [threshold_read.addr.eq(read_stage.phase - (schedule.emit_offset + 1)),
                         threshold_read.en.eq(advance)]
        # The state address travels with the op to B, for the write-back.
        b_state_address = Signal.like(state_read.addr)
        with m.If(advance):
            m.d.sync += b_state_address.eq(state_read.addr)
        m.d.comb += [state_write.addr.eq(b_state_address),
                     state_write.en.eq(b.valid & (b.kind != Op.READ))]

        self.stage_b(m, b, b_fresh, state_read.data, state_write, bias_read.data,
                     weight_read.data, threshold_read.data if hidden else None, busy,
                     best_valid, stall)
        return m

    def stage_b(self, m, b, b_fresh, state_data, state_write, bias_data, weight_data,
                threshold_data, busy, best_valid, stall) -> None:
        """The cores on the op in stage B, then spike emission (hidden) or argmax (output).
        Lane l of op (site p, channel group cg) works on neuron (cg·lanes + l)·sites + p."""
        layer, lanes, geometry = self.layer, self.lanes, self.geometry
        params, schedule = layer.neuron_params, self.schedule
        hidden = not schedule.is_output
        groups, sites = geometry.groups_per_site, geometry.sites
        neuron_base = b.cg * (lanes * sites) + b.site
        fire_mask, negative_mask = Signal(lanes), Signal(lanes)
        readouts = []
        for lane in range(lanes):
            core = self.core_module.NeuronCore(params)
            m.submodules[f"lane_{lane}"] = core
            width_w, width_b = params.weight_width, params.bias_width
            m.d.comb += [
                core.op.eq(b.kind),
                core.first.eq(b.phase == 1),
                core.compare.eq((b.phase > schedule.emit_offset) if hidden else 0),
                core.window_start.eq(b.phase == schedule.emit_offset + 1),
                core.last.eq(b.phase == self.last_step),
                core.enable.eq((b.cg != groups - 1) | (lane < geometry.padded_lanes)),
                core.state.eq(state_data[lane]),
                core.bias.eq(bias_data[lane * width_b:(lane + 1) * width_b]),
                state_write.data[lane].eq(core.next_state),
                fire_mask[lane].eq(core.fire),
                negative_mask[lane].eq(core.spike_negative),
            ]
            weight = weight_data[lane * width_w:(lane + 1) * width_w].as_signed()
            if schedule.signed_spikes:
                # A -1 input event subtracts the weight; the converter sizes weight_width so
                # that every negated weight fits.
                weight = Mux(b.negative, -weight, weight)
            m.d.comb += core.weight.eq(weight)
            if hidden:
                m.d.comb += core.threshold.eq(threshold_data)
            readouts.append((core.readout, core.enable))
        if hidden:
            # Spikes leave one per cycle, lowest lane first; more than one holds the pipeline.
            remaining = Signal(lanes)
            pending = Mux(b_fresh, fire_mask, remaining)
            lowest = Signal(lanes)
            lane_index = Signal(range(max(lanes, 2)))
            m.d.comb += lowest.eq(pending & -pending)
            for lane in range(lanes):
                with m.If(lowest[lane]):
                    m.d.comb += lane_index.eq(lane)
            active = b.valid & (b.kind == Op.STEP)
            m.d.comb += [
                stall.eq(active & ((pending & ~lowest) != 0)),
                self.spikes.clear.eq(~busy & self.start),
                self.spikes.valid.eq(active & (pending != 0)),
                self.spikes.neuron.eq(neuron_base + lane_index * sites),
                self.spikes.sign.eq(negative_mask.bit_select(lane_index, 1)
                                    if schedule.signed_spikes else 0),
                self.spikes.phase.eq(b.phase - schedule.emit_offset),
            ]
            m.d.sync += remaining.eq(pending & ~lowest)
        else:
            # Argmax over the lanes in order; strict > keeps the lowest index on ties.
            best_value = Signal(readouts[0][0].shape())
            best_index = Signal.like(self.result)
            value, index, valid = best_value, best_index, best_valid
            for lane, (readout, enable) in enumerate(readouts):
                take = enable & (~valid | (readout > value))
                value = Mux(take, readout, value)
                index = Mux(take, neuron_base + lane * sites, index)
                valid = valid | enable
            with m.If(b.valid & (b.kind == Op.READ)):
                m.d.sync += [best_value.eq(value), best_index.eq(index), best_valid.eq(valid)]
            m.d.comb += [stall.eq(0), self.result.eq(best_index)]
