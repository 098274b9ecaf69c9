"""Where does one GAN training iteration spend its time? cProfile over minigan's own d_step + g_step.

    python benchmarks/profile_step.py                              # DCGAN, NumPy, batch 64
    python benchmarks/profile_step.py --backend cupy --batch 128   # on a GPU: Python + launch overhead

Prints the functions with the most time of their own ("tottime": matmuls show up in the function that
calls ``@``), and how many minigan Functions (autograd nodes) one iteration runs.
On a GPU each iteration ends with a synchronize, so waiting for the device shows up there; what is
left is the host's cost of issuing the work, which is what limits a small model on a fast GPU.
"""

import argparse
import cProfile
import io
import pstats
import time

from bench_dcgan_step import minigan_iteration                        # the benchmark's own iteration

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
parser.add_argument("--model", choices=["dcgan", "cgan"], default="dcgan")
parser.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--iters", type=int, default=5, help="profiled iterations (after 3 warm-up ones)")
parser.add_argument("--top", type=int, default=25, help="rows of the profile to print")
args = parser.parse_args()

iteration = minigan_iteration({"model": args.model, "batch": args.batch, "backend": args.backend, "seed": 0,
                               "device": "cuda" if args.backend == "cupy" else "cpu"})
for _ in range(3):                                                   # warm-up (and CuPy's kernel compiles)
    iteration()
start = time.perf_counter()
for _ in range(args.iters):
    iteration()
seconds = (time.perf_counter() - start) / args.iters
profile = cProfile.Profile()
profile.enable()
for _ in range(args.iters):
    iteration()
profile.disable()
text = io.StringIO()
stats = pstats.Stats(profile, stream=text)
stats.sort_stats("tottime").print_stats(args.top)
functions = sum(calls for (path, _, name), (_, calls, *_rest) in stats.stats.items()
                if path.endswith("autograd.py") and name == "__call__") / args.iters
print(f"{args.model}, backend {args.backend}, batch {args.batch}: {seconds:.4f} s per iteration "
      f"(unprofiled, mean of {args.iters}); {functions:.0f} minigan Functions (autograd nodes) per iteration")
print(text.getvalue())
