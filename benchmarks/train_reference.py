"""Train minigan's GANs with minigan's recipe in PyTorch (or in minigan), and score both with one judge.

    # the DCGAN in PyTorch and the same run in minigan (run the two side by side, one core each)
    python benchmarks/train_reference.py --framework torch   --model dcgan --data-dir DATA --out OUT/torch
    python benchmarks/train_reference.py --framework minigan --model dcgan --data-dir DATA --out OUT/minigan
    # with a judge: every epoch's generator is scored by minigan.evaluation (FCD, KID, cGAN accuracy)
    ... --classifier runs/classifier_cifar10.npz --eval-n 5000
    # score (again) the generators a run left in OUT, e.g. with another judge or another n
    python benchmarks/train_reference.py --score --model dcgan --out OUT/torch --classifier C.npz
    python benchmarks/train_reference.py --score --model dcgan --out OUT/*_seed? --classifier C.npz   # several
    # a smoke test, offline
    python benchmarks/train_reference.py --framework torch --model cgan --dataset fake --limit 256 --epochs 1

benchmarks/reference_runs.sh runs both frameworks and then benchmarks/plot_reference.py (the figures).

What "the same recipe" means here, piece by piece (minigan/training.py is the recipe):
  networks     benchmarks/torch_models.py: the same layers in the same order, the same parameter names
  init         ``--init minigan`` (default): PyTorch starts from the very weights minigan draws for this
               seed (mg.manual_seed(seed), then models.build), so both runs start at the same point;
               ``--init torch``: PyTorch draws its own from the same distributions (torch.manual_seed)
  data         minigan's readers and scaling (cli.load_images: [-1, 1], NCHW, ``--limit`` = a seeded random subset)
  batch order  epoch e shuffles with np.random.default_rng([seed, e]).permutation(n), drops the last
               partial batch: the rule of minigan.data.batches(..., seed=[seed, epoch]) in run.trainer.train
  one step     torch_models.d_step / g_step: BCE with logits, one-sided label smoothing ``--real-label``,
               ``--d-steps`` D updates per G update, D frozen in the G step; Adam(lr, betas 0.5, 0.999)
  what differs the noise z and the dropout masks come from each framework's own generator, so the two
               runs are two draws of one recipe, not one computation twice
Every epoch end writes OUT/G_epochNNN.npz, a minigan generator checkpoint (for PyTorch: its weights
exported under minigan's names), which examples/evaluate.py and minigan.run.training_state.load_generator read.
With --classifier the file is then scored by the same code for both frameworks and the result
appended to OUT/scores.jsonl.

PyTorch is an optional dependency of benchmarks/ only: the minigan package never imports it.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import minigan as mg  # noqa: E402
from minigan.run import cli  # noqa: E402
from minigan.run.checkpoint import flatten_state, save_checkpoint  # noqa: E402
from minigan.data import num_batches  # noqa: E402
from minigan.models import build as mg_build  # noqa: E402
from minigan.training import TrainConfig  # noqa: E402

DATASET = {"gan": "fashion-mnist", "cgan": "fashion-mnist", "dcgan": "cifar10"}
DEFAULTS = {"gan": dict(batch_size=64, latent_dim=100), "cgan": dict(batch_size=128, latent_dim=100),
            "dcgan": dict(batch_size=128, latent_dim=128)}      # the examples' defaults


def model_spec(model, latent_dim, kernel_size=4):
    """The spec minigan's examples store in their checkpoints (models.build rebuilds G from it)."""
    if model == "dcgan":
        return {"name": "dcgan", "latent_dim": latent_dim, "kernel_size": kernel_size}
    if model == "cgan":
        return {"name": "cgan", "latent_dim": latent_dim, "num_classes": 10}
    return {"name": "gan", "latent_dim": latent_dim}


# ----------------------------------------------------------------------------------------------------
# Batch order: minigan's rule, written out
# ----------------------------------------------------------------------------------------------------
def batch_order(n, seed, epoch):
    """The permutation of ``n`` examples that minigan's training loop uses in ``epoch`` (from 0)."""
    return np.random.default_rng([seed, epoch]).permutation(n)      # (n,)


def torch_batches(images, labels, batch_size, seed, epoch):
    """(real (B, C, H, W) float32, labels (B,) int64) torch tensors, in minigan's order; last partial dropped."""
    import torch

    order = batch_order(len(images), seed, epoch)
    for b in range(num_batches(len(images), batch_size)):
        index = order[b * batch_size:(b + 1) * batch_size]          # (B,)
        yield torch.from_numpy(images[index]), torch.from_numpy(labels[index].astype(np.int64))


# ----------------------------------------------------------------------------------------------------
# PyTorch -> minigan: the generator checkpoint
# ----------------------------------------------------------------------------------------------------
def torch_state_for_minigan(module):
    """{name: float32 numpy array} of a torch_models network, under minigan's names.

    The names are already the same (torch_models mirrors the Sequential indices); BatchNorm's
    ``num_batches_tracked`` has no minigan counterpart (minigan's BatchNorm uses a fixed momentum).
    """
    return {name: t.detach().cpu().numpy().astype(np.float32, copy=True)
            for name, t in module.state_dict().items() if not name.endswith("num_batches_tracked")}


def export_torch_generator(G, spec, path, meta=None):
    """Write a PyTorch generator as a minigan generator checkpoint ("G/" arrays + the model spec).

    The layout of minigan.evaluation.save_generator; minigan.run.training_state.load_generator checks every name
    and shape when it loads the file, so a mismatch fails there, loudly.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, flatten_state("G/", torch_state_for_minigan(G)),
                    {"kind": "generator", "model": spec, "framework": "torch", **(meta or {})})


# ----------------------------------------------------------------------------------------------------
# The judge: one function scores a generator file, whichever framework trained it
# ----------------------------------------------------------------------------------------------------
def make_judge(classifier_path, dataset, data_dir=None, fake=False, n=10000, seed=0):
    """``score(path) -> dict``: load the generator file into minigan and run evaluate_generator.

    The real test split goes through the classifier once, here. Every call samples ``n`` images from
    the same noise (``seed``), so epochs and frameworks are compared on equal terms.
    """
    from minigan.evaluation import evaluate_generator, load_classifier, load_generator, load_split, real_statistics

    classifier, c_meta = load_classifier(classifier_path)
    if c_meta["dataset"] != dataset:
        raise SystemExit(f"--classifier was trained on {c_meta['dataset']}, this model makes {dataset} images")
    test_images, test_labels = load_split(dataset, "test", data_dir, fake)
    real = real_statistics(classifier, test_images, test_labels)

    def score(path):
        start = time.perf_counter()
        G, spec, _ = load_generator(path)
        r = evaluate_generator(G, spec, classifier, None, None, n=n, seed=seed, real=real)
        keep = ("fcd", "kid_mean", "kid_std", "n_fake", "n_real", "conditional_accuracy", "fake_class_fractions")
        return {**{k: r[k] for k in keep if k in r}, "judge": str(classifier_path),
                "judge_test_accuracy": c_meta.get("test_accuracy"),
                "eval_seconds": round(time.perf_counter() - start, 2)}

    return score


def score_run(out, judge, classifier_path, n):
    """Score the generator files of a run, in epoch order, into OUT/scores.jsonl.

    Epochs already scored there by the same judge file with the same n are kept, not recomputed (so a
    run still in progress can be scored as its epochs come in); everything else is scored afresh.
    """
    from minigan.run.checkpoint import load_checkpoint

    paths = sorted(Path(out).glob("G_epoch*.npz"))
    if not paths:
        raise SystemExit(f"--score: no G_epochNNN.npz in {out}")
    scores_path = Path(out) / "scores.jsonl"
    done = {}
    if scores_path.exists():
        for line in scores_path.read_text().splitlines():
            r = json.loads(line)
            if r.get("judge") == str(classifier_path) and r.get("n_fake") == n:
                done[r["epoch"]] = r
    records = []
    for path in paths:
        meta = load_checkpoint(path)[1]
        if meta["epoch"] not in done:
            done[meta["epoch"]] = {"framework": meta.get("framework"), "epoch": meta["epoch"],
                                   "iteration": meta.get("iteration"), **judge(path)}
        r = done[meta["epoch"]]
        records.append(json.dumps(r) + "\n")
        print(f"{path.name}: FCD {r['fcd']:.2f}, KID {r['kid_mean']:.2f} +- {r['kid_std']:.2f}")
    scores_path.write_text("".join(records))


# ----------------------------------------------------------------------------------------------------
# The two trainers
# ----------------------------------------------------------------------------------------------------
def train_torch(G, D, images, labels, config, out, on_epoch_end):
    """minigan.run.trainer.train's loop, in PyTorch: D step(s), G step, log; ``on_epoch_end(G, epoch)``."""
    import torch

    import torch_models as tm

    betas = (config.beta1, config.beta2)
    opt_G = torch.optim.Adam(G.parameters(), lr=config.lr, betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=config.lr, betas=betas)
    iteration = 0
    with open(Path(out) / "log.jsonl", "w") as log:
        for epoch in range(config.epochs):
            G.train()
            D.train()
            epoch_start = time.perf_counter()
            for b, (real, y) in enumerate(torch_batches(images, labels, config.batch_size, config.seed, epoch)):
                cond = y if config.conditional else None
                # --- D step(s), then G step ----------------------------------------------------------
                for _ in range(config.d_steps):
                    loss_D, d_x, d_g_z = tm.d_step(G, D, opt_D, real, cond, config.latent_dim, config.real_label)
                loss_G = tm.g_step(G, D, opt_G, real.shape[0], cond, config.latent_dim, "cpu")
                iteration += 1
                # --- log -----------------------------------------------------------------------------
                record = {"epoch": epoch, "batch": b, "iteration": iteration, "loss_D": loss_D,
                          "loss_G": loss_G, "D_x": d_x, "D_G_z": d_g_z}
                log.write(json.dumps(record) + "\n")
                log.flush()
                if not (np.isfinite(loss_D) and np.isfinite(loss_G)):
                    raise RuntimeError(f"PyTorch run diverged at iteration {iteration}: {record}")
            # --- end of epoch: export G, score it ------------------------------------------------------
            epoch_record = {"event": "epoch_end", "epoch": epoch + 1, "iteration": iteration,
                            "seconds": round(time.perf_counter() - epoch_start, 2)}
            epoch_record.update(on_epoch_end(G, epoch + 1, iteration))
            log.write(json.dumps(epoch_record) + "\n")
            log.flush()
            print(json.dumps(epoch_record), flush=True)


def train_minigan(G, D, images, labels, config, out, spec, on_epoch_end):
    """minigan's own loop (minigan.run.trainer.train); the epoch-end hook writes and scores G_epochNNN.npz."""
    from minigan.run.trainer import train

    state = {"iteration": 0}

    def hook(G, epoch):                                              # train(evaluate=...) calls it per epoch
        state["iteration"] = epoch * num_batches(len(images), config.batch_size)
        return on_epoch_end(G, epoch, state["iteration"])

    train(G, D, images, labels, config, out, spec, evaluate=hook, evaluate_every=1)


# ----------------------------------------------------------------------------------------------------
# The command line
# ----------------------------------------------------------------------------------------------------
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=cli.HelpFormatter)
    p.add_argument("--framework", choices=["torch", "minigan"], default=None, help="which one trains")
    p.add_argument("--score", action="store_true",
                   help="train nothing: score OUT/G_epochNNN.npz with --classifier into OUT/scores.jsonl "
                        "(epochs already scored by that judge with that --eval-n are kept)")
    p.add_argument("--model", choices=["dcgan", "cgan", "gan"], default="dcgan", help="the GAN of the seed")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training set")
    p.add_argument("--batch-size", type=int, default=None, help="default: the example's (dcgan/cgan 128, gan 64)")
    p.add_argument("--latent-dim", type=int, default=None, help="default: the example's (dcgan 128, else 100)")
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (both networks)")
    p.add_argument("--real-label", type=float, default=1.0, help="target for real images (0.9: label smoothing)")
    p.add_argument("--d-steps", type=int, default=1, help="discriminator updates per generator update")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights, the batch order and the noise")
    p.add_argument("--init", choices=["minigan", "torch"], default="minigan",
                   help="PyTorch's initial weights: minigan's draw for --seed, or PyTorch's own draw")
    p.add_argument("--data-dir", default=None, help="folder with the dataset files")
    p.add_argument("--dataset", choices=["real", "fake"], default="real", help="'fake': random images (smoke tests)")
    p.add_argument("--limit", type=int, default=None, help="use N training images: a random subset fixed by --seed (as the examples)")
    p.add_argument("--out", required=True, nargs="+",
                   help="output folder: G_epochNNN.npz, log.jsonl, scores.jsonl (with --score: one or more "
                        "run folders, scored by one judge that passes the real test images once)")
    p.add_argument("--classifier", default=None, help="judge checkpoint: score every epoch's G with it")
    p.add_argument("--eval-n", type=int, default=10000, help="generated images per score")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (set OPENBLAS_NUM_THREADS too)")
    args = p.parse_args(argv)
    if args.score and not args.classifier:
        p.error("--score needs --classifier (the judge)")
    if not args.score and args.framework is None:
        p.error("--framework torch|minigan is required (or --score to score a finished run)")
    if len(args.out) > 1 and not args.score:
        p.error(f"--out: one folder to train into, got {len(args.out)} (several only with --score)")
    for key, value in DEFAULTS[args.model].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def main(argv=None):
    args = parse_args(argv)
    spec = model_spec(args.model, args.latent_dim)
    out = Path(args.out[0])
    mg.set_backend("numpy")
    # the judge first: building the classifier draws from minigan's generator, which is seeded after it,
    # so a run with --classifier trains on the same random numbers as one without
    judge = (make_judge(args.classifier, DATASET[args.model], args.data_dir, args.dataset == "fake", args.eval_n,
                        seed=0) if args.classifier else None)
    if args.score:                                                   # no training: no data, run.json untouched
        for folder in args.out:
            score_run(Path(folder), judge, args.classifier, args.eval_n)
        return
    out.mkdir(parents=True, exist_ok=True)
    mg.manual_seed(args.seed)                                        # as cli.setup_backend: before build
    G_mg, D_mg = mg_build(spec)
    loader_args = argparse.Namespace(limit=args.limit, dataset=args.dataset, data_dir=args.data_dir, seed=args.seed,
                                     batch_size=args.batch_size)
    images, labels = cli.load_images(DATASET[args.model], loader_args)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                         sample_every=0, latent_dim=args.latent_dim, conditional=args.model == "cgan",
                         real_label=args.real_label, d_steps=args.d_steps, progress=False)
    run_meta = {"framework": args.framework, "seed": args.seed, "init": args.init, "command": sys.argv,
                "config": vars(args)}
    (out / "run.json").write_text(json.dumps(run_meta, indent=1))

    def on_epoch_end(G, epoch, iteration, export):
        path = out / f"G_epoch{epoch:03d}.npz"
        export(G, path, {"epoch": epoch, "iteration": iteration, "seed": args.seed, "init": args.init})
        if judge is None:
            return {"generator": str(path)}
        scores = judge(path)
        with open(out / "scores.jsonl", "a") as f:
            f.write(json.dumps({"framework": args.framework, "epoch": epoch, "iteration": iteration, **scores}) + "\n")
        return {"generator": str(path), "fcd": round(scores["fcd"], 4), "kid_mean": round(scores["kid_mean"], 6)}

    if judge is not None and (out / "scores.jsonl").exists():
        (out / "scores.jsonl").unlink()                              # a fresh run starts fresh scores
    if args.framework == "minigan":
        from minigan.evaluation import save_generator

        def export_minigan(G, path, meta):
            save_generator(path, G, spec, {"framework": "minigan", **meta})

        train_minigan(G_mg, D_mg, images, labels, config, out, spec,
                      lambda G, e, i: on_epoch_end(G, e, i, export_minigan))
        return
    import torch

    import torch_models as tm

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    G_t, D_t = tm.build(args.model, args.latent_dim)                 # PyTorch's own draw (dcgan_init_ etc.)
    if args.init == "minigan":
        tm.copy_minigan_state(G_t, G_mg.state_dict())                # the weights minigan starts from
        tm.copy_minigan_state(D_t, D_mg.state_dict())

    def export_torch(G, path, meta):
        export_torch_generator(G, spec, path, meta)

    train_torch(G_t, D_t, images, labels, config, out, lambda G, e, i: on_epoch_end(G, e, i, export_torch))


if __name__ == "__main__":
    main()                                                           # torch_models.py is found next to this file
