"""What differentiating the backward pass costs: a first-order backward vs a gradient-penalty step.

The model is the DCGAN discriminator of minigan/models/dcgan.py with LayerNorm in place of BatchNorm
(a WGAN-GP critic: the penalty is per sample, so nothing may couple the samples of a batch). Three
measurements at one batch size, interleaved over rounds (median of each), on minigan's NumPy backend:

    forward      out = D(x)
    first order  out = D(x); out.mean().backward()                    (the parameters' gradients)
    penalty      out = D(x); g = mg.grad(out.sum(), x, create_graph=True);
                 (out.mean() + 10 * mean((|g|_2 - 1)^2)).backward()      (gradients through g too)

Peak memory is measured separately (tracemalloc sees NumPy's array allocations), once per measurement.

    python benchmarks/bench_double_backward.py                 # batch 64, 5 rounds
    python benchmarks/bench_double_backward.py --batch 16 --rounds 2
"""

import argparse
import statistics
import time
import tracemalloc

import numpy as np


def critic():
    """The DCGAN D (kernel 4, stride 2, padding 1) with LayerNorm over (C, H, W) instead of BatchNorm."""
    from minigan import nn
    from minigan.models.dcgan import dcgan_init_

    conv = dict(kernel_size=4, stride=2, padding=1)
    return dcgan_init_(nn.Sequential(
        nn.Conv2d(3, 64, **conv), nn.LeakyReLU(0.2),                                       # (N, 64, 16, 16)
        nn.Conv2d(64, 128, **conv), nn.LayerNorm((128, 8, 8)), nn.LeakyReLU(0.2),         # (N, 128, 8, 8)
        nn.Conv2d(128, 256, **conv), nn.LayerNorm((256, 4, 4)), nn.LeakyReLU(0.2),        # (N, 256, 4, 4)
        nn.Conv2d(256, 512, **conv), nn.LayerNorm((512, 2, 2)), nn.LeakyReLU(0.2),        # (N, 512, 2, 2)
        nn.Flatten(), nn.Linear(512 * 2 * 2, 1),                                           # (N, 1)
    ))


def make_steps(batch, seed=0):
    import minigan as mg

    mg.manual_seed(seed)
    D = critic()
    x_array = np.random.default_rng(seed).uniform(-1, 1, (batch, 3, 32, 32)).astype(np.float32)

    def forward():
        with mg.no_grad():
            D(mg.tensor(x_array))

    def first_order():
        D.zero_grad()
        D(mg.tensor(x_array)).mean().backward()

    def penalty():
        D.zero_grad()
        x = mg.tensor(x_array, requires_grad=True)
        out = D(x)                                                   # (N, 1)
        (g,) = mg.grad(out.sum(), x, create_graph=True)              # (N, 3, 32, 32), with a graph
        norms = ((g * g).reshape(batch, -1).sum(axis=1) + 1e-12) ** 0.5   # (N,)
        gp = ((norms - 1) ** 2).mean()
        (out.mean() + 10 * gp).backward()

    return {"forward": forward, "first order": first_order, "penalty": penalty}


def peak_mib(step):
    step()                                                           # warm caches first
    tracemalloc.start()
    step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2 ** 20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (one of each step per round)")
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    steps = make_steps(args.batch)
    for step in steps.values():
        for _ in range(args.warmup):
            step()
    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    memory = {name: peak_mib(step) for name, step in steps.items()}
    base = statistics.median(times["first order"])
    print(f"batch {args.batch}, {args.rounds} interleaved rounds, median seconds (min-max); "
          "peak MiB by tracemalloc")
    print("| step | s (median) | min-max | x first order | peak memory |")
    print("|---|---|---|---|---|")
    for name in steps:
        t = statistics.median(times[name])
        print(f"| {name} | {t:.3f} | {min(times[name]):.3f}-{max(times[name]):.3f} | {t / base:.2f} | "
              f"{memory[name]:.0f} MiB |")


if __name__ == "__main__":
    main()
