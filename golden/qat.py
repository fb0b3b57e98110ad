"""Quantisation-aware fine-tuning of folded float layers (straight-through estimator).

Codings whose ANN side has activations quantised to T bits (radix) fine-tune the folded
layers with the hidden activations quantised exactly as the converter will quantise them:
neuron j codes `a ≈ S·λ_j/(2^T - 1)`, S = clamp(round(z·(2^T - 1)/λ_j), 0, 2^T - 1), λ_j
its calibration maximum (held fixed). The rounding's gradient is passed straight through
inside the clamp range. Deterministic: seeded, CPU, full order fixed.
"""
import numpy as np
import torch

from .convert import FloatLayer
from .data import Split, pixels_to_input
from .graph import gather
from .torch_threads import single_thread
from .trainable import TrainableLayer

SEED = 0


def _quantise(z: torch.Tensor, step: torch.Tensor, levels: int) -> torch.Tensor:
    code = torch.clamp(z / step, 0, levels)
    code = code + (torch.floor(code + 0.5).clamp(max=levels) - code).detach()   # STE
    return code * step


def finetune(layers: list[FloatLayer], calibration_max: list[np.ndarray], split: Split,
             T: int, epochs: int = 15, batch: int = 64, lr: float = 1e-3) -> list[FloatLayer]:
    with single_thread():
        return _finetune(layers, calibration_max, split, T, epochs, batch, lr)


def _finetune(layers, calibration_max, split, T, epochs, batch, lr):
    torch.manual_seed(SEED)
    levels = (1 << T) - 1
    trainable = [TrainableLayer(l) for l in layers]
    steps = []
    for peak in calibration_max[:-1]:
        layer_peak = float(peak.max()) if peak.max() > 0 else 1.0
        steps.append(torch.tensor(np.where(peak > 0, peak, layer_peak) / levels))
    x_all = torch.tensor(pixels_to_input(split.train_pixels), dtype=torch.float64)
    y_all = torch.from_numpy(split.train_labels)
    optimiser = torch.optim.Adam([t.weight_param for t in trainable] +
                                 [t.bias_param for t in trainable], lr=lr)
    order = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        for index in torch.randperm(len(x_all), generator=order).split(batch):
            outputs = []
            for layer, t in enumerate(trainable):
                a = t(gather(t.layer, layer, outputs, x_all[index]))
                if layer < len(steps):
                    a = _quantise(a, steps[layer], levels)
                outputs.append(a)
            optimiser.zero_grad()
            torch.nn.functional.cross_entropy(a, y_all[index]).backward()
            optimiser.step()
    return [t.to_float_layer() for t in trainable]
