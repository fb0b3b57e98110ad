"""Phase coding: snn_top against golden in Amaranth simulation and on Verilator."""
import pytest

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden

CI_IMAGES = 40


@pytest.mark.parametrize("lanes, T, wait", [(4, 16, 8), (1, 6, 0), (3, 10, 12), (64, 12, 4),
                                          ([8, 3, 16], 8, 2)])  # lanes per layer
def test_snn_top_equals_golden_in_amaranth_sim(make_phase_network, split, lanes, T, wait):
    amaranth_vs_golden(make_phase_network(T=T, wait=wait), split.test_pixels[:3], lanes)


def test_snn_top_equals_golden_on_verilator(phase_network, split, tmp_path):
    rtl_vs_golden(phase_network, split.test_pixels[:CI_IMAGES], 4, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("lanes", [1, 4, 16])
def test_snn_top_whole_test_split_on_verilator(phase_network, split, lanes, tmp_path):
    rtl_vs_golden(phase_network, split.test_pixels, lanes, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("T, Q, wait", [(8, 1.5, 4), (24, 1.2, 16), (12, 2.0, 0)])
def test_snn_top_other_parameters_on_verilator(make_phase_network, split, T, Q, wait, tmp_path):
    rtl_vs_golden(make_phase_network(T=T, Q=Q, wait=wait), split.test_pixels[:100], 3, tmp_path)
