"""Deferred fire: accumulate over all T steps, then extract bits (Error-Free ANN-to-SNN
Conversion paper; docs/codings.md §5).

    u = 2·u + Σ_i w[i][j]·s_i(t)      t = 1 .. T_in (left shift; MSB first, weight 2^(T-t))
    u += B                              (bias, BN folded, + the QCFS half step θ/2^(T+1))
    s(t) = [u ≥ θ/2^t];  u -= s(t)·θ/2^t,   t = 1..T          (Eq. 9, Theorem II)

Decision (docs/codings.md §5): the paper scales step t by 2^(t-1) while calling s(t) the t-th bit
from the MSB; read MSB first, weight 2^(T-t). The extractor and accumulator are shared
with radix (`bitserial.py`); what differs is the ANN side:

- QCFS activation with T bits (Eq. 2, clip at 2^T - 1, the Decision that makes every
  spike equal an activation bit): a = λ/2^T · clip(floor(z·2^T/λ + 1/2), 0, 2^T - 1),
  λ trainable per layer; θ = λ in integer units (θ a multiple of 2^(T+1), so θ/2^t and the
  half step are integers).
- The sparsity regulariser L_SP = Σ bits of the activations (Eq. 10) with the surrogate
  gradient ∂a_t/∂a = 1 for 0 < a < λ (Eq. 11).
- The BN bias shift of Theorem I for hardware that applies BN at every step:
  β_c = β/T + (1 - 1/T)·μγ/σ (the theorem's statement prints γμ/β, a typo; the proof's
  μγ/σ is right). Folding BN into weights and bias, as the converter does, is the same
  thing: `per_step_bn_sum` checks it.
"""
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..convert import ConversionError, FloatLayer, pool_input, pooled_scale
from ..graph import gather
from ..data import PIXEL_BITS, Split, pixels_to_input
from ..torch_threads import single_thread
from ..trainable import TrainableLayer
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

NAME = "deferred"
ACCURACY_BOUND = 1.5
ACCURACY_HINT = "more bits per activation or longer QCFS fine-tuning"


def accuracy_candidates(params: "DeferredParams", network) -> list[dict]:
    """ACCURACY_HINT as settings from the ones in use: 1 and 2 bits per activation more,
    twice the fine-tuning epochs (within DeferredParams' limits). `flows.advice` measures
    each."""
    return ([{"T": params.T + more} for more in (1, 2) if params.T + more <= MAX_T]
            + [{"epochs": 2 * params.epochs}] * (0 < 2 * params.epochs <= MAX_EPOCHS))


MAX_POOL = BINARY_MAX_POOL       # docs/codings.md §6
MAX_POOL_NOTE = ("the bit-serial maximum of the MSB-first trains (an extension: the deferred-fire "
                 "paper uses average pooling)")
T_SWEEP = (2, 3, 4, 5, 6)      # flows.compare sweeps these T
SEED = 0
MAX_T, MAX_EPOCHS = 16, 1000


@dataclass(frozen=True)
class DeferredParams:
    T: int = 4                   # bits per activation (QCFS levels 2^T)
    weight_bits: int = 8         # signed weight width in the ROMs
    sparsity: float = 1e-4       # λ of Eq. (10), the weight of L_SP in training
    epochs: int = 30             # QCFS fine-tuning epochs

    def __post_init__(self):
        check_ints(NAME, self, {"T": (1, MAX_T), "weight_bits": (2, 16),
                                "epochs": (0, MAX_EPOCHS)})
        if not isinstance(self.sparsity, (int, float)) or self.sparsity < 0:
            raise ConversionError(f"deferred: sparsity must be a number ≥ 0, not {self.sparsity!r}")


def qcfs(z: torch.Tensor, lam: torch.Tensor, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """QCFS with T bits (Eq. 2, clip at 2^T - 1), straight-through rounding.

    Returns (activation, integer code)."""
    levels = (1 << T) - 1
    x = torch.clamp(z * (1 << T) / lam, 0, levels)
    code = torch.clamp(torch.floor(z * (1 << T) / lam + 0.5), 0, levels)
    return (x + (code - x).detach()) * lam / (1 << T), code.detach()


def sparsity_loss(a: torch.Tensor, code: torch.Tensor, lam: torch.Tensor, T: int):
    """L_SP of Eq. (10), per image: its value is the number of 1 bits in the codes; its
    gradient is the surrogate of Eq. (11), T·[0 < a < λ] per activation."""
    bits = sum(((code.long() >> t) & 1) for t in range(T)).sum(1).float()
    inside = ((a > 0) & (a < lam)).detach().float()
    surrogate = T * (a * inside).sum(1)
    return (bits + surrogate - surrogate.detach()).mean()


def finetune(layers: list[FloatLayer], calibration_max: list[np.ndarray], split: Split,
             params: DeferredParams, batch: int = 64, lr: float = 1e-3) -> list[FloatLayer]:
    """Train the folded network with QCFS activations (λ per layer, starting at the
    calibration maximum) and the sparsity regulariser. Deterministic (seeded, CPU)."""
    with single_thread():
        return _finetune(layers, calibration_max, split, params, batch, lr)


def _finetune(layers, calibration_max, split, params, batch, lr):
    torch.manual_seed(SEED)
    trainable = [TrainableLayer(l) for l in layers]
    lams = [torch.tensor(float(peak.max()) if peak.max() > 0 else 1.0, dtype=torch.float64,
                         requires_grad=True) for peak in calibration_max[:-1]]
    x_all = torch.tensor(pixels_to_input(split.train_pixels), dtype=torch.float64)
    y_all = torch.from_numpy(split.train_labels)
    optimiser = torch.optim.Adam([t.weight_param for t in trainable] +
                                 [t.bias_param for t in trainable] + lams, lr=lr)
    order = torch.Generator().manual_seed(SEED)
    for _ in range(params.epochs):
        for index in torch.randperm(len(x_all), generator=order).split(batch):
            sparsity, outputs = 0.0, []
            for layer, t in enumerate(trainable):
                a = t(gather(t.layer, layer, outputs, x_all[index]))
                if layer < len(lams):
                    a, code = qcfs(a, lams[layer], params.T)
                    sparsity = sparsity + sparsity_loss(a, code, lams[layer], params.T)
                outputs.append(a)
            loss = torch.nn.functional.cross_entropy(a, y_all[index]) + params.sparsity * sparsity
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return [t.to_float_layer(float(lams[index].detach()) if index < len(lams) else None)
            for index, t in enumerate(trainable)]


def fine_tuning(params: DeferredParams) -> str:
    """Why the hardware computes a fine-tuned network (flows.report says so)."""
    return (f"deferred trains its ANN side with QCFS activations of T = {params.T} bits "
            f"({params.epochs} epochs, with the L_SP sparsity term), so that each activation "
            "bit is one spike")


def fine_tuned_ann(network: BitSerialNetwork, layers: list[FloatLayer],
                   pixels: np.ndarray) -> np.ndarray:
    """Classes of the fine-tuned ANN as trained: the float QCFS ANN (`qcfs_ann_forward`)."""
    return np.argmax(qcfs_ann_forward(layers, pixels_to_input(pixels), network.params.T),
                     axis=1)


def qcfs_ann_forward(layers: list[FloatLayer], x: np.ndarray, T: int) -> np.ndarray:
    """The float QCFS ANN (after `finetune`): output-layer values, in float64 (the layers'
    precision) whatever the precision of `x`."""
    x = np.asarray(x, dtype=np.float64)
    with torch.no_grad():
        outputs = []
        for index, l in enumerate(layers):
            a = torch.tensor(pool_input(l, gather(l, index, outputs, x))) @ \
                torch.tensor(l.weight).T + torch.tensor(l.bias)
            if l.activation_max is not None:
                a, _ = qcfs(a, torch.tensor(l.activation_max, dtype=torch.float64), T)
            outputs.append(a.numpy())
    return outputs[-1]


def convert(layers: list[FloatLayer], calibration_max: list[np.ndarray],
            params: DeferredParams) -> BitSerialNetwork:
    """θ = λ in integer units, as large a multiple of 2^(T+1) as the weight bits allow."""
    T = params.T
    w_max = (1 << (params.weight_bits - 1)) - 1
    pixel_scale = np.full(layers[0].n_in, 1.0 / (1 << PIXEL_BITS))   # S_0 = pixel = 256·x
    out: list[BitSerialLayer] = []
    scales: list[np.ndarray] = []                 # per layer, each neuron's code step
    for index, layer in enumerate(layers):
        is_output = index == len(layers) - 1
        # a merge's inputs keep their own source's scale (docs/codings.md §7)
        in_scale = pooled_scale(layer, gather(layer, index, scales, pixel_scale))
        w_real = layer.weight.T * in_scale[:, None]   # per unit of the input code
        peak = float(np.abs(w_real).max())
        if peak == 0.0:
            raise ConversionError(f"{layer.name}: all weights are zero")
        if is_output:
            sigma = w_max / peak
            weight, bias, theta = (np.rint(w_real * sigma).astype(np.int64),
                                   np.rint(layer.bias * sigma).astype(np.int64), 1)
            lam = None
        else:
            lam = layer.activation_max
            if lam is None:
                top = float(calibration_max[index].max())
                lam = top if top > 0 else 1.0
            step = 1 << (T + 1)
            multiple = math.floor(w_max * lam / peak / step)
            if multiple < 1:
                raise ConversionError(
                    f"{layer.name}: θ must be a multiple of 2^(T+1) = {step}, but "
                    f"{params.weight_bits}-bit weights allow at most θ = {w_max * lam / peak:.1f}; "
                    f"lower T ({T}) or raise --weight-bits")
            theta = multiple * step
            sigma = theta / lam                    # integer units per unit of z
            weight = np.rint(w_real * sigma).astype(np.int64)
            bias = np.rint(layer.bias * sigma).astype(np.int64) + (theta >> (T + 1))
        deferred_layer = BitSerialLayer(
            name=layer.name, weight=weight, bias=bias, theta=theta,
            input_phases=PIXEL_BITS if index == 0 else T, T=0 if is_output else T,
            is_output=is_output, info={"qcfs_lambda": lam, "integer_units_per_z": sigma})
        copy_structure(deferred_layer, layer)
        deferred_layer.derive_widths()
        out.append(deferred_layer)
        scales.append(np.full(layer.n_out, np.nan if lam is None else lam / (1 << T)))
    return BitSerialNetwork(params, out, NAME)


def bn_bias_shift(beta, gamma, mu, sigma, T: int):
    """Theorem I with the typo fixed: β_c = β/T + (1 - 1/T)·μγ/σ."""
    return beta / T + (1 - 1 / T) * mu * gamma / sigma


def per_step_bn_sum(weight, gamma, beta, mu, sigma, spikes: np.ndarray) -> np.ndarray:
    """Σ_t BN_c(W·2^(T-t)·s(t)) with the shifted bias, BN applied at every step.

    spikes: (batch, T, n_in) MSB first. Equals BN(W·a) with a = Σ_t 2^(T-t)·s(t) (Eq. 7)."""
    T = spikes.shape[1]
    beta_c = bn_bias_shift(beta, gamma, mu, sigma, T)
    total = 0.0
    for t in range(1, T + 1):
        z = (spikes[:, t - 1] * (1 << (T - t))) @ weight.T
        total = total + gamma * (z - mu) / sigma + beta_c
    return total


def network_from_json(data: dict) -> BitSerialNetwork:
    return _from_json(data, DeferredParams)
