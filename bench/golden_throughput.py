"""Golden model throughput per coding, and the rate coding next to snnTorch.

    .venv/bin/python -m bench.golden_throughput [--seconds S]

Each coding's default network (the bundled digits MLP) classifies the 360 test images
over and over for at least S seconds; images per second are printed. Then snnTorch
(`snntorch.Leaky`, beta = 1, reset by subtraction: the same integrate-and-fire neuron)
runs the *same converted rate network* (same integer weights, thresholds and T) in the
same process, and the ratio is printed with the fraction of images on which both give
the same class. Conversion time is not counted. Both run on one thread (NumPy's BLAS and
torch), so the ratio compares the simulators, not the thread pools.
"""
import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"        # before NumPy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from flows.common import coding_params, convert_bundled  # noqa: E402
from golden.codings import REGISTRY  # noqa: E402


def images_per_second(classify, images: np.ndarray, seconds: float) -> float:
    classify(images)                                   # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        classify(images)
        done += len(images)
    return done / (time.perf_counter() - started)


def snntorch_rate_classifier(network):
    """The converted rate network in snnTorch: Leaky(beta=1, subtract reset) per layer.

    Integer values are held exactly in float64. snnTorch fires on mem > θ, the golden
    model on m ≥ θ; with integer potentials both agree when snnTorch's membrane carries
    an offset of +1 (initial mem = v(0) + 1), which subtraction keeps."""
    import snntorch

    layers = network.layers
    weights = [torch.tensor(l.weight, dtype=torch.float64) for l in layers]
    biases = [torch.tensor(l.bias, dtype=torch.float64) for l in layers]
    neurons = [snntorch.Leaky(beta=1.0, threshold=float(l.threshold), reset_mechanism="subtract")
               for l in layers[:-1]]
    T = network.params.T

    def classify(pixels: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.tensor(pixels, dtype=torch.float64)
            first_current = x @ weights[0] + biases[0]           # constant-coded first layer
            mems = [torch.full((len(x), l.n_out), float(l.initial_potential + 1),
                               dtype=torch.float64) for l in layers[:-1]]
            out = torch.zeros(len(x), layers[-1].n_out, dtype=torch.float64)
            for _ in range(T):
                spikes, mems[0] = neurons[0](first_current, mems[0])
                spikes = spikes.double()
                for k in range(1, len(layers) - 1):
                    spikes, mems[k] = neurons[k](spikes @ weights[k] + biases[k], mems[k])
                    spikes = spikes.double()
                out += spikes @ weights[-1] + biases[-1]
            return torch.argmax(out, dim=1).numpy()
    return classify


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.golden_throughput")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"golden model throughput, bundled digits MLP, 360 test images per batch, "
          f"{args.seconds:g} s per figure, one thread, "
          f"{platform.machine()} {platform.python_version()}")
    rate_network = None
    for coding in REGISTRY:
        params = coding_params(coding, {})
        _, split, network = convert_bundled(coding, params)
        if coding == "rate":
            rate_network = network
        rate = images_per_second(network.simulate, split.test_pixels, args.seconds)
        print(f"  {coding:9s} {network.describe()['params']}: {rate:10.0f} images/s")

    golden_classes = rate_network.simulate(split.test_pixels).classes
    classify = snntorch_rate_classifier(rate_network)
    agreement = float((classify(split.test_pixels) == golden_classes).mean())
    golden_rate = images_per_second(rate_network.simulate, split.test_pixels, args.seconds)
    peer_rate = images_per_second(classify, split.test_pixels, args.seconds)
    print(f"rate coding, same converted network and T={rate_network.params.T}, same run:")
    print(f"  golden (NumPy, exact integers) {golden_rate:9.0f} images/s")
    print(f"  snnTorch Leaky (float64)      {peer_rate:10.0f} images/s")
    print(f"  ratio golden / snnTorch       {golden_rate / peer_rate:10.2f}")
    print(f"  same class on                 {100 * agreement:9.2f} % of the test images")


if __name__ == "__main__":
    main()
