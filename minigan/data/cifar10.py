"""CIFAR-10, read from its official *binary* version (never the pickled "python version").

Reading order (data package): download -> fashion_mnist -> **cifar10** -> folder -> batching -> fake.
Next read ``folder.py`` (your own images), then ``batching.py``.

CIFAR-10 (Krizhevsky, 2009) has 50,000 training and 10,000 test colour images, 32x32, in 10 classes
of 5,000 / 1,000 images each. The binary version is one archive, ``cifar-10-binary.tar.gz``, holding::

    cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin   (training, 10,000 records each)
    cifar-10-batches-bin/test_batch.bin                          (test, 10,000 records)

Each record is 3,073 bytes: 1 label byte, then 3,072 pixel bytes = 1,024 red, 1,024 green, 1,024 blue,
each plane a 32x32 image stored row by row. So a whole batch file is one uint8 array of shape
(N, 3073), and one ``reshape`` + ``transpose`` turns it into images (no loop over records)::

    records = frombuffer(file_bytes).reshape(N, 3073)
    labels  = records[:, 0]                                        # (N,)
    images  = records[:, 1:].reshape(N, 3, 32, 32)                 # (N, C, H, W): planes as stored
                            .transpose(0, 2, 3, 1)                 # (N, H, W, C): the usual image layout

The reader takes either the extracted folder ``root/cifar-10-batches-bin/`` (or ``root`` itself holding
the ``.bin`` files) or the archive ``root/cifar-10-binary.tar.gz``, which it streams member by member
with ``tarfile`` without extracting anything to disk.
"""

import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from minigan.data.download import (
    DatasetError,
    check_split,
    fetch,
    manual_install_help,
    missing_files_error,
    resolve_root,
)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

ARCHIVE = "cifar-10-binary.tar.gz"
FOLDER = "cifar-10-batches-bin"
IMAGE_SHAPE = (32, 32, 3)
RECORD_BYTES = 1 + 3 * 32 * 32  # 1 label byte + 3072 pixel bytes = 3073

SPLIT_FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}


def load_cifar10(root=None, split="train", download=True, base_url=None):
    """Load one split of CIFAR-10 from the binary version.

    Args:
        root: folder holding ``cifar-10-binary.tar.gz`` or ``cifar-10-batches-bin/``
            (default: the cache folder, see ``download.py``).
        split: "train" (50,000 images) or "test" (10,000 images).
        download: fetch the archive from the publisher if neither is there (else FileNotFoundError).
        base_url: download from this folder URL instead of the publisher's (a mirror, a test server).

    Returns:
        images: uint8 array (N, 32, 32, 3), channels R, G, B.
        labels: int64 array (N,), values 0..9, names in ``CIFAR10_CLASSES``.
    """
    check_split(split)
    root = resolve_root("cifar10", root)
    names = SPLIT_FILES[split]
    folder = find_batch_folder(root, names)
    if folder is not None:
        blobs = [(folder / name, _read_bytes(folder / name)) for name in names]
    else:
        archive = root / ARCHIVE
        if not archive.is_file():
            if not download:
                raise missing_files_error("cifar10", root, [ARCHIVE], _python_version_note(root))
            archive = fetch("cifar10", ARCHIVE, root, base_url)
        members = read_tar_members(archive, names)
        blobs = [(f"{archive} (member {FOLDER}/{name})", data) for name, data in members]

    parsed = [parse_batch(data, source, root) for source, data in blobs]
    labels = np.concatenate([batch_labels for _, batch_labels in parsed])  # (N,)
    images = np.empty((len(labels), *IMAGE_SHAPE), dtype=np.uint8)  # (N, 32, 32, 3), C-contiguous
    start = 0
    for batch_images, _ in parsed:  # one strided copy per batch file (5 at most), not per record
        images[start : start + len(batch_images)] = batch_images
        start += len(batch_images)
    return images, labels


def find_batch_folder(root, names):
    """The folder holding all ``names`` (``root/cifar-10-batches-bin`` or ``root``), else None."""
    for folder in (Path(root) / FOLDER, Path(root)):
        if all((folder / name).is_file() for name in names):
            return folder
    return None


def parse_batch(data, source="<bytes>", root=None):
    """Turn the bytes of one binary batch file into (images (n, 32, 32, 3) view, labels (n,) int64).

    ``source`` names the file and ``root`` its data folder in error messages.
    """
    if len(data) == 0 or len(data) % RECORD_BYTES != 0:
        raise _bad_file(
            source,
            f"has {len(data)} bytes, not a whole number of {RECORD_BYTES}-byte records "
            "(1 label byte + 3072 pixel bytes): it is truncated or not a CIFAR-10 binary batch",
            root,
        )
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)  # (n, 3073)
    labels = records[:, 0].astype(np.int64)  # (n,)
    if labels.max() >= len(CIFAR10_CLASSES):
        raise _bad_file(source, f"holds label {labels.max()}; CIFAR-10 labels are 0..9", root)
    images = records[:, 1:].reshape(-1, 3, 32, 32)  # (n, C, H, W): R, G, B planes as stored
    return images.transpose(0, 2, 3, 1), labels  # (n, H, W, C)


def read_tar_members(archive, names):
    """Stream ``archive`` (tar.gz) and return [(name, bytes)] of ``FOLDER/name`` for each of ``names``.

    Reads members in archive order and stops once all are found; extracts nothing to disk. Refuses
    members whose path is absolute or contains ``..``, and links, as signs of a wrong or hostile file.
    """
    wanted = {f"{FOLDER}/{name}": name for name in names}
    found = {}
    with open(archive, "rb") as f:  # opened here, so an OSError below means a damaged archive
        try:
            with tarfile.open(fileobj=f, mode="r:gz") as tar:
                for member in tar:
                    _check_member(member, archive)
                    path = str(PurePosixPath(member.name))  # "./a//b" -> "a/b"
                    if path in wanted:
                        if not member.isfile():
                            raise _unsafe_member(archive, member.name, "is not a regular file")
                        found[wanted[path]] = tar.extractfile(member).read()
                        if len(found) == len(wanted):
                            break
        except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
            raise _bad_file(
                archive, f"is not a readable tar.gz archive ({type(err).__name__}: {err})"
            ) from err
    missing = [f"{FOLDER}/{name}" for name in names if name not in found]
    if missing:
        raise _bad_file(
            archive,
            f"lacks the members {', '.join(missing)}; it is not the binary version of CIFAR-10 "
            "(the python and matlab versions use other names)",
        )
    return [(name, found[name]) for name in names]


def _check_member(member, archive):
    """Refuse absolute paths, ``..`` components and links (nothing is extracted, but they mean trouble)."""
    parts = PurePosixPath(member.name).parts
    if member.name.startswith(("/", "\\")) or (parts and parts[0].endswith(":")):
        raise _unsafe_member(archive, member.name, "has an absolute path")
    if ".." in parts:
        raise _unsafe_member(archive, member.name, "has a '..' component that points outside the archive")
    if member.issym() or member.islnk():
        raise _unsafe_member(archive, member.name, f"is a link (to {member.linkname!r})")


def _read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _python_version_note(root):
    """A hint when the user has the pickled python version instead of the binary one."""
    if (Path(root) / "cifar-10-python.tar.gz").exists() or (Path(root) / "cifar-10-batches-py").exists():
        return (" Found the *python* version of CIFAR-10 there; minigan reads only the binary version "
                "(it never unpickles files).")
    return ""


def _how_to_fix(root):
    return (
        "Delete it and run again to download a fresh copy, or replace it by hand.\n"
        + manual_install_help("cifar10", root, [ARCHIVE])
    )


def _bad_file(source, problem, root=None):
    """A DatasetError that names the file, the problem and the fix."""
    root = root if root is not None else Path(source).parent
    return DatasetError(f"CIFAR-10 file {source} {problem}. {_how_to_fix(root)}")


def _unsafe_member(archive, name, problem):
    return DatasetError(
        f"refusing CIFAR-10 archive {archive}: member {name!r} {problem}. The official archive holds "
        f"only regular files under {FOLDER}/, so this is not it. {_how_to_fix(Path(archive).parent)}"
    )
