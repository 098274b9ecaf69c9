"""The GAN training loop, in labelled phases you can step through: D step, G step, log, sample, save.

Reading order: models -> penalties -> **training** -> training_state -> viz / checkpoint -> examples/.

One iteration (Goodfellow et al., 2014; seed, section "Loss functions"):
  D step  maximise log D(x) + log(1 - D(G(z))): BCE of D's logits on a real batch against 1 (or
          ``real_label``, e.g. 0.9 for one-sided label smoothing) plus BCE on a fake batch against 0.
          The fake batch is made under no_grad(), so no graph leads back into G: this step must
          not change G (``G(z).detach()`` would do the same after recording a graph for nothing).
  G step  the non-saturating loss: BCE of D(G(z)) against 1, i.e. maximise log D(G(z)). (Minimising
          log(1 - D(G(z))) instead has a vanishing gradient exactly when G is bad and D is sure.)
          D's weights get no gradient here (requires_grad switched off), which saves a third of D's
          backward pass.

Under ``mpiexec`` with ``distributed`` (distributed.py, docs/distributed.md) every rank trains on its
shard of each batch, gradients are averaged over the ranks before each Adam step, and rank 0 alone
writes files; ``distributed=None`` is the single process, and then none of that code runs.

With ``loss="wgan-gp"`` and/or ``r1_gamma > 0`` the D and G steps are those of ``penalties.py``
(WGAN-GP's critic and generator losses, the R1 penalty), which need the gradient of a gradient
(single process only, for now: ``distributed`` refuses them).

Checkpoints hold everything needed to continue bit-for-bit: weights, BatchNorm statistics, Adam state,
the position (epoch, batch), the random generator state and the fixed noise. Batches are shuffled by a
generator seeded with (seed, epoch), so a resumed run sees the same batches. On CuPy, whose generator
state cannot be read, every iteration re-seeds the generator from (seed, iteration) instead
(``backend.reseed_for_iteration``); the checkpoint then stores the base seed.
"""

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minigan import backend, functional as F, penalties
from minigan.autograd import no_grad
from minigan.checkpoint import load_checkpoint, stale_temp_files, unflatten_state
from minigan.data import batches, num_batches
from minigan.ops.activations import sigmoid_array
from minigan.optim import Adam
from minigan.runfolder import RunFolderError, claim_run_folder  # noqa: F401 (RunFolderError: public)
from minigan.tensor import Tensor, ones, randn, zeros
from minigan.training_state import (  # noqa: F401  (load_generator*: public, used by sample.py and evaluation)
    _check_resumable,
    _StopRequest,
    _trim_log,
    load_generator,
    load_generator_state,
    save_training_checkpoint,
)


@dataclass
class TrainConfig:
    epochs: int = 5
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    real_label: float = 1.0      # 0.9 = one-sided label smoothing
    d_steps: int = 1             # D updates per G update
    seed: int = 0
    sample_every: int = 500      # iterations between sample grids (0: only at epoch ends)
    latent_dim: int = 100
    conditional: bool = False    # cGAN: G(z, y), D(x, y)
    num_classes: int = 10
    progress: bool = True
    loss: str = "bce"            # "wgan-gp": critic loss + gradient penalty (penalties.py)
    gp_lambda: float = 10.0      # WGAN-GP's penalty weight lambda
    r1_gamma: float = 0.0        # > 0: add the R1 penalty (gamma / 2) E||grad_x D(x)||^2 on real images

    def __post_init__(self):
        if self.loss not in ("bce", "wgan-gp") or self.r1_gamma < 0 or self.gp_lambda < 0:
            raise ValueError(f"TrainConfig: expected loss 'bce' or 'wgan-gp', r1_gamma >= 0, gp_lambda >= 0; "
                             f"got {self.loss!r}, {self.r1_gamma}, {self.gp_lambda}")


class TrainingDiverged(RuntimeError):
    """The losses became NaN or Inf; the last good checkpoint was kept."""


# ----------------------------------------------------------------------------------------------------
# The two steps
# ----------------------------------------------------------------------------------------------------
def d_step(G, D, opt_D, real, labels, config, dist=None):
    """One discriminator update. Returns (loss_D, D(x), D(G(z))) as Python floats."""
    n = real.shape[0]
    z = noise(n, config, dist)                                       # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    with no_grad():
        fake = G(z, *cond)                                           # (N, C, H, W), no graph into G
    logits_real = D(real, *cond)                                     # (N, 1)
    logits_fake = D(fake, *cond)                                     # (N, 1)
    loss = (F.binary_cross_entropy_with_logits(logits_real, ones(n, 1) * config.real_label)
            + F.binary_cross_entropy_with_logits(logits_fake, zeros(n, 1)))
    opt_D.zero_grad()
    loss.backward()
    if dist is not None:
        dist.average_gradients(opt_D.params)                         # the whole batch's gradient on every rank
    opt_D.step()
    return loss.item(), _mean_probability(logits_real), _mean_probability(logits_fake)


def g_step(G, D, opt_G, n, labels, config, dist=None):
    """One generator update with the non-saturating loss. Returns loss_G as a Python float."""
    z = noise(n, config, dist)                                       # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    _set_requires_grad(D, False)                                     # gradients flow through D, not into it
    loss = F.binary_cross_entropy_with_logits(D(G(z, *cond), *cond), ones(n, 1))
    opt_G.zero_grad()
    loss.backward()
    if dist is not None:
        dist.average_gradients(opt_G.params)
    opt_G.step()
    _set_requires_grad(D, True)
    return loss.item()


def noise(n, config, dist=None):
    """z for this process's n examples. Under ``dist`` every rank draws the whole batch's noise (one seed:
    the same numbers on every rank) and keeps its own rows, so the ranks together use one process's z."""
    if dist is None:
        return randn(n, config.latent_dim)                           # (N, latent_dim)
    return dist.shard(randn(n * dist.world_size, config.latent_dim))    # (B, latent_dim) -> (B/W, latent_dim)


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


def _mean_probability(logits):
    return float(sigmoid_array(logits.data).mean())                  # mean sigmoid(logit): D's average verdict


def _set_requires_grad(module, flag):
    for p in module.parameters():
        p.requires_grad = flag


# ----------------------------------------------------------------------------------------------------
# Sampling, health, checkpoints
# ----------------------------------------------------------------------------------------------------
def fixed_inputs(config, n=64):
    """Noise (and labels) that stay the same all run, so sample grids show progress. cGAN: 10x10 grid."""
    if config.conditional:
        n = config.num_classes * 10
        labels = backend.xp().asarray(np.repeat(np.arange(config.num_classes), 10))   # one row per class
        return randn(n, config.latent_dim), Tensor(labels)
    return randn(n, config.latent_dim), None


def generate(G, z, labels=None):
    """G's images for given noise (and labels), without recording a graph."""
    with no_grad():
        return G(z, labels) if labels is not None else G(z)


def health_warnings(history, samples=None, window=200):
    """Plain-words diagnoses of a failing run (see docs/gan.md, "failure modes")."""
    warnings = []
    recent = [r for r in history[-window:] if "wasserstein" not in r]   # a WGAN critic's loss is < 0
    if len(recent) == window and max(r["loss_D"] for r in recent) < 0.05:
        warnings.append(
            f"loss_D has stayed below 0.05 for {window} iterations: D wins and G's gradient vanishes. "
            "Try --real-label 0.9, a lower D learning rate, or check that G's output is in [-1, 1]."
        )
    if samples is not None:
        x = backend.to_numpy(samples.data)
        if len(x) > 1 and float(x.std(axis=0).mean()) < 0.02:
            warnings.append("the samples are (almost) all the same image: mode collapse. "
                            "Restart from an earlier checkpoint, or lower the learning rate.")
    return warnings


# ----------------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------------
def train(G, D, images, labels, config, out_dir, model_spec, resume=False, evaluate=None,
          evaluate_every=0, overwrite=False, distributed=None):
    """Train G and D on float images (N, C, H, W) in [-1, 1] (numpy) and int64 labels (N,).

    Writes into ``out_dir``: checkpoint.npz (always the latest), log.jsonl, samples_*.png, curves.png.
    A folder that already holds a run is refused (RunFolderError) unless ``resume`` (continue it) or
    ``overwrite`` (delete its run files, start again). ``evaluate(G, epoch) -> dict`` (optional) runs
    every ``evaluate_every`` epochs, after the epoch's checkpoint is saved; its numbers are logged, and
    a failed evaluation is logged as a warning. ``distributed``: a ``minigan.distributed.Distributed``
    (every rank calls train() with the same arguments; rank 0 writes the files), or None for one process.
    Returns the list of per-iteration records.
    """
    from minigan.viz import plot_curves, save_image_grid

    if min(config.batch_size, config.d_steps) < 1 or not config.lr >= 0 or not 0 < config.real_label <= 1:
        raise ValueError(f"train: expected batch_size >= 1, d_steps >= 1, lr >= 0 and 0 < real_label <= 1, got "
                         f"{config.batch_size}, {config.d_steps}, {config.lr}, {config.real_label}")
    dist = distributed
    if dist is not None and (config.loss != "bce" or config.r1_gamma):
        raise ValueError("train: distributed training runs the BCE loss only; WGAN-GP and R1 (penalties.py) "
                         "run in one process for now")
    writer = dist is None or dist.rank == 0                          # the one process that writes files
    if dist is not None and dist.sync_bn:
        dist.use_sync_batch_norm(G, D)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if writer:                                                       # rank 0 alone looks at the folder
        claim_run_folder(out, resume, overwrite)
    ckpt_path, log_path = out / "checkpoint.npz", out / "log.jsonl"
    betas = (config.beta1, config.beta2)
    opt_G, opt_D = Adam(G.parameters(), config.lr, betas), Adam(D.parameters(), config.lr, betas)
    position = {"epoch": 0, "batch": 0, "iteration": 0}

    fixed = fixed_inputs(config)  # from the generator the caller seeded (mg.manual_seed) before building G, D
    for stale in stale_temp_files(ckpt_path) if writer else []:  # a save killed by SIGKILL left it behind
        Path(stale).unlink(missing_ok=True)
    if not writer:
        pass  # rank 0 reads the checkpoint; broadcast_start below gives this rank rank 0's state
    elif resume and ckpt_path.exists():
        arrays, meta = load_checkpoint(ckpt_path)
        changed = _check_resumable(ckpt_path, meta, config, model_spec, len(images), dist)
        G.load_state_dict(unflatten_state("G/", arrays))
        D.load_state_dict(unflatten_state("D/", arrays))
        opt_G.load_state_dict(unflatten_state("optG/", arrays))
        opt_D.load_state_dict(unflatten_state("optD/", arrays))
        fixed = (Tensor(backend.to_device(arrays["fixed/noise"])),
                 Tensor(backend.to_device(arrays["fixed/labels"])) if "fixed/labels" in arrays else None)
        position = {k: meta[k] for k in ("epoch", "batch", "iteration")}
        if meta.get("rng_state") is not None and meta.get("backend", "numpy") == backend.get_backend():
            backend.set_rng_state(meta["rng_state"])
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
        if dist is not None:  # every rank: the copies must still be identical
            dist.check_same_weights(G, D, where=f"at iteration {pos['iteration']}")
        if writer:
            save_training_checkpoint(ckpt_path, G, D, opt_G, opt_D, fixed, pos, config, model_spec, len(images),
                                     dist)

    def sample():  # rank 0 alone: its BatchNorm layers must not wait for the other ranks
        if dist is None:
            return generate(G, *fixed)
        with dist.local_batch_norm(G):
            return generate(G, *fixed)

    history, n_per_epoch = [], num_batches(len(images), config.batch_size)
    if n_per_epoch == 0:
        raise ValueError(f"train: {len(images)} images are fewer than one batch of {config.batch_size}")
    with open(log_path if writer else os.devnull, "a") as log, _StopRequest() as stop:
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
                # --- D step(s), then G step ----------------------------------------------------------
                backend.reseed_for_iteration(position["iteration"])  # CuPy only; NumPy: state in checkpoint
                for _ in range(config.d_steps):                      # WGAN-GP: n_critic = 5
                    d_stats = discriminator_update(G, D, opt_D, real, y, config, dist)
                loss_G = generator_update(G, D, opt_G, real.shape[0], y, config, dist)
                loss_D = d_stats["loss_D"]
                if dist is not None:  # the whole batch's numbers for the log; a stop on any rank stops all
                    *losses, stopping = dist.average_floats([loss_D, loss_G, d_stats["D_x"], d_stats["D_G_z"],
                                                             stop.requested])
                    (loss_D, loss_G, d_stats["D_x"], d_stats["D_G_z"]), stop.requested = losses, stopping > 0
                    d_stats["loss_D"] = loss_D
                position = {"epoch": epoch, "batch": b + 1, "iteration": position["iteration"] + 1}

                # --- log: loss_D, loss_G, then the last D step's numbers (D_x, D_G_z or wasserstein, ...) --
                record = {"epoch": epoch, "batch": b, "iteration": position["iteration"],
                          "loss_D": loss_D, "loss_G": loss_G, **d_stats}
                history.append(record)
                log.write(json.dumps(record) + "\n")
                log.flush()  # `tail -f log.jsonl` shows every iteration; a kill loses no logged line
                bar.update(1)
                bar.set_postfix(**{k: f"{v:.3f}" for k, v in list(record.items())[3:]}, refresh=False)

                # --- health check: stop on NaN/Inf, keeping the last good checkpoint -----------------
                if not (math.isfinite(loss_D) and math.isfinite(loss_G)):
                    bar.close()
                    raise TrainingDiverged(
                        f"loss became NaN/Inf at iteration {position['iteration']} (loss_D={loss_D}, "
                        f"loss_G={loss_G}); the last good checkpoint {ckpt_path} was kept. Continue from it "
                        "with --resume and a lower --lr, or start again with another --seed (--overwrite).")

                # --- sample ----------------------------------------------------------------------------
                if config.sample_every and position["iteration"] % config.sample_every == 0 and writer:
                    samples = sample()
                    save_image_grid(samples, out / "samples_latest.png", nrow=10 if config.conditional else 8)
                    for w in health_warnings(history, samples):
                        _warn(bar, log, position, w)

                # --- Ctrl-C / SIGTERM: save where we are and stop cleanly ---------------------------
                if stop.requested:
                    bar.close()
                    save(position)
                    log.flush()
                    if writer:
                        print(f"stopped by signal; saved {ckpt_path} (resume with --resume)")
                    return history
            bar.close()

            # --- end of epoch: samples, checkpoint, then the optional evaluation, log, curves ---------
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
    return history


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
