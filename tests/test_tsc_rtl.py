"""TSC coding: snn_top against golden in Amaranth simulation and on Verilator (signed
spikes: every spike's sign is compared too), for the default cap on runs (3), the paper's
text (1), no cap and 2; the core against the
golden neuron on random multi-run stimuli for every kind of cap."""
import pytest

from sim.core_cases import tsc_case

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden
from .test_cores_rtl import core_check


@pytest.mark.parametrize("lanes, params", [(4, {"T": 8}), (3, {"T": 5, "alpha": 0.2}),
                                           (4, {"T": 8, "runs": 1}), (2, {"T": 6, "runs": 2}),
                                           (4, {"T": 8, "runs": 0})])
def test_snn_top_equals_golden_in_amaranth_sim(make_tsc_network, split, lanes, params):
    amaranth_vs_golden(make_tsc_network(**params), split.test_pixels[:2], lanes)


@pytest.mark.parametrize("runs", [3, 1])        # the default cap, and the paper's text
def test_snn_top_equals_golden_on_verilator(make_tsc_network, split, tmp_path, runs):
    rtl_vs_golden(make_tsc_network(runs=runs), split.test_pixels[:40], 4, tmp_path)


# Seeds whose random case has a cap of 1 (the §4 text) and of 2 runs; the generic core
# test (test_cores_rtl.py) covers the uncapped neuron and a cap of 3 with seeds 1-3.
@pytest.mark.parametrize("seed, runs", [(10, 1), (6, 2)])
def test_core_with_capped_runs_equals_golden_neuron_on_verilator(seed, runs, tmp_path):
    assert tsc_case(seed)[0].runs == runs
    core_check("tsc", seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("runs", [3, 1, 0])
@pytest.mark.parametrize("lanes", [1, 4])
def test_snn_top_whole_test_split_on_verilator(make_tsc_network, split, lanes, runs, tmp_path):
    rtl_vs_golden(make_tsc_network(runs=runs), split.test_pixels, lanes, tmp_path)
