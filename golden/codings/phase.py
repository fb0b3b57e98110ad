"""Single-spike phase coding with threshold shift and base Q (One-Spike, docs/codings.md §2).

Neuron (Algorithm 1 with the wait w of §V-C2), input base Q_in, output base Q_out:

    v = b                                   before the first phase
    v = Q_in·v + Σ_i w[i][j]·s_i(k)         k = 1 .. T+w   (Eq. 1, neuron-based leak λ = Q_in)
    fire once at t = k - w  iff  v > Θ_t = θ·(Q_out+1)/(2·Q_out)·Q_in^(t+w)·Q_out^-t

Θ_t is the round-off threshold of Eq. (4) (midpoint between Q^-t and Q^-(t+1)) moved into
potential units; the factor Q_in/Q_out per phase is the base manipulation of §III-B2.
A spike at output phase t stands for Q_out^-t times the neuron's scale (Eq. 4).

Integer conventions (the RTL does exactly the same):
- Q is the fixed-point constant `num / 2^frac`; `Q·v` is `(v·num) >> frac` (floor).
- Synaptic additions enter the potential shifted left by `guard_bits`, so the floor of
  `Q·v` loses a fraction of a weight unit, not a whole one. The bias is stored in the
  same units. Widths come from exact worst-case bounds of this integer recurrence.
- Normalisation (Eq. 2, channel-wise): neuron j of a hidden layer has scale
  `Q·max(calibration activation of j)`, so its calibration maximum is exactly the value
  of a spike at t = 1 (Q^-1 of the scale): the top of the range is never clipped.
  The output layer has one scale for all neurons (per-neuron scales would change argmax).
- The output layer never fires; it runs T phases (scaling by Q > 1 afterwards is strictly
  monotone and cannot change the argmax) and the class is the argmax of v, ties to the
  lowest index.

Choice of Q: the conversion error of the round-off encoding (One-Spike Eq. 5, `eq5_mape`)
depends on Q and T; `Q="auto"` takes the base of `Q_AUTO_GRID` whose fixed-point value has
the smallest Eq. 5 error at the chosen T (the paper: Q ≈ 1.3 at T = 16, 1.2 at T = 24).
Every network reports the Eq. 5 error of the Q it uses (`describe()["eq5_mape"]`).
"""
import math
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from functools import lru_cache

import numpy as np

from ..convert import ConversionError, FloatLayer, pooled_scale, quantise_weights, signed_width
from ..graph import gather
from ..data import PIXEL_BITS
from .base import (  # noqa: F401
    BINARY_MAX_POOL,
    LayerShape,
    Schedule,
    SimResult,
    check_ints,
    copy_structure,
    input_spikes,
    structure_from_json,
    structure_to_json,
    simulate_network,
    spike_matmul,
)

NAME = "phase"
ACCURACY_BOUND = 1.0
ACCURACY_HINT = "more phases or the base of least round-off"


def accuracy_candidates(params: "PhaseParams", network) -> list[dict]:
    """ACCURACY_HINT as settings from the ones in use (`params` as given, Q perhaps
    "auto"): 8 phases more, the base of least round-off (Q auto), both; with Q auto
    already, 8 and 16 phases more. `flows.advice` measures each; none repeats `params`."""
    more = [{"T": params.T + step} for step in (8, 16) if params.T + step <= MAX_T]
    if params.Q == Q_AUTO or params.Q_auto:        # as given, or resolved (`resolved`)
        return more
    return more[:1] + [{"Q": Q_AUTO}] + [{**more[0], "Q": Q_AUTO}] * bool(more)


MAX_POOL = BINARY_MAX_POOL       # docs/codings.md §6
MAX_POOL_NOTE = ("the earliest spike in the window passes (One-Spike §III-C: from the paper)")
T_SWEEP = (4, 8, 12, 16, 24)   # flows.compare sweeps these T, and Q at the default T
Q_SWEEP = (1.125, 1.25, 1.5, 2.0)
Q_AUTO = "auto"
Q_AUTO_GRID = tuple(round(1 + 0.05 * i, 2) for i in range(1, 21))   # 1.05, 1.10, ..., 2.0
MAX_T = 64
GOLDEN_INT_BITS = 62   # the NumPy model computes in int64; v·Q_num must stay below 2^63


@dataclass(frozen=True)
class FixedQ:
    """A base Q held as `num / 2^frac` (docs/codings.md §2, Decision on fixed-point Q)."""
    num: int
    frac: int

    @classmethod
    def from_float(cls, q: float, frac_bits: int) -> "FixedQ":
        num, frac = int(round(q * (1 << frac_bits))), frac_bits
        while frac > 0 and num % 2 == 0:
            num, frac = num // 2, frac - 1
        return cls(num, frac)

    @property
    def value(self) -> Fraction:
        return Fraction(self.num, 1 << self.frac)

    def mul(self, v):
        """Q·v as the hardware computes it: (v·num) >> frac, floor toward minus infinity."""
        return (v * self.num) >> self.frac


BINARY = FixedQ(2, 0)   # the input layer's base: pixels are binary coded


def _normal_mass(a: float, b: float) -> float:
    """∫_a^b φ(x) dx, φ the standard normal density."""
    return (math.erf(b / math.sqrt(2)) - math.erf(a / math.sqrt(2))) / 2


def _normal_over_x(a: float, b: float) -> float:
    """∫_a^b φ(x)/x dx for 0 < a ≤ b ≤ 1, in closed form:
    (Ei(-b²/2) - Ei(-a²/2)) / (2·√(2π)) with the exponential integral
    Ei(-u) = γ + ln u + Σ_k (-u)^k / (k·k!), that is
    (ln(b/a) + Σ_k (-1/2)^k (b^2k - a^2k) / (2k·k!)) / √(2π);
    u ≤ 1/2, so the series converges fast and without cancellation."""
    total, factorial, k = math.log(b / a), 1.0, 0
    while True:
        k += 1
        factorial *= k
        term = (-0.5) ** k * (b ** (2 * k) - a ** (2 * k)) / (2 * k * factorial)
        total += term
        if abs(term) < 1e-18:
            return total / math.sqrt(2 * math.pi)


def eq5_mape(q, T: int) -> float:
    """One-Spike Eq. 5: the conversion error of the single-spike round-off approximation,
    MAPE = ∫_0^1 |(x - x̄)/x| f(x) dx, f the Gaussian density with μ = 0, σ = 1 (not
    renormalised to [0, 1]), x̄ the encoding of x with base q and T phases (Eq. 4):

        x̄ = 0                                   x < a_T
        x̄ = q^floor(log_q((2q/(q+1))·x))        a_T ≤ x < q^-1
        x̄ = q^-1                                q^-1 ≤ x,       a_t = q^-t·(q+1)/(2q).

    x̄ is constant between the breakpoints: 0 on [0, a_T), q^-t on [a_t, a_(t-1)) for
    t = T..2 and q^-1 on [a_1, 1]. Each constant c lies inside its piece, where
    |1 - c/x| changes sign at x = c, so every piece integrates exactly through the normal
    CDF and ∫φ(x)/x dx (`_normal_over_x`). `q` is the base actually used: pass the
    fixed-point value (`FixedQ.value`), a float or a Fraction.
    """
    q = float(q)
    if not q > 1 or int(T) < 1:
        raise ValueError(f"Eq. 5 needs q > 1 and T ≥ 1, not q={q}, T={T}")
    a = [q ** -t * (q + 1) / (2 * q) for t in range(T + 1)]
    total = _normal_mass(0.0, a[T])                  # x̄ = 0: |(x - 0)/x| = 1
    pieces = [(a[t], a[t - 1], q ** -t) for t in range(T, 1, -1)] + [(a[1], 1.0, 1 / q)]
    for lo, hi, c in pieces:
        total += c * _normal_over_x(lo, c) - _normal_mass(lo, c)      # x < c: c/x - 1
        total += _normal_mass(c, hi) - c * _normal_over_x(c, hi)      # x ≥ c: 1 - c/x
    return total


@lru_cache(maxsize=None)
def q_auto_search(T: int, q_frac_bits: int) -> dict[float, float]:
    """Eq. 5 error of each base of `Q_AUTO_GRID` as held in fixed point
    (`FixedQ.from_float(q, q_frac_bits)`): grid value → error. Bases that round to 1 are
    left out; grid values sharing one fixed-point base appear once, as the one nearest it."""
    nearest: dict[FixedQ, float] = {}
    for q in Q_AUTO_GRID:
        fixed = FixedQ.from_float(q, q_frac_bits)
        if fixed.value > 1 and (fixed not in nearest or
                                abs(q - fixed.value) < abs(nearest[fixed] - fixed.value)):
            nearest[fixed] = q
    return {q: eq5_mape(fixed.value, T) for fixed, q in sorted(nearest.items(),
                                                              key=lambda item: item[1])}


def auto_q(T: int, q_frac_bits: int) -> float:
    """The grid base with the smallest Eq. 5 error at T (the smaller one on a tie)."""
    search = q_auto_search(T, q_frac_bits)
    return min(search, key=lambda q: (search[q], q))


@dataclass(frozen=True)
class NeuronParams:
    """Everything one neuron's datapath needs: shared by `neuron_trace` and the RTL core."""
    potential_width: int
    weight_width: int
    bias_width: int
    threshold_width: int
    q_in: FixedQ
    guard_bits: int


@dataclass(frozen=True)
class PhaseParams:
    T: int = 16              # phases per layer carrying information
    Q: float | str = 1.25    # output base of hidden layers, 1 < Q ≤ 2, or "auto" (`resolved`)
    wait: int = 8            # w: phases a layer waits before its first compare (§V-C2)
    weight_bits: int = 8     # signed weight width in the ROMs
    q_frac_bits: int = 8     # fraction bits available to hold Q
    guard_bits: int = 4      # extra low bits of the potential, below the weights' LSB
    Q_auto: bool = field(default=False, metadata={"derived": True})
    # Q_auto: Q was chosen by "auto" (set by `resolved`, shown in reports)

    def __post_init__(self):
        check_ints(NAME, self, {"T": (2, MAX_T), "wait": (0, 64), "weight_bits": (2, 16),
                                "q_frac_bits": (1, 16), "guard_bits": (0, 16)})
        if not isinstance(self.Q_auto, bool):
            raise ConversionError(f"phase: Q_auto must be true or false, not {self.Q_auto!r}")
        if self.Q == Q_AUTO:
            return
        if isinstance(self.Q, bool) or not isinstance(self.Q, (int, float)) \
                or not 1.0 < float(self.Q) <= 2.0:
            raise ConversionError(f"phase: Q must lie in (1, 2] or be 'auto', not {self.Q!r}")
        if self.q_fixed.value <= 1:
            raise ConversionError(f"phase: Q={self.Q} rounds to {float(self.q_fixed.value)} "
                                  f"with {self.q_frac_bits} fraction bits; it must stay above 1")

    def resolved(self) -> "PhaseParams":
        """Q="auto" replaced by the base it picks (`auto_q`: the grid base with the
        smallest One-Spike Eq. 5 error at T), with Q_auto=True; other params unchanged."""
        if self.Q != Q_AUTO:
            return self
        return replace(self, Q=auto_q(self.T, self.q_frac_bits), Q_auto=True)

    @property
    def q_fixed(self) -> FixedQ:
        return FixedQ.from_float(float(self.resolved().Q), self.q_frac_bits)

    @property
    def eq5_mape(self) -> float:
        """One-Spike Eq. 5 error of the base actually used (fixed point) at T."""
        return eq5_mape(self.q_fixed.value, self.T)


@dataclass
class PhaseLayer(LayerShape):
    """One layer in integers: everything the RTL needs, and nothing float."""
    name: str
    weight: np.ndarray            # int64 (n_in, n_out), w[i][j]
    bias: np.ndarray              # int64 (n_out,), in potential units (guard bits included)
    q_in: FixedQ
    q_out: FixedQ
    steps: int                    # phases run: T + w (hidden) or T (output)
    input_phases: int             # phases that can carry input spikes
    wait: int
    guard_bits: int
    threshold_table: list[int]    # Θ_1 .. Θ_T (empty for the output layer)
    is_output: bool
    potential_width: int = 0
    bias_width: int = 0
    weight_width: int = 0
    threshold_width: int = 0
    info: dict = field(default_factory=dict)   # float-side facts for reports

    @property
    def T(self) -> int:
        return len(self.threshold_table) if not self.is_output else self.steps

    @property
    def schedule(self) -> Schedule:
        """Hidden: T+w phases plus one pass for the last compare; output: T phases."""
        return Schedule(step_passes=self.steps if self.is_output else self.steps + 1,
                        input_phases=self.input_phases, emit_offset=self.wait + 1,
                        output_phases=0 if self.is_output else self.T,
                        max_spikes_per_neuron=1, is_output=self.is_output)

    def fixed_ops(self) -> dict[str, int]:
        """Per inference: one Q-multiply per neuron and phase, one compare per neuron and
        output phase (argmax compares for the output layer)."""
        return {"q_multiplies": self.n_out * self.steps,
                "comparisons": self.n_out - 1 if self.is_output else self.n_out * self.T}

    @property
    def neuron_params(self) -> NeuronParams:
        return NeuronParams(self.potential_width, self.weight_width, self.bias_width,
                            self.threshold_width, self.q_in, self.guard_bits)

    def potential_bounds(self) -> tuple[int, int]:
        """Exact worst case of v over every phase and every input pattern.

        floor(Q·v) is monotone in v, so the largest (smallest) v after k phases follows the
        same recurrence fed with every positive (negative) weight at every input phase.
        """
        shifted = self.weight << self.guard_bits
        pos, neg = np.maximum(shifted, 0).sum(0), np.minimum(shifted, 0).sum(0)
        hi = [int(b) for b in self.bias]
        lo = list(hi)
        top, bottom = max(hi), min(lo)
        for k in range(1, self.steps + 1):
            feed = k <= self.input_phases
            hi = [self.q_in.mul(h) + (int(p) if feed else 0) for h, p in zip(hi, pos)]
            lo = [self.q_in.mul(v) + (int(n) if feed else 0) for v, n in zip(lo, neg)]
            top, bottom = max(top, *hi), min(bottom, *lo)
        return bottom, top

    def derive_widths(self) -> None:
        lo, hi = self.potential_bounds()
        self.potential_width = signed_width(lo, hi)
        self.bias_width = signed_width(int(self.bias.min()), int(self.bias.max()))
        self.weight_width = signed_width(int(self.weight.min()), int(self.weight.max()))
        self.threshold_width = max([1] + [int(x).bit_length() for x in self.threshold_table])
        product_bits = self.potential_width + self.q_in.num.bit_length()
        if product_bits > GOLDEN_INT_BITS:
            raise ConversionError(
                f"{self.name}: the potential needs {self.potential_width} bits "
                f"(Q·v {product_bits} bits), more than the {GOLDEN_INT_BITS}-bit golden model "
                f"holds; reduce T ({self.T}) or the wait ({self.wait})")


def threshold_table(theta: Fraction, q_in: FixedQ, q_out: FixedQ, T: int, wait: int) -> list[int]:
    """Θ_t = floor(θ·(Q_out+1)/(2·Q_out)·Q_in^(t+w)·Q_out^-t), t = 1..T, exact rationals.

    v is an integer, so v > Θ_real ⇔ v > floor(Θ_real).
    """
    qi, qo = q_in.value, q_out.value
    midpoint = theta * (qo + 1) / (2 * qo)
    return [int(midpoint * qi ** (t + wait) / qo ** t // 1) for t in range(1, T + 1)]


@dataclass
class PhaseNetwork:
    params: PhaseParams
    layers: list[PhaseLayer]
    coding: str = NAME

    @property
    def n_inputs(self) -> int:
        return self.layers[0].n_in

    def describe(self) -> dict:
        auto = ({"Q_auto_eq5_mape": {str(q): e for q, e in q_auto_search(
                    self.params.T, self.params.q_frac_bits).items()}}
                if self.params.Q_auto else {})
        return {"coding": NAME, "params": asdict(self.params),
                "Q_fixed": {"num": self.params.q_fixed.num, "frac": self.params.q_fixed.frac,
                            "value": float(self.params.q_fixed.value)},
                "eq5_mape": self.params.eq5_mape, **auto,
                "layers": [{"name": l.name, "n_in": l.n_in, "n_out": l.n_out,
                            "steps": l.steps, "is_output": l.is_output,
                            "potential_width": l.potential_width, "bias_width": l.bias_width,
                            "weight_width": l.weight_width,
                            "threshold_width": l.threshold_width, **l.info}
                           for l in self.layers]}

    def simulate(self, pixels: np.ndarray, record_potentials: bool = False) -> SimResult:
        return simulate(self, pixels)


def convert(layers: list[FloatLayer], calibration_max: list[np.ndarray],
            params: PhaseParams) -> PhaseNetwork:
    """Float layers (BN folded) + per-neuron calibration maxima → integer phase network.
    Q="auto" is resolved first: the network's params hold the base used (Q_auto=True)."""
    params = params.resolved()
    q = params.q_fixed
    q_real = float(q.value)
    pixel_scale = np.ones(layers[0].n_in)       # pixel/256 is coded exactly in binary
    out: list[PhaseLayer] = []
    scales: list[np.ndarray] = []               # per layer, each neuron's scale
    for index, layer in enumerate(layers):
        # a merge's inputs keep their own source's scale (docs/codings.md §7)
        in_scale = pooled_scale(layer, gather(layer, index, scales, pixel_scale))
        is_output = index == len(layers) - 1
        peak = calibration_max[index]
        if is_output:
            top = float(np.abs(peak).max())
            scale = np.full(layer.n_out, top if top > 0 else 1.0)
        else:
            # Eq. (2) per neuron; a neuron silent on all calibration data keeps the layer's
            # scale so its weights stay finite.
            layer_peak = float(peak.max()) if peak.max() > 0 else 1.0
            scale = q_real * np.where(peak > 0, peak, layer_peak)
        # (n_out, n_in)
        w_norm = layer.weight * in_scale[None, :] / scale[:, None]
        b_norm = layer.bias / scale
        w_int, sigma = quantise_weights(w_norm, params.weight_bits, layer.name)
        theta = Fraction(sigma) * (1 << params.guard_bits)
        bias = np.array([int(round(Fraction(float(b)) * theta)) for b in b_norm], dtype=np.int64)
        q_in = BINARY if index == 0 else q
        input_phases = min(params.T, PIXEL_BITS) if index == 0 else params.T
        steps = params.T if is_output else params.T + params.wait
        table = [] if is_output else threshold_table(theta, q_in, q, params.T, params.wait)
        phase_layer = PhaseLayer(
            name=layer.name, weight=w_int.T.copy(), bias=bias, q_in=q_in, q_out=q,
            steps=steps, input_phases=input_phases, wait=params.wait,
            guard_bits=params.guard_bits, threshold_table=table, is_output=is_output,
            info={"weight_scale_sigma": sigma, "activation_scale_max": float(scale.max())})
        copy_structure(phase_layer, layer)
        phase_layer.derive_widths()
        out.append(phase_layer)
        scales.append(scale)
    return PhaseNetwork(params, out)


def run_layer(layer: PhaseLayer, spikes: list[np.ndarray]):
    """Run one layer on a batch. spikes[k-1] is the (batch, n_in) 0/1 input of phase k.

    Returns (spike train (batch, T, n_out) or None, final potential, synaptic adds).
    """
    batch = spikes[0].shape[0]
    v = np.broadcast_to(layer.bias, (batch, layer.n_out)).copy()
    fire_phase = np.zeros((batch, layer.n_out), dtype=np.int64)
    shifted = layer.weight << layer.guard_bits
    lo, hi = -(1 << (layer.potential_width - 1)), (1 << (layer.potential_width - 1)) - 1
    adds = np.zeros(batch, dtype=np.int64)
    for k in range(1, layer.steps + 1):
        v = layer.q_in.mul(v)
        if k <= min(layer.input_phases, len(spikes)):
            v = v + spike_matmul(spikes[k - 1], shifted)
            adds += layer.synaptic_adds(spikes[k - 1])
        assert lo <= v.min() and v.max() <= hi, f"{layer.name}: potential left its width"
        if not layer.is_output and k > layer.wait:
            t = k - layer.wait
            fire = (fire_phase == 0) & (v > layer.threshold_table[t - 1])
            fire_phase[fire] = t
    if layer.is_output:
        return None, v, adds
    train = np.stack([fire_phase == t for t in range(1, layer.T + 1)], 1)
    return train, v, adds


def fire_phases(train: np.ndarray) -> np.ndarray:
    """(batch, T, n) single-spike trains → (batch, n) fire phase, 0 = silent."""
    return np.where(train.any(1), train.argmax(1) + 1, 0)


def simulate(network: PhaseNetwork, pixels: np.ndarray) -> SimResult:
    """Classify uint8 pixels (n, n_in) exactly as `snn_top` does; count spikes and operations."""
    return simulate_network(network, pixels, run_layer)


def neuron_trace(params: NeuronParams, bias: int, inputs: list[list[int]], table: list[int],
                 steps: int, wait: int) -> tuple[list[int], int]:
    """One neuron in plain Python ints, phase by phase: (v after each phase, fire phase).

    inputs[k-1] lists the weights of the input spikes of phase k. The reference the core
    is checked against step by step.
    """
    v, fired, trace = bias, 0, []
    for k in range(1, steps + 1):
        v = params.q_in.mul(v)
        for weight in (inputs[k - 1] if k <= len(inputs) else []):
            v += weight << params.guard_bits
        limit = 1 << (params.potential_width - 1)
        assert -limit <= v < limit, f"potential {v} left its {params.potential_width} bits"
        trace.append(v)
        if table and not fired and k > wait and v > table[k - wait - 1]:
            fired = k - wait
    return trace, fired


def network_to_json(network: PhaseNetwork) -> dict:
    """Everything `simulate` and the RTL need, as plain JSON (integers stay exact)."""
    return {"coding": NAME, "params": asdict(network.params), "layers": [
        {"name": l.name, "weight": l.weight.tolist(), "bias": l.bias.tolist(),
         "q_in": [l.q_in.num, l.q_in.frac], "q_out": [l.q_out.num, l.q_out.frac],
         "steps": l.steps, "input_phases": l.input_phases, "wait": l.wait,
         "guard_bits": l.guard_bits, "threshold_table": l.threshold_table,
         "is_output": l.is_output, "info": l.info,
         **structure_to_json(l)} for l in network.layers]}


def network_from_json(data: dict) -> PhaseNetwork:
    layers = []
    for d in data["layers"]:
        layer = PhaseLayer(
            name=d["name"], weight=np.array(d["weight"], dtype=np.int64),
            bias=np.array(d["bias"], dtype=np.int64), q_in=FixedQ(*d["q_in"]),
            q_out=FixedQ(*d["q_out"]), steps=d["steps"], input_phases=d["input_phases"],
            wait=d["wait"], guard_bits=d["guard_bits"], threshold_table=d["threshold_table"],
            is_output=d["is_output"], info=d["info"])
        structure_from_json(layer, d).derive_widths()
        layers.append(layer)
    return PhaseNetwork(PhaseParams(**data["params"]), layers)
