"""Verilog of `snn_top` for a converted network.

Generated files carry no path of the build machine: the source attributes Amaranth writes
(`src = "…/hdl/layer.py:192"`, which Yosys and nextpnr report back) name files relative to
this repository, or to the Python package they come from (`amaranth/…`).
"""
import re
from pathlib import Path

from amaranth.back import verilog

from golden.codings import get_coding

from .network import SnnTop

REPOSITORY = Path(__file__).resolve().parent.parent
SOURCE_PATH = re.compile(r"(/[^\s\"|:]+)(?=:\d)")    # an absolute path before :line


def relative_sources(text: str) -> str:
    """`text` (Verilog, RTLIL) with every absolute source path in it made relative."""
    def shorten(match: re.Match) -> str:
        path = match.group(1)
        if "/site-packages/" in path:
            return path.split("/site-packages/", 1)[1]
        if path.startswith(f"{REPOSITORY}/"):
            return path[len(str(REPOSITORY)) + 1:]
        return Path(path).name
    return SOURCE_PATH.sub(shorten, text)


def relative_plan(plan):
    """A board build plan (`amaranth.build.BuildPlan`) with its design files' source
    paths made relative (before it is extracted)."""
    for name, content in plan.files.items():
        if isinstance(content, str) and name.endswith((".il", ".v")):
            plan.files[name] = relative_sources(content)
    return plan


def build_top(network, lanes: int, spram_layers=(), input_banks: int = 2,
              shared_state: bool = False, event_parts=None) -> SnnTop:
    return SnnTop(network, get_coding(network.coding).core, lanes=lanes,
                  spram_layers=spram_layers, input_banks=input_banks, shared_state=shared_state,
                  event_parts=event_parts)


def top_verilog(top: SnnTop) -> str:
    return relative_sources(verilog.convert(top, name="snn_top"))


def snn_top_verilog(network, lanes: int, spram_layers=(), **memory_plan) -> tuple[str, SnnTop]:
    """`memory_plan`: `SnnTop`'s input_banks, shared_state, event_parts."""
    top = build_top(network, lanes, spram_layers, **memory_plan)
    return top_verilog(top), top
