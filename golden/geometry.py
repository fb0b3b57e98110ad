"""How a layer's neurons spread over its engine: computed here, once, for the RTL
(`hdl/layer.py`), the cycle model (`golden/cycles.py`) and the ROM report.

A dense layer is the convolution case with one site and one receptive entry per input
event: its `n_out` neurons are the channels. A convolution's C_out×H_out×W_out map has
C_out channels at H_out·W_out sites; `lanes` channels of one site are computed at once.

    lanes            = min(requested lanes, channels)
    groups_per_site  = ceil(channels / lanes)          CG
    groups           = sites · CG                      state words; ops of one STEP pass
    entries          = receptive entries per event     E (dense: 1)
    address_stages   = pipeline stages between the sequencer and the memory reads
                       (dense: 2; convolution: 3; `hdl/addressing.py`)
    argmax_levels    = register levels of the output layer's argmax tree over the lanes
"""
from dataclasses import dataclass

from .conv import receptive_table

DENSE_ADDRESS_STAGES = 2   # hdl/addressing.py: event index in, registered
CONV_ADDRESS_STAGES = 3    # input-site ROM, receptive ROM, receptive word in


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

    @property
    def argmax_levels(self) -> int:
        return (self.lanes - 1).bit_length() if self.is_output else 0

    @property
    def groups_per_site(self) -> int:
        return groups_of(self.channels, self.lanes)

    @property
    def groups(self) -> int:
        return self.sites * self.groups_per_site

    @property
    def padded_lanes(self) -> int:
        """Lanes of the last group of a site that hold a neuron (the others are disabled)."""
        return self.channels - (self.groups_per_site - 1) * self.lanes


def layer_geometry(layer, lanes: int) -> LayerGeometry:
    """The geometry of `layer` on an engine with `lanes` lanes (clamped to its channels)."""
    check_lanes(lanes)
    geometry = layer.conv
    if geometry is None:
        channels, sites, entries, stages = layer.n_out, 1, 1, DENSE_ADDRESS_STAGES
    else:
        channels, sites = geometry.out_shape[0], geometry.out_shape[1] * geometry.out_shape[2]
        entries = max(1, max(len(row) for row in receptive_table(geometry)))
        stages = CONV_ADDRESS_STAGES
    return LayerGeometry(channels, sites, min(lanes, channels), entries, stages,
                         layer.schedule.is_output)


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
