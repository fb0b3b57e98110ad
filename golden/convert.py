"""Coding-independent half of ANN-to-SNN conversion.

`fold_network` turns a `torch.nn.Module` of `Flatten`, `Linear`, `BatchNorm1d` and `ReLU`
into float layers with batch norm folded into weight and bias. `calibrate` runs those float
layers on calibration data and returns each neuron's largest activation, the quantity the
channel-wise normalisation of One-Spike Eq. (2) divides by. Each coding's module
(`golden.codings.<name>`) turns the float layers into its integer layers.
"""
from dataclasses import dataclass

import numpy as np
from torch import nn


class ConversionError(ValueError):
    """A network or a parameter the converter cannot turn into hardware."""


@dataclass
class FloatLayer:
    name: str              # e.g. "layer 2 (Linear at position 4)"
    weight: np.ndarray     # float64, (n_out, n_in)
    bias: np.ndarray       # float64, (n_out,)
    relu: bool             # False only for the output layer
    activation_max: float | None = None   # a trained clip threshold (QCFS λ), if any

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]


def _flat_modules(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _flat_modules(child)]
    return [model]


def fold_network(model: nn.Module) -> list[FloatLayer]:
    """Fold batch norm into the preceding Linear; return the affine layers in order.

    BN: y = γ (x - μ) / sqrt(σ² + ε) + β, so W' = W·γ/s and b' = (b - μ)·γ/s + β.
    """
    modules = _flat_modules(model)
    layers: list[FloatLayer] = []
    for position, module in enumerate(modules):
        where = f"{type(module).__name__} at position {position}"
        if isinstance(module, nn.Flatten):
            if layers:
                raise ConversionError(f"{where}: Flatten is only supported before the first Linear")
        elif isinstance(module, nn.Linear):
            if layers and not layers[-1].relu:
                raise ConversionError(f"{where}: two Linear layers without a ReLU between them")
            w = module.weight.detach().double().numpy().copy()
            b = (module.bias.detach().double().numpy().copy() if module.bias is not None
                 else np.zeros(module.out_features))
            layers.append(FloatLayer(f"layer {len(layers) + 1} (Linear at position {position})",
                                     w, b, relu=False))
        elif isinstance(module, nn.BatchNorm1d):
            if not layers or layers[-1].relu:
                raise ConversionError(f"{where}: BatchNorm1d must follow a Linear layer directly")
            if module.running_mean is None:
                raise ConversionError(f"{where}: BatchNorm1d without running statistics")
            layer = layers[-1]
            if module.num_features != layer.n_out:
                raise ConversionError(f"{where}: {module.num_features} features after a Linear "
                                      f"with {layer.n_out} outputs")
            s = np.sqrt(module.running_var.double().numpy() + module.eps)
            gamma = (module.weight.detach().double().numpy() if module.affine
                     else np.ones(layer.n_out))
            beta = (module.bias.detach().double().numpy() if module.affine
                    else np.zeros(layer.n_out))
            layer.weight = layer.weight * (gamma / s)[:, None]
            layer.bias = (layer.bias - module.running_mean.double().numpy()) * gamma / s + beta
        elif isinstance(module, nn.ReLU):
            if not layers or layers[-1].relu:
                raise ConversionError(f"{where}: ReLU must follow a Linear (or its BatchNorm1d)")
            layers[-1].relu = True
        else:
            raise ConversionError(
                f"{where}: unsupported layer type {type(module).__name__} "
                f"(supported: Flatten, Linear, BatchNorm1d, ReLU)")
    if not layers:
        raise ConversionError("the network has no Linear layer")
    if layers[-1].relu:
        raise ConversionError(f"{layers[-1].name}: the output layer must not end in a ReLU "
                              "(the class is the argmax of its potential)")
    for layer in layers[:-1]:
        if not layer.relu:
            raise ConversionError(f"{layer.name}: hidden layer without ReLU")
    for prev, layer in zip(layers, layers[1:]):
        if prev.n_out != layer.n_in:
            raise ConversionError(f"{layer.name}: expects {layer.n_in} inputs, "
                                  f"previous layer gives {prev.n_out}")
    return layers


def forward(layers: list[FloatLayer], x: np.ndarray) -> list[np.ndarray]:
    """Activations of every layer (after ReLU for hidden layers) for inputs x (n, n_in)."""
    activations = []
    for layer in layers:
        x = x @ layer.weight.T + layer.bias
        if layer.relu:
            x = np.maximum(x, 0.0)
        activations.append(x)
    return activations


class Calibration(list):
    """Per layer, each neuron's largest activation on the calibration inputs (Eq. 2's
    max(X_l^C)); `inputs` keeps those inputs for codings that need more than the maxima."""

    def __init__(self, maxima, inputs: np.ndarray):
        super().__init__(maxima)
        self.inputs = inputs


def calibrate(layers: list[FloatLayer], x: np.ndarray) -> Calibration:
    if x is None or len(x) == 0:
        raise ConversionError("calibration data is required for channel-wise normalisation")
    return Calibration([a.max(axis=0) for a in forward(layers, x)], x)


def quantise_weights(weight: np.ndarray, bits: int, name: str) -> tuple[np.ndarray, float]:
    """Symmetric per-layer quantisation to signed `bits`: returns (integer weights, scale σ)
    with weight ≈ integer / σ and max |integer| = 2^(bits-1) - 1."""
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ConversionError(f"weight bits must be an integer from 2 to 16, not {bits!r}")
    peak = float(np.abs(weight).max())
    if peak == 0.0:
        raise ConversionError(f"{name}: all weights are zero")
    sigma = ((1 << (bits - 1)) - 1) / peak
    return np.rint(weight * sigma).astype(np.int64), sigma


def signed_width(lo: int, hi: int) -> int:
    """Bits of a two's complement register that holds every integer in [lo, hi]."""
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width
