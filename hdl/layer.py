"""The layer engine: weight ROM, state RAM, threshold table, `lanes` neuron cores.

Schedule of one inference (the golden cycle model in `golden/cycles.py` mirrors it):

    for k in 1 .. last_step:                       hidden: T+w+1, output: T
        STEP pass  over the groups g = 0..G-1       scale v; fire for phase k-1-w
        ADD  pass  for each input event of phase k, over its receptive entries and the
                   channel groups of each
    READ pass over the groups                      output layer only: argmax

A dense layer is a convolution with one site and one receptive entry per event
(`golden.geometry`): one sequencer walks both, the ADD addressing is pluggable
(`hdl.addressing`). One operation per cycle on `lanes` neurons at once. A STEP op whose
group fires n > 1 neurons holds the pipeline n - 1 extra cycles: spikes leave one per
cycle. The extra STEP pass k = T+w+1 of a hidden layer only makes the last compare. For
codings with signed spikes (`Schedule.signed_spikes`, tsc) an ADD of a -1 input event
hands the cores the negated weight, and each emitted spike carries the core's sign.

Pipeline (every stage ends in a register, so no path crosses two of them):

    A0        sequencer; reads the event memory; ends an event early when the
              addressing says its receptive row ended (`hdl.addressing`)
    A1 .. Ak  the addressing's stages (dense k = 2, convolution k = 5); Ak computes the
              memory addresses
    R         reads the weight ROM, bias ROM, threshold ROM
    B0        their data registered; reads the state RAM
    P         the cores prepare their operands (`hdl.cores`: all that does not depend on
              the state); the state registered
    B1        the cores update the state; state written back
    C         spikes leave, one per cycle (hidden), or the lanes' argmax tree (output,
              one register level per tree level) and the running best (`hdl.stage_c`)

State hazards: an op in B1 writes at the end of its cycle. The op right behind it (in P)
read the state RAM a cycle too early, so it registers B1's result instead of the RAM's
data when both address the same word (`forward`: the mux sits at the end of B1's path,
not at the start; only layers with one channel group need it); the op two behind reads
at the very edge of the write, which the read port's transparency covers.
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
from .stage_c import argmax, emit_spikes
from .spram import read_signature
from .state_ram import StatePort, port_views


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

    def __init__(self, *, layer, lanes: int, core_module, name: str,
                 weights_in_spram: bool = False, shared_state: bool = False):
        self.layer, self.core_module, self.name = layer, core_module, name
        self.weights_in_spram, self.shared_state = weights_in_spram, shared_state
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
        if weights_in_spram:
            # the weight table lives outside, in the SPRAM store (`hdl.spram`): read it there
            weights = self.weight_rom
            members["weight_read"] = Out(read_signature(weights.width, len(weights.words)))
        if shared_state:
            # the states live outside, in the network's one state RAM (`hdl.state_ram`)
            members["state_port"] = Out(StatePort(self.state_shape, self.geometry.groups))
        super().__init__(members)

    @property
    def state_shape(self) -> data.ArrayLayout:
        """One state word: every lane's neuron state."""
        return data.ArrayLayout(self.core_module.state_layout(self.layer.neuron_params),
                                self.lanes)

    @property
    def weight_rom(self) -> Rom:
        return next(rom for rom in self.roms() if rom.name == f"{self.name}_weights")

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
        groups, sites = geometry.groups_per_site, geometry.sites
        hidden = not schedule.is_output
        roms = {rom.name.rsplit("_", 1)[1]: rom for rom in self.roms()}

        def memory(name, shape, words, depth=None):
            # Depths of at least 2 keep every address at least one bit wide (a 0-bit
            # address becomes a [-1:0] range in Verilog, which Verilator rejects).
            depth = len(words) if depth is None else depth
            m.submodules[name] = mem = Memory(shape=shape, depth=max(depth, 2), init=words)
            return mem

        if not self.weights_in_spram:
            weights = memory("weights", unsigned(roms["weights"].width), roms["weights"].words)
        bias = memory("bias", unsigned(roms["bias"].width), roms["bias"].words)
        state_shape = self.state_shape
        if not self.shared_state:
            state = memory("state", state_shape, [], depth=geometry.groups)
        if hidden:
            thresholds = memory("thresholds", unsigned(params.threshold_width),
                                roms["thresholds"].words)

        # --- A0: sequencer -------------------------------------------------------------
        layout = op_layout(geometry, self.last_step)
        stages = [Signal(layout, name=f"a{index}")
                  for index in range(geometry.address_stages + 1)]
        a, n = stages[0], Signal(layout, name="next")
        a_pos = Signal.like(self.events.read_pos)
        n_pos = Signal.like(a_pos)
        # a_pos + 1 < count_now, kept in a register beside a_pos (no adder on the
        # sequencer's path)
        more_events, n_more_events = Signal(), Signal()
        # a.cg == groups - 1, kept in a register beside a.cg (its compare was two of the
        # LUTs before the sequencer's registers): n.cg is a.cg + 1 or 0
        cg_last = Signal(init=groups == 1)
        cg_next_last = Signal(init=groups == 1)     # the value when n.cg is 0
        stall = Signal()
        advance = ~stall
        # What the sequencer decides on, a phase's events (any? more than one?), comes as
        # flags the source keeps per phase, looked up a phase ahead (`ahead` = a.phase + 2
        # while busy; idle, the two lookups give phases 1 and 2 for the start) into
        # registers for the current and the next phase: no count mux and no compare lie
        # on the sequencer's path. The flags move on the cycle *after* the sequencer
        # enters a phase (`shift`), so that its decision is no register's enable; in that
        # cycle the op is the new phase's first STEP, and the flags come from the `next`
        # registers. The count itself is needed only by the ADDs, which come a cycle after
        # their phase's first STEP at the earliest: it is looked up by a.phase and
        # registered (`count_now`).
        busy = Signal()
        count_now = Signal.like(self.events.count, name="count_now")
        now_any, now_several, next_any, next_several = (
            Signal(name=name) for name in ("now_any", "now_several", "next_any", "next_several"))
        to_next_phase, shift = Signal(), Signal()
        ahead = Signal.like(self.events.ahead, init=1)
        # the phase the source looks up: a.phase while busy, 2 idle; a register of its own
        # (not a mux of `busy` and a.phase: on the iCE40 that mux before the buffer's
        # per-phase start mux was the slowest path)
        lookup_phase = Signal.like(a.phase, init=2)
        m.d.comb += [self.events.phase.eq(lookup_phase),
                     self.events.ahead.eq(ahead),
                     self.events.read_pos.eq(a_pos),
                     self.events.read_en.eq(advance & a.valid & (a.kind == Op.ADD))]
        source = self.events

        m.d.sync += count_now.eq(source.count)
        with m.If(~busy):
            m.d.sync += [now_any.eq(source.ahead_nonempty), now_several.eq(source.ahead_several),
                         next_any.eq(source.nonempty), next_several.eq(source.several),
                         ahead.eq(Mux(self.start, 3, 1)), shift.eq(0)]
        with m.Else():
            m.d.sync += shift.eq(advance & to_next_phase)
            with m.If(shift):
                m.d.sync += [now_any.eq(next_any), now_several.eq(next_several),
                             next_any.eq(source.ahead_nonempty),
                             next_several.eq(source.ahead_several),
                             ahead.eq(ahead + 1)]
        has_events = Mux(shift, next_any, now_any)
        several_events = Mux(shift, next_several, now_several)
        m.d.comb += [n.eq(a), n_pos.eq(a_pos), n_more_events.eq(more_events)]

        def next_phase():
            with m.If(a.phase != self.last_step):
                m.d.comb += [n.kind.eq(Op.STEP), n.phase.eq(a.phase + 1),
                             n.site.eq(0), n.cg.eq(0), to_next_phase.eq(1)]
            with m.Else():
                if hidden:
                    m.d.comb += n.valid.eq(0)
                else:
                    m.d.comb += [n.kind.eq(Op.READ), n.site.eq(0), n.cg.eq(0)]

        def next_event():
            with m.If(more_events):
                m.d.comb += [n.entry.eq(0), n_pos.eq(a_pos + 1),
                             n_more_events.eq(a_pos + 2 < count_now)]
            with m.Else():
                next_phase()

        # The op in A2 is its event's last real op, `a` one of the padding ops behind it
        # (the addressing knows the row's length only there): the event ends now.
        row_end = Signal()
        with m.If(row_end):
            m.d.comb += n.cg.eq(0)
            next_event()
        with m.Elif(~cg_last):
            m.d.comb += [n.cg.eq(a.cg + 1), cg_next_last.eq(a.cg == groups - 2)]
        with m.Else():
            m.d.comb += n.cg.eq(0)
            with m.Switch(a.kind):
                with m.Case(Op.STEP):
                    with m.If(a.site != sites - 1):
                        m.d.comb += n.site.eq(a.site + 1)
                    with m.Elif(has_events):
                        m.d.comb += [n.kind.eq(Op.ADD), n.entry.eq(0), n_pos.eq(0),
                                     n_more_events.eq(several_events)]
                    with m.Else():
                        next_phase()
                with m.Case(Op.ADD):
                    with m.If(a.entry != geometry.entries - 1):
                        m.d.comb += n.entry.eq(a.entry + 1)
                    with m.Else():
                        next_event()
                with m.Case(Op.READ):
                    with m.If(a.site != sites - 1):
                        m.d.comb += n.site.eq(a.site + 1)
                    with m.Else():
                        m.d.comb += n.valid.eq(0)

        # --- A1 .. Ak: addressing; Ak computes the addresses, R reads ------------------
        address_stage = stages[-1]
        r, b0, p, b1 = (Signal(layout, name=name) for name in ("r", "b0", "p", "b1"))
        # the event index arrives in A1; both addressings take it registered, in A2
        event_index = Signal.like(self.events.index, name="a2_event_index")
        with m.If(advance):
            m.d.sync += event_index.eq(self.events.index)
        address = self.addressing.elaborate(m, event_index, stages[1:], advance)
        m.d.comb += row_end.eq(address.row_end)
        is_add = address_stage.kind == Op.ADD
        with m.If(advance):
            m.d.sync += [a.eq(n), a_pos.eq(n_pos), more_events.eq(n_more_events),
                         cg_last.eq(cg_next_last)]
        # Idle, every stage is empty (`done` waits for that): the stages and the phase
        # lookup move only while busy.
        with m.If(advance & busy):
            m.d.sync += lookup_phase.eq(n.phase)
            m.d.sync += [later.eq(earlier) for earlier, later in zip(stages, stages[1:])]
            # The event's sign arrives with its index, in A1: it joins the op leaving A1.
            m.d.sync += stages[2].negative.eq(self.events.sign)
            m.d.sync += [r.eq(address_stage),
                         r.valid.eq(address_stage.valid & (~is_add | address.entry_valid)),
                         b0.eq(r), p.eq(b0), b1.eq(p)]

        if self.shared_state:
            state_read, state_write = port_views(self.state_port)
            m.d.comb += self.state_port.active.eq(busy)
        else:
            state_write = state.write_port()
            state_read = state.read_port(transparent_for=(state_write,))
        weight_read = self.weight_read if self.weights_in_spram else weights.read_port()
        bias_read = bias.read_port()
        reads = [weight_read, bias_read]
        step_address = address_stage.site * groups + address_stage.cg
        addresses = [address.weight,
                     step_address if self.addressing.bias_per_site else address_stage.cg]
        if hidden:
            threshold_read = thresholds.read_port()
            reads.append(threshold_read)
            # passes before the window read the first step's threshold (the rate
            # coding's settle pass subtracts it ahead)
            window_phase = address_stage.phase - (schedule.emit_offset + 1)
            addresses.append(Mux(address_stage.phase > schedule.emit_offset, window_phase, 0))
        # the state is read a stage later than the tables: its data arrives in P
        r_state_address = Signal.like(state_read.addr)
        with m.If(advance):
            m.d.sync += [port.addr.eq(value) for port, value in zip(reads, addresses)]
            m.d.sync += [r_state_address.eq(Mux(is_add, address.state, step_address)),
                         state_read.addr.eq(r_state_address)]
        m.d.comb += [port.en.eq(advance) for port in reads + [state_read]]
        if self.weights_in_spram:       # the SPRAMs serve one layer at a time: the busy one
            m.d.comb += weight_read.en.eq(advance & busy)

        # --- B0: table data registered; P: operands, state registered; B1: update ------
        state_address = {"p": Signal.like(state_read.addr, name="p_state_address"),
                         "b1": Signal.like(state_read.addr, name="b1_state_address")}
        registered = {port: Signal(port.data.shape(), name=f"p_{name}") for port, name in
                      zip(reads, ("weight", "bias", "threshold"))}
        # The op right behind B1's (in P) read the state a cycle too early: when both
        # address the same word, it takes B1's result instead, as it enters B1. That
        # happens only with one group per site: the channel group is every pass's
        # innermost count, so two ops in a row differ in it (and so in their word) when
        # there are more; then no forwarding mux sits at the end of B1's update.
        state_in = Signal(state_shape, name="b1_state")
        writes = b1.valid & (b1.kind != Op.READ)
        state_next = state_read.data
        if groups == 1:
            forward = writes & (state_address["p"] == state_address["b1"])
            state_next = Mux(forward, state_write.data, state_read.data)
        with m.If(advance):
            m.d.sync += [state_address["p"].eq(state_read.addr),
                         state_address["b1"].eq(state_address["p"]),
                         state_in.eq(state_next)]
            m.d.sync += [value.eq(port.data) for port, value in registered.items()]
        m.d.comb += [state_write.addr.eq(state_address["b1"]), state_write.en.eq(writes)]

        with m.If(~busy & self.start):
            m.d.sync += [busy.eq(1), a.valid.eq(1), a.kind.eq(Op.STEP), a.phase.eq(1),
                         lookup_phase.eq(1),
                         a.site.eq(0), a.cg.eq(0), a.entry.eq(0), a_pos.eq(0),
                         cg_last.eq(groups == 1)]
        in_flight = self.stage_b(m, p, b1, advance, state_in, state_write,
                                 registered[bias_read], registered[weight_read],
                                 registered[threshold_read] if hidden else None, busy, stall)
        for stage in stages + [r, b0, p, b1]:
            in_flight = in_flight | stage.valid
        with m.If(busy & ~in_flight):
            # ready for a start in the very next cycle: the lookups give phases 1 and 2
            m.d.sync += [busy.eq(0), ahead.eq(1), lookup_phase.eq(2)]
            m.d.comb += self.done.eq(1)
        return m

    def stage_b(self, m, p, b, advance, state_data, state_write, bias_data, weight_data,
                threshold_data, busy, stall):
        """The cores: operands of the op in P (registered for B1), the state update of the
        op in B1; then stage C: spike emission (hidden) or the argmax (output). Lane l of
        op (site s, channel group cg) works on neuron (cg·lanes + l)·sites + s. Returns
        whether C still holds work."""
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
            operands = Signal.like(core.prepared, name=f"b1_operands_{lane}")
            with m.If(advance):
                m.d.sync += operands.eq(core.prepared)
            enable = (p.cg != groups - 1) | (lane < geometry.padded_lanes)
            m.d.comb += [
                core.op.eq(p.kind),
                core.first.eq(p.phase == 1),
                core.compare.eq((p.phase > schedule.emit_offset) if hidden else 0),
                core.window_start.eq(p.phase == schedule.emit_offset + 1),
                core.settle.eq(p.phase == schedule.emit_offset),
                core.last.eq(p.phase == self.last_step),
                core.enable.eq(enable),
                core.operands.eq(operands),
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
                weight = Mux(p.negative, -weight, weight)
            m.d.comb += core.weight.eq(weight)
            if hidden:
                m.d.comb += core.threshold.eq(threshold_data)
            enabled = Signal(name=f"b1_enable_{lane}")
            with m.If(advance):
                m.d.sync += enabled.eq(enable)
            readouts.append((core.readout, enabled))
        if hidden:
            return emit_spikes(self, m, b, advance, fire_mask, negative_mask, neuron_base,
                               busy, stall)
        m.d.comb += stall.eq(0)
        return argmax(self, m, b, advance, readouts, neuron_base)
