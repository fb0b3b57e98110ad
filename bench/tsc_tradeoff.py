"""tsc: accuracy and spikes against N and the cap on runs, on every bundled network.

    .venv/bin/python -m bench.tsc_tradeoff [--N 6 8 12 16] [--runs 1 2 3 0]
                                           [--networks digits-mlp ...]

Each point is a full conversion, as `flows.build --coding tsc --T N --runs R` makes it
(α searched on the calibration images, docs/codings.md §4), simulated on the test split;
the points run as a flows.sweep (Dask workers, the result cache).
Prints a markdown table (accuracy against the float ANN, hidden spikes per neuron, spike
rate R of Eq. 8) and the setting with the fewest spikes per neuron, over all networks, that
keeps every network within 1.5 points of its float ANN: how the defaults of `TscParams`
were chosen. About 10 minutes on 2 cores for the default grid (the CNNs dominate), seconds
once cached.
"""
import argparse
from pathlib import Path

from flows.compare import NETWORKS
from flows.sweep import DEFAULT_CACHE, run_points

BOUND_POINTS = 1.5


def tradeoff_points(networks, N_values, runs_values) -> list[dict]:
    """The sweep points (flows.sweep): each a full tsc conversion with its own α search."""
    return [{"network": network, "coding": "tsc", "params": {"T": N, "runs": runs},
             "lanes": 4, "board": "none", "run": "golden", "rtl_images": 1}
            for N in N_values for runs in runs_values for network in networks]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tsc_tradeoff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--N", nargs="+", type=int, default=[6, 8, 12, 16])
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 2, 3, 0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    parser.add_argument("--workers", type=int, help="Dask workers (flows.sweep; default: "
                                                    "one per core)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    outcomes = run_points(tradeoff_points(args.networks, args.N, args.runs),
                          cache_dir=args.cache, workers=args.workers)
    rows = {(o["point"]["network"], o["point"]["params"]["T"], o["point"]["params"]["runs"]):
            o["row"] for o in outcomes}
    print("| N | runs | " + " | ".join(f"{n}: SNN % (ANN %) / spikes per neuron / R %"
                                      for n in args.networks) + " | within 1.5 points |")
    print("|---|---|" + "---|" * len(args.networks) + "---|")
    candidates = []
    for N in args.N:
        for runs in args.runs:
            points = [rows[(network, N, runs)] for network in args.networks]
            within = all(p["ann_float_percent"] - p["snn_golden_percent"] <= BOUND_POINTS
                         for p in points)
            cells = " | ".join(f"{p['snn_golden_percent']:.2f} ({p['ann_float_percent']:.2f}) / "
                               f"{p['spikes_per_neuron']:.3f} / "
                               f"{100 * p['spikes_per_neuron'] / N:.2f}" for p in points)
            print(f"| {N} | {runs if runs else '0 (no cap)'} | {cells} | "
                  f"{'yes' if within else 'no'} |", flush=True)
            if within:
                candidates.append((sum(p["spikes_per_neuron"] for p in points), N, runs))
    if candidates:
        _, N, runs = min(candidates)
        print(f"\nfewest spikes within the bound on every network: N = {N}, runs = {runs}")
    else:
        print("\nno setting keeps every network within the bound")


if __name__ == "__main__":
    main()
