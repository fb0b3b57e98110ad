"""Shared by every coding's golden model: the schedule, the network loop, the counts."""
from dataclasses import dataclass

import numpy as np

from ..conv import geometry_from_json, geometry_to_json
from ..convert import ConversionError
from ..data import PIXEL_BITS
from ..graph import gather_spikes, sources_from_json, sources_to_json


def check_ints(coding: str, params, limits: dict[str, tuple[int, int]]) -> None:
    """Each named parameter is an integer within its (lo, hi); else a clear error."""
    for name, (lo, hi) in limits.items():
        value = getattr(params, name)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ConversionError(f"{coding}: {name} must be an integer from {lo} to {hi}, "
                                  f"not {value!r}")


def check_percentile(coding: str, value) -> None:
    """A Robust Norm percentile: a number in [50, 100]; else a clear error."""
    if (not isinstance(value, (int, float)) or isinstance(value, bool)
            or not 50.0 <= float(value) <= 100.0):
        raise ConversionError(f"{coding}: percentile must lie in [50, 100], not {value!r}")


# Robust Norm percentiles an accuracy hint steps down through (`lower_percentile`)
PERCENTILE_STEPS = (99.9, 99.5, 99.0, 98.5, 98.0, 97.0, 95.0)


def lower_percentile(value: float) -> float | None:
    """The next Robust Norm percentile below `value` (`PERCENTILE_STEPS`), None below them."""
    return next((step for step in PERCENTILE_STEPS if step < value), None)


class LayerShape:
    """For layer dataclasses holding `weight` as (n_in, n_out). `input_pool` (n_in, window),
    set by the converter, max-pools the previous layer's spikes (`max_pool_spikes`);
    `fan_out` (n_in,) counts the neurons each input reaches (a convolution's receptive
    fields), None for a dense layer (every neuron)."""
    input_pool: np.ndarray | None = None
    fan_out: np.ndarray | None = None
    conv = None       # golden.conv.ConvGeometry the RTL convolution engine runs, if any
    sources = None    # golden.graph.Source each; None: the layer before (a merge reads two)
    ann_macs = None   # the float ANN's multiply-accumulates here (None: `connections`)

    @property
    def connections(self) -> int:
        """Synapses: the multiply-accumulates of one ANN inference of this layer."""
        return self.n_in * self.n_out if self.fan_out is None else int(self.fan_out.sum())

    def synaptic_adds(self, spikes: np.ndarray) -> np.ndarray:
        """(batch,) weight additions for one phase of (batch, n_in) input spikes."""
        events = np.abs(spikes)
        return events.sum(1) * self.n_out if self.fan_out is None else events @ self.fan_out

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
    input_events_per_neuron: np.ndarray   # (n_images, n_in) input spikes of each input neuron
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
SPARSE_ABOVE = 1 << 20     # weights with more entries, mostly zero, multiply as sparse


def spike_matmul(spikes: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """spikes (batch, n_in) @ weight (n_in, n_out), exactly, in int64.

    NumPy's integer matrix product does not use BLAS; float64 does, and is exact while
    every partial sum stays below 2^53, which the bound checked here guarantees (in any
    order of summation, so also as a sparse product: an unrolled MNIST-size convolution
    is ~97 % zeros)."""
    bound = int(np.abs(spikes).max(initial=0)) * int(np.abs(weight).sum(0).max(initial=0))
    if bound >= EXACT_FLOAT64:
        return spikes @ weight
    if weight.size > SPARSE_ABOVE and np.count_nonzero(weight) < weight.size // 8:
        from scipy import sparse
        product = sparse.csr_matrix(weight.T.astype(np.float64)) @ spikes.T.astype(np.float64)
        return np.asarray(product).T.astype(np.int64)
    return (spikes.astype(np.float64) @ weight.astype(np.float64)).astype(np.int64)


def input_spikes(pixels: np.ndarray, phases: int) -> list[np.ndarray]:
    """Binary coding of 8-bit pixels, MSB first: phase k carries bit (8 - k), k ≤ min(phases, 8)."""
    pixels = pixels.astype(np.int64)
    return [((pixels >> (PIXEL_BITS - k)) & 1) for k in range(1, min(phases, PIXEL_BITS) + 1)]


@dataclass(frozen=True)
class MaxPoolRule:
    """What the maximum of spike trains is in one coding (docs/codings.md §6).

    A train's decoded value so far is Σ_{t' ≤ t} place(t')·x(t'), x the spikes (or, for
    `integrate`, their running sum, the on/off state of a spike pair). The pooled train is
    the one whose decoded value so far equals the window's largest, at every phase. With
    place values 2^(P-t) that is the bit-serial maximum of MSB-first numbers (radix,
    deferred) and, for at most one spike per neuron, "the earliest spike passes" (phase);
    with place value 1 it is the running maximum of the spike counts (rate) or of the
    time spent on (tsc). The final decoded value is exactly the window's maximum.
    """
    binary_places: bool
    integrate: bool = False

    def places(self, phases: int) -> np.ndarray:
        if self.binary_places:
            return np.left_shift(1, np.arange(phases - 1, -1, -1, dtype=np.int64))
        return np.ones(phases, dtype=np.int64)


BINARY_MAX_POOL = MaxPoolRule(binary_places=True)
COUNT_MAX_POOL = MaxPoolRule(binary_places=False)
TIME_ON_MAX_POOL = MaxPoolRule(binary_places=False, integrate=True)


def max_pool_spikes(spikes: list[np.ndarray], pool_index: np.ndarray,
                    rule: MaxPoolRule) -> list[np.ndarray]:
    """Per-phase (batch, n_prev) spikes → per-phase (batch, n_pooled) pooled spikes."""
    x = np.stack(spikes, 1).astype(np.int64)                   # (batch, phases, n_prev)
    if rule.integrate:
        x = np.cumsum(x, 1)
    places = rule.places(x.shape[1])[None, :, None]
    so_far = np.cumsum(x * places, 1)[:, :, pool_index].max(-1)
    pooled = np.diff(so_far, axis=1, prepend=0) // places
    if rule.integrate:
        pooled = np.diff(pooled, axis=1, prepend=0)
    return [pooled[:, t] for t in range(pooled.shape[1])]


def copy_structure(layer, source) -> None:
    """Give an integer layer the pooling, fan-out and convolution of the layer it came from."""
    layer.input_pool, layer.fan_out = source.input_pool, source.fan_out
    layer.conv, layer.ann_macs = source.conv, source.ann_macs
    layer.sources = source.sources


def structure_to_json(layer) -> dict:
    arrays = {key: None if getattr(layer, key) is None else getattr(layer, key).tolist()
              for key in ("input_pool", "fan_out")}
    return {**arrays, "conv": geometry_to_json(layer.conv), "ann_macs": layer.ann_macs,
            "sources": sources_to_json(layer)}


def structure_from_json(layer, data: dict):
    for key in ("input_pool", "fan_out"):
        if data.get(key) is not None:
            setattr(layer, key, np.array(data[key], dtype=np.int64))
    layer.conv = geometry_from_json(data.get("conv"))
    layer.ann_macs = data.get("ann_macs")
    layer.sources = sources_from_json(data.get("sources"))
    return layer


def simulate_network(network, pixels: np.ndarray, run_layer, encode=input_spikes,
                     max_pool: MaxPoolRule = BINARY_MAX_POOL) -> SimResult:
    """Run the layers of `network` on uint8 pixels (n, n_in), as `snn_top` does.

    `encode(pixels, phases)` codes the pixels into per-phase (batch, n_in) spikes (binary
    planes unless the coding has its own input coding). `run_layer(layer, spikes)` takes
    the per-phase (batch, n_in) inputs (0/1, or -1/0/+1 for signed codings) and returns
    (spike train (batch, phases, n_out) or None for the output layer, read-out
    (batch, n_out), synaptic additions per image). Each layer provides `schedule` and
    `fixed_ops()` (operations that do not depend on the data, per image). A layer with
    `input_pool` sees the previous spikes max-pooled by the coding's `max_pool` rule; a
    residual merge sees its two sources' spikes side by side (`golden.graph`).
    """
    first = encode(pixels, network.layers[0].schedule.input_phases)
    input_count = sum(np.abs(s).sum(1) for s in first)
    counts, trains = [], []
    for index, layer in enumerate(network.layers):
        spikes = gather_spikes(layer, index, trains, first)
        if layer.input_pool is not None:
            spikes = max_pool_spikes(spikes, layer.input_pool, max_pool)
        spikes = spikes[:layer.schedule.input_phases]
        train, readout, adds = run_layer(layer, spikes)
        in_events = np.stack([np.abs(s).sum(1) for s in spikes], 1)
        in_per_neuron = sum(np.abs(s) for s in spikes).astype(np.int32)
        if layer.schedule.is_output:
            classes = np.argmax(readout, axis=1)       # first maximum: ties to the lowest index
            out_spikes = np.zeros(len(pixels), dtype=np.int64)
        else:
            out_spikes = np.abs(train).sum((1, 2))
        train = None if train is None else train.astype(np.int8)
        trains.append(train)
        counts.append(LayerCounts(
            name=layer.name, neurons=layer.n_out, output_spikes=out_spikes,
            synaptic_adds=adds,
            other_ops={k: np.full(len(pixels), v) for k, v in layer.fixed_ops().items()},
            input_events_per_phase=in_events,
            input_events_per_neuron=in_per_neuron,
            spike_train=train))
    return SimResult(classes=classes, input_spikes=input_count, layers=counts,
                     final_potential=readout)
