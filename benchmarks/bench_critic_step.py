"""What does the gradient penalty cost? A WGAN-GP critic step against a BCE D step, interleaved in one process.

    python benchmarks/bench_critic_step.py                  # DCGAN, batch 64, 12 rounds, NumPy
    python benchmarks/bench_critic_step.py --r1             # also BCE + R1 on the batch-norm D
    python benchmarks/bench_critic_step.py --write-docs     # the table into docs/benchmarks.md

Steps timed (minigan's own functions, DCGAN at batch ``--batch``, the same real batch for all):
  bce      training.d_step: G(z) under no_grad, D on real and fake, BCE, backward, Adam (batch-norm D)
  wgan-gp  penalties.critic_step: the same plus D on the interpolates, grad(create_graph=True) and the
           backward through that recorded backward (the layer-norm critic, d_norm="layer")
  bce+r1   penalties.r1_d_step (--r1): d_step plus R1, the input gradient on the reals (batch-norm D)
Each round runs every step once, in this order, so drift on a shared machine hits all of them alike;
the ratio is taken per round (same moment) and its median reported next to the ratio of the medians.
Target (issue 14): a WGAN-GP critic step costs at most 3x a BCE D step at batch 64 on the CPU.
"""

import argparse
import os
import statistics
import time

import numpy as np

import common

common.add_repo_to_path()

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--rounds", type=int, default=12, help="timed rounds (each step once per round)")
parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first")
parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
parser.add_argument("--r1", action="store_true", help="also time BCE + R1 (needs batch-norm double backward)")
parser.add_argument("--quick", action="store_true", help="1 warm-up, 2 rounds, batch 8: a smoke test")
parser.add_argument("--write-docs", action="store_true", help="write the table into --docs-path")
parser.add_argument("--docs-path", default=str(common.REPO_ROOT / "docs" / "benchmarks.md"))
args = parser.parse_args()
if args.quick:
    args.batch, args.rounds, args.warmup = 8, 2, 1


def make_steps():
    """{name: function running one D step} with their own G, D and Adam; one real batch for all."""
    import minigan as mg
    from minigan import penalties
    from minigan.models import build
    from minigan.optim import Adam
    from minigan.training import TrainConfig, d_step

    mg.set_backend(args.backend)
    mg.manual_seed(0)
    images = np.random.default_rng(0).uniform(-1, 1, (args.batch, 3, 32, 32)).astype(np.float32)
    real = mg.tensor(images)                                         # (N, 3, 32, 32) on the backend
    sync = common.make_sync("cuda" if args.backend == "cupy" else "cpu", "minigan")
    steps = {}
    for name, d_norm, loss, r1 in [("bce", "batch", "bce", 0.0), ("wgan-gp", "layer", "wgan-gp", 0.0),
                                   ("bce+r1", "batch", "bce", 10.0)]:
        if name == "bce+r1" and not args.r1:
            continue
        G, D = build({"name": "dcgan", "d_norm": d_norm})
        config = TrainConfig(batch_size=args.batch, latent_dim=G.latent_dim, progress=False, loss=loss,
                             r1_gamma=r1)
        opt_D = Adam(D.parameters(), 1e-4, (0.0, 0.9))
        step = {"bce": d_step, "wgan-gp": penalties.critic_step, "bce+r1": penalties.r1_d_step}[name]

        def run(step=step, G=G, D=D, opt_D=opt_D, config=config):
            step(G, D, opt_D, real, None, config)
            sync()

        steps[name] = run
    return steps


machine = common.describe_machine()
steps = make_steps()
times = {name: [] for name in steps}
for r in range(args.warmup + args.rounds):
    for name, run in steps.items():
        began = time.perf_counter()
        run()
        if r >= args.warmup:
            times[name].append(time.perf_counter() - began)

summary = {name: common.summarize(t) for name, t in times.items()}
base = summary["bce"]["median"]
per_round = {name: statistics.median(a / b for a, b in zip(t, times["bce"])) for name, t in times.items()}
rows = [[name, common.fmt_s(s["median"]), common.fmt_s(s["min"]), common.fmt_s(s["max"]), s["n"],
         f"{s['median'] / base:.2f}x", f"{per_round[name]:.2f}x"] for name, s in summary.items()]
table = common.markdown_table(["D step", "median", "min", "max", "n", "ratio of medians",
                               "median of per-round ratios"], rows)
extra = [f"command: `{common.command_line()}`",
         f"DCGAN, batch {args.batch}, backend {args.backend}, {args.rounds} rounds after {args.warmup} "
         "warm-up rounds, one process, the steps interleaved",
         "threads: " + ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"))]
body = "\n".join(["## WGAN-GP critic step vs BCE D step (bench_critic_step.py)", "",
                  *common.machine_lines(machine, extra), "", table])
print(body)
if args.write_docs:
    print(f"wrote section {common.write_docs_section(args.docs_path, 'critic-step', body)}")
