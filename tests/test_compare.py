"""python -m flows.compare and the bench scripts' figures that are not timings."""
import json

import numpy as np
import pytest

from bench.cycle_bound import cycles_against_bound
from bench.golden_throughput import snntorch_rate_classifier
from flows import build as build_flow
from flows import compare as compare_flow
from flows import energy
from golden.codings import REGISTRY


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "report"
    cache = tmp_path_factory.mktemp("sweep-cache")
    assert compare_flow.main(["--board", "none", "--codings", "tsc", "phase", "radix",
                              "--T", "4", "8", "20", "--Q", "1.5", "--out", str(out),
                              "--workers", "2", "--cache", str(cache)]) == 0
    return out, json.loads((out / "comparison.json").read_text())


def test_report_directory_has_tables_and_plots(comparison):
    out, data = comparison
    assert [row["coding"] for row in data["rows"]] == ["phase", "radix", "tsc"]
    table = (out / "comparison.md").read_text()
    for row in data["rows"]:
        assert f"| {row['coding']} |" in table
    for name in ("accuracy_vs_T.png", "spikes_ops_per_layer.png", "cycles_vs_accuracy.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data["energy_constants"]["fp32_mac_pJ"] == 4.6
    assert not out.with_name("report.incomplete").exists()


def test_default_rows_equal_the_individual_builds(comparison, tmp_path):
    _, data = comparison
    row = next(r for r in data["rows"] if r["coding"] == "tsc")
    assert build_flow.main(["--coding", "tsc", "--out", str(tmp_path / "tsc")]) == 0
    report = json.loads((tmp_path / "tsc" / "report.json").read_text())
    assert row["snn_golden_percent"] == report["accuracy"]["snn_golden_percent"]
    assert row["cycles_per_inference"] == report["cycles_per_inference"]["mean"]
    assert row["synaptic_adds"] == report["operations_per_inference"]["total_synaptic_adds"]


def test_sweeps_cover_T_and_Q_and_name_what_they_skip(comparison):
    _, data = comparison
    phase = {tuple(p["varied"].items()): p for p in data["sweeps"]["phase"]}
    assert set(phase) == {(("T", 4),), (("T", 8),), (("T", 20),), (("Q", 1.5),)}
    assert phase[(("Q", 1.5),)]["params"]["Q"] == 1.5
    radix = {p["varied"]["T"]: p for p in data["sweeps"]["radix"]}
    assert "T must be an integer from 2 to 16" in radix[20]["skipped"]
    assert radix[8]["params"]["T"] == 8 and "skipped" not in radix[8]


def test_energy_follows_the_stated_constants(comparison):
    _, data = comparison
    macs = 64 * 64 + 64 * 32 + 32 * 10
    for row in data["rows"]:
        e = row["energy"]
        assert e["ann_macs"] == macs
        assert e["fp32_ann_nJ"] == pytest.approx(macs * energy.E_FP32_MAC_PJ / 1000)
        assert e["fp32_efficiency_eq6"] == pytest.approx(
            macs * energy.E_FP32_MAC_PJ / (row["synaptic_adds"] * energy.E_FP32_ADD_PJ))
        assert e["snn_additions"] >= row["synaptic_adds"]


def test_cycles_stay_within_a_quarter_of_the_lower_bound():
    for coding in ("phase", "tsc"):
        assert 1.0 <= cycles_against_bound(coding, 4)["ratio"] <= 1.25


@pytest.mark.slow
@pytest.mark.parametrize("coding", sorted(REGISTRY))
@pytest.mark.parametrize("network", ["digits-cnn", "digits-cnn-maxpool", "mnist-mlp",
                                     "mnist-cnn"])
def test_every_bundled_network_within_a_quarter_of_the_lower_bound(network, coding):
    """Padding entries end early and max pooling runs beside the producer (or, for tsc,
    a word of windows per cycle): the CNNs too stay within 1.25x (`bench.cycle_bound`)."""
    assert 1.0 <= cycles_against_bound(coding, 4, network)["ratio"] <= 1.25


def test_snntorch_peer_runs_the_same_network(make_rate_network, split):
    network = make_rate_network()
    classify = snntorch_rate_classifier(network)
    pixels = split.test_pixels[:100]
    np.testing.assert_array_equal(classify(pixels), network.simulate(pixels).classes)


def test_networks_table_puts_the_cnn_next_to_the_mlp(comparison, tmp_path, monkeypatch,
                                                     capsys):
    from flows import networks
    out = tmp_path / "cnn"
    assert compare_flow.main(["--network", "digits-cnn", "--board", "none", "--codings",
                              "phase", "--T", "8", "--out", str(out), "--workers", "0",
                              "--cache", str(tmp_path / "cache")]) == 0
    cnn = json.loads((out / "comparison.json").read_text())
    assert cnn["network"] == "digits-cnn"
    table = networks.networks_table([comparison[1], cnn])
    mlp_row = next(line for line in table.splitlines() if line.startswith("| digits-mlp | phase"))
    cnn_row = next(line for line in table.splitlines() if line.startswith("| digits-cnn | phase"))
    assert f"| {cnn['rows'][0]['cycles_per_inference']:.0f} |" in cnn_row
    assert f"| {comparison[1]['rows'][0]['cycles_per_inference']:.0f} |" in mlp_row
    monkeypatch.chdir(tmp_path)                  # no reports here: a clear error
    assert networks.main(["--board", "none", "--networks", "digits-cnn"]) == 2
    assert "run python -m flows.compare --network digits-cnn --board none" in \
        capsys.readouterr().err


def test_resource_cells_give_the_arty_s_proxy_fmax():
    """An Arty row (synth_xilinx figures) shows the Fmax its ECP5 timing proxy reached."""
    from flows.tables import resources_cells
    arty = {"LUT": 3234, "FF": 2608, "BRAM36": 5, "BRAM18": 47, "DSP": 2, "fmax_mhz": 68.0}
    assert resources_cells(arty) == ("3234", "2608", "28.5 (36 Kb)", "2", "68.0 MHz (ECP5 proxy)")
    assert resources_cells({**arty, "fmax_mhz": None})[4] == "–"
