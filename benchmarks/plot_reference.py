"""minigan vs PyTorch, the same recipe: per-epoch scores of both as JSON, a table, curves and samples.

    python benchmarks/plot_reference.py --runs runs/reference_dcgan --data-dir DATA

Reads what benchmarks/train_reference.py wrote under RUNS (``<framework>_seed<S>/scores.jsonl``, the
epoch times in ``log.jsonl``, the generators ``G_epochNNN.npz``) and writes

    RUNS/scores.json                     every score, by framework, seed and epoch ("runs"), and
                                         per epoch each framework's mean, sd and range over the
                                         seeds, with a permutation test between them ("over_seeds")
    docs/images/reference_<model>_curves.png    FCD and KID per epoch, and the losses and D's outputs
                                                per iteration, both frameworks overlaid
    docs/images/reference_<model>_samples.png   minigan's and PyTorch's generator at the last epoch
                                                both reached, from the same noise, side by side,
                                                one row per seed
and prints the Markdown table of docs/results.md ("minigan vs PyTorch, same recipe").
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from minigan.evaluation import sample_generator  # noqa: E402
from minigan.run.training_state import load_generator  # noqa: E402
from minigan.run.viz import read_log  # noqa: E402
from minigan.run.viz import _pyplot, image_grid  # noqa: E402

FRAMEWORKS = {"minigan": ("minigan (NumPy)", "tab:blue"), "torch": ("PyTorch (CPU)", "tab:orange")}


def read_jsonl(path):
    """The complete JSON lines of a file (a line cut short by a killed run is skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def collect(runs):
    """{framework: {seed: [one dict per scored epoch]}} and {framework: {seed: per-iteration log}}."""
    table, logs = {}, {}
    for run in sorted(Path(runs).glob("*_seed*")):
        if not run.is_dir() or not (run / "log.jsonl").exists():
            continue
        framework, seed = run.name.rsplit("_seed", 1)
        seconds = {r["epoch"]: r["seconds"] for r in read_jsonl(run / "log.jsonl") if r.get("event") == "epoch_end"}
        rows = []
        if (run / "scores.jsonl").exists():
            for r in read_jsonl(run / "scores.jsonl"):
                rows.append({**r, "train_seconds": seconds.get(r["epoch"]),
                             "generator": str(run / f"G_epoch{r['epoch']:03d}.npz")})
        table.setdefault(framework, {})[int(seed)] = sorted(rows, key=lambda r: r["epoch"])
        records = read_log(run / "log.jsonl")
        scored = [r["iteration"] for r in rows if r.get("iteration")]
        if scored:   # a run stopped after its last scored epoch: the iterations it began after it are cut off
            records = [r for r in records if r["iteration"] <= max(scored)]
        logs.setdefault(framework, {})[int(seed)] = records
    if not table:
        raise SystemExit(f"no <framework>_seed<S>/log.jsonl under {runs}: run benchmarks/reference_runs.sh first")
    return table, logs


def markdown_table(table):
    """One row per (seed, epoch): FCD and KID (x 1000 as the judge reports it) of both frameworks."""
    cond = any("conditional_accuracy" in r for runs in table.values() for rows in runs.values() for r in rows)
    head = "| seed | epoch | FCD minigan | FCD PyTorch | KID minigan | KID PyTorch |"
    rule = "|---|---|---|---|---|---|"
    if cond:
        head, rule = head + " cond. acc. minigan | cond. acc. PyTorch |", rule + "---|---|"
    head, rule = head + " epoch s minigan | epoch s PyTorch |", rule + "---|---|"
    lines = [head, rule]
    seeds = sorted({s for runs in table.values() for s in runs})
    for seed in seeds:
        by_epoch = {fw: {r["epoch"]: r for r in table.get(fw, {}).get(seed, [])} for fw in FRAMEWORKS}
        for epoch in sorted(set(by_epoch["minigan"]) | set(by_epoch["torch"])):
            m, t = by_epoch["minigan"].get(epoch), by_epoch["torch"].get(epoch)

            def cell(r, key, fmt):
                return fmt.format(r[key]) if r is not None and r.get(key) is not None else "—"

            row = [str(seed), str(epoch), cell(m, "fcd", "{:.1f}"), cell(t, "fcd", "{:.1f}"),
                   _kid(m), _kid(t)]
            if cond:
                row += [cell(m, "conditional_accuracy", "{:.3f}"), cell(t, "conditional_accuracy", "{:.3f}")]
            row += [cell(m, "train_seconds", "{:.0f}"), cell(t, "train_seconds", "{:.0f}")]
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def permutation_p(a, b):
    """Two-sided exact permutation test of "both lists come from one distribution", by the difference
    of their means: the share of all ways to split a + b into groups of len(a) and len(b) whose
    difference is at least as large as the observed one. With 3 seeds against 3 there are 20 splits,
    so the smallest p it can give is 2/20 = 0.1: three seeds cannot show a difference at the 5 % level."""
    from itertools import combinations

    values, observed = list(a) + list(b), abs(np.mean(a) - np.mean(b))
    splits = list(combinations(range(len(values)), len(a)))
    extreme = 0
    for group in splits:
        first = [values[i] for i in group]
        second = [values[i] for i in range(len(values)) if i not in group]
        extreme += abs(np.mean(first) - np.mean(second)) >= observed - 1e-12
    return extreme / len(splits)


def seed_summary(table, key="fcd"):
    """Per epoch, over the seeds that reached it: each framework's mean, standard deviation and range of
    ``key``, and whether the two ranges overlap. Returns (rows as dicts, a Markdown table)."""
    epochs = sorted({r["epoch"] for runs in table.values() for rows in runs.values() for r in rows})
    name = {"fcd": "FCD", "kid_mean": "KID x 1000"}.get(key, key)
    rows, lines = [], [f"| epoch | seeds | {name} minigan: mean ± sd (range) | {name} PyTorch: "
                       "mean ± sd (range) | PyTorch - minigan | ranges overlap | permutation p |",
                       "|---|---|---|---|---|---|---|"]
    for epoch in epochs:
        values = {fw: [r[key] for rows in table.get(fw, {}).values() for r in rows if r["epoch"] == epoch]
                  for fw in FRAMEWORKS}
        m, t = values["minigan"], values["torch"]
        if not m or not t:
            continue
        overlap = max(min(m), min(t)) <= min(max(m), max(t))
        row = {"epoch": epoch, "n_minigan": len(m), "n_torch": len(t), "key": key,
               "minigan_mean": float(np.mean(m)), "minigan_sd": float(np.std(m, ddof=1)) if len(m) > 1 else None,
               "torch_mean": float(np.mean(t)), "torch_sd": float(np.std(t, ddof=1)) if len(t) > 1 else None,
               "minigan_range": [min(m), max(m)], "torch_range": [min(t), max(t)], "ranges_overlap": overlap,
               "permutation_p": permutation_p(m, t) if len(m) > 1 and len(t) > 1 else None}
        rows.append(row)

        def cell(fw):
            sd = row[f"{fw}_sd"]
            lo, hi = row[f"{fw}_range"]
            return f"{row[f'{fw}_mean']:.1f}" + (f" ± {sd:.1f}" if sd is not None else "") + f" ({lo:.1f}-{hi:.1f})"

        p_cell = "—" if row["permutation_p"] is None else f"{row['permutation_p']:.2f}"
        lines.append(f"| {epoch} | {len(m)} + {len(t)} | {cell('minigan')} | {cell('torch')} | "
                     f"{row['torch_mean'] - row['minigan_mean']:+.1f} | {'yes' if overlap else 'no'} | {p_cell} |")
    return rows, "\n".join(lines)


def _kid(r):
    return "—" if r is None else f"{r['kid_mean']:.1f} ± {r['kid_std']:.1f}"


def moving_average(values, k):
    """Mean of each k consecutive values: (len - k + 1,)."""
    return np.convolve(np.asarray(values, dtype=np.float64), np.ones(k) / k, mode="valid")


def curves_figure(table, logs, model, smooth=25):
    """Top: the judge's scores per epoch. Bottom: the training losses and D's outputs per iteration.

    One line per (framework, seed), colour = framework; KID with its spread over the 100 subsets.
    """
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    scores = [("fcd", "FCD (lower is better)"), ("kid_mean", "KID x 1000 (lower is better)")]
    if any("conditional_accuracy" in r for runs in table.values() for rows in runs.values() for r in rows):
        scores.append(("conditional_accuracy", "conditional accuracy"))
    losses = [("loss_D", "loss of D"), ("loss_G", "loss of G"), ("D_x", "D(x) (solid), D(G(z)) (dashed)")]
    fig, axes = plt.subplots(2, 3, figsize=(12.6, 6.4))
    for ax, (key, title) in zip(axes[0], scores):
        for fw, runs in table.items():
            label, colour = FRAMEWORKS[fw]
            for i, (seed, rows) in enumerate(sorted(runs.items())):
                epochs, values = [r["epoch"] for r in rows], np.array([r[key] for r in rows])
                ax.plot(epochs, values, "o-", color=colour, alpha=0.9 if i == 0 else 0.5, ms=5,
                        label=f"{label}, seed {seed}")
                if key == "kid_mean" and rows:
                    std = np.array([r["kid_std"] for r in rows])
                    ax.fill_between(epochs, values - std, values + std, color=colour, alpha=0.15)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if len(scores) == 2:                                             # the free panel: FCD over the seeds
        ax, rows = axes[0][2], seed_summary(table)[0]                 # epochs that both frameworks reached
        for shift, (fw, (label, colour)) in zip((-0.04, 0.04), FRAMEWORKS.items()):
            epochs = np.array([r["epoch"] for r in rows]) + shift
            mean = np.array([r[f"{fw}_mean"] for r in rows])
            lo, hi = (np.array([r[f"{fw}_range"][i] for r in rows]) for i in (0, 1))
            ax.errorbar(epochs, mean, yerr=[mean - lo, hi - mean], fmt="o-", color=colour, capsize=4,
                        label=f"{label}, mean of {rows[0][f'n_{fw}'] if rows else 0} seeds")
        ax.set_title("FCD, mean over the seeds (bars: min-max)", fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    shortest = min(len(records) for runs in logs.values() for records in runs.values())
    k = max(1, min(smooth, shortest // 5))                          # one window for every line
    for ax, (key, title) in zip(axes[1], losses):
        for fw, runs in logs.items():
            label, colour = FRAMEWORKS[fw]
            for seed, records in sorted(runs.items()):
                it = np.array([r["iteration"] for r in records])[k - 1:]
                ax.plot(it, moving_average([r[key] for r in records], k), color=colour, lw=1,
                        label=f"{label}, seed {seed}")
                if key == "D_x":
                    ax.plot(it, moving_average([r["D_G_z"] for r in records], k), color=colour, lw=1, ls="--")
        ax.set_title(f"{title}, mean of {k} iterations", fontsize=10)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
    axes[1][0].legend(fontsize=8)
    fig.suptitle(f"{model}: the same recipe in minigan and PyTorch, scored by one judge", fontsize=11)
    fig.tight_layout()
    return fig


def samples_figure(table, seeds, n=None):
    """Both frameworks' generators side by side, one row per seed, each at the last epoch both reached
    for that seed, from the same z (n images per panel: 32 for one seed, 16 for several)."""
    n = n or (32 if len(seeds) == 1 else 16)
    plt = _pyplot()
    rows = []
    for seed in seeds:
        common = set.intersection(*({r["epoch"] for r in table[fw][seed]} for fw in FRAMEWORKS))
        if common:
            rows.append((seed, max(common)))
    if not rows:
        return None, None
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, (0.4 + 0.31 * n / 8 * 2) * len(rows) + 0.3), squeeze=False)
    for (seed, epoch), row_axes in zip(rows, axes):
        for ax, fw in zip(row_axes, FRAMEWORKS):
            path = next(r["generator"] for r in table[fw][seed] if r["epoch"] == epoch)
            G, spec, _ = load_generator(path)
            images, _ = sample_generator(G, n, spec["latent_dim"], spec["name"] == "cgan", seed=0)   # (n, C, H, W)
            ax.imshow(image_grid(images, nrow=8))
            ax.set_title(f"{FRAMEWORKS[fw][0]}, seed {seed}, epoch {epoch}", fontsize=10)
            ax.axis("off")
    fig.suptitle("the same noise z into both generators (cGAN: labels 0-9 in turn)", fontsize=9)
    fig.tight_layout()
    return fig, max(epoch for _, epoch in rows)


def save_png(fig, path, max_bytes=200_000):
    """Write ``fig`` as an RGB PNG; one over docs' 200 KB limit is re-saved with a 256-colour palette."""
    from PIL import Image

    fig.set_dpi(90)
    fig.canvas.draw()
    image = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[:, :, :3])   # (H, W, 3) uint8
    _pyplot().close(fig)
    image.save(path, optimize=True)
    if Path(path).stat().st_size > max_bytes:
        image.quantize(colors=256).save(path, optimize=True)
    print(f"wrote {path} ({Path(path).stat().st_size // 1000} KB)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="the OUT folder of benchmarks/reference_runs.sh")
    p.add_argument("--images", default=str(ROOT / "docs" / "images"), help="where the PNGs go")
    args = p.parse_args(argv)
    table, logs = collect(args.runs)
    summary = {key: seed_summary(table, key) for key in ("fcd", "kid_mean")}
    (Path(args.runs) / "scores.json").write_text(json.dumps(
        {"runs": table, "over_seeds": {key: rows for key, (rows, _) in summary.items()}}, indent=1))
    model = json.loads(next(Path(args.runs).glob("*_seed*/run.json")).read_text())["config"]["model"]
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    fig = curves_figure(table, logs, model)
    save_png(fig, images / f"reference_{model}_curves.png")
    seeds = set(table.get("minigan", {})) & set(table.get("torch", {}))
    fig, epoch = samples_figure(table, sorted(seeds)) if seeds else (None, None)
    if fig is None:
        print("no epoch scored in both frameworks yet: no samples figure")
    else:
        save_png(fig, images / f"reference_{model}_samples.png")
    print(markdown_table(table))
    for key, (_, text) in summary.items():
        print(f"\nover the seeds ({key}):\n{text}")


if __name__ == "__main__":
    main()
