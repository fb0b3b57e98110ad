"""Rate coding: integrate-and-fire with reset by subtraction (the Rate Norm Layer paper,
docs/codings.md §1).

Per step t = 1..T (Eq. 3):  m = v + z(t);  s(t) = [m ≥ θ];  v = m - θ·s(t);  v(0) = 0 or θ/2.

- First layer, constant coding: z(t) = W·x + b every step. The current W·x is built once
  from the pixels' bit planes by left shifts (x = pixel/256 exactly) and added T times.
- Hidden layers: z(t) = W·s_in(t) + b.
- Output layer: never fires; v = Σ_t z(t); the class is argmax v, ties to the lowest index.

Thresholds (one per layer, in the layer's own integer units): from the float network by
Max Norm (largest calibration activation), Robust Norm (its 99.9th percentile), or taken
from a network trained with Rate Norm Layers (`golden/rnl.py`, Eq. 6) whose θ_l are
learned. In every case layer l is described in rate units (inputs are rates in [0, 1]):
weights W_eff, bias b_eff, threshold θ_eff, and quantised with one scale σ per layer.

Diagnostics: the K curve K(r̂, r(t)) = ||r(t) - r̂||² / ||r̂||² (Eq. 7) per layer, with r̂
the float network's rates under the thresholds the SNN was converted with.
"""
from dataclasses import asdict, dataclass, field

import numpy as np

from ..convert import ConversionError, FloatLayer, forward, pool_input, pooled_scale, signed_width
from ..graph import gather, is_merge
from ..data import PIXEL_BITS, pixels_to_input
from .base import (COUNT_MAX_POOL, LayerShape, Schedule, SimResult, check_ints,
                   check_percentile, copy_structure, lower_percentile, simulate_network,
                   spike_matmul, structure_from_json, structure_to_json)

NAME = "rate"
ACCURACY_BOUND = 1.5
ACCURACY_HINT = "more steps, a lower Robust Norm percentile or a half-charged start (v(0) = θ/2)"


def accuracy_candidates(params: "RateParams", network) -> list[dict]:
    """ACCURACY_HINT as settings from the ones in use: twice the steps; the next lower
    percentile (`base.lower_percentile`; Robust Norm instead of Max Norm; none with Rate
    Norm Layers, whose thresholds are learned); v(0) = θ/2 where it starts at 0.
    `flows.advice` measures each."""
    candidates = [{"T": 2 * params.T}] if 2 * params.T <= MAX_T else []
    if params.norm == "max":
        candidates.append({"norm": "robust"})
    elif params.norm == "robust" and lower_percentile(params.percentile) is not None:
        candidates.append({"percentile": lower_percentile(params.percentile)})
    if not params.half_init:
        candidates.append({"half_init": True})
    return candidates


# A model of 784 or more inputs (golden.codings.input_size_defaults): at the 99.9th
# percentile a LeNet-like MNIST CNN lost 1.7 points at T = 16, at the 99.5th 0.5; the
# 784-128-10 MLP 0.1 (2026-12-03). bench.mnist_defaults: within the bound on two other MLPs
# and a max-pooling LeNet, not on a small 3x3 CNN (5.3 points; 0.5 at T = 32)
LARGE_INPUT_DEFAULTS = {"percentile": 99.5}
MAX_POOL = COUNT_MAX_POOL       # docs/codings.md §6
MAX_POOL_NOTE = ("the running maximum of the spike counts (an extension: the Rate Norm Layer paper"
                 " defines no max pooling)")
GOLDEN_INT_BITS = 62
NORMS = ("robust", "max", "rnl")
T_SWEEP = (4, 8, 16, 32, 64, 128)
MAX_T = 4096


@dataclass(frozen=True)
class RateParams:
    T: int = 16                   # time steps
    weight_bits: int = 8          # signed weight width in the ROMs
    norm: str = "robust"          # threshold source: robust (a percentile), max, or rnl
    percentile: float = 99.9      # robust norm's activation percentile (99.5 from 784 inputs)
    half_init: bool = False       # v(0) = θ/2 instead of 0

    def __post_init__(self):
        check_ints(NAME, self, {"T": (1, MAX_T), "weight_bits": (2, 16)})
        if self.norm not in NORMS:
            raise ConversionError(f"rate: norm must be one of {', '.join(NORMS)}, "
                                  f"not {self.norm!r}")
        check_percentile(NAME, self.percentile)


@dataclass(frozen=True)
class NeuronParams:
    """One rate neuron's datapath: shared by `neuron_trace` and the RTL core."""
    potential_width: int
    current_width: int            # 0 unless the layer is constant-coded
    weight_width: int
    bias_width: int
    threshold_width: int
    initial_potential: int        # v(0)

    @property
    def constant_input(self) -> bool:
        return self.current_width > 0


@dataclass
class RateLayer(LayerShape):
    name: str
    weight: np.ndarray            # int64 (n_in, n_out)
    bias: np.ndarray              # int64 (n_out,), added every step
    threshold: int                # θ (0 for the output layer)
    T: int
    constant_input: bool          # first layer: current from the pixels, added every step
    is_output: bool
    initial_potential: int = 0
    potential_width: int = 0
    current_width: int = 0
    bias_width: int = 0
    weight_width: int = 0
    threshold_width: int = 0
    info: dict = field(default_factory=dict)

    @property
    def input_phases(self) -> int:
        return PIXEL_BITS if self.constant_input else self.T

    @property
    def threshold_table(self) -> list[int]:
        return [] if self.is_output else [self.threshold] * self.T

    @property
    def schedule(self) -> Schedule:
        """Constant-coded: 8 current passes, a settle pass (the hardware keeps m - θ:
        hdl/cores/rate.py), then T steps that fire in the same pass. Spiking input: T
        steps, each firing for the step before in its STEP pass."""
        if self.constant_input:
            return Schedule(step_passes=PIXEL_BITS + 1 + self.T, input_phases=PIXEL_BITS,
                            emit_offset=PIXEL_BITS + 1, output_phases=self.T,
                            max_spikes_per_neuron=self.T, is_output=self.is_output)
        return Schedule(step_passes=self.T + (0 if self.is_output else 1), input_phases=self.T,
                        emit_offset=1, output_phases=0 if self.is_output else self.T,
                        max_spikes_per_neuron=self.T, is_output=self.is_output)

    def fixed_ops(self) -> dict[str, int]:
        ops = {"bias_additions": self.n_out * self.T,
               "comparisons": self.n_out - 1 if self.is_output else self.n_out * self.T}
        if self.constant_input:
            ops["current_additions"] = self.n_out * self.T
            ops["shifts"] = self.n_out * PIXEL_BITS
        return ops

    @property
    def neuron_params(self) -> NeuronParams:
        return NeuronParams(self.potential_width, self.current_width, self.weight_width,
                            self.bias_width, self.threshold_width, self.initial_potential)

    def derive_widths(self) -> None:
        """Bounds: the current is a Horner sum of 8-bit codes; m stays within
        v(0) + T·(largest |z| of the sign) (+ θ above), subtraction only lowers it."""
        pos, neg = np.maximum(self.weight, 0).sum(0), np.minimum(self.weight, 0).sum(0)
        if self.constant_input:
            top = (1 << PIXEL_BITS) - 1
            self.current_width = signed_width(int((neg * top).min()), int((pos * top).max()))
            pos, neg = pos * top, neg * top
        z_hi = int((pos + self.bias).max())
        z_lo = int((neg + self.bias).min())
        v0 = self.initial_potential
        hi = max(v0, 0) + self.T * max(z_hi, 0) + self.threshold
        lo = min(v0, 0) + self.T * min(z_lo, 0)
        self.potential_width = signed_width(lo, hi)
        self.bias_width = signed_width(int(self.bias.min()), int(self.bias.max()))
        self.weight_width = signed_width(int(self.weight.min()), int(self.weight.max()))
        self.threshold_width = max(1, self.threshold.bit_length())
        if self.potential_width > GOLDEN_INT_BITS:
            raise ConversionError(f"{self.name}: the potential needs {self.potential_width} "
                                  f"bits, more than the {GOLDEN_INT_BITS}-bit golden model holds")


@dataclass
class RateNetwork:
    params: RateParams
    layers: list[RateLayer]
    coding: str = NAME

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    def describe(self) -> dict:
        return {"coding": NAME, "params": asdict(self.params),
                "layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out,
                            "threshold": l.threshold, "is_output": l.is_output,
                            "potential_width": l.potential_width, "bias_width": l.bias_width,
                            "weight_width": l.weight_width, **l.info} for l in self.layers]}

    def simulate(self, pixels: np.ndarray) -> SimResult:
        return simulate_network(self, pixels, run_layer, max_pool=MAX_POOL)

    def with_steps(self, T: int) -> "RateNetwork":
        """The same integer network run for T steps (thresholds do not depend on T)."""
        params = RateParams(**{**asdict(self.params), "T": T})
        layers = []
        for l in self.layers:
            layer = RateLayer(l.name, l.weight, l.bias, l.threshold, T, l.constant_input,
                              l.is_output, l.initial_potential, info=l.info)
            copy_structure(layer, l)
            layer.derive_widths()
            layers.append(layer)
        return RateNetwork(params, layers)


def finetune(layers: list[FloatLayer], calibration, split, params: RateParams):
    """norm 'rnl': train Rate Norm Layers (golden/rnl.py, Algorithm 1); else unchanged."""
    if params.norm != "rnl":
        return layers
    merges = [layer.name for layer in layers if is_merge(layer)]
    if merges:
        raise ConversionError(f"rate: norm 'rnl' (Rate Norm Layers) does not train residual "
                              f"networks ({merges[0]} is a merge); use norm 'robust' or 'max'")
    from ..rnl import train_rnl
    return train_rnl(layers, calibration, split)


def fine_tuning(params: RateParams) -> str | None:
    """Why the hardware computes a fine-tuned network (flows.report says so); None
    unless Rate Norm Layers are trained (norm 'rnl')."""
    if params.norm != "rnl":
        return None
    return ("rate with norm rnl trains Rate Norm Layers into the network (golden/rnl.py), "
            "so that its thresholds are learned for rates")


def fine_tuned_ann(network: "RateNetwork", layers: list[FloatLayer],
                   pixels: np.ndarray) -> np.ndarray:
    """Classes of the fine-tuned ANN as trained: the Rate Norm Layer network in float."""
    from ..rnl import rnl_forward
    return np.argmax(rnl_forward(layers, pixels_to_input(pixels)), axis=1)


def rate_units(layers: list[FloatLayer], calibration_x: np.ndarray | None, params: RateParams,
               thresholds: list[float | None] | None = None):
    """(W_eff, b_eff, θ_eff) per layer for inputs that are rates in [0, 1].

    θ_eff (λ_l) is layer l's threshold in float units: by Max or Robust Norm from
    `calibration_x`, the learned θ_l (rnl), or `thresholds` if given (λ per layer, None for a
    layer without ReLU; then nothing is computed from `calibration_x`, which may be None).
    Max / Robust Norm: W_eff = W·λ_(l-1), layer l receives rates of layer l-1 whose unit is
    λ_(l-1); Rate Norm Layers were trained on rates (W_eff = W)."""
    if params.norm == "rnl":       # trained on rates: the weights already act on rates
        if thresholds is None:
            missing = [l.name for l in layers[:-1] if l.activation_max is None]
            if missing:
                raise ConversionError(f"rate: norm 'rnl' needs a network trained with Rate "
                                      f"Norm Layers; {missing[0]} has no learned threshold")
            thresholds = [l.activation_max for l in layers]
        return [(l.weight, l.bias, lam) for l, lam in zip(layers, thresholds)]
    if thresholds is None:
        thresholds = []
        for layer, a in zip(layers, forward(layers, calibration_x)):
            if layer.relu:
                lam = (float(a.max()) if params.norm == "max"
                       else float(np.percentile(a, params.percentile)))
                thresholds.append(lam if lam > 0 else 1.0)
            else:
                thresholds.append(None)
    out, scales = [], []
    for index, (layer, lam) in enumerate(zip(layers, thresholds)):
        # a merge's inputs keep their own source's λ (docs/codings.md §7)
        in_scale = pooled_scale(layer, gather(layer, index, scales, np.ones(layers[0].n_in)))
        out.append((layer.weight * in_scale[None, :], layer.bias, lam))
        scales.append(np.full(layer.n_out, np.nan if lam is None else lam))
    return out


def conversion_thresholds(network: "RateNetwork") -> list[float | None]:
    """λ per layer as the network was converted (`info["threshold_float"]`, kept in
    network.json too); None for the output layer."""
    thresholds = []
    for layer in network.layers:
        if "threshold_float" not in layer.info:
            raise ConversionError(f"{layer.name}: the network does not record the float "
                                  "threshold it was converted with (info['threshold_float'])")
        thresholds.append(layer.info["threshold_float"])
    return thresholds


def convert(layers: list[FloatLayer], calibration, params: RateParams) -> RateNetwork:
    """`calibration` is a `golden.convert.Calibration` (its inputs set the norms)."""
    if len(layers) < 2:
        raise ConversionError("rate: the network needs at least one hidden layer")
    calibration_x = getattr(calibration, "inputs", None)
    if calibration_x is None and params.norm != "rnl":
        raise ConversionError(f"rate: norm '{params.norm}' needs a calibration set")
    w_max = (1 << (params.weight_bits - 1)) - 1
    out = []
    for index, (layer, (w_eff, b_eff, theta_eff)) in enumerate(
            zip(layers, rate_units(layers, calibration_x, params))):
        is_output, constant = index == len(layers) - 1, index == 0
        peak = float(np.abs(w_eff).max())
        if peak == 0.0:
            raise ConversionError(f"{layer.name}: all weights are zero")
        sigma = w_max / peak
        unit = (1 << PIXEL_BITS) if constant else 1      # x = pixel/256: current in 1/256
        weight = np.rint(w_eff.T * sigma).astype(np.int64)
        bias = np.rint(b_eff * sigma * unit).astype(np.int64)
        threshold = 0 if is_output else max(1, int(round(theta_eff * sigma * unit)))
        v0 = threshold // 2 if params.half_init and not is_output else 0
        rate_layer = RateLayer(layer.name, weight, bias, threshold, params.T, constant,
                               is_output, v0, info={"threshold_float": theta_eff,
                                                    "weight_scale_sigma": sigma})
        copy_structure(rate_layer, layer)
        rate_layer.derive_widths()
        out.append(rate_layer)
    return RateNetwork(params, out)


def run_layer(layer: RateLayer, spikes: list[np.ndarray]):
    batch = spikes[0].shape[0]
    adds = np.zeros(batch, dtype=np.int64)
    if layer.constant_input:
        current = np.zeros((batch, layer.n_out), dtype=np.int64)
        for k, plane in enumerate(spikes):
            current = 2 * current + spike_matmul(plane, layer.weight)
            adds += layer.synaptic_adds(plane)
    v = np.full((batch, layer.n_out), layer.initial_potential, dtype=np.int64)
    train = np.zeros((batch, layer.T, layer.n_out), dtype=np.int8)
    limit = 1 << (layer.potential_width - 1)
    for t in range(layer.T):
        if layer.constant_input:
            m = v + current + layer.bias
        else:
            m = v + layer.bias + spike_matmul(spikes[t], layer.weight)
            adds += layer.synaptic_adds(spikes[t])
        assert -limit <= m.min() and m.max() < limit, f"{layer.name}: potential left its width"
        if layer.is_output:
            v = m
            continue
        fire = m >= layer.threshold
        v = m - fire * layer.threshold
        train[:, t] = fire
    return (None if layer.is_output else train), v, adds


def k_curve(network: RateNetwork, layers: list[FloatLayer], result: SimResult,
            pixels: np.ndarray, steps: list[int],
            thresholds: list[float | None] | None = None) -> list[dict]:
    """K(r̂, r(t)) (Eq. 7) per hidden layer at the given steps, averaged over images.

    r̂ = clip(z/λ, 0, 1) of the float network in rate units, with the thresholds λ the
    network was converted with (`conversion_thresholds`; calibration data, not `pixels`),
    or `thresholds` if given; r(t) = spikes up to t / t. K tends to 0 as t grows as far as
    the integer network (quantised weights, rounded thresholds) matches the float one."""
    if thresholds is None:
        thresholds = conversion_thresholds(network)
    rates, x = [], pixels_to_input(pixels).astype(np.float64)
    for index, ((w_eff, b_eff, theta), layer) in enumerate(
            zip(rate_units(layers, None, network.params, thresholds), layers)):
        if theta is None:
            break
        a = pool_input(layer, gather(layer, index, rates, x))
        rates.append(np.clip((a @ w_eff.T + b_eff) / theta, 0, 1))
    curves = []
    for counts, r_hat in zip(result.layers, rates):
        cumulative = np.cumsum(counts.spike_train, axis=1)
        denominator = np.maximum((r_hat ** 2).sum(1), 1e-12)
        curves.append({"layer": counts.name, "K": {
            int(t): float(((((cumulative[:, t - 1] / t) - r_hat) ** 2).sum(1) / denominator).mean())
            for t in steps if t <= counts.spike_train.shape[1]}})
    return curves


def neuron_trace(params: NeuronParams, bias: int, inputs: list[list[int]], threshold: int,
                 T: int, is_output: bool = False):
    """One neuron in plain ints: (m after each step, spikes per step).

    Constant-coded: inputs[k] are the weights of the pixel bits set in plane k (8 planes)."""
    current = 0
    if params.constant_input:
        for plane in inputs:
            current = 2 * current + sum(plane)
    v, trace, spikes = params.initial_potential, [], []
    for t in range(T):
        m = v + bias + (current if params.constant_input else sum(inputs[t]))
        trace.append(m)
        fire = int(not is_output and m >= threshold)
        spikes.append(fire)
        v = m - fire * threshold
    return trace, spikes, current


def network_to_json(network: RateNetwork) -> dict:
    return {"coding": NAME, "params": asdict(network.params), "layers": [
        {"name": l.name, "weight": l.weight.tolist(), "bias": l.bias.tolist(),
         "threshold": l.threshold, "constant_input": l.constant_input,
         "is_output": l.is_output, "initial_potential": l.initial_potential, "info": l.info,
         **structure_to_json(l)}
        for l in network.layers]}


def network_from_json(data: dict) -> RateNetwork:
    params = RateParams(**data["params"])
    layers = []
    for d in data["layers"]:
        layer = RateLayer(d["name"], np.array(d["weight"], dtype=np.int64),
                          np.array(d["bias"], dtype=np.int64), d["threshold"], params.T,
                          d["constant_input"], d["is_output"], d["initial_potential"],
                          info=d["info"])
        structure_from_json(layer, d).derive_widths()
        layers.append(layer)
    return RateNetwork(params, layers)
