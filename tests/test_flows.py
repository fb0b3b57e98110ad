"""python -m flows.build / flows.simulate as a user runs them."""
import json
import re

import numpy as np
import pytest

from boards.targets import StepError, TARGETS
from flows import build as build_flow
from flows import simulate as simulate_flow
from golden.codings.phase import FixedQ, PhaseParams, eq5_mape
from flows.common import convert_bundled, load_network, rate_text
from flows.outputs import MARKER
from hdl.export import build_top


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("builds") / "phase-small"
    assert build_flow.main(["--T", "10", "--wait", "4", "--lanes", "2", "--out", str(out)]) == 0
    return out


def test_build_writes_a_complete_directory(small_build, split):
    report = json.loads((small_build / "report.json").read_text())
    assert report["params"]["T"] == 10 and report["lanes"] == 2
    assert set(report) >= {"accuracy", "spikes_per_inference", "operations_per_inference",
                           "cycles_per_inference", "resources", "network"}
    assert report["accuracy"]["test_images"] == len(split.test_labels)
    assert report["cycles_per_inference"]["mean"] > 0
    assert "module snn_top(" in (small_build / "snn_top.v").read_text()
    assert not (small_build.with_name(small_build.name + ".incomplete")).exists()


def test_rom_files_hold_the_memory_init_words(small_build):
    _, _, network = convert_bundled("phase", PhaseParams(T=10, wait=4))
    top = build_top(network, 2)
    for rom in top.roms():
        lines = (small_build / "roms" / f"{rom.name}.hex").read_text().split()
        assert [int(line, 16) for line in lines] == rom.words


def test_build_report_matches_golden_accuracy(small_build, split):
    report = json.loads((small_build / "report.json").read_text())
    _, _, network = convert_bundled("phase", PhaseParams(T=10, wait=4))
    accuracy = (network.simulate(split.test_pixels).classes == split.test_labels).mean()
    assert report["accuracy"]["snn_golden_percent"] == round(100 * accuracy, 3)


def test_simulate_prints_one_class_per_line(small_build, split, tmp_path, capsys):
    images = split.test_pixels[:7].reshape(7, 8, 8)
    np.save(tmp_path / "images.npy", images)
    assert simulate_flow.main([str(small_build), "--images", str(tmp_path / "images.npy")]) == 0
    printed = [int(line) for line in capsys.readouterr().out.split()]
    _, _, network = convert_bundled("phase", PhaseParams(T=10, wait=4))
    assert printed == network.simulate(split.test_pixels[:7]).classes.tolist()


def assert_simulate_rtl_equals_golden(build_dir, images, tmp_path, capsys):
    """flows.simulate prints the same class per image with and without --rtl."""
    np.save(tmp_path / "images.npy", images)
    capsys.readouterr()
    assert simulate_flow.main([str(build_dir), "--images", str(tmp_path / "images.npy")]) == 0
    golden = capsys.readouterr().out
    assert simulate_flow.main([str(build_dir), "--images", str(tmp_path / "images.npy"),
                               "--rtl"]) == 0
    assert capsys.readouterr().out == golden and len(golden.split()) == len(images)


def test_simulate_rtl_equals_golden(small_build, split, tmp_path, capsys):
    assert_simulate_rtl_equals_golden(small_build, split.test_pixels[:3], tmp_path, capsys)
    # the simulator's files went to a scratch directory, not into the build
    assert not (small_build / "rtl_sim").exists()


def test_simulate_rtl_keeps_the_simulator_only_when_asked_and_reports_accuracy(
        small_build, split, tmp_path, capsys):
    np.save(tmp_path / "images.npy", split.test_pixels[:3])
    np.save(tmp_path / "labels.npy", split.test_labels[:3])
    build = tmp_path / "build"
    import shutil
    shutil.copytree(small_build, build)
    assert simulate_flow.main([str(build), "--images", str(tmp_path / "images.npy"), "--rtl",
                               "--keep-sim", "--labels", str(tmp_path / "labels.npy")]) == 0
    err = capsys.readouterr().err
    assert "RTL equals the golden model on all 3 images" in err
    assert re.search(r"accuracy \d+\.\d\d % \(\d of 3\)", err)
    assert (build / "rtl_sim").is_dir()


def test_simulate_rtl_fails_on_a_mismatch_naming_the_images(small_build, split, tmp_path,
                                                            capsys):
    """A build whose Verilog is not the network's (another T): every image mismatches in
    cycles, and flows.simulate says so with exit status 1."""
    other = tmp_path / "other"
    assert build_flow.main(["--T", "8", "--wait", "4", "--lanes", "2", "--out", str(other)]) == 0
    import shutil
    mixed = tmp_path / "mixed"
    shutil.copytree(small_build, mixed)
    shutil.copy(other / "snn_top.v", mixed / "snn_top.v")
    np.save(tmp_path / "images.npy", split.test_pixels[:2])
    capsys.readouterr()
    assert simulate_flow.main([str(mixed), "--images", str(tmp_path / "images.npy"),
                               "--rtl"]) == 1
    assert "RTL differs from the golden model" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (b"", "is empty (0 bytes)"),
    (b"0 1 2 3\n4 5 6 7\n", "does not start with the .npy header"),
])
def test_simulate_rejects_files_that_are_not_npy(small_build, tmp_path, capsys, content,
                                                 message):
    (tmp_path / "images.npy").write_bytes(content)
    assert simulate_flow.main([str(small_build), "--images", str(tmp_path / "images.npy")]) == 2
    err = capsys.readouterr().err
    assert message in err and "pickled" not in err and "Traceback" not in err


def test_simulate_rejects_bad_labels(small_build, split, tmp_path, capsys):
    np.save(tmp_path / "images.npy", split.test_pixels[:4])
    np.save(tmp_path / "labels.npy", split.test_labels[:3])
    assert simulate_flow.main([str(small_build), "--images", str(tmp_path / "images.npy"),
                               "--labels", str(tmp_path / "labels.npy")]) == 2
    assert "holds 3 labels for 4 images" in capsys.readouterr().err


def test_a_truncated_network_json_is_a_clear_error(small_build, split, tmp_path, capsys):
    import shutil
    build = tmp_path / "build"
    shutil.copytree(small_build, build)
    text = (build / "network.json").read_text()
    (build / "network.json").write_text(text[:len(text) // 2])
    np.save(tmp_path / "images.npy", split.test_pixels[:2])
    assert simulate_flow.main([str(build), "--images", str(tmp_path / "images.npy")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err


def test_out_naming_an_existing_file_fails_before_the_build(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("not a directory")
    assert build_flow.main(["--golden-only", "--out", str(out)]) == 2
    assert "is an existing file, not a directory" in capsys.readouterr().err
    assert out.read_text() == "not a directory"
    assert not out.with_name("taken.incomplete").exists()


def test_lanes_beyond_a_layer_are_reported_as_used(tmp_path, capsys):
    out = tmp_path / "wide"
    assert build_flow.main(["--lanes", "1000", "--T", "4", "--wait", "2", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["lanes"] == 1000 and report["lanes_per_layer"] == [64, 32, 10]
    assert "1000 requested, per layer [64, 32, 10]" in capsys.readouterr().out


def test_lanes_per_layer_and_every_coding_parameter_reach_the_build(tmp_path, capsys):
    """--lanes L1,L2,L3 sets each layer's engine (the report gives each layer's lanes and
    cycles); coding parameters without a hand-written option come from the dataclass."""
    out = tmp_path / "per-layer"
    assert build_flow.main(["--lanes", "8,2,1", "--T", "6", "--wait", "2", "--guard-bits", "3",
                            "--q-frac-bits", "6", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["lanes"] == [8, 2, 1] and report["lanes_per_layer"] == [8, 2, 1]
    assert report["params"]["guard_bits"] == 3 and report["params"]["q_frac_bits"] == 6
    assert len(report["cycles_per_inference"]["per_layer_mean"]) == 3
    uniform = tmp_path / "uniform"
    assert build_flow.main(["--lanes", "2", "--T", "6", "--wait", "2", "--guard-bits", "3",
                            "--q-frac-bits", "6", "--out", str(uniform)]) == 0
    cycles = json.loads((uniform / "report.json").read_text())["cycles_per_inference"]
    # more lanes in layer 1, fewer in layer 3: its cycles fall and rise accordingly
    assert report["cycles_per_inference"]["per_layer_mean"][0] < cycles["per_layer_mean"][0]
    assert report["cycles_per_inference"]["per_layer_mean"][2] > cycles["per_layer_mean"][2]


def test_lanes_auto_balances_the_layers_within_the_default_lanes(tmp_path, capsys):
    """--lanes auto: as many lanes in all as 4 on every layer, spread so that the slowest
    layer gets the most; the latency beats the uniform 4 lanes of the same cores."""
    out = tmp_path / "auto"
    assert build_flow.main(["--lanes", "auto", "--T", "6", "--wait", "2", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    lanes = report["lanes_per_layer"]
    assert report["lanes"] == "auto" and sum(lanes) <= 3 * 4 and lanes[0] > lanes[2]
    assert "auto requested, per layer" in capsys.readouterr().out
    uniform = tmp_path / "uniform"
    assert build_flow.main(["--T", "6", "--wait", "2", "--out", str(uniform)]) == 0
    cycles = json.loads((uniform / "report.json").read_text())["cycles_per_inference"]
    assert report["cycles_per_inference"]["mean"] < cycles["mean"]


def test_balanced_lanes_gives_only_lanes_that_save_a_group(split):
    from flows.design import convert
    from golden.cycles import balanced_lanes
    from golden.geometry import layer_geometry
    design = convert("digits-mlp", coding="rate")
    result = design.network.simulate(split.train_pixels[:20])
    with pytest.raises(ValueError, match="less than one per layer"):
        balanced_lanes(design.network, result, 2)
    lanes = balanced_lanes(design.network, result, 1000)
    # every layer gets its full width and no lane more
    assert lanes == [layer_geometry(layer, 1).channels for layer in design.network.layers]
    lanes = balanced_lanes(design.network, result, 9)
    assert sum(lanes) <= 9 and max(lanes) > 1
    for layer, count in zip(design.network.layers, lanes):
        if count > 1:
            assert (layer_geometry(layer, count).groups_per_site
                    < layer_geometry(layer, count - 1).groups_per_site)


@pytest.mark.parametrize("array, message", [
    (np.zeros((2, 64), dtype=np.float64), "must be uint8"),
    (np.zeros((2, 65), dtype=np.uint8), "shape must be"),
])
def test_simulate_rejects_malformed_images(small_build, tmp_path, capsys, array, message):
    np.save(tmp_path / "bad.npy", array)
    assert simulate_flow.main([str(small_build), "--images", str(tmp_path / "bad.npy")]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_simulate_rejects_a_missing_or_unfinished_build(tmp_path, capsys):
    np.save(tmp_path / "images.npy", np.zeros((1, 64), dtype=np.uint8))
    assert simulate_flow.main([str(tmp_path), "--images", str(tmp_path / "images.npy")]) == 2
    assert "not a finished build directory" in capsys.readouterr().err


@pytest.mark.parametrize("option, message", [
    (["--Q", "2.5"], r"Q must lie in \(1, 2\]"),
    (["--coding", "radix", "--wait", "3"], "--wait does not apply to the radix coding"),
    (["--coding", "radix", "--T", "20"], "radix: T must be an integer from 2 to 16"),
    (["--T", "1"], "T must be an integer"),
    (["--lanes", "0"], "--lanes: a lane count must be a positive integer, not 0"),
    (["--lanes", "4,4"], "--lanes: 2 lane counts given for a network of 3 layers; give one "
                         "value or 3"),
    (["--lanes", "4,0,2"], r"--lanes \(layer 2\): a lane count must be a positive integer"),
    (["--coding", "radix", "--guard-bits", "2"], "--guard-bits does not apply to the radix"),
    (["--coding", "tsc", "--alpha", "1.2"], r"tsc: alpha must lie in \(0, 1\]"),
    (["--coding", "tsc", "--runs", "-1"], "tsc: runs must be an integer from 0 to 512"),
    (["--coding", "phase", "--runs", "2"], "--runs does not apply to the phase coding"),
    (["--alpha", "0.5"], "--alpha does not apply to the phase coding"),
    (["--coding", "rate", "--Q", "auto"], "--Q does not apply to the rate coding"),
    (["--clock-mhz", "200", "--board", "arty"], "--clock-mhz and --inline-roms are options "
                                                 "of --board asic, not --board arty"),
    (["--clock-mhz", "0", "--board", "asic"], "--clock-mhz must be a positive frequency"),
])
def test_bad_build_parameters_fail_before_anything_is_built(tmp_path, capsys, option, message):
    out = tmp_path / "never"
    assert build_flow.main(option + ["--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists() and not out.with_name("never.incomplete").exists()


@pytest.mark.parametrize("value", ["fast", "1.2.3", ""])
def test_q_that_is_neither_a_number_nor_auto_is_a_clear_error(tmp_path, capsys, value):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as stopped:
        build_flow.main(["--Q", value, "--golden-only", "--out", str(out)])
    assert stopped.value.code == 2
    assert f"argument --Q: expected a number or auto, not {value!r}" in capsys.readouterr().err
    assert not out.exists() and not out.with_name("never.incomplete").exists()


def test_build_with_q_auto_reports_the_chosen_base_and_its_eq5_error(tmp_path):
    out = tmp_path / "auto"
    assert build_flow.main(["--Q", "auto", "--T", "24", "--golden-only", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["Q"] == 1.2 and report["params"]["Q_auto"] is True
    assert report["network"]["Q_fixed"]["value"] == float(FixedQ.from_float(1.2, 8).value)
    assert report["network"]["eq5_mape"] == eq5_mape(FixedQ.from_float(1.2, 8).value, 24)
    assert load_network(out).params == PhaseParams(T=24, Q=1.2, Q_auto=True)


def test_failed_step_leaves_earlier_build_intact(small_build, tmp_path, monkeypatch, capsys):
    out = tmp_path / "kept"
    out.mkdir()
    (out / MARKER).write_text("")          # an earlier build: the toolkit wrote it
    (out / "report.json").write_text("{}")

    def broken(*args, **kwargs):
        raise StepError("iCE40 synthesis / place and route / icepack failed (exit 1)")
    monkeypatch.setattr(TARGETS["icebreaker"], "build", broken)
    assert build_flow.main(["--board", "icebreaker", "--out", str(out)]) == 1
    assert "place and route" in capsys.readouterr().err
    assert (out / "report.json").read_text() == "{}"
    failed = out.with_name("kept.incomplete")
    assert "StepError" in (failed / "FAILED.txt").read_text()
    assert not (failed / "report.json").exists()


def assert_arty_fits(resources):
    for kind in ("LUT", "FF", "DSP"):
        assert 0 <= resources[kind] <= resources["capacity"][kind]
    assert resources["LUT"] > 100
    assert resources["BRAM36"] + resources["BRAM18"] / 2 <= resources["capacity"]["BRAM36"]


def test_arty_build_below_a_100_mhz_proxy_runs_from_an_mmcm(tmp_path, monkeypatch):
    """The Arty's clock follows its timing proxy (the ECP5 place-and-route, faked here at
    87.3 MHz; the real one runs in the slow test below): an MMCM clock no faster than the
    proxy, in the Vivado plan's Verilog and in the report."""
    from boards.targets import ULX3S

    def proxy(self, top, directory, progress):
        return {"fmax_mhz": 87.3}
    monkeypatch.setattr(ULX3S, "place_and_route", proxy)
    out = tmp_path / "arty"
    assert build_flow.main(["--board", "arty", "--out", str(out)]) == 0
    resources = json.loads((out / "report.json").read_text())["resources"]
    assert_arty_fits(resources)
    assert resources["timing_proxy"]["fmax_mhz"] == resources["fmax_mhz"] == 87.3
    assert 80 < resources["clock_mhz"] <= 87.3
    assert resources["clock_source"].startswith("MMCME2_BASE")
    verilog = (out / "arty" / "snn_board.v").read_text()
    assert "MMCME2_BASE" in verilog and "BUFG" in verilog
    assert "CLKOUT0_DIVIDE_F" in verilog
    assert (out / "arty" / "build_snn_board.sh").exists()
    assert (out / "arty" / "snn_board.xdc").exists()


def test_mmcm_settings_give_the_fastest_clock_not_above_the_limit():
    from boards.clocking import PFD_MHZ, VCO_MHZ, mmcm_settings
    for limit in (31.2, 50.0, 80.0, 87.3, 99.7):
        settings = mmcm_settings(100.0, limit)
        assert settings.output_mhz <= limit
        assert VCO_MHZ[0] <= settings.vco_mhz <= VCO_MHZ[1]
        assert PFD_MHZ[0] <= 100.0 / settings.divide_input <= PFD_MHZ[1]
    assert mmcm_settings(100.0, 80.0).output_mhz == 80.0
    assert mmcm_settings(100.0, 99.7).output_mhz > 98
    with pytest.raises(ValueError, match="no MMCM clock"):
        mmcm_settings(100.0, 1.0)


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["phase", "radix", "deferred", "rate", "tsc"])
def test_arty_build_fits_and_runs_at_its_proxy_clock(tmp_path, coding):
    out = tmp_path / "arty"
    assert build_flow.main(["--coding", coding, "--board", "arty", "--out", str(out)]) == 0
    resources = json.loads((out / "report.json").read_text())["resources"]
    assert_arty_fits(resources)
    fmax = resources["timing_proxy"]["fmax_mhz"]
    if fmax >= 100:
        assert resources["clock_mhz"] == 100.0
    else:
        assert resources["clock_mhz"] <= fmax
    assert ("MMCME2_BASE" in (out / "arty" / "snn_board.v").read_text()) == (fmax < 100)
    assert (out / "arty" / "build_snn_board.sh").exists()


@pytest.mark.parametrize("coding", [
    "phase", pytest.param("radix", marks=pytest.mark.slow),
    pytest.param("deferred", marks=pytest.mark.slow),
    pytest.param("rate", marks=pytest.mark.slow),
    pytest.param("tsc", marks=pytest.mark.slow)])
def test_icebreaker_bitstream_fits_and_meets_the_board_clock(tmp_path, coding, monkeypatch,
                                                             capsys):
    out = tmp_path / "icebreaker"
    assert build_flow.main(["--coding", coding, "--board", "icebreaker", "--out", str(out)]) == 0
    resources = json.loads((out / "report.json").read_text())["resources"]
    for cell, use in resources["utilisation"].items():
        assert use["used"] <= use["available"], cell
    assert resources["fmax_mhz"] >= resources["clock_mhz"] == 12.0
    assert (out / "icebreaker" / "snn_board.bin").stat().st_size > 100_000
    # paths relative to the build directory: the build can be moved
    assert resources["bitstream"] == "icebreaker/snn_board.bin"
    assert str(tmp_path) not in json.dumps(resources)
    assert_no_machine_paths(out)
    host_program_runs_the_build(out, tmp_path, monkeypatch, capsys)


def host_program_runs_the_build(out, tmp_path, monkeypatch, capsys):
    """flows.board on the build: the board top on Verilator (--port sim) answers the golden
    classes; --program calls the installed programmer with the build's bitstream, or says
    what to install."""
    from flows import board as board_flow
    from golden.data import load_digits_split
    split = load_digits_split()
    images, labels = tmp_path / "images.npy", tmp_path / "labels.npy"
    np.save(images, split.test_pixels[:3])
    np.save(labels, split.test_labels[:3])
    capsys.readouterr()
    assert board_flow.main([str(out), "--port", "sim", "--images", str(images),
                            "--labels", str(labels)]) == 0
    printed = capsys.readouterr()
    golden = load_network(out).simulate(split.test_pixels[:3].reshape(3, -1)).classes
    assert [int(c) for c in printed.out.split()] == golden.tolist()
    assert "the board equals the golden model on all 3 images" in printed.err
    assert re.search(r"3 images in [\d.]+ s: ([\d.]+ s per image|[\d.,]+ images/s)",
                     printed.err)
    assert "accuracy" in printed.err

    programmers = tmp_path / "bin"
    programmers.mkdir()
    monkeypatch.setenv("PATH", str(programmers))
    args = [str(out), "--program", "--port", "/dev/no-such-tty", "--images", str(images)]
    assert board_flow.main(args) == 2
    assert "no programmer found for icebreaker" in capsys.readouterr().err
    (programmers / "iceprog").write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/iceprog.args\n")
    (programmers / "iceprog").chmod(0o755)
    monkeypatch.setattr(board_flow.time, "sleep", lambda seconds: None)
    assert board_flow.main(args) == 2           # programmed; then the port is not there
    assert (tmp_path / "iceprog.args").read_text().strip() == \
        str(out / "icebreaker" / "snn_board.bin")
    assert "--port /dev/no-such-tty: cannot open it" in capsys.readouterr().err


def assert_no_machine_paths(out):
    """No generated design file names a path of the build machine (source attributes are
    relative to the repository or to the package they come from)."""
    from hdl.export import REPOSITORY
    checked = 0
    for path in out.rglob("*"):
        if path.suffix in (".v", ".il", ".json") and path.is_file():
            text = path.read_text(errors="replace")
            assert str(REPOSITORY) not in text and "site-packages/" not in text, path
            checked += 1
    assert checked >= 3


@pytest.mark.slow
@pytest.mark.parametrize("coding", ["phase", "radix", "deferred", "rate", "tsc"])
def test_ulx3s_bitstream_meets_the_board_clock(tmp_path, coding):
    """The ECP5-85F build (nextpnr-ecp5, ecppack) of every coding: a bitstream, Fmax a
    number at or above the board's 25 MHz (the figures against the 100 MHz goal:
    bench.fmax), and the block-RAM estimate equal to what nextpnr placed."""
    out = tmp_path / "ulx3s"
    assert build_flow.main(["--coding", coding, "--board", "ulx3s", "--out", str(out)]) == 0
    resources = json.loads((out / "report.json").read_text())["resources"]
    assert resources["fmax_mhz"] >= resources["clock_mhz"] == 25.0
    assert resources["block_ram_estimate"]["needed"] == resources["utilisation"]["DP16KD"]["used"]
    assert (out / "ulx3s" / "snn_board.bit").stat().st_size > 100_000
    assert resources["bitstream"] == "ulx3s/snn_board.bit"


@pytest.mark.parametrize("coding", ["radix", "deferred"])
def test_build_equals_its_quantised_ann(tmp_path, split, capsys, coding):
    out = tmp_path / coding
    assert build_flow.main(["--coding", coding, "--out", str(out)]) == 0
    accuracy = json.loads((out / "report.json").read_text())["accuracy"]
    assert accuracy["snn_vs_quantised_ann_class_mismatches"] == 0
    assert accuracy["snn_vs_quantised_ann_spike_mismatches"] == 0
    assert abs(accuracy["snn_golden_percent"] - accuracy["ann_float_percent"]) <= 1.0
    assert_simulate_rtl_equals_golden(out, split.test_pixels[:5], tmp_path, capsys)


def test_rate_build_reports_accuracy_against_T_and_the_k_curve(tmp_path):
    out = tmp_path / "rate"
    assert build_flow.main(["--coding", "rate", "--norm", "max", "--T", "8", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["norm"] == "max"
    sweep = report["accuracy_against_T"]
    assert sweep["8"] == report["accuracy"]["snn_golden_percent"]
    assert len(report["k_curve"]) == 2
    for curve in report["k_curve"]:
        assert set(curve["K"]) == {"1", "2", "4", "8"}


def test_tsc_build_reports_spike_rate_and_accuracy_against_N(tmp_path, split, capsys):
    out = tmp_path / "tsc"
    assert build_flow.main(["--coding", "tsc", "--T", "8", "--alpha", "0.25",
                            "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["params"]["alpha"] == 0.25 and report["params"]["T"] == 8
    assert report["accuracy_against_T"]["8"] == report["accuracy"]["snn_golden_percent"]
    hidden = report["spikes_per_inference"]["per_layer"][:-1]
    neurons = sum(l["neurons"] for l in hidden)
    assert report["spike_rate_percent"] == pytest.approx(
        100 * sum(l["spikes"] for l in hidden) / (neurons * 8), abs=1e-3)
    runs = report["runs"]          # the default: at most three runs per neuron
    assert report["params"]["runs"] == runs["cap"] == 3
    assert runs["max_spikes_per_neuron_allowed"] == 6
    assert 2 < runs["max_spikes_per_neuron_measured"] <= 6
    same = runs["against_runs_same_thresholds"]
    assert set(same) == {"0", "1", "2", "3"}
    assert same["3"]["accuracy_percent"] == report["accuracy"]["snn_golden_percent"]
    assert same["3"]["spikes_per_neuron"] == pytest.approx(
        sum(l["spikes"] for l in hidden) / neurons, abs=1e-4)
    assert same["1"]["spikes_per_neuron"] < same["3"]["spikes_per_neuron"]
    assert runs["against_N_same_thresholds"]["8"] == same["3"]
    assert "two spikes" not in json.dumps(report)
    assert_simulate_rtl_equals_golden(out, split.test_pixels[:5], tmp_path, capsys)


def test_tsc_build_with_one_run_per_neuron(tmp_path, capsys):
    out = tmp_path / "tsc-one-run"
    assert build_flow.main(["--coding", "tsc", "--runs", "1", "--golden-only",
                            "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["runs"]["cap"] == 1 and report["runs"]["max_spikes_per_neuron_allowed"] == 2
    assert report["runs"]["max_spikes_per_neuron_measured"] <= 2
    assert "cap 1 (at most 1 on-run(s) per neuron)" in capsys.readouterr().out


def test_max_pooling_build_names_its_rule(tmp_path, capsys):
    out = tmp_path / "tsc-maxpool"
    assert build_flow.main(["--network", "digits-cnn-maxpool", "--coding", "tsc",
                            "--golden-only", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["max_pooling_rule"].startswith("the running maximum of the time spent on")
    assert "an extension" in report["max_pooling_rule"]


def test_a_slow_rate_is_said_in_seconds_per_image():
    """A few images through a simulated board: "1.1 s per image", never "0.0 images/s"."""
    assert rate_text(3, 3.21) == "1.1 s per image"
    assert rate_text(120, 2.0) == "60.0 images/s"
    assert rate_text(1, 0.5) == "2.0 images/s"
