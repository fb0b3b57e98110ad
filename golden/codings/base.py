"""Shared by every coding's golden model: the schedule, the network loop, the counts."""
from dataclasses import dataclass

import numpy as np

from ..convert import ConversionError
from ..data import PIXEL_BITS


def check_ints(coding: str, params, limits: dict[str, tuple[int, int]]) -> None:
    """Each named parameter is an integer within its (lo, hi); else a clear error."""
    for name, (lo, hi) in limits.items():
        value = getattr(params, name)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ConversionError(f"{coding}: {name} must be an integer from {lo} to {hi}, "
                                  f"not {value!r}")


class LayerShape:
    """For layer dataclasses holding `weight` as (n_in, n_out)."""

    @property
    def n_in(self) -> int:
        return self.weight.shape[0]

    @property
    def n_out(self) -> int:
        return self.weight.shape[1]


@dataclass(frozen=True)
class Schedule:
    """How the layer engine (hdl/layer.py) runs one layer; golden/cycles.py reads it too.

    STEP passes run for k = 1 .. step_passes; an ADD pass over the input events of phase k
    follows STEP k when k <= input_phases. STEP passes k > emit_offset make the fire
    decision for output phase k - emit_offset (threshold_table[k - emit_offset - 1]).
    The output layer ends with a READ pass instead of emitting spikes.
    """
    step_passes: int
    input_phases: int
    emit_offset: int
    output_phases: int            # phases of the emitted spikes (0 for the output layer)
    max_spikes_per_neuron: int
    is_output: bool
    signed_spikes: bool = False   # input events and emitted spikes carry a sign (+1 / -1)


@dataclass
class LayerCounts:
    name: str
    neurons: int
    output_spikes: np.ndarray             # (n_images,) spikes this layer emitted
    synaptic_adds: np.ndarray             # (n_images,) weight additions
    other_ops: dict[str, np.ndarray]      # name → (n_images,) counts
    input_events_per_phase: np.ndarray    # (n_images, phases) input spikes seen per phase
    spike_train: np.ndarray | None        # (n_images, phases, neurons) 0/1, or -1/0/+1 (hidden)


@dataclass
class SimResult:
    classes: np.ndarray                   # (n_images,) argmax of the output layer
    input_spikes: np.ndarray              # (n_images,) spikes the pixels were coded into
    layers: list[LayerCounts]
    final_potential: np.ndarray           # (n_images, n_classes) output layer potentials

    def summary(self) -> dict:
        """Per-inference means, per layer and in total."""
        per_layer = [{"layer": c.name, "neurons": c.neurons,
                      "spikes": float(c.output_spikes.mean()),
                      "spikes_per_neuron": float(c.output_spikes.mean() / c.neurons),
                      "synaptic_adds": float(c.synaptic_adds.mean()),
                      **{k: float(v.mean()) for k, v in c.other_ops.items()}}
                     for c in self.layers]
        return {"input_spikes": float(self.input_spikes.mean()),
                "layers": per_layer,
                "total_spikes": float(sum(l["spikes"] for l in per_layer)),
                "total_synaptic_adds": float(sum(l["synaptic_adds"] for l in per_layer))}


EXACT_FLOAT64 = 1 << 53


def spike_matmul(spikes: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """spikes (batch, n_in) @ weight (n_in, n_out), exactly, in int64.

    NumPy's integer matrix product does not use BLAS; float64 does, and is exact while
    every partial sum stays below 2^53, which the bound checked here guarantees."""
    bound = int(np.abs(spikes).max(initial=0)) * int(np.abs(weight).sum(0).max(initial=0))
    if bound >= EXACT_FLOAT64:
        return spikes @ weight
    return (spikes.astype(np.float64) @ weight.astype(np.float64)).astype(np.int64)


def input_spikes(pixels: np.ndarray, phases: int) -> list[np.ndarray]:
    """Binary coding of 8-bit pixels, MSB first: phase k carries bit (8 - k), k ≤ min(phases, 8)."""
    pixels = pixels.astype(np.int64)
    return [((pixels >> (PIXEL_BITS - k)) & 1) for k in range(1, min(phases, PIXEL_BITS) + 1)]


def simulate_network(network, pixels: np.ndarray, run_layer, encode=input_spikes) -> SimResult:
    """Run the layers of `network` on uint8 pixels (n, n_in), as `snn_top` does.

    `encode(pixels, phases)` codes the pixels into per-phase (batch, n_in) spikes (binary
    planes unless the coding has its own input coding). `run_layer(layer, spikes)` takes
    the per-phase (batch, n_in) inputs (0/1, or -1/0/+1 for signed codings) and returns
    (spike train (batch, phases, n_out) or None for the output layer, read-out
    (batch, n_out), synaptic additions per image). Each layer provides `schedule` and
    `fixed_ops()` (operations that do not depend on the data, per image).
    """
    spikes = encode(pixels, network.layers[0].schedule.input_phases)
    input_count = sum(np.abs(s).sum(1) for s in spikes)
    counts = []
    for layer in network.layers:
        spikes = spikes[:layer.schedule.input_phases]
        train, readout, adds = run_layer(layer, spikes)
        in_events = np.stack([np.abs(s).sum(1) for s in spikes], 1)
        if layer.schedule.is_output:
            classes = np.argmax(readout, axis=1)       # first maximum: ties to the lowest index
            out_spikes = np.zeros(len(pixels), dtype=np.int64)
        else:
            out_spikes = np.abs(train).sum((1, 2))
            spikes = [train[:, t].astype(np.int64) for t in range(train.shape[1])]
        counts.append(LayerCounts(
            name=layer.name, neurons=layer.n_out, output_spikes=out_spikes,
            synaptic_adds=adds,
            other_ops={k: np.full(len(pixels), v) for k, v in layer.fixed_ops().items()},
            input_events_per_phase=in_events,
            spike_train=None if train is None else train.astype(np.int8)))
    return SimResult(classes=classes, input_spikes=input_count, layers=counts,
                     final_potential=readout)
