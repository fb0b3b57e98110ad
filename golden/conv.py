"""Convolution and pooling as the golden model sees them: exact dense maps on flat vectors.

Neurons of a (C, H, W) feature map are numbered `c·H·W + y·W + x`, the order of
`torch.flatten`. A convolution becomes a dense weight whose entries are kernel entries
(the "tie": `weight.flat = tie @ kernel.flat`, a sparse 0/1 matrix for a plain
convolution), so every coding's golden model runs it unchanged and bit for bit, and the
converter can check that quantisation kept the weights shared. Average pooling is linear:
it folds into the next layer's weights (and into its tie). Max pooling is a gather,
`pool_index` (n_pooled, window), applied to the previous layer's outputs; each coding
defines what the maximum of spike trains is (`golden.codings.base.max_pool_spikes`).
"""
import functools
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse

Shape = tuple[int, int, int]       # (channels, height, width)


def pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    return (size + 2 * padding - kernel) // stride + 1


@dataclass(frozen=True)
class ConvGeometry:
    """One convolution on a (C, H, W) map; `pooled_input` names average pooling folded in."""
    in_shape: Shape
    out_shape: Shape
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    pooled_input: str = ""

    def describe(self) -> str:
        c, h, w = self.in_shape
        o, ho, wo = self.out_shape
        text = (f"conv {self.kernel[0]}x{self.kernel[1]} stride {self.stride[0]},"
                f"{self.stride[1]} padding {self.padding[0]},{self.padding[1]}: "
                f"{c}x{h}x{w} -> {o}x{ho}x{wo}")
        return text + (f" ({self.pooled_input} folded in before it)" if self.pooled_input else "")


def pooled_convolution(geometry: ConvGeometry, windows) -> ConvGeometry | None:
    """One p×q average pool (stride = window) then `geometry` is one convolution on the
    unpooled map: kernel (p·kh, q·kw), stride (p·sh, q·sw), padding (p·ph, q·pw), when the
    pool tiles the map exactly; else None."""
    if len(windows) != 1:
        return None
    (p, q), (c, height, width) = windows[0]
    if height % p or width % q:
        return None
    return ConvGeometry((c, height, width), geometry.out_shape,
                        (p * geometry.kernel[0], q * geometry.kernel[1]),
                        (p * geometry.stride[0], q * geometry.stride[1]),
                        (p * geometry.padding[0], q * geometry.padding[1]),
                        geometry.pooled_input)


def geometry_to_json(geometry: ConvGeometry | None):
    return None if geometry is None else asdict(geometry)


def geometry_from_json(data) -> ConvGeometry | None:
    return None if data is None else ConvGeometry(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def extract_kernel(weight: np.ndarray, geometry: ConvGeometry) -> np.ndarray:
    """The integer kernel (out, in, kh, kw) of a dense (n_out, n_in) weight that is the
    convolution `geometry`; ValueError if the weight is not exactly that convolution."""
    out_channels = geometry.out_shape[0]
    tie, out_shape = conv_tie(geometry.in_shape, out_channels, geometry.kernel,
                              geometry.stride, geometry.padding)
    coo = tie.tocoo()
    values = weight.ravel()[coo.row]
    kernel = np.zeros(tie.shape[1], dtype=np.int64)
    kernel[coo.col] = values
    rebuilt = np.zeros(weight.size, dtype=np.int64)
    rebuilt[coo.row] = kernel[coo.col]
    if out_shape != geometry.out_shape or not np.array_equal(rebuilt, weight.ravel()):
        raise ValueError(f"the weight is not the convolution {geometry.describe()}")
    c_in = geometry.in_shape[0]
    return kernel.reshape(out_channels, c_in, *geometry.kernel)


def conv_tie(in_shape: Shape, out_channels: int, kernel, stride, padding):
    """(tie (n_out·n_in, kernel size) sparse, out shape): weight.flat = tie @ kernel.flat,
    kernel laid out (out_channels, in_channels, kh, kw) as in `torch.nn.Conv2d`."""
    c_in, height, width = in_shape
    (kh, kw), (sh, sw), (ph, pw) = pair(kernel), pair(stride), pair(padding)
    ho, wo = output_size(height, kh, sh, ph), output_size(width, kw, sw, pw)
    o, y, x, c, dy, dx = np.meshgrid(np.arange(out_channels), np.arange(ho), np.arange(wo),
                                     np.arange(c_in), np.arange(kh), np.arange(kw),
                                     indexing="ij")
    iy, ix = y * sh - ph + dy, x * sw - pw + dx
    inside = (iy >= 0) & (iy < height) & (ix >= 0) & (ix < width)
    n_in = c_in * height * width
    out_index = (o * ho + y) * wo + x
    in_index = (c * height + iy) * width + ix
    kernel_index = ((o * c_in + c) * kh + dy) * kw + dx
    rows = (out_index * n_in + in_index)[inside]
    tie = sparse.csr_matrix((np.ones(rows.size), (rows, kernel_index[inside])),
                            shape=(out_channels * ho * wo * n_in, out_channels * c_in * kh * kw))
    return tie, (out_channels, ho, wo)


def tie_to_weight(tie, kernel: np.ndarray, n_out: int, n_in: int) -> np.ndarray:
    return np.asarray(tie @ kernel.ravel()).reshape(n_out, n_in)


def fold_linear_into_tie(tie, pending: np.ndarray, n_out: int):
    """The tie of `W @ pending` given W's tie: row o·n_p + p of W becomes row o·n_i + i."""
    return (sparse.kron(sparse.identity(n_out, format="csr"), sparse.csr_matrix(pending.T))
            @ tie).tocsr()


def avg_pool_matrix(in_shape: Shape, kernel, stride) -> tuple[np.ndarray, Shape]:
    """(P (n_out, n_in), out shape): mean over each window, no padding."""
    c, height, width = in_shape
    kh, kw = pair(kernel)
    index, out_shape = max_pool_index(in_shape, kernel, stride)
    matrix = np.zeros((index.shape[0], c * height * width))
    np.put_along_axis(matrix, index, 1.0 / (kh * kw), axis=1)
    return matrix, out_shape


def max_pool_index(in_shape: Shape, kernel, stride) -> tuple[np.ndarray, Shape]:
    """(index (n_out, kh·kw) into the flat input, out shape): each output's window."""
    c, height, width = in_shape
    (kh, kw), (sh, sw) = pair(kernel), pair(stride)
    ho, wo = output_size(height, kh, sh, 0), output_size(width, kw, sw, 0)
    ch, y, x, dy, dx = np.meshgrid(np.arange(c), np.arange(ho), np.arange(wo),
                                   np.arange(kh), np.arange(kw), indexing="ij")
    index = (ch * height + y * sh + dy) * width + x * sw + dx
    return index.reshape(c * ho * wo, kh * kw), (c, ho, wo)


def check_shared(weight: np.ndarray, tie) -> bool:
    """True when every kernel entry became one value wherever it is used. (Average pools
    do not overlap, so each kernel entry enters the weight with one coefficient.)"""
    coo = tie.tocoo()
    values = weight.ravel()[coo.row]
    low = np.full(tie.shape[1], np.inf)
    high = np.full(tie.shape[1], -np.inf)
    np.minimum.at(low, coo.col, values)
    np.maximum.at(high, coo.col, values)
    return bool((low[coo.col] == high[coo.col]).all())


@functools.lru_cache(maxsize=16)
def receptive_table(geometry: ConvGeometry) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Per input position q = y·W + x: the (output position, kernel offset dy·kw + dx) pairs
    an input spike there updates, in kernel order. The convolution engine walks this list
    (padded to its longest length) for every input event. (Built once per geometry.)"""
    _, height, width = geometry.in_shape
    positions = height * width
    # The connections of one input channel to one output channel: row = p·positions + q.
    tie, _ = conv_tie((1, height, width), 1, geometry.kernel, geometry.stride,
                      geometry.padding)
    coo = tie.tocoo()
    sites, inputs = np.divmod(coo.row, positions)
    table = [[] for _ in range(positions)]
    for q, site, offset in sorted(zip(inputs.tolist(), sites.tolist(), coo.col.tolist()),
                                  key=lambda entry: (entry[0], entry[2])):
        table[q].append((site, offset))
    return tuple(tuple(row) for row in table)


@dataclass(frozen=True)
class ReceptiveClasses:
    """The receptive table as rows relative to an anchor: position q updates output
    position anchors[q] + Δ for each (Δ, k) of rows[row_of[q]]. Inner positions share one
    row (per stride phase), so a large map needs few rows; the anchor is the output
    position of the row's first entry (0 for an empty row)."""
    anchors: tuple[int, ...]
    row_of: tuple[int, ...]
    rows: tuple[tuple[tuple[int, int], ...], ...]


@functools.lru_cache(maxsize=16)
def receptive_classes(geometry: ConvGeometry) -> ReceptiveClasses:
    anchors, row_of, rows = [], [], {}
    for row in receptive_table(geometry):
        anchor = row[0][0] if row else 0
        relative = tuple((site - anchor, offset) for site, offset in row)
        anchors.append(anchor)
        row_of.append(rows.setdefault(relative, len(rows)))
    return ReceptiveClasses(tuple(anchors), tuple(row_of), tuple(rows))
