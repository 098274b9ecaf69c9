"""Time one GAN training iteration: minigan (NumPy or CuPy) against PyTorch (CPU or CUDA), Chainer, DeZero.

One iteration = D step on a real and a fake batch + G step, non-saturating BCE with logits, Adam
(lr 2e-4, betas 0.5 / 0.999): minigan's own ``minigan.training.d_step`` / ``g_step``, and their mirror
in ``benchmarks/torch_models.py`` (same layers, same order, same init; D frozen during the G step).

    python benchmarks/bench_dcgan_step.py                          # minigan numpy vs torch cpu, batch 64, 128
    python benchmarks/bench_dcgan_step.py --model cgan             # the cGAN (28x28, labels)
    python benchmarks/bench_dcgan_step.py --framework-pairs minigan:cupy torch:cuda --out bench_gpu.md
    python benchmarks/bench_dcgan_step.py --quick                  # 1 round, 2 iterations, batch 8 (tests)
    python benchmarks/bench_dcgan_step.py --write-docs             # also update docs/benchmarks.md
    python benchmarks/bench_dcgan_step.py --framework-pairs minigan:numpy chainer:cpu dezero:cpu \
        --python chainer=/work/bench_venv/bin/python --python dezero=/work/bench_venv/bin/python

Chainer and DeZero run the mirror in ``benchmarks/numpy_frameworks.py`` (DCGAN only). DeZero needs
NumPy < 1.24, so their trials usually run in another virtualenv: ``--python FW=INTERPRETER`` (the file
says how to make it). The column "minigan / this" is minigan's median over the row's median.

Protocol: every trial (framework, batch size) runs in a FRESH process (its own peak RSS, no allocator
or thread-pool state carried over): build G and D, 3 warm-up iterations, N timed ones. Frameworks are
interleaved over R rounds (round 1: minigan, torch; round 2: minigan, torch; ...), and the median is
taken over all timed iterations of all rounds. Before each round the parent process measures the
machine's float32 matmul throughput (NumPy, 2048^3); the best value sets the matmul floor
= FLOPs per iteration / that rate, the time no implementation can beat on this machine.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import common

# FLOPs of one iteration at batch 64 (they scale linearly with the batch), counted with PyTorch's
# FlopCounterMode (torch.utils.flop_counter) over matmuls and convolutions:
#   "reference": D's weight gradients are also computed during the G step, as in the usual PyTorch
#                DCGAN; the convention of /work/shared/PEERS-PERF.md (43.09 GFLOP for the DCGAN).
#   "executed":  what minigan.training (and the mirror here) really computes: D frozen in the G step.
# Reproduce with `python benchmarks/torch_models.py` (executed) and see README.md.
GFLOP_PER_ITER_AT_64 = {
    "reference": {"dcgan": 43.09, "cgan": 44.59},
    "executed": {"dcgan": 39.76, "cgan": 43.60},
}


# ----------------------------------------------------------------------------------------------------
# Child side: one trial in a fresh process
# ----------------------------------------------------------------------------------------------------
def time_iterations(iteration, warmup, iters):
    for _ in range(warmup):
        iteration()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        iteration()                                                  # ends with a device synchronize
        times.append(time.perf_counter() - t0)
    return times


def example_arrays(model, batch, seed):
    """The same random 'real' batch (NumPy) for both frameworks: images in [-1, 1], labels 0..9."""
    rng = np.random.default_rng(seed)
    shape = (batch, 3, 32, 32) if model == "dcgan" else (batch, 1, 28, 28)
    return rng.uniform(-1, 1, shape).astype(np.float32), rng.integers(0, 10, batch)


def minigan_iteration(spec):
    """Build minigan's G, D and Adams for ``spec`` (model, batch, backend, device, seed); return a function
    running one training iteration (D step + G step, then a device synchronize). profile_step.py uses it too."""
    import minigan as mg
    from minigan.models import build
    from minigan.optim import Adam
    from minigan.training import TrainConfig, d_step, g_step

    model, batch = spec["model"], spec["batch"]
    mg.set_backend(spec["backend"])
    mg.fast.keep_freed_memory()                                   # as the example scripts do (cli.setup_backend)
    mg.manual_seed(spec["seed"])
    G, D = build({"name": model})
    config = TrainConfig(batch_size=batch, latent_dim=G.latent_dim, conditional=(model == "cgan"),
                         progress=False)
    betas = (config.beta1, config.beta2)
    opt_G, opt_D = Adam(G.parameters(), config.lr, betas), Adam(D.parameters(), config.lr, betas)
    images, labels = example_arrays(model, batch, spec["seed"])
    real = mg.tensor(images)                                         # on the active backend
    y = mg.tensor(labels) if model == "cgan" else None
    sync = common.make_sync(spec["device"], "minigan")

    def iteration():
        d_step(G, D, opt_D, real, y, config)
        g_step(G, D, opt_G, batch, y, config)
        sync()

    return iteration


def run_minigan(spec):
    import minigan as mg

    result = {"times": time_iterations(minigan_iteration(spec), spec["warmup"], spec["iters"]),
              "version": mg.__version__, "blas_kernel": common.blas_kernel()}
    # minigan must never import torch; its trial process is also the check
    assert "torch" not in sys.modules, "the minigan package imported torch"
    if spec["device"] == "cuda":
        import cupy
        pool = cupy.get_default_memory_pool()
        result["gpu_mem_mib"] = pool.total_bytes() / 2**20          # held by CuPy's pool at the end
        result["gpu_name"] = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
        result["device_gflops"] = device_matmul_gflops("minigan")
    return result


def run_torch(spec):
    import torch

    import torch_models as tm

    model, batch, device = spec["model"], spec["batch"], spec["device"]
    if spec.get("torch_threads"):
        torch.set_num_threads(spec["torch_threads"])
    torch.manual_seed(spec["seed"])
    G, D = tm.build(model)
    G, D = G.to(device), D.to(device)
    opt_G, opt_D = tm.adam(G.parameters()), tm.adam(D.parameters())
    images, labels = example_arrays(model, batch, spec["seed"])
    real = torch.from_numpy(images).to(device)
    y = torch.from_numpy(labels).to(device) if model == "cgan" else None
    sync = common.make_sync(device, "torch")

    def iteration():
        tm.d_step(G, D, opt_D, real, y, G.latent_dim)
        tm.g_step(G, D, opt_G, batch, y, G.latent_dim, device)
        sync()

    result = {"times": time_iterations(iteration, spec["warmup"], spec["iters"]),
              "version": torch.__version__, "threads": torch.get_num_threads()}
    if device == "cuda":
        result["gpu_mem_mib"] = torch.cuda.max_memory_reserved() / 2**20
        result["gpu_name"] = torch.cuda.get_device_name()
        result["device_gflops"] = device_matmul_gflops("torch")
    return result


def device_matmul_gflops(framework, n=4096, repeats=10):
    """float32 matmul GFLOP/s on the GPU (cuBLAS via CuPy or PyTorch, default TF32 settings = off)."""
    if framework == "torch":
        import torch
        a = torch.randn(n, n, device="cuda")
        b = torch.randn(n, n, device="cuda")
        mm, sync = (lambda: a @ b), torch.cuda.synchronize
    else:
        import cupy
        a = cupy.random.standard_normal((n, n), dtype=cupy.float32)
        b = cupy.random.standard_normal((n, n), dtype=cupy.float32)
        mm, sync = (lambda: a @ b), cupy.cuda.Device().synchronize
    mm()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        mm()
        sync()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def run_numpy_framework(spec):
    """Chainer or DeZero, from benchmarks/numpy_frameworks.py; often in another interpreter (--python)."""
    import numpy_frameworks as nf

    # this interpreter's NumPy / BLAS, measured before the networks exist (peak RSS stays theirs)
    gflops = common.matmul_gflops(repeats=2)
    images, _ = example_arrays(spec["model"], spec["batch"], spec["seed"])
    iteration, info = nf.build_iteration(spec["framework"], images, spec["seed"])
    return {"times": time_iterations(iteration, spec["warmup"], spec["iters"]), "version": info["version"],
            "numpy": np.__version__, "numpy_matmul_gflops": gflops, "python": sys.executable,
            "blas_kernel": common.blas_kernel(), "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")}


def run_trial(spec):
    run = {"minigan": run_minigan, "torch": run_torch}.get(spec["framework"], run_numpy_framework)
    try:
        return run(spec)
    except Exception as err:  # report it to the parent instead of a bare traceback
        import traceback
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


# ----------------------------------------------------------------------------------------------------
# Parent side: interleaved rounds, table, docs
# ----------------------------------------------------------------------------------------------------
VALID_PAIRS = {"minigan": ("numpy", "cupy"), "torch": ("cpu", "cuda"), "chainer": ("cpu",), "dezero": ("cpu",)}
NUMPY_FRAMEWORKS = ("chainer", "dezero")                             # in benchmarks/numpy_frameworks.py
NAMES = {"minigan": "minigan", "torch": "PyTorch", "chainer": "Chainer", "dezero": "DeZero"}


def parse_envs(values):
    """{framework: {name: value}} from --env FW:NAME=VALUE (an empty VALUE unsets NAME for FW's trials)."""
    envs = {}
    for value in values or []:
        fw, sep, assignment = value.partition(":")
        name, eq, setting = assignment.partition("=")
        if not (sep and eq and name) or fw not in VALID_PAIRS:
            raise SystemExit(f"bad --env {value!r}: use FW:NAME=VALUE with FW one of {', '.join(VALID_PAIRS)}, "
                             "e.g. chainer:OPENBLAS_CORETYPE=SkylakeX")
        envs.setdefault(fw, {})[name] = setting
    return envs


def parse_pythons(values):
    """{framework: interpreter} from --python FW=PATH (frameworks not named run in this interpreter)."""
    pythons = {}
    for value in values or []:
        fw, _, path = value.partition("=")
        if fw not in VALID_PAIRS or not path:
            raise SystemExit(f"bad --python {value!r}: use FW=INTERPRETER, e.g. dezero=/work/bench_venv/bin/python")
        if not Path(path).is_file():
            raise SystemExit(f"--python {value}: no such interpreter")
        pythons[fw] = path
    return pythons


def parse_pairs(args):
    """[(framework, backend_or_device)] from --framework-pairs, or from --framework/--backend/--device."""
    if args.framework_pairs:
        items = [p for arg in args.framework_pairs for p in arg.split(",") if p]
    else:
        items = [f"minigan:{args.backend}" if f == "minigan" else f"torch:{args.device}"
                 for f in args.framework]
    pairs = []
    for item in items:
        fw, _, where = item.partition(":")
        if where not in VALID_PAIRS.get(fw, ()):
            raise SystemExit(f"bad framework pair {item!r}: use minigan:numpy, minigan:cupy, torch:cpu, "
                             "torch:cuda, chainer:cpu or dezero:cpu")
        if fw in NUMPY_FRAMEWORKS and args.model != "dcgan":
            raise SystemExit(f"{item}: benchmarks/numpy_frameworks.py has the DCGAN only")
        if (fw, where) not in pairs:
            pairs.append((fw, where))
    return pairs


def trial_spec(args, fw, where, batch):
    device = where if fw == "torch" else ("cuda" if where == "cupy" else "cpu")
    return {"framework": fw, "backend": where if fw == "minigan" else None, "device": device,
            "model": args.model, "batch": batch, "warmup": args.warmup, "iters": args.iters,
            "seed": args.seed, "torch_threads": args.torch_threads if fw == "torch" else None}


def label(fw, where, results):
    """'minigan 0.1.0 (numpy)' / 'PyTorch 2.13.0 (cpu, 2 threads)' from the trials' reports."""
    ok = [r for r in results if "error" not in r]
    version = ok[0].get("version", "") if ok else ""
    if fw == "minigan":
        return f"minigan {version} ({where})".replace("  ", " ")
    if fw in NUMPY_FRAMEWORKS:
        numpy = f", NumPy {ok[0]['numpy']}" if ok else ""
        return f"{NAMES[fw]} {version} ({where}{numpy})".replace("  ", " ")
    threads = f", {ok[0]['threads']} threads" if ok and where == "cpu" else ""
    return f"PyTorch {version} ({where}{threads})".replace("  ", " ")


def build_table(args, pairs, trials, cpu_gflops):
    """Rows per (batch, framework): median, min-max, per-round medians, ratio, floor, RSS."""
    device_gflops = {"cpu": max(cpu_gflops) if cpu_gflops else None}
    gpu_rates = [r["device_gflops"] for rs in trials.values() for r in rs if r.get("device_gflops")]
    device_gflops["cuda"] = max(gpu_rates) if gpu_rates else None
    gflop_64 = GFLOP_PER_ITER_AT_64[args.flops][args.model]
    any_gpu = any(r.get("gpu_mem_mib") for rs in trials.values() for r in rs)

    headers = ["batch", "framework", "s/iter (median)", "min-max", "round medians",
               "ratio to PyTorch", "matmul floor", "% of floor", "peak RSS"]
    vs_minigan = any(fw in NUMPY_FRAMEWORKS for fw, _ in pairs)     # then also: minigan's median / this one
    if vs_minigan:
        headers.insert(6, "minigan / this")
    if any_gpu:
        headers.append("GPU memory")
    rows, summary = [], {}
    for batch in args.batch_sizes:
        medians = {}
        for fw, where in pairs:
            results = trials[(fw, where, batch)]
            times = [t for r in results if "error" not in r for t in r["times"]]
            medians[(fw, where)] = common.summarize(times)["median"]
        for fw, where in pairs:
            results = trials[(fw, where, batch)]
            ok = [r for r in results if "error" not in r]
            stats = common.summarize([t for r in ok for t in r["times"]])
            device = "cuda" if where in ("cupy", "cuda") else "cpu"
            # reference: the PyTorch trial on the same kind of device (and minigan's, for "minigan / this")
            ref = next((medians[p] for p in pairs if p[0] == "torch"
                        and ("cuda" if p[1] == "cuda" else "cpu") == device), None)
            mg = next((medians[p] for p in pairs if p[0] == "minigan"
                       and ("cuda" if p[1] == "cupy" else "cpu") == device), None)
            rate = device_gflops[device]
            floor = gflop_64 * batch / 64 / rate if rate else None
            errors = [r["error"] for r in results if "error" in r]
            if stats["median"] is None:
                why = "failed: " + errors[0][:200] if errors else "not run (time budget)"
                rows.append([batch, label(fw, where, results), why] + [""] * (len(headers) - 3))
                continue
            round_medians = ", ".join(f"{common.summarize(r['times'])['median']:.3f}" for r in ok)
            row = [batch, label(fw, where, results), f"{stats['median']:.3f} s",
                   f"{stats['min']:.3f}-{stats['max']:.3f}", round_medians,
                   f"{stats['median'] / ref:.2f}" if ref else "—",
                   f"{floor:.3f} s" if floor else "—",
                   f"{100 * floor / stats['median']:.0f}%" if floor else "—",
                   f"{max(r['peak_rss_mib'] for r in ok):.0f} MiB"]
            if vs_minigan:
                row.insert(6, f"{mg / stats['median']:.2f}" if mg and fw != "minigan" else "—")
            if any_gpu:
                gpu = [r["gpu_mem_mib"] for r in ok if r.get("gpu_mem_mib")]
                row.append(f"{max(gpu):.0f} MiB" if gpu else "—")
            if errors:
                row[1] += f" ({len(errors)} failed trials)"
            rows.append(row)
            summary[f"{fw}:{where}:{batch}"] = {**stats, "ratio_to_torch": stats["median"] / ref if ref else None,
                                                "floor_s": floor}
            if vs_minigan:
                summary[f"{fw}:{where}:{batch}"]["minigan_over_this"] = mg / stats["median"] if mg else None
    return common.markdown_table(headers, rows), device_gflops, summary


def report(args, pairs, trials, cpu_gflops, machine):
    table, device_gflops, summary = build_table(args, pairs, trials, cpu_gflops)
    gpu_names = sorted({r["gpu_name"] for rs in trials.values() for r in rs if r.get("gpu_name")})
    gflop_64 = GFLOP_PER_ITER_AT_64[args.flops][args.model]
    extra = [f"GPU: {', '.join(gpu_names)}"] if gpu_names else []
    for fw in dict.fromkeys(f for f, _ in pairs if f in NUMPY_FRAMEWORKS):
        ok = [r for (f, _, _), rs in trials.items() if f == fw for r in rs if "error" not in r]
        if ok:
            extra.append(
                f"{NAMES[fw]}: benchmarks/numpy_frameworks.py run by {common.shown_path(ok[0]['python'])} (NumPy {ok[0]['numpy']}, "
                f"OpenBLAS kernels {ok[0].get('blas_kernel')}"
                + (f" (OPENBLAS_CORETYPE={ok[0]['openblas_coretype']})" if ok[0].get("openblas_coretype") else "")
                + ", "
                f"float32 matmul 2048^3 {max(r['numpy_matmul_gflops'] for r in ok):.0f} GFLOP/s in its trials); "
                "it also computes D's weight gradients in the G step (the 'reference' FLOPs)")
    extra.append(f"command: `{common.command_line()}`")
    extra.append(
        f"protocol: {args.rounds} interleaved round(s), each trial a fresh process, {args.warmup} warm-up + "
        f"{args.iters} timed iterations; median, min-max over all timed iterations of all rounds; "
        "peak RSS = the largest ru_maxrss of the trials")
    rates = ", ".join(f"{g:.0f}" for g in cpu_gflops)
    extra.append(
        f"matmul floor = {gflop_64:.2f} GFLOP per iteration at batch 64 (x batch/64; '{args.flops}' count, "
        f"see benchmarks/README.md) / the best float32 matmul rate: NumPy 2048^3 {rates} GFLOP/s "
        "before each round" + (f"; GPU (cuBLAS, 4096^3) {device_gflops['cuda']:.0f} GFLOP/s"
                               if device_gflops.get("cuda") else ""))
    vs = ", ".join(dict.fromkeys(NAMES[f] for f, _ in pairs if f != "minigan")) or "PyTorch"
    title = f"## {args.model.upper()} training step: minigan vs {vs} ({', '.join(f'{f}:{w}' for f, w in pairs)})"
    body = "\n".join([title, "", *common.machine_lines(machine, extra), "", table, ""])
    return body, summary


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--model", choices=["dcgan", "cgan"], default="dcgan")
    p.add_argument("--framework", nargs="+", choices=["minigan", "torch"], default=["minigan", "torch"])
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy", help="minigan's backend")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="PyTorch's device")
    p.add_argument("--framework-pairs", nargs="+", metavar="FW:WHERE",
                   help="explicit trials, e.g. minigan:cupy torch:cuda or minigan:numpy chainer:cpu dezero:cpu "
                        "(overrides --framework/--backend/--device)")
    p.add_argument("--env", action="append", metavar="FW:NAME=VALUE",
                   help="set an environment variable for FW's trials (repeatable; an empty VALUE unsets it), "
                        "e.g. chainer:OPENBLAS_CORETYPE=SkylakeX for an older NumPy whose OpenBLAS does not "
                        "recognise this CPU (default: every trial inherits this environment)")
    p.add_argument("--python", action="append", metavar="FW=INTERPRETER",
                   help="run FW's trials with this Python, e.g. dezero=/work/bench_venv/bin/python (repeatable; "
                        "default: this interpreter)")
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 128])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-threads", type=int, default=common.usable_cores(),
                   help="torch.set_num_threads for CPU trials (default: the usable cores)")
    p.add_argument("--flops", choices=["reference", "executed"], default="reference",
                   help="FLOP count for the matmul floor (see the comment at GFLOP_PER_ITER_AT_64)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per trial process")
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds: start no new trial after this, and report what was measured")
    p.add_argument("--quick", action="store_true", help="1 round, 1 warm-up, 2 iterations, batch 8")
    p.add_argument("--out", help="also write the markdown section to this file")
    p.add_argument("--json", help="also write every trial's raw times to this JSON file")
    p.add_argument("--write-docs", action="store_true", help="insert/replace the section in --docs-path")
    p.add_argument("--docs-path", default=str(common.REPO_ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        common.add_repo_to_path()
        common.child_main(args.child, run_trial)
        return 0
    if args.quick:
        args.rounds, args.warmup, args.iters, args.batch_sizes = 1, 1, 2, [8]
    pairs = parse_pairs(args)
    pythons, envs = parse_pythons(args.python), parse_envs(args.env)
    machine = common.describe_machine()
    print(f"{args.model}: {', '.join(f'{f}:{w}' for f, w in pairs)}, batch {args.batch_sizes}, "
          f"{args.rounds} round(s) x ({args.warmup} warm-up + {args.iters} timed); torch threads "
          f"{args.torch_threads}; {machine['cpu']}, {machine['cores']} cores, load {machine['load_average']}",
          flush=True)

    trials = {(fw, where, b): [] for fw, where in pairs for b in args.batch_sizes}
    cpu_gflops = []
    items = [(b, fw, where) for b in args.batch_sizes for fw, where in pairs]
    started = time.perf_counter()
    for r, (batch, fw, where) in common.interleave(args.rounds, items):
        if args.time_budget is not None and time.perf_counter() - started > args.time_budget:
            print(f"time budget of {args.time_budget:.0f} s spent: skipping the remaining trials", flush=True)
            break
        if (batch, fw, where) == items[0]:
            cpu_gflops.append(common.matmul_gflops(repeats=2 if args.quick else 5))
            print(f"round {r + 1}: NumPy float32 matmul {cpu_gflops[-1]:.0f} GFLOP/s", flush=True)
        result = common.run_child(__file__, trial_spec(args, fw, where, batch), timeout=args.timeout,
                                  python=pythons.get(fw), env_changes=envs.get(fw))
        trials[(fw, where, batch)].append(result)
        if "error" in result:
            print(f"  {fw}:{where} batch {batch}: FAILED {result['error'][:500]}", flush=True)
        else:
            t = common.summarize(result["times"])
            extra = f", {result['threads']} threads" if "threads" in result else ""
            print(f"  {fw}:{where} batch {batch}: median {t['median']:.3f} s/iter "
                  f"({t['min']:.3f}-{t['max']:.3f}), peak RSS {result['peak_rss_mib']:.0f} MiB{extra}",
                  flush=True)

    body, summary = report(args, pairs, trials, cpu_gflops, machine)
    print("\n" + body)
    if args.out:
        Path(args.out).write_text(body)
    if args.json:
        raw = {f"{fw}:{where}:{b}": rs for (fw, where, b), rs in trials.items()}
        Path(args.json).write_text(json.dumps({"machine": machine, "cpu_gflops": cpu_gflops,
                                               "summary": summary, "trials": raw}, indent=1))
    if args.write_docs:
        gpu = any(w in ("cupy", "cuda") for _, w in pairs)
        others = any(fw in NUMPY_FRAMEWORKS for fw, _ in pairs)          # their own section
        key = f"bench_{args.model}_step" + ("_gpu" if gpu else "") + ("_numpy_frameworks" if others else "")
        print(f"wrote section {key} of {common.write_docs_section(args.docs_path, key, body)}")
    failed = any("error" in r for rs in trials.values() for r in rs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
