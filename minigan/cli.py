"""Command-line pieces shared by the example scripts: common arguments and dataset loading.

Reading order: training -> **cli** -> examples/. The examples stay linear scripts; what they share is
here so that ``--help`` reads the same everywhere.
"""

import argparse

from minigan import backend
from minigan.data import fake_dataset, load_cifar10, load_fashion_mnist, to_float_images

DATASETS = {"fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10}
BACKEND_HELP = "array backend (default: $MINIGAN_BACKEND or numpy); cupy needs an NVIDIA GPU"
# Optimizer defaults per --loss: the DCGAN paper's for BCE, Gulrajani et al.'s (2017) for WGAN-GP
LOSS_DEFAULTS = {"bce": {"lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "d_steps": 1},
                 "wgan-gp": {"lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "d_steps": 5}}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` shows each option's default, except None (the help text says what happens then) and
    on/off flags such as ``--resume`` (their default is always off)."""

    def _get_help_string(self, action):
        if action.default is None or action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def training_parser(description, *, epochs, batch_size, out, sample_every=500, losses=False):
    """An ArgumentParser with the options every training example takes.

    ``losses=True`` adds --loss, --r1, --gp-lambda, --beta1, --beta2; then --lr, --d-steps and the betas
    default to None, and ``loss_options(args)`` fills them in from LOSS_DEFAULTS (explicit values win).
    """
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    p.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=BACKEND_HELP)
    p.add_argument("--epochs", type=int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=batch_size, help="images per batch (both networks)")
    if losses:
        p.add_argument("--lr", type=float, default=None,
                       help="Adam learning rate, both networks (default: 2e-4; 1e-4 with --loss wgan-gp)")
    else:
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
    if losses:
        p.add_argument("--d-steps", type=int, default=None,
                       help="discriminator updates per generator update, on the same real batch (default: 1; "
                            "5 with --loss wgan-gp)")
        add_loss_options(p)
    else:
        p.add_argument("--d-steps", type=int, default=1, help="discriminator updates per generator update")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--classifier", default=None,
                   help="a classifier checkpoint (examples/train_classifier.py): score G every --eval-every epochs")
    p.add_argument("--eval-every", type=int, default=1, help="epochs between scores (with --classifier)")
    p.add_argument("--eval-n", type=int, default=2000, help="generated images per score (with --classifier)")
    return p


def add_loss_options(p):
    """--loss, --r1, --gp-lambda, --beta1, --beta2 (minigan/penalties.py, docs/dcgan.md "WGAN-GP and R1")."""
    p.add_argument("--loss", choices=["bce", "wgan-gp"], default="bce",
                   help="bce: the non-saturating GAN; wgan-gp: Wasserstein critic with gradient penalty "
                        "(Gulrajani et al., 2017; the critic uses layer norm, not batch norm)")
    p.add_argument("--r1", type=float, default=0.0, metavar="GAMMA",
                   help="add the R1 penalty (GAMMA/2) E||grad_x D(x)||^2 on real images to D's loss "
                        "(Mescheder et al., 2018); 0: off")
    p.add_argument("--gp-lambda", type=float, default=10.0, help="weight of WGAN-GP's gradient penalty")
    p.add_argument("--beta1", type=float, default=None,
                   help="Adam beta1, both networks (default: 0.5; 0.0 with --loss wgan-gp)")
    p.add_argument("--beta2", type=float, default=None,
                   help="Adam beta2, both networks (default: 0.999; 0.9 with --loss wgan-gp)")


def loss_options(args):
    """TrainConfig's loss fields from the arguments of ``training_parser(losses=True)``: explicit values
    of --lr, --d-steps, --beta1, --beta2 win over the defaults of --loss (LOSS_DEFAULTS)."""
    for name, value in (("--r1", args.r1), ("--gp-lambda", args.gp_lambda)):
        if value < 0:
            raise SystemExit(f"{name} must be >= 0, got {value}")
    chosen = {key: getattr(args, key) for key in ("lr", "beta1", "beta2", "d_steps")}
    settings = {key: LOSS_DEFAULTS[args.loss][key] if value is None else value
                for key, value in chosen.items()}
    if settings["d_steps"] < 1:
        raise SystemExit(f"--d-steps must be >= 1, got {settings['d_steps']}")
    print(f"loss {args.loss}, R1 gamma {args.r1}: " + ", ".join(f"{k} {v}" for k, v in settings.items()))
    return {"loss": args.loss, "r1_gamma": args.r1, "gp_lambda": args.gp_lambda, **settings}


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
