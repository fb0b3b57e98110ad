"""TSC coding: snn_top against golden in Amaranth simulation and on Verilator (signed
spikes: every spike's sign is compared too)."""
import pytest

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden


@pytest.mark.parametrize("lanes, params", [(4, {"T": 8}), (3, {"T": 5, "alpha": 0.2})])
def test_snn_top_equals_golden_in_amaranth_sim(make_tsc_network, split, lanes, params):
    amaranth_vs_golden(make_tsc_network(**params), split.test_pixels[:2], lanes)


def test_snn_top_equals_golden_on_verilator(make_tsc_network, split, tmp_path):
    rtl_vs_golden(make_tsc_network(), split.test_pixels[:40], 4, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 4])
def test_snn_top_whole_test_split_on_verilator(make_tsc_network, split, lanes, tmp_path):
    rtl_vs_golden(make_tsc_network(), split.test_pixels, lanes, tmp_path)
