"""python -m flows.sweep: spec checks, Dask cluster against one-by-one, the cache, a worker
killed mid-sweep, a failing point, the results table and the Pareto plots."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from flows import sweep as sweep_flow
from flows.pareto import pareto_front
from flows.sweep import load_spec, run_points, spec_from_dict

SPECS = Path(__file__).resolve().parents[1] / "sweeps"

# 3 codings × 2 T × 2 lane counts; radix's own grid adds T = 20, which radix refuses.
SMALL = {"network": "digits-mlp", "codings": ["phase", "tsc", "radix"], "run": "golden",
         "lanes": [1, 4], "grid": {"T": [4, 8], "radix": {"T": [4, 20]}}}


def rows_by_point(outcomes):
    """What a point computed, without how (status) or how long (seconds)."""
    return {json.dumps(o["point"], sort_keys=True): o.get("row", o.get("error"))
            for o in outcomes}


@pytest.fixture(scope="module")
def one_by_one(tmp_path_factory):
    points = spec_from_dict(SMALL).points()
    return run_points(points, cache_dir=tmp_path_factory.mktemp("cache-seq"), workers=0,
                      progress=False)


def test_acceptance_spec_has_forty_points():
    spec = load_spec(SPECS / "digits-mlp.toml")
    points = spec.points()
    assert len(points) == 40 == len({json.dumps(p, sort_keys=True) for p in points})
    assert {p["coding"] for p in points} == {"rate", "phase", "radix", "tsc", "deferred"}
    assert {p["lanes"] for p in points} == {1, 4}


def test_local_cluster_gives_the_rows_of_one_by_one_and_records_failures(one_by_one, tmp_path):
    points = spec_from_dict(SMALL).points()
    assert len(points) == 12
    on_cluster = run_points(points, cache_dir=tmp_path, workers=2, progress=False)
    assert rows_by_point(on_cluster) == rows_by_point(one_by_one)
    failed = [o for o in on_cluster if "error" in o]
    assert [(o["point"]["coding"], o["point"]["params"]) for o in failed] == \
        [("radix", {"T": 20})] * 2
    assert "T must be an integer from 2 to 16" in failed[0]["error"]
    assert all(o["status"] == "computed" for o in on_cluster if "row" in o)


def test_rerun_is_all_cached_and_a_deleted_entry_is_recomputed(one_by_one, tmp_path):
    points = spec_from_dict(SMALL).points()
    cache = tmp_path / "cache"
    run_points(points, cache_dir=cache, workers=0, progress=False)
    again = run_points(points, cache_dir=cache, workers=0, progress=False)
    assert {o["status"] for o in again} == {"cached"}
    assert rows_by_point(again) == rows_by_point(one_by_one)
    victim = again[5]["key"]
    (cache / f"{victim}.json").unlink()
    third = run_points(points, cache_dir=cache, workers=0, progress=False)
    assert [o["key"] for o in third if o["status"] != "cached"] == [victim]
    assert rows_by_point(third) == rows_by_point(one_by_one)


def test_a_worker_killed_mid_sweep_loses_no_finished_result(one_by_one, tmp_path):
    from dask.distributed import Client, LocalCluster
    points = spec_from_dict(SMALL).points()
    cache = tmp_path / "cache"
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:0")
    killed = {}

    def kill_a_worker_after_the_first_result():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not (cache.exists() and any(cache.glob("*.json"))):
            time.sleep(0.05)
        with Client(cluster) as client:
            pids = client.run(os.getpid)
        killed["before"] = {p.name for p in cache.glob("*.json")}
        os.kill(next(iter(pids.values())), signal.SIGKILL)

    killer = threading.Thread(target=kill_a_worker_after_the_first_result)
    killer.start()
    try:
        outcomes = run_points(points, cache_dir=cache, scheduler=cluster.scheduler_address,
                              progress=False)
    finally:
        killer.join()
        cluster.close()
    assert 0 < len(killed["before"]) < len(points)          # killed mid-sweep
    assert {p.name for p in cache.glob("*.json")} >= killed["before"]
    # every point finished: the results, and radix's refusal of T = 20 (no lost task)
    assert all(o["status"] == "computed" or o.get("refused") for o in outcomes)
    assert rows_by_point(outcomes) == rows_by_point(one_by_one)


def test_sweep_command_writes_the_table_and_pareto_plot(one_by_one, tmp_path, capsys):
    spec = tmp_path / "small.toml"
    spec.write_text('network = "digits-mlp"\ncodings = ["phase", "tsc"]\nlanes = [1, 4]\n'
                    '[grid]\nT = [4, 8]\n')
    out = tmp_path / "results"
    assert sweep_flow.main([str(spec), "--workers", "0", "--out", str(out),
                            "--cache", str(tmp_path / "cache")]) == 0
    assert "8 points: 8 computed, 0 from the cache, 0 failed" in capsys.readouterr().out
    data = json.loads((out / "sweep.json").read_text())
    header = (out / "sweep.csv").read_text().splitlines()[0].split(",")
    for column in ("coding", "lanes", "T", "snn_golden_percent", "spikes_per_neuron",
                   "synaptic_adds", "other_operations", "cycles_mean", "images_per_s",
                   "snn_total_nJ"):
        assert column in header, column
    assert len(data["rows"]) == 8
    assert data["pareto_accuracy_vs_cycles"] == pareto_front(data["rows"], "cycles_mean")
    assert (out / "pareto_accuracy_vs_cycles.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rtl_point_checks_snn_top_on_verilator(tmp_path):
    point = {"network": "digits-mlp", "coding": "phase", "params": {"T": 4}, "lanes": 4,
             "board": "none", "run": "rtl", "rtl_images": 3}
    [outcome] = run_points([point], cache_dir=tmp_path, workers=0, progress=False)
    row = outcome["row"]
    assert (row["rtl_images"], row["rtl_class_mismatches"], row["rtl_cycle_mismatches"]) == \
        (3, 0, 0)


def test_build_point_with_a_parameter_the_coding_lacks_is_refused(tmp_path):
    # every coding parameter is a flows.build option (from its dataclass): a name the
    # coding does not have is refused, naming it
    point = {"network": "digits-mlp", "coding": "phase", "params": {"bogus": 3},
             "lanes": 4, "board": "none", "run": "build", "rtl_images": 1}
    [outcome] = run_points([point], cache_dir=tmp_path, workers=0, progress=False)
    assert outcome["refused"] and "--bogus does not apply to the phase coding" in \
        outcome["error"]


def test_negative_workers_is_a_clear_error(tmp_path):
    from flows.common import FlowError
    with pytest.raises(FlowError, match="--workers must be 0 or more"):
        run_points(spec_from_dict(SMALL).points(), cache_dir=tmp_path, workers=-1)


def test_built_points_get_a_lut_pareto_plot_per_board(tmp_path):
    """Rows with resources (run = "build") plot accuracy against LUTs, one plot per board."""
    from flows.pareto import write_results

    def outcome(board, lut, accuracy):
        report = {"resources": {"LUT": lut, "FF": 1, "BRAM36": 0, "BRAM18": 0, "DSP": 0}}
        row = {"network": "digits-mlp", "coding": "phase", "run": "build", "board": board,
               "lanes": 4, "params": {"T": 8}, "ann_float_percent": 98.0,
               "snn_golden_percent": accuracy, "spikes_per_neuron": 0.5, "synaptic_adds": 10,
               "cycles_mean": 100.0, "period_cycles_mean": 164.0, "report": report,
               "energy": {"snn_additions": 12, "snn_multiplications": 1,
                          "int8_snn_compute_nJ": 0.1, "snn_sram_nJ": 1.0,
                          "int8_snn_total_nJ": 1.1}}
        return {"point": {}, "key": "k", "status": "computed", "row": row}
    written = write_results([outcome("arty", 2000, 97.0), outcome("arty", 3000, 98.0),
                             outcome("icebreaker", 4000, 96.0)], tmp_path / "out")
    names = sorted(p.name for p in written)
    assert "pareto_accuracy_vs_luts_arty.png" in names
    assert "pareto_accuracy_vs_luts_icebreaker.png" in names
    rows = json.loads((tmp_path / "out" / "sweep.json").read_text())["rows"]
    assert [r["images_per_s"] for r in rows] == [round(100e6 / 164, 1)] * 3
    assert [r["other_operations"] for r in rows] == [3] * 3


def test_pareto_front_keeps_only_undominated_points():
    rows = [{"c": 10, "snn_golden_percent": 90}, {"c": 20, "snn_golden_percent": 95},
            {"c": 20, "snn_golden_percent": 93}, {"c": 30, "snn_golden_percent": 94},
            {"c": 5, "snn_golden_percent": 80}, {"c": None, "snn_golden_percent": 99}]
    front = pareto_front(rows, "c")
    assert [(r["c"], r["snn_golden_percent"]) for r in front] == [(5, 80), (10, 90), (20, 95)]


@pytest.mark.parametrize("text, message", [
    ('codings = ["morse"]', "unknown coding 'morse'"),
    ('run = "fast"', "run must be one of golden, rtl, build"),
    ('boards = ["zedboard"]', "unknown board 'zedboard'"),
    ('lanes = 4', "lanes must be a non-empty list"),
    ('colour = "red"', "unknown key(s) colour"),
    ('[grid]\nT = []', "grid T must be a non-empty list"),
    ('codings = ["phase"]\n[grid.phase]\nnorm = ["max"]', "names norm, which the phase coding"),
    ('network = "imagenet"', "network 'imagenet' is not bundled"),
    ('network = ', "not valid TOML"),
    ('grid = [1]', "grid must be a table"),
    ('codings = "phase"', "codings must be a non-empty list of names"),
    ('boards = [["arty"]]', "boards must be a non-empty list of names"),
    ('[grid]\nQq = [1]', "grid Qq is a parameter of none of the codings"),
    ('codings = ["tsc"]\n[grid.phse]\nT = [4]', "[grid.phse] names no coding of this sweep"),
    ('lanes = [0]', "lanes must be positive"),
    ('rtl_images = 0', "rtl_images must be a positive integer"),
    ('run = "rtl"\nlanes = [-2]', "lanes must be positive"),
])
def test_bad_specs_are_clear_errors(text, message, tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text(text + "\n")
    assert sweep_flow.main([str(spec), "--workers", "0", "--out", str(tmp_path / "out"),
                            "--cache", str(tmp_path / "cache")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_spec_is_a_clear_error(tmp_path, capsys):
    assert sweep_flow.main([str(tmp_path / "nowhere.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.slow
def test_forty_points_on_two_workers_equal_one_by_one(tmp_path):
    points = load_spec(SPECS / "digits-mlp.toml").points()
    sequential = run_points(points, cache_dir=tmp_path / "a", workers=0, progress=False)
    parallel = run_points(points, cache_dir=tmp_path / "b", workers=2, progress=False)
    assert not any("error" in o for o in sequential)
    assert rows_by_point(parallel) == rows_by_point(sequential)


@pytest.fixture(scope="module")
def user_files(tmp_path_factory, split):
    """A user's ONNX MLP (8×8 inputs) and .npz data, as flows.build --model/--data takes."""
    import numpy as np
    import torch
    from torch import nn
    from .test_frontends import export
    directory = tmp_path_factory.mktemp("user")
    torch.manual_seed(3)
    module = nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 10))
    export(module, (8, 8), directory / "tiny.onnx", dynamo=False)
    np.savez(directory / "tiny.npz",
             x_train=split.train_pixels[:300].reshape(-1, 8, 8), y_train=split.train_labels[:300],
             x_test=split.test_pixels[:60].reshape(-1, 8, 8), y_test=split.test_labels[:60])
    return directory


def test_sweep_of_a_users_model_and_data(user_files, tmp_path):
    """model/data in the spec (relative to it): every point is the user's network, its
    rows are what the Python API gives for the same files and parameters."""
    from flows.design import convert
    spec_path = user_files / "mine.toml"
    spec_path.write_text('model = "tiny.onnx"\ndata = "tiny.npz"\ncodings = ["phase"]\n'
                         'lanes = [2]\n[grid]\nT = [6, 10]\n')
    spec = load_spec(spec_path)
    points = spec.points()
    assert len(points) == 2 and {p["network"] for p in points} == {"tiny"}
    assert points[0]["source"]["model"] == str(user_files / "tiny.onnx")
    outcomes = run_points(points, cache_dir=tmp_path, workers=0, progress=False)
    for outcome in outcomes:
        T = outcome["point"]["params"]["T"]
        design = convert(user_files / "tiny.onnx", user_files / "tiny.npz", "phase", T=T)
        assert outcome["row"]["snn_golden_percent"] == design.accuracy()["snn_golden_percent"]
        assert outcome["row"]["network"] == "tiny"
    # another data file under the same name is another point (its hash is in the key)
    (user_files / "tiny.npz").rename(user_files / "old.npz")
    import numpy as np
    with np.load(user_files / "old.npz") as old:
        np.savez(user_files / "tiny.npz", **{k: old[k][:-1] if k.startswith("x_test") or
                                             k.startswith("y_test") else old[k] for k in old})
    again = run_points(load_spec(spec_path).points(), cache_dir=tmp_path, workers=0,
                       progress=False)
    assert {o["status"] for o in again} == {"computed"}


@pytest.mark.parametrize("spec, message", [
    ({"model": "tiny.onnx"}, "model and data go together"),
    ({"model": "tiny.onnx", "data": "none.npz"}, r"data .*none.npz: no such file"),
    ({"model": "tiny.onnx", "data": "tiny.npz", "network": "digits-mlp"},
     "give model/data or a bundled network"),
    ({"model": "tiny.onnx", "data": "tiny.npz", "input_std": "wide"},
     "input_std must be a number or a list of numbers"),
])
def test_user_model_spec_mistakes_are_named(user_files, spec, message):
    with pytest.raises(sweep_flow.FlowError, match=message):
        spec_from_dict(spec, "mine.toml", base=user_files)
