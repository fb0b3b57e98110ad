"""Deferred coding: snn_top against golden in Amaranth simulation and on Verilator."""
import pytest

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden


# 16 lanes: two channel groups in layer 2 and several spikes per group, so ops on the
# same state word follow each other around pipeline stalls
@pytest.mark.parametrize("lanes, T", [(4, 4), (5, 2), (16, 4)])
def test_snn_top_equals_golden_in_amaranth_sim(make_deferred_network, split, lanes, T):
    amaranth_vs_golden(make_deferred_network(T=T), split.test_pixels[:3], lanes)


def test_snn_top_equals_golden_on_verilator(make_deferred_network, split, tmp_path):
    rtl_vs_golden(make_deferred_network(T=4), split.test_pixels[:40], 4, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 4])
def test_snn_top_whole_test_split_on_verilator(make_deferred_network, split, lanes, tmp_path):
    rtl_vs_golden(make_deferred_network(T=4), split.test_pixels, lanes, tmp_path)
