"""Side-by-side comparison of the spike codings on one network and one board.

    python -m flows.compare [--network digits-cnn] [--board arty] [--codings rate phase ...]
                            [--T 4 8 ...] [--Q ...]

For every coding:
- the default build, made by `python -m flows.build` itself (into OUT/builds/); the
  table's default row is read from that build's report.json, so its figures are the
  individual build's figures;
- a golden sweep over T (and over Q for phase): each point is converted and simulated
  on the test split exactly as a build with those parameters would be (accuracy, spikes,
  operations, and cycles from the cycle model the RTL regression checks clock for clock).

Writes OUT/comparison.md and OUT/comparison.json (tables), OUT/accuracy_vs_T.png,
OUT/spikes_ops_per_layer.png and OUT/cycles_vs_accuracy.png. Energy estimates use the
constants of `flows/energy.py` (cited in the report).
"""
import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

from boards import TARGETS, get_target
from golden.codings import REGISTRY, get_coding
from golden.cycles import inference_cycles

from . import build as build_flow
from . import energy
from .common import FlowError, Progress, coding_params, convert_bundled, run_flow, \
    staged_directory
from .plots import write_plots
from .tables import markdown_table

NETWORKS = ("digits-mlp", "digits-cnn", "digits-cnn-maxpool")
CODING_ORDER = ("rate", "phase", "radix", "tsc", "deferred")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m flows.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", default="digits-mlp", choices=NETWORKS,
                        help="bundled network to compare on (default: digits-mlp)")
    parser.add_argument("--board", default="arty", choices=sorted(TARGETS),
                        help="board for the resource figures (default: arty, Yosys estimate)")
    parser.add_argument("--codings", nargs="+", default=list(CODING_ORDER),
                        choices=sorted(REGISTRY), metavar="CODING",
                        help=f"codings to compare (default: all: {' '.join(CODING_ORDER)})")
    parser.add_argument("--T", nargs="+", type=int,
                        help="T values of the sweep, for every coding (default: each coding's "
                             "own T_SWEEP); values a coding cannot take are skipped with a note")
    parser.add_argument("--Q", nargs="+", type=float,
                        help="phase: Q values of the sweep at the default T (default: Q_SWEEP)")
    parser.add_argument("--lanes", type=int, help="lanes of every build (default: the board's)")
    parser.add_argument("--out", type=Path, help="report directory (default: build/compare-<board>, "
                                                 "compare-<network>-<board> for the CNN)")
    return parser.parse_args(argv)


def sweep_point(coding: str, given: dict, lanes: int, network_name: str) -> dict:
    """One golden evaluation, as `flows.build` would make it with these parameters."""
    params = coding_params(coding, given)
    _, split, network = convert_bundled(coding, params, network_name=network_name)
    result = network.simulate(split.test_pixels)
    summary = result.summary()
    hidden = summary["layers"][:-1]
    cycles = inference_cycles(network, result, lanes)["latency"]
    return {
        "params": network.describe()["params"],
        "snn_golden_percent": build_flow.percent(result.classes, split.test_labels),
        "spikes_per_neuron": summary["total_spikes"] / sum(l["neurons"] for l in hidden),
        "spikes_per_layer": [l["spikes"] for l in summary["layers"]],
        "synaptic_adds": summary["total_synaptic_adds"],
        "synaptic_adds_per_layer": [l["synaptic_adds"] for l in summary["layers"]],
        "cycles_mean": float(cycles.mean()),
        "energy": energy.estimate(network, summary),
    }


def sweep(coding: str, args, default_params: dict, lanes: int, progress) -> list[dict]:
    golden = get_coding(coding).golden
    T_values = args.T or list(getattr(golden, "T_SWEEP", ()))
    points = [{"T": T} for T in T_values]
    if "Q" in default_params:                   # only codings that have a base Q (phase)
        Q_values = args.Q or list(getattr(golden, "Q_SWEEP", ()))
        points += [{"Q": Q} for Q in Q_values if Q != default_params["Q"]]
    rows = []
    for given in points:
        try:
            rows.append({"varied": given, **sweep_point(coding, given, lanes, args.network)})
        except FlowError as error:
            progress.note(f"{coding}: sweep point {given} skipped: {error}")
            rows.append({"varied": given, "skipped": str(error)})
    return rows


def other_operations(per_layer: list[dict]) -> dict:
    """Per-inference counts of each non-synaptic operation kind, summed over the layers."""
    totals = {}
    for layer in per_layer:
        for kind, count in layer.items():
            if kind not in ("layer", "neurons", "synaptic_adds"):
                totals[kind] = totals.get(kind, 0) + count
    return totals


def default_row(coding: str, report: dict, default_point: dict) -> dict:
    """The table row of a coding's default build (figures from its report.json)."""
    acc, res = report["accuracy"], report["resources"]
    hidden = report["spikes_per_inference"]["per_layer"][:-1]
    row = {
        "coding": coding, "T": report["params"]["T"],
        # the parameters as built (tsc: the α its search chose)
        "params": {**report["params"], **({"alpha": report["network"]["alpha"]}
                                          if "alpha" in report["network"] else {})},
        "ann_float_percent": acc["ann_float_percent"],
        "snn_golden_percent": acc["snn_golden_percent"],
        "spikes_per_neuron": report["spikes_per_inference"]["total_excluding_input"]
                             / sum(l["neurons"] for l in hidden),
        "synaptic_adds": report["operations_per_inference"]["total_synaptic_adds"],
        "other_operations": other_operations(report["operations_per_inference"]["per_layer"]),
        "cycles_per_inference": report["cycles_per_inference"]["mean"],
        "spikes_per_layer": default_point["spikes_per_layer"],
        "synaptic_adds_per_layer": default_point["synaptic_adds_per_layer"],
        "energy": default_point["energy"],
        "resources": {k: res[k] for k in ("LUT", "FF", "BRAM36", "BRAM18", "DSP", "utilisation",
                                          "fmax_mhz", "rom_bits", "state_ram_bits") if k in res},
    }
    # The same parameters through the sweep path must give the build's figures.
    if default_point["snn_golden_percent"] != row["snn_golden_percent"] or \
            default_point["cycles_mean"] != row["cycles_per_inference"]:
        raise FlowError(f"{coding}: the sweep at the default parameters disagrees with the "
                        "build's report (accuracy or cycles); this is a bug")
    return row


def compare(args) -> Path:
    target = get_target(args.board)
    lanes = args.lanes if args.lanes is not None else target.default_lanes
    if lanes < 1:
        raise FlowError(f"--lanes must be a positive integer, not {lanes}")
    codings = [c for c in CODING_ORDER if c in args.codings] + \
              [c for c in args.codings if c not in CODING_ORDER]
    prefix = "" if args.network == "digits-mlp" else f"{args.network}-"
    out = args.out or Path("build") / f"compare-{prefix}{args.board}"
    progress = Progress(2 * len(codings) + 2)
    rows, sweeps = [], {}
    with staged_directory(out) as staging:
        for coding in codings:
            progress.step(f"{coding}: default build (python -m flows.build --coding {coding} "
                          f"--board {args.board})")
            build_dir = staging / "builds" / f"{coding}-{args.board}"
            build_flow.build(build_flow.parse_args(
                ["--coding", coding, "--network", args.network, "--board", args.board,
                 "--lanes", str(lanes), "--out", str(build_dir)]))
            report = json.loads((build_dir / "report.json").read_text())
            progress.step(f"{coding}: golden sweep")
            sweeps[coding] = sweep(coding, args, report["params"], lanes, progress)
            default_point = sweep_point(coding, {}, lanes, args.network)
            rows.append(default_row(coding, report, default_point))
        progress.step("tables and plots")
        comparison = {
            "network": args.network, "board": args.board, "lanes": lanes,
            "rows": rows, "sweeps": sweeps, "energy_constants": energy.CONSTANTS,
            "generated": {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"), "host": platform.node(),
                "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
                           f"Python {platform.python_version()}",
                "command": ["python", "-m", "flows.compare", *sys.argv[1:]]},
        }
        (staging / "comparison.json").write_text(json.dumps(comparison, indent=2))
        (staging / "comparison.md").write_text(markdown_table(comparison))
        write_plots(comparison, staging)
        progress.step("done")
    print((out / "comparison.md").read_text())
    return out


def main(argv=None) -> int:
    return run_flow(compare, parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
