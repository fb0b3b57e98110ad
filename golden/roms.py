"""Pack a layer's integer tables into memory words; write them as `$readmemh` files.

The same packed words are the `init=` of the RTL memories, so the Verilog is self-contained
and the `.hex` files serve ASIC flows that load memories separately. A word holds `lanes`
values, lane 0 in the least significant bits; neuron j sits in group j // lanes, lane
j % lanes. Weight ROM address = input index · groups + group.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .geometry import groups_of


def pack(values, width: int) -> int:
    """Two's complement values, lane 0 lowest, into one integer word."""
    mask = (1 << width) - 1
    word = 0
    for lane, value in enumerate(values):
        value = int(value)
        if not -(1 << (width - 1)) <= value < (1 << width):
            raise ValueError(f"value {value} does not fit {width} bits")
        word |= (value & mask) << (lane * width)
    return word


def lane_rows(vector: np.ndarray, lanes: int) -> np.ndarray:
    """(n,) → (groups, lanes), padded with zeros."""
    groups = groups_of(len(vector), lanes)
    padded = np.zeros(groups * lanes, dtype=np.int64)
    padded[:len(vector)] = vector
    return padded.reshape(groups, lanes)


@dataclass(frozen=True)
class Rom:
    name: str
    width: int            # bits per word
    words: list[int]

    def write_hex(self, directory: Path) -> Path:
        path = Path(directory) / f"{self.name}.hex"
        digits = max(1, -(-self.width // 4))
        path.write_text("".join(f"{w:0{digits}x}\n" for w in self.words))
        return path


def weight_rom(name: str, weight: np.ndarray, width: int, lanes: int) -> Rom:
    """weight[i][j] → word at i·groups + g holding neurons g·lanes .. g·lanes+lanes-1."""
    words = [pack(row, width) for i in range(weight.shape[0])
             for row in lane_rows(weight[i], lanes)]
    return Rom(name, width * lanes, words)


def vector_rom(name: str, vector: np.ndarray, width: int, lanes: int) -> Rom:
    return Rom(name, width * lanes, [pack(row, width) for row in lane_rows(vector, lanes)])


def table_rom(name: str, table: list[int], width: int) -> Rom:
    return Rom(name, width, [pack([t], width) for t in table])
