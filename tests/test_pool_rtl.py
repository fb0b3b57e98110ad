"""The streaming max pooling unit (hdl/pool.py) on its own, in Amaranth simulation, against
golden's `max_pool_spikes`: spikes of one window back to back (the state read must see
the write just before it), random gaps, several images in a row (the clearing walk must
leave every window empty), for the binary-place rule (phase, radix, deferred) and the
count rule (rate)."""
import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from golden.codings.base import BINARY_MAX_POOL, COUNT_MAX_POOL, max_pool_spikes
from golden.cycles import STREAM_FINISH_CYCLES
from hdl.events import EventBuffer
from hdl.pool import StreamingMaxPool

NEURONS, PHASES = 12, 5
# windows of 3 (the neurons of a window side by side, so that their spikes, emitted in
# neuron order, reach the unit back to back); neurons 9 to 11 belong to no window
POOL_INDEX = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8]])


class PoolBench(wiring.Component):
    """The unit with the producer's event buffer it walks, as `snn_top` wires them."""

    def __init__(self, rule):
        self.unit = StreamingMaxPool(POOL_INDEX, NEURONS, PHASES, rule, "layer2")
        self.buffer = EventBuffer(NEURONS * PHASES, NEURONS, PHASES, PHASES)
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.unit, m.submodules.buffer = self.unit, self.buffer
        wiring.connect(m, self.unit.events, self.buffer.read)
        return m


def random_trains(rng, images: int) -> np.ndarray:
    """(images, phases, neurons) 0/1; phase-like single spikes for one image in three."""
    trains = (rng.random((images, PHASES, NEURONS)) < 0.45).astype(np.int64)
    for image in range(0, images, 3):
        first = np.argmax(trains[image], 0)
        single = np.zeros_like(trains[image])
        single[first, np.arange(NEURONS)] = trains[image].any(0)
        trains[image] = single
    return trains


def run_pool(rule, trains, rng):
    """Feed each image's spikes (phase order, neuron order, random gaps) as a producer
    emits them, then start the unit; returns per image the pooled (window, phase) events
    and the cycles from start to done."""
    bench = PoolBench(rule)
    unit, write = bench.unit, bench.buffer.write
    sim = Simulator(bench)
    sim.add_clock(1e-8)
    pooled, cycles, image = [[] for _ in trains] + [[]], [], [0]

    async def producer(ctx):
        await ctx.tick().until(unit.cleared)
        for train in trains:
            ctx.set(unit.tap.clear, 1)
            ctx.set(write.clear, 1)
            await ctx.tick()
            ctx.set(unit.tap.clear, 0)
            ctx.set(write.clear, 0)
            for phase in range(PHASES):
                for neuron in np.flatnonzero(train[phase]):
                    payload = {"neuron": int(neuron), "phase": phase + 1, "sign": 0}
                    ctx.set(unit.tap.events.payload, payload)
                    ctx.set(write.events.payload, payload)
                    for port in (unit.tap.events.valid, write.events.valid):
                        ctx.set(port, 1)
                    await ctx.tick()
                    for port in (unit.tap.events.valid, write.events.valid):
                        ctx.set(port, 0)
                    if rng.random() < 0.3:
                        await ctx.tick().repeat(int(rng.integers(1, 3)))
            ctx.set(unit.start, 1)
            await ctx.tick()
            ctx.set(unit.start, 0)
            count = 1
            while not ctx.get(unit.done):
                await ctx.tick()
                count += 1
            cycles.append(count)
            image[0] += 1

    async def monitor(ctx):
        while True:
            await ctx.tick()
            if ctx.get(unit.spikes.events.valid):
                event = ctx.get(unit.spikes.events.payload)
                pooled[image[0]].append((event.neuron, event.phase))

    sim.add_testbench(producer)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return [sorted(events) for events in pooled[:len(trains)]], cycles


@pytest.mark.parametrize("rule", [BINARY_MAX_POOL, COUNT_MAX_POOL], ids=["binary", "count"])
def test_streaming_max_pool_equals_golden_image_after_image(rule):
    rng = np.random.default_rng(7)
    trains = random_trains(rng, 9)
    pooled, cycles = run_pool(rule, trains, rng)
    golden = np.stack(max_pool_spikes([trains[:, t] for t in range(PHASES)], POOL_INDEX,
                                      rule), 1)
    for image, events in enumerate(pooled):
        expected = sorted((int(w), t + 1) for t, w in zip(*np.nonzero(golden[image])))
        assert events == expected, f"image {image}"
    assert any(golden.sum((1, 2)) > 0)
    walk = (1 + trains.sum(2)).sum(1)                    # a cycle per phase, one per spike
    np.testing.assert_array_equal(cycles, walk + STREAM_FINISH_CYCLES)
