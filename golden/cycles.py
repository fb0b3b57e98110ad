"""Cycle model of `snn_top` (hdl/network.py, hdl/layer.py), exact to the clock cycle.

The RTL regression checks this against Verilator for every image it runs, so the figures
in a report can be trusted. For one layer on its engine (`golden.geometry`: G groups of
`lanes` channels, CG per site, E receptive entries per input event, A address stages;
a dense layer has one site, E = 1, A = 0) and the layer's `Schedule`:

    ops    = G·step_passes + CG·E·(input events) (+ G for the output layer's READ pass)
    stalls = Σ_(phase, group) max(0, spikes the group emits in that phase - 1)
    cycles = ops + stalls + PIPELINE_CYCLES + A (+ L: the output layer's argmax tree levels)

A max pooling unit before a layer (`hdl/pool.py`) adds, with W windows and P phases:

    cycles = Σ_t (max(1, events of phase t) + 2 + W) + 2

latency (cycles from the last accepted pixel to `result__valid`) = INPUT_CYCLES + Σ_layers
cycles (the last pixel is registered, stored, and the first layer started).
An image then takes n_in cycles to load, so back-to-back throughput is one image every
n_in + latency cycles.
"""
import numpy as np

from .geometry import lanes_per_layer, layer_geometry

PIPELINE_CYCLES = 6   # start → first op, and R, B0, P, B1, C to drain
INPUT_CYCLES = 3      # last pixel → registered → stored (tsc: p* registered) → first start
POOL_WAIT_CYCLES = 2    # hdl/pool.py: WAIT_CYCLES
POOL_FINISH_CYCLES = 2  # hdl/pool.py: FINISH_CYCLES


def layer_cycles(layer, counts, lanes: int) -> np.ndarray:
    """Per-image cycles of one layer engine. `counts` is the layer's `LayerCounts`."""
    schedule, geometry = layer.schedule, layer_geometry(layer, lanes)
    channels, sites, lanes = geometry.channels, geometry.sites, geometry.lanes
    groups = geometry.groups_per_site
    events = counts.input_events_per_phase[:, :schedule.input_phases].sum(1)
    ops = geometry.groups * schedule.step_passes + groups * geometry.entries * events
    ops = ops + (geometry.groups if schedule.is_output else 0)   # the READ pass
    stalls = np.zeros_like(events)
    if counts.spike_train is not None:
        train = counts.spike_train != 0                            # a spike of either sign
        padded = np.zeros(train.shape[:2] + (groups * lanes, sites), dtype=np.int64)
        padded[:, :, :channels] = train.reshape(train.shape[:2] + (channels, sites))
        per_group = padded.reshape(train.shape[:2] + (groups, lanes, sites)).sum(3)
        stalls += np.maximum(per_group - 1, 0).sum((1, 2, 3))
    return (ops + stalls + PIPELINE_CYCLES + geometry.address_stages
            + geometry.argmax_levels)


def pool_cycles(layer, producer_counts) -> np.ndarray:
    """Cycles of the max pooling unit before `layer` (`hdl/pool.py`), start to done."""
    train = producer_counts.spike_train != 0
    events = train.sum(2)                                  # (images, phases)
    windows = layer.input_pool.shape[0]
    return (np.maximum(events, 1) + POOL_WAIT_CYCLES + windows).sum(1) + POOL_FINISH_CYCLES


def inference_cycles(network, result, lanes) -> dict:
    """Per layer: the layer's engine, plus the max pooling unit before it, if any.
    `lanes`: one count for all layers or one per layer."""
    per_layer = []
    for index, (layer, counts, layer_lanes) in enumerate(
            zip(network.layers, result.layers, lanes_per_layer(network, lanes))):
        cycles = layer_cycles(layer, counts, layer_lanes)
        if layer.input_pool is not None:
            cycles = cycles + pool_cycles(layer, result.layers[index - 1])
        per_layer.append(cycles)
    latency = INPUT_CYCLES + sum(per_layer)
    return {"latency": latency, "per_layer": per_layer,
            "load": network.n_inputs, "period": latency + network.n_inputs}


def balanced_lanes(network, result, budget: int) -> list[int]:
    """`--lanes auto`: one lane count per layer, `budget` lanes in all at most (at least one
    per layer), so the layers' cycle counts come out balanced. Lanes go, a step at a time,
    to the layer with the most cycles (mean over `result`'s images) that can still use
    more: a step is the smallest increase that saves a channel group per site (a lane that
    saves none is never given). Max pooling units do not depend on lanes."""
    layers = network.layers
    lanes = [1] * len(layers)
    if budget < len(layers):
        raise ValueError(f"--lanes auto: a budget of {budget} lanes is less than one per layer "
                         f"({len(layers)} layers)")

    def mean_cycles(index: int, count: int) -> float:
        return float(layer_cycles(layers[index], result.layers[index], count).mean())

    def next_step(index: int) -> int | None:
        geometry = layer_geometry(layers[index], lanes[index])
        for count in range(lanes[index] + 1, geometry.channels + 1):
            if layer_geometry(layers[index], count).groups_per_site < geometry.groups_per_site:
                return count
        return None

    cycles = [mean_cycles(index, 1) for index in range(len(layers))]
    while True:
        candidates = [(cycles[index], index, step) for index in range(len(layers))
                      if (step := next_step(index)) is not None
                      and sum(lanes) - lanes[index] + step <= budget]
        if not candidates:
            return lanes
        _, index, step = max(candidates)
        lanes[index] = step
        cycles[index] = mean_cycles(index, step)
