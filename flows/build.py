"""Convert the bundled digits network, simulate it, generate the RTL, build for a board.

    python -m flows.build --coding phase --Q 1.25 --board arty

    python -m flows.build --network digits-cnn --coding radix --board arty

Writes into the build directory (default build/<coding>-<board>):
    snn_top.v          Verilog of snn_top (ROM contents inlined as memory initialisers)
    roms/*.hex         the same ROM words as $readmemh files, for flows that load memories
    network.json       the integer network (input of python -m flows.simulate)
    <board>/           board build: Vivado plan + Yosys estimate, or iCE40 bitstream
    report.json        parameters, accuracies, spikes, operations, cycles, resources
With --golden-only: network.json and report.json (no Verilog, no cycles).
"""
import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import numpy as np

from boards import TARGETS, get_target
from golden.codings import REGISTRY, get_coding
from golden.cycles import inference_cycles
from golden.network import DEFAULT_NETWORK, ann_accuracy, network_names
from hdl.export import build_top, top_verilog
from hdl.network import UnsupportedLayer

from .common import FlowError, Progress, check_output_path, coding_params, convert_bundled, \
    jsonable, run_flow, save_network, staged_directory


def base_q(text: str):
    """--Q: a number or auto."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, not {text!r}") from None


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m flows.build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--coding", default="phase", choices=sorted(REGISTRY),
                        help="spike coding (default: phase)")
    parser.add_argument("--network", default=DEFAULT_NETWORK, choices=network_names(),
                        help=f"bundled network (default: {DEFAULT_NETWORK})")
    parser.add_argument("--golden-only", action="store_true",
                        help="convert and simulate in the golden model only: network.json and "
                             "report.json, no Verilog (for layers the RTL cannot run, such as "
                             "overlapping max pooling, or a quick accuracy figure)")
    parser.add_argument("--T", type=int, help="phases / bits per activation / time steps N "
                                              "(default: phase 16, radix 6, deferred 4, "
                                              "rate 16, tsc 8)")
    parser.add_argument("--Q", type=base_q, metavar="{Q,auto}",
                        help="phase: base of hidden layers, 1 < Q <= 2, or auto: the base of "
                             "1.05, 1.10, .., 2.0 with the smallest One-Spike Eq. 5 error at T "
                             "(default 1.25)")
    parser.add_argument("--wait", type=int, help="phase: wait phases w (default 8)")
    parser.add_argument("--norm", choices=["robust", "max", "rnl"],
                        help="rate: thresholds from Robust Norm (99.9 %%, default), Max Norm, "
                             "or a network trained with Rate Norm Layers")
    parser.add_argument("--alpha", type=float,
                        help="tsc: threshold scale, θ = α·V_in^max, 0 < α <= 1 (default: "
                             "the α of 0.15, 0.20 .. 1.0 whose SNN best agrees with the ANN on "
                             "the calibration images)")
    parser.add_argument("--runs", type=int,
                        help="tsc: on-runs per neuron at most, each a +1/-1 spike pair (default "
                             "3; 0 = no cap, the frame-subtracted soft-reset IF neuron; 1 = the "
                             "paper's text, at most two spikes)")
    parser.add_argument("--weight-bits", type=int, help="signed weight width (default 8)")
    parser.add_argument("--lanes", type=int,
                        help="neurons updated in parallel per layer (default: 4; 1 on icebreaker)")
    parser.add_argument("--board", default="none", choices=sorted(TARGETS),
                        help="board target (default: none = Verilog and ROM files only)")
    parser.add_argument("--out", type=Path, help="build directory (default: build/<coding>-<board>, "
                                                 "prefixed with the network unless it is the MLP)")
    return parser.parse_args(argv)


def rom_report(top) -> dict:
    """Memory bits of the design: constant ROMs and the per-layer state RAMs."""
    rom_bits = sum(rom.width * len(rom.words) for rom in top.roms())
    state_bits = sum(engine.groups * engine.lanes
                     * engine.core_module.state_layout(engine.layer.neuron_params).size
                     for engine in top.engines)
    return {"rom_bits": rom_bits, "state_ram_bits": state_bits}


def percent(classes, labels) -> float:
    return round(100 * float((classes == labels).mean()), 3)


def quantised_ann_check(network, result, split) -> dict:
    """For codings with an exact ANN counterpart: its accuracy and the SNN/ANN mismatches."""
    golden = get_coding(network.coding).golden
    if not hasattr(golden, "quantised_ann"):
        return {}
    codes, classes = golden.quantised_ann(network, split.test_pixels)
    mismatched_bits = 0
    for layer, code, counts in zip(network.layers, codes, result.layers):
        bits = np.stack([(code >> (layer.T - t)) & 1 for t in range(1, layer.T + 1)], 1)
        mismatched_bits += int((bits != counts.spike_train).sum())
    return {"ann_quantised_percent": percent(classes, split.test_labels),
            "snn_vs_quantised_ann_class_mismatches": int((classes != result.classes).sum()),
            "snn_vs_quantised_ann_spike_mismatches": mismatched_bits}


def coding_extras(network, layers, result, split) -> dict:
    """Optional figures a coding offers: accuracy against T, its K curve (rate, Eq. 7),
    its spike rate R (tsc, Eq. 8)."""
    golden, extras = get_coding(network.coding).golden, {}
    if hasattr(golden, "T_SWEEP") and hasattr(network, "with_steps"):
        extras["accuracy_against_T"] = {
            int(T): percent(network.with_steps(T).simulate(split.test_pixels).classes,
                            split.test_labels) for T in golden.T_SWEEP}
    if hasattr(golden, "k_curve"):
        T = network.params.T
        steps = sorted({1 << i for i in range(T.bit_length()) if 1 << i <= T} | {T})
        extras["k_curve"] = golden.k_curve(network, layers, result, split.test_pixels, steps)
    if hasattr(golden, "spike_rate"):
        extras["spike_rate_percent"] = round(golden.spike_rate(result, network.params.T), 3)
    if hasattr(golden, "report_extras"):
        extras.update(golden.report_extras(network, result, split.test_pixels, split.test_labels))
    if any(layer.input_pool is not None for layer in network.layers):
        extras["max_pooling_rule"] = golden.MAX_POOL_NOTE
    return extras


def cycle_report(network, result, lanes: int) -> dict:
    cycles = inference_cycles(network, result, lanes)
    return {
        "definition": "from the cycle after the last pixel is accepted to result__valid",
        "mean": float(cycles["latency"].mean()), "min": int(cycles["latency"].min()),
        "max": int(cycles["latency"].max()),
        "per_layer_mean": [float(c.mean()) for c in cycles["per_layer"]],
        "pixel_load_cycles": cycles["load"],
        "back_to_back_period_mean": float(cycles["period"].mean()),
    }


def evaluate(network, model, split, lanes: int, layers=None, hardware: bool = True) -> dict:
    """Golden figures of the network; cycles only for a network the RTL runs (`hardware`)."""
    result = network.simulate(split.test_pixels)
    summary = result.summary()
    return {
        "accuracy": {
            "test_images": int(len(split.test_labels)),
            "ann_float_percent": round(
                100 * ann_accuracy(model, split.test_pixels, split.test_labels), 3),
            "snn_golden_percent": percent(result.classes, split.test_labels),
            **quantised_ann_check(network, result, split),
        },
        "spikes_per_inference": {
            "input": summary["input_spikes"],
            "per_layer": [{k: l[k] for k in ("layer", "neurons", "spikes", "spikes_per_neuron")}
                          for l in summary["layers"]],
            "total_excluding_input": summary["total_spikes"],
        },
        "operations_per_inference": {
            "per_layer": [{k: v for k, v in l.items() if k not in ("spikes", "spikes_per_neuron")}
                          for l in summary["layers"]],
            "total_synaptic_adds": summary["total_synaptic_adds"],
        },
        "cycles_per_inference": cycle_report(network, result, lanes) if hardware else None,
        **coding_extras(network, layers, result, split),
    }


def print_summary(report: dict, out: Path) -> None:
    acc, cyc = report["accuracy"], report["cycles_per_inference"]
    spikes = report["spikes_per_inference"]
    lanes = report["lanes"]
    if report["lanes_per_layer"] and report["lanes_per_layer"] != [lanes] * len(
            report["lanes_per_layer"]):
        lanes = f"{lanes} requested, per layer {report['lanes_per_layer']}"
    print(f"\n{report['network_name']}, {report['coding']} coding, {report['params']}, "
          f"lanes={lanes}, "
          f"board={report['board']}")
    print(f"  accuracy   ANN {acc['ann_float_percent']:.2f} %   "
          f"SNN (golden) {acc['snn_golden_percent']:.2f} %   on {acc['test_images']} test images")
    if "ann_quantised_percent" in acc:
        print(f"             quantised ANN {acc['ann_quantised_percent']:.2f} %, SNN differs from "
              f"it in {acc['snn_vs_quantised_ann_class_mismatches']} classes and "
              f"{acc['snn_vs_quantised_ann_spike_mismatches']} spikes")
    layers = "  ".join(f"{l['layer'].split(' (')[0]}: {l['spikes']:.1f}" for l in spikes["per_layer"])
    print(f"  spikes     input {spikes['input']:.1f}   {layers}")
    print(f"  synaptic   {report['operations_per_inference']['total_synaptic_adds']:.0f} "
          f"additions per inference")
    if cyc is not None:
        print(f"  cycles     {cyc['mean']:.0f} per inference (min {cyc['min']}, max {cyc['max']}), "
              f"+{cyc['pixel_load_cycles']} to load the pixels")
    if "accuracy_against_T" in report:
        sweep = "  ".join(f"T={T}: {a:.2f} %" for T, a in report["accuracy_against_T"].items())
        print(f"  against T  {sweep}")
    if report["network"].get("alpha") is not None:
        print(f"  alpha      {report['network']['alpha']} (θ = α·V_in^max)")
    if "spike_rate_percent" in report:
        print(f"  spike rate {report['spike_rate_percent']:.2f} % of neurons per step (Eq. 8)")
    if "runs" in report:
        runs = report["runs"]
        print(f"  runs       cap {runs['cap']} ({runs['meaning']}): at most "
              f"{runs['max_spikes_per_neuron_allowed']} spikes per neuron, "
              f"{runs['max_spikes_per_neuron_measured']} measured")
        trade = "  ".join(f"runs={cap}: {p['accuracy_percent']:.2f} % {p['spikes_per_neuron']:.2f}"
                          for cap, p in runs["against_runs_same_thresholds"].items())
        print(f"  vs runs    {trade} (accuracy, spikes per neuron; same thresholds)")
    if "max_pooling_rule" in report:
        print(f"  max pool   {report['max_pooling_rule']}")
    res = report["resources"]
    if "LUT" in res:
        print(f"  resources  LUT {res['LUT']}  FF {res['FF']}  BRAM36 {res['BRAM36']}  "
              f"BRAM18 {res['BRAM18']}  DSP {res['DSP']}  ({res['tool']})")
    if "utilisation" in res:
        use = "  ".join(f"{k} {v['used']}/{v['available']}" for k, v in res["utilisation"].items())
        print(f"  resources  {use}")
        print(f"  fmax       {res['fmax_mhz']} MHz (board clock {res['clock_mhz']} MHz)")
    if "rom_bits" in res:
        print(f"  memories   {res['rom_bits']} ROM bits, {res['state_ram_bits']} state RAM bits")
    else:
        print("  hardware   none generated (--golden-only)")
    print(f"  written    {out}")


def build(args) -> Path:
    target = get_target(args.board)
    lanes = args.lanes if args.lanes is not None else target.default_lanes
    if lanes < 1:
        raise FlowError(f"--lanes must be a positive integer, not {lanes}")
    params = coding_params(args.coding, {"T": args.T, "Q": args.Q, "wait": args.wait,
                                         "weight_bits": args.weight_bits, "norm": args.norm,
                                         "alpha": args.alpha, "runs": args.runs})
    if args.golden_only and args.board != "none":
        raise FlowError(f"--golden-only makes no board build; drop --board {args.board}")
    prefix = "" if args.network == DEFAULT_NETWORK else f"{args.network}-"
    suffix = "golden" if args.golden_only else args.board
    out = args.out or Path("build") / f"{prefix}{args.coding}-{suffix}"
    check_output_path(out)          # a file in the way is an error now, not after the build
    progress = Progress(4 if args.golden_only else 5 if args.board == "none" else 6)

    progress.step(f"converting the bundled {args.network} to {args.coding} coding")
    model, split, network, layers = convert_bundled(args.coding, params, with_layers=True,
                                                    network_name=args.network)
    top = None
    if not args.golden_only:
        try:
            top = build_top(network, lanes)      # refuses layers the RTL cannot run
        except UnsupportedLayer as error:
            raise FlowError(f"{args.network}: {error}. Use --golden-only for the golden "
                            "model's figures") from None
    progress.step(f"golden simulation of {len(split.test_labels)} test images")
    report = {"coding": args.coding, "network_name": args.network,
              "layer_shapes": [layer.describe() for layer in layers],
              "params": network.describe()["params"], "lanes": lanes, "board": args.board,
              # what each engine really runs: a layer has no more lanes than neurons
              "lanes_per_layer": None if top is None else [e.lanes for e in top.engines],
              **evaluate(network, model, split, lanes, layers, hardware=not args.golden_only)}

    with staged_directory(out) as staging:
        save_network(network, staging)
        resources = {}
        if not args.golden_only:
            progress.step("generating Verilog of snn_top and the ROM files")
            (staging / "snn_top.v").write_text(top_verilog(top))
            (staging / "roms").mkdir()
            for rom in top.roms():
                rom.write_hex(staging / "roms")
            resources = rom_report(top)
        if args.board != "none":
            progress.step(f"board build: {args.board}")
            resources.update(target.build(network, lanes, staging, progress.note))
            # paths relative to the build directory, so that a build can be moved
            resources = {k: _relative(v, staging) for k, v in resources.items()}
        progress.step("writing report.json")
        report.update({
            "network": network.describe(),
            "resources": resources,
            "generated": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"), "host": platform.node(), "command": sys.argv},
        })
        (staging / "report.json").write_text(json.dumps(report, indent=2, default=jsonable))
    progress.step("done")
    print_summary(report, out)
    return out


def _relative(value, directory: Path):
    if isinstance(value, str) and value.startswith(str(directory) + "/"):
        return value[len(str(directory)) + 1:]
    return value


def main(argv=None) -> int:
    return run_flow(build, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
