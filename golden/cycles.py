"""Cycle model of `snn_top` (hdl/network.py, hdl/layer.py), exact to the clock cycle.

The RTL regression checks this against Verilator for every image it runs, so the figures
in a report can be trusted. For one layer with G = ceil(n_out / lanes) groups:

    ops    = Σ_k G·(1 + events(k))  over its STEP passes k (+ G for the output READ pass)
    stalls = Σ_(phase, group) max(0, spikes fired by the group in that phase - 1)
    cycles = ops + stalls + PIPELINE_CYCLES

latency (cycles from the last accepted pixel to `result__valid`) = 1 + Σ_layers cycles.
An image then takes n_in cycles to load, so back-to-back throughput is one image every
n_in + latency cycles.
"""
import numpy as np

from .roms import groups_of

PIPELINE_CYCLES = 3   # start → first op, and two stages to drain


def layer_cycles(layer, counts, lanes: int) -> np.ndarray:
    """Per-image cycles of one layer engine. `counts` is the layer's `LayerCounts`."""
    lanes = min(lanes, layer.n_out)
    groups = groups_of(layer.n_out, lanes)
    step_passes = layer.steps if layer.is_output else layer.steps + 1
    events = counts.input_events_per_phase.sum(1)
    ops = groups * (step_passes + events) + (groups if layer.is_output else 0)
    stalls = np.zeros_like(events)
    if counts.fire_phase is not None:
        padded = np.zeros((len(events), groups * lanes), dtype=np.int64)
        padded[:, :layer.n_out] = counts.fire_phase
        per_group = padded.reshape(len(events), groups, lanes)
        for t in range(1, layer.T + 1):
            fired = (per_group == t).sum(2)
            stalls += np.maximum(fired - 1, 0).sum(1)
    return ops + stalls + PIPELINE_CYCLES


def inference_cycles(network, result, lanes: int) -> dict:
    per_layer = [layer_cycles(layer, counts, lanes)
                 for layer, counts in zip(network.layers, result.layers)]
    latency = 1 + sum(per_layer)
    return {"latency": latency, "per_layer": per_layer,
            "load": network.n_inputs, "period": latency + network.n_inputs}
