"""Generated Verilog passes Verilator's lint for every coding and awkward lane counts
(one lane; lanes that do not divide the layer; more lanes than neurons)."""
import pytest

from golden.codings import REGISTRY
from hdl.export import snn_top_verilog
from sim.runner import lint

SMALL = {"phase": {"T": 4, "wait": 1}, "radix": {"T": 3}, "deferred": {"T": 2},
         "rate": {"T": 4}, "tsc": {"T": 4}}


def test_every_coding_is_linted():
    assert set(SMALL) == set(REGISTRY)


@pytest.mark.parametrize("coding", sorted(SMALL))
@pytest.mark.parametrize("lanes", [1, 3, 64])
def test_snn_top_verilog_lints_clean(make_network, coding, lanes, tmp_path):
    source = tmp_path / "snn_top.v"
    source.write_text(snn_top_verilog(make_network(coding, **SMALL[coding]), lanes)[0])
    lint(source, "snn_top")


@pytest.mark.parametrize("coding", ["phase", "tsc"])
def test_lean_memory_plan_lints_clean(make_network, coding, tmp_path):
    """One input bank and one state RAM for all layers (the iCEBreaker's plan)."""
    source = tmp_path / "snn_top.v"
    source.write_text(snn_top_verilog(make_network(coding, **SMALL[coding]), 1,
                                      input_banks=1, shared_state=True)[0])
    lint(source, "snn_top")
