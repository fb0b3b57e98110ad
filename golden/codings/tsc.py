"""Temporal-switch coding (TSC paper; docs/codings.md §4).

Input (Eq. 1-2): p = pixel/255 over N steps; p* = floor(p·(N-1)) + 1; if p* ≥ 2, a spike
+1 at t = 1 and -1 at t = p*: the pair stands for the run of p* - 1 ones it replaces.

Neuron: current I, potential V. Per step t (Eq. 5-6, the second difference):
    I += Σ_i w[i][j]·T_i(t)          one addition per input spike, T_i(t) ∈ {-1, 0, +1}
    V += I
then the firing: the frame-subtracted soft-reset IF neuron. A soft-reset IF neuron is *on*
at every step where V ≥ θ (and then V -= θ); its train's frame difference is +1 where it
turns on and -1 where it turns off, so each run of on-steps is one spike pair and Eq. 5-6
hold exactly for any number of runs:
    IDLE    and V ≥ θ  → emit +1, V -= θ, FIRING
    FIRING  and V ≥ θ  → V -= θ
    FIRING  and V < θ  → emit -1; the run is over: IDLE again, or DONE once `runs` runs
                         are over (`runs` caps the on-runs per neuron; 0: no cap)
    DONE               → nothing more (V still integrates)
`runs = 1` is the paper's §4 text taken literally (one run, at most two spikes).
Decisions (docs/codings.md §4): still FIRING after the last step → -1 at the last step; a
neuron that would only start at the last step emits nothing (its +1 and -1 would fall in
the same step and cancel in every later layer), V -= θ, DONE. The bias is the weight of an
always-on input: +1 at t = 1 (I starts at b) and -1 at t = N. Output layer: no spikes;
the class is argmax V after step N.

Timing (Decision: a layer sees the previous layer's spikes one step later): in global
time layer l works on steps l .. N + l - 1; in its own steps 1..N it sees exactly the
spikes the layer before emitted in that layer's steps 1..N, which is what `run_layer`
computes. The layer engines run one layer after the other, so the delay costs nothing.

Thresholds (§4.1): weights of the Max Norm normalised network (or, with `percentile` below
100, Robust Norm: λ that percentile of the layer's activations), quantised per layer;
θ_l = α·V_in^max with V_in^max the largest weighted input sum I(t) of any neuron of layer
l at any step on the calibration images, found layer by layer with the thresholds of the
layers before frozen. The paper picks α by simulation (α ≈ 0.8 for its CIFAR ResNet);
here, unless α is given, the converter does the same on the calibration images: it
converts at every α of `ALPHA_GRID` and keeps the one whose SNN agrees with the float
ANN's class on most calibration images; among equal agreements (a network that fits its
training images agrees on all of them at many α), the one whose output potentials follow
the float outputs closest (`output_fidelity`). No labels, no test images involved.
With `finetune_epochs` (the bundled residual networks' default) the float weights then train
through the N steps at those thresholds and are quantised at them (golden/tsc_surrogate.py):
a deep network's error, which no α fixes, mostly goes (docs/codings.md §4, §7).
Spike rate R (Eq. 8) = spikes / (neurons · N) · 100 %.
"""
from dataclasses import asdict, dataclass, field

import numpy as np

from ..convert import ConversionError, FloatLayer, forward, pooled_scale, signed_width
from ..data import PIXEL_BITS
from ..graph import gather, gather_spikes, is_merge, sources
from .base import (TIME_ON_MAX_POOL, LayerShape, Schedule, SimResult, check_ints,
                   check_percentile, copy_structure, lower_percentile, max_pool_spikes,
                   simulate_network, spike_matmul, structure_from_json, structure_to_json)

NAME = "tsc"
ACCURACY_BOUND = 1.5
ACCURACY_HINT = ("more steps, Robust Norm or a lower percentile, or, for a residual "
                 "network, training through the steps")
FINETUNE_CANDIDATE_EPOCHS = 10     # the bundled residual networks' (golden.network)


def accuracy_candidates(params: "TscParams", network) -> list[dict]:
    """ACCURACY_HINT as settings from the ones in use: twice the steps; Robust Norm at
    the next lower percentile (`base.lower_percentile`: 99.9 after Max Norm's 100); for a
    residual network not trained through the steps, 10 epochs of it (minutes on a large
    network: only where the error is a deep network's). `flows.advice` measures each."""
    candidates = [{"T": 2 * params.T}] if 2 * params.T <= MAX_T else []
    if lower_percentile(params.percentile) is not None:
        candidates.append({"percentile": lower_percentile(params.percentile)})
    if params.finetune_epochs == 0 and any(is_merge(layer) for layer in network.layers):
        candidates.append({"finetune_epochs": FINETUNE_CANDIDATE_EPOCHS})
    return candidates


# A model of 784 or more inputs (golden.codings.input_size_defaults): on mnist-cnn one
# outlier among its first layer's activations set every threshold of the layer under Max
# Norm (95.9 % against the float 98.4); Robust Norm left mnist-mlp as it was (94.0 %).
# bench.mnist_defaults: within the bound on two other MLPs and a max-pooling LeNet, not on
# a small 3x3 CNN (3.9 points)
LARGE_INPUT_DEFAULTS = {"percentile": 99.9}
MAX_POOL = TIME_ON_MAX_POOL       # docs/codings.md §6
MAX_POOL_NOTE = ("the running maximum of the time spent on (an extension: the TSC paper defines no"
                 " max pooling; average pooling, as in digits-cnn, is the paper-faithful choice)")
GOLDEN_INT_BITS = 62
INPUT_WRITES_PER_PIXEL = 2         # a pixel enters the +1 list and the -1 list of its p* (Eq. 2)
T_SWEEP = (4, 6, 8, 12, 16, 32)
MAX_T = 1024
RUNS_SWEEP = (1, 2, 3, 0)          # caps the report tries at the build's thresholds
ALPHA_GRID = tuple(round(0.15 + 0.05 * k, 2) for k in range(18))     # 0.15 .. 1.0, with 0.8
IDLE, FIRING, DONE = 0, 1, 2
PIXEL_MAX = (1 << PIXEL_BITS) - 1


@dataclass(frozen=True)
class TscParams:
    T: int = 8                    # N, time steps
    alpha: float | None = None    # threshold scale α of §4.1; None: searched (ALPHA_GRID)
    weight_bits: int = 8
    calibration_images: int = 500  # training images used for threshold balancing
    runs: int = 3                 # on-runs per neuron at most (1: the §4 text; 0: no cap);
                                  # N = 8, runs = 3: the fewest spikes within the accuracy
                                  # bound on every bundled network (bench.tsc_tradeoff)
    percentile: float = 100.0     # λ's percentile of the activations (99.9 from 784 inputs)
                                  # (100: Max Norm, §4.1; below: Robust Norm, as rate's)
    finetune_epochs: int = 0      # epochs of training the layers through the N steps (0: none)
                                  # at the thresholds set (golden/tsc_surrogate.py)

    def __post_init__(self):
        check_ints(NAME, self, {"T": (2, MAX_T), "weight_bits": (2, 16),
                                "calibration_images": (1, 100000), "runs": (0, 512),
                                "finetune_epochs": (0, 1000)})
        if self.alpha is not None and (not isinstance(self.alpha, (int, float))
                                       or isinstance(self.alpha, bool)
                                       or not 0 < float(self.alpha) <= 1):
            raise ConversionError(f"tsc: alpha must lie in (0, 1], not {self.alpha!r}")
        check_percentile(NAME, self.percentile)


@dataclass(frozen=True)
class NeuronParams:
    """One TSC neuron's datapath: shared by `neuron_trace` and the RTL core."""
    potential_width: int
    current_width: int
    weight_width: int
    bias_width: int
    threshold_width: int
    runs: int = 0                 # the cap on on-runs (0: none)

    @property
    def run_count_width(self) -> int:
        """Bits of the count of finished runs, kept only where the cap needs counting."""
        return (self.runs - 1).bit_length() if self.runs >= 2 else 0


def max_spikes(T: int, runs: int) -> int:
    """Spikes one neuron can emit in N = T steps: a pair per run, at most one spike per
    step, and no run can start at the last step (its pair would cancel)."""
    most = 2 * (T // 2)
    return most if runs == 0 else min(2 * runs, most)


def switch_step(pixels, N: int):
    """p* = floor(p·(N-1)) + 1 for p = pixel/255, exactly in integers (Eq. 1)."""
    return pixels * (N - 1) // PIXEL_MAX + 1


def encode_pixels(pixels: np.ndarray, N: int) -> list[np.ndarray]:
    """Spike pairs of the input layer (Eq. 2): a list over steps of (batch, n_in) in {-1, 0, +1}."""
    p_star = switch_step(pixels.astype(np.int64), N)
    steps = [np.zeros(pixels.shape, dtype=np.int64) for _ in range(N)]
    steps[0][p_star >= 2] = 1
    for t in range(2, N + 1):
        steps[t - 1][p_star == t] = -1
    return steps


@dataclass
class TscLayer(LayerShape):
    name: str
    weight: np.ndarray            # int64 (n_in, n_out)
    bias: np.ndarray              # int64 (n_out,)
    threshold: int                # θ (0 for the output layer)
    T: int                        # N
    is_output: bool
    runs: int = 0                 # on-runs per neuron at most (0: no cap)
    potential_width: int = 0
    current_width: int = 0
    bias_width: int = 0
    weight_width: int = 0
    threshold_width: int = 0
    info: dict = field(default_factory=dict)

    @property
    def threshold_table(self) -> list[int]:
        return [] if self.is_output else [self.threshold] * self.T

    @property
    def schedule(self) -> Schedule:
        """N steps; STEP pass k adds I to V (and fires) for step k-1, so N+1 passes."""
        return Schedule(step_passes=self.T + 1, input_phases=self.T, emit_offset=1,
                        output_phases=0 if self.is_output else self.T,
                        max_spikes_per_neuron=max_spikes(self.T, self.runs),
                        is_output=self.is_output, signed_spikes=True)

    def fixed_ops(self) -> dict[str, int]:
        return {"potential_additions": self.n_out * self.T, "bias_additions": 2 * self.n_out,
                "comparisons": self.n_out - 1 if self.is_output else self.n_out * self.T}

    @property
    def neuron_params(self) -> NeuronParams:
        return NeuronParams(self.potential_width, self.current_width, self.weight_width,
                            self.bias_width, self.threshold_width, self.runs)

    def derive_widths(self) -> None:
        """Inputs are well-formed runs (+1, -1, +1, ...: the running sum of a train is 0 or
        1, pooled trains too), so I = b·[t < N] + Σ w_i·x_i(t) with x_i ∈ {0, 1}; V sums
        at most N such currents, and subtracting θ only happens when V ≥ θ, which keeps
        V ≥ 0 there."""
        pos, neg = np.maximum(self.weight, 0).sum(0), np.minimum(self.weight, 0).sum(0)
        i_hi = int((pos + np.maximum(self.bias, 0)).max())
        i_lo = int((neg + np.minimum(self.bias, 0)).min())
        self.current_width = signed_width(i_lo, i_hi)
        self.potential_width = signed_width(self.T * min(i_lo, 0), self.T * max(i_hi, 0))
        peak = int(np.abs(self.weight).max())
        self.weight_width = signed_width(-peak, peak)        # negated weights fit too
        self.bias_width = signed_width(int(self.bias.min()), int(self.bias.max()))
        self.threshold_width = max(1, self.threshold.bit_length())
        if self.potential_width > GOLDEN_INT_BITS:
            raise ConversionError(f"{self.name}: the potential needs {self.potential_width} "
                                  f"bits, more than the {GOLDEN_INT_BITS}-bit golden model holds")


@dataclass
class TscNetwork:
    params: TscParams
    layers: list[TscLayer]
    coding: str = NAME
    alpha: float | None = None                      # the α the thresholds were set with
    alpha_search: dict = field(default_factory=dict)   # α → calibration agreement with the ANN
    alpha_fidelity: dict = field(default_factory=dict)  # α → output_fidelity (the tie-break)

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    def describe(self) -> dict:
        return {"coding": NAME, "params": asdict(self.params), "alpha": self.alpha,
                "alpha_search_calibration_agreement": self.alpha_search,
                "alpha_search_output_fidelity": self.alpha_fidelity,
                "layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out,
                            "threshold": l.threshold, "is_output": l.is_output,
                            "potential_width": l.potential_width,
                            "current_width": l.current_width, **l.info} for l in self.layers]}

    def simulate(self, pixels: np.ndarray) -> SimResult:
        return simulate_network(self, pixels, run_layer, encode=encode_pixels,
                                max_pool=MAX_POOL)

    def with_steps(self, T: int) -> "TscNetwork":
        """The same weights and thresholds run for N = T steps."""
        return self.with_params(T=T)

    def with_runs(self, runs: int) -> "TscNetwork":
        """The same weights and thresholds with another cap on runs (0: none)."""
        return self.with_params(runs=runs)

    def with_params(self, **changes) -> "TscNetwork":
        params = TscParams(**{**asdict(self.params), **changes})
        layers = []
        for l in self.layers:
            layer = TscLayer(l.name, l.weight, l.bias, l.threshold, params.T, l.is_output,
                             params.runs, info=l.info)
            copy_structure(layer, l)
            layer.derive_widths()
            layers.append(layer)
        return TscNetwork(params, layers, alpha=self.alpha)


def fire(potential, mode, runs_done, theta: int, runs: int, last: bool):
    """The firing rule on arrays: (potential, mode, runs_done, spike in {-1, 0, +1}) after
    the step. `runs_done` counts the finished runs (the cap `runs`, 0: none)."""
    # In place where it can be (`potential` and `mode` are run_layer's own): on an
    # MNIST-size batch these arrays hold tens of millions of neurons.
    above = potential >= theta
    firing = mode == FIRING
    start = (mode == IDLE) & above
    keep = firing & above
    stop = firing & ~above
    np.subtract(potential, theta, out=potential, where=start | keep)
    if last:
        mode[start | keep | stop] = DONE
        return potential, mode, runs_done, -(stop | keep).view(np.int8)
    runs_done += stop
    mode[start] = FIRING
    if runs == 0:
        mode[stop] = IDLE
    else:
        mode[stop] = np.where(runs_done[stop] >= runs, DONE, IDLE)
    return potential, mode, runs_done, start.view(np.int8) - stop.view(np.int8)


def run_layer(layer: TscLayer, spikes: list[np.ndarray], record_current: bool = False):
    """N steps of the TSC neuron on a batch; spikes[t-1] is (batch, n_in) in {-1, 0, +1}.
    With `record_current`, also the largest I(t) seen (threshold balancing, §4.1)."""
    batch = spikes[0].shape[0]
    current = np.broadcast_to(layer.bias, (batch, layer.n_out)).copy()
    potential = np.zeros((batch, layer.n_out), dtype=np.int64)
    mode = np.full((batch, layer.n_out), IDLE, dtype=np.int8)
    runs_done = np.zeros((batch, layer.n_out), dtype=np.int16)      # runs ≤ 512
    train = np.zeros((batch, layer.T, layer.n_out), dtype=np.int8)
    adds = np.zeros(batch, dtype=np.int64)
    peak_current = None
    limit = 1 << (layer.potential_width - 1)
    for t in range(1, layer.T + 1):
        if t == layer.T:
            current = current - layer.bias            # the always-on input's -1
        if t <= len(spikes):
            current = current + spike_matmul(spikes[t - 1], layer.weight)
            adds += layer.synaptic_adds(spikes[t - 1])
        if record_current:
            step_peak = int(current.max())
            peak_current = step_peak if peak_current is None else max(peak_current, step_peak)
        potential = potential + current
        assert -limit <= potential.min() and potential.max() < limit, \
            f"{layer.name}: potential left its width"
        if not layer.is_output:
            potential, mode, runs_done, train[:, t - 1] = fire(
                potential, mode, runs_done, layer.threshold, layer.runs, t == layer.T)
    result = (None if layer.is_output else train), potential, adds
    return (*result, peak_current) if record_current else result


def convert(layers: list[FloatLayer], calibration, params: TscParams) -> TscNetwork:
    """Max Norm scaled weights, quantised per layer; thresholds by balancing (§4.1), with
    the given α or the α of `ALPHA_GRID` that best agrees with the ANN on calibration
    (ties: the best `output_fidelity`, then the lowest α). With `finetune_epochs`, the
    float layers then train through the N steps at those thresholds and are quantised at
    them (golden/tsc_surrogate.py)."""
    inputs = getattr(calibration, "inputs", None)
    if inputs is None:
        raise ConversionError("tsc: threshold balancing needs a calibration set")
    if len(layers) < 2:
        raise ConversionError("tsc: the network needs at least one hidden layer")
    pixels = np.clip(np.rint(inputs * 256), 0, PIXEL_MAX).astype(np.int64)
    activations = forward(layers, inputs)          # the float ANN's, the same for every α
    if params.alpha is not None:
        network = convert_with_alpha(layers, activations, pixels, params, float(params.alpha))
    else:
        network = search_alpha(layers, activations, pixels, params)
    if params.finetune_epochs == 0:
        return network
    from ..tsc_surrogate import retrained
    return retrained(layers, network, pixels, activations[-1], params)


def fine_tuning(params: TscParams) -> str | None:
    """Why the hardware computes a fine-tuned network (flows.report says so); None
    without `finetune_epochs`. The network trained through the steps is the SNN itself:
    no ANN of its own to measure (no `fine_tuned_ann`)."""
    if params.finetune_epochs == 0:
        return None
    return (f"tsc with finetune_epochs {params.finetune_epochs} trains the converted "
            f"network's weights through its N = {params.T} steps (golden/tsc_surrogate.py), "
            "so that its spikes follow the float ANN's outputs")


def search_alpha(layers: list[FloatLayer], activations: list[np.ndarray], pixels: np.ndarray,
                 params: TscParams) -> TscNetwork:
    """The network at the α of `ALPHA_GRID` whose SNN agrees best with the float ANN's
    classes on the calibration images (ties: `output_fidelity`, then the lowest α)."""
    ann_outputs = activations[-1]
    ann_classes = np.argmax(ann_outputs, axis=1)
    best, search, fidelity = None, {}, {}
    for alpha in ALPHA_GRID:
        network = convert_with_alpha(layers, activations, pixels, params, alpha)
        result = network.simulate(pixels)
        search[alpha] = round(float((result.classes == ann_classes).mean()), 5)
        fidelity[alpha] = round(output_fidelity(result.final_potential, ann_outputs), 5)
        if best is None or (search[alpha], fidelity[alpha]) > (search[best.alpha],
                                                               fidelity[best.alpha]):
            best = network
    best.alpha_search, best.alpha_fidelity = search, fidelity
    return best


def output_fidelity(potential: np.ndarray, ann_outputs: np.ndarray) -> float:
    """How closely the SNN's output potentials follow the float ANN's outputs: the mean
    over images of their Pearson correlation (0 for an image whose potentials are all
    equal). The α search's tie-break: on mnist-mlp at N = 8 every α from 0.15 to 1.0
    agrees with the ANN on all 4,000 training images, and the lowest of them (the
    earlier tie-break) lost 2.9 points on the test images, the most faithful 0.6."""
    p = potential - potential.mean(axis=1, keepdims=True)
    q = ann_outputs - ann_outputs.mean(axis=1, keepdims=True)
    norm = np.sqrt((p * p).sum(axis=1) * (q * q).sum(axis=1))
    correlation = np.divide((p * q).sum(axis=1), norm, out=np.zeros(len(p)), where=norm > 0)
    return float(correlation.mean())


def layer_scale(activations: np.ndarray, percentile: float) -> float:
    """λ of a hidden layer, the activation an always-on neuron stands for: its largest
    calibration activation (Max Norm, §4.1) or, below 100, that percentile of them (Robust
    Norm); 1 where the layer never activates. The per-layer quantisation cancels λ in the
    layer's own weights: it scales the next layer's bias against that layer's weights."""
    lam = float(activations.max() if percentile >= 100.0
                else np.percentile(activations, percentile))
    return lam if lam > 0 else 1.0


def convert_with_alpha(layers: list[FloatLayer], activations: list[np.ndarray],
                       pixels: np.ndarray, params: TscParams, alpha: float) -> TscNetwork:
    """λ per layer over all calibration inputs (`activations`: the float layers' outputs on
    them; Max Norm or Robust Norm, `layer_scale`); V_in^max over the first
    `calibration_images`."""
    first = encode_pixels(pixels[:params.calibration_images], params.T)
    out, trains, scales, units = [], [], [], []
    for index, (layer, a) in enumerate(zip(layers, activations)):
        is_output = index == len(layers) - 1
        spikes = gather_spikes(layer, index, trains, first)
        in_scale = pooled_scale(layer, input_units(layer, index, scales, units,
                                                   layers[0].n_in))
        if layer.input_pool is not None:
            spikes = max_pool_spikes(spikes, layer.input_pool, TIME_ON_MAX_POOL)
        # one λ per layer, convolutions too: channel-wise λ measured worse on the digits
        # CNN (89.2 % against 93.1 % at N = 8)
        lam = 1.0 if is_output else layer_scale(a, params.percentile)
        weight, bias, sigma = quantised_weights(layer, in_scale, lam, params.weight_bits)
        info = {"weight_scale_sigma": sigma, "lambda": lam}
        threshold = 0
        if not is_output:
            probe = TscLayer(layer.name, weight, bias, 1, params.T, True)
            probe.derive_widths()
            v_in_max = run_layer(probe, spikes, record_current=True)[3]
            if v_in_max <= 0:
                raise ConversionError(f"{layer.name}: no neuron gets a positive input on the "
                                      "calibration images; thresholds cannot be balanced")
            threshold = max(1, int(round(alpha * v_in_max)))
            info["v_in_max"] = v_in_max
        tsc_layer = TscLayer(layer.name, weight, bias, threshold, params.T, is_output,
                             params.runs, info=info)
        tsc_layer.derive_widths()
        trains.append(None if is_output else run_layer(tsc_layer, spikes)[0])
        copy_structure(tsc_layer, layer)
        out.append(tsc_layer)
        scales.append(np.full(layer.n_out, lam))
        if not is_output:
            info["activation_per_step"] = activation_per_step(
                trains[-1], a[:params.calibration_images], lam)
        units.append(None if is_output else np.full(layer.n_out, info["activation_per_step"]))
    return TscNetwork(params, out, alpha=alpha)


def quantised_weights(layer: FloatLayer, in_scale: np.ndarray, lam: float, bits: int):
    """The layer normalised (W·in_scale/λ, b/λ) and quantised to signed `bits` with one
    scale σ per layer: (weight (n_in, n_out), bias, σ)."""
    w_norm = layer.weight.T * in_scale[:, None] / lam
    peak = float(np.abs(w_norm).max())
    if peak == 0.0:
        raise ConversionError(f"{layer.name}: all weights are zero")
    sigma = ((1 << (bits - 1)) - 1) / peak
    return (np.rint(w_norm * sigma).astype(np.int64),
            np.rint(layer.bias / lam * sigma).astype(np.int64), sigma)


def input_units(layer, index: int, scales: list, units: list, n_inputs: int) -> np.ndarray:
    """The activation one on-step of each input of layer `index` stands for, before
    pooling: its source's λ (`scales`), or at a merge each source's measured
    `activation_per_step` (`units`) relative to the branch's, which keeps the chain's
    convention (docs/codings.md §7)."""
    if not is_merge(layer):
        return gather(layer, index, scales, np.ones(n_inputs))
    branch = sources(layer, index)[0].layer
    return gather(layer, index, units, None) * (scales[branch][0] / units[branch][0])


def activation_per_step(train: np.ndarray, activations: np.ndarray, lam: float) -> float:
    """The activation one on-step of a layer's trains stands for, measured on calibration
    images: λ over the least-squares slope of the time on against a/λ (λ itself where
    nothing was on)."""
    time_on = np.cumsum(train, axis=1, dtype=np.int64).sum(axis=1)
    normalised = activations / lam
    slope = float((time_on * normalised).sum() / max(float((normalised ** 2).sum()), 1e-12))
    return lam / slope if slope > 0 else lam


def report_extras(network: TscNetwork, result: SimResult, pixels, labels) -> dict:
    """The cap on runs in the build report: what it allows, what the neurons did, and the
    accuracy / spikes trade-off at the build's thresholds against the cap and against N."""
    T, runs = network.params.T, network.params.runs
    most = max((int(np.abs(c.spike_train).sum(1).max()) for c in result.layers[:-1]), default=0)
    outcomes = {(T, runs): result}           # the build's own point is simulated already

    def point(N: int, cap: int) -> dict:
        if (N, cap) not in outcomes:
            outcomes[N, cap] = network.with_params(T=N, runs=cap).simulate(pixels)
        outcome = outcomes[N, cap]
        return {"accuracy_percent": round(100 * float((outcome.classes == labels).mean()), 3),
                "spikes_per_neuron": round(hidden_spikes_per_neuron(outcome), 4)}
    return {"runs": {
        "cap": runs,
        "meaning": ("no cap: every on-run of the soft-reset IF neuron is a spike pair" if runs == 0
                    else f"at most {runs} on-run(s) per neuron"),
        "max_spikes_per_neuron_allowed": max_spikes(T, runs),
        "max_spikes_per_neuron_measured": most,
        "against_runs_same_thresholds": {str(cap): point(T, cap) for cap in RUNS_SWEEP},
        "against_N_same_thresholds": {str(N): point(N, runs) for N in T_SWEEP},
    }}


def hidden_spikes_per_neuron(result: SimResult) -> float:
    hidden = result.layers[:-1]
    return sum(float(c.output_spikes.mean()) for c in hidden) / sum(c.neurons for c in hidden)


def spike_rate(result: SimResult, T: int) -> float:
    """R of Eq. (8): spikes / (neurons · time steps) · 100 %, hidden layers, per image."""
    return 100.0 * hidden_spikes_per_neuron(result) / T


def neuron_trace(params: NeuronParams, bias: int, inputs: list[list[int]], threshold: int,
                 T: int, is_output: bool = False):
    """One neuron in plain ints: (I, V after each step, spikes per step in {-1, 0, +1}).

    inputs[t-1] lists the signed weights (+w or -w) of the input spikes of step t; the cap
    on on-runs is `params.runs`."""
    current, potential, mode, runs_done = bias, 0, IDLE, 0
    currents, potentials, spikes = [], [], []
    for t in range(1, T + 1):
        if t == T:
            current -= bias
        current += sum(inputs[t - 1]) if t <= len(inputs) else 0
        potential += current
        spike = 0
        if not is_output:
            above = potential >= threshold
            if mode == IDLE and above:
                potential -= threshold
                mode, spike = (DONE, 0) if t == T else (FIRING, 1)
            elif mode == FIRING and above:
                potential -= threshold
                mode, spike = (DONE, -1) if t == T else (FIRING, 0)
            elif mode == FIRING:
                runs_done += 1
                spike = -1
                mode = DONE if t == T or runs_done == params.runs else IDLE
        currents.append(current)
        potentials.append(potential)
        spikes.append(spike)
    return currents, potentials, spikes


def network_to_json(network: TscNetwork) -> dict:
    return {"coding": NAME, "params": asdict(network.params), "alpha": network.alpha,
            "layers": [
        {"name": l.name, "weight": l.weight.tolist(), "bias": l.bias.tolist(),
         "threshold": l.threshold, "is_output": l.is_output, "info": l.info,
         **structure_to_json(l)}
        for l in network.layers]}


def network_from_json(data: dict) -> TscNetwork:
    params = TscParams(**data["params"])
    layers = []
    for d in data["layers"]:
        layer = TscLayer(d["name"], np.array(d["weight"], dtype=np.int64),
                         np.array(d["bias"], dtype=np.int64), d["threshold"], params.T,
                         d["is_output"], params.runs, info=d["info"])
        structure_from_json(layer, d).derive_widths()
        layers.append(layer)
    return TscNetwork(params, layers, alpha=data["alpha"])
