"""Do the defaults a user's MNIST-size model takes meet each coding's accuracy bound on
networks they were not chosen on?

Trains a few other architectures on the bundled MNIST subset with the bundled networks'
recipe (`golden.network.train_module`: deterministic, CPU, a minute or two each), converts
each as a user's model (`flows.design.convert(module, split)`, so at the defaults
`golden.codings.input_size_defaults` gives a model of 784 or more inputs) in each coding,
and prints the float ANN's and the golden SNN's accuracy on the 1,000 test images, the
points lost and the coding's bound. The bundled mnist-mlp and mnist-cnn weights run the
same way as a user's modules. `--codings rate tsc` (the two with such defaults) took 35
minutes on two cores, most of it tsc's α search on the CNNs; every coding takes longer.

    python -m bench.mnist_defaults [--networks lenet-max mlp-2x] [--codings tsc rate]
"""
import argparse
import time

from torch import nn

from flows.design import convert
from golden.codings import REGISTRY
from golden.data import InputContract, load_mnist_split
from golden.network import load_bundled, train_module


def mlp_wide() -> nn.Sequential:
    return nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(),
                         nn.Linear(256, 10))


def mlp_two_hidden() -> nn.Sequential:
    return nn.Sequential(nn.Linear(784, 256), nn.BatchNorm1d(256), nn.ReLU(),
                         nn.Linear(256, 128), nn.BatchNorm1d(128), nn.ReLU(),
                         nn.Linear(128, 10))


def cnn_small() -> nn.Sequential:
    """3x3 convolutions, 8 and 16 channels, average pooling, one dense layer."""
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)),
                         nn.Conv2d(1, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(400, 10))


def lenet_max() -> nn.Sequential:
    """mnist-cnn's geometry with max pooling."""
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)),
                         nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(256, 64), nn.BatchNorm1d(64), nn.ReLU(),
                         nn.Linear(64, 10))


TRAINED = {"mlp-256": mlp_wide, "mlp-2x": mlp_two_hidden, "cnn-small": cnn_small,
           "lenet-max": lenet_max}
BUNDLED = ("mnist-mlp", "mnist-cnn")          # their weights, converted as a user's modules


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", nargs="+", choices=[*TRAINED, *BUNDLED],
                        default=[*TRAINED, *BUNDLED])
    parser.add_argument("--codings", nargs="+", choices=sorted(REGISTRY),
                        default=sorted(REGISTRY))
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args(argv)
    split = load_mnist_split()
    print(f"{'network':<10} {'coding':<9} {'float %':>8} {'SNN %':>7} {'lost':>6} "
          f"{'bound':>6}  within  seconds", flush=True)
    misses = 0
    for name in args.networks:
        if name in TRAINED:
            module = train_module(TRAINED[name], split, InputContract(), args.epochs)
        else:
            module = load_bundled(name)
        if isinstance(module[0], nn.Unflatten):      # a user's CNN takes (n, 1, 28, 28)
            module = nn.Sequential(*list(module)[1:])
        for coding in args.codings:
            start = time.time()
            accuracy = convert(module, split, coding=coding, name=name).accuracy()
            lost = round(accuracy["ann_float_percent"] - accuracy["snn_golden_percent"], 3)
            bound = REGISTRY[coding].golden.ACCURACY_BOUND
            misses += lost > bound
            print(f"{name:<10} {coding:<9} {accuracy['ann_float_percent']:>8.1f} "
                  f"{accuracy['snn_golden_percent']:>7.1f} {lost:>6.1f} {bound:>6.1f}  "
                  f"{'yes' if lost <= bound else 'NO':<6}  {time.time() - start:>7.0f}",
                  flush=True)
    print(f"{misses} pair(s) outside their bound")


if __name__ == "__main__":
    main()
