"""Data-parallel DCGAN iterations: 1 rank against W ranks, and what the ranks send each other.

    python benchmarks/bench_distributed.py                       # configs 1:64 2:64 2:64:sync 2:128
    python benchmarks/bench_distributed.py --configs 1:64 2:64 --rounds 5 --iters 5
    python benchmarks/bench_distributed.py --quick               # 1 round, tiny, to check it runs
    python benchmarks/bench_distributed.py --backend cupy        # NCCL, one GPU per rank (untested)

A config "W:B" is ``mpiexec -n W`` with a global batch of B images (B/W per rank), "W:B:sync" the same
with --sync-bn; "1:B" is the plain single process (no MPI calls), the baseline. One iteration is what
``run.trainer.train`` does per batch under --distributed: D step + G step with their gradient all-reduces
(``training.d_step`` / ``g_step`` with ``dist``), then the averaging of the 5 numbers of the log.

Counted exactly (``Distributed.sent``): the floats each rank hands to all-reduce per iteration, by
purpose, and their bytes (4 per float32, 8 per float64). What MPI moves over the wire for one
all-reduce of n floats depends on its algorithm: a ring or reduce-scatter + all-gather sends
2 (W-1)/W * n per rank, i.e. n for W = 2 (docs/distributed.md).

Protocol: every trial runs in fresh processes with one BLAS thread per rank (OPENBLAS_NUM_THREADS=1
etc.); 2 warm-up iterations, N timed ones on rank 0 (which waits for the slowest rank at every
all-reduce, so its time is the iteration's time); configs interleaved over R rounds; medians over all
timed iterations. Besides the wall time, each rank's CPU time per iteration (time.process_time) is
summed over the ranks: on a machine with more runnable processes than cores, W processes get a larger
share of the CPU than one, so the wall-time ratio alone would flatter W ranks. (MPICH polls while it
waits, so a rank's CPU time includes its waiting in the all-reduce.) On a small shared machine only the
ratios of interleaved runs mean anything.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import common

ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


def run_worker(spec):
    """One trial, on every rank of ``mpiexec -n W``: returns rank 0's result (None on the others)."""
    common.add_repo_to_path()
    import minigan as mg
    from minigan.parallel import distributed
    from minigan.models import build
    from minigan.optim import Adam
    from minigan.run.trainer import read_numbers
    from minigan.training import TrainConfig, d_step, g_step

    mg.set_backend(spec["backend"])
    mg.manual_seed(0)
    # 1 rank: the plain single-process loop (dist=None), the baseline; W ranks: data-parallel
    dist = distributed.start(sync_bn=spec["sync"]) if spec["ranks"] > 1 else None
    G, D = build({"name": "dcgan"})
    if dist is not None and dist.sync_bn:
        dist.use_sync_batch_norm(G, D)
    config = TrainConfig(batch_size=spec["batch"], latent_dim=G.latent_dim, progress=False)
    opt_G, opt_D = Adam(G.parameters(), config.lr), Adam(D.parameters(), config.lr)
    images = np.random.default_rng(0).uniform(-1, 1, (spec["batch"], 3, 32, 32)).astype(np.float32)
    real = mg.tensor(images) if dist is None else dist.shard(mg.tensor(images))   # (B/W, 3, 32, 32)
    sync = common.make_sync("cuda" if spec["backend"] == "cupy" else "cpu", "minigan")

    def iteration():
        loss_D, d_x, d_g_z = d_step(G, D, opt_D, real, None, config, dist)
        loss_G = g_step(G, D, opt_G, real.shape[0], None, config, dist)
        numbers = read_numbers({"loss_D": loss_D, "loss_G": loss_G, "D_x": d_x, "D_G_z": d_g_z})   # as the runner
        if dist is not None:
            dist.average_floats([*numbers.values(), 0.0])               # the log line and the stop flag
        sync()

    for _ in range(spec["warmup"]):
        iteration()
    sent = dist.sent if dist is not None else {"gradients": 0, "batch_norm": 0, "log": 0, "start": 0}
    before, times, cpu0 = dict(sent), [], time.process_time()
    for _ in range(spec["iters"]):
        t0 = time.perf_counter()
        iteration()
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / spec["iters"]              # this rank's CPU s / iteration
    cpu_all = cpu if dist is None else dist.average_floats([cpu])[0] * dist.world_size
    per_iteration = {k: (sent[k] - before[k]) / spec["iters"] for k in sent}
    if dist is not None and dist.rank != 0:
        return None
    return {"times": times, "cpu_per_iteration": cpu_all, "floats_per_iteration": per_iteration,
            "world_size": spec["ranks"],
            "params_G": G.num_parameters(), "params_D": D.num_parameters(), "version": mg.__version__}


def launch(spec, mpiexec, timeout=900):
    """``mpiexec -n W python this --child spec`` -> rank 0's result dict (or an error dict)."""
    command = [mpiexec, "-n", str(spec["ranks"]), sys.executable, __file__, "--child", json.dumps(spec)]
    env = {**os.environ, **ONE_THREAD}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(common.REPO_ROOT), env.get("PYTHONPATH")) if p)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s", **spec}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(common.RESULT_MARKER):
            return {**json.loads(line[len(common.RESULT_MARKER):]), **spec}
    return {"error": f"exit code {done.returncode}: {done.stderr.strip()[-800:]}", **spec}


def table(results, configs):
    base = base_cpu = None
    rows = []
    for ranks, batch, sync in configs:
        runs = [r for r in results if (r["ranks"], r["batch"], r["sync"]) == (ranks, batch, sync) and "error" not in r]
        name = f"{ranks} x {batch // ranks} (batch {batch}{', sync-bn' if sync else ''})"
        if not runs:
            rows.append([name, "-", "-", "-", "-", "-", "-", "-", "failed"])
            continue
        times = [t for r in runs for t in r["times"]]
        median = statistics.median(times)
        per_round = [statistics.median(r["times"]) for r in runs]
        images_per_s = batch / median
        cpu_per_image = statistics.median([r["cpu_per_iteration"] for r in runs]) / batch
        if ranks == 1 and base is None:
            base, base_cpu = images_per_s, cpu_per_image
        sent = runs[0]["floats_per_iteration"]
        grads = int(sent["gradients"])
        rows.append([name, f"{median:.3f}", f"{min(per_round):.3f}-{max(per_round):.3f}", f"{images_per_s:.1f}",
                     f"{images_per_s / base:.2f}" if base else "-",
                     f"{cpu_per_image * 1e3:.1f}", f"{cpu_per_image / base_cpu:.2f}" if base_cpu else "-",
                     f"{grads:,} ({grads * 4 / 2**20:.2f} MiB)" if ranks > 1 else "0",
                     f"{int(sent['log'])} float64" + (f", BN {int(sent['batch_norm']):,}" if sent["batch_norm"] else "")
                     if ranks > 1 else "0"])
    headers = ["ranks x images per rank", "s / iteration (median)", "round medians", "images / s",
               "vs 1 rank", "CPU ms / image (all ranks)", "vs 1 rank",
               "gradient floats all-reduced / iteration (float32)", "other floats"]
    return common.markdown_table(headers, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=["1:64", "2:64", "2:64:sync", "2:128"],
                   help="W:B or W:B:sync: W ranks, global batch B (B/W per rank), sync: --sync-bn")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--quick", action="store_true", help="1 round, 2 iterations, batch 8 per config")
    p.add_argument("--mpiexec", default=None, help="default: the one beside this Python, else on PATH")
    p.add_argument("--out", default=None, help="also write the table and the raw results (JSON) here")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        result = run_worker(json.loads(args.child))
        if result is not None:
            print(common.RESULT_MARKER + json.dumps(result), flush=True)
        return
    configs = [(int(c.split(":")[0]), int(c.split(":")[1]), c.endswith(":sync")) for c in args.configs]
    if args.quick:
        args.rounds, args.iters, args.warmup = 1, 2, 1
        configs = [(w, b // 8, sync) for w, b, sync in configs]
    mpiexec = args.mpiexec or str(Path(sys.executable).parent / "mpiexec")
    machine = common.describe_machine()
    results = []
    for r, (ranks, batch, sync) in common.interleave(args.rounds, configs):
        spec = {"ranks": ranks, "batch": batch, "sync": sync, "iters": args.iters, "warmup": args.warmup,
                "backend": args.backend, "round": r}
        result = launch(spec, mpiexec)
        print(json.dumps({k: v for k, v in result.items() if k != "times"}), flush=True)
        results.append(result)
    text = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {json.dumps(machine)}\n"
            f"backend {args.backend}, {args.rounds} rounds x {args.iters} iterations, "
            f"one BLAS thread per rank\n\n" + table(results, configs))
    print(text)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "bench_distributed.md").write_text(text + "\n")
        (Path(args.out) / "bench_distributed.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
