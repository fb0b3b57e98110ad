"""The bundled data set: scikit-learn's 8x8 digits (shipped inside the package, no download).

Pixels reach the hardware as 8-bit unsigned values. The digits are 0..16 grey levels; they
are scaled to 0..255 once here, and every model (ANN and SNN) sees `pixel / 256`, which is
exactly the value of the pixel's 8 bits read as a binary fraction (MSB = 1/2).
"""
from dataclasses import dataclass

import numpy as np

TEST_FRACTION = 0.2
SPLIT_SEED = 0
PIXEL_BITS = 8


@dataclass(frozen=True)
class Split:
    train_pixels: np.ndarray   # uint8, (n, 64)
    train_labels: np.ndarray   # int64, (n,)
    test_pixels: np.ndarray
    test_labels: np.ndarray


def pixels_to_input(pixels: np.ndarray) -> np.ndarray:
    """ANN input for uint8 pixels: pixel / 2^8, the binary fraction the input spikes encode."""
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
    return Split(tr_x, tr_y, te_x, te_y)


def check_images(images: np.ndarray, n_inputs: int = 64, source: str = "images") -> np.ndarray:
    """Validate user images: uint8, shape (n, 8, 8) or (n, 64). Returns (n, 64) uint8."""
    if not isinstance(images, np.ndarray):
        raise ValueError(f"{source}: expected a NumPy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: pixels must be uint8 (0..255), got dtype {images.dtype}")
    side = int(round(n_inputs ** 0.5))
    if images.ndim == 3 and images.shape[1:] == (side, side):
        images = images.reshape(images.shape[0], n_inputs)
    if images.ndim != 2 or images.shape[1] != n_inputs:
        raise ValueError(f"{source}: shape must be (n, {side}, {side}) or (n, {n_inputs}), "
                         f"got {images.shape}")
    if images.shape[0] == 0:
        raise ValueError(f"{source}: holds no images")
    return images
