"""The bundled network: a small ReLU MLP with batch norm for the digits data set.

Regenerate the committed weights (deterministic, CPU, about ten seconds) with:

    python -m golden.network --train
"""
import argparse
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import load_digits_split, pixels_to_input

WEIGHTS = "digits_mlp.npz"
LAYER_SIZES = (64, 64, 32, 10)
TRAIN_SEED = 0


def digits_mlp() -> nn.Sequential:
    """64-64-32-10, Linear + BatchNorm1d + ReLU per hidden layer."""
    layers: list[nn.Module] = [nn.Flatten()]
    for n_in, n_out in zip(LAYER_SIZES[:-2], LAYER_SIZES[1:-1]):
        layers += [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU()]
    layers.append(nn.Linear(LAYER_SIZES[-2], LAYER_SIZES[-1]))
    return nn.Sequential(*layers)


def train(epochs: int = 60, batch: int = 64) -> nn.Sequential:
    torch.manual_seed(TRAIN_SEED)
    torch.use_deterministic_algorithms(True)
    split = load_digits_split()
    x = torch.from_numpy(pixels_to_input(split.train_pixels))
    y = torch.from_numpy(split.train_labels)
    model = digits_mlp()
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


def load_bundled() -> nn.Sequential:
    """The committed, trained digits MLP (eval mode)."""
    model = digits_mlp()
    with resources.files("golden.weights").joinpath(WEIGHTS).open("rb") as f:
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
    args = parser.parse_args()
    split = load_digits_split()
    if args.train:
        model = train()
        path = Path(__file__).parent / "weights" / WEIGHTS
        save(model, path)
        print(f"wrote {path}")
    model = load_bundled()
    print(f"float ANN test accuracy: "
          f"{100 * ann_accuracy(model, split.test_pixels, split.test_labels):.2f} %")


if __name__ == "__main__":
    main()
