"""Cycles per inference of `snn_top` against a lower bound, per coding.

    .venv/bin/python -m bench.cycle_bound [--network NAME] [--lanes L] [--coding C ...]

Lower bound of one layer (cycles, mean over the test split):
    (synaptic additions + n_out · per-step neuron updates) / lanes
with synaptic additions = input spikes · n_out (each needs an adder-lane cycle) and the
per-step updates = the STEP passes of the layer's schedule (every neuron is touched once
per step: leak / scale / fire / extract; this includes the pass that makes the last
fire decision). The engine's cycles come from the golden cycle
model, which the RTL regression checks clock for clock. The goal is a ratio ≤ 1.25.
"""
import argparse

from flows.common import coding_params, convert_bundled
from golden.codings import REGISTRY
from golden.cycles import inference_cycles
from golden.network import DEFAULT_NETWORK, network_names


def cycles_against_bound(coding: str, lanes: int, network_name: str = DEFAULT_NETWORK) -> dict:
    """Mean cycles per inference, the lower bound, and both per layer, at the defaults."""
    _, split, network = convert_bundled(coding, coding_params(coding, {}, network_name),
                                        network_name=network_name)
    result = network.simulate(split.test_pixels)
    cycles = inference_cycles(network, result, lanes)
    per_layer = []
    for layer, counts, layer_cycles in zip(network.layers, result.layers, cycles["per_layer"]):
        updates = layer.n_out * layer.schedule.step_passes
        per_layer.append((float(layer_cycles.mean()),
                          (float(counts.synaptic_adds.mean()) + updates) / lanes))
    bound = sum(b for _, b in per_layer)
    latency = float(cycles["latency"].mean())
    return {"cycles": latency, "bound": bound, "ratio": latency / bound, "per_layer": per_layer,
            "params": network.describe()["params"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cycle_bound")
    parser.add_argument("--network", default=DEFAULT_NETWORK, choices=network_names())
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--coding", nargs="*", default=list(REGISTRY), choices=list(REGISTRY))
    args = parser.parse_args(argv)
    print(f"cycles per inference against the lower bound, {args.network}, "
          f"{args.lanes} lanes, mean over the test split")
    print(f"  {'coding':9s} {'cycles':>9s} {'bound':>9s} {'ratio':>6s}   per layer (cycles / bound)")
    for coding in args.coding:
        r = cycles_against_bound(coding, args.lanes, args.network)
        parts = "  ".join(f"{c:.0f}/{b:.0f}" for c, b in r["per_layer"])
        print(f"  {coding:9s} {r['cycles']:9.0f} {r['bound']:9.0f} {r['ratio']:6.3f}   "
              f"{parts}   ({r['params']})")


if __name__ == "__main__":
    main()
