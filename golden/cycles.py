"""Cycle model of `snn_top` (hdl/network.py, hdl/layer.py), exact to the clock cycle.

The RTL regression checks this against Verilator for every image it runs, so the figures
in a report can be trusted. For one layer on its engine (`golden.geometry`: G groups of
`lanes` channels, CG per site, E receptive entries per input event, A address stages;
a dense layer has one site, E = 1, A = 2; a convolution A = 5) and the layer's `Schedule`:

    ops    = G·step_passes + Σ_(input events) event_ops (+ G for the output layer's READ pass)
    stalls = Σ_(phase, group) max(0, spikes the group emits in that phase - 1)
    cycles = ops + stalls + PIPELINE_CYCLES + A (+ L: the output layer's argmax tree levels)

where an event costs CG·E ops, or CG·L + 2 when its receptive row is short, L < E entries
(`LayerGeometry.event_ops`: if L·CG ≥ 3 and at least two padding ops would follow; dense:
CG).

A max pooling unit before a layer (`hdl/pool.py`) adds, with M windows, P phases and the
producer's events of phase t:

    streaming (binary places, counts): Σ_t (1 + events) + 7     (pooling runs while the
                                       producer emits; this is the walk that empties it)
    time on (tsc, a scan of words of   Σ_t (max(1, events) + 5 + ceil(M / lanes) + stalls) + 4
    `lanes` windows, the consumer's)   stalls: Σ_words max(0, pooled spikes of the word - 1)

Every layer after the first waits HANDOFF_CYCLES = 1 more: the unit after a layer (the
next layer or its max pooling unit) starts the cycle after the layer is done.

The input store (`hdl/input_store.py`) writes a pixel into its input lists one write per
cycle, W writes per pixel (`input_writes_per_pixel`): an image loads in W·n_in cycles.
With S = Σ_layers cycles of an image:

    latency = W + INPUT_CYCLES + S      cycles from the last accepted pixel to
                                        `result__valid`, nothing else running
    start → result handshake = S + 2    (the handshake cycle, the sink always ready)

Back to back (the source always valid, the sink always ready; `stream_schedule` gives the
cycle of every result handshake), the period of an image is, with two input banks (the
next image loads while the layers run), max(W·n_in + 2, S_previous + 3), and with one bank
W·n_in + S + 4.
"""
import numpy as np

from .codings import get_coding
from .codings.base import max_pool_spikes
from .geometry import lanes_per_layer, layer_geometry

PIPELINE_CYCLES = 6   # start → first op, and R, B0, P, B1, C to drain
INPUT_CYCLES = 2      # after the last pixel's W writes: the last write lands, the first start
POOL_WAIT_CYCLES = 3     # hdl/pool_time_on.py: WAIT_CYCLES
POOL_DRAIN_CYCLES = 2    # hdl/pool_time_on.py: DRAIN_CYCLES
POOL_FINISH_CYCLES = 4   # hdl/pool_time_on.py: FINISH_CYCLES
STREAM_FINISH_CYCLES = 7  # hdl/pool.py: STREAM_FINISH_CYCLES
HANDOFF_CYCLES = 1       # hdl/network.py: a layer's done starts the next unit a cycle later


def layer_cycles(layer, counts, lanes: int) -> np.ndarray:
    """Per-image cycles of one layer engine. `counts` is the layer's `LayerCounts`."""
    schedule, geometry = layer.schedule, layer_geometry(layer, lanes)
    channels, sites, lanes = geometry.channels, geometry.sites, geometry.lanes
    groups = geometry.groups_per_site
    events = counts.input_events_per_neuron
    add_ops = events @ geometry.ops_per_input(events.shape[1])
    ops = geometry.groups * schedule.step_passes + add_ops
    ops = ops + (geometry.groups if schedule.is_output else 0)   # the READ pass
    stalls = np.zeros_like(add_ops)
    if counts.spike_train is not None:
        train = counts.spike_train != 0                            # a spike of either sign
        padded = np.zeros(train.shape[:2] + (groups * lanes, sites), dtype=np.int64)
        padded[:, :, :channels] = train.reshape(train.shape[:2] + (channels, sites))
        per_group = padded.reshape(train.shape[:2] + (groups, lanes, sites)).sum(3)
        stalls += np.maximum(per_group - 1, 0).sum((1, 2, 3))
    return (ops + stalls + PIPELINE_CYCLES + geometry.address_stages
            + geometry.argmax_levels)


def pool_cycles(layer, producer_counts, rule, lanes: int) -> np.ndarray:
    """Cycles of the max pooling unit before `layer` (`hdl/pool.py`), start to done.
    `lanes`: the consumer's, the time-on unit's windows per PASS word."""
    train = producer_counts.spike_train
    walk = np.maximum((train != 0).sum(2), 1)              # (images, phases)
    if not rule.integrate:
        return (1 + (train != 0).sum(2)).sum(1) + STREAM_FINISH_CYCLES
    windows = layer.input_pool.shape[0]
    group = max(1, min(lanes, windows))
    words = -(-windows // group)
    pooled = np.stack(max_pool_spikes([train[:, t] for t in range(train.shape[1])],
                                      layer.input_pool, rule), 1) != 0
    padded = np.zeros(pooled.shape[:2] + (words * group,), dtype=np.int64)
    padded[:, :, :windows] = pooled
    per_word = padded.reshape(pooled.shape[:2] + (words, group)).sum(3)
    stalls = np.maximum(per_word - 1, 0).sum((1, 2))
    return ((walk + POOL_WAIT_CYCLES + words + POOL_DRAIN_CYCLES).sum(1) + stalls
            + POOL_FINISH_CYCLES)


def input_writes_per_pixel(network) -> int:
    """W: the input lists a pixel enters, one write each (`hdl.input_store`): one per input
    phase for the bit planes, or the coding's own count (tsc: 2)."""
    return getattr(get_coding(network.coding).golden, "INPUT_WRITES_PER_PIXEL",
                   network.layers[0].schedule.input_phases)


def inference_cycles(network, result, lanes, input_banks: int = 2) -> dict:
    """Per layer: the layer's engine, plus the max pooling unit before it, if any; the
    latency, the load time and the back-to-back period of every image.
    `lanes`: one count for all layers or one per layer."""
    per_layer, rule = [], get_coding(network.coding).golden.MAX_POOL
    for index, (layer, counts, layer_lanes) in enumerate(
            zip(network.layers, result.layers, lanes_per_layer(network, lanes))):
        cycles = layer_cycles(layer, counts, layer_lanes)
        if index > 0:
            cycles = cycles + HANDOFF_CYCLES
        if layer.input_pool is not None:
            cycles = cycles + pool_cycles(layer, result.layers[index - 1], rule,
                                          layer_geometry(layer, layer_lanes).lanes)
        per_layer.append(cycles)
    writes = input_writes_per_pixel(network)
    layers = sum(per_layer)
    load = writes * network.n_inputs
    period = np.maximum(load + 2, layers + 3) if input_banks == 2 else load + layers + 4
    return {"latency": writes + INPUT_CYCLES + layers, "per_layer": per_layer,
            "layers": layers, "load": load, "period": period, "input_banks": input_banks}


def stream_schedule(network, result, lanes, input_banks: int = 2) -> np.ndarray:
    """The cycle of each image's result handshake, counted from the cycle the first pixel is
    taken, when the images stream back to back (pixels always valid, results always
    ready), after `hdl/input_store.py`: image
    i's first pixel is taken the cycle after image i-1 starts (two banks) or after its
    result handshake (one bank); it starts W + 1 cycles after its last pixel, and not
    before the cycle after the previous handshake; its handshake comes S + 2 later."""
    layers = inference_cycles(network, result, lanes, input_banks)["layers"]
    writes, n = input_writes_per_pixel(network), network.n_inputs
    handshakes, start, handshake = [], None, None
    for image_layers in layers:
        if start is None:
            first = 0
        else:
            first = (start if input_banks == 2 else handshake) + 1
        start = first + writes * (n - 1) + writes + 1
        if handshake is not None:
            start = max(start, handshake + 1)
        handshake = start + int(image_layers) + 2
        handshakes.append(handshake)
    return np.array(handshakes)


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
