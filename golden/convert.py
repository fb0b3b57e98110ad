"""Coding-independent half of ANN-to-SNN conversion.

`fold_network` turns a `torch.nn.Module` of `Linear`/`Conv2d`, batch norm, `ReLU`,
pooling and `Flatten` into float layers with batch norm folded into weight and bias
(convolutions unrolled into dense weights, see `golden.conv`). `calibrate` runs those float
layers on calibration data and returns each neuron's largest activation, the quantity the
channel-wise normalisation of One-Spike Eq. (2) divides by. Each coding's module
(`golden.codings.<name>`) turns the float layers into its integer layers.
"""
from dataclasses import dataclass, replace

import numpy as np
from torch import nn

from .conv import (ConvGeometry, avg_pool_matrix, conv_tie, fold_linear_into_tie,
                   max_pool_index, pair, pooled_convolution, tie_to_weight)
from .graph import Residual, gather


class ConversionError(ValueError):
    """A network or a parameter the converter cannot turn into hardware."""


@dataclass
class FloatLayer:
    name: str              # e.g. "layer 2 (Conv2d at position 4)"
    weight: np.ndarray     # float64, (n_out, n_in): a convolution unrolled (golden.conv)
    bias: np.ndarray       # float64, (n_out,)
    relu: bool             # False only for the output layer
    activation_max: float | None = None   # a trained clip threshold (QCFS λ), if any
    input_pool: np.ndarray | None = None  # (n_in, window): max pooling of the previous outputs
    kernel: np.ndarray | None = None      # a convolution's kernel (weight.flat = tie @ kernel.flat)
    tie: object = None                    # scipy sparse (n_out·n_in, kernel.size)
    channel: np.ndarray | None = None     # (n_out,) each neuron's output channel (convolutions)
    geometry: ConvGeometry | None = None
    # The convolution the RTL engine runs: `geometry` with average pooling folded in, or
    # None for a dense layer (or pooling no single convolution equals).
    conv: ConvGeometry | None = None
    # The float ANN's multiply-accumulates in this layer, counted before average pooling
    # was folded in (the energy reference; the SNN's additions follow the folded weight).
    ann_macs: int | None = None
    # Average pooling folded in before a convolution: ((kh, kw), map shape before it) each.
    avg_windows: tuple = ()
    # What the layer reads (golden.graph.Source each): None, the layer before it; a
    # residual merge reads two sources, concatenated
    sources: tuple | None = None

    @property
    def n_in(self) -> int:
        return self.weight.shape[1]

    @property
    def n_out(self) -> int:
        return self.weight.shape[0]

    @property
    def fan_out(self) -> np.ndarray | None:
        """(n_in,) neurons each input reaches through the kernel; None for a dense layer."""
        if self.tie is None:
            return None
        rows = np.unique(self.tie.tocoo().row)
        return np.bincount(rows % self.n_in, minlength=self.n_in).astype(np.int64)

    def scale_output(self, factor: np.ndarray) -> None:
        """Multiply weight rows and bias by a per-neuron factor, kernel kept in step."""
        if self.kernel is not None:
            per_channel = factor[np.unique(self.channel, return_index=True)[1]]
            self.kernel = self.kernel * per_channel[:, None, None, None]
            self.weight = tie_to_weight(self.tie, self.kernel, self.n_out, self.n_in)
        else:
            self.weight = self.weight * factor[:, None]
        self.bias = self.bias * factor

    def describe(self) -> str:
        pool = ("" if self.input_pool is None
                else f", max pooling over {self.input_pool.shape[1]}")
        shape = self.geometry.describe() if self.geometry else f"dense {self.n_in} -> {self.n_out}"
        return f"{self.name}: {shape}{pool}"


def pool_input(layer, x: np.ndarray) -> np.ndarray:
    """The layer's input: the previous outputs x (n, n_prev), max-pooled if it pools."""
    return x if layer.input_pool is None else x[:, layer.input_pool].max(-1)


def pooled_scale(layer, scale: np.ndarray) -> np.ndarray:
    """Per-input scale after the layer's max pooling (a window shares one channel's scale)."""
    return scale if layer.input_pool is None else scale[layer.input_pool[:, 0]]


def _flat_modules(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [leaf for child in model for leaf in _flat_modules(child)]
    return [model]


class _Folder:
    """State of `fold_network` between modules: the shape of the current activations and
    pooling waiting for the next affine layer."""

    def __init__(self):
        self.layers: list[FloatLayer] = []
        self.shape = None                 # (C, H, W) once known, else None (flat)
        self.size = None                  # length of the current flat vector, if known
        self.max_pool = None              # (n, window) into the last layer's outputs
        self.avg_pool = None              # (n, n_before) average pooling, to fold in
        self.avg_windows: list[tuple] = []   # ((kh, kw), shape before the pool) per AvgPool

    def take_pending(self, where: str):
        if self.layers and not self.layers[-1].relu:
            raise ConversionError(f"{where}: two affine layers without a ReLU between them")
        pending, pool, windows = self.avg_pool, self.max_pool, self.avg_windows
        self.avg_pool, self.max_pool, self.avg_windows = None, None, []
        return pending, pool, windows

    def add(self, layer: FloatLayer, pending, pool, windows) -> None:
        layer.conv = layer.geometry
        layer.ann_macs = layer.tie.nnz if layer.tie is not None else layer.weight.size
        if pending is not None:
            if layer.tie is not None:
                layer.tie = fold_linear_into_tie(layer.tie, pending, layer.n_out)
                names = " and ".join(f"AvgPool2d {kh}x{kw}" for (kh, kw), _ in windows)
                layer.geometry = replace(layer.geometry, pooled_input=names)
                layer.conv = pooled_convolution(layer.geometry, windows)
                layer.avg_windows = tuple(windows)
            layer.weight = layer.weight @ pending
        layer.input_pool = pool
        self.layers.append(layer)


def _check_pool(module, where: str, kind: str) -> None:
    padding = pair(module.padding)
    if padding != (0, 0) or module.ceil_mode:
        raise ConversionError(f"{where}: {kind} with padding or ceil_mode is not supported")
    if getattr(module, "dilation", 1) not in (1, (1, 1)):
        raise ConversionError(f"{where}: {kind} with dilation is not supported")
    if getattr(module, "divisor_override", None) is not None:
        raise ConversionError(f"{where}: {kind} with divisor_override is not supported")
    stride = pair(module.stride if module.stride is not None else module.kernel_size)
    if kind == "AvgPool2d" and stride != pair(module.kernel_size):
        raise ConversionError(f"{where}: AvgPool2d windows must not overlap "
                              f"(stride {stride} differs from kernel {pair(module.kernel_size)})")


def _conv(module: nn.Conv2d, folder: _Folder, where: str, name: str) -> FloatLayer:
    if folder.shape is None:
        raise ConversionError(f"{where}: the input shape is unknown; start the model with "
                              "nn.Unflatten(1, (C, H, W)) (images arrive as flat pixel vectors)")
    if module.groups != 1 or pair(module.dilation) != (1, 1):
        raise ConversionError(f"{where}: Conv2d with groups or dilation is not supported")
    if not isinstance(module.padding, (int, tuple)) or module.padding_mode != "zeros":
        raise ConversionError(f"{where}: Conv2d padding must be zeros, given as numbers")
    c, h, w = folder.shape
    if module.in_channels != c:
        raise ConversionError(f"{where}: Conv2d expects {module.in_channels} channels, "
                              f"the input has {c}")
    (kh, kw), (ph, pw) = pair(module.kernel_size), pair(module.padding)
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ConversionError(f"{where}: kernel {kh}x{kw} is larger than the {h}x{w} input "
                              f"with padding {ph},{pw}")
    tie, out_shape = conv_tie(folder.shape, module.out_channels, module.kernel_size,
                              module.stride, module.padding)
    kernel = module.weight.detach().double().numpy().copy()
    n_out, n_in = int(np.prod(out_shape)), c * h * w
    channel = np.repeat(np.arange(out_shape[0]), out_shape[1] * out_shape[2])
    bias = (module.bias.detach().double().numpy()[channel] if module.bias is not None
            else np.zeros(n_out))
    geometry = ConvGeometry(folder.shape, out_shape, pair(module.kernel_size),
                            pair(module.stride), (ph, pw))
    folder.shape, folder.size = out_shape, n_out
    return FloatLayer(name, tie_to_weight(tie, kernel, n_out, n_in), bias, relu=False,
                      kernel=kernel, tie=tie, channel=channel, geometry=geometry)


def _batch_norm(module, layer: FloatLayer | None, where: str, kind: str) -> None:
    """y = γ (x - μ) / sqrt(σ² + ε) + β, so W' = W·γ/s and b' = (b - μ)·γ/s + β."""
    expected = "a Conv2d" if kind == "BatchNorm2d" else "a Linear layer"
    if layer is None or layer.relu or (kind == "BatchNorm2d") != (layer.kernel is not None):
        raise ConversionError(f"{where}: {kind} must follow {expected} directly")
    if module.running_mean is None:
        raise ConversionError(f"{where}: {kind} without running statistics")
    channels = layer.geometry.out_shape[0] if layer.kernel is not None else layer.n_out
    if module.num_features != channels:
        raise ConversionError(f"{where}: {module.num_features} features after a layer "
                              f"with {channels} outputs")
    s = np.sqrt(module.running_var.double().numpy() + module.eps)
    gamma = module.weight.detach().double().numpy() if module.affine else np.ones(channels)
    beta = module.bias.detach().double().numpy() if module.affine else np.zeros(channels)
    mean = module.running_mean.double().numpy()
    per_neuron = layer.channel if layer.kernel is not None else np.arange(channels)
    shift = (beta - mean * gamma / s)[per_neuron]
    layer.scale_output((gamma / s)[per_neuron])
    layer.bias = layer.bias + shift


def fold_modules(folder: _Folder, model: nn.Module, prefix: str) -> None:
    """Fold `model`'s modules into `folder`; positions are numbered after `prefix`."""
    for position, module in enumerate(_flat_modules(model)):
        _fold_module(folder, module, f"{prefix}{position}")


def _fold_module(folder: _Folder, module: nn.Module, position: str) -> None:
    kind = type(module).__name__
    where = f"{kind} at position {position}"
    name = f"layer {len(folder.layers) + 1} ({kind} at position {position})"
    last = folder.layers[-1] if folder.layers else None
    pooling = folder.max_pool is not None or folder.avg_pool is not None
    if isinstance(module, nn.Unflatten):
        if folder.layers or folder.shape is not None:
            raise ConversionError(f"{where}: Unflatten is only supported as the first module")
        folder.shape = tuple(int(s) for s in module.unflattened_size)
        if len(folder.shape) != 3:
            raise ConversionError(f"{where}: Unflatten must give (C, H, W), not {folder.shape}")
        folder.size = int(np.prod(folder.shape))
    elif isinstance(module, nn.Flatten):
        folder.shape = None
    elif isinstance(module, (nn.Linear, nn.Conv2d)):
        if folder.shape is not None and isinstance(module, nn.Linear):
            raise ConversionError(f"{where}: Linear after a 2-D map needs a Flatten first")
        pending = folder.take_pending(where)
        if isinstance(module, nn.Conv2d):
            layer = _conv(module, folder, where, name)
        else:
            w = module.weight.detach().double().numpy().copy()
            b = (module.bias.detach().double().numpy().copy() if module.bias is not None
                 else np.zeros(module.out_features))
            layer = FloatLayer(name, w, b, relu=False)
            if pending[0] is not None and pending[0].shape[0] != layer.n_in:
                raise ConversionError(f"{layer.name}: expects {layer.n_in} inputs, the "
                                      f"pooling before it gives {pending[0].shape[0]}")
            if pending[0] is None and folder.size is not None and folder.size != layer.n_in:
                raise ConversionError(f"{layer.name}: expects {layer.n_in} inputs, "
                                      f"previous layer gives {folder.size}")
            folder.size = layer.n_out
        folder.add(layer, *pending)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        _batch_norm(module, None if pooling else last, where, kind)
    elif isinstance(module, nn.ReLU):
        if last is None or last.relu or pooling:
            raise ConversionError(f"{where}: ReLU must follow a Linear or Conv2d "
                                  "(or its batch norm)")
        last.relu = True
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        if last is None or not last.relu or folder.shape is None:
            raise ConversionError(f"{where}: {kind} must follow a ReLU on a 2-D map "
                                  "(pooling the input image is not supported)")
        _check_pool(module, where, kind)
        stride = module.stride if module.stride is not None else module.kernel_size
        kh, kw = pair(module.kernel_size)
        if kh > folder.shape[1] or kw > folder.shape[2]:
            raise ConversionError(f"{where}: window {kh}x{kw} is larger than the "
                                  f"{folder.shape[1]}x{folder.shape[2]} map")
        if isinstance(module, nn.MaxPool2d):
            if folder.avg_pool is not None:
                raise ConversionError(f"{where}: MaxPool2d after AvgPool2d is not supported")
            index, folder.shape = max_pool_index(folder.shape, module.kernel_size, stride)
            folder.max_pool = index if folder.max_pool is None else \
                folder.max_pool[index].reshape(len(index), -1)
        else:
            before = folder.shape
            matrix, folder.shape = avg_pool_matrix(folder.shape, module.kernel_size, stride)
            folder.avg_pool = matrix if folder.avg_pool is None else matrix @ folder.avg_pool
            folder.avg_windows.append(((kh, kw), before))
        folder.size = int(np.prod(folder.shape))
    elif isinstance(module, Residual):
        from .residual import fold_residual       # it builds on this module's folding
        fold_residual(folder, module, where, position)
    else:
        raise ConversionError(
            f"{where}: unsupported layer type {kind} (supported: Unflatten, Flatten, "
            "Conv2d, BatchNorm2d, Linear, BatchNorm1d, ReLU, AvgPool2d, MaxPool2d, "
            "residual blocks)")


def fold_network(model: nn.Module) -> list[FloatLayer]:
    """Fold batch norm and average pooling into the affine layers; return them in order.

    Supported: Unflatten (the input's (C, H, W)), Conv2d, BatchNorm2d, Linear,
    BatchNorm1d, ReLU, AvgPool2d and MaxPool2d after a ReLU, Flatten, and residual blocks
    (`golden.graph.Residual`, folded by `golden.residual`).
    """
    folder = _Folder()
    fold_modules(folder, model, "")
    layers = folder.layers
    if not layers:
        raise ConversionError("the network has no Linear layer")
    if folder.max_pool is not None or folder.avg_pool is not None:
        raise ConversionError("the network ends in pooling; the output layer must be "
                              "a Linear or Conv2d")
    if layers[-1].relu:
        raise ConversionError(f"{layers[-1].name}: the output layer must not end in a ReLU "
                              "(the class is the argmax of its potential)")
    for layer in layers[:-1]:
        if not layer.relu:
            raise ConversionError(f"{layer.name}: hidden layer without ReLU")
    return layers


def forward(layers: list[FloatLayer], x: np.ndarray) -> list[np.ndarray]:
    """Activations of every layer (after ReLU for hidden layers) for inputs x (n, n_in)."""
    activations = []
    for index, layer in enumerate(layers):
        a = pool_input(layer, gather(layer, index, activations, x)) @ layer.weight.T + layer.bias
        activations.append(np.maximum(a, 0.0) if layer.relu else a)
    return activations


class Calibration(list):
    """Per layer, each neuron's largest activation on the calibration inputs (Eq. 2's
    max(X_l^C)); `inputs` keeps those inputs for codings that need more than the maxima."""

    def __init__(self, maxima, inputs: np.ndarray):
        super().__init__(maxima)
        self.inputs = inputs


def calibrate(layers: list[FloatLayer], x: np.ndarray) -> Calibration:
    """Each neuron's largest activation; a convolution's neurons get their channel's
    largest, so normalisation is per output channel and the kernel stays shared."""
    if x is None or len(x) == 0:
        raise ConversionError("calibration data is required for channel-wise normalisation")
    maxima = []
    for layer, activation in zip(layers, forward(layers, x)):
        peak = activation.max(axis=0)
        if layer.channel is not None:
            per_channel = np.full(layer.channel.max() + 1, -np.inf)
            np.maximum.at(per_channel, layer.channel, peak)
            peak = per_channel[layer.channel]
        maxima.append(peak)
    return Calibration(maxima, x)


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


def fold_input_contract(layers: list[FloatLayer], contract, image_shape: tuple) -> None:
    """Fold the model's input map x = (pixel/scale - mean[c]) / std[c] into the first layer,
    so that it takes pixel/256 (the binary fraction the hardware's input spikes encode):
    W' = W·256/(scale·std[c]) per input of channel c, b' = b - W·(mean/std). A padded
    convolution's border neurons see fewer inputs, so b' differs at the borders (per-neuron
    bias; the RTL engine then holds one bias per site)."""
    if contract.is_pixel_fraction:
        return
    first = layers[0]
    channels = image_shape[0] if len(image_shape) == 3 else 1
    if first.n_in != int(np.prod(image_shape)):
        raise ConversionError(f"{first.name}: takes {first.n_in} inputs, the images have "
                              f"{int(np.prod(image_shape))} pixels {tuple(image_shape)}")
    mean, std = contract.per_channel(channels)
    per_input = np.repeat(np.arange(channels), first.n_in // channels)
    offset = (mean / std)[per_input]
    shift = first.weight @ offset
    factor = (1 << 8) / (contract.scale * std)
    if first.kernel is not None:
        first.kernel = first.kernel * factor[None, :, None, None]
        first.weight = tie_to_weight(first.tie, first.kernel, first.n_out, first.n_in)
    else:
        first.weight = first.weight * factor[per_input][None, :]
    first.bias = first.bias - shift
