"""Verilog of `snn_top` for a converted network."""
from amaranth.back import verilog

from golden.codings import get_coding

from .network import SnnTop


def build_top(network, lanes: int) -> SnnTop:
    return SnnTop(network, get_coding(network.coding).core, lanes=lanes)


def top_verilog(top: SnnTop) -> str:
    return verilog.convert(top, name="snn_top")


def snn_top_verilog(network, lanes: int) -> tuple[str, SnnTop]:
    top = build_top(network, lanes)
    return top_verilog(top), top
