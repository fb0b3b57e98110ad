"""Float layers as trainable PyTorch parameters, weight sharing kept.

The codings that fine-tune their ANN side (radix, deferred, rate with the Rate Norm
Layer) train through this: a dense layer trains its weight matrix, a convolution trains
its kernel and one bias per output channel, and the unrolled weight is rebuilt from them
at every step (`golden.conv`), so a trained convolution is still a convolution.
"""
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from .convert import FloatLayer

# Unrolled weights above this many entries train as a direct convolution (`forward`).
DIRECT_CONV_ABOVE = 1 << 20


def _sparse(tie) -> torch.Tensor:
    coo = tie.tocoo()
    index = torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64))
    return torch.sparse_coo_tensor(index, torch.from_numpy(coo.data), tie.shape,
                                   check_invariants=True).coalesce()


class TrainableLayer(nn.Module):
    def __init__(self, layer: FloatLayer, weight_scale: float = 1.0):
        super().__init__()
        self.layer = layer
        shared = layer.kernel is not None
        weight = layer.kernel if shared else layer.weight
        self.weight_param = nn.Parameter(torch.tensor(weight * weight_scale, dtype=torch.float64))
        if shared:
            self.first_of_channel = np.unique(layer.channel, return_index=True)[1]
            self.bias_param = nn.Parameter(torch.tensor(layer.bias[self.first_of_channel]))
            self.tie = _sparse(layer.tie)
            self.channel = torch.from_numpy(layer.channel)
        else:
            self.bias_param = nn.Parameter(torch.tensor(layer.bias, dtype=torch.float64))
        self.pool = None if layer.input_pool is None else torch.from_numpy(layer.input_pool)

    def weight(self) -> torch.Tensor:
        if self.layer.kernel is None:
            return self.weight_param
        flat = torch.sparse.mm(self.tie, self.weight_param.reshape(-1, 1))
        return flat.reshape(self.layer.n_out, self.layer.n_in)

    def bias(self) -> torch.Tensor:
        return self.bias_param if self.layer.kernel is None else self.bias_param[self.channel]

    def pool_input(self, a: torch.Tensor) -> torch.Tensor:
        return a if self.pool is None else a[:, self.pool].amax(-1)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        """The layer's pre-activation for the previous outputs `a` (n, n_prev).

        Small layers multiply by the unrolled weight, as they always have; a convolution
        whose unrolled weight is large (MNIST-size maps: millions of mostly-zero entries)
        runs as average pooling and `conv2d` on its kernel instead. Both compute the same
        function (the unrolled weight is `tie @ kernel`, golden.conv); the direct form is
        tens of times faster there."""
        a = self.pool_input(a)
        if self.layer.kernel is None or self.layer.weight.size <= DIRECT_CONV_ABOVE:
            return a @ self.weight().T + self.bias()
        for (kh, kw), before in self.layer.avg_windows:
            a = functional.avg_pool2d(a.reshape(len(a), *before), (kh, kw)).reshape(len(a), -1)
        geometry = self.layer.geometry
        out = functional.conv2d(a.reshape(len(a), *geometry.in_shape), self.weight_param,
                                stride=geometry.stride, padding=geometry.padding)
        return out.reshape(len(a), -1) + self.bias()

    def to_float_layer(self, activation_max: float | None = None) -> FloatLayer:
        with torch.no_grad():
            weight, bias = self.weight().numpy().copy(), self.bias().numpy().copy()
            kernel = (self.weight_param.numpy().copy() if self.layer.kernel is not None
                      else None)
        return replace(self.layer, weight=weight, bias=bias, kernel=kernel,
                       activation_max=activation_max)
