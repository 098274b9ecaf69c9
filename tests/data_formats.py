"""Write small datasets in the publishers' file formats, for the data tests (no real data needed).

The writers are deliberately independent of ``minigan.data``: they build the bytes from the format
descriptions (IDX header + raw bytes; CIFAR-10 records of 1 label byte + R, G, B planes), so a reader
bug cannot cancel out a writer bug.
"""

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np

FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FOLDER = "cifar-10-batches-bin"
CIFAR_ARCHIVE = "cifar-10-binary.tar.gz"
CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))


def idx_bytes(array, magic=None):
    """The bytes of an IDX file holding a uint8 ``array``: magic, big-endian sizes, raw data."""
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim  # type 0x08 = unsigned byte
    header = magic.to_bytes(4, "big") + b"".join(s.to_bytes(4, "big") for s in array.shape)
    return header + array.tobytes()


def write_bytes(path, data, compress):
    """Write ``data`` to ``path`` (+ ".gz" and gzipped if ``compress``); return the path written."""
    path = Path(str(path) + ".gz") if compress else Path(path)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def random_fmnist(n, seed):
    """(images uint8 (n, 28, 28), labels int64 (n,)) of random values."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def write_fmnist(root, split="train", n=7, seed=0, compress=True):
    """Write one split of a tiny Fashion-MNIST into ``root``; return (images, labels) written."""
    Path(root).mkdir(parents=True, exist_ok=True)
    images, labels = random_fmnist(n, seed)
    image_name, label_name = FMNIST_FILES[split]
    write_bytes(Path(root) / image_name, idx_bytes(images), compress)
    write_bytes(Path(root) / label_name, idx_bytes(labels), compress)
    return images, labels


def random_cifar(n, seed):
    """(images uint8 (n, 32, 32, 3), labels int64 (n,)) of random values."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def cifar_batch_bytes(images, labels):
    """The bytes of a CIFAR-10 binary batch, written record by record as the format describes."""
    out = bytearray()
    for image, label in zip(images, labels):
        out.append(int(label))
        for channel in range(3):  # R plane, then G, then B; each 32 rows of 32 pixels
            out += image[:, :, channel].tobytes()
    return bytes(out)


def cifar_batches(per_batch=3, seed=0):
    """{file name: (images, labels)} for the five training batches and the test batch."""
    names = (*CIFAR_TRAIN, "test_batch.bin")
    return {name: random_cifar(per_batch, seed + i) for i, name in enumerate(names)}


def write_cifar_folder(root, batches):
    """Write ``batches`` as ``root/cifar-10-batches-bin/*.bin``."""
    folder = Path(root) / CIFAR_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in batches.items():
        (folder / name).write_bytes(cifar_batch_bytes(images, labels))


def write_cifar_tar(path, batches, extra_members=()):
    """Write ``batches`` as a tar.gz like the official one; ``extra_members`` go first.

    ``extra_members``: (name, bytes) for regular files, or (name, "symlink", target) for links.
    """
    with tarfile.open(path, "w:gz") as tar:
        for member in extra_members:
            info = tarfile.TarInfo(member[0])
            if len(member) == 3:
                info.type, info.linkname = tarfile.SYMTYPE, member[2]
                tar.addfile(info)
            else:
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
        folder = tarfile.TarInfo(CIFAR_FOLDER)
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, (images, labels) in batches.items():
            data = cifar_batch_bytes(images, labels)
            info = tarfile.TarInfo(f"{CIFAR_FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return Path(path)


def expected_cifar(batches, split):
    """The (images, labels) a reader must return for ``split`` of ``batches``."""
    names = CIFAR_TRAIN if split == "train" else ("test_batch.bin",)
    return (np.concatenate([batches[n][0] for n in names]),
            np.concatenate([batches[n][1] for n in names]))
