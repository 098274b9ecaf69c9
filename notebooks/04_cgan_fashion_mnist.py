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
# # 4. Conditional GAN on Fashion-MNIST
#
# A plain GAN draws *some* image; you cannot ask it for a sneaker. A **conditional GAN** (*GAN có điều
# kiện*, cGAN; Mirza & Osindero, 2014) gives both players one more input, the **label** (*nhãn*) y of
# the class:
#
# - the generator G(z, y) (*mạng sinh*) must produce an image of class y;
# - the discriminator D(x, y) (*mạng phân biệt*) judges whether x is a real image *of class y*.
#
# The game is that of notebook 1 with every term conditioned on y. If G answers "label 7" with a shirt,
# D rejects it easily, because every real image D sees with label 7 is a sneaker; so G has to use y.
# We train the course note's cGAN on Fashion-MNIST: 60,000 grayscale 28x28 pictures of clothes in ten
# classes. The full text is `docs/cgan.md`; the script is `examples/cgan_fashion_mnist.py`.
#
# **Time.** One epoch took 18-30 s on an H100 GPU and about 16 minutes on a 2-core CPU
# (`docs/results.md`); a Colab GPU is slower than an H100 (not measured here). With the full settings
# below (10 epochs), use a GPU (in Colab: *Runtime > Change runtime type > GPU*), or on a CPU set
# `N_IMAGES = 10_000` and `EPOCHS = 3`.

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
from minigan.data import FASHION_MNIST_CLASSES, batches, fake_dataset, load_fashion_mnist, random_subset
from minigan.data import to_float_images, to_uint8_images
from minigan.models import build
from minigan.training import TrainConfig, d_step, g_step

mg.set_backend(BACKEND)
mg.manual_seed(0)
OUT = Path("runs") / "04_cgan_fashion_mnist"
OUT.mkdir(parents=True, exist_ok=True)

DATA_DIR = None                           # None: $MINIGAN_DATA or ~/.cache/minigan (downloaded there once);
                                          # or the folder holding your copy of the four Fashion-MNIST files
N_IMAGES = 256 if QUICK else None         # None: all 60,000 training images
EPOCHS = 1 if QUICK else 10
BATCH_SIZE = 32 if QUICK else 128
LATENT_DIM = 100
NUM_CLASSES = len(FASHION_MNIST_CLASSES)  # 10


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
# ## 1. The data, with its labels
#
# `load_fashion_mnist` reads the four official files (downloading them once, about 30 MB). Every image comes
# with its label, an integer 0..9; `FASHION_MNIST_CLASSES` names them. One row per class:

# %%
try:
    images, labels = load_fashion_mnist(DATA_DIR, split="train", download=not QUICK)   # (60000, 28, 28), (60000,)
    source = "Fashion-MNIST"
except FileNotFoundError:                 # QUICK never downloads: without a copy here, random stand-ins
    images, labels = fake_dataset("fashion-mnist", N_IMAGES)
    source = "random stand-in images (no Fashion-MNIST on this machine)"
images, labels = random_subset(images, labels, N_IMAGES, seed=0)          # N_IMAGES None: all of them
x = to_float_images(images)                                               # float32 (N, 1, 28, 28) in [-1, 1]
print(f"{source}: {x.shape[0]:,} training images, array {x.shape} {x.dtype}; labels {labels.dtype}, "
      f"images per class: {np.bincount(labels, minlength=NUM_CLASSES).tolist()}")
for c, name in enumerate(FASHION_MNIST_CLASSES):
    print(f"  {c}: {name}")
rows = [x[labels == c][:10] for c in range(NUM_CLASSES)]                  # up to 10 images of each class
show_grid(np.concatenate(rows), 10, "real images, one row per class")

# %% [markdown]
# ## 2. The networks, and the label's path into them
#
# `minigan.models.build` makes the course note's cGAN (`minigan/models/cgan.py`). Both networks turn a
# label into something shaped like an image channel, and stack it onto their input:
#
# 1. `nn.Embedding(10, 50)` (*lớp nhúng*): a learned table of ten 50-number vectors; label y picks row y;
# 2. `nn.Linear(50, 7*7)` in G (`nn.Linear(50, 28*28)` in D) spreads that vector over a map;
# 3. `nn.Reshape(1, 7, 7)` (in D: `(1, 28, 28)`) makes it one extra channel;
# 4. `mg.cat([...], axis=1)` stacks it onto G's 128 feature maps of 7x7, or onto D's input image.
#
# From then on the label is "just another channel" that every convolution can read. G's label path
# for the ten labels, step by step:

# %%
G, D = build({"name": "cgan", "latent_dim": LATENT_DIM, "num_classes": NUM_CLASSES})
print(f"G: {G.num_parameters():,} parameters; D: {D.num_parameters():,} parameters")
y = mg.tensor(np.arange(NUM_CLASSES))                                     # (10,) int64: the labels 0..9
with mg.no_grad():
    vectors = G.label_path[0](y)                                          # (10, 50): rows of the table
    maps = G.label_path(y)                                                # (10, 1, 7, 7): one channel each
print("labels", tuple(y.shape), y.dtype, "-> embedding", tuple(vectors.shape), "-> label maps", tuple(maps.shape))

# %% [markdown]
# `mg.trace()` shows the whole forward pass of G for two labels (0 and 9): the noise path and the label
# path meet in the `Concat` line, 128 + 1 = 129 channels.

# %%
with mg.trace(), mg.no_grad():
    fake = G(mg.randn(2, LATENT_DIM), mg.tensor(np.array([0, 9])))        # (2, 1, 28, 28)
print(tuple(fake.shape))

# %% [markdown]
# ## 3. Training
#
# The same `d_step` and `g_step` as in notebook 2, with `TrainConfig(conditional=True)`: the D step
# shows D the real batch *with its labels* and fakes made *for the same labels*; the G step asks G for
# images of those labels and trains it to make D say "real, and of that class". After each epoch we
# draw a 10x10 grid from fixed noise, **one row per class**.

# %%
config = TrainConfig(latent_dim=LATENT_DIM, batch_size=BATCH_SIZE, conditional=True, num_classes=NUM_CLASSES)
opt_G = mg.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
opt_D = mg.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
fixed_z = mg.randn(100, LATENT_DIM)                                       # the same z all run
fixed_y = mg.tensor(np.repeat(np.arange(NUM_CLASSES), 10))                # 0,0,...,0,1,...,9: a row per class

history = []                                                              # (loss_D, loss_G, D(x), D(G(z)))
steps_per_epoch = len(x) // BATCH_SIZE
log_every = max(steps_per_epoch // 5, 1)
for epoch in range(1, EPOCHS + 1):
    G.train()
    D.train()
    start = time.perf_counter()
    for step, (real, y_real) in enumerate(batches((x, labels), BATCH_SIZE, seed=[0, epoch])):
        # real: (B, 1, 28, 28), y_real: (B,) the labels of this batch
        loss_D, d_x, d_g_z = d_step(G, D, opt_D, real, y_real, config)    # D(x, y) -> 1, D(G(z, y), y) -> 0
        loss_G = g_step(G, D, opt_G, BATCH_SIZE, y_real, config)          # make D say 1 on G(z, y)
        history.append((float(loss_D), float(loss_G), float(d_x), float(d_g_z)))   # numbers read from the device
        if step % log_every == 0:
            print(f"epoch {epoch} step {step:4d}/{steps_per_epoch}  loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  "
                  f"D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")
    print(f"epoch {epoch} took {time.perf_counter() - start:.1f} s")
    with mg.no_grad():
        show_grid(G(fixed_z, fixed_y), 10, f"G after epoch {epoch}: one row per class",
                  OUT / f"samples_epoch{epoch}.png")
print(f"final: loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")

# %% [markdown]
# ## 4. Asking for a class
#
# Now the point of the exercise: choose the label. Ten images of one class, each from its own noise:

# %%
CLASS = 7                                                                 # 7 = Sneaker
with mg.no_grad():
    asked = G(mg.randn(10, LATENT_DIM), mg.tensor(np.full(10, CLASS)))    # (10, 1, 28, 28)
show_grid(asked, 10, f"ten times class {CLASS}: {FASHION_MNIST_CLASSES[CLASS]}", OUT / f"class_{CLASS}.png")

# %% [markdown]
# And the other way round: **one** noise vector with each of the ten labels. What stays the same
# along the row is what the noise controls once the class is fixed (thickness, brightness, pose);
# what changes is the class. (After the QUICK run G has learned next to nothing: run the full settings.)

# %%
z_one = mg.cat([mg.randn(1, LATENT_DIM)] * NUM_CLASSES, axis=0)           # (10, LATENT_DIM): the same z ten times
with mg.no_grad():
    row = G(z_one, mg.tensor(np.arange(NUM_CLASSES)))                     # (10, 1, 28, 28)
show_grid(row, 10, "one z, labels 0..9", OUT / "one_z_ten_labels.png")

# %% [markdown]
# ## 5. Reading the run
#
# The losses read as in notebook 2 (dashed: the equilibrium values, `docs/gan.md`). A cGAN tends to
# suffer less from **mode collapse** (*sụp đổ chế độ*) than a plain GAN: asking for every class in
# every batch forces at least ten modes. Within one class it can still collapse (all sneakers alike):
# look along a row of the grid. `examples/evaluate.py` turns "does G obey the label?" into a number,
# the conditional accuracy of a separately trained classifier on G's images (`docs/cgan.md`).

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
# ## 6. Try it yourself
#
# - Change `CLASS` and run section 4 again; try a label that does not exist (10): what does minigan say?
# - Train with half of the labels shuffled at random (`labels = labels.copy();
#   labels[::2] = np.random.default_rng(0).permutation(labels[::2])`): does G still obey the label?
# - Show the ten label maps `G.label_path(y)` as 7x7 pictures after training: do they differ by class?
# - For long runs, checkpoints and scores: `python examples/cgan_fashion_mnist.py --backend cupy
#   --epochs 10`, then `python examples/sample.py --checkpoint runs/cgan_fashion_mnist/checkpoint.npz
#   --class-id 7`.
