"""Shared pieces of the RTL tests: Amaranth simulation of snn_top, random core cases."""
import numpy as np
from amaranth.sim import Simulator

from golden.cycles import inference_cycles
from hdl.export import build_top, snn_top_verilog
from sim.runner import run_snn_top


async def send_pixels(ctx, top, image):
    """One image into snn_top's pixel stream, each pixel held until it is taken."""
    for pixel in image:
        ctx.set(top.pixels.payload, int(pixel))
        ctx.set(top.pixels.valid, 1)
        await ctx.tick().until(top.pixels.ready)


def amaranth_run(network, images, lanes, spram_layers=(), **top_options):
    """Stream images through snn_top in Amaranth's simulator (the weight tables of
    `spram_layers` written through `weights_load` first).

    Returns (classes, latencies, spikes) where spikes[l] lists the (neuron, phase, ±1)
    events layer l emitted, image after image.
    """
    top = build_top(network, lanes, spram_layers, **top_options)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    classes, latencies = [], []
    spikes = [[] for _ in top.engines[:-1]]

    async def driver(ctx):
        if top.spram_layout is not None:
            for address, word in enumerate(top.spram_layout.store_words()):
                ctx.set(top.weights_load.addr, address)
                ctx.set(top.weights_load.data, word)
                ctx.set(top.weights_load.en, 1)
                await ctx.tick()
            ctx.set(top.weights_load.en, 0)
        for image in images:
            await send_pixels(ctx, top, image)
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
                if ctx.get(engine.spikes.events.valid):
                    event = ctx.get(engine.spikes.events.payload)
                    events.append((event.neuron, event.phase, -1 if event.sign else 1))

    sim.add_testbench(driver)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return np.array(classes), np.array(latencies), spikes


def amaranth_stream(network, images, lanes, input_banks=2):
    """Stream the images back to back in Amaranth's simulator (pixels always valid, results
    always ready). Returns (classes, handshake cycles counted from the first pixel taken)."""
    top = build_top(network, lanes, input_banks=input_banks)
    sim = Simulator(top)
    sim.add_clock(1e-8)
    classes, handshakes = [], []

    async def source(ctx):
        for image in images:
            await send_pixels(ctx, top, image)
        ctx.set(top.pixels.valid, 0)

    async def sink(ctx):
        ctx.set(top.result.ready, 1)
        cycle, first = 0, None
        while len(classes) < len(images):
            if first is None and ctx.get(top.pixels.valid) and ctx.get(top.pixels.ready):
                first = cycle
            if ctx.get(top.result.valid):
                classes.append(ctx.get(top.result.payload))
                handshakes.append(cycle - first)
            await ctx.tick()
            cycle += 1

    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    return np.array(classes), np.array(handshakes)


def expected_spikes(spike_train):
    """Golden events in the order the engine emits them: phase, then neuron index."""
    return [(int(j), t + 1, int(image[t, j])) for image in spike_train
            for t in range(image.shape[0]) for j in np.flatnonzero(image[t])]


def rtl_vs_golden(network, images, lanes, tmp_path, spram_layers=()):
    """snn_top on Verilator equals golden on every image: class and cycle count (the weight
    tables of `spram_layers` written into the SPRAM store first)."""
    source = tmp_path / "snn_top.v"
    verilog, top = snn_top_verilog(network, lanes, spram_layers)
    source.write_text(verilog)
    words = None if top.spram_layout is None else top.spram_layout.store_words()
    rtl = run_snn_top(source, images, tmp_path / "sim", words)
    golden = network.simulate(images)
    mismatched = np.flatnonzero(rtl["classes"] != golden.classes)
    assert mismatched.size == 0, f"class mismatches at images {mismatched.tolist()}"
    cycles = inference_cycles(network, golden, lanes)["latency"]
    mismatched = np.flatnonzero(rtl["latency"] != cycles)
    assert mismatched.size == 0, f"cycle mismatches at images {mismatched.tolist()}"


def amaranth_vs_golden(network, images, lanes, spram_layers=(), **top_options):
    """snn_top in Amaranth's simulator equals golden: classes, cycles, every spike.
    `top_options`: `build_top`'s (input_banks, shared_state, ..)."""
    golden = network.simulate(images)
    classes, latency, spikes = amaranth_run(network, images, lanes, spram_layers, **top_options)
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
