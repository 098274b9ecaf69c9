"""Where dataset files live, how they get there, and what goes wrong: cache folders, download, checksums.

Reading order (data package): **download** -> fashion_mnist -> cifar10 -> batching -> fake.
Read this file first; next read ``fashion_mnist.py``, the simplest reader.

The file a dataset reader opens is always in one folder, its *root*, found from the first of

- ``root=...`` (``--data-dir`` in the examples), if given;
- else the environment variable ``MINIGAN_DATA``, if set;
- else ``~/.cache/minigan/<dataset>``,

where ``<dataset>`` is ``fashion-mnist`` or ``cifar10``. ``root`` and ``MINIGAN_DATA`` mean the same: the
folder that holds the dataset's files, or a folder that holds it as a ``<dataset>`` sub-folder (then
that sub-folder is the root). A folder that holds neither is where a download goes: ``root`` itself,
or ``$MINIGAN_DATA/<dataset>`` (MINIGAN_DATA is a cache for every dataset, like ``~/.cache/minigan``).
The scripts refuse a ``--data-dir`` that does not exist (a typo must not become a new folder); here, in
Python, ``root`` is created for the download. If a file is missing the reader asks ``fetch``
to download it from the publisher (or from a mirror: ``base_url=...``, or ``$MINIGAN_DATA_URL``, a
folder laid out like the cache, i.e. ``$MINIGAN_DATA_URL/fashion-mnist/<file>``).

A download is verified once, at download time. The bytes go to ``<name>.part`` while their MD5 is
computed on the fly; only when the MD5 matches the published one is the file renamed to ``<name>``.
So a file under its final name is either a verified download or a file a person placed there by hand,
and it is never re-hashed or re-downloaded. Hand-placed files are not checked against the published
MD5 on purpose: valid copies differ byte for byte (Debian repacks the Fashion-MNIST gzip headers); the
readers' format checks (magic numbers, sizes, label ranges) catch truncated or damaged files instead.

Every failure ends in an exception that says what happened and how to fix it by hand:
``DatasetError`` (a ValueError) for a bad file, ``DownloadError`` (an OSError) when the network fails,
``FileNotFoundError`` when ``download=False`` and a file is missing.
"""

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

# Publisher details, keyed by the dataset's folder name.
DATASETS = {
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "base_url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "homepage": "https://github.com/zalandoresearch/fashion-mnist",
        "note": "They may be gzipped (as published) or decompressed (the names without .gz).",
        "markers": ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                    "t10k-labels-idx1-ubyte"],   # +".gz": a folder with any of these is the dataset folder
    },
    "cifar10": {
        "title": "CIFAR-10 (binary version)",
        "base_url": "https://www.cs.toronto.edu/~kriz/",
        "homepage": "https://www.cs.toronto.edu/~kriz/cifar.html",
        "note": "Take the BINARY version (not the python or matlab one); the archive may also be "
        "extracted there, as a cifar-10-batches-bin/ folder.",
        "markers": ["cifar-10-binary.tar.gz", "cifar-10-batches-bin", "data_batch_1.bin", "test_batch.bin",
                    "cifar-10-python.tar.gz", "cifar-10-batches-py"],   # the python version: a clear error later
    },
}

# The MD5 sums the publishers list. Tests patch these entries (a value of None skips the check).
CHECKSUMS = {
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {
        "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
    },
}

CHUNK_BYTES = 1 << 20  # read and hash the download 1 MiB at a time


class DatasetError(ValueError):
    """A dataset file is damaged or is not the file it is named after (truncated, wrong magic, ...)."""


class DownloadError(OSError):
    """A download failed (no network, HTTP error, timeout); nothing was left behind."""


def default_root(dataset):
    """The cache folder of a dataset: ``$MINIGAN_DATA/<dataset>`` or ``~/.cache/minigan/<dataset>``."""
    base = os.environ.get("MINIGAN_DATA")
    base = Path(base).expanduser() if base else Path.home() / ".cache" / "minigan"
    return base / dataset


def resolve_root(dataset, root):
    """The folder to read ``dataset`` from: ``root``, else ``$MINIGAN_DATA``, else the cache (see the top)."""
    if root is None:
        cache = os.environ.get("MINIGAN_DATA")
        if cache and holds_dataset(Path(cache).expanduser(), dataset):
            return Path(cache).expanduser()                          # MINIGAN_DATA is the dataset folder
        return default_root(dataset)                                 # <cache>/<dataset>
    folder = Path(root).expanduser()
    if not holds_dataset(folder, dataset) and (folder / dataset).is_dir():
        return folder / dataset                                      # the parent of the dataset folder
    return folder


def holds_dataset(folder, dataset):
    """Whether ``folder`` holds any file (or sub-folder) that belongs to ``dataset``."""
    names = DATASETS[dataset]["markers"]
    return any((Path(folder) / name).exists() or (Path(folder) / (name + ".gz")).exists() for name in names)


def check_split(split):
    """Refuse anything but "train" and "test" with a message that lists both."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def manual_install_help(dataset, root, names):
    """Instructions for placing ``names`` by hand; appended to every download/missing-file error."""
    info = DATASETS[dataset]
    urls = "\n".join(f"    {info['base_url']}{name}" for name in names)
    return (
        f"To install {info['title']} by hand, download\n{urls}\n"
        f"(see {info['homepage']}) and put the file{'s' if len(names) > 1 else ''} in\n    {root}\n"
        f"{info['note']} Any other folder works too: pass it with --data-dir (root=... in "
        f"Python), or set MINIGAN_DATA to a folder that has a '{dataset}' sub-folder."
    )


def missing_files_error(dataset, root, names, note=""):
    """The FileNotFoundError raised when ``download=False`` and files are missing."""
    return FileNotFoundError(
        f"{DATASETS[dataset]['title']}: {', '.join(names)} not found in {root} "
        f"(download=False, so nothing was downloaded).{note}\n"
        + manual_install_help(dataset, root, names)
    )


def file_md5(path):
    """The hex MD5 digest of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def source_url(dataset, name, base_url=None):
    """The URL of one file: ``base_url`` argument > ``$MINIGAN_DATA_URL/<dataset>/`` > publisher."""
    if base_url is None:
        mirror = os.environ.get("MINIGAN_DATA_URL")
        base_url = f"{mirror.rstrip('/')}/{dataset}" if mirror else DATASETS[dataset]["base_url"]
    return f"{base_url.rstrip('/')}/{name}"


def fetch(dataset, name, root, base_url=None, progress=True, timeout=60):
    """Download ``name`` of ``dataset`` into ``root``, verify its MD5, and return its final path.

    Does nothing if ``root / name`` already exists (see the module docstring: verified once).
    """
    root = Path(root)
    dest = root / name
    if dest.exists():
        return dest
    url = source_url(dataset, name, base_url)
    how_to_fix = manual_install_help(dataset, root, [name])
    try:
        root.mkdir(parents=True, exist_ok=True)                      # the cache, or a <dataset> sub-folder
    except OSError as err:
        raise DownloadError(f"cannot create the data folder {root}: {err}.\n{how_to_fix}") from err
    md5 = CHECKSUMS.get(dataset, {}).get(name)
    download_file(url, dest, md5, how_to_fix=how_to_fix, progress=progress, timeout=timeout)
    return dest


def download_file(url, dest, md5, how_to_fix="", progress=True, timeout=60):
    """Stream ``url`` into ``dest.part``, check its MD5, then rename it to ``dest``.

    On any failure the ``.part`` file is deleted and nothing is left under ``dest``:
    a network error raises DownloadError, an MD5 mismatch raises DatasetError.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        digest = _stream_to_file(url, part, progress, timeout)
    except BaseException as err:  # also Ctrl-C: never leave a half-written .part behind
        part.unlink(missing_ok=True)
        if isinstance(err, urllib.error.HTTPError):
            err.close()  # an HTTP error carries the open response; release its socket
        if isinstance(err, (OSError, http.client.HTTPException, ValueError)):
            raise DownloadError(f"could not download {url}: {err}.\n{how_to_fix}") from err
        raise
    if md5 is not None and digest != md5:
        part.unlink(missing_ok=True)
        raise DatasetError(
            f"checksum mismatch for {url}: the downloaded file has MD5 {digest}, the publisher "
            f"lists {md5}. The download was corrupted or the server sent a different file; it was "
            f"deleted. Try again later, or place the file by hand.\n{how_to_fix}"
        )
    os.replace(part, dest)  # atomic: dest appears only once it is complete and verified


def _stream_to_file(url, part, progress, timeout):
    """Copy the response body of ``url`` to ``part`` chunk by chunk; return the body's hex MD5."""
    digest = hashlib.md5()
    with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        with _progress_bar(total, Path(part).stem, progress) as bar:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received != total:
            raise http.client.IncompleteRead(b"", total - received)
    return digest.hexdigest()


class _NoProgress:
    """Stands in for a tqdm bar when tqdm is not installed or progress=False."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n):
        pass


def _progress_bar(total, description, enabled):
    """A tqdm progress bar in bytes, or a silent stand-in (tqdm is optional)."""
    if not enabled:
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoProgress()
    return tqdm(total=total, desc=description, unit="B", unit_scale=True, unit_divisor=1024)
