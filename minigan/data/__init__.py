"""Datasets in their publishers' file formats: download, checksum, cache, read, batch.

Reading order: this package comes after ``optim.py`` and before ``models/``. Inside it, read
``download.py`` -> ``fashion_mnist.py`` -> ``cifar10.py`` -> ``folder.py`` -> ``batching.py`` -> ``fake.py``.

Typical use::

    from minigan.data import load_fashion_mnist, to_float_images, batches

    images, labels = load_fashion_mnist(split="train")      # uint8 (60000, 28, 28), int64 (60000,)
    x = to_float_images(images)                             # float32 (60000, 1, 28, 28) in [-1, 1]
    for xb, yb in batches((x, labels), batch_size=64, seed=0):
        ...                                                 # Tensors (64, 1, 28, 28) and (64,)
"""

from minigan.data.batching import batches, num_batches, random_subset, to_float_images, to_uint8_images
from minigan.data.cifar10 import CIFAR10_CLASSES, load_cifar10
from minigan.data.download import (
    CHECKSUMS,
    DatasetError,
    DownloadError,
    default_root,
    download_file,
    fetch,
    file_md5,
)
from minigan.data.fake import fake_dataset
from minigan.data.fashion_mnist import FASHION_MNIST_CLASSES, load_fashion_mnist
from minigan.data.folder import ImageFolderError, load_image_folder

__all__ = [
    "CHECKSUMS",
    "CIFAR10_CLASSES",
    "DatasetError",
    "DownloadError",
    "FASHION_MNIST_CLASSES",
    "ImageFolderError",
    "batches",
    "default_root",
    "download_file",
    "fake_dataset",
    "fetch",
    "file_md5",
    "load_cifar10",
    "load_fashion_mnist",
    "load_image_folder",
    "num_batches",
    "random_subset",
    "to_float_images",
    "to_uint8_images",
]
