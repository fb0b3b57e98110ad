"""Networks as graphs: which outputs a layer takes as its input.

A chain layer takes the layer before it (the first one, the image). A residual merge
(`y = relu(F(x) + S(x))`, docs/codings.md §7) is one layer whose input is the
concatenation of two sources: the outputs of the last hidden layer of the branch F, and
the block's input x, through the shortcut S folded into the merge's weights. So every
coding runs a merge as it runs any layer, on the concatenated inputs, each with its own
weights: the merge neuron receives both branches' spikes. A strided 1x1 shortcut reads
only every s-th row and column of x; `Source.select` lists the neurons it reads, so the
concatenated input is again a map the merge can convolve (`golden.convert`).

`Residual` is the block as a PyTorch module: the bundled residual network is built from
it, and the front ends turn a traced `+` or an ONNX `Add` into it.
"""
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True, eq=False)
class Source:
    layer: int                          # index of the layer whose outputs are read; -1: the image
    select: np.ndarray | None = None    # the neurons read, in order (None: all)

    def to_json(self) -> dict:
        return {"layer": self.layer,
                "select": None if self.select is None else self.select.tolist()}

    @staticmethod
    def from_json(data: dict) -> "Source":
        select = data.get("select")
        return Source(data["layer"], None if select is None else np.array(select, dtype=np.int64))


class Residual(nn.Module):
    """y = relu(branch(x) + shortcut(x)); `shortcut` None is the identity.

    `branch`: convolutions (or Linear layers) with batch norm and ReLU between them, the
    last one without ReLU; `shortcut`: the identity or one 1x1 convolution (or Linear) with
    batch norm."""

    def __init__(self, branch: nn.Module, shortcut: nn.Module | None = None):
        super().__init__()
        self.branch = branch
        self.shortcut = nn.Identity() if shortcut is None else shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.branch(x) + self.shortcut(x))


def sources(layer, index: int) -> tuple[Source, ...]:
    """The sources of layer number `index` (from 0): its own, or the layer before it."""
    own = getattr(layer, "sources", None)
    return tuple(own) if own else (Source(index - 1),)


def is_merge(layer) -> bool:
    return len(getattr(layer, "sources", None) or ()) > 1


def gather(layer, index: int, outputs: list, network_input):
    """The layer's input before pooling: its sources' values (the last axis indexes the
    neurons), concatenated. `outputs[k]`: layer k's values; works on NumPy arrays and
    torch tensors (activations, codes, per-neuron scales)."""
    parts = []
    for source in sources(layer, index):
        value = network_input if source.layer < 0 else outputs[source.layer]
        if source.select is not None:
            value = value[..., (torch.from_numpy(source.select)
                                if isinstance(value, torch.Tensor) else source.select)]
        parts.append(value)
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts, dim=-1)
    return np.concatenate(parts, axis=-1)


def gather_spikes(layer, index: int, trains: list, input_spikes: list) -> list[np.ndarray]:
    """The same for spikes: per phase, (batch, n_in) int64. `trains[k]`: layer k's spikes
    (batch, phases, n_k); `input_spikes`: the image's, per phase. Phase k of every source
    is concatenated (both sources of a merge emit the same phases: the hidden layers' T)."""
    parts = []
    for source in sources(layer, index):
        if source.layer < 0:
            train = input_spikes
        else:
            emitted = trains[source.layer]
            train = [emitted[:, t].astype(np.int64) for t in range(emitted.shape[1])]
        if source.select is not None:
            train = [spikes[:, source.select] for spikes in train]
        parts.append(train)
    if len(parts) == 1:
        return parts[0]
    phases = {len(train) for train in parts}
    assert len(phases) == 1, f"{layer.name}: its sources emit {sorted(phases)} phases"
    return [np.concatenate([train[t] for train in parts], axis=1) for t in range(len(parts[0]))]


def check_sources(layers) -> None:
    """Sources come before the layer that reads them, and a merge does not pool."""
    for index, layer in enumerate(layers):
        for source in sources(layer, index):
            assert -1 <= source.layer < index, f"{layer.name}: source {source.layer}"
        if is_merge(layer):
            assert layer.input_pool is None, f"{layer.name}: a merge with max pooling"


def sources_to_json(layer):
    own = getattr(layer, "sources", None)
    return None if not own else [source.to_json() for source in own]


def sources_from_json(data) -> tuple[Source, ...] | None:
    return None if not data else tuple(Source.from_json(entry) for entry in data)
