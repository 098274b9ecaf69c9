"""What a GAN training checkpoint holds, how a run resumes from one, and how a generator is read back.

Reading order: training -> **training_state** -> viz / checkpoint -> examples/. ``run.trainer.train``
calls these at its "checkpoint" and "resume" points; read it first.

A training checkpoint (``OUT/checkpoint.npz``, written atomically by ``checkpoint.save_checkpoint``):
arrays ``G/...``, ``D/...`` (weights and BatchNorm statistics), ``optG/...``, ``optD/...`` (Adam's m, v
and step counts), ``fixed/noise`` (and ``fixed/labels``); metadata: the model spec, the TrainConfig,
the position (epoch, batch, iteration), the random generator state, the backend, the number of
training images, the dataset (``dataset``: name, real/fake/folder, --limit, number of images, image
shape, class names; absent in checkpoints written before it was recorded) and the distributed layout
(ranks, sync_bn). ``_check_resumable`` refuses a checkpoint that cannot continue this run and lists the
options that changed but may.
``_StopRequest`` turns Ctrl-C / SIGTERM into "finish this iteration, save a checkpoint, stop".
"""

import json
import signal
import time
from dataclasses import asdict

from minigan import backend
from minigan.run.checkpoint import CheckpointError, flatten_state, load_checkpoint, save_checkpoint, unflatten_state
from minigan.run import rng_state
from minigan.run.runfolder import resume_changes


def save_training_checkpoint(path, G, D, opt_G, opt_D, fixed, position, config, model_spec, num_images=None,
                             distributed=None, dataset=None):
    arrays = {**flatten_state("G/", G.state_dict()), **flatten_state("D/", D.state_dict()),
              **flatten_state("optG/", opt_G.state_dict()), **flatten_state("optD/", opt_D.state_dict()),
              "fixed/noise": fixed[0].data}
    if fixed[1] is not None:
        arrays["fixed/labels"] = fixed[1].data
    meta = {"kind": "gan-training", "model": model_spec, "config": asdict(config), **position,
            "num_images": num_images, "dataset": dataset,
            "rng_state": rng_state.get_rng_state(),
            "backend": backend.get_backend(), "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "distributed": _distributed_meta(distributed)}
    save_checkpoint(path, arrays, meta)


def _distributed_meta(dist):
    return dist.describe() if dist is not None else {"world_size": 1, "sync_bn": False}


def _check_resumable(path, meta, config, model_spec, num_images, dist=None, dataset=None):
    """Refuse a checkpoint of another model or data, or one whose batch position means other batches.

    Returns the options that changed but may (runfolder.RESUME_MAY_CHANGE), as "name: old -> new".
    """
    _check_same_dataset(path, meta.get("dataset"), dataset)
    if meta.get("kind") != "gan-training":
        raise CheckpointError(f"{path} is not a training checkpoint (kind {meta.get('kind')!r}); "
                              "--resume needs the checkpoint.npz that train() wrote")
    if meta["model"] != json.loads(json.dumps(model_spec)):
        raise CheckpointError(f"{path} was saved from model {meta['model']}, but this run builds "
                              f"{model_spec}; resume with the same options, or use another --out")
    if meta["config"]["batch_size"] != config.batch_size:
        raise CheckpointError(f"{path} was saved with batch size {meta['config']['batch_size']}, this run "
                              f"uses {config.batch_size}; its position (batch {meta['batch']}) counts batches "
                              "of the saved size, so resume with that --batch-size")
    saved = {key: meta["config"].get(key, default) for key, default in
             (("loss", "bce"), ("r1_gamma", 0.0), ("gp_lambda", 10.0))}          # older checkpoints: BCE
    wanted = {"loss": config.loss, "r1_gamma": config.r1_gamma, "gp_lambda": config.gp_lambda}
    if saved != wanted:
        raise CheckpointError(f"{path} was saved with {saved}, this run uses {wanted}; resume with the "
                              "same --loss, --r1 and --gp-lambda, or use another --out")
    saved, now = meta.get("distributed", _distributed_meta(None)), _distributed_meta(dist)
    if saved != now:
        raise CheckpointError(f"{path} was saved by a run on {saved['world_size']} process(es) with sync_bn="
                              f"{saved['sync_bn']}, this run has {now['world_size']} with sync_bn={now['sync_bn']}; "
                              "the BatchNorm statistics of a step depend on both, so resume with "
                              f"`mpiexec -n {saved['world_size']}` and the same --sync-bn "
                              "(a single process: without --distributed)")
    return resume_changes(path, meta, config, num_images)


DATASET_IDENTITY = ("name", "source", "limit", "num_images", "image_shape", "class_names")


def describe_dataset(dataset):
    """'cifar10 (fake, --limit 128): 128 images of shape 3x32x32, 10 classes', for messages."""
    limit = f", --limit {dataset.get('limit')}" if dataset.get("limit") is not None else ""
    shape = "x".join(str(s) for s in dataset.get("image_shape", []))
    return (f"{dataset.get('name')} ({dataset.get('source')}{limit}): {dataset.get('num_images')} images of "
            f"shape {shape}, {len(dataset.get('class_names') or [])} classes")


def _check_same_dataset(path, saved, now):
    """--resume on other data (fake for real, another folder, other classes) continues nothing: refuse.
    A checkpoint written before the dataset was recorded (``saved`` None) is checked by its image count only."""
    if saved is None or now is None:
        return
    differs = [f"{key} {saved.get(key)!r}, now {now.get(key)!r}" for key in DATASET_IDENTITY
               if saved.get(key) != now.get(key)]
    if differs:
        raise CheckpointError(f"{path} was trained on {describe_dataset(saved)}, and this run's data differ: "
                              f"{'; '.join(differs)}. Resume with the same --dataset, --data-dir and --limit, or "
                              "start a new run (another --out)")


def _trim_log(log_path, iteration):
    """Keep only the log lines up to ``iteration``, the last one the checkpoint holds.

    A run killed without warning (SIGKILL, power loss) has logged iterations after its last checkpoint,
    which the resumed run repeats, and may have died in the middle of a line.
    """
    if not log_path.exists():
        return
    kept = []
    for line in log_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue                                                 # half-written by a killed run
        if isinstance(record, dict) and record.get("iteration", 0) <= iteration:
            kept.append(line + "\n")
    tmp_path = log_path.with_name(log_path.name + ".tmp")
    tmp_path.write_text("".join(kept))
    tmp_path.replace(log_path)                                       # atomic, like the checkpoint


def load_generator(path):
    """(G in eval mode, spec, meta) from a training checkpoint or a generator-only checkpoint.

    Both hold the generator under "G/" and the model spec in ``meta["model"]``, from which
    ``models.build`` rebuilds the network; the file is read once.
    """
    from minigan.models import build

    arrays, meta = load_checkpoint(path)
    spec = meta.get("model")
    if not isinstance(spec, dict) or "name" not in spec:
        raise CheckpointError(f"{path!r} has no model spec (meta['model']): it is not a GAN training or "
                              f"generator checkpoint (kind {meta.get('kind')!r})")
    G, _ = build(spec)
    try:
        G.load_state_dict(unflatten_state("G/", arrays))
    except ValueError as err:                                        # weights of another architecture
        raise CheckpointError(f"{path}: {err}") from err
    return G.eval(), spec, meta


def load_generator_state(G, path):
    """Load only the generator's weights from a training checkpoint (for sampling / evaluation)."""
    arrays, meta = load_checkpoint(path)
    G.load_state_dict(unflatten_state("G/", arrays))
    return meta


class _StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM: finish the current iteration, save, stop. A second Ctrl-C aborts."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread: signals cannot be caught here
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
