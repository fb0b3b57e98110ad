"""Rate Norm Layer and Rate Inference Loss (the Rate Norm Layer paper §2.2-2.4;
docs/codings.md §1).

    θ_l = p_l · running_max(z_l),   r̂_l = clip(z_l / θ_l, 0, 1)                    (Eq. 6)
    Ω_l = ||r̂_l||_1 / ||r̂_l||_2²                     Rate Inference Loss (Eq. 8-9)

Training follows the paper's Algorithm 1 in two stages: (1) accuracy, weights and biases
with p = 1; (2) fast inference, one shared p = sigmoid(p') trained with
1 - cos(r̂*_L, r̂'_L) + λ·mean_l Ω_l (Eq. 13), weights frozen. The result, as folded float
layers in rate units with θ_l in `activation_max`, converts directly (norm 'rnl').
"""
import numpy as np
import torch
from torch import nn

from .convert import FloatLayer, pool_input
from .data import Split, pixels_to_input
from .torch_threads import single_thread
from .trainable import TrainableLayer

SEED = 0


class RateNormLayer(nn.Module):
    """Eq. 6 with a running maximum (momentum m) and p in [0, 1] as sigmoid(p')."""

    def __init__(self, initial_max: float = 1.0, momentum: float = 0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_max", torch.tensor(float(initial_max), dtype=torch.float64))
        self.p_raw = nn.Parameter(torch.tensor(20.0, dtype=torch.float64))   # sigmoid ≈ 1

    @property
    def p(self) -> torch.Tensor:
        return torch.sigmoid(self.p_raw)

    @property
    def threshold(self) -> torch.Tensor:
        return self.p * self.running_max

    def forward(self, z: torch.Tensor, use_p: bool = True) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                self.running_max.mul_(1 - self.momentum).add_(self.momentum * z.max())
        theta = self.threshold if use_p else self.running_max
        return torch.clamp(z / theta, 0, 1)


def rate_inference_loss(rates: list[torch.Tensor]) -> torch.Tensor:
    """mean_l Ω_l, Ω_l = ||r̂_l||_1 / ||r̂_l||_2² per image, averaged over the batch."""
    terms = [(r.abs().sum(1) / (r.pow(2).sum(1) + 1e-12)).mean() for r in rates]
    return sum(terms) / len(terms)


class RNLNetwork(nn.Module):
    def __init__(self, layers: list[FloatLayer], calibration_max: list[np.ndarray]):
        super().__init__()
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        previous_max = 1.0
        for layer, peak in zip(layers, calibration_max):
            # start from the Max Norm equivalent of the float network
            self.linears.append(TrainableLayer(layer, weight_scale=previous_max))
            if layer.relu:
                top = float(peak.max()) if peak.max() > 0 else 1.0
                self.norms.append(RateNormLayer(top))
                previous_max = top

    def forward(self, x, use_p: bool = True):
        rates = []
        for index, linear in enumerate(self.linears):
            x = linear(x)
            if index < len(self.norms):
                x = self.norms[index](x, use_p)
                rates.append(x)
        return x, rates


def train_rnl(layers: list[FloatLayer], calibration_max: list[np.ndarray], split: Split,
              stage1_epochs: int = 10, stage2_epochs: int = 5, lam: float = 0.5,
              batch: int = 64) -> list[FloatLayer]:
    with single_thread():
        torch.manual_seed(SEED)
        net = RNLNetwork(layers, calibration_max)
        x_all = torch.tensor(pixels_to_input(split.train_pixels), dtype=torch.float64)
        y_all = torch.from_numpy(split.train_labels)
        order = torch.Generator().manual_seed(SEED)
        weights = [p for linear in net.linears for p in linear.parameters()]
        stage1 = torch.optim.Adam(weights, lr=1e-3)
        net.train()
        for _ in range(stage1_epochs):                     # Stage 1: accuracy, p = 1
            for index in torch.randperm(len(x_all), generator=order).split(batch):
                out, _ = net(x_all[index], use_p=False)
                stage1.zero_grad()
                nn.functional.cross_entropy(out, y_all[index]).backward()
                stage1.step()
        shared = nn.Parameter(torch.tensor(3.0, dtype=torch.float64))   # p = sigmoid(3) ≈ 0.95
        for norm in net.norms:
            norm.p_raw = shared                            # one p for every layer (Appendix)
        stage2 = torch.optim.Adam([shared], lr=1e-2)
        for _ in range(stage2_epochs):                     # Stage 2: fast inference
            for index in torch.randperm(len(x_all), generator=order).split(batch):
                with torch.no_grad():
                    reference, _ = net(x_all[index], use_p=False)
                out, rates = net(x_all[index])
                cosine = nn.functional.cosine_similarity(reference, out, dim=1).mean()
                loss = 1 - cosine + lam * rate_inference_loss(rates)
                stage2.zero_grad()
                loss.backward()
                stage2.step()
        net.eval()
        return [linear.to_float_layer(float(net.norms[index].threshold.detach())
                                      if index < len(net.norms) else None)
                for index, linear in enumerate(net.linears)]


def rnl_forward(layers: list[FloatLayer], x: np.ndarray) -> np.ndarray:
    """The trained RNL network in float (eval): output-layer values."""
    for layer in layers:
        x = pool_input(layer, x) @ layer.weight.T + layer.bias
        if layer.activation_max is not None:
            x = np.clip(x / layer.activation_max, 0, 1)
    return x
