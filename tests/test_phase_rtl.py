"""RTL against golden: Amaranth simulation (fast) and cocotb on Verilator."""

import numpy as np
import pytest
from amaranth.back import verilog

import hdl.cores.phase as phase_core
from golden.cycles import inference_cycles
from hdl.export import snn_top_verilog
from sim.harness import NeuronHarness
from sim.runner import run_cocotb, run_snn_top

from .rtl_helpers import amaranth_run, expected_spikes, random_core_case, write_case

CI_IMAGES = 40


@pytest.mark.parametrize("lanes, T, wait", [(4, 16, 8), (1, 6, 0), (3, 10, 12), (64, 12, 4)])
def test_snn_top_equals_golden_in_amaranth_sim(make_phase_network, split, lanes, T, wait):
    network = make_phase_network(T=T, wait=wait)
    images = split.test_pixels[:3]
    golden = network.simulate(images)
    classes, latency, spikes = amaranth_run(network, images, lanes)
    np.testing.assert_array_equal(classes, golden.classes)
    np.testing.assert_array_equal(latency, inference_cycles(network, golden, lanes)["latency"])
    for events, counts in zip(spikes, golden.layers[:-1]):
        assert events == expected_spikes(counts.spike_train)


def core_check(seed, tmp_path):
    layer, case = random_core_case(seed)
    harness = NeuronHarness(phase_core, layer.neuron_params)
    source = tmp_path / "phase_core_harness.v"
    source.write_text(verilog.convert(harness, name="phase_core_harness"))
    write_case(case, tmp_path / "case.json")
    run_cocotb(source, "phase_core_harness", "sim.tb_phase_core", tmp_path / "sim",
               {"SNN_CORE_CASE": str(tmp_path / "case.json")})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_phase_core_equals_golden_neuron_on_verilator(seed, tmp_path):
    core_check(seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4, 24))
def test_phase_core_random_parameters_full(seed, tmp_path):
    core_check(seed, tmp_path)


def rtl_vs_golden(network, images, lanes, tmp_path):
    source = tmp_path / "snn_top.v"
    source.write_text(snn_top_verilog(network, lanes)[0])
    rtl = run_snn_top(source, images, tmp_path / "sim")
    golden = network.simulate(images)
    mismatched = np.flatnonzero(rtl["classes"] != golden.classes)
    assert mismatched.size == 0, f"class mismatches at images {mismatched.tolist()}"
    cycles = inference_cycles(network, golden, lanes)["latency"]
    mismatched = np.flatnonzero(rtl["latency"] != cycles)
    assert mismatched.size == 0, f"cycle mismatches at images {mismatched.tolist()}"


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
