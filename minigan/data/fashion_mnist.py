"""Fashion-MNIST, read from its four official IDX files.

Reading order (data package): download -> **fashion_mnist** -> cifar10 -> batching -> fake.
Next read ``cifar10.py``.

Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017) has 60,000 training and 10,000 test images of clothes,
28x28 grayscale, in 10 classes of 6,000 / 1,000 images each. It is published as four files::

    train-images-idx3-ubyte.gz   train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz    t10k-labels-idx1-ubyte.gz

The IDX format (from LeCun's MNIST page) is a big-endian header followed by the raw array::

    bytes 0-3    magic number: 0x00 0x00 <type> <ndim>; type 0x08 = unsigned byte
                 -> 0x00000803 = 2051 for the images (3 dims), 0x00000801 = 2049 for the labels (1 dim)
    bytes 4-...  ndim sizes, each a big-endian uint32: (N, 28, 28) or (N,)
    then         prod(sizes) unsigned bytes, row-major

The files may be gzipped (as published) or already decompressed (the same names without ``.gz``);
the reader looks at the first two bytes (gzip files start with 0x1f 0x8b), not at the name.
"""

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from minigan.data.download import (
    DatasetError,
    check_split,
    fetch,
    manual_install_help,
    missing_files_error,
    resolve_root,
)

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
IMAGE_SIZE = 28

# split -> (images file, labels file), without the ".gz"
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def load_fashion_mnist(root=None, split="train", download=True, base_url=None):
    """Load one split of Fashion-MNIST.

    Args:
        root: folder holding the IDX files (default: the cache folder, see ``download.py``).
        split: "train" (60,000 images) or "test" (10,000 images).
        download: fetch missing files from the publisher (else raise FileNotFoundError).
        base_url: download from this folder URL instead of the publisher's (a mirror, a test server).

    Returns:
        images: uint8 array (N, 28, 28), 0 = background, 255 = brightest.
        labels: int64 array (N,), values 0..9, names in ``FASHION_MNIST_CLASSES``.
    """
    check_split(split)
    root = resolve_root("fashion-mnist", root)
    names = SPLIT_FILES[split]
    paths = {name: find_idx_file(root, name) for name in names}
    missing = [name + ".gz" for name, path in paths.items() if path is None]
    if missing and not download:
        raise missing_files_error("fashion-mnist", root, missing)
    for name in missing:  # only the files of this split, only those not there yet
        paths[name[: -len(".gz")]] = fetch("fashion-mnist", name, root, base_url)

    images = read_idx(paths[names[0]], IMAGE_MAGIC)  # (N, 28, 28)
    labels = read_idx(paths[names[1]], LABEL_MAGIC)  # (N,)
    _check_pair(images, labels, paths[names[0]], paths[names[1]])
    return images, labels.astype(np.int64)


def find_idx_file(root, name):
    """``root/name.gz`` if it exists, else ``root/name`` (decompressed), else None."""
    for candidate in (Path(root) / (name + ".gz"), Path(root) / name):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path, expected_magic):
    """Read an IDX file (gzipped or not) into a writable uint8 array, checking header and size."""
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":  # gzip magic bytes
        try:
            raw = gzip.decompress(raw)
        except (gzip.BadGzipFile, EOFError, zlib.error) as err:
            raise _bad_file(path, f"is a damaged gzip file ({type(err).__name__}: {err})") from err
    return parse_idx(raw, expected_magic, path)


def parse_idx(raw, expected_magic, source="<bytes>"):
    """Turn the bytes of an IDX file into an array; ``source`` names the file in error messages."""
    kind = "images" if expected_magic == IMAGE_MAGIC else "labels"
    if len(raw) < 4:
        raise _bad_file(source, f"is truncated: {len(raw)} bytes, not even an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected_magic:
        raise _bad_file(
            source,
            f"is not an IDX {kind} file: magic number {magic} (0x{magic:08x}), expected "
            f"{expected_magic} (0x{expected_magic:08x})",
        )
    ndim = magic & 0xFF
    header_bytes = 4 + 4 * ndim
    if len(raw) < header_bytes:
        raise _bad_file(source, f"is truncated inside its header ({len(raw)} of {header_bytes} bytes)")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected_bytes = header_bytes + math.prod(shape)  # Python ints: no int64 overflow on a bogus header
    if len(raw) != expected_bytes:
        problem = "is truncated" if len(raw) < expected_bytes else "has extra bytes at the end"
        raise _bad_file(
            source,
            f"{problem}: its header says {kind} of shape {shape}, i.e. {expected_bytes} bytes, "
            f"but it has {len(raw)} bytes",
        )
    if kind == "images" and shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise _bad_file(source, f"holds images of {shape[1:]} pixels, Fashion-MNIST has 28x28")
    array = np.frombuffer(raw, dtype=np.uint8, offset=header_bytes)  # read-only view of the bytes
    return array.reshape(shape).copy()  # (N, 28, 28) or (N,), writable


def _check_pair(images, labels, image_path, label_path):
    """Images and labels must match in count; labels must be class indices 0..9."""
    if len(images) != len(labels):
        raise _bad_file(
            image_path,
            f"holds {len(images)} images but {label_path.name} holds {len(labels)} labels; "
            "the two files come from different splits or versions",
        )
    if len(labels) and labels.max() >= len(FASHION_MNIST_CLASSES):
        raise _bad_file(label_path, f"holds label {labels.max()}; Fashion-MNIST labels are 0..9")


def _bad_file(path, problem):
    """A DatasetError that names the file, the problem, and the fix."""
    path = Path(path)
    published_name = path.name if path.name.endswith(".gz") else path.name + ".gz"
    return DatasetError(
        f"Fashion-MNIST file {path} {problem}. Delete it and run again to download a fresh copy, "
        f"or replace it by hand.\n" + manual_install_help("fashion-mnist", path.parent, [published_name])
    )
