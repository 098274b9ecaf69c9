"""minigan's DCGAN and its training iteration written in Chainer and in DeZero: the NumPy frameworks a
learner would otherwise pick. ``bench_dcgan_step.py --framework-pairs minigan:numpy chainer:cpu dezero:cpu``
times them next to minigan.

The networks are those of minigan/models/dcgan.py (and benchmarks/torch_models.py), layer for layer:
kernel 4, stride 2, padding 1; BatchNorm (momentum 0.1) everywhere except G's output and D's input;
ReLU / tanh in G, LeakyReLU(0.2) in D; conv / linear weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02),
biases 0. Parameters: G 3,022,147, D 2,760,385, as minigan's.

One iteration is minigan.training's d_step + g_step: a D step on a real and a fake batch (the fake made
without a graph into G), then a G step with the non-saturating loss; BCE with logits; Adam (lr 2e-4,
betas 0.5 / 0.999, eps 1e-8). D stays in training mode and is not updated in the G step, but neither
framework can skip D's weight gradients there (Chainer has no public requires_grad=False for
parameters; every DeZero Function computes the gradients of all its inputs). They are cleared and
dropped. So Chainer and DeZero do the "reference" FLOP count of bench_dcgan_step.py (43.09 GFLOP at
batch 64), and minigan and the PyTorch mirror do the "executed" count (39.76 GFLOP, about 8% less).

Loaded with minigan's weights (its state_dict, by Sequential index), both compute minigan's D(G(z))
within 2e-6 (BatchNorm in training mode, batch 4; checked once when this file was written, not by
check() below). One difference remains, and it has no effect on speed: DeZero's sigmoid_cross_entropy is
sigmoid -> clip -> log rather than a fused BCE with logits. The values agree up to the clip.

Only bench_dcgan_step.py imports this file. The minigan package never does, and it runs in its own
virtualenv, because DeZero 0.0.13 needs NumPy < 1.24 (``import dezero`` evaluates np.int, an alias
that NumPy 1.24 removed):

    python -m venv /work/bench_venv
    /work/bench_venv/bin/pip install "setuptools<70" wheel numpy==1.23.5 "matplotlib<3.9"  # dezero imports pyplot
    /work/bench_venv/bin/pip install --no-build-isolation chainer==7.8.1 dezero==0.0.13
    /work/bench_venv/bin/python benchmarks/numpy_frameworks.py   # check: parameter counts, finite losses

(Chainer 7.8.1 is a source distribution whose setup.py imports pkg_resources, which the newest
setuptools in an isolated build no longer has. --no-build-isolation builds it with the venv's own
setuptools, pinned below 70 because later ones dropped pkg_resources too; a matplotlib of 3.9 or later
would pull in NumPy 2.)
"""

import math
import sys

import numpy as np

LATENT_DIM = 128
LR, BETA1, BETA2 = 2e-4, 0.5, 0.999
MINIGAN_PARAMS = {"G": 3_022_147, "D": 2_760_385}     # sum(p.size for p in minigan's G/D .parameters())


def _normal(shape, mean=0.0, std=0.02):
    return (mean + std * np.random.standard_normal(shape)).astype(np.float32)


def _noise(n):
    return np.random.standard_normal((n, LATENT_DIM)).astype(np.float32)         # z: (N, 128)


def _mean_probability(logits):
    return float((1 / (1 + np.exp(-logits))).mean())                            # D's average verdict


# ----------------------------------------------------------------------------------------------------
# One training iteration, written once: DeZero copies Chainer's API (Sequential, cleargrads, backward,
# optimizer.update), so the same lines drive both. What differs is passed in.
# ----------------------------------------------------------------------------------------------------
def gan_iteration(G, D, opt_G, opt_D, bce_with_logits, no_grad, value, real, targets):
    """iteration() -> (loss_D, loss_G): a D step on ``real`` and a fake batch, then a G step.

    bce_with_logits: the framework's sigmoid_cross_entropy; no_grad: its no-graph context manager;
    value: Variable -> ndarray (Chainer ``.array``, DeZero ``.data``); targets: (ones, zeros), (N, 1).
    """
    n = len(real)
    ones, zeros = targets

    def d_step():
        with no_grad():
            fake = value(G(_noise(n)))                                           # (N, 3, 32, 32), no graph
        logits_real, logits_fake = D(real), D(fake)                              # (N, 1) each
        loss = bce_with_logits(logits_real, ones) + bce_with_logits(logits_fake, zeros)
        D.cleargrads()
        loss.backward()
        opt_D.update()
        # with D's average verdicts D(x), D(G(z)): minigan's d_step reports them too (the same work)
        return float(value(loss)), _mean_probability(value(logits_real)), _mean_probability(value(logits_fake))

    def g_step():
        loss = bce_with_logits(D(G(_noise(n))), ones)                            # non-saturating
        G.cleargrads()
        D.cleargrads()                                                           # D's grads: computed, unused
        loss.backward()
        opt_G.update()                                                           # G only: D is not updated
        return float(value(loss))

    def iteration():
        return d_step()[0], g_step()

    return iteration


# ----------------------------------------------------------------------------------------------------
# Chainer 7
# ----------------------------------------------------------------------------------------------------
def chainer_dcgan():
    """(G, D) as chainer.Sequential: links for the layers, plain functions for the activations."""
    import chainer
    import chainer.functions as F
    import chainer.links as L

    w = chainer.initializers.Normal(0.02)                                        # N(0, 0.02); biases 0

    def bn(c):
        return L.BatchNormalization(c, decay=0.9, eps=1e-5, initial_gamma=_normal(c, mean=1.0))

    def up(c_in, c_out):                                                         # doubles H and W
        return L.Deconvolution2D(c_in, c_out, ksize=4, stride=2, pad=1, initialW=w)

    def down(c_in, c_out):                                                       # halves H and W
        return L.Convolution2D(c_in, c_out, ksize=4, stride=2, pad=1, initialW=w)

    def lrelu(x):
        return F.leaky_relu(x, slope=0.2)

    G = chainer.Sequential(
        L.Linear(LATENT_DIM, 512 * 2 * 2, initialW=w),                           # (N, 2048): project z
        lambda x: F.reshape(x, (len(x), 512, 2, 2)),                             # (N, 512, 2, 2)
        bn(512), F.relu,
        up(512, 256), bn(256), F.relu,                                           # (N, 256, 4, 4)
        up(256, 128), bn(128), F.relu,                                           # (N, 128, 8, 8)
        up(128, 64), bn(64), F.relu,                                             # (N, 64, 16, 16)
        up(64, 3), F.tanh,                                                       # (N, 3, 32, 32)
    )
    D = chainer.Sequential(
        down(3, 64), lrelu,                                                      # (N, 64, 16, 16), no BN
        down(64, 128), bn(128), lrelu,                                           # (N, 128, 8, 8)
        down(128, 256), bn(256), lrelu,                                          # (N, 256, 4, 4)
        down(256, 512), bn(512), lrelu,                                          # (N, 512, 2, 2)
        lambda x: F.reshape(x, (len(x), 512 * 2 * 2)),                           # (N, 2048)
        L.Linear(512 * 2 * 2, 1, initialW=w),                                    # (N, 1) logit
    )
    return G, D


def chainer_iteration(real):
    """One D step + G step in Chainer. Returns (iteration, info). iteration() -> (loss_D, loss_G)."""
    import chainer
    import chainer.functions as F
    from chainer import optimizers

    G, D = chainer_dcgan()
    opt_G = optimizers.Adam(alpha=LR, beta1=BETA1, beta2=BETA2, eps=1e-8).setup(G)
    opt_D = optimizers.Adam(alpha=LR, beta1=BETA1, beta2=BETA2, eps=1e-8).setup(D)
    n = len(real)
    targets = np.ones((n, 1), np.int32), np.zeros((n, 1), np.int32)             # Chainer: int labels
    iteration = gan_iteration(G, D, opt_G, opt_D, F.sigmoid_cross_entropy, chainer.no_backprop_mode,
                              lambda v: v.array, real, targets)
    info = {"version": chainer.__version__,
            "G_params": sum(p.size for p in G.params()), "D_params": sum(p.size for p in D.params())}
    return iteration, info


# ----------------------------------------------------------------------------------------------------
# DeZero 0.0.13 (the framework of "Deep Learning from Scratch 3")
# ----------------------------------------------------------------------------------------------------
def dezero_batch_norm(channels):
    """ADDED FOR DEZERO: its L.BatchNorm sizes itself at the first call, with gamma = 1, and always
    calls F.batch_nrom (sic) with eps 2e-5. Here the arrays are made now, with the DCGAN init
    (gamma ~ N(1, 0.02)), and eps is minigan's 1e-5. The two eps differ in the output: at this init the
    activations are tiny, with a variance close to eps. The decay 0.9 (momentum 0.1) is DeZero's default.
    avg_mean / avg_var are Parameters in DeZero (so that save_weights keeps them), but they never get
    a gradient, so Adam skips them, and dezero_trainable does not count them."""
    import dezero.functions as F
    import dezero.layers as L

    class BatchNorm2d(L.BatchNorm):
        def __call__(self, x):                                                   # (N, C, H, W), train mode
            return F.batch_nrom(x, self.gamma, self.beta, self.avg_mean.data, self.avg_var.data,
                                decay=0.9, eps=1e-5)

    bn = BatchNorm2d()
    bn.gamma.data, bn.beta.data = _normal(channels, mean=1.0), np.zeros(channels, np.float32)
    bn.avg_mean.data, bn.avg_var.data = np.zeros(channels, np.float32), np.ones(channels, np.float32)
    return bn


def dezero_trainable(layer):
    return [p for p in layer.params() if p.name not in ("avg_mean", "avg_var")]


def dezero_dcgan():
    """(G, D) as dezero.models.Sequential (it takes layers and plain functions, like Chainer's)."""
    import dezero.functions as F
    import dezero.layers as L
    from dezero.models import Sequential

    def init(layer):                                                             # N(0, 0.02); biases 0
        layer.W.data = _normal(layer.W.shape)
        return layer

    def up(c_in, c_out):                                                         # W: (c_in, c_out, 4, 4)
        return init(L.Deconv2d(c_out, kernel_size=4, stride=2, pad=1, in_channels=c_in))

    def down(c_in, c_out):                                                       # W: (c_out, c_in, 4, 4)
        return init(L.Conv2d(c_out, kernel_size=4, stride=2, pad=1, in_channels=c_in))

    def lrelu(x):
        return F.leaky_relu(x, slope=0.2)

    bn = dezero_batch_norm
    G = Sequential(
        init(L.Linear(512 * 2 * 2, in_size=LATENT_DIM)),                         # (N, 2048); W: (128, 2048)
        lambda x: F.reshape(x, (len(x), 512, 2, 2)),                             # (N, 512, 2, 2)
        bn(512), F.relu,
        up(512, 256), bn(256), F.relu,                                           # (N, 256, 4, 4)
        up(256, 128), bn(128), F.relu,                                           # (N, 128, 8, 8)
        up(128, 64), bn(64), F.relu,                                             # (N, 64, 16, 16)
        up(64, 3), F.tanh,                                                       # (N, 3, 32, 32)
    )
    D = Sequential(
        down(3, 64), lrelu,                                                      # (N, 64, 16, 16), no BN
        down(64, 128), bn(128), lrelu,                                           # (N, 128, 8, 8)
        down(128, 256), bn(256), lrelu,                                          # (N, 256, 4, 4)
        down(256, 512), bn(512), lrelu,                                          # (N, 512, 2, 2)
        F.flatten,                                                               # (N, 2048)
        init(L.Linear(1, in_size=512 * 2 * 2)),                                  # (N, 1) logit
    )
    return G, D


def dezero_iteration(real):
    """One D step + G step in DeZero. Returns (iteration, info). iteration() -> (loss_D, loss_G)."""
    import dezero
    import dezero.functions as F
    from dezero import optimizers

    G, D = dezero_dcgan()
    opt_G = optimizers.Adam(alpha=LR, beta1=BETA1, beta2=BETA2, eps=1e-8).setup(G)
    opt_D = optimizers.Adam(alpha=LR, beta1=BETA1, beta2=BETA2, eps=1e-8).setup(D)
    n = len(real)
    targets = np.ones((n, 1), np.float32), np.zeros((n, 1), np.float32)
    iteration = gan_iteration(G, D, opt_G, opt_D, F.sigmoid_cross_entropy, dezero.no_grad,
                              lambda v: v.data, real, targets)
    info = {"version": dezero.__version__,
            "G_params": sum(p.data.size for p in dezero_trainable(G)),
            "D_params": sum(p.data.size for p in dezero_trainable(D))}
    return iteration, info



def build_iteration(framework, real, seed=0):
    """``real``: a float32 (N, 3, 32, 32) batch in [-1, 1]. Both frameworks draw from NumPy's global RNG."""
    np.random.seed(seed)
    return {"chainer": chainer_iteration, "dezero": dezero_iteration}[framework](real)


def check(batch=8, iters=2):
    """Each framework builds, runs ``iters`` iterations with finite losses, and has minigan's parameter counts."""
    real = np.random.default_rng(0).uniform(-1, 1, (batch, 3, 32, 32)).astype(np.float32)
    ok = True
    for framework in ("chainer", "dezero"):
        iteration, info = build_iteration(framework, real)
        losses = [iteration() for _ in range(iters)]
        finite = all(math.isfinite(x) for pair in losses for x in pair)
        same = info["G_params"] == MINIGAN_PARAMS["G"] and info["D_params"] == MINIGAN_PARAMS["D"]
        ok &= finite and same
        print(f"{framework} {info['version']}: G {info['G_params']:,} D {info['D_params']:,} parameters "
              f"({'= minigan' if same else 'MISMATCH'}); losses (D, G) per iteration at batch {batch}: "
              + ", ".join(f"({d:.3f}, {g:.3f})" for d, g in losses) + ("" if finite else "  NOT FINITE"))
    return ok


if __name__ == "__main__":
    sys.exit(0 if check() else 1)
