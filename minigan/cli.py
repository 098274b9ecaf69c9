"""Command-line pieces shared by the example scripts: common arguments and dataset loading.

Reading order: training -> **cli** -> examples/. The examples stay linear scripts; what they share is
here so that ``--help`` reads the same everywhere.
"""

import argparse

from minigan import backend
from minigan.data import fake_dataset, load_cifar10, load_fashion_mnist, to_float_images

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
    p.add_argument("--dataset", choices=["real", "fake"], default="real",
                   help="'fake': random images of the right shape (offline smoke tests)")
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
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes of `mpiexec -n W` (docs/distributed.md); "
                        "--batch-size is the whole batch, B/W per rank")
    p.add_argument("--sync-bn", action="store_true",
                   help="with --distributed: BatchNorm statistics over the whole batch, not each rank's shard")
    return p


def setup_backend(args):
    """Select --backend and seed minigan's generators with --seed (before the models are built)."""
    if args.backend:
        backend.set_backend(args.backend)
    backend.manual_seed(args.seed)
    print(f"backend: {backend.get_backend()}, seed {args.seed}")


def setup_distributed(args):
    """With --distributed: this process's ``minigan.distributed.Distributed`` (after setup_backend); else None."""
    if not args.distributed:
        if args.sync_bn:
            raise SystemExit("--sync-bn needs --distributed (it synchronises BatchNorm across the ranks)")
        return None
    from minigan import distributed

    try:
        dist = distributed.start(sync_bn=args.sync_bn)
    except distributed.DistributedError as err:
        raise SystemExit(str(err)) from err
    if dist.rank == 0:
        print(f"distributed: {dist.world_size} rank(s), {args.batch_size // dist.world_size} images each per "
              f"batch, BatchNorm statistics {'over the whole batch' if dist.sync_bn else 'per rank'}")
    return dist


def epoch_evaluator(args, name, spec):
    """With --classifier: evaluate(G, epoch) -> {fcd, kid, ...} on the real test split; else None."""
    if not args.classifier:
        return None
    from minigan.evaluation import load_classifier, make_epoch_evaluator

    classifier, _ = load_classifier(args.classifier)
    test_images, test_labels = load_images(name, args, split="test")
    return make_epoch_evaluator(classifier, test_images, test_labels, spec, n=args.eval_n)


def load_images(name, args, split="train"):
    """(float images NCHW in [-1, 1], int64 labels) of a dataset, real or fake, limited to --limit."""
    if args.limit is not None and args.limit < 1:
        raise SystemExit(f"--limit must be >= 1, got {args.limit}")
    if args.dataset == "fake":
        images, labels = fake_dataset(name, args.limit or 512, seed=args.seed)
    else:
        images, labels = DATASETS[name](root=args.data_dir, split=split)
        if args.limit and split == "train":
            images, labels = images[:args.limit], labels[:args.limit]
    print(f"{name} ({args.dataset}, {split}): {len(images)} images of shape {images.shape[1:]}")
    return to_float_images(images), labels
