"""The scripts' training data: real, fake or your own folder, limited to --limit, and what it is.

Reading order: run/cli -> run/checks -> **run/datasets** -> examples/. ``load_training_set`` returns the
images, their labels and the dataset's identity (name, real/fake/folder, --limit, number of images,
image shape, class names), which ``run.trainer.train`` records in every checkpoint, so that ``--resume``
refuses other data and ``examples/evaluate.py`` knows a cGAN's classes. ``cli`` re-exports these names.
"""

import os

from minigan.data import (CIFAR10_CLASSES, FASHION_MNIST_CLASSES, fake, fake_dataset, load_cifar10,
                          load_fashion_mnist, random_subset, to_float_images)
from minigan.data.folder import ImageFolderError
from minigan.run.checks import UsageError, check_one_batch, note

DATASETS = {"fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10}
CLASS_NAMES = {"fashion-mnist": FASHION_MNIST_CLASSES, "cifar10": CIFAR10_CLASSES}


def load_images(name, args, split="train", image_size=None, conditional=False):
    """(float images NCHW in [-1, 1], int64 labels) of a dataset, real, fake or a folder, limited to --limit.

    ``name`` ("cifar10", "fashion-mnist") fixes the image shape the model expects: --dataset folder
    decodes the folder to it (RGB 32x32 or grayscale 28x28; ``image_size`` overrides the side).
    ``conditional``: the labels matter (cGAN), so a folder must have one sub-folder per class.
    """
    images, labels, _ = load_training_set(name, args, split, image_size, conditional)
    return images, labels


def load_training_set(name, args, split="train", image_size=None, conditional=False):
    """``load_images`` plus the dataset's identity, which a checkpoint records (``train(dataset=...)``):
    {"name", "source" (real, fake or folder), "limit" (None: every image), "num_images", "image_shape",
    "class_names"}."""
    native = fake.IMAGE_SHAPES[name]                                 # (28, 28) or (32, 32, 3)
    size = image_size or native[0]
    class_names = list(CLASS_NAMES[name])
    if args.dataset == "fake":
        limit = args.limit or 512                                    # fake: --limit is the number made
        images, labels = fake_dataset(name, limit, seed=args.seed + (split == "test"), image_size=size)
    else:
        if args.dataset == "folder":                                 # every image of the folder
            images, labels, class_names = _load_folder(args, size, channels=native[2] if len(native) == 3 else 1,
                                                       conditional=conditional)
            where = args.data_dir
        elif size != native[0]:
            raise UsageError(f"--image-size {size}: the {name} images are {native[0]}x{native[1]}; train at "
                             f"{size}x{size} on your own images with --dataset folder --data-dir DIR")
        else:
            images, labels = DATASETS[name](root=args.data_dir, split=split)
            where = f"the {name} {split} split"
        if args.limit is not None and args.limit > len(images):
            note(f"--limit {args.limit} is more than the {len(images)} images of {where}: all of them are used")
        limit = args.limit if args.limit is not None and args.limit < len(images) else None
        images, labels = random_subset(images, labels, args.limit, args.seed)   # --limit: a seeded random subset
    print(f"{name} ({args.dataset}, {split}): {len(images)} images of shape {images.shape[1:]}")
    if split == "train":
        check_one_batch(len(images), args.batch_size)
    images = to_float_images(images)                                 # (N, C, H, W) float32 in [-1, 1]
    dataset = {"name": "folder" if args.dataset == "folder" else name, "source": args.dataset, "limit": limit,
               "num_images": len(images), "image_shape": list(images.shape[1:]), "class_names": class_names}
    if args.dataset == "folder":
        dataset["folder"] = os.path.abspath(args.data_dir)           # where it was (not compared on --resume)
    return images, labels, dataset


def _load_folder(args, size, channels, conditional):
    """--dataset folder: decode every image of --data-dir (see minigan/data/folder.py)."""
    from minigan.data.download import default_root
    from minigan.data.folder import load_image_folder

    if args.data_dir is None:
        raise ImageFolderError("--dataset folder needs --data-dir DIR: a folder of PNG/JPEG/WebP images, "
                               "or one sub-folder of images per class")
    cache_dir = None if args.no_cache else default_root("image-folders")
    images, labels, class_names = load_image_folder(args.data_dir, size, channels, strict=args.strict_images,
                                                    cache_dir=cache_dir, progress=not args.no_progress)
    if conditional and len(class_names) < 2:
        raise ImageFolderError(
            f"the conditional GAN learns one class per sub-folder of --data-dir, but {args.data_dir} has "
            f"{'no sub-folders' if class_names == [''] else 'only one: ' + class_names[0]}; put the images "
            "of each class in its own sub-folder (DIR/cat/*.png, DIR/dog/*.png, ...)")
    return images, labels, class_names
