# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. The transposed convolution (tích chập chuyển vị), in two definitions
#
# A convolution (*tích chập*) with stride 2 halves an image. A generator has to do the opposite, turn
# a 2x2 feature map into a 32x32 image, and the layer that does it is the **transposed convolution**
# (*tích chập chuyển vị*; sometimes called "deconvolution", wrongly: it does not undo a convolution).
# The course note defines it in two ways:
#
# | | idea | minigan |
# |---|---|---|
# | **Kiểu 1** (scatter) | every input pixel stamps a copy of the kernel, scaled by its value, into the output at stride steps; overlapping stamps add up; then `p` rows and columns are cropped from each side | `F.conv_transpose2d(x, w, stride=s, padding=p, method="scatter")` |
# | **Kiểu 2** (insert zeros, pad, convolve) | insert `s - 1` zeros between input pixels, pad `k - p - 1` zeros on every side, then run an ordinary stride-1 convolution with the kernel rotated by 180° | `F.conv_transpose2d(..., method="dilate")` = `F.dilate2d` -> `F.pad2d` -> `F.conv2d` |
#
# This notebook computes both by hand, draws them, and checks them against each other and against
# minigan. Notation: input `H x W`, kernel `k x k`, stride `s` (*bước nhảy*), padding `p` (*đệm*).
# Weights have PyTorch's layout: a transposed convolution's weight is `(C_in, C_out, k, k)`. The
# longer text, with the derivations and the third ("sub-pixel") definition, is `docs/transposed-conv.md`;
# the code is in `minigan/ops/conv.py`.

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

# %% [markdown]
# Everything here is small and runs in seconds on any backend; `QUICK` changes nothing in this
# notebook. `show_matrix` draws a small array with its numbers; the background colour says where a
# cell came from (an input value, an inserted zero, padding).

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

import minigan as mg
import minigan.functional as F

mg.set_backend(BACKEND)
mg.manual_seed(0)
OUT = Path("runs") / "03_transposed_conv"
OUT.mkdir(parents=True, exist_ok=True)

KIND_COLOURS = ListedColormap(["#fff7d6", "#d9e8fb", "#e6e6e6"])   # 0 value, 1 inserted zero, 2 padding


def show_matrix(ax, a, title, kinds=None, box=None):
    """Draw the 2-D array ``a`` with its numbers; ``kinds`` (same shape) colours the cells; ``box`` = (row,
    col, size) outlines a size x size window in red."""
    a = np.asarray(a)
    kinds = np.zeros(a.shape, dtype=int) if kinds is None else kinds
    ax.imshow(kinds, cmap=KIND_COLOURS, vmin=0, vmax=2)
    for (r, c), v in np.ndenumerate(a):
        ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=9)
    for r in range(1, a.shape[0]):
        ax.axhline(r - 0.5, color="0.6", lw=0.5)                   # lines between the cells
    for c in range(1, a.shape[1]):
        ax.axvline(c - 0.5, color="0.6", lw=0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if box is not None:
        r, c, size = box
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), size, size, fill=False, ec="red", lw=2))
    ax.set_title(title, fontsize=9)


# %% [markdown]
# ## 1. The course note's example
#
# Input `[[0, 1], [2, 3]]`, kernel `[[0, 1], [2, 3]]`, one channel, a batch of one. minigan's answer
# for four strides and paddings; the note computes the first by hand and gets
# `[[0, 0, 1], [0, 4, 6], [4, 12, 9]]`.

# %%
x = mg.tensor([[0., 1.], [2., 3.]]).reshape(1, 1, 2, 2)      # (N, C_in, H, W)
w = mg.tensor([[0., 1.], [2., 3.]]).reshape(1, 1, 2, 2)      # (C_in, C_out, k, k)
xa, wa = x.numpy()[0, 0], w.numpy()[0, 0]                     # the same as plain 2-D numpy arrays

for s, p in [(1, 0), (1, 1), (2, 0), (2, 1)]:
    y = F.conv_transpose2d(x, w, stride=s, padding=p, method="scatter")
    print(f"s={s}, p={p}:", y.numpy()[0, 0].astype(int).tolist())

# %% [markdown]
# ## 2. Kiểu 1: every input pixel stamps the kernel
#
# Read the definition as a loop. Input pixel `(i, j)` with value `v` adds `v * kernel` into the output
# window whose top-left corner is `(i*s, j*s)`. The full result is `(H-1)*s + k` wide; then `p` rows and
# columns are cut from every side.

# %%
def kieu1_stamps(x2d, kernel, s):
    """The stamps of Kiểu 1: for each input pixel, value * kernel placed at (i*s, j*s) in the full output."""
    h, k = x2d.shape[0], kernel.shape[0]
    size = (h - 1) * s + k
    stamps = []
    for i in range(h):
        for j in range(h):
            stamp = np.zeros((size, size))
            stamp[i * s:i * s + k, j * s:j * s + k] = x2d[i, j] * kernel
            stamps.append(((i, j), stamp))
    return stamps


def kieu1(x2d, kernel, s, p):
    """Kiểu 1 on plain 2-D arrays: add up the stamps, then crop p from each side."""
    full = sum(stamp for _, stamp in kieu1_stamps(x2d, kernel, s))    # overlapping stamps add up
    return full[p:full.shape[0] - p, p:full.shape[1] - p]


print("s=1, p=0:", kieu1(xa, wa, s=1, p=0).astype(int).tolist())
print("s=2, p=1:", kieu1(xa, wa, s=2, p=1).astype(int).tolist())

# %% [markdown]
# The pictures: the four stamps, their sum, and the crop. With `s=1` the stamps overlap (that is where
# the 4 and the 12 come from); with `s=2` and `k=2` they tile the output without touching, and `p=1`
# keeps the middle.

# %%
def kieu1_figure(s, p):
    stamps = kieu1_stamps(xa, wa, s)
    full = sum(stamp for _, stamp in stamps)
    size, k = full.shape[0], wa.shape[0]
    fig, axes = plt.subplots(1, len(stamps) + 2, figsize=(2.1 * (len(stamps) + 2), 2.5))
    for ax, ((i, j), stamp) in zip(axes, stamps):
        kinds = np.full(stamp.shape, 2)
        kinds[i * s:i * s + k, j * s:j * s + k] = 0                          # where this pixel's stamp lands
        show_matrix(ax, stamp, f"x[{i},{j}]={xa[i, j]:g} times kernel", kinds)
    crop = np.full(full.shape, 2)
    crop[p:size - p, p:size - p] = 0
    show_matrix(axes[-2], full, "sum of the stamps", crop)
    show_matrix(axes[-1], kieu1(xa, wa, s, p), f"crop p={p}: the output")
    fig.suptitle(f"Kiểu 1 (scatter), s={s}, p={p}", fontsize=10)
    fig.tight_layout()
    return fig


for s, p in [(1, 0), (2, 1)]:
    fig = kieu1_figure(s, p)
    fig.savefig(OUT / f"kieu1_s{s}_p{p}.png", dpi=80)
    plt.show()

# %% [markdown]
# minigan does not loop over pixels: `method="scatter"` writes all the stamps as one matrix product
# (`W^T x`, the stamp of every pixel for every output channel) and adds them into the output with
# `col2im`, the mirror image of the `im2col` that `conv2d` uses to read windows.

# %% [markdown]
# ## 3. Kiểu 2: insert zeros, pad, convolve with the flipped kernel
#
# 1. insert `z = s - 1` zeros between neighbouring input pixels (`F.dilate2d`);
# 2. pad `p' = k - p - 1` zeros on every side (`F.pad2d`);
# 3. run an ordinary stride-1 convolution (`F.conv2d`) with the kernel rotated by 180 degrees.
#
# (With several channels the kernel also swaps its in/out axes, from the transposed convolution's
# `(C_in, C_out, k, k)` to the convolution's `(C_out, C_in, k, k)`: `w.permute(1, 0, 2, 3)`.)

# %%
def kieu2(x, w, s, p):
    """Kiểu 2 from three visible steps; also returns the zero-inserted and the padded input."""
    k = w.shape[2]
    p_prime = k - p - 1                                               # p' = k - p - 1 (needs p <= k - 1)
    dilated = F.dilate2d(x, s)                                        # (N, C_in, (H-1)s+1, (W-1)s+1)
    padded = F.pad2d(dilated, p_prime, p_prime, p_prime, p_prime)      # (N, C_in, (H-1)s+1+2p', ...)
    flipped = w.permute(1, 0, 2, 3)[:, :, ::-1, ::-1]                 # (C_out, C_in, k, k), rotated 180°
    return F.conv2d(padded, flipped), dilated, padded                 # (N, C_out, H_out, W_out)


y2, dilated, padded = kieu2(x, w, s=2, p=0)
print("zero-inserted:", dilated.numpy()[0, 0].astype(int).tolist())
print("padded:       ", padded.numpy()[0, 0].astype(int).tolist())
print("output:       ", y2.numpy()[0, 0].astype(int).tolist())

# %% [markdown]
# The pictures: the input, the zero-inserted input (blue: inserted zeros), the padded input (gray:
# padding) with the window of one output pixel in red, the flipped kernel, and the output with that
# pixel outlined. The sum under the last panel is that pixel worked out by hand.

# %%
def kieu2_figure(s, p, pixel=(1, 2)):
    k = wa.shape[0]
    p_prime = k - p - 1
    y, dilated, padded = kieu2(x, w, s, p)
    d, pd, out = dilated.numpy()[0, 0], padded.numpy()[0, 0], y.numpy()[0, 0]
    kinds_d = np.ones(d.shape, dtype=int)
    kinds_d[::s, ::s] = 0                                             # the original pixels
    kinds_p = np.full(pd.shape, 2)
    kinds_p[p_prime:p_prime + d.shape[0], p_prime:p_prime + d.shape[1]] = kinds_d
    r, c = min(pixel[0], out.shape[0] - 1), min(pixel[1], out.shape[1] - 1)
    flipped = wa[::-1, ::-1]
    window = pd[r:r + k, c:c + k]
    fig, axes = plt.subplots(1, 5, figsize=(11, 2.8))
    show_matrix(axes[0], xa, "input x")
    show_matrix(axes[1], d, f"insert s-1={s - 1} zeros", kinds_d)
    show_matrix(axes[2], pd, f"pad p'=k-p-1={p_prime}", kinds_p, box=(r, c, k))
    show_matrix(axes[3], flipped, "kernel rotated 180°")
    show_matrix(axes[4], out, "output (stride-1 conv)", box=(r, c, 1))
    terms = " + ".join(f"{a:g}*{b:g}" for a, b in zip(window.ravel(), flipped.ravel()))
    axes[4].set_xlabel(f"y[{r},{c}] = {terms} = {out[r, c]:g}", fontsize=8)
    fig.suptitle(f"Kiểu 2 (insert zeros, pad, convolve), s={s}, p={p}", fontsize=10)
    fig.tight_layout()
    return fig


for s, p in [(2, 0), (1, 0), (2, 1)]:
    fig = kieu2_figure(s, p)
    fig.savefig(OUT / f"kieu2_s{s}_p{p}.png", dpi=80)
    plt.show()

# %% [markdown]
# ## 4. The two definitions agree
#
# First on the course note's example, where all the numbers are small integers and the three ways
# (Kiểu 1 by hand, Kiểu 2 by hand, and minigan's two methods) must agree *exactly*:

# %%
for s, p in [(1, 0), (1, 1), (2, 0), (2, 1)]:
    by_hand_1 = kieu1(xa, wa, s, p)
    by_hand_2 = kieu2(x, w, s, p)[0].numpy()[0, 0]
    scatter = F.conv_transpose2d(x, w, stride=s, padding=p, method="scatter").numpy()[0, 0]
    dilate = F.conv_transpose2d(x, w, stride=s, padding=p, method="dilate").numpy()[0, 0]
    same = all(np.array_equal(by_hand_1, other) for other in (by_hand_2, scatter, dilate))
    print(f"s={s}, p={p}: all four equal: {same}   {scatter.astype(int).tolist()}")
    assert same

# %% [markdown]
# Then on random numbers, with several channels and the shapes of real layers: the DCGAN's
# (`k=4, s=2, p=1`), a layer with `k=3` and `output_padding=1`, and the Keras "same" layer of the
# course note's model (`k=5, s=2, p=2, output_padding=1`). In float32 the two definitions add the same
# products in a different order, so they agree up to rounding: about 1e-7 relative to the values,
# never more than 1e-5 here. In float64 the difference is about 1e-15.

# %%
rng = np.random.default_rng(0)
cases = [  # (C_in, C_out, H, k, s, p, output_padding)
    (8, 4, 5, 4, 2, 1, 0),     # the DCGAN's layers
    (3, 2, 4, 3, 2, 1, 1),     # k not divisible by s
    (4, 4, 4, 5, 2, 2, 1),     # Keras padding="same", k=5
    (2, 3, 6, 3, 1, 0, 0),     # stride 1
]
worst = {}
for dtype in (np.float32, np.float64):
    worst[dtype] = 0.0
    for c_in, c_out, h, k, s, p, op in cases:
        xr = mg.tensor(rng.standard_normal((2, c_in, h, h)), dtype=dtype)      # (N, C_in, H, W)
        wr = mg.tensor(rng.standard_normal((c_in, c_out, k, k)), dtype=dtype)  # (C_in, C_out, k, k)
        y_1 = F.conv_transpose2d(xr, wr, stride=s, padding=p, output_padding=op, method="scatter")
        y_2 = F.conv_transpose2d(xr, wr, stride=s, padding=p, output_padding=op, method="dilate")
        diff = float(np.abs(y_1.numpy() - y_2.numpy()).max())
        worst[dtype] = max(worst[dtype], diff)
        if dtype is np.float32:
            print(f"k={k} s={s} p={p} op={op}: {tuple(xr.shape)} -> {tuple(y_1.shape)}, max difference {diff:.1e}")
print(f"max |Kiểu 1 - Kiểu 2| float32: {worst[np.float32]:.1e}")
print(f"max |Kiểu 1 - Kiểu 2| float64: {worst[np.float64]:.1e}")
assert worst[np.float32] < 1e-5 and worst[np.float64] < 1e-12

# %% [markdown]
# ## 5. Why the two agree: where `p' = k - p - 1` comes from
#
# Take one dimension. In Kiểu 1, input pixel `i` puts kernel tap `a` on full-output position `i*s + a`;
# the crop shifts everything by `p`, so output position `o` receives `x[i] * K[a]` whenever
# `i*s + a = o + p`.
#
# In Kiểu 2, input pixel `i` sits at position `i*s + p'` of the zero-inserted, padded array (the pixels
# are `s` apart: `s - 1` zeros between neighbours). A stride-1 convolution with the flipped kernel
# `K'[b] = K[k-1-b]` multiplies position `o + b` by `K[k-1-b]`. The term with pixel `i` has
# `o + b = i*s + p'`, so it uses tap `a = k - 1 - b = k - 1 - p' + o - i*s`.
#
# The two agree for every `o` and `i` exactly when `k - 1 - p' = p`, that is **`p' = k - p - 1`**. (For
# `p > k - 1`, `p'` would be negative: `method="dilate"` then refuses and asks for `"scatter"`.)
#
# ## 6. Why "transposed": the matrix of a convolution
#
# A convolution is linear, so it is a matrix `C` acting on the flattened input. Build it column by
# column from unit images: a 3x3 input and our 2x2 kernel give a 4 x 9 matrix. Then `C^T` applied to the
# flattened 2x2 input is the course note's answer again. The transposed convolution *is* multiplication
# by `C^T`: it restores the shape of the convolution's input, not its values.

# %%
C = np.zeros((4, 9))                                       # conv2d: 3x3 input (9 numbers) -> 2x2 output (4)
for n in range(9):
    e = np.zeros((1, 1, 3, 3), dtype=np.float32)
    e.reshape(-1)[n] = 1                                   # the n-th unit image
    C[:, n] = F.conv2d(mg.tensor(e), w).numpy().reshape(-1)
print(C.astype(int))
print("C^T x =", (C.T @ xa.reshape(-1)).reshape(3, 3).astype(int).tolist())

# %% [markdown]
# This is also why the transposed convolution is the *gradient* of a convolution with respect to its
# input (the backward of `y = C x` is `dx = C^T dy`): minigan's `Conv2d.backward` calls the transposed
# convolution, and `ConvTranspose2d.backward` calls the convolution.
#
# ## 7. The output size, and the checkerboard
#
#     convolution             H_out = floor((H + 2p - k) / s) + 1
#     transposed convolution  H_out = (H - 1)*s - 2p + k + output_padding
#
# The DCGAN's generator uses `k=4, s=2, p=1`: every layer doubles the size, `(H-1)*2 - 2 + 4 = 2H`.
# With `k=3` it needs `output_padding=1` for the same. But the choice of `k` matters for more than the
# size: transpose an all-ones input with an all-ones kernel and every output value is the number of
# kernel taps that reach that pixel. When `k` is not divisible by `s`, neighbouring pixels get
# different numbers of taps, in a regular pattern: the **checkerboard artifacts**
# (*hiện tượng bàn cờ*) that generators with such layers tend to show. (Blue: fewer taps than the most.)

# %%
fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
for ax, (k, p, op) in zip(axes, [(3, 1, 1), (4, 1, 0)]):
    taps = F.conv_transpose2d(mg.ones(1, 1, 4, 4), mg.ones(1, 1, k, k), stride=2, padding=p, output_padding=op)
    t = taps.numpy()[0, 0]                                                # (8, 8)
    show_matrix(ax, t, f"k={k}, s=2: taps per output pixel", kinds=(t < t.max()).astype(int))
    print(f"k={k}: 4x4 -> {taps.shape[2]}x{taps.shape[3]}, taps per pixel in row 3:",
          taps.numpy()[0, 0, 3].astype(int).tolist())
fig.tight_layout()
fig.savefig(OUT / "checkerboard.png", dpi=80)
plt.show()

# %% [markdown]
# ## 8. In the DCGAN
#
# `nn.ConvTranspose2d` is this operation with a learned weight. Its default `method="auto"` picks the
# fastest definition for the layer (Kiểu 1, or the sub-pixel one of `docs/transposed-conv.md`); all of
# them give the same numbers. The DCGAN generator's second layer, at batch 2:

# %%
from minigan import nn

layer = nn.ConvTranspose2d(256, 128, kernel_size=4, stride=2, padding=1)   # weight (256, 128, 4, 4)
features = mg.randn(2, 256, 4, 4)                                          # (N, C_in, 4, 4)
with mg.no_grad():
    out = layer(features)                                                  # (N, C_out, 8, 8)
    by_kieu2 = kieu2(features, layer.weight, s=2, p=1)[0] + layer.bias.reshape(1, 128, 1, 1)
print(tuple(features.shape), "->", tuple(out.shape))
print(f"layer vs Kiểu 2 by hand: max difference {float(np.abs(out.numpy() - by_kieu2.numpy()).max()):.1e}")

# %% [markdown]
# ## 9. Try it yourself
#
# - Change the kernel to `[[1, 1], [1, 1]]` and predict the `s=1` output before running Kiểu 1.
# - Draw `kieu2_figure(3, 0)`: how many zeros go between pixels, and how wide is the output?
# - Find `(padding, output_padding)` for a layer that takes 7x7 to 14x14 with `k=4` and with `k=5`
#   (`from minigan.tools.shapes import padding_choices`; `padding_choices(7, 14, 5, 2)`).
# - Try `p = 2` with `k = 2`: what does `method="dilate"` say, and what does `method="scatter"` give?
#
# Next: notebook 2 builds the DCGAN, whose generator is four of these layers.
