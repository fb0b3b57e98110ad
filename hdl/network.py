"""`snn_top`: pixels in, class out, the layer engines chained through event buffers.

Interface (Amaranth flattens the stream ports to these Verilog names):

    clk, rst                                   clock, synchronous reset (active high)
    pixels__payload[7:0], pixels__valid, pixels__ready     In stream: N_in pixels per image
    result__payload, result__valid, result__ready          Out stream: class index

Per image: N_in pixels, row-major. The input store (`hdl.input_store`) takes a pixel every
W cycles (W writes per pixel: the coding's input lists; `pixels__ready` says when), so an
image loads in W·N_in cycles; after reset `pixels__ready` first rises once the max pooling
units, if any, have emptied their window memories (one cycle per window). Once an image
is loaded and the one before has been taken, the layers run one after another;
`result__valid` rises a fixed, data-dependent number of cycles after the image's last
pixel (`golden.cycles`) when nothing was running, and stays high until `result__ready`.
With two input banks (the default) the next image loads while the layers run, and starts
right after the result handshake; with one, it loads after it. No reset between images.
"""
from amaranth.hdl import Const, Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.codings import get_coding
from golden.data import PIXEL_BITS

from golden.geometry import lanes_per_layer
from golden.graph import check_sources, is_merge, sources

from .events import EventBuffer
from .input_store import InputPlanes
from .layer import LayerEngine, UnsupportedLayer  # noqa: F401  (UnsupportedLayer: re-exported)
from .pool import max_pool_unit
from .shortcut import EventConcat, ShortcutTap
from .state_ram import SharedStateRam
from .spram import STORE_NAME, SpramLayout, SpramStore, write_signature


class SnnTop(wiring.Component):
    """`spram_layers`: names of layers ("layer1", ..) whose weight table lives in the iCE40
    UP5K's SPRAMs (`hdl.spram`), written at run time through the `weights_load` port (a
    store word per cycle, `SpramLayout` order) before the first image; the other tables
    are ROMs initialised by the bitstream. `input_banks`: 2 loads the next image while the
    layers run the current one (`hdl.input_store`), 1 halves the input store's memory and
    loads only between images. `shared_state`: every
    layer's neuron states in one RAM (`hdl.state_ram`), where block RAMs are small.
    `event_parts`: how the spike buffers split their words over memories (`EventBuffer`'s
    `parts`; a board's choice, `boards.fit.event_word_parts`), None: one memory each."""

    def __init__(self, network, core_module, lanes: int | list[int] = 4,
                 spram_layers=(), input_banks: int = 2, shared_state: bool = False,
                 event_parts=None):
        self.network, self.core_module = network, core_module
        self.input_banks, self.shared_state = input_banks, shared_state
        self.event_parts = event_parts
        self.max_pool_rule = get_coding(network.coding).golden.MAX_POOL
        layers = network.layers
        check_sources(layers)
        # Built here, not in elaborate: a layer the RTL cannot run raises UnsupportedLayer
        # (naming it) when the top is made, before any Verilog is written.
        names = [f"layer{i + 1}" for i in range(len(layers))]
        unknown = sorted(set(spram_layers) - set(names))
        if unknown:
            raise ValueError(f"spram_layers: no layer {', '.join(unknown)} (the layers are "
                             f"{', '.join(names)})")
        self.engines = [LayerEngine(layer=layer, lanes=layer_lanes, core_module=core_module,
                                    name=name, weights_in_spram=name in spram_layers,
                                    shared_state=shared_state)
                        for name, layer, layer_lanes
                        in zip(names, layers, lanes_per_layer(network, lanes))]
        # SpramFull (naming the tables and the SPRAMs they need) if they do not fit
        self.spram_layout = SpramLayout(self.spram_roms()) if spram_layers else None
        self.pools = {consumer.name: max_pool_unit(
                          consumer.layer.input_pool, producer.layer.n_out,
                          producer.schedule.output_phases, self.max_pool_rule,
                          consumer.layer.name, consumer.lanes)
                      for producer, consumer in zip(self.engines, self.engines[1:])
                      if consumer.layer.input_pool is not None}
        members = {
            "pixels": In(stream.Signature(PIXEL_BITS)),
            "result": Out(stream.Signature(range(max(layers[-1].n_out, 2)))),
        }
        if self.spram_layout is not None:
            members["weights_load"] = In(write_signature(self.spram_layout))
        super().__init__(members)

    def roms(self):
        """The tables the memories are initialised with (the SPRAM tables not among them)."""
        return [rom for engine in self.engines for rom in engine.roms()
                if not (engine.weights_in_spram and rom is engine.weight_rom)]

    def spram_roms(self):
        """The weight tables that live in the SPRAM store, in its order."""
        return [engine.weight_rom for engine in self.engines if engine.weights_in_spram]

    def shortcut_input(self, m, consumer) -> EventConcat:
        """The merge `consumer`'s input: its shortcut's spikes tapped from the block input's
        engine into a buffer of their own, and both sources as one (`hdl.shortcut`); the
        returned concatenation's `first` is for the branch's buffer."""
        index = self.engines.index(consumer)
        branch, shortcut = sources(consumer.layer, index)
        source = self.engines[shortcut.layer]
        assert branch.layer == index - 1 and shortcut.layer >= 0, consumer.name
        schedule = source.schedule
        tap = ShortcutTap(shortcut.select, source.layer.n_out, schedule.output_phases)
        n_second = len(tap.select)
        buffer = EventBuffer(n_second * schedule.max_spikes_per_neuron, n_second,
                             schedule.output_phases, consumer.last_step,
                             signed=schedule.signed_spikes, parts=self.event_parts)
        concat = EventConcat(consumer.layer.n_in - n_second, n_second,
                             schedule.output_phases, consumer.last_step)
        m.submodules[f"{consumer.name}_shortcut"] = tap
        m.submodules[f"{consumer.name}_shortcut_spikes"] = buffer
        m.submodules[f"{consumer.name}_concat"] = concat
        # the source's stream also goes to its own buffer: copied, not connected twice
        spikes = source.spikes
        m.d.comb += [tap.tap.clear.eq(spikes.clear),
                     tap.tap.events.valid.eq(spikes.events.valid),
                     tap.tap.events.payload.eq(spikes.events.payload)]
        wiring.connect(m, tap.spikes, buffer.write)
        wiring.connect(m, concat.second, buffer.read)
        wiring.connect(m, consumer.events, concat.read)
        return concat

    def elaborate(self, platform):
        m = Module()
        first = self.network.layers[0]
        n_in = first.n_in
        for i, engine in enumerate(self.engines):
            m.submodules[engine.name] = engine
        if self.spram_layout is not None:
            m.submodules[STORE_NAME] = store = SpramStore(self.spram_layout)
            wiring.connect(m, wiring.flipped(self.weights_load), store.load)
            for engine, read in zip((e for e in self.engines if e.weights_in_spram),
                                    store.reads()):
                wiring.connect(m, engine.weight_read, read)

        if self.shared_state:
            m.submodules.state_ram = state_ram = SharedStateRam(
                (engine.state_shape, engine.geometry.groups) for engine in self.engines)
            for index, engine in enumerate(self.engines):
                wiring.connect(m, engine.state_port, getattr(state_ram, f"layer_{index}"))

        # The coding's own input coding if it has one (tsc: spike pairs), else bit planes.
        input_source = getattr(self.core_module, "input_source", InputPlanes)
        m.submodules.input_store = store = input_source(
            n_in, first.schedule.input_phases, self.engines[0].last_step,
            banks=self.input_banks)
        wiring.connect(m, self.engines[0].events, store.read)
        for producer, consumer in zip(self.engines, self.engines[1:]):
            schedule = producer.schedule
            phases, signed = schedule.output_phases, schedule.signed_spikes
            # the consumer's sequencer takes "no events" outside the source's phases
            assert consumer.schedule.input_phases == phases, (producer.name, consumer.name)
            pool_index = consumer.layer.input_pool
            pool = self.pools.get(consumer.name)
            streaming = pool is not None and "tap" in pool.signature.members
            buffer = EventBuffer(producer.layer.n_out * schedule.max_spikes_per_neuron,
                                 producer.layer.n_out, phases,
                                 phases if pool_index is not None else consumer.last_step,
                                 signed=signed, parts=self.event_parts)
            m.submodules[f"{producer.name}_spikes"] = buffer
            wiring.connect(m, producer.spikes, buffer.write)
            if is_merge(consumer.layer):
                # a residual merge: this buffer, then the shortcut's (`hdl.shortcut`)
                concat = self.shortcut_input(m, consumer)
                wiring.connect(m, concat.first, buffer.read)
                m.d.sync += consumer.start.eq(producer.done)
                continue
            if streaming:
                # a streaming max pool sees the spikes as the producer emits them (both
                # sinks are always ready, so the stream is copied, not connected twice)
                spikes = producer.spikes
                m.d.comb += [pool.tap.clear.eq(spikes.clear),
                             pool.tap.events.valid.eq(spikes.events.valid),
                             pool.tap.events.payload.eq(spikes.events.payload)]
            # The unit after a layer starts the cycle after the layer is done: `done` (no
            # op left in any of the layer's stages, an OR over all of them) does not reach
            # the next unit's registers in the same cycle (on the iCE40 it was the
            # slowest path).
            if pool_index is None:
                wiring.connect(m, consumer.events, buffer.read)
                m.d.sync += consumer.start.eq(producer.done)
                continue
            # Max pooling: the producer's spikes → the pooled spikes the consumer reads.
            windows = pool_index.shape[0]
            per_window = max(schedule.max_spikes_per_neuron,
                             phases if self.max_pool_rule.integrate else 0)
            pooled = EventBuffer(windows * per_window, windows, phases, consumer.last_step,
                                 signed=signed, parts=self.event_parts)
            m.submodules[f"{consumer.name}_pool"] = pool
            m.submodules[f"{consumer.name}_pooled_spikes"] = pooled
            wiring.connect(m, pool.events, buffer.read)
            wiring.connect(m, pool.spikes, pooled.write)
            wiring.connect(m, consumer.events, pooled.read)
            m.d.sync += pool.start.eq(producer.done)
            m.d.comb += consumer.start.eq(pool.done)

        # After reset, the first pixel waits until every max pooling unit has emptied its
        # window memories (a few cycles; no cycle count from the last pixel changes).
        cleared = Const(1)
        for pool in self.pools.values():
            cleared = cleared & pool.cleared
        m.d.comb += [store.pixels.payload.eq(self.pixels.payload),
                     store.pixels.valid.eq(self.pixels.valid & cleared),
                     self.pixels.ready.eq(store.pixels.ready & cleared)]
        m.d.sync += self.engines[0].start.eq(store.start)

        last = self.engines[-1]
        with m.If(last.done):
            m.d.sync += [self.result.valid.eq(1), self.result.payload.eq(last.result)]
        with m.If(self.result.valid & self.result.ready):
            m.d.sync += self.result.valid.eq(0)
        m.d.comb += store.release.eq(self.result.valid & self.result.ready)
        return m
