"""A/B of minigan's training iteration against itself: two checkouts, or two transposed-conv choices.

    python benchmarks/ab_step.py --trees /path/to/old/checkout .          # before / after a change
    python benchmarks/ab_step.py --methods auto scatter --model cgan      # the choice vs forced scatter
    python benchmarks/ab_step.py --trees OLD . --batch-sizes 64 128 --rounds 4

Same protocol as bench_dcgan_step.py (whose iteration it runs): every trial a fresh process, the
variants interleaved over R rounds (the order reversed every other round), W warm-up + N timed
iterations each; medians over all timed iterations. ``--methods`` replaces
``minigan.ops.conv.fastest_conv_transpose`` in the trial process by a function that always answers
that method ("auto" leaves it alone), so it measures what the choice buys.
"""

import argparse
import sys
from pathlib import Path

import common


def run_trial(spec):
    sys.path.insert(0, spec["tree"])                                 # this checkout's minigan first
    sys.path.insert(1, str(Path(spec["tree"]) / "benchmarks"))
    import minigan.ops.conv as conv
    from bench_dcgan_step import minigan_iteration, time_iterations

    assert conv.__file__.startswith(spec["tree"]), (conv.__file__, spec["tree"])
    if spec["method"] != "auto":
        conv.fast.fastest_conv_transpose = lambda *args, method=spec["method"]: method   # force it
    iteration = minigan_iteration({"model": spec["model"], "batch": spec["batch"], "backend": "numpy",
                                   "device": "cpu", "seed": 0})
    return {"times": time_iterations(iteration, spec["warmup"], spec["iters"])}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--trees", nargs="+", default=[str(common.REPO_ROOT)], help="checkouts to compare")
    p.add_argument("--methods", nargs="+", default=["auto"], choices=["auto", "scatter", "subpixel"],
                   help="what fastest_conv_transpose answers in the trial")
    p.add_argument("--model", choices=["dcgan", "cgan"], default="dcgan")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        common.child_main(args.child, run_trial)
        return 0
    variants = [(str(Path(t).resolve()), m) for t in args.trees for m in args.methods]
    machine = common.describe_machine()
    print(f"{machine['cpu']}, {machine['cores']} cores, load {machine['load_average']}; "
          f"command: `{common.command_line()}`", flush=True)
    times = {(b, v): [] for b in args.batch_sizes for v in variants}
    for r in range(args.rounds):
        for b in args.batch_sizes:
            for tree, method in (variants if r % 2 == 0 else variants[::-1]):
                spec = {"tree": tree, "method": method, "model": args.model, "batch": b,
                        "warmup": args.warmup, "iters": args.iters}
                result = common.run_child(__file__, spec, timeout=3600)
                if "error" in result:
                    print(f"round {r + 1}: {tree} {method} FAILED {result['error'][:300]}", flush=True)
                    continue
                times[b, (tree, method)] += result["times"]
                print(f"round {r + 1}, batch {b}: {tree} {method}: median "
                      f"{common.summarize(result['times'])['median']:.3f} s", flush=True)
    rows = []
    for b in args.batch_sizes:
        first = common.summarize(times[b, variants[0]])["median"]
        for tree, method in variants:
            s = common.summarize(times[b, (tree, method)])
            rows.append([str(b), tree, method, f"{s['median']:.3f} s", f"{s['min']:.3f}-{s['max']:.3f}",
                         f"{s['median'] / first:.2f}" if first and s["median"] else "—"])
    print(f"\nload at the end {common.describe_machine()['load_average']}\n")
    print(common.markdown_table(["batch", "checkout", "convT choice", "s/iter (median)", "min-max",
                                 "ratio to the first"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
