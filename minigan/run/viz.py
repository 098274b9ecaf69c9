"""Pictures: image grids and training curves (matplotlib, imported only when a picture is made).

Reading order: training -> **viz**. Every array goes through ``to_numpy`` first, so the same calls
work on the CuPy backend.
"""

import json
import math
import os

import numpy as np

from minigan.autograd import array_of
from minigan.backend import to_numpy


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # draw into files; no window needed (servers, CI)
    import matplotlib.pyplot as plt

    return plt


def _write_atomically(path, write):
    """Call ``write(tmp_path)``, then rename the finished file onto ``path``.

    ``os.replace`` is atomic, so whoever opens ``path`` (a person watching samples during training, or
    the next run after a kill mid-write) sees the old picture or the new one, never half of one.
    The temporary name is hidden (``.name.tmp-<pid>``) and removed if ``write`` fails.
    """
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    tmp_path = os.path.join(directory, f".{name}.tmp-{os.getpid()}")
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    except BaseException:           # also KeyboardInterrupt: never leave the temp file behind
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def image_grid(images, nrow=None, pad=2):
    """NCHW images in [-1, 1] (any backend) -> one uint8 picture (H, W, 3) with ``nrow`` per row."""
    x = to_numpy(array_of(images)).astype(np.float32)
    n, c, h, w = x.shape
    x = np.clip((x + 1) * 127.5, 0, 255).round().astype(np.uint8)  # [-1, 1] -> [0, 255]
    if c == 1:
        x = np.repeat(x, 3, axis=1)                                 # gray -> RGB
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top:top + h, left:left + w] = x[i].transpose(1, 2, 0)  # CHW -> HWC
    return grid


def save_image_grid(images, path, nrow=None, scale=2):
    """Write a PNG grid of NCHW images in [-1, 1]; ``scale`` enlarges each pixel (no smoothing)."""
    grid = image_grid(images, nrow)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    _write_atomically(path, lambda tmp: _pyplot().imsave(tmp, grid, format="png"))


def read_log(path):
    """The per-iteration records of a JSON-lines training log (lines with an "iteration" key)."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # an empty line, or the half-written last line of a killed run
            if isinstance(record, dict) and "loss_D" in record:
                records.append(record)
    return records


def curves_figure(records, smooth=50, title=""):
    """A matplotlib figure: loss of D and G, and D(x) / D(G(z)), against iterations (moving averages).

    WGAN-GP logs (records with "wasserstein") get wgan_curves_figure instead.
    """
    if "wasserstein" in records[0]:
        return wgan_curves_figure(records, smooth, title)
    plt = _pyplot()
    it = np.array([r["iteration"] for r in records])
    k = max(1, min(smooth, len(records) // 5))                      # moving-average window

    def smoothed(key):  # mean of the last k values: (len - k + 1,), aligned with it[k - 1:]
        v = np.array([r[key] for r in records], dtype=np.float64)
        return np.convolve(v, np.ones(k) / k, mode="valid")

    it = it[k - 1:]                                                 # each average ends at this iteration
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    ax1.plot(it, smoothed("loss_D"), label="loss D")
    ax1.plot(it, smoothed("loss_G"), label="loss G")
    ax1.set_xlabel("iteration")
    ax1.set_title(f"{title}losses (mean of the last {k} iterations)", fontsize=9)
    ax1.legend(fontsize=8)
    ax2.plot(it, smoothed("D_x"), label="D(x): real judged real")
    ax2.plot(it, smoothed("D_G_z"), label="D(G(z)): fake judged real")
    ax2.axhline(0.5, color="gray", lw=0.5, ls="--")
    ax2.set_ylim(0, 1)
    ax2.set_xlabel("iteration")
    ax2.set_title(f"discriminator outputs ({len(records)} iterations)", fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def wgan_curves_figure(records, smooth=50, title=""):
    """WGAN-GP: the losses, the Wasserstein estimate mean D(x) - mean D(G(z)), and the mean gradient norm
    ||grad D(x_hat)|| on the interpolates with the penalty (moving averages; see minigan/penalties.py)."""
    plt = _pyplot()
    k = max(1, min(smooth, len(records) // 5))                      # moving-average window
    it = np.array([r["iteration"] for r in records])[k - 1:]       # each average ends at this iteration

    def smoothed(key):
        v = np.array([r[key] for r in records], dtype=np.float64)
        return np.convolve(v, np.ones(k) / k, mode="valid")

    fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(13, 3.5))
    ax1.plot(it, smoothed("loss_D"), label="loss D (critic, with penalties)")
    ax1.plot(it, smoothed("loss_G"), label="loss G = -mean D(G(z))")
    ax1.set_title(f"{title}losses (mean of the last {k} iterations)", fontsize=9)
    ax1.legend(fontsize=8)
    ax2.plot(it, smoothed("wasserstein"), color="C2")
    ax2.set_title("Wasserstein estimate: mean D(x) - mean D(G(z))", fontsize=9)
    ax3.plot(it, smoothed("grad_norm"), color="C3", label="mean ||grad D(x_hat)||")
    ax3.plot(it, smoothed("gp"), color="C4", label="gradient penalty")
    ax3.axhline(1.0, color="gray", lw=0.5, ls="--")
    ax3.set_title(f"gradient norm at the interpolates ({len(records)} iterations)", fontsize=9)
    ax3.legend(fontsize=8)
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("iteration")
    fig.tight_layout()
    return fig


def plot_curves(log_path, path, smooth=50):
    """Write the curves of a training log (log.jsonl) to a PNG."""
    records = read_log(log_path)
    if not records:
        return
    fig = curves_figure(records, smooth)
    try:
        _write_atomically(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    finally:
        _pyplot().close(fig)
