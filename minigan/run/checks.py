"""Checks the scripts make before any work: options that contradict each other (refused), options that
would have no effect (a note), and the paths the results will be written to.

Reading order: run/cli -> **run/checks** -> run/datasets -> examples/. A mistake found after an hour of
training costs the hour; these checks run right after the arguments are parsed, so that a typo in
``--out`` or a contradiction between two options costs a second. ``cli`` re-exports every name here,
so the scripts call ``cli.check_options(args)``, ``cli.output_file(...)``, ``cli.note(...)``.
"""

import os
import sys

from minigan.run.runfolder import check_run_folder


class UsageError(ValueError):
    """Options that do not fit together, or a value only the script can check (e.g. --class-id)."""


def note(text):
    """An option with no effect, or a value that will not do what it seems to: one line on stderr, the
    script goes on (a contradiction is a UsageError instead)."""
    print(f"{os.path.basename(sys.argv[0])}: note: {text}", file=sys.stderr)


# --- output paths, checked before any work: a typo must not cost a finished run ---------------------------
def output_file(path, what, overwrite=None):
    """Check, before the work, that ``path`` can receive the file ``what`` (e.g. "--out"); returns it.

    Refused: a folder, a parent that is a file or cannot be created or written, and - when ``overwrite``
    is False (not None) - an existing file. A missing parent folder is created, as --out folders are.
    """
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a folder; give the file to write, e.g. {os.path.join(path, 'out.npz')}")
    if overwrite is False and os.path.exists(path):
        raise UsageError(f"{what} {path} already exists; pass --overwrite to replace it, or another {what}")
    output_folder(os.path.dirname(os.path.abspath(path)), f"the folder of {what} {path}")
    return path


def output_folder(path, what):
    """Create the folder ``path`` if needed and check that it is a folder this process can write into."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"{what} ({path}) is a file, not a folder; choose another path")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:                                           # a parent is a file, no permission
        raise UsageError(f"{what} ({path}) cannot be created ({err.strerror}); choose another path") from err
    if not os.access(path, os.W_OK):
        raise UsageError(f"{what} ({path}) is not writable by this user; choose another path")
    return path


def check_options(args):
    """Right after parsing a training script's arguments, before any work: refuse the options that
    contradict each other, note those that have no effect, and check that --out can take the run.
    Fills in --eval-every and --eval-n (their defaults are None so that a given value can be noted)."""
    if getattr(args, "loss", "bce") == "wgan-gp" and getattr(args, "d_norm", None) == "batch":
        raise UsageError("--loss wgan-gp with --d-norm batch: the gradient penalty constrains each image's own "
                         "gradient, and batch norm makes every image's score depend on the whole batch, so the "
                         "penalty no longer means what it should (docs/dcgan.md, \"WGAN-GP and R1\"). Leave out "
                         "--d-norm (WGAN-GP's critic then uses layer norm)")
    if not args.classifier and (args.eval_n is not None or args.eval_every is not None):
        note("--eval-n and --eval-every say how --classifier scores G; without --classifier nothing is scored")
    if args.dataset != "folder" and (args.strict_images or args.no_cache):
        note(f"--strict-images and --no-cache are about --dataset folder; with --dataset {args.dataset} they "
             "have no effect")
    if args.lr is not None and args.lr > 1e-2:
        note(f"--lr {args.lr:g} is far above the 1e-4 to 2e-4 that GANs train with (Adam): expect the losses "
             "to diverge (the run then stops with the last good checkpoint)")
    if args.keep_every > args.epochs:
        note(f"--keep-every {args.keep_every} with --epochs {args.epochs}: no earlier generator will be kept")
    args.eval_every = args.eval_every or 1
    args.eval_n = args.eval_n or 2000
    check_run_folder(args.out, args.resume, args.overwrite)


def check_one_batch(n_images, batch_size):
    """Training needs at least one whole batch (the last, incomplete one is dropped)."""
    if n_images < batch_size:
        raise UsageError(f"{n_images} training images are fewer than one batch of --batch-size {batch_size}: "
                         "nothing would be trained. Pass a larger --limit or a smaller --batch-size")
