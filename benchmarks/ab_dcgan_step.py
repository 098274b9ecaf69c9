"""A/B of one DCGAN (or cGAN) training iteration between two source trees, on a noisy machine.

``bench_dcgan_step.py`` runs every trial in a fresh process, so comparing two trees with it means
interleaving whole trials, minutes apart: on a shared machine the load changes faster than that. Here
two persistent worker processes (A: one tree, B: the other, each importing its own ``minigan``) run
``bench_dcgan_step.minigan_iteration`` strictly alternately, A B B A A B ..., so that both see the same
load; reported are the medians of wall and CPU time per iteration, their ratio B/A, and the median of
the per-pair ratios with a 95 % bootstrap interval.

    git archive main | tar -x -C /tmp/main_tree                       # e.g. the tree before a change
    python benchmarks/ab_dcgan_step.py /tmp/main_tree . --pairs 40   # B/A > 1: B is slower
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORKER = r'''
import json, os, sys, time
root = sys.argv[1]
sys.path.insert(0, os.path.join(root, "benchmarks"))
import bench_dcgan_step
import minigan
assert os.path.realpath(minigan.__file__).startswith(os.path.realpath(root)), minigan.__file__
iteration = bench_dcgan_step.minigan_iteration(json.loads(sys.argv[2]))
print("ready", minigan.__file__, flush=True)
for _ in sys.stdin:
    t0, c0 = time.perf_counter(), time.process_time()
    iteration()
    print(json.dumps([time.perf_counter() - t0, time.process_time() - c0]), flush=True)
'''


def start_worker(root, spec):
    env = {**os.environ, "PYTHONPATH": str(root)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(root), json.dumps(spec)], cwd=root, env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    print(worker.stdout.readline().strip(), flush=True)
    return worker


def one_iteration(worker):
    worker.stdin.write("go\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())                      # [wall seconds, CPU seconds]


def bootstrap_interval(values, n=4000, seed=0):
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(n))
    return medians[int(0.025 * n)], medians[int(0.975 * n)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="source tree A (the reference)")
    parser.add_argument("b", type=Path, help="source tree B (the change)")
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3, help="iterations of each before timing")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--model", choices=["dcgan", "cgan"], default="dcgan")
    parser.add_argument("--json", help="also write every pair's times to this file")
    args = parser.parse_args(argv)
    spec = {"model": args.model, "batch": args.batch, "backend": "numpy", "device": "cpu", "seed": 0}
    workers = [start_worker(args.a.resolve(), spec), start_worker(args.b.resolve(), spec)]
    for _ in range(args.warmup):
        for w in workers:
            one_iteration(w)
    pairs = []
    for i in range(args.pairs):
        order = workers if i % 2 == 0 else workers[::-1]              # alternate who goes first
        times = {id(w): one_iteration(w) for w in order}
        pairs.append((times[id(workers[0])], times[id(workers[1])]))
        print(f"pair {i}: A {pairs[-1][0][0]:.3f} s, B {pairs[-1][1][0]:.3f} s (wall)", flush=True)
    for w in workers:
        w.stdin.close()
        w.wait()
    print(f"{args.model}, batch {args.batch}, {args.pairs} alternating pairs, {time.strftime('%Y-%m-%d %H:%M')} "
          f"UTC, load average {os.getloadavg()[0]:.1f}")
    for k, what in ((0, "wall"), (1, "CPU")):
        a, b = [p[0][k] for p in pairs], [p[1][k] for p in pairs]
        ratios = [y / x for x, y in zip(a, b)]
        low, high = bootstrap_interval(ratios)
        print(f"  {what}: median A {statistics.median(a):.3f} s, B {statistics.median(b):.3f} s, ratio of medians "
              f"{statistics.median(b) / statistics.median(a):.3f}; median pair ratio {statistics.median(ratios):.3f} "
              f"(95% bootstrap {low:.3f}-{high:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args) | {"a": str(args.a), "b": str(args.b)},
                                               "pairs": pairs}, indent=1))


if __name__ == "__main__":
    main()
