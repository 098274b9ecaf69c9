"""From stored images to training batches: pixel scaling and (shuffled) mini-batches of Tensors.

Reading order (data package): download -> fashion_mnist -> cifar10 -> folder -> **batching** -> fake.
Next read ``fake.py``; after the data package, read ``models/``.

The readers return images as stored: uint8 in 0..255, channels last. A GAN's generator ends in tanh,
so the real images it is compared with are scaled to the same range and to the NCHW layout of the
conv layers::

    to_float_images:  uint8 (N, H, W) or (N, H, W, C)  ->  float32 (N, C, H, W),  x / 127.5 - 1
    to_uint8_images:  float (N, C, H, W) in [-1, 1]     ->  uint8 (N, H, W, C),  round((x + 1) * 127.5)

``random_subset`` keeps N of them (``--limit N`` in the scripts). ``batches`` cuts equally long arrays
(images, labels) into mini-batches. The arrays stay on the host; each batch is gathered there and
copied to the active backend once, as a ``Tensor``.
"""

import numpy as np

from minigan.backend import to_device, to_numpy


def to_float_images(x):
    """uint8 images (N, H, W) or (N, H, W, C) -> float32 numpy array (N, C, H, W) in [-1, 1]."""
    x = np.asarray(x)
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise ValueError(
            f"to_float_images expects uint8 images of shape (N, H, W) or (N, H, W, C), "
            f"got dtype {x.dtype} and shape {x.shape}"
        )
    if x.ndim == 3:
        x = x[:, None, :, :]  # (N, 1, H, W): grayscale gets a channel axis
    else:
        x = x.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    out = x.astype(np.float32, order="C")  # (N, C, H, W), contiguous
    out /= 127.5  # 0..255 -> 0..2 (division keeps 255 -> exactly 2)
    out -= 1.0  # -> -1..1
    return out


def random_subset(images, labels, limit, seed=0):
    """``limit`` images and their labels, drawn at random (fixed by ``seed``), kept in the split's order.

    A random subset, not simply the first ``limit``: a split may be grouped by class (the shared
    CIFAR-10 copy's test set holds all its airplanes first), and its first images would be one class.
    ``limit`` None, or at least the number of images: everything, unchanged.
    """
    if limit is None or limit >= len(images):
        return images, labels
    keep = np.sort(np.random.default_rng(seed).permutation(len(images))[:limit])   # (limit,)
    return images[keep], labels[keep]


def to_uint8_images(x):
    """float images (N, C, H, W) in [-1, 1], any backend -> uint8 numpy array (N, H, W, C).

    Values outside [-1, 1] are clipped, the rest rounded to the nearest of the 256 levels.
    NaNs (a diverged generator) become mid-gray instead of undefined bytes.
    """
    x = to_numpy(x)  # copies from the GPU if needed
    if x.ndim != 4:
        raise ValueError(f"to_uint8_images expects images of shape (N, C, H, W), got shape {x.shape}")
    x = np.nan_to_num(x.astype(np.float32), nan=0.0)
    levels = np.rint(np.clip((x + 1.0) * 127.5, 0.0, 255.0))  # (N, C, H, W), 0..255
    return np.ascontiguousarray(levels.transpose(0, 2, 3, 1)).astype(np.uint8)  # (N, H, W, C)


def num_batches(n, batch_size, drop_last=True):
    """How many batches ``batches`` yields for ``n`` examples."""
    _check_batch_size(batch_size)
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(arrays, batch_size, shuffle=True, drop_last=True, seed=None):
    """Iterate over mini-batches of equally long arrays, yielding tuples of Tensors.

    Args:
        arrays: a tuple of numpy arrays with the same first dimension, e.g. ``(images, labels)``
            (a single array is treated as ``(array,)``).
        batch_size: examples per batch (>= 1).
        shuffle: visit the examples in a random order (else in stored order).
        drop_last: skip the final batch if it is smaller than ``batch_size`` (keeps BatchNorm
            statistics and the loss scale the same for every step).
        seed: an int, or a list of ints such as ``[seed, epoch]``, for a reproducible order (a fresh
            ``np.random.default_rng(seed)``, independent of every other generator); a
            ``np.random.Generator`` to continue its stream; or None for a fresh random order.

    Yields:
        tuples ``(Tensor, ...)`` on the active backend, one per array, each of first dimension
        ``batch_size`` (or less for the last batch when ``drop_last=False``).

    Example::

        x = to_float_images(images)                       # (60000, 1, 28, 28)
        for xb, yb in batches((x, labels), 64, seed=epoch):
            ...                                           # xb: Tensor (64, 1, 28, 28), yb: (64,)
    """
    if isinstance(arrays, np.ndarray):
        arrays = (arrays,)
    arrays = tuple(arrays)
    if not arrays:
        raise ValueError("batches needs at least one array")
    _check_batch_size(batch_size)
    n = len(arrays[0])
    for i, a in enumerate(arrays[1:], start=1):
        if len(a) != n:
            raise ValueError(
                f"batches: all arrays must have the same length, but arrays[0] has {n} "
                f"examples and arrays[{i}] has {len(a)}"
            )
    if shuffle:
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        order = rng.permutation(n)  # (n,)
    else:
        order = np.arange(n)  # (n,)
    # Validation happens above, at the call; the loop below runs lazily, batch by batch.
    return _iterate(arrays, order, batch_size, num_batches(n, batch_size, drop_last))


def _iterate(arrays, order, batch_size, count):
    from minigan.tensor import Tensor  # imported here: the data readers do not need the engine

    for b in range(count):
        index = order[b * batch_size : (b + 1) * batch_size]  # (B,)
        # a[index] gathers the batch on the host; to_device makes the one host -> device copy
        yield tuple(Tensor(to_device(a[index])) for a in arrays)


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
