"""Shared by radix and deferred: left-shift accumulation, then MSB-first bit extraction.

Per neuron (docs/codings.md §3 and §5):

    u = 0;  u = 2·u + Σ_i w[i][j]·s_i(k)       k = 1 .. T_in   (the left shift)
    u += B
    for t = 1 .. T:  s(t) = [u ≥ θ/2^t];  u -= s(t)·θ/2^t       (Eq. 9, Theorem II)

which emits S = clamp(floor(u·2^T/θ), 0, 2^T - 1) MSB first: a negative u gives no spike,
u ≥ θ gives all T. θ is a multiple of 2^T, so every θ/2^t is an integer. The output layer
only accumulates; the class is the argmax of u + B, ties to the lowest index.
`quantised_ann` computes the same codes in closed form, layer by layer (the ANN side).
"""
from dataclasses import asdict, dataclass, field

import numpy as np

from ..convert import ConversionError, signed_width
from ..graph import gather
from .base import (LayerShape, Schedule, SimResult, simulate_network, spike_matmul,
                   structure_from_json, structure_to_json)

GOLDEN_INT_BITS = 62


@dataclass(frozen=True)
class NeuronParams:
    """One neuron's datapath: shared by `neuron_trace` and the RTL core."""
    potential_width: int
    weight_width: int
    bias_width: int
    threshold_width: int


@dataclass
class BitSerialLayer(LayerShape):
    name: str
    weight: np.ndarray            # int64 (n_in, n_out)
    bias: np.ndarray              # int64 (n_out,), rounding offset included
    theta: int                    # full-scale threshold θ (a multiple of 2^T)
    input_phases: int             # T_in: bits of the input codes
    T: int                        # output bits (0 for the output layer)
    is_output: bool
    potential_width: int = 0
    bias_width: int = 0
    weight_width: int = 0
    threshold_width: int = 0
    info: dict = field(default_factory=dict)

    @property
    def threshold_table(self) -> list[int]:
        """θ/2^t, t = 1..T."""
        return [self.theta >> t for t in range(1, self.T + 1)]

    @property
    def schedule(self) -> Schedule:
        """T_in accumulation phases, then (hidden) T extraction passes emitting phase t."""
        return Schedule(step_passes=self.input_phases + (0 if self.is_output else self.T),
                        input_phases=self.input_phases, emit_offset=self.input_phases,
                        output_phases=0 if self.is_output else self.T,
                        max_spikes_per_neuron=max(self.T, 1), is_output=self.is_output)

    def fixed_ops(self) -> dict[str, int]:
        return {"shifts": self.n_out * self.input_phases,
                "comparisons": self.n_out - 1 if self.is_output else self.n_out * self.T}

    @property
    def neuron_params(self) -> NeuronParams:
        return NeuronParams(self.potential_width, self.weight_width, self.bias_width,
                            self.threshold_width)

    def derive_widths(self) -> None:
        """u is a partial Horner sum of T_in-bit codes, plus B once; extraction only lowers it."""
        if not self.is_output and self.theta % (1 << self.T):
            raise ConversionError(f"{self.name}: θ={self.theta} is not a multiple of 2^T")
        top = (1 << self.input_phases) - 1
        pos, neg = np.maximum(self.weight, 0).sum(0), np.minimum(self.weight, 0).sum(0)
        hi = int((pos * top + np.maximum(self.bias, 0)).max())
        lo = int((neg * top + np.minimum(self.bias, 0)).min())
        self.potential_width = signed_width(lo, hi)
        self.bias_width = signed_width(int(self.bias.min()), int(self.bias.max()))
        self.weight_width = signed_width(int(self.weight.min()), int(self.weight.max()))
        self.threshold_width = max([1] + [t.bit_length() for t in self.threshold_table])
        if self.potential_width > GOLDEN_INT_BITS:
            raise ConversionError(f"{self.name}: the potential needs {self.potential_width} "
                                  f"bits, more than the {GOLDEN_INT_BITS}-bit golden model holds")


@dataclass
class BitSerialNetwork:
    params: object
    layers: list[BitSerialLayer]
    coding: str

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    def describe(self) -> dict:
        return {"coding": self.coding, "params": asdict(self.params),
                "layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out,
                            "theta": l.theta, "is_output": l.is_output,
                            "potential_width": l.potential_width, "bias_width": l.bias_width,
                            "weight_width": l.weight_width, **l.info} for l in self.layers]}

    def simulate(self, pixels: np.ndarray) -> SimResult:
        return simulate_network(self, pixels, run_layer)


def run_layer(layer: BitSerialLayer, spikes: list[np.ndarray]):
    """Left-shift accumulation over the input phases, then MSB-first extraction."""
    batch = spikes[0].shape[0]
    u = np.zeros((batch, layer.n_out), dtype=np.int64)
    adds = np.zeros(batch, dtype=np.int64)
    limit = 1 << (layer.potential_width - 1)
    for k in range(1, layer.input_phases + 1):
        u = 2 * u
        if k <= len(spikes):
            u = u + spike_matmul(spikes[k - 1], layer.weight)
            adds += layer.synaptic_adds(spikes[k - 1])
        assert -limit <= u.min() and u.max() < limit, f"{layer.name}: potential left its width"
    u = u + layer.bias
    if layer.is_output:
        return None, u, adds
    train = np.zeros((batch, layer.T, layer.n_out), dtype=np.int8)
    for t, threshold in enumerate(layer.threshold_table):
        fire = u >= threshold
        u = u - fire * threshold
        train[:, t] = fire
    return train, u, adds


def quantised_ann(network: BitSerialNetwork, pixels: np.ndarray):
    """The ANN in closed form: S = clamp(floor((w·S_in + B)·2^T/θ), 0, 2^T - 1) per hidden
    layer, argmax(w·S + B) at the output. Returns (codes per hidden layer, classes)."""
    codes = []
    for index, layer in enumerate(network.layers):
        s = gather(layer, index, codes, pixels.astype(np.int64))
        if layer.input_pool is not None:
            s = s[:, layer.input_pool].max(-1)     # the maximum of the codes (MSB first)
        z = s @ layer.weight + layer.bias
        if layer.is_output:
            return codes, np.argmax(z, axis=1)
        codes.append(np.clip((z << layer.T) // layer.theta, 0, (1 << layer.T) - 1))


def neuron_trace(bias: int, inputs: list[list[int]], table: list[int], input_phases: int):
    """One neuron in plain ints: (u after each accumulation phase, output bits MSB first)."""
    u, trace = 0, []
    for k in range(1, input_phases + 1):
        u = 2 * u + sum(inputs[k - 1] if k <= len(inputs) else [])
        trace.append(u)
    u += bias
    bits = []
    for threshold in table:
        bits.append(int(u >= threshold))
        u -= bits[-1] * threshold
    return trace, bits


def network_to_json(network: BitSerialNetwork) -> dict:
    return {"coding": network.coding, "params": asdict(network.params), "layers": [
        {"name": l.name, "weight": l.weight.tolist(), "bias": l.bias.tolist(), "theta": l.theta,
         "input_phases": l.input_phases, "T": l.T, "is_output": l.is_output, "info": l.info,
         **structure_to_json(l)}
        for l in network.layers]}


def network_from_json(data: dict, params_class) -> BitSerialNetwork:
    layers = []
    for d in data["layers"]:
        layer = BitSerialLayer(d["name"], np.array(d["weight"], dtype=np.int64),
                               np.array(d["bias"], dtype=np.int64), d["theta"],
                               d["input_phases"], d["T"], d["is_output"], info=d["info"])
        structure_from_json(layer, d).derive_widths()
        layers.append(layer)
    return BitSerialNetwork(params_class(**data["params"]), layers, data["coding"])
