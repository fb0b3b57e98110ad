"""Is a user's model given the input contract it was trained on?

A model trained on torchvision's `Normalize(0.1307, 0.3081)` but built without
`--input-mean/--input-std` still classifies most images (88.8 % instead of 91.8 % in the
case that prompted this check), and the SNN follows the float model down, so nothing
looks wrong. `check_contract` scores the float model on a bounded sample of training
images (no conversion) under the contract given and under the likely others:

- the data's own statistics: per-channel mean and std of pixel/255 over x_train;
- the usual ones for the input: pixel/255 (torchvision's `ToTensor`, the default),
  mean 0.5 / std 0.5, MNIST's for one channel of 28x28, CIFAR-10's for 3x32x32,
  ImageNet's for three channels.

It warns when another contract is clearly better (`clearly_better`): at least
`MIN_GAIN_POINTS` points more on the sample, and a gain that the images on which the two
disagree would not give by chance (a sign test at `MIN_Z` standard deviations). The
warning names the options that give that contract.
"""
import math
from dataclasses import dataclass

import numpy as np

from .data import InputContract

SAMPLE_IMAGES = 2000        # training images scored per contract (a seeded random draw)
SAMPLE_SEED = 0
# 2 points: a loss a user cares about (the reported case lost 3), and more than the
# accuracy moves between near-equivalent contracts (the data's own statistics against the
# data set's published ones score alike: tests/test_input_contract.py).
MIN_GAIN_POINTS = 2.0
# The gain must also stand out of the images the two contracts classify differently: if
# either were as good, each such image would go one way or the other as a coin falls, and
# the net gain would reach 3 standard deviations (sqrt of their count) about once in 700.
# On a small sample this asks for at least 9 images, not 2 points' worth.
MIN_Z = 3.0
PIXEL_SCALE = 255.0
DEFAULT = InputContract()
# (whose, mean, std) with the image shapes they apply to
MNIST = ("MNIST's", (0.1307,), (0.3081,))
CIFAR10 = ("CIFAR-10's", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET = ("ImageNet's", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
HALF = ("mean 0.5, std 0.5", (0.5,), (0.5,))


def channels_of(image_shape: tuple) -> int:
    return image_shape[0] if len(image_shape) == 3 else 1


def data_contract(pixels: np.ndarray, image_shape: tuple, decimals: int = 4):
    """The data's own contract: per-channel mean and std of pixel/255 over `pixels` (flat
    uint8, all of them, in chunks), rounded; None if a channel is constant."""
    channels = channels_of(image_shape)
    total, squares = np.zeros(channels), np.zeros(channels)
    for start in range(0, len(pixels), 1024):
        chunk = pixels[start:start + 1024]
        values = chunk.reshape(len(chunk), channels, -1).astype(np.float64) / PIXEL_SCALE
        total += values.sum((0, 2))
        squares += np.square(values).sum((0, 2))
    count = pixels.size // channels
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 0.0))
    mean, std = np.round(mean, decimals), np.round(std, decimals)
    if not (std > 0).all():
        return None
    return InputContract(PIXEL_SCALE, tuple(mean.tolist()), tuple(std.tolist()))


def usual_contracts(image_shape: tuple) -> list[tuple[str, InputContract]]:
    """(whose, contract) of the contracts usual for images of `image_shape`."""
    channels, size = channels_of(image_shape), int(np.prod(image_shape))
    usual = [("pixel/255 (the default)", DEFAULT)]
    named = [HALF]
    if channels == 1 and size == 28 * 28:
        named.append(MNIST)
    if tuple(image_shape) == (3, 32, 32):
        named.append(CIFAR10)
    if channels == 3:
        named.append(IMAGENET)
    return usual + [(whose, InputContract(PIXEL_SCALE, mean, std)) for whose, mean, std in named]


def model_input_text(contract: InputContract, channels: int) -> str:
    """What the model takes, as a formula: `pixel/255` or `(pixel/255 - 0.1307) / 0.3081`."""
    mean, std = contract.per_channel(channels)
    scale = f"pixel/{contract.scale:g}"
    if not mean.any() and (std == 1).all():
        return scale
    return f"({scale} - {_values(mean, ', ', '(')}) / {_values(std, ', ', '(')}"


def options_text(contract: InputContract) -> str:
    """The flows.build options that give `contract` (the API's keywords for a scale the
    command line does not take)."""
    if contract.scale != PIXEL_SCALE:
        return (f"input_scale={contract.scale:g}, input_mean={_values(contract.mean, ',')}, "
                f"input_std={_values(contract.std, ',')} (flows.design.convert)")
    if _same(contract, DEFAULT, max(len(contract.mean), len(contract.std))):
        return "no --input-mean/--input-std"
    return (f"--input-mean {_values(contract.mean, ',')} "
            f"--input-std {_values(contract.std, ',')}")


def _values(values, separator: str, bracket: str = "") -> str:
    text = separator.join(f"{float(v):g}" for v in values)
    return f"({text})" if bracket and len(values) > 1 else text


def _same(a: InputContract, b: InputContract, channels: int) -> bool:
    return a.scale == b.scale and all(np.allclose(x, y, atol=5e-5) for x, y in
                                      zip(a.per_channel(channels), b.per_channel(channels)))


def clearly_better(given_right: np.ndarray, other_right: np.ndarray) -> bool:
    """Whether the other contract's correct classifications (bool per image) clearly beat
    the given one's: `MIN_GAIN_POINTS` more, and `MIN_Z` sign-test deviations."""
    gain = int(other_right.sum()) - int(given_right.sum())
    differing = int((given_right != other_right).sum())
    return 100 * gain / len(given_right) >= MIN_GAIN_POINTS and gain >= MIN_Z * math.sqrt(
        differing)


@dataclass(frozen=True)
class ContractCheck:
    """The float model's accuracy on `images` training images under each contract tried
    (`scores`: whose, model input, options, percent; the given one first) and the warning,
    or None when no contract is clearly better than the given one."""
    images: int
    scores: list
    warning: str | None

    def describe(self) -> dict:
        return {"training_images": self.images, "scores": self.scores,
                "warning": self.warning}


def sample(count: int, limit: int = SAMPLE_IMAGES) -> np.ndarray:
    """Indices of at most `limit` of `count` images, seeded and spread over all of them
    (training sets are often sorted by class)."""
    if count <= limit:
        return np.arange(count)
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(count, limit, replace=False))


def check_contract(classify, pixels: np.ndarray, labels: np.ndarray, image_shape: tuple,
                   given: InputContract, explicit: bool,
                   limit: int = SAMPLE_IMAGES) -> ContractCheck:
    """Score `classify(pixels, contract) -> classes` (the float model) on at most `limit`
    of the training `pixels` under the `given` contract (`explicit`: the user gave it)
    and under the data's and the usual contracts; warn if the best of them (the first
    in that order on a tie) is clearly better."""
    channels = channels_of(image_shape)
    given.per_channel(channels)                  # a wrong count of values: DataError now
    chosen = sample(len(pixels), limit)
    images, truth = pixels[chosen], labels[chosen]
    candidates = [("the data's own statistics", data_contract(pixels, image_shape))]
    candidates += usual_contracts(image_shape)
    tried = [("as given" if explicit else "as given (the default)", given)]
    for whose, contract in candidates:
        if contract is not None and not any(_same(contract, c, channels) for _, c in tried):
            tried.append((whose, contract))
    right = [classify(images, contract) == truth for _, contract in tried]
    scores = [{"contract": whose, "model_input": model_input_text(contract, channels),
               "options": options_text(contract), "percent": round(100 * float(r.mean()), 2)}
              for (whose, contract), r in zip(tried, right)]
    best = max(range(1, len(tried)), key=lambda i: right[i].sum(), default=None)
    warning = None
    if best is not None and clearly_better(right[0], right[best]):
        given_score, best_score = scores[0], scores[best]
        warning = (f"input contract: the float model scores {given_score['percent']:g} % on "
                   f"{len(chosen)} training images as given ({given_score['model_input']}, "
                   f"{given_score['options']}) but {best_score['percent']:g} % under "
                   f"{tried[best][0]}, {best_score['model_input']}: if it was trained on "
                   f"that, build with {best_score['options']}")
    return ContractCheck(len(chosen), scores, warning)


def contract_record(contract: InputContract, image_shape: tuple, given_by: str,
                    check: ContractCheck | None = None) -> dict:
    """report.json's `input_contract`: what the float model takes, who said so, and the
    check's scores and warning (a user's model; None for a bundled one)."""
    channels = channels_of(image_shape)
    mean, std = contract.per_channel(channels)
    return {"model_input": model_input_text(contract, channels), "scale": contract.scale,
            "mean": mean.tolist(), "std": std.tolist(), "given_by": given_by,
            "check": None if check is None else check.describe()}
