"""How a layer's neurons spread over its engine: computed here, once, for the RTL
(`hdl/layer.py`), the cycle model (`golden/cycles.py`) and the ROM report.

A dense layer is the convolution case with one site and one receptive entry per input
event: its `n_out` neurons are the channels. A convolution's C_out×H_out×W_out map has
C_out channels at H_out·W_out sites; `lanes` channels of one site are computed at once.

    lanes            = min(requested lanes, channels)
    groups_per_site  = ceil(channels / lanes)          CG
    groups           = sites · CG                      state words; ops of one STEP pass
    entries          = receptive entries per event     E (dense: 1): the longest row of
                       the receptive table; shorter rows (padding, borders) end early
    event_ops        = ADD ops of one input event at position q with L = len(row q):
                       E·CG for a full row; a short row costs L·CG + 2 (the sequencer
                       learns L two stages after it started the event, `hdl/addressing.py`,
                       and drops the rest of the row; the two ops already issued are
                       bubbles) when L·CG ≥ 3 (the op two before the last real one raises
                       the flag) and that saves a cycle; never more than E·CG
    address_stages   = pipeline stages between the sequencer and the memory reads
                       (dense: 2, 3 with a row map; convolution: 5; `hdl/addressing.py`)
    row_map          = dense: the weight table keeps each distinct row once and a map ROM
                       (input → row) picks it: average pooling folded into a dense layer
                       repeats every row once per window member
    compact_receptive = convolution: the receptive table keeps one row per class of input
                       positions, relative to each position's anchor (`ReceptiveClasses`)
    Both only where the full table has COMPACT_TABLE_WORDS words or more and the compact
    one has at most half the rows: smaller tables sit in logic or a block RAM or two, and
    keep the engine they had.
    argmax_levels    = register levels of the output layer's argmax tree over the lanes
"""
from dataclasses import dataclass

import numpy as np

from .conv import receptive_classes, receptive_table

DENSE_ADDRESS_STAGES = 2   # hdl/addressing.py: event index in, registered
CONV_ADDRESS_STAGES = 5    # index in, site ROM, receptive address, receptive ROM, word in
EARLY_END_BUBBLES = 2      # ops issued behind an event's last real op before it ends early
EARLY_END_LEAD = 2         # the op this many before the last real one raises the flag
ROW_MAP_STAGES = 1         # the row map ROM's read, between the event index and the weight row
COMPACT_TABLE_WORDS = 4096


def groups_of(n: int, lanes: int) -> int:
    return -(-n // lanes)


def check_lanes(lanes, what: str = "--lanes") -> int:
    """A lane count is a positive integer; anything else is named in the error."""
    if isinstance(lanes, bool) or not isinstance(lanes, int) or lanes < 1:
        raise ValueError(f"{what}: a lane count must be a positive integer, not {lanes!r}")
    return lanes


@dataclass(frozen=True)
class LayerGeometry:
    channels: int
    sites: int
    lanes: int
    entries: int
    address_stages: int
    is_output: bool
    row_lengths: tuple = (1,)    # receptive entries per input position (dense: one position)
    row_map: bool = False
    compact_receptive: bool = False

    @property
    def argmax_levels(self) -> int:
        return (self.lanes - 1).bit_length() if self.is_output else 0

    @property
    def groups_per_site(self) -> int:
        return groups_of(self.channels, self.lanes)

    @property
    def groups(self) -> int:
        return self.sites * self.groups_per_site

    def ends_early(self, length: int) -> bool:
        """Whether an event with a receptive row of `length` entries skips the rest of its
        row: enough real ops for the one that raises the flag (registered, EARLY_END_LEAD
        before the last) and at least two padding ops after them."""
        groups = self.groups_per_site
        return (length * groups > EARLY_END_LEAD
                and (self.entries - length) * groups >= EARLY_END_BUBBLES)

    def event_ops(self, length: int) -> int:
        """ADD ops of one input event whose receptive row has `length` entries."""
        if self.ends_early(length):
            return length * self.groups_per_site + EARLY_END_BUBBLES
        return self.entries * self.groups_per_site

    def ops_per_input(self, n_in: int) -> np.ndarray:
        """ADD ops of one event of each input neuron (neuron i sits at position
        i mod positions)."""
        per_position = np.array([self.event_ops(length) for length in self.row_lengths])
        return np.resize(per_position, n_in)

    @property
    def padded_lanes(self) -> int:
        """Lanes of the last group of a site that hold a neuron (the others are disabled)."""
        return self.channels - (self.groups_per_site - 1) * self.lanes


def layer_geometry(layer, lanes: int) -> LayerGeometry:
    """The geometry of `layer` on an engine with `lanes` lanes (clamped to its channels)."""
    check_lanes(lanes)
    geometry, row_map, compact = layer.conv, False, False
    if geometry is None:
        channels, sites, entries, stages = layer.n_out, 1, 1, DENSE_ADDRESS_STAGES
        row_lengths = (1,)
        if layer.n_in * groups_of(channels, min(lanes, channels)) >= COMPACT_TABLE_WORDS:
            row_map = 2 * len(distinct_rows(layer.weight)[0]) <= layer.n_in
        stages += ROW_MAP_STAGES * row_map
    else:
        channels, sites = geometry.out_shape[0], geometry.out_shape[1] * geometry.out_shape[2]
        row_lengths = tuple(len(row) for row in receptive_table(geometry))
        entries = max(1, max(row_lengths))
        stages = CONV_ADDRESS_STAGES
        if len(row_lengths) * entries >= COMPACT_TABLE_WORDS:
            compact = 2 * len(receptive_classes(geometry).rows) <= len(row_lengths)
    return LayerGeometry(channels, sites, min(lanes, channels), entries, stages,
                         layer.schedule.is_output, row_lengths, row_map, compact)


def distinct_rows(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct rows of `weight` in order of first use, each row's index among them)."""
    _, first, inverse = np.unique(weight, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)                  # distinct row k ↦ its place in first-use order
    place = np.empty_like(order)
    place[order] = np.arange(len(order))
    return weight[np.sort(first)], place[inverse.ravel()]


def lanes_per_layer(network, lanes) -> list[int]:
    """`lanes`: one count for every layer, or a list with one count per layer."""
    count = len(network.layers)
    if isinstance(lanes, (list, tuple)):
        if len(lanes) != count:
            raise ValueError(f"--lanes: {len(lanes)} lane counts given for a network of "
                             f"{count} layers; give one value or {count}")
        return [check_lanes(value, f"--lanes (layer {index + 1})")
                for index, value in enumerate(lanes)]
    return [check_lanes(lanes)] * count
