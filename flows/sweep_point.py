"""One point of a design-space sweep: a pure function of its parameters (flows.sweep).

A point is a plain dict, so a Dask worker on another machine can run it:

    {"network": "digits-mlp", "coding": "phase", "params": {"T": 8, "Q": 1.5},
     "lanes": 4, "board": "none", "run": "golden", "rtl_images": 8}

`run` says how far it goes:
- `golden`: convert and simulate the test split: accuracy, spikes, operations, cycles (the
  cycle model the RTL regression checks clock for clock), energy;
- `rtl`: the same, and `snn_top` on Verilator on the first `rtl_images` test images, which
  must equal the golden model in class and cycles (mismatches are counted in the row);
- `build`: the same as golden, and `flows.build` for `board` in a scratch directory
  (resources, Fmax where place and route runs); the row carries the build's report.
"""
import contextlib
import functools
import hashlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np

from golden.cycles import inference_cycles

from . import energy
from .common import FlowError, coding_params
from .design import convert

RUNS = ("golden", "rtl", "build")
NOMINAL_CLOCK_MHZ = 100.0      # images/s of points without a board clock (board "none")


def evaluate_point(point: dict) -> dict:
    """The row of one point; raises FlowError for parameters the coding refuses."""
    coding, lanes = point["coding"], point["lanes"]
    split, network, result, ann_percent = _converted(
        point["network"], json.dumps(point.get("source"), sort_keys=True), coding,
        json.dumps(point["params"], sort_keys=True))
    summary = result.summary()
    hidden = summary["layers"][:-1]
    cycles = inference_cycles(network, result, lanes)
    row = {
        "network": point["network"], "coding": coding, "run": point["run"],
        "board": point["board"], "lanes": lanes, "given": point["params"],
        "params": network.describe()["params"],
        "ann_float_percent": ann_percent,
        "snn_golden_percent": _percent(result.classes, split.test_labels),
        "spikes_per_neuron": summary["total_spikes"] / sum(l["neurons"] for l in hidden),
        "spikes_per_layer": [l["spikes"] for l in summary["layers"]],
        "synaptic_adds": summary["total_synaptic_adds"],
        "synaptic_adds_per_layer": [l["synaptic_adds"] for l in summary["layers"]],
        "cycles_mean": float(cycles["latency"].mean()),
        "period_cycles_mean": float(cycles["period"].mean()),
        "energy": energy.estimate(network, summary),
    }
    if point["run"] == "rtl":
        row.update(_rtl_check(network, split.test_pixels[:point["rtl_images"]], lanes))
    if point["run"] == "build":
        row["report"] = _build_report(point)
    return row


def user_source(model, data, input_mean=None, input_std=None) -> dict:
    """A user's model and data as a point's `source`: absolute paths and their content
    hashes (a cached result is reused only for the same files)."""
    def sha256(path):
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    model, data = Path(model).resolve(), Path(data).resolve()
    for option, path in (("--model", model), ("--data", data)):
        if not path.is_file():
            raise FlowError(f"{option} {path}: no such file")
    return {"model": str(model), "model_sha256": sha256(model), "data": str(data),
            "data_sha256": sha256(data),
            "input_mean": list(input_mean) if input_mean else None,
            "input_std": list(input_std) if input_std else None}


@functools.lru_cache(maxsize=8)
def _converted(network_name: str, source_json: str, coding: str, params_json: str):
    """(split, integer network, its golden result on the test split, the float ANN's
    test accuracy), kept per worker process: points that differ only in lanes or board
    convert once. `source`: a user's model and data (`user_source`), or null."""
    source, options = json.loads(source_json), json.loads(params_json)
    if source is None:
        design = convert(network_name, coding=coding,
                         params=coding_params(coding, options, network_name))
    else:          # a user's model: its defaults follow its input size (coding_params)
        design = convert(source["model"], source["data"], coding, name=network_name,
                         input_mean=source["input_mean"], input_std=source["input_std"],
                         **options)
    split = design.split
    ann_percent = _percent(design.float_classes(split.test_pixels), split.test_labels)
    return split, design.network, design.network.simulate(split.test_pixels), ann_percent


def _percent(classes, labels) -> float:
    return round(100 * float((classes == labels).mean()), 3)


def _rtl_check(network, images: np.ndarray, lanes: int) -> dict:
    from hdl.export import snn_top_verilog
    from sim.runner import run_snn_top
    golden = network.simulate(images)
    expected = inference_cycles(network, golden, lanes)["latency"]
    with tempfile.TemporaryDirectory(prefix="snn-sweep-rtl-") as scratch:
        source = Path(scratch) / "snn_top.v"
        source.write_text(snn_top_verilog(network, lanes)[0])
        rtl = run_snn_top(source, images, Path(scratch) / "sim")
    return {"rtl_images": int(len(images)),
            "rtl_class_mismatches": int((rtl["classes"] != golden.classes).sum()),
            "rtl_cycle_mismatches": int((rtl["latency"] != expected).sum())}


def _build_report(point: dict) -> dict:
    from . import build as build_flow
    # a sweep builds many points: an accuracy hint's settings are named, not each tried
    argv = ["--coding", point["coding"], "--board", point["board"], "--lanes", str(point["lanes"]),
            "--no-hint-trials"]
    source = point.get("source")
    if source is None:
        argv += ["--network", point["network"]]
    else:
        argv += ["--model", source["model"], "--data", source["data"]]
        for option in ("input_mean", "input_std"):
            if source[option]:
                argv += [f"--{option.replace('_', '-')}", ",".join(map(str, source[option]))]
    for name, value in point["params"].items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    with tempfile.TemporaryDirectory(prefix="snn-sweep-build-") as scratch:
        out = Path(scratch) / "build"
        try:
            args = build_flow.parse_args([*argv, "--out", str(out)])
        except SystemExit:                # argparse has printed what it refuses
            raise FlowError(f"build point {point['params']}: flows.build has no option for "
                            "one of these parameters; sweep it with run = \"golden\"") from None
        # the build's progress and summary would only interleave with the sweep's bar,
        # and name a scratch directory that is gone; its report is the result
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            build_flow.build(args)
        return json.loads((out / "report.json").read_text())


def flat_row(row: dict) -> dict:
    """One line of the results table: every parameter and every figure, no nesting."""
    report = row.get("report", {})
    resources = report.get("resources", {})
    clock = resources.get("clock_mhz") or NOMINAL_CLOCK_MHZ
    flat = {"network": row["network"], "coding": row["coding"], "run": row["run"],
            "board": row["board"], "lanes": row["lanes"]}
    flat.update({k: v for k, v in row["params"].items() if not isinstance(v, (dict, list))})
    flat.update({
        "ann_float_percent": row["ann_float_percent"],
        "snn_golden_percent": row["snn_golden_percent"],
        "spikes_per_neuron": round(row["spikes_per_neuron"], 4),
        "synaptic_adds": row["synaptic_adds"],
        "other_operations": (row["energy"]["snn_additions"] - row["synaptic_adds"]
                             + row["energy"]["snn_multiplications"]),
        "cycles_mean": row["cycles_mean"], "clock_mhz": clock,
        "images_per_s": round(clock * 1e6 / row["period_cycles_mean"], 1),
        "snn_int8_compute_nJ": row["energy"]["int8_snn_compute_nJ"],
        "snn_sram_nJ": row["energy"]["snn_sram_nJ"],
        "snn_total_nJ": row["energy"]["int8_snn_total_nJ"],
    })
    if "LUT" in resources:
        flat.update({k: resources[k] for k in ("LUT", "FF", "BRAM36", "BRAM18", "DSP")})
    if "utilisation" in resources:
        use = resources["utilisation"]
        flat.update({"LUT": use.get("ICESTORM_LC", {}).get("used"),
                     "BRAM": use.get("ICESTORM_RAM", {}).get("used"),
                     "DSP": use.get("ICESTORM_DSP", {}).get("used")})
    if resources.get("fmax_mhz") is not None:
        flat["fmax_mhz"] = resources["fmax_mhz"]
    for key in ("rtl_images", "rtl_class_mismatches", "rtl_cycle_mismatches"):
        if key in row:
            flat[key] = row[key]
    return flat
