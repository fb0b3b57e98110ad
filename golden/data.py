"""Data sets and the input contract.

Pixels reach the hardware as 8-bit unsigned values, one image as C·H·W pixels in
channel-major, row-major order (channel 0's rows first). Inside the toolkit every float
layer sees `pixel / 256`, exactly the value of the pixel's 8 bits read as a binary fraction
(MSB = 1/2); a model trained on another scale (`pixel / 255`, torchvision's `ToTensor`) or
normalised (`Normalize(mean, std)`) gets that affine map folded into its first layer
(`golden.convert.fold_input_contract`), so the hardware still takes raw pixels.

Bundled: scikit-learn's 8x8 digits (shipped inside scikit-learn) and a 5,000-image MNIST
subset (golden/datasets/, provenance and licence in its README). A user's data is an
`.npz` with x_train, y_train, x_test, y_test (`load_npz`).
"""
import zipfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

TEST_FRACTION = 0.2
SPLIT_SEED = 0
PIXEL_BITS = 8
DATA_KEYS = ("x_train", "y_train", "x_test", "y_test")
ZIP_MAGIC = b"PK\x03\x04"


class DataError(ValueError):
    """Data the toolkit cannot use, with the file and the array at fault."""


@dataclass(frozen=True)
class Split:
    train_pixels: np.ndarray   # uint8, (n, C·H·W): the calibration / fine-tuning set
    train_labels: np.ndarray   # int64, (n,)
    test_pixels: np.ndarray    # uint8, (n, C·H·W): every accuracy in the reports
    test_labels: np.ndarray
    image_shape: tuple = (1, 8, 8)   # per image: (C, H, W), or (features,)


@dataclass(frozen=True)
class InputContract:
    """What the float model was trained on: x = (pixel / scale - mean[c]) / std[c]."""
    scale: float = 255.0
    mean: tuple = (0.0,)
    std: tuple = (1.0,)

    def __post_init__(self):
        if not self.scale > 0 or not all(s > 0 for s in self.std):
            raise DataError(f"input contract: scale and std must be positive "
                            f"(scale {self.scale}, std {self.std})")
        if len(self.mean) != len(self.std) and 1 not in (len(self.mean), len(self.std)):
            raise DataError(f"input contract: {len(self.mean)} means and {len(self.std)} stds; "
                            "give one value or one per channel")

    def per_channel(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        mean = np.broadcast_to(np.asarray(self.mean, np.float64), (max(len(self.mean), 1),))
        std = np.asarray(self.std, np.float64)
        for name, values in (("--input-mean", mean), ("--input-std", std)):
            if len(values) not in (1, channels):
                raise DataError(f"{name}: {len(values)} values for an input of {channels} "
                                "channels; give one value or one per channel")
        return np.broadcast_to(mean, (channels,)), np.broadcast_to(std, (channels,))

    @property
    def is_pixel_fraction(self) -> bool:
        """True when the model already takes pixel / 256: nothing to fold."""
        return self.scale == 1 << PIXEL_BITS and set(self.mean) <= {0.0} and \
            set(self.std) <= {1.0}

    def model_input(self, pixels: np.ndarray, image_shape: tuple) -> np.ndarray:
        """Float32 model input for flat uint8 pixels (n, C·H·W)."""
        channels = image_shape[0] if len(image_shape) == 3 else 1
        mean, std = self.per_channel(channels)
        x = pixels.reshape(len(pixels), channels, -1).astype(np.float64) / self.scale
        x = (x - mean[None, :, None]) / std[None, :, None]
        return x.reshape(len(pixels), -1).astype(np.float32)


PIXEL_FRACTION = InputContract(scale=float(1 << PIXEL_BITS))   # the digits networks' contract


def pixels_to_input(pixels: np.ndarray) -> np.ndarray:
    """Float layer input for uint8 pixels: pixel / 2^8, the binary fraction the input
    spikes encode."""
    return pixels.astype(np.float32) / (1 << PIXEL_BITS)


def load_digits_split() -> Split:
    """The fixed train/test split (test 20 %, seeded, stratified) of the digits data set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    pixels = np.rint(digits.data * 255.0 / 16.0).astype(np.uint8)
    labels = digits.target.astype(np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(
        pixels, labels, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels)
    return Split(tr_x, tr_y, te_x, te_y, (1, 8, 8))


def load_mnist_split() -> Split:
    """The bundled 5,000-image MNIST subset (28x28), split as golden/datasets/README.md says."""
    with resources.files("golden.datasets").joinpath("mnist_5k.npz").open("rb") as f:
        return _split_from_arrays(np.load(f, allow_pickle=False), "mnist_5k.npz")


DATASETS = {"digits": load_digits_split, "mnist": load_mnist_split}
DATASET_INPUTS = {"digits": 64, "mnist": 784}        # values per image, without loading
assert DATASET_INPUTS.keys() == DATASETS.keys(), "every data set needs its input count"


def image_shape_of(images: np.ndarray) -> tuple:
    """Per-image shape (C, H, W) or (features,) of (n, H, W), (n, C, H, W) or (n, features)."""
    if images.ndim == 3:
        return (1, *images.shape[1:])
    return tuple(images.shape[1:])


def _split_from_arrays(arrays, source: str) -> Split:
    missing = [k for k in DATA_KEYS if k not in arrays]
    if missing:
        raise DataError(f"{source}: missing {', '.join(missing)} (an .npz for --data holds "
                        f"{', '.join(DATA_KEYS)})")
    parts = {}
    for part in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{part}"]), np.asarray(arrays[f"y_{part}"])
        where = f"{source}: x_{part}"
        if x.dtype != np.uint8:
            raise DataError(f"{where}: pixels must be uint8 (0..255), not {x.dtype}")
        if x.ndim not in (2, 3, 4):
            raise DataError(f"{where}: shape {x.shape}; expected (n, H, W), (n, C, H, W) or "
                            "(n, features)")
        if len(x) == 0:
            raise DataError(f"{where}: holds no images")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{source}: y_{part} must be a 1-D array of integer labels, not "
                            f"{y.dtype} of shape {y.shape}")
        if len(y) != len(x):
            raise DataError(f"{source}: {len(x)} images in x_{part} but {len(y)} labels in "
                            f"y_{part}")
        if (y < 0).any():
            raise DataError(f"{source}: y_{part} holds negative labels")
        parts[part] = (x, y.astype(np.int64))
    shapes = {part: image_shape_of(x) for part, (x, _) in parts.items()}
    if shapes["train"] != shapes["test"]:
        raise DataError(f"{source}: train images are {shapes['train']}, test images "
                        f"{shapes['test']}; they must have one shape")
    (tr_x, tr_y), (te_x, te_y) = parts["train"], parts["test"]
    return Split(tr_x.reshape(len(tr_x), -1), tr_y, te_x.reshape(len(te_x), -1), te_y,
                 shapes["train"])


def load_npz(path) -> Split:
    """A user's data set: .npz with x_train, y_train, x_test, y_test (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"--data {path}: no such file")
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head != ZIP_MAGIC:
        kind = "a single .npy array" if head == b"\x93NUM" else \
            "empty (0 bytes)" if not head else "not a zip archive"
        raise DataError(f"--data {path}: {kind}, not an .npz archive with "
                        f"{', '.join(DATA_KEYS)}; write it with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return _split_from_arrays({k: arrays[k] for k in arrays.files}, f"--data {path}")
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise DataError(f"--data {path}: not a readable .npz archive ({error})") from None
    except ValueError as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"--data {path}: cannot read it without unpickling ({error}); save "
                        "plain numeric arrays with numpy.savez") from None


def check_images(images: np.ndarray, image_shape: tuple = (1, 8, 8),
                 source: str = "images") -> np.ndarray:
    """Validate user images against the network's input: uint8, (n, *image_shape), (n, H, W)
    for one channel, or flat (n, C·H·W). Returns flat (n, C·H·W) uint8."""
    if not isinstance(images, np.ndarray):
        raise DataError(f"{source}: expected a NumPy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise DataError(f"{source}: pixels must be uint8 (0..255), got dtype {images.dtype}")
    size = int(np.prod(image_shape))
    accepted = [tuple(image_shape), (size,)]
    if len(image_shape) == 3 and image_shape[0] == 1:
        accepted.insert(1, tuple(image_shape[1:]))
    if images.ndim < 1 or tuple(images.shape[1:]) not in accepted:
        shapes = " or ".join("(n, " + ", ".join(map(str, s)) + ")" for s in accepted)
        raise DataError(f"{source}: shape must be {shapes}, got {images.shape}")
    if images.shape[0] == 0:
        raise DataError(f"{source}: holds no images")
    return images.reshape(images.shape[0], size)
