# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. The GAN idea on 2-D toy data
#
# A **generative adversarial network** (*mạng đối nghịch tạo sinh*, GAN; Goodfellow et al., 2014)
# learns to produce data that looks like a training set without ever being given a formula for
# "looks like". Two networks play a game:
#
# - the **generator** G (*mạng sinh*) turns a random **noise vector** z (*vector nhiễu*) into a sample
#   G(z), a fake;
# - the **discriminator** D (*mạng phân biệt*) looks at a sample and says how likely it is to be real.
#
# D is trained to tell real from fake, G to fool D. G never sees a real sample: everything it learns
# arrives through the gradient of D's verdict, back-propagated *through* D into G.
#
# Images come later (notebooks 2 and 4). Here the "data" are points in the plane, so that you can
# *see* the whole distribution of G's samples at once and watch it move. The training run takes
# under a minute on a laptop CPU. The same game with the full theory (the minimax value, the optimal
# D, why the generator's loss is "non-saturating") is in `docs/gan.md`; the script version of this
# notebook is `examples/gan_toy2d.py`.

# %% [markdown]
# ## 0. Setup
#
# This cell is the same in every notebook of the course. It makes `minigan` importable: from a copy of
# the repository (the one around this folder, or one in the current folder: in Colab, cloned or
# uploaded there), else from `REPO_URL`, the repository's public address, which `notebooks/build.py`
# writes here from `pyproject.toml` (see `notebooks/README.md`). On an NVIDIA GPU (in Colab: *Runtime >
# Change runtime type > GPU*) it installs CuPy for the CUDA version that `nvidia-smi` reports, and the
# notebook runs on the `cupy` backend. With `MINIGAN_NB_QUICK=1` every notebook runs a tiny version of
# itself (that is how the tests run them). Leave it unset to learn.

# %%
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO_URL = ""  # pip installs minigan from here if it is missing; notebooks/build.py writes it from pyproject.toml
QUICK = os.environ.get("MINIGAN_NB_QUICK") == "1"         # tiny data, a few iterations (the tests set it)
IN_COLAB = "google.colab" in sys.modules
ON_GPU = shutil.which("nvidia-smi") is not None            # an NVIDIA GPU: use CuPy


def pip_install(*args):
    print("pip install", *args)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *args])


def cuda_major():
    """The CUDA major version of the GPU's driver: "CUDA Version: 12.4" in nvidia-smi's header (12 if unread)."""
    header = subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout
    found = re.search(r"CUDA Version:\s*(\d+)", header)
    return int(found[1]) if found else 12


def is_checkout(folder):
    return (folder / "minigan" / "__init__.py").is_file() and (folder / "pyproject.toml").is_file()


if importlib.util.find_spec("minigan") is None:
    here = Path.cwd()                                    # notebooks/ in a copy, its top folder, or a clone below
    places = [here.parent, here, *sorted(p for p in here.iterdir() if p.is_dir())]
    checkout = next((folder for folder in places if is_checkout(folder)), None)
    if checkout is not None:
        pip_install("-e", str(checkout))                 # editable: your changes to minigan/ are used
        sys.path.insert(0, str(checkout))                # importable now, without restarting the kernel
    elif REPO_URL:                                       # Colab, or a Jupyter outside the repository
        pip_install(f"minigan @ {REPO_URL}")
    else:
        raise ModuleNotFoundError(
            "minigan is not installed, and this notebook has no address to install it from: REPO_URL is empty "
            "(the repository's pyproject.toml names no public Repository under [project.urls] yet). Do one of "
            "these, then run this cell again. In Jupyter: open this notebook from the notebooks/ folder of a copy "
            "of the repository, or run `pip install -e .` in that copy's top folder. In Colab: put a copy of the "
            "repository in the current folder, by running `!git clone <the repository's address>` in a new cell "
            "above this one, or by uploading the repository as a .zip in the Files panel and running "
            "`!unzip <file>.zip`. Anywhere: set REPO_URL at the top of this cell to an address pip can install "
            "from, e.g. \"git+https://github.com/OWNER/REPO\".")
    importlib.invalidate_caches()
if ON_GPU and importlib.util.find_spec("cupy") is None:  # Colab's images already have it
    pip_install("cupy-cuda13x[ctk]" if cuda_major() >= 13 else "cupy-cuda12x")   # [ctk]: CUDA 13's libraries
BACKEND = os.environ.get("MINIGAN_BACKEND") or ("cupy" if ON_GPU else "numpy")
print(f"{'Colab' if IN_COLAB else 'Jupyter'}; backend: {BACKEND}; settings: {'QUICK' if QUICK else 'full'}")

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

import minigan as mg
import minigan.functional as F
from minigan import nn

mg.set_backend(BACKEND)
mg.manual_seed(0)                     # the weights and the noise
rng = np.random.default_rng(0)        # the real data
OUT = Path("runs") / "01_gan_toy2d"   # pictures go here
OUT.mkdir(parents=True, exist_ok=True)

STEPS = 200 if QUICK else 2000        # training iterations: one D step + one G step each
BATCH_SIZE = 256
LR = 1e-3

# %% [markdown]
# ## 1. The real data: a ring of 8 Gaussians
#
# The "training set" is a distribution we can sample from as often as we like: pick one of 8 centres
# on a circle of radius 2, add a little Gaussian noise (standard deviation 0.05). A good generator
# must put its points on all 8 blobs, and nowhere else.

# %%
CENTERS = np.array([[2 * math.cos(a), 2 * math.sin(a)] for a in np.arange(8) * 2 * math.pi / 8])  # (8, 2)
STD = 0.05


def real_batch(n):
    """n real points, float32 (n, 2)."""
    blob = rng.integers(0, 8, size=n)                                    # (n,) which centre
    return (CENTERS[blob] + STD * rng.standard_normal((n, 2))).astype(np.float32)


real_points = real_batch(1000)
plt.figure(figsize=(3.5, 3.5))
plt.scatter(real_points[:, 0], real_points[:, 1], s=2, c="0.5")
plt.gca().set_aspect("equal")
plt.title("1,000 real points")
plt.show()

# %% [markdown]
# ## 2. The two players
#
# Both networks are small multi-layer perceptrons built from `minigan.nn` layers. G maps 2-D noise
# z ~ N(0, I) to a 2-D point; D maps a point to **one logit** a (a real number; D's probability
# "real" is sigmoid(a)). D gives a logit rather than a probability because the loss can then be
# computed without ever rounding a probability to 0 or 1 (`docs/gan.md`, "Why logits").

# %%
LATENT_DIM = 2
G = nn.Sequential(nn.Linear(LATENT_DIM, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
D = nn.Sequential(nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2),
                  nn.Linear(128, 1))
print("G:", G)
print("D:", D)
print(f"parameters: G {G.num_parameters():,}, D {D.num_parameters():,}")

# %% [markdown]
# ## 3. The game, as two training steps
#
# The value of the game is `V(D, G) = E[log D(x)] + E[log(1 - D(G(z)))]`: D wants it large, G small.
#
# **D step.** Maximising V over D is exactly minimising the **binary cross-entropy** (*entropy chéo
# nhị phân*) of a classifier that labels real points 1 and fakes 0. The fakes are made under
# `mg.no_grad()`: this step must not change G.
#
# **G step.** G's part would be to minimise `log(1 - D(G(z)))`, but that loss is flat exactly when G
# is bad and D is sure (its gradient vanishes). The standard fix, already in the 2014 paper: let G
# maximise `log D(G(z))` instead, i.e. the BCE of D's verdict on the fakes against the label *real*.
#
# These two functions are minigan's `minigan.training.d_step` and `g_step` with the options left out;
# read them there next.

# %%
opt_G = mg.optim.Adam(G.parameters(), lr=LR, betas=(0.5, 0.999))
opt_D = mg.optim.Adam(D.parameters(), lr=LR, betas=(0.5, 0.999))


def d_step(real):
    """One update of D on a real batch (n, 2). Returns loss_D and D's mean verdicts D(x), D(G(z))."""
    n = real.shape[0]
    z = mg.randn(n, LATENT_DIM)                                          # (n, 2)
    with mg.no_grad():
        fake = G(z)                                                      # (n, 2), no graph back into G
    logits_real, logits_fake = D(real), D(fake)                          # (n, 1) each
    loss = (F.binary_cross_entropy_with_logits(logits_real, mg.ones(n, 1))      # real -> label 1
            + F.binary_cross_entropy_with_logits(logits_fake, mg.zeros(n, 1)))  # fake -> label 0
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return loss.item(), F.sigmoid(logits_real).mean().item(), F.sigmoid(logits_fake).mean().item()


def g_step(n):
    """One update of G with the non-saturating loss. Returns loss_G."""
    z = mg.randn(n, LATENT_DIM)                                          # (n, 2)
    loss = F.binary_cross_entropy_with_logits(D(G(z)), mg.ones(n, 1))    # "call my fakes real"
    opt_G.zero_grad()
    loss.backward()              # the gradient flows through D into G (D's .grad fills too; d_step zeroes it)
    opt_G.step()                 # only G's parameters move
    return loss.item()


# Before training D knows nothing: both verdicts are near 1/2.
loss_D, d_x, d_g_z = d_step(mg.tensor(real_batch(BATCH_SIZE)))
print(f"first D step: loss_D {loss_D:.3f}  D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")

# %% [markdown]
# ## 4. Training
#
# Each iteration is one D step and one G step on a fresh batch. We keep G's answer for a **fixed** set
# of 1,000 noise vectors at a few moments, so the pictures show the same z's moving.

# %%
fixed_z = mg.randn(1000, LATENT_DIM)
snapshot_at = set(np.linspace(0, STEPS, 6).astype(int).tolist())
snapshots, history = [], []
for step in range(STEPS + 1):
    if step in snapshot_at:
        with mg.no_grad():
            snapshots.append((step, G(fixed_z).numpy()))                 # (1000, 2) on the host
    if step == STEPS:
        break
    loss_D, d_x, d_g_z = d_step(mg.tensor(real_batch(BATCH_SIZE)))
    loss_G = g_step(BATCH_SIZE)
    history.append((loss_D, loss_G, d_x, d_g_z))
    if step % max(STEPS // 4, 1) == 0:
        print(f"step {step:5d}  loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")
print(f"final: loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")

# %%
fig, axes = plt.subplots(1, len(snapshots), figsize=(2.6 * len(snapshots), 3.0))
for ax, (step, fake) in zip(axes, snapshots):
    ax.scatter(real_points[:, 0], real_points[:, 1], s=2, c="0.6", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:orange", label="G(z)")
    ax.set(xlim=(-3, 3), ylim=(-3, 3), xticks=[], yticks=[], title=f"step {step}")
    ax.set_aspect("equal")
axes[0].legend(loc="lower left", fontsize=7, markerscale=4)
fig.tight_layout()
fig.savefig(OUT / "toy2d.png", dpi=80)
plt.show()
print("wrote", OUT / "toy2d.png")

# %% [markdown]
# ## 5. Reading the result
#
# **The points.** G's points first sit in a lump, then spread along the ring and gather on the blobs.
# Some always stay on the arcs *between* blobs: G is a continuous function of a connected noise
# distribution, so it cannot jump cleanly from one blob to the next.
#
# **A number for the picture.** Count a generated point as "on a blob" when it is within 3 standard
# deviations of a centre; a blob is "covered" when at least 1 % of the points are on it. A perfect G
# covers 8 of 8 with about 99 % of its points on blobs. If it covers only one or two blobs well, that is
# **mode collapse** (*sụp đổ chế độ*).

# %%
fake = snapshots[-1][1]                                                  # (1000, 2), after training
distance = np.linalg.norm(fake[:, None, :] - CENTERS[None, :, :], axis=2)  # (1000, 8)
on_blob = distance.min(axis=1) < 3 * STD                                 # (1000,)
share = np.bincount(distance.argmin(axis=1)[on_blob], minlength=8) / len(fake)   # (8,)
print(f"points on a blob: {on_blob.mean():.0%}; blobs covered: {(share >= 0.01).sum()} of 8")

# %% [markdown]
# **D's view.** D's verdict sigmoid(D(x)) over the whole plane: where D believes real points are.
# At the end of a good run it is near 1/2 on the blobs (it can no longer tell) and its shape pushes
# G's stray points towards the blobs.

# %%
grid = np.linspace(-3, 3, 121, dtype=np.float32)
xx, yy = np.meshgrid(grid, grid)                                         # (121, 121) each
plane = np.stack([xx.ravel(), yy.ravel()], axis=1)                       # (14641, 2)
with mg.no_grad():
    verdict = F.sigmoid(D(mg.tensor(plane))).numpy().reshape(xx.shape)  # (121, 121)
plt.figure(figsize=(4.2, 3.5))
plt.contourf(xx, yy, verdict, levels=20, cmap="RdBu_r")
plt.colorbar(label="D's probability 'real'")
plt.scatter(fake[:, 0], fake[:, 1], s=1, c="k")
plt.gca().set_aspect("equal")
plt.title("D's verdict, and G's points")
plt.show()

# %% [markdown]
# **The losses.** At the **Nash equilibrium** (*điểm cân bằng Nash*) G's points are distributed like
# the real ones and D can only say 1/2 everywhere. Then `loss_D = 2 log 2 = 1.386` (the sum of two
# BCE terms of log 2 each), `loss_G = log 2 = 0.693` and both verdicts are 0.5: the dashed lines. A
# GAN's losses do not go down like a classifier's; they circle around these values.

# %%
h = np.array(history)                                                    # (STEPS, 4)
k = max(1, min(50, len(h) // 5))                                         # the running mean's width
at = np.arange(k, len(h) + 1)                                            # the iteration each mean ends at
smooth = lambda v: np.convolve(v, np.ones(k) / k, mode="valid")          # running mean over k steps
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
ax1.plot(at, smooth(h[:, 0]), label="loss_D")
ax1.plot(at, smooth(h[:, 1]), label="loss_G")
for level in (2 * math.log(2), math.log(2)):
    ax1.axhline(level, ls="--", c="0.5", lw=0.8)
ax2.plot(at, smooth(h[:, 2]), label="D(x)")
ax2.plot(at, smooth(h[:, 3]), label="D(G(z))")
ax2.axhline(0.5, ls="--", c="0.5", lw=0.8)
for ax in (ax1, ax2):
    ax.set_xlabel("step")
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Try it yourself
#
# - Train longer (`STEPS = 5000`) or with a smaller learning rate: do all 8 blobs fill in?
# - Replace G's loss by the saturating one, `(1 - F.sigmoid(D(G(z)))).log().mean()` (minimised), and
#   compare the first few hundred steps.
# - Make D much bigger than G (or train D five times per G step): what happens to `loss_D` and to the
#   points?
# - Put all 8 centres on one side of the circle, or use 25 blobs on a grid.
#
# Next: notebook 2, the same game on CIFAR-10 images with convolutional networks (a DCGAN). Its
# generator is built from transposed convolutions, the layer that notebook 3 takes apart; read that one
# first if you like.
