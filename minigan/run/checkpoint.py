"""Saving and loading training state: one ``.npz`` file, JSON metadata, atomic writes, no pickle.

Reading order: ... nn -> optim -> models -> training -> **checkpoint** -> metrics.
``training.py`` calls this module; next read ``metrics.py``.

The file format
---------------
A checkpoint is a NumPy ``.npz`` archive (a zip file with one ``.npy`` file per array)::

    G/fc.weight.npy      one entry per array; the key prefixes ("G/", "D/", "optG/", ...) come from
    D/conv1.weight.npy   flatten_state() and let several state dicts share one file
    ...
    __meta__.json.npy    the metadata: utf-8 bytes of json.dumps(meta), stored as a uint8 array

``meta`` is anything JSON can hold (epoch, step, config, losses, the RNG state). Two entries are added:
``minigan_format = "minigan-checkpoint"`` and ``format_version = FORMAT_VERSION``. JSON turns tuples
into lists and dict keys into strings; that is the price of a format any tool can read.

Why no pickle
-------------
Unpickling runs code chosen by whoever wrote the file, so loading a checkpoint downloaded from the
internet could run anything. Plain arrays and JSON cannot. ``np.load(..., allow_pickle=False)`` refuses
object arrays, and so do we when saving.

Why atomic
----------
Training runs get killed (pre-emption, Ctrl-C, out of memory) - sometimes in the middle of writing a
checkpoint. We write to a temporary file next to the target, flush it to disk, and ``os.replace`` it
onto the final name. ``os.replace`` is atomic: the final name holds either the old complete file or the
new complete file, never half of one.
"""

import json
import os
import zipfile
import zlib

import numpy as np

from minigan.backend import to_numpy

FORMAT_VERSION = 1
FORMAT_NAME = "minigan-checkpoint"
META_KEY = "__meta__.json"

# What a damaged archive can raise while numpy and zipfile read it.
# zipfile raises NotImplementedError / RuntimeError when damage makes an entry look compressed with
# an unknown method or encrypted; a damaged .npy header can ask numpy for an absurd allocation.
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError, MemoryError)


class CheckpointError(ValueError):
    """A checkpoint file cannot be read, or its contents do not fit the model."""


# ---------------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------------
def save_checkpoint(path, arrays, meta=None):
    """Write ``arrays`` (name -> numpy/cupy array) and ``meta`` (JSON-able dict) to ``path`` atomically.

    The file is written exactly at ``path`` (no ".npz" is appended). Arrays are copied to the host with
    ``to_numpy``; their dtypes are kept. Raises TypeError for a non-str key, an object/string array or
    metadata that JSON cannot encode, and ValueError for the reserved key ``"__meta__.json"``.
    """
    path = os.fspath(path)
    host_arrays = {}
    for key, value in arrays.items():
        if not isinstance(key, str):
            raise TypeError(f"checkpoint keys must be str, got {key!r} ({type(key).__name__})")
        if key == META_KEY:
            raise ValueError(f"{META_KEY!r} is reserved for the checkpoint metadata; rename that array")
        array = np.asarray(to_numpy(value))
        if array.dtype.kind not in "biufc":  # bool, int, uint, float, complex
            raise TypeError(f"checkpoint array {key!r} has dtype {array.dtype}; only numeric arrays are "
                            "saved (object arrays would need pickle, which minigan does not use)")
        host_arrays[key] = array

    meta = dict(meta or {})
    meta["minigan_format"] = FORMAT_NAME
    meta["format_version"] = FORMAT_VERSION
    try:
        meta_text = json.dumps(meta)
    except (TypeError, ValueError) as err:
        raise TypeError(f"checkpoint metadata must be JSON-serialisable: {err}") from err
    host_arrays[META_KEY] = np.frombuffer(meta_text.encode("utf-8"), dtype=np.uint8)

    directory, name = os.path.split(os.path.abspath(path))
    tmp_path = os.path.join(directory, f"{_temp_prefix(name)}{os.getpid()}")
    try:
        with open(tmp_path, "wb") as f:
            _write_npz(f, host_arrays)
            f.flush()
            os.fsync(f.fileno())        # the bytes are on disk before the rename makes them visible
        os.replace(tmp_path, path)      # atomic: the old file or the new one, never half of either
    except BaseException:               # also KeyboardInterrupt: never leave the temp file behind
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise
    _fsync_directory(directory)


def _temp_prefix(name):
    """Temporary files of ``save_checkpoint(".../name")`` are ``.name.tmp-<pid>`` (hidden, never *.npz)."""
    return f".{name}.tmp-"


def stale_temp_files(path):
    """The temporary files that killed ``save_checkpoint(path)`` calls left next to ``path``.

    SIGKILL (and a power cut) skip every cleanup, so such a file can stay behind. It never replaces the
    checkpoint (only ``os.replace`` does that) and it can be deleted once no save to ``path`` is running.
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        return []
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.startswith(_temp_prefix(name)))


def _write_npz(f, arrays):
    """Write an uncompressed .npz archive (what np.savez writes) into the open binary file ``f``.

    Written by hand rather than with ``np.savez(f, **arrays)`` so that any key works (np.savez's own
    parameter names such as "file" would clash) and so that pickling is switched off explicitly.
    """
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, array in arrays.items():
            with archive.open(key + ".npy", mode="w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, array, allow_pickle=False)


def _fsync_directory(directory):
    """Flush the directory entry of the rename to disk (best effort: not possible on every OS)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------
def load_checkpoint(path):
    """Read a checkpoint written by ``save_checkpoint``: returns ``(arrays, meta)``.

    ``arrays`` maps names to numpy arrays (move them to the GPU with ``to_device`` if needed); ``meta``
    is the JSON metadata, including ``format_version`` and ``minigan_format``. Every array is read
    eagerly and the file is closed before returning. Raises FileNotFoundError for a missing file and
    CheckpointError for anything else that is wrong with it.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist; check the path (or start "
                                "training from scratch if no checkpoint has been written yet)")
    damaged = (f"checkpoint {path!r} is not a readable .npz archive: it may be truncated (a copy or "
               "download that did not finish), corrupted, or a different kind of file. Use another "
               "checkpoint or start training from scratch.")
    try:
        with open(path, "rb") as f:
            start = f.read(8)
    except OSError as err:                                           # a folder, no permission to read
        raise CheckpointError(f"checkpoint {path!r} cannot be read ({type(err).__name__}: {err})") from err
    if not start.startswith((b"PK", b"\x93NUMPY")):                 # neither a zip archive nor a .npy file
        raise CheckpointError(f"checkpoint {path!r} is not a .npz archive: it starts with bytes {start!r}"
                              f"{_looks_like(start)}. Pass the checkpoint.npz a training run wrote (or one "
                              "written by minigan.save_checkpoint).")
    try:
        archive = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise CheckpointError(f"{damaged} ({type(err).__name__}: {err})") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError(f"checkpoint {path!r} holds a single .npy array, not a .npz archive "
                              "written by minigan.save_checkpoint")

    arrays = {}
    with archive:
        for key in archive.files:
            try:
                value = archive[key]
            except ValueError as err:
                if "pickle" in str(err):
                    raise CheckpointError(
                        f"checkpoint {path!r}: entry {key!r} contains pickled Python objects. minigan "
                        "refuses to unpickle them for safety (unpickling can run arbitrary code); "
                        "minigan checkpoints only hold numeric arrays, so this file was not written by "
                        "minigan. Use a checkpoint that a minigan training run wrote."
                    ) from err
                raise CheckpointError(f"{damaged} (entry {key!r}: {err})") from err
            except _READ_ERRORS as err:
                raise CheckpointError(f"{damaged} (entry {key!r}: {type(err).__name__}: {err})") from err
            if not isinstance(value, np.ndarray):  # NpzFile returns raw bytes for non-.npy entries
                raise CheckpointError(f"checkpoint {path!r}: entry {key!r} is not a NumPy array")
            arrays[key] = value

    meta = _parse_meta(path, arrays.pop(META_KEY, None))
    return arrays, meta


def _looks_like(start):
    """', which look like a PNG image' etc. for the first bytes of a file that is not a checkpoint."""
    kinds = {b"\x89PNG": "a PNG image", b"\xff\xd8": "a JPEG image", b"\x1f\x8b": "a gzip file",
             b"\x80": "a Python pickle", b"GIF8": "a GIF image"}
    for magic, kind in kinds.items():
        if start.startswith(magic):
            return f", which look like {kind}"
    return ""


def _parse_meta(path, raw):
    """Decode and check the ``__meta__.json`` entry (utf-8 JSON bytes stored as a uint8 array)."""
    if raw is None:
        raise CheckpointError(f"checkpoint {path!r} has no {META_KEY!r} entry, so it was not written "
                              "by minigan.save_checkpoint; load its arrays with np.load instead")
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"expected a 1-D uint8 array, got {raw.dtype} with shape {raw.shape}")
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except ValueError as err:  # includes UnicodeDecodeError and json.JSONDecodeError
        raise CheckpointError(f"checkpoint {path!r}: the {META_KEY!r} metadata is damaged ({err})") from err
    if not isinstance(meta, dict) or meta.get("minigan_format") != FORMAT_NAME:
        raise CheckpointError(f"checkpoint {path!r} is not a minigan checkpoint (its metadata lacks "
                              f"minigan_format={FORMAT_NAME!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"checkpoint {path!r} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path!r} has format_version {version}: it was written by a "
                              f"newer minigan (this one reads up to version {FORMAT_VERSION}); upgrade "
                              "minigan to load it")
    return meta


# ---------------------------------------------------------------------------------------------------
# Several state dicts in one file, and checking that a state dict fits
# ---------------------------------------------------------------------------------------------------
def flatten_state(prefix, state):
    """Prefix every key: ``flatten_state("G/", {"fc.weight": w}) == {"G/fc.weight": w}``.

    Merge several with ``{**flatten_state("G/", g), **flatten_state("D/", d)}`` and save one file.
    """
    return {prefix + key: value for key, value in state.items()}


def unflatten_state(prefix, arrays):
    """The entries of ``arrays`` whose key starts with ``prefix``, with the prefix removed."""
    return {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}


def check_state_dict_keys(expected, got, what="model"):
    """Raise CheckpointError unless ``got`` has exactly the keys and shapes in ``expected``.

    ``expected`` maps names to shapes (tuples) or arrays; ``got`` maps names to arrays (or shapes).
    The message lists, in one go, the missing keys, the unexpected keys and the shape mismatches, so
    one run shows everything that differs between the checkpoint and the ``what`` being loaded.
    """
    missing = [key for key in expected if key not in got]
    unexpected = [key for key in got if key not in expected]
    mismatched = []
    for key in expected:
        if key in got:
            want, have = _shape_of(expected[key]), _shape_of(got[key])
            if want != have:
                mismatched.append(f"{key!r}: {what} expects {want}, checkpoint has {have}")
    if not (missing or unexpected or mismatched):
        return
    lines = [f"the state being loaded does not match the {what}: {len(missing)} missing key(s), "
             f"{len(unexpected)} unexpected key(s), {len(mismatched)} shape mismatch(es)",
             f"  missing (in the {what}, not in the state): {missing}",
             f"  unexpected (in the state, not in the {what}): {unexpected}",
             "  wrong shape: " + ("; ".join(mismatched) if mismatched else "[]"),
             f"Was the checkpoint saved from a {what} built with the same architecture and options?"]
    raise CheckpointError("\n".join(lines))


def _shape_of(value):
    """The shape of an array-like, or the value itself as a tuple if it already is a shape."""
    if hasattr(value, "shape"):
        return tuple(value.shape)
    return tuple(value)
