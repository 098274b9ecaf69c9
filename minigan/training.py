"""The GAN training loop, in labelled phases you can step through: D step, G step, log, sample, save.

Reading order: models -> **training** -> viz / checkpoint -> examples/.

One iteration (Goodfellow et al., 2014; seed, section "Loss functions"):
  D step  maximise log D(x) + log(1 - D(G(z))): BCE of D's logits on a real batch against 1 (or
          ``real_label``, e.g. 0.9 for one-sided label smoothing) plus BCE on a fake batch against 0.
          The fake batch is made under no_grad(), so no graph leads back into G: this step must
          not change G (``G(z).detach()`` would do the same after recording a graph for nothing).
  G step  the non-saturating loss: BCE of D(G(z)) against 1, i.e. maximise log D(G(z)). (Minimising
          log(1 - D(G(z))) instead has a vanishing gradient exactly when G is bad and D is sure.)
          D's weights get no gradient here (requires_grad switched off), which saves a third of D's
          backward pass.

With ``loss="wgan-gp"`` and/or ``r1_gamma > 0`` the D and G steps are those of ``penalties.py``
(WGAN-GP's critic and generator losses, the R1 penalty), which need the gradient of a gradient.

Checkpoints hold everything needed to continue bit-for-bit on NumPy: weights, BatchNorm statistics,
Adam state, the position (epoch, batch), the random generator state and the fixed noise. Batches are
shuffled by a generator seeded with (seed, epoch), so a resumed run sees the same batches.
"""

import json
import math
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from minigan import backend, functional as F, penalties
from minigan.autograd import no_grad
from minigan.checkpoint import (CheckpointError, flatten_state, load_checkpoint, save_checkpoint,
                                stale_temp_files, unflatten_state)
from minigan.data import batches, num_batches
from minigan.ops.activations import sigmoid_array
from minigan.optim import Adam
from minigan.tensor import Tensor, ones, randn, zeros


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
def d_step(G, D, opt_D, real, labels, config):
    """One discriminator update. Returns (loss_D, D(x), D(G(z))) as Python floats."""
    n = real.shape[0]
    z = randn(n, config.latent_dim)                                  # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    with no_grad():
        fake = G(z, *cond)                                           # (N, C, H, W), no graph into G
    logits_real = D(real, *cond)                                     # (N, 1)
    logits_fake = D(fake, *cond)                                     # (N, 1)
    loss = (F.binary_cross_entropy_with_logits(logits_real, ones(n, 1) * config.real_label)
            + F.binary_cross_entropy_with_logits(logits_fake, zeros(n, 1)))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item(), _mean_probability(logits_real), _mean_probability(logits_fake)


def g_step(G, D, opt_G, n, labels, config):
    """One generator update with the non-saturating loss. Returns loss_G as a Python float."""
    z = randn(n, config.latent_dim)                                  # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    _set_requires_grad(D, False)                                     # gradients flow through D, not into it
    loss = F.binary_cross_entropy_with_logits(D(G(z, *cond), *cond), ones(n, 1))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    _set_requires_grad(D, True)
    return loss.item()


def discriminator_update(G, D, opt_D, real, labels, config):
    """The D step that ``config`` asks for (BCE, BCE + R1, or WGAN-GP). Returns the log's numbers."""
    if config.loss == "wgan-gp":
        return penalties.critic_step(G, D, opt_D, real, labels, config)
    if config.r1_gamma:
        return penalties.r1_d_step(G, D, opt_D, real, labels, config)
    loss_D, d_x, d_g_z = d_step(G, D, opt_D, real, labels, config)
    return {"loss_D": loss_D, "D_x": d_x, "D_G_z": d_g_z}


def generator_update(G, D, opt_G, n, labels, config):
    """The G step that ``config`` asks for: non-saturating BCE, or WGAN's -mean D(G(z))."""
    if config.loss == "wgan-gp":
        return penalties.wgan_g_step(G, D, opt_G, n, labels, config)
    return g_step(G, D, opt_G, n, labels, config)


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


def save_training_checkpoint(path, G, D, opt_G, opt_D, fixed, position, config, model_spec):
    arrays = {**flatten_state("G/", G.state_dict()), **flatten_state("D/", D.state_dict()),
              **flatten_state("optG/", opt_G.state_dict()), **flatten_state("optD/", opt_D.state_dict()),
              "fixed/noise": fixed[0].data}
    if fixed[1] is not None:
        arrays["fixed/labels"] = fixed[1].data
    meta = {"kind": "gan-training", "model": model_spec, "config": asdict(config), **position,
            "rng_state": backend.get_rng_state() if backend.get_backend() == "numpy" else None,
            "backend": backend.get_backend(), "saved_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    save_checkpoint(path, arrays, meta)


def _check_resumable(path, meta, config, model_spec):
    """Refuse a checkpoint of another model, or one whose batch position means other batches."""
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
    G.load_state_dict(unflatten_state("G/", arrays))
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


# ----------------------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------------------
def train(G, D, images, labels, config, out_dir, model_spec, resume=False, evaluate=None,
          evaluate_every=0):
    """Train G and D on float images (N, C, H, W) in [-1, 1] (numpy) and int64 labels (N,).

    Writes into ``out_dir``: checkpoint.npz (always the latest), log.jsonl, samples_*.png, curves.png.
    ``evaluate(G, epoch) -> dict`` (optional) runs every ``evaluate_every`` epochs; its numbers are logged.
    Returns the list of per-iteration records.
    """
    from minigan.viz import plot_curves, save_image_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out / "checkpoint.npz", out / "log.jsonl"
    betas = (config.beta1, config.beta2)
    opt_G, opt_D = Adam(G.parameters(), config.lr, betas), Adam(D.parameters(), config.lr, betas)
    position = {"epoch": 0, "batch": 0, "iteration": 0}

    fixed = fixed_inputs(config)  # from the generator the caller seeded (mg.manual_seed) before building G, D
    for stale in stale_temp_files(ckpt_path):  # a save killed by SIGKILL / power loss left it behind
        Path(stale).unlink(missing_ok=True)
    if resume and ckpt_path.exists():
        arrays, meta = load_checkpoint(ckpt_path)
        _check_resumable(ckpt_path, meta, config, model_spec)
        G.load_state_dict(unflatten_state("G/", arrays))
        D.load_state_dict(unflatten_state("D/", arrays))
        opt_G.load_state_dict(unflatten_state("optG/", arrays))
        opt_D.load_state_dict(unflatten_state("optD/", arrays))
        fixed = (Tensor(backend.to_device(arrays["fixed/noise"])),
                 Tensor(backend.to_device(arrays["fixed/labels"])) if "fixed/labels" in arrays else None)
        position = {k: meta[k] for k in ("epoch", "batch", "iteration")}
        if meta.get("rng_state") is not None and backend.get_backend() == "numpy":
            backend.set_rng_state(meta["rng_state"])
        print(f"resumed from {ckpt_path}: epoch {position['epoch']}, batch {position['batch']}")
    elif resume:
        print(f"--resume: no checkpoint in {out} yet, starting from the beginning")
    elif log_path.exists():
        log_path.unlink()  # a fresh run starts a fresh log
    if resume:
        _trim_log(log_path, position["iteration"])

    def save(pos):
        save_training_checkpoint(ckpt_path, G, D, opt_G, opt_D, fixed, pos, config, model_spec)

    history, n_per_epoch = [], num_batches(len(images), config.batch_size)
    if n_per_epoch == 0:
        raise ValueError(f"train: {len(images)} images are fewer than one batch of {config.batch_size}")
    with open(log_path, "a") as log, _StopRequest() as stop:
        for epoch in range(position["epoch"], config.epochs):
            G.train()
            D.train()
            start, epoch_start = position["batch"], time.perf_counter()
            data = batches((images, labels), config.batch_size, shuffle=True, seed=[config.seed, epoch])
            bar = _progress(n_per_epoch, start, f"epoch {epoch + 1}/{config.epochs}", config.progress)
            for b, (real, y) in enumerate(data):
                if b < start:
                    continue  # resumed mid-epoch: these batches were already trained on
                # --- D step(s), then G step ----------------------------------------------------------
                for _ in range(config.d_steps):                      # WGAN-GP: n_critic = 5
                    d_stats = discriminator_update(G, D, opt_D, real, y, config)
                loss_G = generator_update(G, D, opt_G, real.shape[0], y, config)
                loss_D = d_stats["loss_D"]
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
                        f"loss_G={loss_G}); the last good checkpoint {ckpt_path} was kept. Lower --lr "
                        "or resume from it with a different --seed.")

                # --- sample ----------------------------------------------------------------------------
                if config.sample_every and position["iteration"] % config.sample_every == 0:
                    samples = generate(G, *fixed)
                    save_image_grid(samples, out / "samples_latest.png", nrow=10 if config.conditional else 8)
                    for w in health_warnings(history, samples):
                        _warn(bar, log, position, w)

                # --- Ctrl-C / SIGTERM: save where we are and stop cleanly ---------------------------
                if stop.requested:
                    bar.close()
                    save(position)
                    log.flush()
                    print(f"stopped by signal; saved {ckpt_path} (resume with --resume)")
                    return history
            bar.close()

            # --- end of epoch: samples, curves, checkpoint, optional evaluation ----------------------
            position = {"epoch": epoch + 1, "batch": 0, "iteration": position["iteration"]}
            samples = generate(G, *fixed)
            nrow = 10 if config.conditional else 8
            save_image_grid(samples, out / f"samples_epoch{epoch + 1:03d}.png", nrow=nrow)
            save_image_grid(samples, out / "samples_latest.png", nrow=nrow)
            for w in health_warnings(history):
                _warn(None, log, position, w)
            epoch_record = {"event": "epoch_end", "epoch": epoch + 1,
                            "seconds": round(time.perf_counter() - epoch_start, 2),
                            "iteration": position["iteration"]}
            if evaluate is not None and evaluate_every and (epoch + 1) % evaluate_every == 0:
                epoch_record.update(evaluate(G, epoch + 1))
            log.write(json.dumps(epoch_record) + "\n")
            log.flush()
            save(position)
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
