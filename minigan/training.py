"""One GAN iteration in labelled phases you can step through: the D step, then the G step.

Reading order: models -> **training** -> penalties -> run/ (the full runner: run folders, resume,
progress, logs) -> examples/. A learner reads this file in one sitting: ``d_step``, ``g_step`` and
``train_loop``, a bare loop over epochs and batches. Everything a real run needs on top (checkpoints,
resume, Ctrl-C, health checks, sample grids, several processes) is ``minigan/run/trainer.py``, which
calls the same two steps.

One iteration (Goodfellow et al., 2014; seed, section "Loss functions"):
  D step  maximise log D(x) + log(1 - D(G(z))): BCE of D's logits on a real batch against 1 (or
          ``real_label``, e.g. 0.9 for one-sided label smoothing) plus BCE on a fake batch against 0.
          The fake batch is made under no_grad(), so no graph leads back into G: this step must
          not change G (``G(z).detach()`` would do the same after recording a graph for nothing).
  G step  the non-saturating loss: BCE of D(G(z)) against 1, i.e. maximise log D(G(z)). (Minimising
          log(1 - D(G(z))) instead has a vanishing gradient exactly when G is bad and D is sure.)
          D's weights get no gradient here (requires_grad switched off), which saves a third of D's
          backward pass.

``dist`` (a ``minigan.parallel.distributed.Distributed`` under ``mpiexec``, docs/distributed.md): every
rank trains on its shard of the batch and the gradients are averaged before each Adam step. With
``dist=None``, the single process, none of that code runs.
"""

from dataclasses import dataclass

import numpy as np

from minigan import backend, functional as F
from minigan.autograd import no_grad
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


# ----------------------------------------------------------------------------------------------------
# The two steps
# ----------------------------------------------------------------------------------------------------
def d_loss(G, D, real, labels, config, dist=None):
    """The D step's loss: BCE of D's logits on the real batch (target ``real_label``) and on a fake batch
    (target 0). Returns (loss, logits_real, logits_fake); ``penalties.r1_d_step`` adds R1 to this loss."""
    n = real.shape[0]
    z = noise(n, config, dist)                                       # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    with no_grad():
        fake = G(z, *cond)                                           # (N, C, H, W), no graph into G
    logits_real = D(real, *cond)                                     # (N, 1)
    logits_fake = D(fake, *cond)                                     # (N, 1)
    loss = (F.binary_cross_entropy_with_logits(logits_real, ones(n, 1) * config.real_label)
            + F.binary_cross_entropy_with_logits(logits_fake, zeros(n, 1)))
    return loss, logits_real, logits_fake


def d_step(G, D, opt_D, real, labels, config, dist=None):
    """One discriminator update. Returns (loss_D, D(x), D(G(z))) as 0-d Tensors, still on the device.

    Reading a number back from a GPU waits for all the work queued there, so the steps leave that to
    their caller: ``float(loss_D)`` or ``f"{loss_D:.3f}"`` reads one, and the runner (run/trainer.py)
    reads all of an iteration's numbers in one go."""
    loss, logits_real, logits_fake = d_loss(G, D, real, labels, config, dist)
    opt_D.zero_grad()
    loss.backward()
    if dist is not None:
        dist.average_gradients(opt_D.params)                         # the whole batch's gradient on every rank
    opt_D.step()
    return loss.detach(), mean_probability(logits_real), mean_probability(logits_fake)


def g_step(G, D, opt_G, n, labels, config, dist=None):
    """One generator update with the non-saturating loss. Returns loss_G as a 0-d Tensor (see d_step)."""
    z = noise(n, config, dist)                                       # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    set_requires_grad(D, False)                                     # gradients flow through D, not into it
    loss = F.binary_cross_entropy_with_logits(D(G(z, *cond), *cond), ones(n, 1))
    opt_G.zero_grad()
    loss.backward()
    if dist is not None:
        dist.average_gradients(opt_G.params)
    opt_G.step()
    set_requires_grad(D, True)
    return loss.detach()


def noise(n, config, dist=None):
    """z for this process's n examples. Under ``dist`` every rank draws the whole batch's noise (one seed:
    the same numbers on every rank) and keeps its own rows, so the ranks together use one process's z."""
    if dist is None:
        return randn(n, config.latent_dim)                           # (N, latent_dim)
    return dist.shard(randn(n * dist.world_size, config.latent_dim))    # (B, latent_dim) -> (B/W, latent_dim)


def mean_probability(logits):
    return Tensor(sigmoid_array(logits.data).mean())                 # mean sigmoid(logit): D's average verdict


def set_requires_grad(module, flag):
    for p in module.parameters():
        p.requires_grad = flag


# ----------------------------------------------------------------------------------------------------
# Sampling
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


# ----------------------------------------------------------------------------------------------------
# The loop, bare (the full runner with checkpoints and logs: minigan/run/trainer.py)
# ----------------------------------------------------------------------------------------------------
def train_loop(G, D, epoch_batches, config):
    """Train G and D for ``config.epochs`` epochs; no files written. Returns one (loss_D, loss_G) per
    iteration, as 0-d Tensors (``float()`` reads one).

    ``epoch_batches(epoch)`` yields (real (B, C, H, W) in [-1, 1], labels (B,)) batches, e.g.
    ``lambda epoch: minigan.data.batches((images, labels), 64, shuffle=True, seed=[0, epoch])``.
    The same two steps as ``run.trainer.train``, without its checkpoints, resume, logs or pictures:
    read this loop first.
    """
    betas = (config.beta1, config.beta2)
    opt_G, opt_D = Adam(G.parameters(), config.lr, betas), Adam(D.parameters(), config.lr, betas)
    history = []
    for epoch in range(config.epochs):
        G.train()
        D.train()
        for real, y in epoch_batches(epoch):
            loss_D, _, _ = d_step(G, D, opt_D, real, y, config)       # real: (B, C, H, W), y: (B,)
            loss_G = g_step(G, D, opt_G, real.shape[0], y, config)
            history.append((loss_D, loss_G))
        print(f"epoch {epoch + 1}/{config.epochs}: loss_D {loss_D:.3f}  loss_G {loss_G:.3f}")
    return history
