"""Random stand-ins for the real datasets, for smoke tests (``--dataset fake``) and quick demos.

Reading order (data package): download -> fashion_mnist -> cifar10 -> folder -> batching -> **fake**.
After the data package, read ``models/``.

A fake dataset has the shapes and dtypes of the real one, so every code path from batching to the
model runs unchanged, but it needs no files and no network. The pixels are noise; nothing can be
learned from them beyond "the code runs".
"""

import numpy as np

# name -> shape of one image, as the real reader returns it
IMAGE_SHAPES = {
    "fashion-mnist": (28, 28),
    "cifar10": (32, 32, 3),
}
NUM_CLASSES = 10


def fake_dataset(name, n, seed=0, image_size=None):
    """Random (images, labels) shaped like dataset ``name`` ("fashion-mnist" or "cifar10").

    ``image_size`` replaces the height and width (e.g. 64 for the 64x64 DCGAN).

    Returns:
        images: uint8 array (n, 28, 28) or (n, 32, 32, 3), uniform noise in 0..255.
        labels: int64 array (n,), uniform in 0..9.
    """
    if name not in IMAGE_SHAPES:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(IMAGE_SHAPES)}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    shape = IMAGE_SHAPES[name]
    if image_size is not None:
        shape = (image_size, image_size) + shape[2:]                 # (S, S) or (S, S, 3)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    labels = rng.integers(0, NUM_CLASSES, size=n, dtype=np.int64)  # (n,)
    return images, labels
