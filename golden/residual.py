"""Folding a residual block `y = relu(F(x) + S(x))` (`golden.graph.Residual`) into layers.

The branch F folds like any chain of layers. Its last layer has no ReLU, and neither has
the shortcut S (the identity, or one 1x1 convolution or Linear layer with batch norm):
both are linear, so their sum is one layer, the merge, reading two sources (docs/codings.md
§7): the last hidden layer of F through F's last weights, and the block's input x through
S's weights (the identity: an identity matrix). Normalisation then treats the merge as
any layer: each input column is scaled by its own source's scale.

When F ends in a "same" convolution (stride 1, odd kernel, padding kernel // 2) and S is
the identity or a 1x1 convolution onto the same map size, the merge is itself one
convolution: over the channels of F's last hidden map followed by those of x (read at
S's stride, `Source.select`), with S's 1x1 kernel at the centre tap of the shortcut
channels. The convolution engine then runs it as it runs any convolution. Otherwise the
merge is dense (its weights unrolled).
"""
import numpy as np
from torch import nn

from .conv import ConvGeometry, conv_tie, tie_to_weight
from .convert import ConversionError, FloatLayer, _Folder, fold_modules
from .graph import Residual, Source


def fold_residual(folder: _Folder, block: Residual, where: str, position: str) -> None:
    """Fold `block` (module `where`, at `position`) onto the layers in `folder`."""
    if not folder.layers or not folder.layers[-1].relu:
        raise ConversionError(f"{where}: a residual block must follow a hidden layer's ReLU "
                              "(its input cannot be the image)")
    if folder.max_pool is not None or folder.avg_pool is not None:
        raise ConversionError(f"{where}: pooling right before a residual block is not "
                              "supported; pool after the block or inside its branch")
    if any(isinstance(inner, Residual) for inner in block.branch.modules()):
        raise ConversionError(f"{where}: a residual block inside a residual branch is not "
                              "supported")
    x_index, x_shape, x_size = len(folder.layers) - 1, folder.shape, folder.size
    fold_modules(folder, block.branch, f"{position}.branch.")
    branch = folder.layers[x_index + 1:]
    if len(branch) < 2:
        raise ConversionError(f"{where}: the residual branch needs two or more Linear or "
                              "Conv2d layers, with a ReLU between them")
    last = branch[-1]
    if last.relu or folder.max_pool is not None or folder.avg_pool is not None:
        raise ConversionError(f"{where}: the residual branch must end in a Linear or Conv2d "
                              "(with its batch norm), without ReLU or pooling: the block's "
                              "ReLU follows the sum")
    if last.input_pool is not None or last.avg_windows:
        raise ConversionError(f"{where}: pooling before the branch's last layer is not "
                              "supported (the sum needs equal maps)")
    shortcut = _shortcut(block.shortcut, x_shape, x_size, where, position)
    out_shape = last.geometry.out_shape if last.geometry is not None else None
    if shortcut is None:
        if x_size != last.n_out or (out_shape is not None and x_shape != out_shape):
            raise ConversionError(
                f"{where}: the identity shortcut needs the block's input to have the "
                f"branch's output shape {out_shape or last.n_out}, not {x_shape or x_size}; "
                "use a 1x1 Conv2d (or Linear) shortcut")
    elif shortcut.n_out != last.n_out or (
            out_shape is not None and shortcut.geometry is not None
            and shortcut.geometry.out_shape != out_shape):
        shape = shortcut.geometry.out_shape if shortcut.geometry else shortcut.n_out
        raise ConversionError(f"{where}: the shortcut gives {shape}, the branch "
                              f"{out_shape or last.n_out}: the sum needs equal shapes")
    kind = "identity" if shortcut is None else shortcut.name
    merge = (_conv_merge(last, shortcut, x_shape)
             or _dense_merge(last, shortcut, x_size))
    merge.name = f"{last.name[:-1]} + {kind} shortcut)"
    merge.relu = True
    # F's last hidden layer, then x (at the shortcut's stride for a convolution merge)
    merge.sources = (Source(x_index + len(branch) - 1), Source(x_index, merge.sources[1].select))
    folder.layers[-1] = merge


def _shortcut(module: nn.Module, x_shape, x_size, where: str, position: str):
    """The shortcut folded into one float layer without ReLU; None for the identity."""
    if isinstance(module, nn.Identity) or (isinstance(module, nn.Sequential) and not len(module)):
        return None
    scratch = _Folder()
    scratch.shape, scratch.size = x_shape, x_size
    # a ReLU on x stands in front, so that the shortcut's layer may follow it
    scratch.layers.append(FloatLayer("the block's input", np.zeros((x_size or 1, 1)),
                                     np.zeros(x_size or 1), relu=True))
    fold_modules(scratch, module, f"{position}.shortcut.")
    layers = scratch.layers[1:]
    if (len(layers) != 1 or layers[0].relu or scratch.max_pool is not None
            or scratch.avg_pool is not None):
        raise ConversionError(f"{where}: the shortcut must be the identity or one Conv2d "
                              "(or Linear) with its batch norm, without ReLU")
    layer = layers[0]
    layer.name = layer.name.split("(", 1)[1][:-1]       # "Conv2d at position 3.shortcut.0"
    return layer


def _conv_merge(last: FloatLayer, shortcut: FloatLayer | None, x_shape) -> FloatLayer | None:
    """The merge as one convolution over F's last hidden channels and x's, if it is one."""
    geometry = last.geometry
    if geometry is None or x_shape is None:
        return None
    (kh, kw), out_shape = geometry.kernel, geometry.out_shape
    if (geometry.stride != (1, 1) or kh % 2 == 0 or kw % 2 == 0
            or geometry.padding != (kh // 2, kw // 2)):
        return None
    if shortcut is None:
        stride, centre = (1, 1), np.eye(out_shape[0])
    else:
        short = shortcut.geometry
        if short is None or short.kernel != (1, 1) or short.padding != (0, 0):
            return None
        stride, centre = short.stride, shortcut.kernel[:, :, 0, 0]
    channels_x, height, width = x_shape
    c, y, x = np.meshgrid(np.arange(channels_x), np.arange(out_shape[1]),
                          np.arange(out_shape[2]), indexing="ij")
    select = ((c * height + y * stride[0]) * width + x * stride[1]).ravel()
    channels_h = geometry.in_shape[0]
    in_shape = (channels_h + channels_x, *out_shape[1:])
    kernel = np.zeros((out_shape[0], in_shape[0], kh, kw))
    kernel[:, :channels_h] = last.kernel
    kernel[:, channels_h:, kh // 2, kw // 2] = centre
    tie, _ = conv_tie(in_shape, out_shape[0], (kh, kw), (1, 1), geometry.padding)
    n_out, n_in = last.n_out, int(np.prod(in_shape))
    merged = ConvGeometry(in_shape, out_shape, (kh, kw), (1, 1), geometry.padding)
    bias = last.bias + (0.0 if shortcut is None else shortcut.bias)
    macs = last.ann_macs + (0 if shortcut is None else shortcut.ann_macs)
    return FloatLayer(last.name, tie_to_weight(tie, kernel, n_out, n_in), bias, relu=True,
                      kernel=kernel, tie=tie, channel=last.channel, geometry=merged,
                      conv=merged, ann_macs=macs,
                      sources=(Source(-1), Source(-1, select)))


def _dense_merge(last: FloatLayer, shortcut: FloatLayer | None, x_size: int) -> FloatLayer:
    """The merge with its weights unrolled: [W_F | W_S] over (F's last hidden, x)."""
    short_weight = np.eye(x_size) if shortcut is None else shortcut.weight
    bias = last.bias + (0.0 if shortcut is None else shortcut.bias)
    macs = last.ann_macs + (0 if shortcut is None else shortcut.ann_macs)
    return FloatLayer(last.name, np.hstack([last.weight, short_weight]), bias, relu=True,
                      channel=last.channel, ann_macs=macs, sources=(Source(-1), Source(-1)))
