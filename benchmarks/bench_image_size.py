"""One DCGAN training iteration (d_step + g_step) at 32x32 against 64x64, interleaved in one process.

    python benchmarks/bench_image_size.py                    # NumPy, batch 32, 4 rounds of 2 iterations each
    python benchmarks/bench_image_size.py --backend cupy --batch-size 128 --rounds 10

Both models are built first; then the rounds alternate (32, 64, 32, 64, ...) so that a change in the
machine's load hits both alike, and the medians and their ratio are printed. docs/own-images.md quotes a run.
"""

import argparse
import time

import numpy as np

import minigan as mg
from minigan.models import build
from minigan.training import TrainConfig, d_step, g_step

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--backend", choices=["numpy", "cupy"], default="numpy")
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--rounds", type=int, default=4)
p.add_argument("--iters", type=int, default=2, help="iterations per model per round")
args = p.parse_args()

mg.set_backend(args.backend)
mg.manual_seed(0)
config = TrainConfig(latent_dim=128, batch_size=args.batch_size)
setups = {}
for size in (32, 64):
    spec = {"name": "dcgan", "latent_dim": 128, "kernel_size": 4}
    if size == 64:
        spec["image_size"] = 64
    G, D = build(spec)
    real = mg.randn(args.batch_size, 3, size, size)                  # stands in for a batch of images
    setups[size] = (G, D, mg.optim.Adam(G.parameters()), mg.optim.Adam(D.parameters()), real)


def iteration(size):
    G, D, opt_G, opt_D, real = setups[size]
    start = time.perf_counter()
    d_step(G, D, opt_D, real, None, config)
    g_step(G, D, opt_G, args.batch_size, None, config)
    mg.to_numpy(G.parameters()[0].data[:1])                          # wait for the GPU
    return time.perf_counter() - start


for size in (32, 64):
    iteration(size)                                                  # warm-up
times = {32: [], 64: []}
for _ in range(args.rounds):
    for size in (32, 64):
        times[size] += [iteration(size) for _ in range(args.iters)]
median = {size: float(np.median(t)) for size, t in times.items()}
print({size: [round(t, 3) for t in ts] for size, ts in times.items()})
print(f"median s/iteration at batch {args.batch_size} on {args.backend}: 32x32 {median[32]:.3f}, "
      f"64x64 {median[64]:.3f}, ratio {median[64] / median[32]:.2f}")
