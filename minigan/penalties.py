"""Gradient penalties and the WGAN-GP losses: the D (critic) and G steps that need double backward.

Reading order: models -> training -> **penalties** -> run/ (whose runner calls the steps below). If GANs are new
to you, read ``training.d_step`` and ``training.g_step`` first, the plain BCE steps that these extend,
and docs/dcgan.md, "WGAN-GP and R1", for the why. The engine part, ``grad(..., create_graph=True)``,
is in ``autograd.py``.

Notation: D is the discriminator (for WGAN-GP called the *critic*: its output is a score, not a
logit), x a real batch (N, C, H, W), G(z) a fake batch, g(x) = dD(x)/dx the gradient of D's output
w.r.t. its *input image* (one (C, H, W) gradient per sample), ||.|| the 2-norm over (C, H, W).

WGAN-GP (Gulrajani et al., 2017, "Improved Training of Wasserstein GANs", algorithm 1):

    x_hat  = eps * x + (1 - eps) * G(z)                 eps ~ U[0, 1], one per sample: (N, 1, 1, 1)
    gp     = lambda * mean_n (||g(x_hat_n)|| - 1)^2     lambda = 10
    loss_D = mean D(G(z)) - mean D(x) + gp              the critic maximises D(x) - D(G(z))
    loss_G = -mean D(G(z))

    The critic's score difference W = mean D(x) - mean D(G(z)) estimates the Wasserstein-1 distance
    between the real and the generated distribution, provided D is 1-Lipschitz; the penalty pushes
    the gradient norm towards 1 on lines between real and fake samples, where the optimal critic
    has gradient norm exactly 1. Defaults (the paper's): lambda 10, 5 critic updates per generator
    update, Adam lr 1e-4, betas (0.0, 0.9). Each sample's penalty must depend on that sample only,
    so the critic has no batch norm (the DCGAN critic uses layer norm, ``d_norm="layer"``).

R1 (Mescheder et al., 2018, "Which Training Methods for GANs do actually Converge?", eq. 9):

    r1     = (gamma / 2) * mean_n ||g(x_n)||^2          on real images only
    loss_D = (the BCE or WGAN-GP loss) + r1

Why double backward: ``g`` is itself a gradient, computed by a backward pass. The penalty is a
function of ``g``, and the optimizer needs d(penalty)/d(D's weights): the gradient of a gradient.
``grad(D(x).sum(), x, create_graph=True)`` returns ``g`` as a Tensor *with a graph* (the backward
pass recorded as ops), so ``loss_D.backward()`` differentiates through it. (D(x).sum() works because
sample n's output depends on sample n's input only: sum_m dD(x_m)/dx_n = dD(x_n)/dx_n.)

In this minigan the ``d_steps`` (n_critic) critic updates of one iteration share the real batch, each
with fresh noise, fakes and eps (as ``--d-steps`` does for BCE); the paper draws a new real batch for
every critic update.
"""

from minigan import backend
from minigan.autograd import grad, no_grad
from minigan.tensor import Tensor, randn
from minigan.training import d_loss, mean_probability, set_requires_grad


# ----------------------------------------------------------------------------------------------------
# The penalties
# ----------------------------------------------------------------------------------------------------
def input_gradient(scores, x):
    """g = d(sum of scores)/dx, recorded as a graph (create_graph=True) so a penalty on it can be
    differentiated w.r.t. D's weights. scores: (N, 1) D's outputs for x: (N, C, H, W)."""
    (g,) = grad(scores.sum(), [x], create_graph=True)                # (N, C, H, W), has a graph
    return g


def squared_norms(g):
    """||g_n||^2 per sample: (N, C, H, W) -> (N,)."""
    return (g * g).reshape(g.shape[0], -1).sum(axis=1)              # (N, C*H*W) -> (N,)


def gradient_penalty(D, real, fake, cond=(), lam=10.0):
    """WGAN-GP's penalty lambda * mean (||g(x_hat)|| - 1)^2 on random interpolates x_hat.

    Returns (penalty, norms): a scalar Tensor with a graph into D's weights, and the per-sample
    gradient norms (N,) as an array (for the log). ``cond``: (labels,) for the cGAN: D(x_hat, y),
    differentiated w.r.t. the image only.
    """
    n = real.shape[0]
    eps = backend.rand((n, 1, 1, 1), dtype=real.dtype)               # (N, 1, 1, 1) ~ U[0, 1)
    x_hat = Tensor(eps * real.data + (1 - eps) * fake.data, requires_grad=True)   # (N, C, H, W), a leaf
    g = input_gradient(D(x_hat, *cond), x_hat)                       # (N, C, H, W)
    norms = (squared_norms(g) + 1e-12) ** 0.5                        # (N,); + 1e-12: finite slope at 0
    penalty = lam * ((norms - 1.0) ** 2).mean()
    return penalty, norms.data


def r1_penalty(scores_real, real, gamma):
    """R1: (gamma / 2) * mean ||g(x)||^2 for D's outputs ``scores_real`` (N, 1) on ``real`` (N, C, H, W),
    which must have been made from a ``real`` with requires_grad=True. Returns a scalar Tensor."""
    g = input_gradient(scores_real, real)                            # (N, C, H, W)
    return (gamma / 2) * squared_norms(g).mean()


# ----------------------------------------------------------------------------------------------------
# The steps
# ----------------------------------------------------------------------------------------------------
def critic_step(G, D, opt_D, real, labels, config):
    """One WGAN-GP critic update (plus R1 when config.r1_gamma > 0). Returns the log's numbers (0-d Tensors).

    Phases: fakes (no graph into G) -> critic scores -> Wasserstein loss -> gradient penalty on the
    interpolates (-> R1 on the reals) -> backward (through the penalty's recorded backward) -> Adam.
    """
    n = real.shape[0]
    z = randn(n, config.latent_dim)                                  # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    with no_grad():
        fake = G(z, *cond)                                           # (N, C, H, W), no graph into G
    if config.r1_gamma:
        real = Tensor(real.data, requires_grad=True)                 # R1 differentiates D(x) w.r.t. x
    scores_real = D(real, *cond)                                     # (N, 1)
    scores_fake = D(fake, *cond)                                     # (N, 1)
    wasserstein = scores_real.mean() - scores_fake.mean()            # estimate of W(P_real, P_G)
    gp, norms = gradient_penalty(D, real, fake, cond, config.gp_lambda)
    loss = -wasserstein + gp
    stats = {"wasserstein": wasserstein.detach(), "grad_norm": Tensor(norms.mean()), "gp": gp.detach()}
    if config.r1_gamma:
        r1 = r1_penalty(scores_real, real, config.r1_gamma)
        loss = loss + r1
        stats["r1"] = r1.detach()
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return {"loss_D": loss.detach(), **stats}                        # 0-d Tensors (training.d_step says why)


def r1_d_step(G, D, opt_D, real, labels, config):
    """``training.d_step`` with the R1 penalty on the reals added to its loss (``training.d_loss``).

    Returns the log's numbers: loss_D (penalty included), D_x, D_G_z (mean probabilities), r1.
    """
    real = Tensor(real.data, requires_grad=True)                     # R1 differentiates D(x) w.r.t. x
    bce, logits_real, logits_fake = d_loss(G, D, real, labels, config)
    r1 = r1_penalty(logits_real, real, config.r1_gamma)
    loss = bce + r1
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return {"loss_D": loss.detach(), "D_x": mean_probability(logits_real),
            "D_G_z": mean_probability(logits_fake), "r1": r1.detach()}


def wgan_g_step(G, D, opt_G, n, labels, config):
    """One generator update with the WGAN loss -mean D(G(z)). Returns loss_G as a 0-d Tensor."""
    z = randn(n, config.latent_dim)                                  # (N, latent_dim)
    cond = (labels,) if config.conditional else ()
    set_requires_grad(D, False)                                     # gradients flow through D, not into it
    loss = -D(G(z, *cond), *cond).mean()
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    set_requires_grad(D, True)
    return loss.detach()

