"""Side-by-side comparison of the spike codings on one network and one board.

    python -m flows.compare [--network digits-cnn] [--board arty] [--codings rate phase ...]
    python -m flows.compare --model my.onnx --data my.npz [--input-mean M --input-std S]
                            [--T 4 8 ...] [--Q ...]

A preset of `python -m flows.sweep` (the same engine: Dask workers, the result cache).
For every coding:
- the default build, made by `flows.build` itself (a `build` sweep point, in a scratch
  directory: run flows.build for a build directory to keep); the table's default row is
  read from that build's report.json, so its figures are the individual build's figures;
- a golden sweep over T (and over Q for phase): each point is converted and simulated
  on the test split exactly as a build with those parameters would be (accuracy, spikes,
  operations, and cycles from the cycle model the RTL regression checks clock for clock).
Options --workers, --scheduler and --cache are those of flows.sweep.

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
from golden.network import network_names

from . import energy
from .build import add_model_options
from .common import FlowError, Progress, run_flow
from .outputs import check_output_path, interrupts_named, staged_directory
from .plots import write_plots
from .sweep import DEFAULT_CACHE, run_points
from .sweep_point import user_source
from .tables import markdown_table

NETWORKS = tuple(network_names())
CODING_ORDER = ("rate", "phase", "radix", "tsc", "deferred")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m flows.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--network", default="digits-mlp", choices=NETWORKS,
                        help="bundled network to compare on (default: digits-mlp)")
    add_model_options(parser)
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
    parser.add_argument("--out", type=Path,
                        help="report directory (default: build/compare-<board>, "
                             "compare-<network>-<board> for the other bundled networks)")
    parser.add_argument("--workers", type=int, help="local Dask worker processes (default: one "
                                                    "per core; 0: one after the other here)")
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (flows.sweep)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help=f"sweep result cache (default: {DEFAULT_CACHE})")
    return parser.parse_args(argv)


def compare_points(codings: list[str], args, lanes: int) -> list[dict]:
    """The sweep points of a comparison: per coding its default build for the board, then
    the golden points over T (and Q for phase). flows.compare is this preset of flows.sweep."""
    base = {"network": args.network, "lanes": lanes, "board": args.board, "rtl_images": 0}
    if args.model is not None:
        base["source"] = user_source(args.model, args.data, args.input_mean, args.input_std)
    points = []
    for coding in codings:
        golden = get_coding(coding).golden
        points.append({**base, "coding": coding, "params": {}, "run": "build"})
        varied = [{"T": T} for T in (args.T or getattr(golden, "T_SWEEP", ()))]
        if hasattr(golden, "Q_SWEEP"):                  # codings with a base Q (phase)
            default_Q = get_coding(coding).params().Q
            varied += [{"Q": Q} for Q in (args.Q or golden.Q_SWEEP) if Q != default_Q]
        points += [{**base, "coding": coding, "params": given, "run": "golden"}
                   for given in varied]
    return points


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
    if args.model is not None:
        if args.data is None:
            raise FlowError("--model needs --data: an .npz with x_train, y_train, x_test, y_test")
        args.network = args.model.stem
    elif args.data is not None:
        raise FlowError("--data goes with --model (a bundled --network brings its own data)")
    codings = [c for c in CODING_ORDER if c in args.codings] + \
              [c for c in args.codings if c not in CODING_ORDER]
    prefix = "" if args.network == "digits-mlp" else f"{args.network}-"
    out = args.out or Path("build") / f"compare-{prefix}{args.board}"
    check_output_path(out)
    with interrupts_named(out):
        progress = Progress(3)
        progress.step(f"{len(codings)} default builds and the golden sweep points "
                      "(the flows.sweep engine)")
        outcomes = run_points(compare_points(codings, args, lanes), cache_dir=args.cache,
                              workers=args.workers, scheduler=args.scheduler)
        rows, sweeps = [], {coding: [] for coding in codings}
        for outcome in outcomes:
            point = outcome["point"]
            coding = point["coding"]
            if point["run"] == "build":
                if "error" in outcome:
                    raise FlowError(f"{coding}: the default build failed: {outcome['error']}")
                rows.append(default_row(coding, outcome["row"]["report"], outcome["row"]))
            elif "error" in outcome:
                if not outcome.get("refused"):       # a crash is a bug, not a skipped point
                    raise FlowError(f"{coding}: sweep point {point['params']} failed: "
                                    f"{outcome['error']}")
                progress.note(f"{coding}: sweep point {point['params']} skipped: "
                              f"{outcome['error']}")
                sweeps[coding].append({"varied": point["params"], "skipped": outcome["error"]})
            else:
                sweeps[coding].append({"varied": point["params"], **outcome["row"]})
        with staged_directory(out, progress) as staging:
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
