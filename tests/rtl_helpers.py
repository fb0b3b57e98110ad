"""Shared pieces of the RTL tests: Amaranth simulation of snn_top, random core cases."""
import numpy as np
from amaranth.sim import Simulator

from golden.cycles import inference_cycles
from hdl.export import build_top, snn_top_verilog
from sim.runner import run_snn_top


def amaranth_run(network, images, lanes):
    """Stream images through snn_top in Amaranth's simulator.

    Returns (classes, latencies, spikes) where spikes[l] lists the (neuron, phase, ±1)
    events layer l emitted, image after image.
    """
    top = build_top(network, lanes)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    classes, latencies = [], []
    spikes = [[] for _ in top.engines[:-1]]

    async def driver(ctx):
        for image in images:
            for pixel in image:
                ctx.set(top.pixels.payload, int(pixel))
                ctx.set(top.pixels.valid, 1)
                await ctx.tick().until(top.pixels.ready)
            ctx.set(top.pixels.valid, 0)
            cycles = 0
            while not ctx.get(top.result.valid):
                await ctx.tick()
                cycles += 1
            classes.append(ctx.get(top.result.payload))
            latencies.append(cycles)
            ctx.set(top.result.ready, 1)
            await ctx.tick()
            ctx.set(top.result.ready, 0)

    async def monitor(ctx):
        while True:
            await ctx.tick()
            for events, engine in zip(spikes, top.engines):
                if ctx.get(engine.spikes.valid):
                    events.append((ctx.get(engine.spikes.neuron), ctx.get(engine.spikes.phase),
                                   -1 if ctx.get(engine.spikes.sign) else 1))

    sim.add_testbench(driver)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return np.array(classes), np.array(latencies), spikes


def expected_spikes(spike_train):
    """Golden events in the order the engine emits them: phase, then neuron index."""
    return [(int(j), t + 1, int(image[t, j])) for image in spike_train
            for t in range(image.shape[0]) for j in np.flatnonzero(image[t])]


def rtl_vs_golden(network, images, lanes, tmp_path):
    """snn_top on Verilator equals golden on every image: class and cycle count."""
    source = tmp_path / "snn_top.v"
    source.write_text(snn_top_verilog(network, lanes)[0])
    rtl = run_snn_top(source, images, tmp_path / "sim")
    golden = network.simulate(images)
    mismatched = np.flatnonzero(rtl["classes"] != golden.classes)
    assert mismatched.size == 0, f"class mismatches at images {mismatched.tolist()}"
    cycles = inference_cycles(network, golden, lanes)["latency"]
    mismatched = np.flatnonzero(rtl["latency"] != cycles)
    assert mismatched.size == 0, f"cycle mismatches at images {mismatched.tolist()}"


def amaranth_vs_golden(network, images, lanes):
    """snn_top in Amaranth's simulator equals golden: classes, cycles, every spike."""
    golden = network.simulate(images)
    classes, latency, spikes = amaranth_run(network, images, lanes)
    np.testing.assert_array_equal(classes, golden.classes)
    np.testing.assert_array_equal(latency, inference_cycles(network, golden, lanes)["latency"])
    for events, counts, layer in zip(spikes, golden.layers[:-1], network.layers):
        expected = expected_spikes(counts.spike_train)
        if layer.conv is not None:
            # The convolution engine emits a phase's spikes in (site, channel) order.
            events, expected = per_image_sorted(events, counts), per_image_sorted(expected, counts)
        assert events == expected, layer.name


def per_image_sorted(events, counts):
    ends = np.abs(counts.spike_train).sum((1, 2)).cumsum()
    return [sorted(events[start:end]) for start, end in zip(np.r_[0, ends[:-1]], ends)]
