"""tsc: accuracy and spikes against N and the cap on runs, on every bundled network.

    .venv/bin/python -m bench.tsc_tradeoff [--N 6 8 12 16] [--runs 1 2 3 0]
                                           [--networks digits-mlp ...]

Each point is a full conversion, as `flows.build --coding tsc --T N --runs R` makes it
(α searched on the calibration images, docs/codings.md §4), simulated on the test split.
Prints a markdown table (accuracy against the float ANN, hidden spikes per neuron, spike
rate R of Eq. 8) and the setting with the fewest spikes per neuron, over all networks, that
keeps every network within 1.5 points of its float ANN: how the defaults of `TscParams`
were chosen. About 10 minutes on 2 cores for the default grid (the CNNs dominate).
"""
import argparse

from flows.common import coding_params, convert_bundled
from flows.compare import NETWORKS
from golden.codings.tsc import hidden_spikes_per_neuron, spike_rate
from golden.network import ann_accuracy

BOUND_POINTS = 1.5


def measure(network_name: str, N: int, runs: int) -> dict:
    model, split, network = convert_bundled("tsc", coding_params("tsc", {"T": N, "runs": runs}),
                                            network_name=network_name)
    result = network.simulate(split.test_pixels)
    ann = 100 * ann_accuracy(model, split.test_pixels, split.test_labels)
    return {"ann": ann, "snn": 100 * float((result.classes == split.test_labels).mean()),
            "alpha": network.alpha, "spikes_per_neuron": hidden_spikes_per_neuron(result),
            "R": spike_rate(result, N)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tsc_tradeoff", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--N", nargs="+", type=int, default=[6, 8, 12, 16])
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 2, 3, 0])
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    args = parser.parse_args(argv)
    print("| N | runs | " + " | ".join(f"{n}: SNN % (ANN %) / spikes per neuron / R %"
                                      for n in args.networks) + " | within 1.5 points |")
    print("|---|---|" + "---|" * len(args.networks) + "---|")
    candidates = []
    for N in args.N:
        for runs in args.runs:
            points = [measure(name, N, runs) for name in args.networks]
            within = all(p["ann"] - p["snn"] <= BOUND_POINTS for p in points)
            cells = " | ".join(f"{p['snn']:.2f} ({p['ann']:.2f}) / {p['spikes_per_neuron']:.3f}"
                               f" / {p['R']:.2f}" for p in points)
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
