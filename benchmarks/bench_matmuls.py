"""How much of minigan's DCGAN iteration is matrix multiplication? Its matmuls alone, timed beside it.

Every conv layer of minigan is im2col + one matmul (ops/im2col.py, ops/conv.py), so one DCGAN
training iteration (``training.d_step`` + ``g_step``) is a fixed list of matmuls plus everything
around them: the im2col copies, col2im's adds, BatchNorm, the activations, Adam, Python. This script

1. lists the matmuls of one iteration (``iteration_matmuls``) with the shapes and memory orders that
   the code gives them, from the layers of the real networks;
2. checks the list against the FLOP count PyTorch's counter gives for the same iteration
   (``bench_dcgan_step.GFLOP_PER_ITER_AT_64["executed"]``: 39.76 GFLOP at batch 64);
3. times, in fresh processes and interleaved round by round: that list of matmuls alone (NumPy,
   random operands), minigan's whole iteration, and PyTorch's whole iteration (bench_dcgan_step's
   trials).

    python benchmarks/bench_matmuls.py                       # batch 64 and 128, 3 rounds
    python benchmarks/bench_matmuls.py --batch-sizes 64 --rounds 1 --iters 2      # quick
    python benchmarks/bench_matmuls.py --list                # print the list of one iteration

What it answers: if minigan's matmuls alone take about as long as PyTorch's whole iteration, then no
removal of copies, passes or Python overhead can bring minigan's step below PyTorch's; only a faster
convolution kernel (oneDNN computes its convolutions directly, without im2col) could.

Which matmuls run, per iteration (D frozen during the G step, as in training.py; x: the layer's input):

    D, every layer:  forward x3 (real batch, fake batch, the G step's fake), dW x2 (the D step's two
                     passes), dx x2 + x1 (D step, G step; none for D's first layer in the D step: the
                     images need no gradient)
    G, every layer:  forward x2 (the D step's fake, under no_grad; the G step), dW x1, dx x1 (none for
                     G's first layer: z needs no gradient)

The shapes, as the code writes them (L = H_out*W_out*N output pixels, batch innermost; .T = a
transposed view handed to BLAS as it is):

    conv2d          forward  W (C_out, C_in*k*k) @ cols (C_in*k*k, L)
                    dW       g (C_out, L) @ cols.T
                    dx       W.reshape(C_out, C_in*k*k).T @ g (C_out, L)         (scatter; then col2im)
    conv_transpose2d (L_in = H*W*N input pixels; all DCGAN layers pick "scatter")
                    forward  W.reshape(C_in, C_out*k*k).T @ x (C_in, L_in)
                    dx       W (C_in, C_out*k*k) @ cols(g) (C_out*k*k, L_in)      (a conv2d of g)
                    dW       x (C_in, L_in) @ cols(g).T
    linear          forward  x (N, in) @ W.T,   dW  g.T @ x,   dx  g @ W
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

import common

common.add_repo_to_path()

HERE = Path(__file__).resolve().parent
STEP_SCRIPT = HERE / "bench_dcgan_step.py"


# ----------------------------------------------------------------------------------------------------
# The list of matmuls of one iteration
# ----------------------------------------------------------------------------------------------------
def layer_shapes(net, x):
    """[(layer, input shape, output shape)] for the conv, transposed-conv and linear layers of
    ``net`` (an nn.Sequential), found by running it once on ``x`` without a graph."""
    import minigan as mg
    from minigan import nn

    found = []
    with mg.no_grad():
        for layer in net:
            y = layer(x)
            if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                found.append((layer, tuple(x.shape), tuple(y.shape)))
            x = y
    return found


def layer_matmuls(layer, x_shape, y_shape):
    """{"forward" | "dW" | "dx": (A shape, B shape, A transposed?, B transposed?)}: the three matmuls of
    one layer, as the code multiplies them (a transposed operand is a .T view of a C-ordered array)."""
    from minigan import nn
    from minigan.fast.conv import fastest_conv_transpose

    if isinstance(layer, nn.Linear):
        n, (out, inp) = x_shape[0], layer.weight.shape
        return {"forward": ((n, inp), (inp, out), False, True),      # x @ W.T
                "dW": ((out, n), (n, inp), True, False),              # g.T @ x
                "dx": ((n, out), (out, inp), False, False)}           # g @ W
    if isinstance(layer, nn.Conv2d):
        c_out, c_in, k, _ = layer.weight.shape
        n, _, h_out, w_out = y_shape
        pixels, rows = h_out * w_out * n, c_in * k * k
        assert fastest_conv_transpose("numpy", c_out, c_in) == "scatter", "the dx below is scatter's"
        return {"forward": ((c_out, rows), (rows, pixels), False, False),
                "dW": ((c_out, pixels), (pixels, rows), False, True),
                "dx": ((rows, c_out), (c_out, pixels), True, False)}
    c_in, c_out, k, _ = layer.weight.shape                           # nn.ConvTranspose2d
    n, _, h, w = x_shape
    pixels, rows = h * w * n, c_out * k * k
    assert fastest_conv_transpose("numpy", c_in, c_out) == "scatter", "the forward below is scatter's"
    return {"forward": ((rows, c_in), (c_in, pixels), True, False),
            "dx": ((c_in, rows), (rows, pixels), False, False),
            "dW": ((c_in, pixels), (pixels, rows), False, True)}


def iteration_matmuls(batch):
    """[(network, layer index, kind, A shape, B shape, A.T?, B.T?)] of one DCGAN training iteration."""
    import minigan as mg
    from minigan.models import build

    G, D = build({"name": "dcgan"})
    z = mg.randn(batch, G.latent_dim)
    g_layers = layer_shapes(G.net, z)
    d_layers = layer_shapes(D.net, mg.zeros(batch, 3, 32, 32))
    # how often each matmul runs per iteration (see the module docstring); the first layer is index 0
    counts = {"D": lambda i: {"forward": 3, "dW": 2, "dx": 1 if i == 0 else 3},
              "G": lambda i: {"forward": 2, "dW": 1, "dx": 0 if i == 0 else 1}}
    out = []
    for net, layers in (("G", g_layers), ("D", d_layers)):
        for i, (layer, x_shape, y_shape) in enumerate(layers):
            for kind, spec in layer_matmuls(layer, x_shape, y_shape).items():
                out += [(net, i, kind, *spec)] * counts[net](i)[kind]
    return out


def matmul_gflop(matmuls):
    """2*M*K*N summed over the list, in GFLOP."""
    return sum(2 * a[0] * a[1] * b[1] for _, _, _, a, b, _, _ in matmuls) / 1e9


def operand(rng, shape, transposed):
    """A float32 operand of ``shape``; transposed: the .T view of a C-ordered (shape[1], shape[0])."""
    if transposed:
        return rng.standard_normal(shape[::-1], dtype=np.float32).T
    return rng.standard_normal(shape, dtype=np.float32)


# ----------------------------------------------------------------------------------------------------
# Child side: the matmuls alone, in a fresh process
# ----------------------------------------------------------------------------------------------------
def run_matmuls(spec):
    """Time the list of one iteration's matmuls, run one after another (operands made once)."""
    rng = np.random.default_rng(spec["seed"])
    matmuls = iteration_matmuls(spec["batch"])
    # one operand pair per distinct shape: the real step reads fresh (uncached) operands, and so does
    # this one, since every pair below is larger than the caches after the first few
    pairs = {}
    for _, _, _, a, b, ta, tb in matmuls:
        if (a, b, ta, tb) not in pairs:
            pairs[(a, b, ta, tb)] = (operand(rng, a, ta), operand(rng, b, tb))
    order = [pairs[(a, b, ta, tb)] for _, _, _, a, b, ta, tb in matmuls]

    def iteration():
        for a, b in order:
            a @ b

    import bench_dcgan_step as step
    return {"times": step.time_iterations(iteration, spec["warmup"], spec["iters"]),
            "gflop": matmul_gflop(matmuls), "n_matmuls": len(matmuls)}


# ----------------------------------------------------------------------------------------------------
# Parent side
# ----------------------------------------------------------------------------------------------------
KINDS = ("matmuls", "minigan", "torch")


def trial(kind, batch, args):
    spec = {"batch": batch, "warmup": args.warmup, "iters": args.iters, "seed": 0, "model": "dcgan"}
    if kind == "matmuls":
        return common.run_child(Path(__file__), {**spec, "kind": kind})
    step_spec = {**spec, "framework": kind, "backend": "numpy" if kind == "minigan" else None,
                 "device": "cpu", "torch_threads": None}
    return common.run_child(STEP_SCRIPT, step_spec)


def print_list(batch):
    matmuls = iteration_matmuls(batch)
    print(f"DCGAN, batch {batch}: {len(matmuls)} matmuls per iteration, {matmul_gflop(matmuls):.2f} GFLOP")
    seen = {}
    for net, i, kind, a, b, ta, tb in matmuls:
        seen[(net, i, kind, a, b, ta, tb)] = seen.get((net, i, kind, a, b, ta, tb), 0) + 1
    for (net, i, kind, a, b, ta, tb), count in seen.items():
        view = {True: " (a .T view)", False: ""}
        print(f"  {net} layer {i} {kind:<7} x{count}: {a}{view[ta]} @ {b}{view[tb]}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (a fresh process per trial)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=8, help="timed iterations per trial")
    p.add_argument("--list", action="store_true", help="print the matmuls of one iteration and stop")
    p.add_argument("--json", default=None, help="also write the raw results here")
    p.add_argument("--quick", action="store_true", help="1 round, 1 warm-up, 2 iterations, batch 8 (a smoke test)")
    p.add_argument("--write-docs", action="store_true", help="insert/replace the section in --docs-path")
    p.add_argument("--docs-path", default=str(common.REPO_ROOT / "docs" / "benchmarks.md"))
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return common.child_main(args.child, run_matmuls)
    if args.quick:
        args.rounds, args.warmup, args.iters, args.batch_sizes = 1, 1, 2, [8]
    if args.list:
        for batch in args.batch_sizes:
            print_list(batch)
        return

    import bench_dcgan_step as step
    expected = step.GFLOP_PER_ITER_AT_64["executed"]["dcgan"]
    machine = common.describe_machine()
    results = {(b, k): [] for b in args.batch_sizes for k in KINDS}
    rates = []
    for r in range(args.rounds):
        rates.append(common.matmul_gflops())
        for batch in args.batch_sizes:
            for kind in KINDS:
                res = trial(kind, batch, args)
                if "error" in res:
                    raise SystemExit(f"{kind} trial failed: {res['error']}")
                results[(batch, kind)].append(res)
                print(f"round {r + 1}, batch {batch}, {kind}: median "
                      f"{common.summarize(res['times'])['median']:.3f} s", file=sys.stderr)

    protocol = (f"protocol: {args.rounds} interleaved round(s) of (matmuls alone, minigan, PyTorch), a fresh "
                f"process per trial, {args.warmup} warm-up + {args.iters} timed iterations; medians over "
                f"all rounds; NumPy 2048^3 matmul {', '.join(f'{g:.0f}' for g in rates)} GFLOP/s before each round")
    rows = []
    for batch in args.batch_sizes:
        med = {k: common.summarize([t for res in results[(batch, k)] for t in res["times"]])["median"]
               for k in KINDS}
        gflop = results[(batch, "matmuls")][0]["gflop"]
        rows.append([batch, f"{gflop:.2f} (PyTorch's counter: {expected * batch / 64:.2f})",
                     f"{results[(batch, 'matmuls')][0]['n_matmuls']}", f"{med['matmuls']:.3f} s",
                     f"{gflop / med['matmuls']:.0f}", f"{med['minigan']:.3f} s",
                     f"{med['matmuls'] / med['minigan']:.0%}", f"{med['torch']:.3f} s",
                     f"{med['matmuls'] / med['torch']:.2f}", f"{med['minigan'] / med['torch']:.2f}"])
    body = "\n".join([
        "## The DCGAN iteration's matmuls alone (bench_matmuls.py)", "",
        *common.machine_lines(machine, [f"command: `{common.command_line()}`", protocol]), "",
        common.markdown_table(
            ["batch", "GFLOP of the list", "matmuls", "matmuls alone", "their GFLOP/s", "minigan iteration",
             "matmuls' share", "PyTorch iteration", "matmuls alone / PyTorch", "minigan / PyTorch"], rows)])
    print(body)
    if args.write_docs:
        print(f"wrote section bench_matmuls of {common.write_docs_section(args.docs_path, 'bench_matmuls', body)}")
    if args.json:
        Path(args.json).write_text(json.dumps({f"{b}:{k}": v for (b, k), v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
