"""Shared pieces of the RTL tests: Amaranth simulation of snn_top, random core cases."""
import json
from fractions import Fraction

import numpy as np
from amaranth.sim import Simulator

from golden.codings.phase import BINARY, FixedQ, PhaseLayer, threshold_table
from hdl.export import build_top


def amaranth_run(network, images, lanes):
    """Stream images through snn_top in Amaranth's simulator.

    Returns (classes, latencies, spikes) where spikes[l] lists the (neuron, phase)
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
                    events.append((ctx.get(engine.spikes.neuron), ctx.get(engine.spikes.phase)))

    sim.add_testbench(driver)
    sim.add_testbench(monitor, background=True)
    sim.run()
    return np.array(classes), np.array(latencies), spikes


def expected_spikes(spike_train):
    """Golden events in the order the engine emits them: phase, then neuron index."""
    return [(int(j), t + 1) for image in spike_train for t in range(image.shape[0])
            for j in np.flatnonzero(image[t])]


def random_core_case(seed: int, neurons: int = 12) -> tuple[PhaseLayer, dict]:
    """Random parameters (T, Q, w, widths) and stimuli for the core test."""
    rng = np.random.default_rng(seed)
    T, weight_bits, guard = int(rng.integers(2, 17)), int(rng.integers(3, 10)), int(rng.integers(0, 5))
    wait = int(rng.integers(0, T + 1))
    q_out = FixedQ.from_float(float(rng.uniform(1.05, 2.0)), int(rng.integers(2, 9)))
    q_in = BINARY if rng.random() < 0.3 else q_out
    n_in = int(rng.integers(1, 12))
    top = (1 << (weight_bits - 1)) - 1
    weight = rng.integers(-top, top + 1, size=(n_in, neurons))
    bias = rng.integers(-(top << guard), (top << guard) + 1, size=neurons)
    theta = Fraction(float(rng.uniform(1, 2 * top))) * (1 << guard)
    layer = PhaseLayer("core test", weight, bias, q_in, q_out, T + wait, T, wait, guard,
                       threshold_table(theta, q_in, q_out, T, wait), is_output=False)
    layer.derive_widths()
    spikes = rng.random((T, n_in)) < 0.35
    p = layer.neuron_params
    case = {
        "params": {"potential_width": p.potential_width, "weight_width": p.weight_width,
                   "bias_width": p.bias_width, "threshold_width": p.threshold_width,
                   "q_in": [q_in.num, q_in.frac], "guard_bits": guard},
        "steps": layer.steps, "wait": wait,
        "neurons": [{"bias": int(bias[j]), "table": layer.threshold_table,
                     "inputs": [[int(weight[i, j]) for i in np.flatnonzero(spikes[k])]
                                for k in range(T)]} for j in range(neurons)],
    }
    return layer, case


def write_case(case: dict, path) -> None:
    path.write_text(json.dumps(case))
