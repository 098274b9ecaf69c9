"""The three transposed convolutions side by side, forward only, on the DCGAN's shapes (one process, A/B).

    python benchmarks/bench_conv_transpose.py                      # NumPy, batch 64 and 128
    python benchmarks/bench_conv_transpose.py --backend cupy       # on a GPU (synchronized per call)
    python benchmarks/bench_conv_transpose.py --quick              # 1 round, 2 calls, batch 8
    python benchmarks/bench_conv_transpose.py --write-docs         # also update docs/benchmarks.md
    python benchmarks/bench_conv_transpose.py --methods scatter subpixel      # the two array definitions

What is timed: the array functions that the network calls (``conv_transpose2d_array``, "scatter", and
``conv_transpose2d_subpixel_array``, "subpixel", both re-exported by minigan/ops/conv.py), and the
"dilate" definition as the Tensor
ops it is composed of (``F.conv_transpose2d(..., method="dilate")`` under ``no_grad``). The shapes:
the DCGAN G's four transposed convolutions (k=4, s=2, p=1: 512->256 on 2x2 ... 64->3 on 16x16),
which are also D's four input gradients (conv2d 256->512 on 4x4 has the input gradient 512->256 on
2x2, and so on down to conv1's 64->3 on 16x16); and the cGAN's two transposed convolutions and two
input gradients of D (k=3). Inputs are laid out as the network hands them over (NCHW views of
(C, H, W, N) memory). Run with OPENBLAS_NUM_THREADS=1 to see the definitions without the cost of
waking a second BLAS thread (large on a busy machine).

Protocol: ONE process, and within each of R rounds every (shape, method) pair runs W warm-up + N
timed calls, the methods alternating, so that drift of a shared machine hits all three alike; medians
over all timed calls of all rounds. Only the ratios within one table mean anything.
"""

import argparse
import sys
import time

import numpy as np

import common

# (name, C_in, C_out, H of the input, k, s, p, output_padding)
SHAPES = [("DCGAN convT1 / D conv4 dx", 512, 256, 2, 4, 2, 1, 0),
          ("DCGAN convT2 / D conv3 dx", 256, 128, 4, 4, 2, 1, 0),
          ("DCGAN convT3 / D conv2 dx", 128, 64, 8, 4, 2, 1, 0),
          ("DCGAN convT4 / D conv1 dx", 64, 3, 16, 4, 2, 1, 0),
          ("cGAN G convT1", 129, 128, 7, 4, 2, 1, 0),
          ("cGAN G convT2", 128, 128, 14, 4, 2, 1, 0),
          ("cGAN D conv2 dx", 128, 128, 7, 3, 2, 1, 1),
          ("cGAN D conv1 dx", 128, 2, 14, 3, 2, 1, 1)]
METHODS = ["scatter", "subpixel", "dilate"]


def make_calls(batch, backend_name):
    """{(shape name, method): callable} on the active backend, and the pick of fastest_conv_transpose."""
    import minigan as mg
    import minigan.functional as F
    from minigan import backend
    from minigan.fast.conv import conv_transpose2d_array, fastest_conv_transpose
    from minigan.ops.conv_subpixel import conv_transpose2d_subpixel_array

    xp = backend.xp()
    rng = np.random.default_rng(0)
    calls, picks = {}, {}
    for name, c_in, c_out, h, k, s, p, op in SHAPES:
        x = rng.standard_normal((batch, c_in, h, h)).astype(np.float32)
        x = xp.ascontiguousarray(xp.asarray(x).transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)  # network layout
        w = xp.asarray((0.02 * rng.standard_normal((c_in, c_out, k, k))).astype(np.float32))
        for method, array_fn in (("scatter", conv_transpose2d_array), ("subpixel", conv_transpose2d_subpixel_array)):
            calls[name, method] = (lambda x=x, w=w, f=array_fn, s=s, p=p, op=op: f(x, w, s, p, (op, op)))
        xt, wt = mg.Tensor(x), mg.Tensor(w)

        def dilate(xt=xt, wt=wt, s=s, p=p, op=op):
            with mg.no_grad():
                return F.conv_transpose2d(xt, wt, stride=s, padding=p, output_padding=op, method="dilate").data
        calls[name, "dilate"] = dilate
        picks[name] = fastest_conv_transpose(backend_name, c_in, c_out)
        same = [mg.to_numpy(calls[name, m]()) for m in METHODS]
        assert all(np.allclose(same[0], other, atol=1e-5) for other in same[1:]), name
    return calls, picks


def measure(batch, backend_name, rounds, warmup, iters, methods=METHODS):
    """{(shape, method): [seconds]}, interleaved: round r runs every shape's methods in turn."""
    calls, picks = make_calls(batch, backend_name)
    sync = common.make_sync("cuda" if backend_name == "cupy" else "cpu", "minigan")
    times = {key: [] for key in calls}
    for r in range(rounds):
        for name, *_ in SHAPES:
            order = methods if r % 2 == 0 else methods[::-1]          # alternate who goes first
            for method in order:
                call = calls[name, method]
                for _ in range(warmup):
                    call()
                sync()
                for _ in range(iters):
                    t0 = time.perf_counter()
                    call()
                    sync()
                    times[name, method].append(time.perf_counter() - t0)
    return times, picks


def table(batches, results):
    headers = ["batch", "layer: C_in -> C_out, input H x H, k", "scatter", "subpixel", "dilate",
               "subpixel / scatter", "fastest_conv_transpose picks"]
    rows = []
    for batch in batches:
        times, picks = results[batch]
        for name, c_in, c_out, h, k, *_ in SHAPES:
            med = {m: common.summarize(times[name, m])["median"] for m in METHODS}   # None: not timed
            rows.append([str(batch), f"{name}: {c_in} -> {c_out}, {h}x{h}, k={k}",
                         *(common.fmt_s(med[m]) for m in METHODS),
                         f"{med['subpixel'] / med['scatter']:.2f}", picks[name]])
    return common.markdown_table(headers, rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--methods", nargs="+", choices=METHODS, default=METHODS, help="the definitions to time")
    p.add_argument("--quick", action="store_true", help="1 round, 1 warm-up, 2 calls, batch 8")
    p.add_argument("--out", help="also write the markdown section to this file")
    p.add_argument("--write-docs", action="store_true", help="insert/replace the section in --docs-path")
    p.add_argument("--docs-path", default=str(common.REPO_ROOT / "docs" / "benchmarks.md"))
    args = p.parse_args()
    if args.quick:
        args.rounds, args.warmup, args.iters, args.batch_sizes = 1, 1, 2, [8]
    common.add_repo_to_path()
    import minigan as mg

    mg.set_backend(args.backend)
    machine = common.describe_machine()
    if not {"scatter", "subpixel"} <= set(args.methods):
        raise SystemExit("--methods: scatter and subpixel are always timed (the table divides them); add dilate or not")
    results = {b: measure(b, args.backend, args.rounds, args.warmup, args.iters, args.methods)
               for b in args.batch_sizes}
    extra = [f"command: `{common.command_line()}`",
             f"protocol: one process; {args.rounds} rounds, in each every shape runs the methods "
             f"({', '.join(args.methods)}) in turn "
             f"(order reversed every other round), {args.warmup} warm-up + {args.iters} timed calls each; "
             "medians over all rounds; forward only (the array function the network calls)"]
    title = f"## The three transposed convolutions, forward only ({args.backend})"
    body = "\n".join([title, "", *common.machine_lines(machine, extra), "",
                      table(args.batch_sizes, results), ""])
    print(body)
    if args.out:
        with open(args.out, "w") as f:
            f.write(body)
    if args.write_docs:
        key = "bench_conv_transpose" + ("_gpu" if args.backend == "cupy" else "")
        print(f"wrote section {key} of {common.write_docs_section(args.docs_path, key, body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
