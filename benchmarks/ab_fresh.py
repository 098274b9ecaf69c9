"""A/B/C... of one training iteration between source trees, every trial in a FRESH process.

``ab_dcgan_step.py`` keeps two worker processes alive and alternates them: fine-grained, but the idle
worker's OpenBLAS thread keeps spinning while the other one runs, which penalises changes that lean on
two-thread BLAS calls. Here each trial is a new process that builds the models from its tree, runs
3 warm-up and ``--iters`` timed iterations (``bench_dcgan_step.minigan_iteration``, as the benchmark
does) and exits; the trees take turns, round after round (the order reversed every other round).
Reported: each tree's median of its trial medians and its ratio to the first tree.

    git archive 72b41e9 | tar -x -C /tmp/before
    python benchmarks/ab_fresh.py /tmp/before . --batch 128 --rounds 5
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r'''
import json, os, statistics, sys
root, spec = sys.argv[1], json.loads(sys.argv[2])
sys.path.insert(0, os.path.join(root, "benchmarks"))
import bench_dcgan_step
import minigan
assert os.path.realpath(minigan.__file__).startswith(os.path.realpath(root)), minigan.__file__
iteration = bench_dcgan_step.minigan_iteration(spec)
times = bench_dcgan_step.time_iterations(iteration, warmup=3, iters=spec["iters"])
print(json.dumps(statistics.median(times)))
'''


def trial(tree, spec):
    """The median seconds per iteration of one fresh process running ``tree``'s minigan."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tree), json.dumps(spec)], cwd=tree, env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"the trial of {tree} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("trees", type=Path, nargs="+", help="source trees; the first is the reference")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--model", choices=["dcgan", "cgan"], default="dcgan")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=12, help="timed iterations per trial")
    parser.add_argument("--json", help="also write every trial's median here")
    args = parser.parse_args()
    trees = [t.resolve() for t in args.trees]
    for tree in trees:
        if not (tree / "minigan").is_dir() or not (tree / "benchmarks" / "bench_dcgan_step.py").is_file():
            parser.error(f"{tree} is not a minigan source tree (no minigan/ or benchmarks/bench_dcgan_step.py)")
    spec = {"model": args.model, "batch": args.batch, "backend": "numpy", "device": "cpu", "seed": 0,
            "iters": args.iters}
    medians = [[] for _ in trees]                                    # medians[i]: tree i's trials
    order = list(range(len(trees)))                                  # by index: a tree may be given twice
    for r in range(args.rounds):
        for i in order if r % 2 == 0 else order[::-1]:
            medians[i].append(trial(trees[i], spec))
            print(f"round {r + 1}, {trees[i]}: {medians[i][-1]:.3f} s", flush=True)
    reference = statistics.median(medians[0])
    print(f"{args.model}, batch {args.batch}, {args.rounds} rounds of fresh processes, {args.iters} timed "
          f"iterations each; load average {os.getloadavg()[0]:.1f}")
    for tree, trials in zip(trees, medians):
        m = statistics.median(trials)
        print(f"  {tree}: {m:.3f} s (ratio to the first {m / reference:.3f}); trials "
              + ", ".join(f"{t:.3f}" for t in trials))
    if args.json:
        Path(args.json).write_text(json.dumps([{"tree": str(t), "medians": m} for t, m in zip(trees, medians)],
                                              indent=1))


if __name__ == "__main__":
    main()
