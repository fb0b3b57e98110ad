"""Every registered core against its golden neuron, op by op, on Verilator."""
import json

import pytest
from amaranth.back import verilog

from golden.codings import REGISTRY, get_coding
from sim.core_cases import CASES
from sim.harness import NeuronHarness
from sim.runner import run_cocotb


def test_every_coding_has_a_core_case():
    assert set(CASES) == set(REGISTRY)


def core_check(coding, seed, tmp_path):
    params, case = CASES[coding](seed)
    harness = NeuronHarness(get_coding(coding).core, params)
    source = tmp_path / "core_harness.v"
    source.write_text(verilog.convert(harness, name="core_harness"))
    (tmp_path / "case.json").write_text(json.dumps(case))
    run_cocotb(source, "core_harness", "sim.tb_core", tmp_path / "sim",
               {"SNN_CORE_CASE": str(tmp_path / "case.json")})


@pytest.mark.parametrize("coding", sorted(CASES))
@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow),
                                  pytest.param(3, marks=pytest.mark.slow)])
def test_core_equals_golden_neuron_on_verilator(coding, seed, tmp_path):
    core_check(coding, seed, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("coding", sorted(CASES))
@pytest.mark.parametrize("seed", range(3, 23))
def test_core_random_parameters_full(coding, seed, tmp_path):
    core_check(coding, seed, tmp_path)
