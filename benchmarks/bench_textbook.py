"""One DCGAN iteration (d_step + g_step) in the default mode and in textbook mode, interleaved in one process.

    python benchmarks/bench_textbook.py                  # batch 64, 4 rounds
    python benchmarks/bench_textbook.py --batch 128 --rounds 6

Textbook mode (``with mg.textbook():``) runs every op by its plain definition: im2col + one matmul per
sample on NCHW arrays, col2im as k*k adds, BatchNorm from Tensor ops, Adam per parameter. This prints
the median seconds per iteration of each mode and their ratio.
"""

import argparse
import statistics
import time

import minigan as mg
from minigan.models import build
from minigan.training import TrainConfig, d_step, g_step

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--rounds", type=int, default=4)
args = parser.parse_args()

mg.fast.keep_freed_memory()                                          # as the example scripts do
mg.manual_seed(0)
G, D = build({"name": "dcgan", "latent_dim": 128})
config = TrainConfig(batch_size=args.batch, latent_dim=128)
opt_G, opt_D = mg.optim.Adam(G.parameters()), mg.optim.Adam(D.parameters())
real = mg.randn(args.batch, 3, 32, 32)


def iteration():
    start = time.perf_counter()
    d_step(G, D, opt_D, real, None, config)
    g_step(G, D, opt_G, args.batch, None, config)
    return time.perf_counter() - start


iteration()                                                          # warm-up, both modes
with mg.textbook():
    iteration()
times = {"default": [], "textbook": []}
for _ in range(args.rounds):
    times["default"].append(iteration())
    with mg.textbook():
        times["textbook"].append(iteration())
medians = {mode: statistics.median(t) for mode, t in times.items()}
print(f"DCGAN iteration, batch {args.batch}, median of {args.rounds}: default {medians['default']:.3f} s, "
      f"textbook {medians['textbook']:.3f} s, ratio {medians['textbook'] / medians['default']:.2f}")
