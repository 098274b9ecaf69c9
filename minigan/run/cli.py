"""Command-line pieces shared by the example scripts: common arguments, errors, backend and processes.

Reading order: training -> **cli** -> run/checks (checks before any work) -> run/datasets (the training
data) -> examples/. The examples stay linear scripts; what they share is here so that ``--help`` reads
the same everywhere. docs/cli.md describes the shared options.

User mistakes end in one paragraph, not a traceback
---------------------------------------------------
Every example calls ``cli.report_user_errors()`` first. From then on, an exception of a type in
``USER_ERRORS`` (no internet, a damaged checkpoint, a run folder in use, options that do not fit
together, ...) that reaches the top of the script is printed as one paragraph on stderr - the message
says what was expected, what was found and how to fix it - and the script exits with code 2, like
argparse does for a bad option. ``RUN_FAILURES`` (the run started, then failed: TrainingDiverged, SaveFailed) exit
with code 1, Ctrl-C with 130, and any other exception - a bug - keeps its full traceback. It works
through ``sys.excepthook``, so the scripts keep their top-to-bottom form and a debugger still stops
at the exception (``python -m pdb`` does not use the hook). To treat another exception class as a user
mistake, add it to ``USER_ERRORS``.
"""

import argparse
import os
import sys

from minigan import backend, fast
from minigan.backend import BackendError
from minigan.data import DatasetError, DownloadError
from minigan.run.checkpoint import CheckpointError
from minigan.run.runfolder import RunFolderError
from minigan.run.trainer import SaveFailed, TrainingDiverged
# the scripts call these as cli.<name>: checks before any work, and the training data (two modules of their own)
from minigan.run.checks import (UsageError, check_one_batch, check_options, note, output_file,  # noqa: F401
                                 output_folder)
from minigan.run.datasets import CLASS_NAMES, DATASETS, load_images, load_training_set  # noqa: F401

BACKEND_HELP = "array backend (default: $MINIGAN_BACKEND or numpy); cupy needs an NVIDIA GPU"
SHARED_OPTIONS_HELP = "The options shared by all scripts (--dataset, --limit, --data-dir), exit codes: docs/cli.md"


USER_ERRORS = (UsageError, CheckpointError, DatasetError, DownloadError, BackendError, RunFolderError)
RUN_FAILURES = (TrainingDiverged, SaveFailed)
HINTS = {DownloadError: "No internet? Every script also runs offline, on random images: --dataset fake."}


INTERRUPTED_TRAINING = "a training run keeps its last checkpoint: continue it with --resume"
_interrupt_note = INTERRUPTED_TRAINING                               # what a Ctrl-C outside the loop says


def report_user_errors(on_interrupt=INTERRUPTED_TRAINING):
    """From now on: user mistakes -> one paragraph on stderr, exit 2; failed runs -> exit 1 (see above).

    ``on_interrupt``: what a Ctrl-C that reaches the top of the script leaves behind (exit code 130).
    """
    global _interrupt_note
    _interrupt_note = on_interrupt
    sys.excepthook = _report


def _report(exc_type, exc, tb):
    prog = os.path.basename(sys.argv[0])
    sys.stdout.flush()                                               # what the script printed comes first
    if issubclass(exc_type, KeyboardInterrupt):
        print(f"{prog}: interrupted (Ctrl-C); {_interrupt_note}", file=sys.stderr)
        sys.exit(130)
    if not issubclass(exc_type, USER_ERRORS + RUN_FAILURES):
        sys.__excepthook__(exc_type, exc, tb)                        # a bug: the full traceback
        return
    hints = [hint for kind, hint in HINTS.items() if issubclass(exc_type, kind)]
    print("\n".join([f"{prog}: error: {exc}", *hints]), file=sys.stderr)
    sys.exit(1 if issubclass(exc_type, RUN_FAILURES) else 2)        # a SystemExit from the hook sets the exit code


# --- argparse types: refuse a bad value up front, with the reason ---------------------------------------
def positive_int(text):
    """An int >= 1 (epochs, batch sizes, counts)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value


def nonnegative_int(text):
    """An int >= 0 (seeds; intervals where 0 means "never")."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def positive_float(text):
    """A finite float > 0 (learning rates)."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def nonnegative_float(text):
    """A finite float >= 0 (penalty weights, where 0 means "off")."""
    value = float(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def beta_value(text):
    """An Adam beta: in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text}")
    return value


def label_value(text):
    """A BCE target for real images: in (0, 1] (1: plain, 0.9: one-sided label smoothing)."""
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1] (1, or 0.9 for label smoothing), got {text}")
    return value


def existing_file(text):
    """A path to a file that exists (checkpoints, classifiers)."""
    if not os.path.isfile(text):
        what = "is a folder, not a file" if os.path.isdir(text) else "does not exist"
        raise argparse.ArgumentTypeError(f"{text} {what}")
    return text


def existing_dir(text):
    """A folder that exists (--data-dir): a mistyped path is refused, never created."""
    if not os.path.isdir(text):
        what = "is a file, not a folder" if os.path.exists(text) else "does not exist"
        raise argparse.ArgumentTypeError(
            f"{text} {what}. Pass the folder that holds the dataset files (or its parent); to download "
            "there, create the folder first, or leave out --data-dir to use the default cache")
    return text


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


def training_parser(description, *, epochs, batch_size, out, sample_every=500, losses=False, dataset=None):
    """An ArgumentParser with the options every training example takes.

    ``losses=True`` adds --loss, --r1, --gp-lambda, --beta1, --beta2; then --lr, --d-steps and the betas
    default to None, and ``loss_options(args)`` fills them in from LOSS_DEFAULTS (explicit values win).
    ``dataset`` ("cifar10", "fashion-mnist"): the script's dataset, which --dataset also accepts by name.
    Call ``check_options(args)`` after parsing: it refuses options that contradict each other.
    """
    p = script_parser(description)
    p.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=BACKEND_HELP)
    p.add_argument("--epochs", type=positive_int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=positive_int, default=batch_size, help="images per batch (both networks)")
    if losses:
        p.add_argument("--lr", type=positive_float, default=None,
                       help="Adam learning rate, both networks (default: 2e-4; 1e-4 with --loss wgan-gp)")
    else:
        p.add_argument("--lr", type=positive_float, default=2e-4, help="Adam learning rate (both networks)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seeds the weights, the batch order and the noise")
    add_data_options(p, folder=True, dataset=dataset)
    p.add_argument("--out", default=out, help="output folder: checkpoint.npz, log.jsonl, PNGs")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT (from OUT/checkpoint.npz)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the run already in OUT (checkpoint, log, PNGs) and start again")
    p.add_argument("--keep-every", type=nonnegative_int, default=0, metavar="N",
                   help="also keep the generator of every N-th epoch, OUT/generator_epochNNN.npz (for "
                        "examples/sample.py and evaluate.py); 0: only the latest checkpoint")
    p.add_argument("--sample-every", type=nonnegative_int, default=sample_every,
                   help="iterations between sample grids (0: epoch ends only)")
    p.add_argument("--real-label", type=label_value, default=1.0,
                   help="target for real images (0.9: label smoothing)")
    if losses:
        p.add_argument("--d-steps", type=positive_int, default=None,
                       help="discriminator updates per generator update, on the same real batch (default: 1; "
                            "5 with --loss wgan-gp)")
        add_loss_options(p)
    else:
        p.add_argument("--d-steps", type=positive_int, default=1, help="discriminator updates per generator update")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
    p.add_argument("--classifier", type=existing_file, default=None,
                   help="a classifier checkpoint (examples/train_classifier.py): score G every --eval-every epochs")
    p.add_argument("--eval-every", type=positive_int, default=None,
                   help="epochs between scores (with --classifier; default 1)")
    p.add_argument("--eval-n", type=positive_int, default=None,
                   help="generated images per score (with --classifier; default 2000)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes of `mpiexec -n W` (docs/distributed.md); "
                        "--batch-size is the whole batch, B/W per rank")
    p.add_argument("--sync-bn", action="store_true",
                   help="with --distributed: BatchNorm statistics over the whole batch, not each rank's shard")
    return p


def script_parser(description):
    """An ArgumentParser with minigan's help layout, the pointer to docs/cli.md, and --textbook."""
    p = argparse.ArgumentParser(description=description, epilog=SHARED_OPTIONS_HELP, formatter_class=HelpFormatter)
    p.add_argument("--textbook", action=_TextbookFlag, nargs=0, default=False,
                   help="run every op by its textbook definition (the same numbers, several times slower; "
                        "docs/reading-guide.md): for stepping through in a debugger")
    return p


class _TextbookFlag(argparse.Action):
    """--textbook: turns textbook mode on as the option is read, so every script has it (MINIGAN_TEXTBOOK=1)."""

    def __call__(self, parser, namespace, values, option_string=None):
        backend.set_textbook(True)
        setattr(namespace, self.dest, True)


# --dataset also takes the dataset's name, as PyTorch's examples spell it (--dataset cifar10)
DATASET_SPELLINGS = {"cifar10": "cifar10", "cifar-10": "cifar10", "fashion-mnist": "fashion-mnist",
                     "fashionmnist": "fashion-mnist"}
SCRIPT_OF_DATASET = {"cifar10": "examples/dcgan_cifar.py",
                     "fashion-mnist": "examples/gan_fashion_mnist.py or examples/cgan_fashion_mnist.py"}


def dataset_value(script_dataset=None):
    """The argparse type of --dataset: "real", "fake", "folder", or a dataset's name in any spelling
    (CIFAR10, cifar-10, fashion_mnist, FashionMNIST). A script that trains on one dataset
    (``script_dataset``) reads its name as "real" and refuses the other's, naming the script to use."""

    def parse(text):
        key = text.lower().replace("_", "-")
        name = DATASET_SPELLINGS.get(key)
        if name is None or script_dataset is None:
            return name or key                                       # argparse checks the choices
        if name != script_dataset:
            raise argparse.ArgumentTypeError(
                f"this script trains on {script_dataset}, not {name}: for {name} run {SCRIPT_OF_DATASET[name]}")
        return "real"
    return parse


def add_data_options(p, folder=False, dataset=None):
    """--dataset, --data-dir (alias --dataroot), --limit: one meaning in every script (docs/cli.md).

    ``folder``: the training scripts also take ``--dataset folder`` (your own images, docs/own-images.md).
    ``dataset``: the script's dataset, whose name --dataset accepts for "real" (see ``dataset_value``);
    None: --dataset also takes either dataset's name, and the script decides what it means.
    """
    shown = ["real", "fake", "folder"] if folder else ["real", "fake"]
    names = [] if dataset else sorted(set(DATASET_SPELLINGS.values()))
    p.add_argument("--dataset", type=dataset_value(dataset), choices=[*shown, *names], default="real",
                   metavar="{" + ",".join(shown) + "}",
                   help="'fake': random images of the right shape (offline smoke tests)"
                        + ("; 'folder': your own PNG/JPEG/WebP images in --data-dir, one sub-folder per class "
                           "(docs/own-images.md)" if folder else "")
                        + (f"; '{dataset}' means 'real'" if dataset else ""))
    p.add_argument("--data-dir", "--dataroot", dest="data_dir", type=existing_dir, default=None,
                   help="folder with the dataset files, or its parent (default: $MINIGAN_DATA or "
                        "~/.cache/minigan, downloaded there if missing)" + ("; with --dataset folder: the folder of "
                                                                           "images" if folder else ""))
    p.add_argument("--limit", type=positive_int, default=None,
                   help="use N images of each split: a random subset fixed by --seed (fake: N images)")
    if folder:
        p.add_argument("--no-cache", action="store_true",
                       help="--dataset folder: decode the images every run instead of caching the decoded array "
                            "in $MINIGAN_DATA/image-folders (or ~/.cache/minigan/image-folders)")
        p.add_argument("--strict-images", action="store_true",
                       help="--dataset folder: refuse the folder at the first file that cannot be decoded "
                            "(default: skip such files and count them)")


class _OldFakeFlag(argparse.Action):
    """``--fake``, the old spelling of ``--dataset fake`` (evaluate.py, train_classifier.py): still works."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"{parser.prog}: note: --fake is the old spelling of --dataset fake; use that", file=sys.stderr)
        namespace.fake = True


def add_deprecated_fake_flag(p):
    """``--fake`` -> ``args.fake`` True (with a note); the script reads ``args.dataset == "fake" or args.fake``."""
    p.add_argument("--fake", action=_OldFakeFlag, nargs=0, default=False, help="the old spelling of --dataset fake")


def add_loss_options(p):
    """--loss, --r1, --gp-lambda, --beta1, --beta2 (minigan/penalties.py, docs/dcgan.md "WGAN-GP and R1")."""
    p.add_argument("--loss", choices=["bce", "wgan-gp"], default="bce",
                   help="bce: the non-saturating GAN; wgan-gp: Wasserstein critic with gradient penalty "
                        "(Gulrajani et al., 2017; the critic uses layer norm, not batch norm)")
    p.add_argument("--r1", type=nonnegative_float, default=0.0, metavar="GAMMA",
                   help="add the R1 penalty (GAMMA/2) E||grad_x D(x)||^2 on real images to D's loss "
                        "(Mescheder et al., 2018); 0: off")
    p.add_argument("--gp-lambda", type=nonnegative_float, default=None,
                   help="weight of WGAN-GP's gradient penalty (default 10; only with --loss wgan-gp)")
    p.add_argument("--beta1", type=beta_value, default=None,
                   help="Adam beta1, both networks (default: 0.5; 0.0 with --loss wgan-gp)")
    p.add_argument("--beta2", type=beta_value, default=None,
                   help="Adam beta2, both networks (default: 0.999; 0.9 with --loss wgan-gp)")


def loss_options(args):
    """TrainConfig's loss fields from the arguments of ``training_parser(losses=True)``: explicit values
    of --lr, --d-steps, --beta1, --beta2 win over the defaults of --loss (LOSS_DEFAULTS)."""
    chosen = {key: getattr(args, key) for key in ("lr", "beta1", "beta2", "d_steps")}
    settings = {key: LOSS_DEFAULTS[args.loss][key] if value is None else value
                for key, value in chosen.items()}
    gp_lambda = 10.0 if args.gp_lambda is None else args.gp_lambda
    if args.gp_lambda is not None and args.loss != "wgan-gp":
        note(f"--gp-lambda weighs WGAN-GP's gradient penalty; with --loss {args.loss} it has no effect "
             "(add --loss wgan-gp, or --r1 GAMMA for a penalty on D with BCE)")
    print(f"loss {args.loss}, R1 gamma {args.r1}: " + ", ".join(f"{k} {v}" for k, v in settings.items()))
    return {"loss": args.loss, "r1_gamma": args.r1, "gp_lambda": gp_lambda, **settings}


def setup_backend(args):
    """Select --backend and seed minigan's generators with --seed (before the models are built); keep
    freed host memory for reuse (``fast.keep_freed_memory``: 7-13 % off a batch-128 NumPy iteration)."""
    if args.backend:
        backend.set_backend(args.backend)
    fast.keep_freed_memory()
    backend.manual_seed(args.seed)
    mode = ", textbook mode (the plain definitions, no speed kernels)" if backend.is_textbook() else ""
    print(f"backend: {backend.get_backend()}, seed {args.seed}{mode}")


def setup_distributed(args):
    """With --distributed: this process's ``minigan.parallel.distributed.Distributed`` (after setup_backend); else None."""
    if not args.distributed:
        if args.sync_bn:
            raise UsageError("--sync-bn needs --distributed (it synchronises BatchNorm across the ranks)")
        return None
    if getattr(args, "loss", "bce") != "bce" or getattr(args, "r1", 0):
        raise UsageError("--distributed runs the BCE loss only for now; run --loss wgan-gp / --r1 in one process")
    from minigan.parallel import distributed

    try:
        dist = distributed.start(sync_bn=args.sync_bn)
    except distributed.DistributedError as err:
        raise UsageError(str(err)) from err
    if args.batch_size % dist.world_size:                            # every rank finds the same
        raise UsageError(f"--batch-size {args.batch_size} cannot be cut into {dist.world_size} equal shards "
                         f"(one per rank): pass a multiple of {dist.world_size}")
    if dist.rank == 0:
        print(f"distributed: {dist.world_size} rank(s), {args.batch_size // dist.world_size} images each per "
              f"batch, BatchNorm statistics {'over the whole batch' if dist.sync_bn else 'per rank'}")
    return dist


def epoch_evaluator(args, name, spec):
    """With --classifier: evaluate(G, epoch) -> {fcd, kid, ...} on the real test split; else None."""
    if not args.classifier:
        return None
    if args.dataset == "folder":
        raise UsageError("--classifier scores G against the test split of the built-in dataset, so it does "
                         "not work with --dataset folder; leave --classifier out")
    from minigan.evaluation import load_classifier, make_epoch_evaluator

    classifier, meta = load_classifier(args.classifier)
    if meta["dataset"] != name:
        raise UsageError(f"--classifier {args.classifier} was trained on {meta['dataset']}, but this script "
                         f"trains on {name}; pass a {name} classifier (examples/train_classifier.py {name})")
    test_images, test_labels = load_images(name, args, split="test")
    return make_epoch_evaluator(classifier, test_images, test_labels, spec, n=args.eval_n)
