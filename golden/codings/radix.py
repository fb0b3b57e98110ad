"""Radix coding: left-shift accumulator, MSB-first T-bit trains (radix-encoding.txt, CODINGS.md §3).

A spike train of T phases is a T-bit number S, phase 1 the most significant bit. Per neuron:

    u = 0;  u = 2·u + Σ_i w[i][j]·s_i(k)       k = 1 .. T_in   (Horner form of Eq. 16)
    S_out = clamp((u + B) >> ΔT, 0, 2^T - 1)                    (Eq. 19 / 23, Table I)

ΔT is the power-of-two scale between integer and ANN weights (W = 2^-ΔT·w, Table I).
The paper leaves negative sums and overflow open: here ReLU and saturation (CODINGS.md).
S_out leaves the neuron MSB first by successive approximation with thresholds
θ_t = 2^(ΔT+T-t): s(t) = [u ≥ θ_t], u -= s(t)·θ_t, after u += B. For u < 0 no spike
fires; for u ≥ 2^(ΔT+T) every spike fires, which is exactly the clamp.

The first layer takes the pixels' 8 bits (T_in = 8); hidden layers take T. The output
layer only accumulates: the class is the argmax of u + B, ties to the lowest index.

ANN side (`quantised_ann`): the same integers in closed form, layer by layer:
S_l = clamp(floor((w·S_(l-1) + B) / 2^ΔT), 0, 2^T - 1) — the network with activations
quantised to T bits; the SNN must equal it exactly. Scales: neuron j of a hidden layer
codes a_j ≈ S_j·λ_j/(2^T - 1), λ_j its calibration maximum; B carries half an output
step so that the floor rounds to nearest.
"""
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from ..convert import ConversionError, FloatLayer, signed_width
from ..data import PIXEL_BITS
from .base import Schedule, SimResult, simulate_network

NAME = "radix"
GOLDEN_INT_BITS = 62


@dataclass(frozen=True)
class RadixParams:
    T: int = 6               # bits (phases) per hidden activation
    weight_bits: int = 8     # signed weight width in the ROMs

    def __post_init__(self):
        for name, lo, hi in (("T", 2, 16), ("weight_bits", 2, 16)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                raise ConversionError(f"radix: {name} must be an integer from {lo} to {hi}, "
                                      f"not {value!r}")


@dataclass(frozen=True)
class NeuronParams:
    """One radix neuron's datapath: shared by `neuron_trace` and the RTL core."""
    potential_width: int
    weight_width: int
    bias_width: int
    threshold_width: int


@dataclass
class RadixLayer:
    name: str
    weight: np.ndarray            # int64 (n_in, n_out)
    bias: np.ndarray              # int64 (n_out,): B, rounding offset included
    shift: int                    # ΔT
    input_phases: int             # T_in: bits of the input codes
    T: int                        # output bits (0 for the output layer)
    is_output: bool
    potential_width: int = 0
    bias_width: int = 0
    weight_width: int = 0
    threshold_width: int = 0
    info: dict = field(default_factory=dict)

    @property
    def n_in(self) -> int:
        return self.weight.shape[0]

    @property
    def n_out(self) -> int:
        return self.weight.shape[1]

    @property
    def threshold_table(self) -> list[int]:
        """θ_t = 2^(ΔT + T - t), t = 1..T."""
        return [1 << (self.shift + self.T - t) for t in range(1, self.T + 1)]

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
class RadixNetwork:
    params: RadixParams
    layers: list[RadixLayer]
    coding: str = NAME

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    def describe(self) -> dict:
        return {"coding": NAME, "params": asdict(self.params),
                "layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out,
                            "shift_delta_T": l.shift, "is_output": l.is_output,
                            "potential_width": l.potential_width, "bias_width": l.bias_width,
                            "weight_width": l.weight_width, **l.info} for l in self.layers]}

    def simulate(self, pixels: np.ndarray) -> SimResult:
        return simulate_network(self, pixels, run_layer)


def finetune(layers: list[FloatLayer], calibration_max: list[np.ndarray], split,
             params: RadixParams) -> list[FloatLayer]:
    """The ANN side: fine-tune with activations quantised to T bits (STE, golden/qat.py)."""
    from ..qat import finetune as quantisation_aware
    return quantisation_aware(layers, calibration_max, split, params.T)


def convert(layers: list[FloatLayer], calibration_max: list[np.ndarray],
            params: RadixParams) -> RadixNetwork:
    levels = (1 << params.T) - 1
    w_max = (1 << (params.weight_bits - 1)) - 1
    in_scale = np.full(layers[0].n_in, 1.0 / (1 << PIXEL_BITS))   # S_0 = pixel = 256·x
    out: list[RadixLayer] = []
    for index, layer in enumerate(layers):
        is_output = index == len(layers) - 1
        if is_output:
            scale = np.ones(layer.n_out)      # argmax only: one scale for every class
        else:
            peak = calibration_max[index]
            layer_peak = float(peak.max()) if peak.max() > 0 else 1.0
            scale = np.where(peak > 0, peak, layer_peak) / levels
        w_real = (layer.weight * in_scale[None, :] / scale[:, None]).T      # (n_in, n_out)
        peak_weight = float(np.abs(w_real).max())
        if peak_weight == 0.0:
            raise ConversionError(f"{layer.name}: all weights are zero")
        shift = math.floor(math.log2(w_max / peak_weight))
        if shift < 0:
            raise ConversionError(
                f"{layer.name}: weights reach {peak_weight:.3g} activation steps, more than "
                f"{params.weight_bits}-bit weights hold with ΔT ≥ 0; raise --weight-bits or "
                f"lower T ({params.T})")
        weight = np.rint(w_real * (1 << shift)).astype(np.int64)
        bias = np.rint(layer.bias / scale * (1 << shift)).astype(np.int64)
        if not is_output and shift > 0:
            bias += 1 << (shift - 1)          # floor((u + B) / 2^ΔT) rounds to nearest
        radix_layer = RadixLayer(
            name=layer.name, weight=weight, bias=bias, shift=shift,
            input_phases=PIXEL_BITS if index == 0 else params.T,
            T=0 if is_output else params.T, is_output=is_output,
            info={"activation_scale_max": float(scale.max())})
        radix_layer.derive_widths()
        out.append(radix_layer)
        in_scale = scale
    return RadixNetwork(params, out)


def run_layer(layer: RadixLayer, spikes: list[np.ndarray]):
    """Left-shift accumulation over the input phases, then MSB-first extraction."""
    batch = spikes[0].shape[0]
    u = np.zeros((batch, layer.n_out), dtype=np.int64)
    adds = np.zeros(batch, dtype=np.int64)
    limit = 1 << (layer.potential_width - 1)
    for k in range(1, layer.input_phases + 1):
        u = 2 * u
        if k <= len(spikes):
            u = u + spikes[k - 1] @ layer.weight
            adds += spikes[k - 1].sum(1) * layer.n_out
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


def quantised_ann(network: RadixNetwork, pixels: np.ndarray):
    """The ANN with T-bit activations in closed form (Eq. 23): (codes per hidden layer, classes)."""
    codes, s = [], pixels.astype(np.int64)
    for layer in network.layers:
        z = s @ layer.weight + layer.bias
        if layer.is_output:
            return codes, np.argmax(z, axis=1)
        s = np.clip(z >> layer.shift, 0, (1 << layer.T) - 1)
        codes.append(s)


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


def lsb_first_neuron(bias: int, weights: list[int], inputs_lsb_first: list[list[int]],
                     steps: int) -> list[int]:
    """The paper's Algorithm 1 with κ = φ = 0.5 (binary), in exact rationals.

    v = b; per step: v += Σ i_n[t]·w_n; if v's least significant digit (v mod 2) is 1,
    fire and v -= 1 (Φ); v = v·κ. Returns o[0..steps-1], LSB first.
    """
    from fractions import Fraction
    v, out = Fraction(bias), []
    for t in range(steps):
        v += sum(w * i[t] for w, i in zip(weights, inputs_lsb_first) if t < len(i))
        fire = int(v.denominator == 1 and v.numerator % 2 == 1)
        v -= fire
        out.append(fire)
        v /= 2
    return out


def network_to_json(network: RadixNetwork) -> dict:
    return {"coding": NAME, "params": asdict(network.params), "layers": [
        {"name": l.name, "weight": l.weight.tolist(), "bias": l.bias.tolist(), "shift": l.shift,
         "input_phases": l.input_phases, "T": l.T, "is_output": l.is_output, "info": l.info}
        for l in network.layers]}


def network_from_json(data: dict) -> RadixNetwork:
    layers = []
    for d in data["layers"]:
        layer = RadixLayer(d["name"], np.array(d["weight"], dtype=np.int64),
                           np.array(d["bias"], dtype=np.int64), d["shift"], d["input_phases"],
                           d["T"], d["is_output"], info=d["info"])
        layer.derive_widths()
        layers.append(layer)
    return RadixNetwork(RadixParams(**data["params"]), layers)
