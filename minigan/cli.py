"""Command-line pieces shared by the example scripts: common arguments and dataset loading.

Reading order: training -> **cli** -> examples/. The examples stay linear scripts; what they share is
here so that ``--help`` reads the same everywhere.
"""

import argparse

import numpy as np

from minigan import backend
from minigan.data import fake, fake_dataset, load_cifar10, load_fashion_mnist, to_float_images

DATASETS = {"fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10}
BACKEND_HELP = "array backend (default: $MINIGAN_BACKEND or numpy); cupy needs an NVIDIA GPU"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, except None (the help text says what happens then) and
    on/off flags such as ``--resume`` (their default is always off)."""

    def _get_help_string(self, action):
        if action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def training_parser(description, *, epochs, batch_size, out, sample_every=500):
    """An ArgumentParser with the options every training example takes."""
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    p.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=BACKEND_HELP)
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=batch_size, help="images per batch (both networks)")
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (both networks)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the batch order and the noise")
    p.add_argument("--data-dir", default=None,
                   help="folder with the dataset files (default: $MINIGAN_DATA or ~/.cache/minigan/<name>, "
                        "downloaded there if missing)")
    p.add_argument("--dataset", choices=["real", "fake", "folder"], default="real",
                   help="'fake': random images of the right shape (offline smoke tests); 'folder': your own "
                        "PNG/JPEG/WebP images in --data-dir, one sub-folder per class (docs/own-images.md)")
    p.add_argument("--no-cache", action="store_true",
                   help="--dataset folder: decode the images every run instead of caching the decoded array "
                        "in $MINIGAN_DATA/image-folders (or ~/.cache/minigan/image-folders)")
    p.add_argument("--strict-images", action="store_true",
                   help="--dataset folder: refuse the folder at the first file that cannot be decoded "
                        "(default: skip such files and count them)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    p.add_argument("--out", default=out, help="output folder: checkpoint.npz, log.jsonl, PNGs")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    p.add_argument("--sample-every", type=int, default=sample_every,
                   help="iterations between sample grids (0: epoch ends only)")
    p.add_argument("--real-label", type=float, default=1.0, help="target for real images (0.9: label smoothing)")
    p.add_argument("--d-steps", type=int, default=1, help="discriminator updates per generator update")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--classifier", default=None,
                   help="a classifier checkpoint (examples/train_classifier.py): score G every --eval-every epochs")
    p.add_argument("--eval-every", type=int, default=1, help="epochs between scores (with --classifier)")
    p.add_argument("--eval-n", type=int, default=2000, help="generated images per score (with --classifier)")
    return p


def setup_backend(args):
    """Select --backend and seed minigan's generators with --seed (before the models are built)."""
    if args.backend:
        backend.set_backend(args.backend)
    backend.manual_seed(args.seed)
    print(f"backend: {backend.get_backend()}, seed {args.seed}")


def epoch_evaluator(args, name, spec):
    """With --classifier: evaluate(G, epoch) -> {fcd, kid, ...} on the real test split; else None."""
    if not args.classifier:
        return None
    if args.dataset == "folder":
        raise SystemExit("--classifier scores G against the test split of the built-in dataset, so it does "
                         "not work with --dataset folder; leave --classifier out")
    from minigan.evaluation import load_classifier, make_epoch_evaluator

    classifier, _ = load_classifier(args.classifier)
    test_images, test_labels = load_images(name, args, split="test")
    return make_epoch_evaluator(classifier, test_images, test_labels, spec, n=args.eval_n)


def load_images(name, args, split="train", image_size=None, conditional=False):
    """(float images NCHW in [-1, 1], int64 labels) of a dataset, real, fake or a folder, limited to --limit.

    ``name`` ("cifar10", "fashion-mnist") fixes the image shape the model expects: --dataset folder
    decodes the folder to it (RGB 32x32 or grayscale 28x28; ``image_size`` overrides the side).
    ``conditional``: the labels matter (cGAN), so a folder must have one sub-folder per class.
    """
    if args.limit is not None and args.limit < 1:
        raise SystemExit(f"--limit must be >= 1, got {args.limit}")
    native = fake.IMAGE_SHAPES[name]                                 # (28, 28) or (32, 32, 3)
    size = image_size or native[0]
    if args.dataset == "fake":
        images, labels = fake_dataset(name, args.limit or 512, seed=args.seed, image_size=size)
    elif args.dataset == "folder":
        images, labels = _load_folder(args, size, channels=native[2] if len(native) == 3 else 1,
                                      conditional=conditional)
    else:
        if size != native[0]:
            raise SystemExit(f"--image-size {size}: the {name} images are {native[0]}x{native[1]}; train at "
                             f"{size}x{size} on your own images with --dataset folder --data-dir DIR")
        images, labels = DATASETS[name](root=args.data_dir, split=split)
    if args.limit and split == "train":
        images, labels = images[:args.limit], labels[:args.limit]
    print(f"{name} ({args.dataset}, {split}): {len(images)} images of shape {images.shape[1:]}")
    return to_float_images(images), labels


def _load_folder(args, size, channels, conditional):
    """--dataset folder: decode --data-dir (see minigan/data/folder.py), shuffled once if --limit cuts it."""
    from minigan.data.download import default_root
    from minigan.data.folder import ImageFolderError, load_image_folder

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
    if args.limit:  # the files are sorted by class: take a random subset, not the first classes only
        order = np.random.default_rng(args.seed).permutation(len(images))
        images, labels = images[order], labels[order]
    return images, labels
