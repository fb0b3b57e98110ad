"""Radix coding: left-shift accumulator, MSB-first T-bit trains (Radix Encoding paper;
docs/codings.md §3).

A spike train of T phases is a T-bit number S, phase 1 the most significant bit. Per neuron:

    u = 0;  u = 2·u + Σ_i w[i][j]·s_i(k)       k = 1 .. T_in   (Horner form of Eq. 16)
    S_out = clamp((u + B) >> ΔT, 0, 2^T - 1)                    (Eq. 19 / 23, Table I)

ΔT is the power-of-two scale between integer and ANN weights (W = 2^-ΔT·w, Table I).
The paper leaves negative sums and overflow open: here ReLU and saturation (docs/codings.md §3).
S_out leaves the neuron MSB first by successive approximation with thresholds
θ_t = 2^(ΔT+T-t): s(t) = [u ≥ θ_t], u -= s(t)·θ_t, after u += B. For u < 0 no spike
fires; for u ≥ 2^(ΔT+T) every spike fires, which is exactly the clamp.

The first layer takes the pixels' 8 bits (T_in = 8); hidden layers take T. The output
layer only accumulates: the class is the argmax of u + B, ties to the lowest index.
Accumulation and extraction are shared with deferred (`bitserial.py`): radix is the case
θ = 2^(ΔT+T).

ANN side (`quantised_ann`): the same integers in closed form, layer by layer:
S_l = clamp(floor((w·S_(l-1) + B) / 2^ΔT), 0, 2^T - 1) — the network with activations
quantised to T bits; the SNN must equal it exactly. Scales: neuron j of a hidden layer
codes a_j ≈ S_j·λ_j/(2^T - 1), λ_j its calibration maximum; B carries half an output
step so that the floor rounds to nearest.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..convert import ConversionError, FloatLayer, pooled_scale
from ..graph import gather
from ..data import PIXEL_BITS
from .base import BINARY_MAX_POOL, check_ints, copy_structure
from .bitserial import (  # noqa: F401
    BitSerialLayer,
    BitSerialNetwork,
    NeuronParams,
    network_to_json,  # noqa: F401
    neuron_trace,
    quantised_ann,
)
from .bitserial import network_from_json as _from_json

NAME = "radix"
ACCURACY_BOUND = 1.0
ACCURACY_HINT = "more bits per activation or wider weights"


def accuracy_candidates(params: "RadixParams", network) -> list[dict]:
    """ACCURACY_HINT as settings from the ones in use: 2 and 4 bits per activation more,
    2 weight bits more (within RadixParams' limits). `flows.advice` measures each."""
    return ([{"T": params.T + more} for more in (2, 4) if params.T + more <= MAX_BITS]
            + [{"weight_bits": params.weight_bits + 2}] * (params.weight_bits + 2 <= MAX_BITS))


MAX_POOL = BINARY_MAX_POOL       # docs/codings.md §6
MAX_POOL_NOTE = ("the bit-serial maximum of the MSB-first trains (an extension: the radix paper "
                 "defines no max pooling)")
T_SWEEP = (2, 3, 4, 6, 8)      # flows.compare sweeps these T
MAX_BITS = 16                  # of T and of weight_bits


@dataclass(frozen=True)
class RadixParams:
    T: int = 6               # bits (phases) per hidden activation
    weight_bits: int = 8     # signed weight width in the ROMs

    def __post_init__(self):
        check_ints(NAME, self, {"T": (2, MAX_BITS), "weight_bits": (2, MAX_BITS)})


def finetune(layers: list[FloatLayer], calibration_max: list[np.ndarray], split,
             params: RadixParams) -> list[FloatLayer]:
    """The ANN side: fine-tune with activations quantised to T bits (STE, golden/qat.py)."""
    from ..qat import finetune as quantisation_aware
    return quantisation_aware(layers, calibration_max, split, params.T)


def fine_tuning(params: RadixParams) -> str:
    """Why the hardware computes a fine-tuned network (flows.report says so)."""
    return (f"radix trains its ANN side with activations quantised to T = {params.T} bits "
            "(golden/qat.py), so that they are the codes its spike trains carry")


def fine_tuned_ann(network: BitSerialNetwork, layers, pixels: np.ndarray) -> np.ndarray:
    """Classes of the fine-tuned ANN as trained, T-bit activations: the quantised ANN."""
    return quantised_ann(network, pixels)[1]


def convert(layers: list[FloatLayer], calibration_max: list[np.ndarray],
            params: RadixParams) -> BitSerialNetwork:
    levels = (1 << params.T) - 1
    w_max = (1 << (params.weight_bits - 1)) - 1
    pixel_scale = np.full(layers[0].n_in, 1.0 / (1 << PIXEL_BITS))   # S_0 = pixel = 256·x
    out: list[BitSerialLayer] = []
    scales: list[np.ndarray] = []               # per layer, each neuron's activation step
    for index, layer in enumerate(layers):
        # a merge's inputs keep their own source's scale (docs/codings.md §7)
        in_scale = pooled_scale(layer, gather(layer, index, scales, pixel_scale))
        is_output = index == len(layers) - 1
        if is_output:
            scale = np.ones(layer.n_out)      # argmax only: one scale for every class
        else:
            peak = calibration_max[index]
            layer_peak = float(peak.max()) if peak.max() > 0 else 1.0
            scale = np.where(peak > 0, peak, layer_peak) / levels
        # (n_in, n_out)
        w_real = (layer.weight * in_scale[None, :] / scale[:, None]).T
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
        radix_layer = BitSerialLayer(
            name=layer.name, weight=weight, bias=bias, theta=1 << (shift + params.T),
            input_phases=PIXEL_BITS if index == 0 else params.T,
            T=0 if is_output else params.T, is_output=is_output,
            info={"shift_delta_T": shift, "activation_scale_max": float(scale.max())})
        copy_structure(radix_layer, layer)
        radix_layer.derive_widths()
        out.append(radix_layer)
        scales.append(scale)
    return BitSerialNetwork(params, out, NAME)


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


def network_from_json(data: dict) -> BitSerialNetwork:
    return _from_json(data, RadixParams)
