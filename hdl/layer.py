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

Pipeline: A0 (sequencer; reads the event memory) → A1 (reads weight ROM, state RAM, bias
ROM, threshold ROM) → B (cores compute; state written back; spikes emitted). The state
RAM read is transparent to its write port, so B's write is seen by the next op's read
even when both touch the same group.
"""
from dataclasses import dataclass

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from golden.roms import Rom, groups_of, table_rom, vector_rom, weight_rom

from .cores import Op
from .events import EventSink, EventSource


class UnsupportedLayer(ValueError):
    """A layer of the integer network that the RTL engines cannot run (yet)."""


@dataclass
class StageB:
    """The op in pipeline stage B, as the cores and the spike output see it."""
    valid: Signal
    kind: Signal
    phase: Signal
    negative: Signal        # the input event is a -1 spike (signed codings)
    fresh: Signal           # the op entered B this cycle (not held by a stall)
    lane_group: Signal      # which group of `lanes` neurons: the last one may be partial
    neuron_base: object     # neuron index of lane 0
    neuron_stride: int      # index step from one lane to the next


class LayerEngine(wiring.Component):
    def __init__(self, layer, lanes: int, core_module, name: str):
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1:
            raise TypeError(f"Lane count must be a positive integer, not {lanes!r}")
        self.layer, self.lanes, self.core_module, self.name = layer, lanes, core_module, name
        self.lanes = min(lanes, layer.n_out)
        self.groups = self.groups_per_site = groups_of(layer.n_out, self.lanes)
        self.lane_count = layer.n_out          # neurons spread over the lanes of one site
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
            self._roms = self.pack_roms()
        return self._roms

    def pack_roms(self) -> list[Rom]:
        layer, p = self.layer, self.layer.neuron_params
        roms = [weight_rom(f"{self.name}_weights", layer.weight, p.weight_width, self.lanes),
                vector_rom(f"{self.name}_bias", layer.bias, p.bias_width, self.lanes)]
        if not self.schedule.is_output:
            roms.append(table_rom(f"{self.name}_thresholds", layer.threshold_table,
                                  p.threshold_width))
        return roms

    def elaborate(self, platform):
        m = Module()
        layer, lanes, groups = self.layer, self.lanes, self.groups
        params = layer.neuron_params
        schedule = self.schedule
        hidden = not schedule.is_output
        group_range = range(max(groups, 2))

        roms = {rom.name.rsplit("_", 1)[1]: rom for rom in self.roms()}
        # Depths of at least 2 keep every address at least one bit wide (a 0-bit address
        # becomes a [-1:0] range in Verilog, which Verilator rejects).
        m.submodules.weights = weights = Memory(
            shape=unsigned(roms["weights"].width), depth=max(len(roms["weights"].words), 2),
            init=roms["weights"].words)
        m.submodules.bias = bias = Memory(
            shape=unsigned(roms["bias"].width), depth=max(groups, 2), init=roms["bias"].words)
        state_shape = data.ArrayLayout(self.core_module.state_layout(params), lanes)
        m.submodules.state = state = Memory(shape=state_shape, depth=max(groups, 2), init=[])
        if hidden:
            m.submodules.thresholds = thresholds = Memory(
                shape=unsigned(params.threshold_width),
                depth=max(len(layer.threshold_table), 2),
                init=roms["thresholds"].words)

        # --- A0: sequencer -------------------------------------------------------------
        a_valid, a_kind = Signal(), Signal(Op)
        a_phase, a_group = Signal(range(self.last_step + 1)), Signal(group_range)
        a_pos = Signal.like(self.events.read_pos)
        n_valid, n_kind = Signal(), Signal(Op)
        n_phase, n_group, n_pos = Signal.like(a_phase), Signal.like(a_group), Signal.like(a_pos)
        stall = Signal()
        advance = ~stall

        m.d.comb += [self.events.phase.eq(a_phase), self.events.read_pos.eq(a_pos),
                     self.events.read_en.eq(advance & a_valid & (a_kind == Op.ADD))]
        last_group = a_group == groups - 1
        has_events = (a_phase <= schedule.input_phases) & (self.events.count != 0)

        m.d.comb += [n_valid.eq(a_valid), n_kind.eq(a_kind), n_phase.eq(a_phase),
                     n_group.eq(a_group), n_pos.eq(a_pos)]

        def next_phase():
            with m.If(a_phase != self.last_step):
                m.d.comb += [n_kind.eq(Op.STEP), n_phase.eq(a_phase + 1), n_group.eq(0)]
            with m.Else():
                if hidden:
                    m.d.comb += n_valid.eq(0)
                else:
                    m.d.comb += [n_kind.eq(Op.READ), n_group.eq(0)]

        with m.If(~last_group):
            m.d.comb += n_group.eq(a_group + 1)
        with m.Else():
            with m.Switch(a_kind):
                with m.Case(Op.STEP):
                    with m.If(has_events):
                        m.d.comb += [n_kind.eq(Op.ADD), n_group.eq(0), n_pos.eq(0)]
                    with m.Else():
                        next_phase()
                with m.Case(Op.ADD):
                    with m.If(a_pos != self.events.count - 1):
                        m.d.comb += [n_pos.eq(a_pos + 1), n_group.eq(0)]
                    with m.Else():
                        next_phase()
                with m.Case(Op.READ):
                    m.d.comb += n_valid.eq(0)

        # --- A1 / B pipeline registers ---------------------------------------------------
        a1_valid, a1_kind = Signal(), Signal(Op)
        a1_phase, a1_group = Signal.like(a_phase), Signal.like(a_group)
        b_valid, b_kind = Signal(), Signal(Op)
        b_phase, b_group = Signal.like(a_phase), Signal.like(a_group)
        b_negative = Signal()          # the event in B is a -1 spike (signed codings)
        b_fresh = Signal()
        m.d.sync += b_fresh.eq(advance)

        with m.If(advance):
            m.d.sync += [a_valid.eq(n_valid), a_kind.eq(n_kind), a_phase.eq(n_phase),
                         a_group.eq(n_group), a_pos.eq(n_pos),
                         a1_valid.eq(a_valid), a1_kind.eq(a_kind), a1_phase.eq(a_phase),
                         a1_group.eq(a_group),
                         b_valid.eq(a1_valid), b_kind.eq(a1_kind), b_phase.eq(a1_phase),
                         b_group.eq(a1_group), b_negative.eq(self.events.sign)]

        busy = Signal()
        best_valid = Signal()
        with m.If(~busy & self.start):
            m.d.sync += [busy.eq(1), a_valid.eq(1), a_kind.eq(Op.STEP), a_phase.eq(1),
                         a_group.eq(0), a_pos.eq(0), best_valid.eq(0)]
        with m.If(busy & ~a_valid & ~a1_valid & ~b_valid):
            m.d.sync += busy.eq(0)
            m.d.comb += self.done.eq(1)

        # --- A1: memory reads --------------------------------------------------------------
        state_write = state.write_port()
        state_read = state.read_port(transparent_for=(state_write,))
        weight_read, bias_read = weights.read_port(), bias.read_port()
        m.d.comb += [
            weight_read.addr.eq(self.events.index * groups + a1_group), weight_read.en.eq(advance),
            state_read.addr.eq(a1_group), state_read.en.eq(advance),
            bias_read.addr.eq(a1_group), bias_read.en.eq(advance),
        ]
        if hidden:
            threshold_read = thresholds.read_port()
            m.d.comb += [threshold_read.addr.eq(a1_phase - (schedule.emit_offset + 1)),
                         threshold_read.en.eq(advance)]

        # --- B: the cores ----------------------------------------------------------------
        m.d.comb += [state_write.addr.eq(b_group),
                     state_write.en.eq(b_valid & (b_kind != Op.READ))]
        self.stage_b(m, StageB(b_valid, b_kind, b_phase, b_negative, b_fresh, b_group,
                               neuron_base=b_group * lanes, neuron_stride=1),
                     state_read.data, state_write, bias_read.data, weight_read.data,
                     threshold_read.data if hidden else None, busy, best_valid, stall)
        return m

    def stage_b(self, m, b: "StageB", state_data, state_write, bias_data, weight_data,
                threshold_data, busy, best_valid, stall) -> None:
        """The cores on the op in stage B, then spike emission (hidden) or argmax (output).
        Lane l of the op works on neuron `b.neuron_base + l·b.neuron_stride`."""
        layer, lanes, groups = self.layer, self.lanes, self.groups_per_site
        params, schedule = layer.neuron_params, self.schedule
        hidden = not schedule.is_output
        b_valid, b_kind, b_phase, b_negative, b_fresh = (b.valid, b.kind, b.phase, b.negative,
                                                          b.fresh)
        fire_mask, negative_mask = Signal(lanes), Signal(lanes)
        readouts = []
        for lane in range(lanes):
            core = self.core_module.NeuronCore(params)
            m.submodules[f"lane_{lane}"] = core
            width_w, width_b = params.weight_width, params.bias_width
            padded_from = self.lane_count - (groups - 1) * lanes    # lanes of the last group
            m.d.comb += [
                core.op.eq(b_kind),
                core.first.eq(b_phase == 1),
                core.compare.eq((b_phase > schedule.emit_offset) if hidden else 0),
                core.window_start.eq(b_phase == schedule.emit_offset + 1),
                core.last.eq(b_phase == self.last_step),
                core.enable.eq((b.lane_group != groups - 1) | (lane < padded_from)),
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
                weight = Mux(b_negative, -weight, weight)
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
            active = b_valid & (b_kind == Op.STEP)
            m.d.comb += [
                stall.eq(active & ((pending & ~lowest) != 0)),
                self.spikes.clear.eq(~busy & self.start),
                self.spikes.valid.eq(active & (pending != 0)),
                self.spikes.neuron.eq(b.neuron_base + lane_index * b.neuron_stride),
                self.spikes.sign.eq(negative_mask.bit_select(lane_index, 1)
                                    if schedule.signed_spikes else 0),
                self.spikes.phase.eq(b_phase - schedule.emit_offset),
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
                index = Mux(take, b.neuron_base + lane * b.neuron_stride, index)
                valid = valid | enable
            with m.If(b_valid & (b_kind == Op.READ)):
                m.d.sync += [best_value.eq(value), best_index.eq(index), best_valid.eq(valid)]
            m.d.comb += [stall.eq(0), self.result.eq(best_index)]
