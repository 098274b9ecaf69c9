"""Forward + backward time of the DCGAN's layers, one op at a time: minigan against PyTorch.

    python benchmarks/bench_ops.py                                 # NumPy vs PyTorch CPU, batch 64
    python benchmarks/bench_ops.py --backend cupy --device cuda    # CuPy vs PyTorch CUDA
    python benchmarks/bench_ops.py --quick                         # 1 round, 2 iterations, batch 8
    python benchmarks/bench_ops.py --write-docs                    # also update docs/benchmarks.md

The ops, with the DCGAN's shapes at batch N (k = 4, s = 2, p = 1 for every conv):
    D conv2d    3->64 on 32x32, 64->128 on 16x16, 128->256 on 8x8, 256->512 on 4x4
    G convT     512->256 on 2x2, 256->128 on 4x4, 128->64 on 8x8, 64->3 on 16x16
                minigan's two definitions, "scatter" and "dilate", each against PyTorch's one
    BatchNorm2d (training mode) on D's (N, 128, 8, 8) and G's (N, 64, 16, 16)
    LeakyReLU(0.2) on (N, 64, 16, 16); BCE with logits on (N, 1)
    Adam: one step over the DCGAN generator's 3.0 M parameters (gradients already there)
Each op: forward, then backward with a fixed random upstream gradient (not all-ones), gradients of the
input and of every parameter; the accelerator is synchronized before the clock stops.

Protocol: each framework runs all ops in a FRESH process; the processes are interleaved over R rounds
(round 1: minigan, torch; round 2: ...), each op W warm-up + N timed calls per round; medians over all
timed calls of all rounds. minigan's inputs and upstream gradients are laid out in memory as the
network hands them to the layer (a conv's output is an NCHW view of (C, H, W, N) memory, see
minigan/ops/conv.py), PyTorch's are contiguous NCHW.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import common

K, S, P = 4, 2, 1
# (name, C_in, C_out, H of the input, input laid out like a conv output in minigan's network)
D_CONVS = [("D conv1", 3, 64, 32, False), ("D conv2", 64, 128, 16, True),
           ("D conv3", 128, 256, 8, True), ("D conv4", 256, 512, 4, True)]
G_CONVTS = [("G convT1", 512, 256, 2, False), ("G convT2", 256, 128, 4, True),
            ("G convT3", 128, 64, 8, True), ("G convT4", 64, 3, 16, True)]
BATCHNORMS = [("BatchNorm2d (D)", 128, 8), ("BatchNorm2d (G)", 64, 16)]


def op_list(batch):
    """[(key, description, GFLOP of forward + backward or None)] in table order."""
    ops = []
    for name, cin, cout, h, _ in D_CONVS:
        h_out = (h + 2 * P - K) // S + 1
        flops = 3 * 2 * batch * cout * h_out * h_out * cin * K * K     # forward, dW, dx
        ops.append((name, f"conv2d {cin}->{cout}, ({batch}, {cin}, {h}, {h})", flops / 1e9))
    for name, cin, cout, h, _ in G_CONVTS:
        flops = 3 * 2 * batch * cin * h * h * cout * K * K
        for method in ("scatter", "dilate"):
            ops.append((f"{name} {method}", f"conv_transpose2d {cin}->{cout} [{method}], "
                        f"({batch}, {cin}, {h}, {h})", flops / 1e9))
    for name, c, h in BATCHNORMS:
        ops.append((name, f"batch_norm ({batch}, {c}, {h}, {h})", None))
    ops.append(("LeakyReLU", f"leaky_relu 0.2 ({batch}, 64, 16, 16)", None))
    ops.append(("BCE with logits", f"binary_cross_entropy_with_logits ({batch}, 1)", None))
    ops.append(("Adam step (G)", "Adam over the DCGAN generator's parameters", None))
    return ops


def torch_key(key):
    """PyTorch has one transposed convolution: both minigan methods compare against it."""
    return key.replace(" scatter", "").replace(" dilate", "")


# ----------------------------------------------------------------------------------------------------
# Child side: all ops of one framework, in a fresh process
# ----------------------------------------------------------------------------------------------------
def arrays_for(batch, seed=0):
    """NumPy inputs shared by both frameworks: {key: (x, [params], upstream gradient)}."""
    rng = np.random.default_rng(seed)

    def normal(*shape, std=1.0):
        return (std * rng.standard_normal(shape)).astype(np.float32)

    data = {}
    for name, cin, cout, h, _ in D_CONVS:
        h_out = (h + 2 * P - K) // S + 1
        data[name] = (normal(batch, cin, h, h), [normal(cout, cin, K, K, std=0.02), normal(cout)],
                      normal(batch, cout, h_out, h_out))
    for name, cin, cout, h, _ in G_CONVTS:
        h_out = (h - 1) * S - 2 * P + K
        data[name] = (normal(batch, cin, h, h), [normal(cin, cout, K, K, std=0.02), normal(cout)],
                      normal(batch, cout, h_out, h_out))
    for name, c, h in BATCHNORMS:
        data[name] = (normal(batch, c, h, h), [1 + normal(c, std=0.02), normal(c)], normal(batch, c, h, h))
    data["LeakyReLU"] = (normal(batch, 64, 16, 16), [], normal(batch, 64, 16, 16))
    data["BCE with logits"] = (normal(batch, 1), [], None)
    return data


def network_layout(xp, a):
    """The same values, laid out as (C, H, W, N) in memory and viewed as NCHW: what minigan's convs emit."""
    return xp.ascontiguousarray(a.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)


def minigan_ops(batch, device):
    """{key: callable doing forward + backward} for minigan on the active backend."""
    import minigan as mg
    import minigan.functional as F
    from minigan import backend
    from minigan.models.dcgan import Generator
    from minigan.optim import Adam
    from minigan.tensor import Tensor

    xp = backend.xp()
    data = arrays_for(batch)
    calls = {}

    def fwd_bwd(fn, key, in_network_layout):
        x, params, g = data[key]
        x = xp.asarray(x)
        if in_network_layout:
            x = network_layout(xp, x)
        leaves = [Tensor(x, requires_grad=True)] + [Tensor(xp.asarray(p), requires_grad=True) for p in params]
        g = xp.asarray(g) if g is not None else None
        if in_network_layout and g is not None and g.ndim == 4:
            g = network_layout(xp, g)                                # backward hands gradients on in that layout too

        def call():
            for t in leaves:
                t.grad = None
            y = fn(*leaves)
            y.backward(g)
        return call

    for name, _, _, _, layout in D_CONVS:
        calls[name] = fwd_bwd(lambda x, w, b: F.conv2d(x, w, b, stride=S, padding=P), name, layout)
    for name, _, _, _, layout in G_CONVTS:
        for method in ("scatter", "dilate"):
            calls[f"{name} {method}"] = fwd_bwd(
                lambda x, w, b, m=method: F.conv_transpose2d(x, w, b, stride=S, padding=P, method=m),
                name, layout)
    for name, c, _ in BATCHNORMS:
        # Tensors: F.batch_norm reads `.data` of what it gets, and a raw ndarray's .data is a memoryview
        rm, rv = Tensor(xp.zeros(c, dtype=np.float32)), Tensor(xp.ones(c, dtype=np.float32))
        calls[name] = fwd_bwd(lambda x, gm, bt, rm=rm, rv=rv: F.batch_norm(x, gm, bt, rm, rv, True),
                              name, True)
    calls["LeakyReLU"] = fwd_bwd(lambda x: F.leaky_relu(x, 0.2), "LeakyReLU", True)
    target = Tensor(xp.ones((batch, 1), dtype=np.float32))
    calls["BCE with logits"] = fwd_bwd(lambda x: F.binary_cross_entropy_with_logits(x, target),
                                       "BCE with logits", False)

    mg.manual_seed(0)
    G = Generator()
    for p in G.parameters():
        p.grad = 0.01 * backend.randn(p.shape)
    opt = Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    calls["Adam step (G)"] = opt.step
    return calls


def torch_ops(batch, device):
    import torch
    import torch.nn.functional as F

    import torch_models as tm

    data = arrays_for(batch)
    calls = {}

    def fwd_bwd(fn, key):
        x, params, g = data[key]
        leaves = [torch.from_numpy(a).to(device).requires_grad_(True) for a in [x] + params]
        g = torch.from_numpy(g).to(device) if g is not None else None

        def call():
            for t in leaves:
                t.grad = None
            y = fn(*leaves)
            y.backward(g)
        return call

    for name, *_ in D_CONVS:
        calls[name] = fwd_bwd(lambda x, w, b: F.conv2d(x, w, b, stride=S, padding=P), name)
    for name, *_ in G_CONVTS:
        calls[name] = fwd_bwd(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=S, padding=P), name)
    for name, c, _ in BATCHNORMS:
        rm, rv = torch.zeros(c, device=device), torch.ones(c, device=device)
        calls[name] = fwd_bwd(lambda x, gm, bt, rm=rm, rv=rv: F.batch_norm(x, rm, rv, gm, bt, True), name)
    calls["LeakyReLU"] = fwd_bwd(lambda x: F.leaky_relu(x, 0.2), "LeakyReLU")
    target = torch.ones(batch, 1, device=device)
    calls["BCE with logits"] = fwd_bwd(lambda x: F.binary_cross_entropy_with_logits(x, target),
                                       "BCE with logits")
    torch.manual_seed(0)
    G = tm.DCGANGenerator().to(device)
    for p in G.parameters():
        p.grad = 0.01 * torch.randn_like(p)
    opt = tm.adam(G.parameters())
    calls["Adam step (G)"] = opt.step
    return calls


def run_child(spec):
    fw, device = spec["framework"], spec["device"]
    info = {}
    if fw == "minigan":
        import minigan as mg
        mg.set_backend(spec["backend"])
        calls = minigan_ops(spec["batch"], device)
        assert "torch" not in sys.modules, "the minigan package imported torch"
    else:
        import torch
        if spec.get("torch_threads"):
            torch.set_num_threads(spec["torch_threads"])
        info = {"threads": torch.get_num_threads(), "version": torch.__version__}
        calls = torch_ops(spec["batch"], device)
    sync = common.make_sync(device, fw)
    times = {}
    for key, call in calls.items():
        for _ in range(spec["warmup"]):
            call()
        sync()
        times[key] = []
        for _ in range(spec["iters"]):
            t0 = time.perf_counter()
            call()
            sync()
            times[key].append(time.perf_counter() - t0)
    return {"times": times, **info}


def run_trial(spec):
    try:
        return run_child(spec)
    except Exception as err:
        import traceback
        traceback.print_exc()
        return {"error": f"{type(err).__name__}: {err}"}


# ----------------------------------------------------------------------------------------------------
# Parent side
# ----------------------------------------------------------------------------------------------------
def build_table(batch, results):
    """One row per op: minigan and PyTorch median (min-max), ratio, GFLOP/s."""
    def pooled(fw, key):
        return common.summarize([t for r in results[fw] if "error" not in r for t in r["times"].get(key, [])])

    def cell(stats):
        if stats["median"] is None:
            return "—"
        return f"{common.fmt_s(stats['median'])} ({common.fmt_s(stats['min'])}-{common.fmt_s(stats['max'])})"

    headers = ["op", "shape", "minigan", "PyTorch", "ratio", "minigan GFLOP/s", "PyTorch GFLOP/s"]
    rows, sums = [], {"minigan": 0.0, "torch": 0.0, "ok": True}
    for key, description, gflop in op_list(batch):
        m, t = pooled("minigan", key), pooled("torch", torch_key(key))
        ratio = f"{m['median'] / t['median']:.2f}" if m["median"] and t["median"] else "—"
        rate = [f"{gflop / s['median']:.1f}" if gflop and s["median"] else "—" for s in (m, t)]
        rows.append([key, description, cell(m), cell(t), ratio, *rate])
        if "conv" in key and "dilate" not in key:                    # the 8 layers, scatter convT
            if m["median"] and t["median"]:
                sums["minigan"] += m["median"]
                sums["torch"] += t["median"]
            else:
                sums["ok"] = False
    if sums["ok"] and sums["torch"]:
        rows.append(["8 conv layers", "sum of the medians (convT: scatter)", common.fmt_s(sums["minigan"]),
                     common.fmt_s(sums["torch"]), f"{sums['minigan'] / sums['torch']:.2f}", "", ""])
    return common.markdown_table(headers, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy", help="minigan's backend")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="PyTorch's device")
    p.add_argument("--framework", nargs="+", choices=["minigan", "torch"], default=["minigan", "torch"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--torch-threads", type=int, default=common.usable_cores())
    p.add_argument("--timeout", type=int, default=1800, help="seconds per process")
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds: start no new process after this, and report what was measured")
    p.add_argument("--quick", action="store_true", help="1 round, 1 warm-up, 2 iterations, batch 8")
    p.add_argument("--out", help="also write the markdown section to this file")
    p.add_argument("--json", help="also write the raw times to this JSON file")
    p.add_argument("--write-docs", action="store_true", help="insert/replace the section in --docs-path")
    p.add_argument("--docs-path", default=str(common.REPO_ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        common.add_repo_to_path()
        common.child_main(args.child, run_trial)
        return 0
    if args.quick:
        args.rounds, args.warmup, args.iters, args.batch = 1, 1, 2, 8
    machine = common.describe_machine()
    minigan_device = "cuda" if args.backend == "cupy" else "cpu"
    specs = {
        "minigan": {"framework": "minigan", "backend": args.backend, "device": minigan_device},
        "torch": {"framework": "torch", "device": args.device, "torch_threads": args.torch_threads},
    }
    print(f"ops at batch {args.batch}: minigan ({args.backend}) vs PyTorch ({args.device}), "
          f"{args.rounds} round(s) x ({args.warmup} warm-up + {args.iters} timed) per op; "
          f"{machine['cpu']}, {machine['cores']} cores, load {machine['load_average']}", flush=True)
    results = {fw: [] for fw in ("minigan", "torch")}
    started = time.perf_counter()
    for r, fw in common.interleave(args.rounds, args.framework):
        if args.time_budget is not None and time.perf_counter() - started > args.time_budget:
            print(f"time budget of {args.time_budget:.0f} s spent: skipping the remaining rounds", flush=True)
            break
        spec = {**specs[fw], "batch": args.batch, "warmup": args.warmup, "iters": args.iters}
        result = common.run_child(__file__, spec, timeout=args.timeout)
        results[fw].append(result)
        status = f"FAILED {result['error'][:500]}" if "error" in result else \
            f"{result['process_seconds']:.1f} s, peak RSS {result['peak_rss_mib']:.0f} MiB"
        print(f"round {r + 1}: {fw} {status}", flush=True)

    threads = next((r["threads"] for r in results["torch"] if "threads" in r), None)
    extra = [f"command: `{common.command_line()}`",
             f"minigan backend {args.backend}; PyTorch device {args.device}"
             + (f", {threads} threads" if threads and args.device == "cpu" else ""),
             f"protocol: {args.rounds} interleaved round(s), a fresh process per framework and round, "
             f"{args.warmup} warm-up + {args.iters} timed calls per op; median (min-max) over all rounds; "
             "forward + backward (input and parameter gradients), Adam: step only"]
    title = f"## DCGAN layers, forward + backward: minigan ({args.backend}) vs PyTorch ({args.device})"
    body = "\n".join([title, "", *common.machine_lines(machine, extra), "",
                      build_table(args.batch, results), ""])
    print("\n" + body)
    if args.out:
        Path(args.out).write_text(body)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=1))
    if args.write_docs:
        key = "bench_ops" + ("_gpu" if "cuda" in (args.device, minigan_device) else "")
        print(f"wrote section {key} of {common.write_docs_section(args.docs_path, key, body)}")
    return 1 if any("error" in r for rs in results.values() for r in rs) else 0


if __name__ == "__main__":
    sys.exit(main())
