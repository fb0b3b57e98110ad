"""The bundled networks for the digits data set (8x8 images, flat pixel vectors):

- `digits-mlp` (the default): 64-64-32-10 ReLU MLP with batch norm.
- `digits-cnn`: conv 3x3 1→8, average pool 2, conv 3x3 8→16, average pool 2, dense
  64→10, with batch norm; the input arrives flat and `Unflatten` gives it its (1, 8, 8)
  shape. Average pooling folds into the next layer, so the RTL runs it (two convolution
  engines and a dense one).
- `digits-cnn-maxpool`: the same with max pooling (every coding, golden and RTL: the
  max pooling unit `hdl/pool.py` applies each coding's rule, docs/codings.md §6).

Regenerate the committed weights (deterministic, CPU, under a minute) with:

    python -m golden.network --train [--network digits-cnn]
"""
import argparse
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import load_digits_split, pixels_to_input

LAYER_SIZES = (64, 64, 32, 10)
TRAIN_SEED = 0
DEFAULT_NETWORK = "digits-mlp"


def digits_mlp() -> nn.Sequential:
    """64-64-32-10, Linear + BatchNorm1d + ReLU per hidden layer."""
    layers: list[nn.Module] = [nn.Flatten()]
    for n_in, n_out in zip(LAYER_SIZES[:-2], LAYER_SIZES[1:-1]):
        layers += [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU()]
    layers.append(nn.Linear(LAYER_SIZES[-2], LAYER_SIZES[-1]))
    return nn.Sequential(*layers)


def digits_cnn(pool=nn.AvgPool2d) -> nn.Sequential:
    """conv 3x3 1→8 (padding 1) + BN + ReLU, pool 2, conv 3x3 8→16 + BN + ReLU, pool 2,
    flatten, dense 64→10."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), pool(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), pool(2),
        nn.Flatten(), nn.Linear(64, 10))


NETWORKS = {"digits-mlp": (digits_mlp, "digits_mlp.npz"),
            "digits-cnn": (digits_cnn, "digits_cnn.npz"),
            "digits-cnn-maxpool": (lambda: digits_cnn(nn.MaxPool2d), "digits_cnn_maxpool.npz")}


def network_names() -> list[str]:
    return list(NETWORKS)


def _entry(name: str):
    try:
        return NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown network {name!r}; bundled: {', '.join(NETWORKS)}") from None


def train(name: str = DEFAULT_NETWORK, epochs: int = 60, batch: int = 64) -> nn.Sequential:
    torch.manual_seed(TRAIN_SEED)
    torch.use_deterministic_algorithms(True)
    split = load_digits_split()
    x = torch.from_numpy(pixels_to_input(split.train_pixels))
    y = torch.from_numpy(split.train_labels)
    model = _entry(name)[0]()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    order = torch.Generator().manual_seed(TRAIN_SEED)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x), generator=order).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
    return model.eval()


def save(model: nn.Module, path: Path) -> None:
    np.savez_compressed(path, **{k: v.numpy() for k, v in model.state_dict().items()})


def load_bundled(name: str = DEFAULT_NETWORK) -> nn.Sequential:
    """A committed, trained digits network (eval mode)."""
    build, weights = _entry(name)
    model = build()
    with resources.files("golden.weights").joinpath(weights).open("rb") as f:
        arrays = np.load(f)
        model.load_state_dict({k: torch.from_numpy(arrays[k]) for k in arrays.files})
    return model.eval()


def ann_accuracy(model: nn.Module, pixels: np.ndarray, labels: np.ndarray) -> float:
    with torch.no_grad():
        out = model(torch.from_numpy(pixels_to_input(pixels)))
    return float((out.argmax(1).numpy() == labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", action="store_true", help="retrain and overwrite the weights")
    parser.add_argument("--network", choices=network_names(), default=DEFAULT_NETWORK)
    args = parser.parse_args()
    split = load_digits_split()
    if args.train:
        model = train(args.network)
        path = Path(__file__).parent / "weights" / _entry(args.network)[1]
        save(model, path)
        print(f"wrote {path}")
    model = load_bundled(args.network)
    print(f"float ANN test accuracy: "
          f"{100 * ann_accuracy(model, split.test_pixels, split.test_labels):.2f} %")


if __name__ == "__main__":
    main()
