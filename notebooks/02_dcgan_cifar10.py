# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. DCGAN on CIFAR-10
#
# The GAN of notebook 1 works on points. For images, a fully connected generator would have to learn
# from scratch that neighbouring pixels belong together. A **DCGAN** (*GAN tích chập sâu*; Radford,
# Metz & Chintala, 2016) builds both players from convolutions:
#
# - the **discriminator** D (*mạng phân biệt*) is a CNN that halves the image at every layer with
#   strided convolutions (*tích chập*, stride = *bước nhảy*);
# - the **generator** G (*mạng sinh*) is its mirror image, doubling the image at every layer with
#   **transposed convolutions** (*tích chập chuyển vị*; notebook 3 takes that layer apart).
#
# We train it on CIFAR-10: 50,000 colour images of 32x32 pixels in ten classes (airplane, automobile,
# bird, ...). The game and the two training steps are exactly those of notebook 1; only the networks
# and the data change. The full text is `docs/dcgan.md`; the script with checkpoints, resuming and
# logs is `examples/dcgan_cifar.py`.
#
# **Time.** One epoch (a pass over the 50,000 images) took 9-15 s on an H100 GPU and about 5.5 minutes
# on a quiet 2-core CPU (`docs/results.md`); a Colab GPU is slower than an H100 (not measured here).
# With the full settings below (5 epochs), use a GPU: in Colab, *Runtime > Change runtime type > GPU*.

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
import time

import matplotlib.pyplot as plt
import numpy as np

import minigan as mg
from minigan.data import CIFAR10_CLASSES, batches, fake_dataset, load_cifar10, random_subset, to_float_images
from minigan.data import to_uint8_images
from minigan.models import build
from minigan.training import TrainConfig, d_step, g_step

mg.set_backend(BACKEND)
mg.manual_seed(0)
OUT = Path("runs") / "02_dcgan_cifar10"
OUT.mkdir(parents=True, exist_ok=True)

DATA_DIR = None                           # None: $MINIGAN_DATA or ~/.cache/minigan (downloaded there once);
                                          # or the folder holding your copy of cifar-10-binary.tar.gz
N_IMAGES = 256 if QUICK else None         # None: all 50,000 training images
EPOCHS = 1 if QUICK else 5
BATCH_SIZE = 32 if QUICK else 128
LATENT_DIM = 128                          # the length of the noise vector z


def show_grid(images, nrow, title, path=None):
    """Show NCHW images in [-1, 1] (a Tensor or an array, any backend) as one picture; save it to ``path``."""
    u = to_uint8_images(images.numpy() if isinstance(images, mg.Tensor) else images)   # (N, H, W, C) uint8
    n, h, w, c = u.shape
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + 2) + 2, nrow * (w + 2) + 2, c), 255, dtype=np.uint8)  # white 2-pixel gaps
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[2 + r * (h + 2):2 + r * (h + 2) + h, 2 + col * (w + 2):2 + col * (w + 2) + w] = u[i]
    grid = grid[:, :, 0] if c == 1 else grid                              # grayscale: (H, W)
    plt.figure(figsize=(nrow * 0.6, rows * 0.6 + 0.4))
    plt.imshow(grid, cmap="gray", vmin=0, vmax=255)
    plt.axis("off")
    plt.title(title, fontsize=9)
    if path is not None:
        plt.imsave(path, grid, cmap="gray", vmin=0, vmax=255)
    plt.show()


# %% [markdown]
# ## 1. The data
#
# `load_cifar10` reads the official binary files (downloading them once, about 170 MB, to
# `~/.cache/minigan`). The images come as stored, `uint8` in 0..255 with the channels last;
# `to_float_images` turns them into the `float32 (N, 3, 32, 32)` layout of the convolutions, scaled to
# [-1, 1], the range of G's final `tanh`.

# %%
try:
    images, labels = load_cifar10(DATA_DIR, split="train", download=not QUICK)   # (50000, 32, 32, 3), (50000,)
    source = "CIFAR-10"
except FileNotFoundError:                 # QUICK never downloads: without a copy here, random stand-ins
    images, labels = fake_dataset("cifar10", N_IMAGES)
    source = "random stand-in images (no CIFAR-10 on this machine)"
images, labels = random_subset(images, labels, N_IMAGES, seed=0)          # N_IMAGES None: all of them
x = to_float_images(images)                                               # float32 (N, 3, 32, 32) in [-1, 1]
print(f"{source}: {x.shape[0]:,} training images, array {x.shape} {x.dtype}, "
      f"values in [{x.min():.0f}, {x.max():.0f}]")
print("first labels:", [CIFAR10_CLASSES[i] for i in labels[:8]])
show_grid(x[:32], 8, "real training images")

# %% [markdown]
# ## 2. The networks
#
# `minigan.models.build` makes the course note's DCGAN (`minigan/models/dcgan.py`):
#
# - **G**: a `Linear` layer projects z (128 numbers) to a 512x2x2 feature map, then four transposed
#   convolutions with `kernel_size=4, stride=2, padding=1` double it to 4, 8, 16 and 32 pixels while
#   the channels go 512 -> 256 -> 128 -> 64 -> 3; BatchNorm and ReLU between them, `tanh` at the end;
# - **D**: four strided convolutions halve 32 -> 16 -> 8 -> 4 -> 2 while the channels go 3 -> 64 -> 128
#   -> 256 -> 512, LeakyReLU(0.2) and BatchNorm between them, then one logit.
#
# These choices are the DCGAN paper's guidelines: no pooling (strided convolutions learn their own
# up- and down-sampling), BatchNorm in both networks but not at G's output or D's input, ReLU in G and
# LeakyReLU in D, weights drawn from N(0, 0.02), Adam with learning rate 2e-4 and beta1 = 0.5.

# %%
G, D = build({"name": "dcgan", "latent_dim": LATENT_DIM, "kernel_size": 4})
print(f"G: {G.num_parameters():,} parameters; D: {D.num_parameters():,} parameters")
print(G)

# %% [markdown]
# `mg.trace()` prints every operation of a forward pass with the shapes going in and out. Here is G
# making two images, then D judging them; follow the image size 2 -> 4 -> 8 -> 16 -> 32 and back.

# %%
with mg.trace(), mg.no_grad():
    fake = G(mg.randn(2, LATENT_DIM))                                     # (2, 3, 32, 32)
    logits = D(fake)                                                      # (2, 1)
print(tuple(fake.shape), "->", tuple(logits.shape))

# %% [markdown]
# ## 3. Training
#
# One iteration is one D step and one G step, the same two functions as in notebook 1; here we use
# minigan's versions, `minigan.training.d_step` and `g_step`. `TrainConfig` holds the settings they
# read (the noise length, the label of real images). After every epoch we show G's images for the
# same 64 noise vectors, so you can watch them change.

# %%
config = TrainConfig(latent_dim=LATENT_DIM, batch_size=BATCH_SIZE)
opt_G = mg.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_D = mg.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
fixed_z = mg.randn(64, LATENT_DIM)                                        # the same z all run

with mg.no_grad():
    show_grid(G(fixed_z), 8, "G before training", OUT / "samples_epoch0.png")

# %%
history = []                                                              # (loss_D, loss_G, D(x), D(G(z)))
steps_per_epoch = len(x) // BATCH_SIZE
log_every = max(steps_per_epoch // 5, 1)
for epoch in range(1, EPOCHS + 1):
    G.train()
    D.train()
    start = time.perf_counter()
    for step, (real,) in enumerate(batches((x,), BATCH_SIZE, seed=[0, epoch])):   # real: (B, 3, 32, 32)
        loss_D, d_x, d_g_z = d_step(G, D, opt_D, real, None, config)      # D: real -> 1, G(z) -> 0
        loss_G = g_step(G, D, opt_G, BATCH_SIZE, None, config)            # G: make D say 1 on G(z)
        history.append((float(loss_D), float(loss_G), float(d_x), float(d_g_z)))   # numbers read from the device
        if step % log_every == 0:
            print(f"epoch {epoch} step {step:4d}/{steps_per_epoch}  loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  "
                  f"D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")
    print(f"epoch {epoch} took {time.perf_counter() - start:.1f} s")
    with mg.no_grad():
        show_grid(G(fixed_z), 8, f"G after epoch {epoch}", OUT / f"samples_epoch{epoch}.png")
print(f"final: loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")

# %% [markdown]
# ## 4. Reading the run
#
# **The losses** do not go down and stay down as a classifier's would. At the ideal end point
# (`docs/gan.md`, "Equilibrium") `loss_D = 1.386`, `loss_G = 0.693` and both verdicts are 0.5 (dashed);
# on images D usually stays ahead all run, with D(x) well above 0.5 and D(G(z)) below, and that is fine
# as long as the samples improve. A `loss_D` stuck near 0 for hundreds of steps means D has won and G
# gets no gradient (`docs/gan.md`, "Failure modes").

# %%
h = np.array(history)                                                     # (iterations, 4)
k = max(1, min(50, len(h) // 5))                                         # the running mean's width
at = np.arange(k, len(h) + 1)                                            # the iteration each mean ends at
smooth = lambda v: np.convolve(v, np.ones(k) / k, mode="valid")           # running mean over k iterations
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3))
ax1.plot(at, smooth(h[:, 0]), label="loss_D")
ax1.plot(at, smooth(h[:, 1]), label="loss_G")
ax1.axhline(2 * math.log(2), ls="--", c="0.5", lw=0.8)
ax1.axhline(math.log(2), ls="--", c="0.5", lw=0.8)
ax2.plot(at, smooth(h[:, 2]), label="D(x)")
ax2.plot(at, smooth(h[:, 3]), label="D(G(z))")
ax2.axhline(0.5, ls="--", c="0.5", lw=0.8)
for ax in (ax1, ax2):
    ax.set_xlabel("iteration")
    ax.legend()
fig.tight_layout()
fig.savefig(OUT / "curves.png", dpi=80)
plt.show()

# %% [markdown]
# **The latent space** (*không gian ẩn*). Walk in a straight line from one noise vector to another and
# draw G's image at each step. If the images change smoothly, G has learned a continuous map from z to
# images, not a lookup table of training images. (After the QUICK run G has learned next to nothing:
# run the full settings to see it.)

# %%
z0, z1 = mg.randn(1, LATENT_DIM), mg.randn(1, LATENT_DIM)
path = mg.cat([z0 * float(1 - t) + z1 * float(t) for t in np.linspace(0, 1, 10)], axis=0)   # (10, LATENT_DIM)
with mg.no_grad():
    show_grid(G(path), 10, "from z0 to z1", OUT / "interpolation.png")

# %% [markdown]
# ## 5. Try it yourself
#
# - Train longer: the samples keep improving for many epochs (`docs/results.md` shows 15-epoch runs).
# - One-sided label smoothing: `TrainConfig(..., real_label=0.9)`. Does D(x) stay lower?
# - The course note's Keras model uses 5x5 kernels: `build({"name": "dcgan", "latent_dim": 128,
#   "kernel_size": 5})`. Look for checkerboard patterns in early samples (notebook 3, section 7).
# - For long runs use the script, which saves checkpoints you can resume and scores the samples:
#   `python examples/dcgan_cifar.py --backend cupy --epochs 15` (`python examples/dcgan_cifar.py --help`).
#
# Next: notebook 4, a GAN you can ask for a class.
