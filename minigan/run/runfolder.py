"""Run folders: what a training run writes, never writing over a finished run, what --resume may change.

Reading order: training -> **runfolder** -> viz / checkpoint. ``run.trainer.train`` calls the two functions
here before its loop starts; read them after the loop itself.

A run folder (``--out``) holds the files ``train`` writes: ``checkpoint.npz``, ``log.jsonl``,
``samples_epochNNN.png``, ``samples_latest.png``, ``curves.png`` and, with ``keep_every``, the generators
of earlier epochs ``generator_epochNNN.npz``. Starting a run into a folder that
already holds one would overwrite its checkpoint, cut its log and leave its old sample grids next to the
new ones, so ``train`` refuses (``RunFolderError``) unless it was asked to continue the run (``resume``)
or to start it again (``overwrite``: the old run's files are deleted, nothing else in the folder is).

A resumed run continues the saved one, so the options that define the run must be the same: the batch
size (the saved position counts batches), the seed (the batch order of every epoch), the model and the
number of training images. Options of the schedule may change - ``--epochs`` to extend a run, ``--lr``
to go on more gently - and the changes are printed and logged (the run then differs from one that was
never interrupted).
"""

from pathlib import Path

from minigan.run.checkpoint import CheckpointError

RUN_FILES = ("checkpoint.npz", "log.jsonl", "curves.png", "samples_latest.png", "samples_epoch*.png",
             "generator_epoch*.npz")

# TrainConfig fields: those that may differ on resume (printed and logged), those that must not.
# (``progress``, the progress bar, is not part of the run: it is neither.)
RESUME_MAY_CHANGE = ("epochs", "sample_every", "lr", "beta1", "beta2", "real_label", "d_steps")
RESUME_MUST_MATCH = ("batch_size", "seed", "latent_dim", "conditional", "num_classes")


class RunFolderError(ValueError):
    """The output folder already holds a run, and neither resume nor overwrite was asked for."""


def run_files(out):
    """The files of a training run in folder ``out`` (what ``train`` writes there), sorted."""
    return sorted({path for pattern in RUN_FILES for path in Path(out).glob(pattern)})


def check_run_folder(out, resume, overwrite):
    """Refuse, without touching anything, a folder that cannot take this run: a file, a folder that cannot
    be created, or a folder that holds a run while neither ``resume`` nor ``overwrite`` was asked for.

    The scripts call it before any work (``cli.check_options``), ``claim_run_folder`` again at the start.
    """
    out = Path(out)
    if resume and overwrite:
        raise RunFolderError(f"--resume and --overwrite contradict each other: continue the run in {out}, or "
                             "delete it and start again, not both")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"--out {out} is a file, not a folder: a run writes several files into its "
                             "folder. Choose another --out (a new folder is created)")
    above = out.parent
    while not above.exists():                                        # the nearest part of the path that exists
        above = above.parent
    if not above.is_dir():
        raise RunFolderError(f"--out {out} cannot be created: {above} is a file. Choose another --out")
    existing = run_files(out) if out.is_dir() else []
    if existing and not (resume or overwrite):
        names = ", ".join(p.name for p in existing[:4]) + (", ..." if len(existing) > 4 else "")
        raise RunFolderError(f"{out} already holds a training run ({names}); starting again there would "
                             "overwrite it. Pass --resume to continue it, --overwrite to delete it and start "
                             "again, or another --out for a new run")
    return existing


def claim_run_folder(out, resume, overwrite):
    """Create ``out`` and refuse to start a run in a folder that holds one; with ``overwrite``, delete that
    run's files (only those: anything else in the folder stays)."""
    existing = check_run_folder(out, resume, overwrite)
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
    except OSError as err:                                           # a parent is a file, no permission
        raise RunFolderError(f"--out {out} cannot be created ({err.strerror}); choose another --out") from err
    if overwrite:
        for path in existing:
            path.unlink()


def resume_changes(path, meta, config, num_images):
    """Check a checkpoint's saved options against this run's ``config`` (a TrainConfig).

    Raises CheckpointError for a change in ``RESUME_MUST_MATCH`` or in the number of training images;
    returns the changes in ``RESUME_MAY_CHANGE`` as "name: old -> new" strings.
    """
    saved = meta["config"]
    for name in RESUME_MUST_MATCH:
        if name in saved and saved[name] != getattr(config, name):
            option = "--" + name.replace("_", "-")
            raise CheckpointError(f"{path} was saved with {name} {saved[name]!r}, this run uses "
                                  f"{getattr(config, name)!r}, so it would not continue the same run. Resume "
                                  f"with {option} {saved[name]}, or start a new run (another --out)")
    if meta.get("num_images") is not None and meta["num_images"] != num_images:
        raise CheckpointError(f"{path} was trained on {meta['num_images']} images, this run has {num_images}; "
                              "its position counts batches of that data. Resume with the same --dataset, "
                              "--data-dir and --limit, or start a new run (another --out)")
    return [f"{name}: {saved[name]!r} -> {getattr(config, name)!r}" for name in RESUME_MAY_CHANGE
            if name in saved and saved[name] != getattr(config, name)]
