"""The full training runner: the GAN steps of ``training.py`` plus everything a real run needs.

Reading order: training -> penalties -> **run/trainer** (checkpoints: run/checkpoint, run/training_state,
run/runfolder; pictures: run/viz) -> examples/. Read ``training.train_loop`` first: this is the same loop
with these additions, each in a labelled phase:

- run folders: a folder that already holds a run is refused unless ``resume`` or ``overwrite``;
- checkpoints hold everything needed to continue bit-for-bit: weights, BatchNorm statistics, Adam
  state, the position (epoch, batch), the random generator state and the fixed noise. Batches are
  shuffled by a generator seeded with (seed, epoch), so a resumed run sees the same batches. On CuPy,
  whose generator state cannot be read, every iteration re-seeds the generator from (seed, iteration)
  instead (``run.rng_state.reseed_for_iteration``); the checkpoint then stores the base seed;
- Ctrl-C / SIGTERM save a checkpoint and stop; NaN/Inf losses, or losses beyond DIVERGED_LOSS, stop the
  run, keeping the last good checkpoint; plain-words health warnings (``health_warnings``);
- a disk that fills up (any OSError while writing) stops the run with ``SaveFailed``, which says what
  survived; the state of the moment is rescued into the temporary folder when it can be;
- ``keep_every``: the generator of every N-th epoch is kept beside the checkpoint (generator_epochNNN.npz);
- a log line per iteration (log.jsonl), sample grids, loss curves, a progress bar, an optional
  evaluation every few epochs;
- the loss: BCE (``training.d_step``/``g_step``), or WGAN-GP / R1 (``penalties.py``), which need the
  gradient of a gradient (single process only, for now: ``distributed`` refuses them);
- under ``mpiexec`` with ``distributed`` (minigan/parallel/distributed.py) every rank trains on its shard
  of each batch, and rank 0 alone writes files.
"""

import json
import math
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from minigan import backend, penalties
from minigan.data import batches, num_batches
from minigan.ops.embedding import check_class_indices, labels_checked_on_host
from minigan.optim import Adam
from minigan.run.checkpoint import flatten_state, load_checkpoint, save_checkpoint, stale_temp_files, unflatten_state
from minigan.run import rng_state
from minigan.run.runfolder import claim_run_folder
from minigan.run.training_state import (
    _check_resumable,
    _StopRequest,
    _trim_log,
    save_training_checkpoint,
)
from minigan.tensor import Tensor
from minigan.training import d_step, fixed_inputs, g_step, generate


class TrainingDiverged(RuntimeError):
    """The losses became NaN or Inf, or exploded past DIVERGED_LOSS; the last good checkpoint was kept."""


class SaveFailed(RuntimeError):
    """Writing the run folder failed (a full disk, a folder made read-only); the message says what survived."""


DIVERGED_LOSS = 1e6   # |loss| beyond this: no GAN trains there (a BCE loss of 1e6 means logits of -1e6)
LARGE_BCE_LOSS = 100  # a BCE loss above this needs logits of about that size: the learning rate is too high


def health_warnings(history, samples=None, window=200):
    """Plain-words diagnoses of a failing run (see docs/gan.md, "failure modes")."""
    warnings = []
    recent = [r for r in history[-window:] if "wasserstein" not in r]   # a WGAN critic's loss is < 0
    if len(recent) == window and max(r["loss_D"] for r in recent) < 0.05:
        warnings.append(
            f"loss_D has stayed below 0.05 for {window} iterations: D wins and G's gradient vanishes. "
            "Try --real-label 0.9 (one-sided label smoothing) or --r1 10 (a penalty that keeps D smooth), "
            "and check that G's output is in [-1, 1]."
        )
    bce = [(r["loss_D"] - r.get("r1", 0.0), r.get("loss_G", 0.0)) for r in recent]   # R1's penalty aside
    largest = max((max(abs(d), abs(g)) for d, g in bce), default=0.0)
    if largest > LARGE_BCE_LOSS:
        warnings.append(
            f"a loss reached {largest:.3g} in the last {len(recent)} iterations: a BCE loss that large needs "
            "D's logits about as large, so the weights are exploding (the learning rate is too high). Start "
            "again with a lower --lr (--overwrite).")
    if samples is not None:
        x = backend.to_numpy(samples.data)
        if len(x) > 1 and float(x.std(axis=0).mean()) < 0.02:
            warnings.append("the samples are (almost) all the same image: mode collapse. --resume cannot go "
                            "back (only the latest checkpoint is kept); with --keep-every N the generators of "
                            "earlier epochs are kept (OUT/generator_epochNNN.npz: examples/sample.py and "
                            "evaluate.py read them). Start again with a lower --lr or another --seed (--overwrite).")
    return warnings


def read_numbers(named):
    """{name: 0-d Tensor} -> {name: Python float}, copied from the device in one go.

    The steps return their numbers as 0-d Tensors still on the device (training.d_step); each separate
    read would make the host wait for the GPU to finish all its queued work, so an iteration's numbers
    are stacked and read once.
    """
    on_device = {name: value.data.reshape(()) for name, value in named.items() if isinstance(value, Tensor)}
    read = {}
    if on_device:                                                    # (a step of your own may return floats)
        xp = backend.get_array_module(next(iter(on_device.values())))
        read = dict(zip(on_device, backend.to_numpy(xp.stack(list(on_device.values()))).tolist()))   # one read
    return {name: read[name] if name in read else float(value) for name, value in named.items()}


# ----------------------------------------------------------------------------------------------------
# Which D and G step
# ----------------------------------------------------------------------------------------------------
def discriminator_update(G, D, opt_D, real, labels, config, dist=None):
    """The D step that ``config`` asks for (BCE, BCE + R1, or WGAN-GP). Returns the log's numbers."""
    if config.loss == "wgan-gp":
        return penalties.critic_step(G, D, opt_D, real, labels, config)
    if config.r1_gamma:
        return penalties.r1_d_step(G, D, opt_D, real, labels, config)
    loss_D, d_x, d_g_z = d_step(G, D, opt_D, real, labels, config, dist)
    return {"loss_D": loss_D, "D_x": d_x, "D_G_z": d_g_z}


def generator_update(G, D, opt_G, n, labels, config, dist=None):
    """The G step that ``config`` asks for: non-saturating BCE, or WGAN's -mean D(G(z))."""
    if config.loss == "wgan-gp":
        return penalties.wgan_g_step(G, D, opt_G, n, labels, config)
    return g_step(G, D, opt_G, n, labels, config, dist)


# ----------------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------------
def train(G, D, images, labels, config, out_dir, model_spec, resume=False, evaluate=None,
          evaluate_every=0, overwrite=False, distributed=None, dataset=None, keep_every=0):
    """Train G and D on float images (N, C, H, W) in [-1, 1] (numpy) and int64 labels (N,).

    Writes into ``out_dir``: checkpoint.npz (always the latest), log.jsonl, samples_*.png, curves.png and,
    every ``keep_every`` epochs, generator_epochNNN.npz (the generator alone, for sample.py / evaluate.py).
    A folder that already holds a run is refused (RunFolderError) unless ``resume`` (continue it) or
    ``overwrite`` (delete its run files, start again). ``evaluate(G, epoch) -> dict`` (optional) runs
    every ``evaluate_every`` epochs, after the epoch's checkpoint is saved; its numbers are logged, and
    a failed evaluation is logged as a warning. ``distributed``: a ``minigan.parallel.distributed.Distributed``
    (every rank calls train() with the same arguments; rank 0 writes the files), or None for one process.
    ``dataset``: what the images are (``cli.load_training_set``: name, source, limit, number, shape, class
    names); the checkpoint records it and ``resume`` refuses a checkpoint of other data.
    Returns the list of per-iteration records.
    """
    from minigan.run.viz import plot_curves, save_image_grid

    if min(config.batch_size, config.d_steps) < 1 or not config.lr >= 0 or not 0 < config.real_label <= 1:
        raise ValueError(f"train: expected batch_size >= 1, d_steps >= 1, lr >= 0 and 0 < real_label <= 1, got "
                         f"{config.batch_size}, {config.d_steps}, {config.lr}, {config.real_label}")
    if config.conditional:                                           # once, on the host: no reads per batch
        check_class_indices("train: the training labels", labels, config.num_classes)
    dist = distributed
    if dist is not None and (config.loss != "bce" or config.r1_gamma):
        raise ValueError("train: distributed training runs the BCE loss only; WGAN-GP and R1 (penalties.py) "
                         "run in one process for now")
    writer = dist is None or dist.rank == 0                          # the one process that writes files
    if dist is not None and dist.sync_bn:
        dist.use_sync_batch_norm(G, D)
    out = Path(out_dir)
    if writer:                                                       # rank 0 alone looks at the folder
        claim_run_folder(out, resume, overwrite)
    ckpt_path, log_path = out / "checkpoint.npz", out / "log.jsonl"
    betas = (config.beta1, config.beta2)
    opt_G, opt_D = Adam(G.parameters(), config.lr, betas), Adam(D.parameters(), config.lr, betas)
    position = {"epoch": 0, "batch": 0, "iteration": 0}
    saved = None                                                     # the position checkpoint.npz holds

    fixed = fixed_inputs(config)  # from the generator the caller seeded (mg.manual_seed) before building G, D
    for stale in stale_temp_files(ckpt_path) if writer else []:  # a save killed by SIGKILL left it behind
        Path(stale).unlink(missing_ok=True)
    if not writer:
        pass  # rank 0 reads the checkpoint; broadcast_start below gives this rank rank 0's state
    elif resume and ckpt_path.exists():
        arrays, meta = load_checkpoint(ckpt_path)
        changed = _check_resumable(ckpt_path, meta, config, model_spec, len(images), dist, dataset)
        G.load_state_dict(unflatten_state("G/", arrays))
        D.load_state_dict(unflatten_state("D/", arrays))
        opt_G.load_state_dict(unflatten_state("optG/", arrays))
        opt_D.load_state_dict(unflatten_state("optD/", arrays))
        fixed = (Tensor(backend.to_device(arrays["fixed/noise"])),
                 Tensor(backend.to_device(arrays["fixed/labels"])) if "fixed/labels" in arrays else None)
        position = saved = {k: meta[k] for k in ("epoch", "batch", "iteration")}
        if meta.get("rng_state") is not None and meta.get("backend", "numpy") == backend.get_backend():
            rng_state.set_rng_state(meta["rng_state"])
        print(f"resumed from {ckpt_path}: epoch {position['epoch']}, batch {position['batch']}")
        if changed:
            print(f"--resume with changed options (the run goes on with the new values): {'; '.join(changed)}")
            with open(log_path, "a") as log:
                log.write(json.dumps({"event": "options_changed", "iteration": position["iteration"],
                                      "changed": changed}) + "\n")
    elif resume:
        print(f"--resume: no checkpoint in {out} yet, starting from the beginning")
    if resume and writer:
        _trim_log(log_path, position["iteration"])
    if dist is not None:
        position = dist.broadcast_start(G, D, opt_G, opt_D, fixed, position)
    if resume and position["epoch"] >= config.epochs:                # every rank knows the position now
        if writer:
            print(f"--resume: {ckpt_path} already finished epoch {position['epoch']} of {config.epochs}; "
                  "nothing left to do (pass a larger --epochs to train further)")
        return []

    def save(pos):
        nonlocal saved
        if dist is not None:  # every rank: the copies must still be identical
            dist.check_same_weights(G, D, where=f"at iteration {pos['iteration']}")
        if writer:
            save_training_checkpoint(ckpt_path, G, D, opt_G, opt_D, fixed, pos, config, model_spec, len(images),
                                     dist, dataset)
            saved = dict(pos)

    def sample():  # rank 0 alone: its BatchNorm layers must not wait for the other ranks
        if dist is None:
            return generate(G, *fixed)
        with dist.local_batch_norm(G):
            return generate(G, *fixed)

    def rescue(err):  # an OSError while writing OUT: keep the state of the moment elsewhere, say what survived
        path = Path(tempfile.gettempdir()) / f"minigan-rescue-{out.resolve().name}-iteration{position['iteration']}.npz"
        try:
            save_training_checkpoint(path, G, D, opt_G, opt_D, fixed, position, config, model_spec, len(images),
                                     dist, dataset)
            kept = (f"The state of the moment (epoch {position['epoch']}, iteration {position['iteration']}) was "
                    f"saved to {path} instead: move it onto {ckpt_path} to continue from there.")
        except OSError as again:
            kept = (f"Saving it to {path} failed too ({again.strerror or again}): the iterations since "
                    f"{'that checkpoint' if saved else 'the start'} are lost.")
        where = err.filename or out
        return SaveFailed(f"could not write {where} ({err.strerror or err}). {_what_survived(ckpt_path, saved)} "
                          f"{kept} Free some space (or make {out} writable), then continue with --resume.")

    history, n_per_epoch = [], num_batches(len(images), config.batch_size)
    if n_per_epoch == 0:
        raise ValueError(f"train: {len(images)} images are fewer than one batch of {config.batch_size}")
    try:
        log = open(log_path if writer else os.devnull, "a")
    except OSError as err:
        raise SaveFailed(f"cannot open {log_path} ({err.strerror}); choose another --out") from err
    with log, _StopRequest() as stop:
        try:
            for epoch in range(position["epoch"], config.epochs):
                G.train()
                D.train()
                start, epoch_start = position["batch"], time.perf_counter()
                data = batches((images, labels), config.batch_size, shuffle=True, seed=[config.seed, epoch])
                bar = _progress(n_per_epoch, start, f"epoch {epoch + 1}/{config.epochs}", config.progress and writer)
                for b, (real, y) in enumerate(data):
                    if b < start:
                        continue  # resumed mid-epoch: these batches were already trained on
                    if dist is not None:
                        real, y = dist.shard(real), dist.shard(y)             # (B/W, ...): this rank's rows
                    # --- D step(s), then G step ------------------------------------------------------
                    rng_state.reseed_for_iteration(position["iteration"])  # CuPy only; NumPy: state in checkpoint
                    with labels_checked_on_host():                       # (checked above, once)
                        for _ in range(config.d_steps):                  # WGAN-GP: n_critic = 5
                            d_stats = discriminator_update(G, D, opt_D, real, y, config, dist)
                        loss_G = generator_update(G, D, opt_G, real.shape[0], y, config, dist)
                    d_stats = read_numbers({"loss_G": loss_G, **d_stats})   # the iteration's one host read
                    loss_D, loss_G = d_stats["loss_D"], d_stats.pop("loss_G")
                    if dist is not None:  # the whole batch's numbers for the log; a stop on any rank stops all
                        *losses, stopping = dist.average_floats([loss_D, loss_G, d_stats["D_x"], d_stats["D_G_z"],
                                                                 stop.requested])
                        (loss_D, loss_G, d_stats["D_x"], d_stats["D_G_z"]), stop.requested = losses, stopping > 0
                        d_stats["loss_D"] = loss_D
                    position = {"epoch": epoch, "batch": b + 1, "iteration": position["iteration"] + 1}

                    # --- log: loss_D, loss_G, then the last D step's numbers (D_x, D_G_z or wasserstein, ...)
                    record = {"epoch": epoch, "batch": b, "iteration": position["iteration"],
                              "loss_D": loss_D, "loss_G": loss_G, **d_stats}
                    history.append(record)
                    log.write(json.dumps(record) + "\n")
                    log.flush()  # `tail -f log.jsonl` shows every iteration; a kill loses no logged line
                    bar.update(1)
                    bar.set_postfix(**{k: f"{v:.3f}" for k, v in list(record.items())[3:]}, refresh=False)

                    # --- health check: stop on NaN/Inf or exploded losses, keeping the last good checkpoint
                    if not (abs(loss_D) < DIVERGED_LOSS and abs(loss_G) < DIVERGED_LOSS):   # also NaN
                        bar.close()
                        what = "NaN/Inf" if not (math.isfinite(loss_D) and math.isfinite(loss_G)) else \
                            f"larger than {DIVERGED_LOSS:g} (the weights exploded)"
                        advice = "Continue from it with --resume and a lower --lr, or start again" if saved else \
                            "Start again"
                        raise TrainingDiverged(
                            f"loss became {what} at iteration {position['iteration']} (loss_D={loss_D:.4g}, "
                            f"loss_G={loss_G:.4g}). {_what_survived(ckpt_path, saved)} {advice} with a lower "
                            "--lr or another --seed (--overwrite).")

                    # --- sample ------------------------------------------------------------------------
                    if config.sample_every and position["iteration"] % config.sample_every == 0 and writer:
                        samples = sample()
                        save_image_grid(samples, out / "samples_latest.png", nrow=10 if config.conditional else 8)
                        for w in health_warnings(history, samples):
                            _warn(bar, log, position, w)

                    # --- Ctrl-C / SIGTERM: save where we are and stop cleanly -----------------------
                    if stop.requested:
                        bar.close()
                        save(position)
                        log.flush()
                        if writer:
                            print(f"stopped by signal; saved {ckpt_path} (resume with --resume)")
                        return history
                bar.close()

                # --- end of epoch: samples, checkpoint, kept generator, optional evaluation, log, curves
                position = {"epoch": epoch + 1, "batch": 0, "iteration": position["iteration"]}
                epoch_record = {"event": "epoch_end", "epoch": epoch + 1,
                                "seconds": round(time.perf_counter() - epoch_start, 2),
                                "iteration": position["iteration"]}
                if writer:  # the other ranks go straight on to save(), where they wait for rank 0
                    samples = sample()
                    nrow = 10 if config.conditional else 8
                    save_image_grid(samples, out / f"samples_epoch{epoch + 1:03d}.png", nrow=nrow)
                    save_image_grid(samples, out / "samples_latest.png", nrow=nrow)
                    for w in health_warnings(history):
                        _warn(None, log, position, w)
                save(position)                                           # first: a failed score loses nothing
                if writer and keep_every and (epoch + 1) % keep_every == 0:
                    save_kept_generator(out / f"generator_epoch{epoch + 1:03d}.npz", G, model_spec, position,
                                        config, dataset)
                if writer:
                    if evaluate is not None and evaluate_every and (epoch + 1) % evaluate_every == 0:
                        try:
                            epoch_record.update(evaluate(G, epoch + 1))
                        except Exception as err:  # noqa: BLE001 - any failure of the score: warn, keep training
                            _warn(None, log, position, f"scoring epoch {epoch + 1} failed ({type(err).__name__}: "
                                                       f"{err}); its checkpoint was saved, training goes on")
                    log.write(json.dumps(epoch_record) + "\n")
                    log.flush()
                    plot_curves(log_path, out / "curves.png")
                    print(json.dumps(epoch_record))
        except OSError as err:               # a full disk, a folder made read-only: writing OUT failed
            if not writer:
                raise
            raise rescue(err) from err
    return history


def _what_survived(ckpt_path, saved):
    """One sentence: which checkpoint is intact (checkpoints are written atomically), or that none is."""
    if saved is None:
        return f"No checkpoint had been written to {ckpt_path} yet."
    return f"{ckpt_path} (epoch {saved['epoch']}, iteration {saved['iteration']}) is intact."


def save_kept_generator(path, G, model_spec, position, config, dataset=None):
    """generator_epochNNN.npz: the generator alone (kind "generator"), as ``evaluation.export_generator``
    writes it, so that examples/sample.py and examples/evaluate.py read it like a checkpoint."""
    meta = {"kind": "generator", "model": model_spec, "config": asdict(config), "dataset": dataset, **position,
            "saved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    save_checkpoint(path, flatten_state("G/", G.state_dict()), meta)


def _warn(bar, log, position, message):
    text = f"[health] iteration {position['iteration']}: {message}"
    (bar.write if bar is not None else print)(text)
    log.write(json.dumps({"event": "warning", "iteration": position["iteration"], "message": message}) + "\n")


def _progress(total, initial, description, enabled):
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a missing progress bar must not stop training
        enabled = False
    if not enabled:
        return _NoBar()
    return tqdm(total=total, initial=initial, desc=description, dynamic_ncols=True)


class _NoBar:
    def update(self, n=1): pass
    def set_postfix(self, **kw): pass
    def close(self): pass
    def write(self, s): print(s)
