"""The bundled networks side by side, per coding: accuracy, cycles and resources.

    python -m flows.networks [--board arty] [--networks digits-mlp digits-cnn ...]

Reads the reports `python -m flows.compare --network NAME` wrote (build/compare-*-BOARD/
comparison.json) and prints one markdown table; a network without a report is named, with
the command that makes it.
"""
import argparse
import json
import sys
from pathlib import Path

from .common import FlowError, run_flow
from .compare import NETWORKS
from .tables import resources_cells


def report_path(network: str, board: str) -> Path:
    prefix = "" if network == "digits-mlp" else f"{network}-"
    return Path("build") / f"compare-{prefix}{board}" / "comparison.json"


def networks_table(comparisons: list[dict]) -> str:
    lines = ["| network | coding | parameters | ANN % | SNN % | cycles / inference | LUT | FF "
             "| BRAM | DSP | synaptic adds |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    codings = [row["coding"] for row in comparisons[0]["rows"]]
    for coding in codings:
        for comparison in comparisons:
            row = next((r for r in comparison["rows"] if r["coding"] == coding), None)
            if row is None:
                continue
            lut, ff, bram, dsp, _ = resources_cells(row["resources"])
            params = ", ".join(f"{k}={v}" for k, v in row["params"].items()
                               if k in ("T", "Q", "wait", "alpha", "runs")
                               or (k == "finetune_epochs" and v))
            lines.append(f"| {comparison['network']} | {coding} | {params} | "
                         f"{row['ann_float_percent']:.2f} | {row['snn_golden_percent']:.2f} | "
                         f"{row['cycles_per_inference']:.0f} | {lut} | {ff} | {bram} | {dsp} | "
                         f"{row['synaptic_adds']:.0f} |")
    return "\n".join(lines) + "\n"


def show(args) -> None:
    comparisons, missing = [], []
    for network in args.networks or NETWORKS:
        path = report_path(network, args.board)
        if not path.exists():
            missing.append(f"{network} (run python -m flows.compare --network {network} "
                           f"--board {args.board})")
            continue
        try:
            comparisons.append(json.loads(path.read_text()))
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise FlowError(f"{path} is not valid JSON ({error}); run python -m flows.compare "
                            f"--network {network} --board {args.board} again") from None
    if missing and (args.networks or not comparisons):
        raise FlowError(f"no comparison report on {args.board} for: {'; '.join(missing)}")
    if missing:
        print(f"not in the table (no report yet): {'; '.join(missing)}", file=sys.stderr)
    print(networks_table(comparisons), end="")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.networks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", default="arty")
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, metavar="NETWORK",
                        help="networks of the table (default: every bundled network with a "
                             "comparison report)")
    return run_flow(show, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
