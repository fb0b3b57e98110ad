"""Place and route every coding for a board; print Fmax, resources and images per second.

    .venv/bin/python -m bench.fmax [--board ulx3s] [--network digits-mlp] [--coding C ...]
                                   [--lanes L] [--out build/bench-fmax]

Each point is a whole `flows.build` (Yosys, nextpnr, bitstream) in `--out`, so the figures
are the ones a user gets. Latency: cycles from an image's last pixel to its class.
Images per second: back to back (`golden.cycles`: with two input banks the next image
loads while the layers run; mean over the test split), at the board clock and at Fmax.
A few minutes per point.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from boards.targets import StepError
from flows.common import run_flow
from flows.design import convert
from flows.outputs import check_output_path
from golden.codings import REGISTRY


def resources_row(res: dict) -> tuple[str, str, str]:
    """(logic, flip-flops, block RAM) as a person reads them, for either nextpnr family."""
    use = {cell: v["used"] for cell, v in res["utilisation"].items()}
    if "TRELLIS_COMB" in use:
        return f"{use['TRELLIS_COMB']} LUT4", str(use.get("TRELLIS_FF", 0)), \
            f"{use.get('DP16KD', 0)} of {res['utilisation']['DP16KD']['available']} EBR"
    return f"{use.get('ICESTORM_LC', 0)} LC", "–", \
        f"{use.get('ICESTORM_RAM', 0)} of {res['utilisation']['ICESTORM_RAM']['available']} EBR"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fmax")
    parser.add_argument("--board", default="ulx3s", choices=["ulx3s", "icebreaker"])
    parser.add_argument("--network", default="digits-mlp")
    parser.add_argument("--coding", nargs="*", default=list(REGISTRY))
    parser.add_argument("--lanes", type=int, help="default: the board's")
    parser.add_argument("--out", type=Path, default=Path("build/bench-fmax"))
    args = parser.parse_args(argv)
    return run_flow(measure, args)


def measure(args) -> None:
    # every build directory checked before the first build: replaced only if an earlier
    # run wrote it (flows.outputs)
    outs = {coding: args.out / f"{args.network}-{coding}-{args.board}" for coding in args.coding}
    for out in outs.values():
        check_output_path(out)
    rows, not_built = [], []
    for coding, out in outs.items():
        start = time.monotonic()
        design = convert(args.network, coding=coding)
        try:
            design.build(out, board=args.board, lanes=args.lanes, command=[])
        except StepError as error:
            # a point that does not fit (`boards.fit.DoesNotFit`) or fails a tool does not
            # cost the others
            not_built.append((coding, str(error).splitlines()[0]))
            continue
        report = json.loads((out / "report.json").read_text())
        res, cycles = report["resources"], report["cycles_per_inference"]
        period = cycles["back_to_back_period_mean"]
        logic, flops, bram = resources_row(res)
        rows.append((coding, res["fmax_mhz"], res["clock_mhz"], logic, flops, bram,
                     report["lanes"], cycles["mean"], period,
                     report["memory_plan"]["input_banks"], time.monotonic() - start))
    print(f"\n{args.network} on {args.board} (nextpnr; images/s back to back, mean over "
          f"the test split)")
    for coding, reason in not_built:
        print(f"not built: {coding}: {reason}")
    if not rows:
        return
    print(f"| coding | Fmax (MHz) | logic | FF | block RAM | lanes | latency (cycles) "
          f"| input banks | cycles/image back to back | images/s at {rows[0][2]:g} MHz "
          f"| images/s at Fmax |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for coding, fmax, clock, logic, flops, bram, lanes, latency, period, banks, _ in rows:
        print(f"| {coding} | {fmax:.1f} | {logic} | {flops} | {bram} | {lanes} | {latency:.0f} "
              f"| {banks} | {period:.0f} | {clock * 1e6 / period:,.0f} "
              f"| {fmax * 1e6 / period:,.0f} |")
    print(f"({sum(r[-1] for r in rows) / 60:.1f} min)")


if __name__ == "__main__":
    sys.exit(main())
