"""Residual networks on the RTL (hdl/shortcut.py: the merge's second event source): random
residual networks in every coding equal golden in Amaranth simulation (classes, cycles,
every spike), and digits-resnet on Verilator (a sample here, the whole test split in the
full regression)."""
import pytest

from flows.design import convert
from golden.codings import REGISTRY
from golden.convert import fold_network
from golden.graph import is_merge
from hdl.export import snn_top_verilog
from sim.runner import lint

from .rtl_helpers import amaranth_vs_golden, rtl_vs_golden
from .test_residual import convert_small, random_resnet

CODINGS = sorted(REGISTRY)
# (seed, shortcut kinds): the strided 1x1 shortcut (a table renumbers its neurons), the
# plain 1x1, the identity, and a 3x3 shortcut (the merge is then dense, not a convolution)
CI_CASES = {"phase": (1, ["identity", "1x1 stride 2"]), "radix": (2, ["1x1", "identity"]),
            "rate": (3, ["3x3"]), "tsc": (4, ["identity", "1x1 stride 2"]),
            "deferred": (5, ["1x1"])}


def random_residual_network(coding: str, seed: int, kinds, split):
    network = convert_small(coding, fold_network(random_resnet(seed, kinds)), split)
    result = network.simulate(split.test_pixels[:2])
    assert all(counts.output_spikes.sum() > 0 for counts in result.layers[:-1]), \
        "a layer is silent: the comparison would be vacuous"
    return network


@pytest.mark.parametrize("coding", CODINGS)
def test_random_residual_networks_equal_golden_in_amaranth_sim(coding, split):
    seed, kinds = CI_CASES[coding]
    network = random_residual_network(coding, seed, kinds, split)
    assert sum(is_merge(l) for l in network.layers) == len(kinds)
    amaranth_vs_golden(network, split.test_pixels[:2],
                       lanes=[1 + (seed + index) % 3 for index in range(len(network.layers))])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15, 17])   # all layers spike
@pytest.mark.parametrize("coding", CODINGS)
def test_more_random_residual_networks_in_amaranth_sim(coding, seed, split):
    network = random_residual_network(coding, seed, None, split)
    amaranth_vs_golden(network, split.test_pixels[:2],
                       lanes=[1 + (seed + index) % 4 for index in range(len(network.layers))])


@pytest.fixture(scope="module")
def resnet_design():
    cache = {}

    def make(coding):
        if coding not in cache:
            cache[coding] = convert("digits-resnet", coding=coding)
        return cache[coding]
    return make


def test_digits_resnet_equals_golden_on_verilator(resnet_design, split, tmp_path):
    rtl_vs_golden(resnet_design("phase").network, split.test_pixels[:6], 4, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("coding", CODINGS)
def test_digits_resnet_whole_test_split_on_verilator(coding, resnet_design, split, tmp_path):
    rtl_vs_golden(resnet_design(coding).network, split.test_pixels, 4, tmp_path)


def test_digits_resnet_verilog_lints_clean(resnet_design, tmp_path):
    verilog, _ = snn_top_verilog(resnet_design("radix").network, 4)
    source = tmp_path / "snn_top.v"
    source.write_text(verilog)
    lint(source, "snn_top")
    # both merges' shortcut buffers; layer 5's strided shortcut renumbers through a table
    for module in ("layer3_shortcut_spikes", "layer3_concat", "layer5_shortcut_spikes",
                   "layer5_concat", "layer5_shortcut"):
        assert f"module \\snn_top.{module} " in verilog, module
