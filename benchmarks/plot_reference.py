"""minigan vs PyTorch, the same recipe: per-epoch scores of both as JSON, a table, curves and samples.

    python benchmarks/plot_reference.py --runs runs/reference_dcgan --data-dir DATA

Reads what benchmarks/train_reference.py wrote under RUNS (``<framework>_seed<S>/scores.jsonl``, the
epoch times in ``log.jsonl``, the generators ``G_epochNNN.npz``) and writes

    RUNS/scores.json                     every score, by framework, seed and epoch
    docs/images/reference_<model>_curves.png    FCD and KID per epoch, both frameworks overlaid
    docs/images/reference_<model>_samples.png   minigan's and PyTorch's generator at the last epoch
                                                both reached, from the same noise, side by side
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
from minigan.training import load_generator  # noqa: E402
from minigan.viz import _pyplot, image_grid  # noqa: E402

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
    """{framework: {seed: [one dict per scored epoch, with its training seconds]}} from RUNS."""
    table = {}
    for run in sorted(Path(runs).glob("*_seed*")):
        if not run.is_dir() or not (run / "scores.jsonl").exists():
            continue
        framework, seed = run.name.rsplit("_seed", 1)
        seconds = {r["epoch"]: r["seconds"] for r in read_jsonl(run / "log.jsonl") if r.get("event") == "epoch_end"}
        rows = []
        for r in read_jsonl(run / "scores.jsonl"):
            rows.append({**r, "train_seconds": seconds.get(r["epoch"]), "generator": str(run / f"G_epoch{r['epoch']:03d}.npz")})
        table.setdefault(framework, {})[int(seed)] = sorted(rows, key=lambda r: r["epoch"])
    if not table:
        raise SystemExit(f"no <framework>_seed<S>/scores.jsonl under {runs}: run benchmarks/reference_runs.sh first")
    return table


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


def _kid(r):
    return "—" if r is None else f"{r['kid_mean']:.1f} ± {r['kid_std']:.1f}"


def curves_figure(table, model):
    """FCD and KID against epochs; one line per (framework, seed), colour = framework."""
    from matplotlib.ticker import MaxNLocator

    plt = _pyplot()
    keys = [("fcd", "FCD (lower is better)"), ("kid_mean", "KID x 1000 (lower is better)")]
    if any("conditional_accuracy" in r for runs in table.values() for rows in runs.values() for r in rows):
        keys.append(("conditional_accuracy", "conditional accuracy"))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4))
    for ax, (key, title) in zip(axes, keys):
        for fw, runs in table.items():
            label, colour = FRAMEWORKS[fw]
            for i, (seed, rows) in enumerate(sorted(runs.items())):
                epochs = [r["epoch"] for r in rows]
                values = [r[key] for r in rows]
                ax.plot(epochs, values, "o-", color=colour, alpha=0.9 if i == 0 else 0.5, ms=4,
                        label=f"{label}, seed {seed}")
                if key == "kid_mean":
                    std = np.array([r["kid_std"] for r in rows])
                    ax.fill_between(epochs, np.array(values) - std, np.array(values) + std, color=colour, alpha=0.15)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{model}: the same recipe in minigan and PyTorch, scored by one judge", fontsize=10)
    fig.tight_layout()
    return fig


def samples_figure(table, seed, n=32):
    """Both frameworks' generators at the last epoch both reached for ``seed``, from the same z."""
    plt = _pyplot()
    common = set.intersection(*({r["epoch"] for r in table[fw][seed]} for fw in FRAMEWORKS))
    epoch = max(common)
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.9))
    for ax, fw in zip(axes, FRAMEWORKS):
        path = next(r["generator"] for r in table[fw][seed] if r["epoch"] == epoch)
        G, spec, _ = load_generator(path)
        images, _ = sample_generator(G, n, spec["latent_dim"], spec["name"] == "cgan", seed=0)   # (n, C, H, W)
        ax.imshow(image_grid(images, nrow=8))
        ax.set_title(f"{FRAMEWORKS[fw][0]}, epoch {epoch}", fontsize=10)
        ax.axis("off")
    fig.suptitle(f"the same noise z into both generators (seed {seed}; cGAN: labels 0-9 in turn)", fontsize=9)
    fig.tight_layout()
    return fig, epoch


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", required=True, help="the OUT folder of benchmarks/reference_runs.sh")
    p.add_argument("--images", default=str(ROOT / "docs" / "images"), help="where the PNGs go")
    args = p.parse_args(argv)
    table = collect(args.runs)
    (Path(args.runs) / "scores.json").write_text(json.dumps(table, indent=1))
    model = json.loads(next(Path(args.runs).glob("*_seed*/run.json")).read_text())["config"]["model"]
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    fig = curves_figure(table, model)
    fig.savefig(images / f"reference_{model}_curves.png", dpi=90)
    print(f"wrote {images / f'reference_{model}_curves.png'}")
    if all(fw in table for fw in FRAMEWORKS):
        seed = min(set(table["minigan"]) & set(table["torch"]))
        fig, epoch = samples_figure(table, seed)
        fig.savefig(images / f"reference_{model}_samples.png", dpi=90)
        print(f"wrote {images / f'reference_{model}_samples.png'} (epoch {epoch})")
    print(markdown_table(table))


if __name__ == "__main__":
    main()
