"""Rate coding: snn_top against golden in Amaranth simulation and on Verilator."""
import pytest

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden


@pytest.mark.parametrize("lanes, params", [(4, {"T": 8}), (3, {"T": 5, "half_init": True})])
def test_snn_top_equals_golden_in_amaranth_sim(make_rate_network, split, lanes, params):
    amaranth_vs_golden(make_rate_network(**params), split.test_pixels[:2], lanes)


def test_snn_top_equals_golden_on_verilator(make_rate_network, split, tmp_path):
    rtl_vs_golden(make_rate_network(), split.test_pixels[:40], 4, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 4])
def test_snn_top_whole_test_split_on_verilator(make_rate_network, split, lanes, tmp_path):
    rtl_vs_golden(make_rate_network(), split.test_pixels, lanes, tmp_path)
