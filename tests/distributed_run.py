"""A tiny GAN training run for tests/test_distributed.py, started as one process or under ``mpiexec -n W``.

    python tests/distributed_run.py --out DIR [--bn]                                # the reference
    mpiexec -n 2 python tests/distributed_run.py --out DIR --distributed [--sync-bn] [--bn] [--resume]

Two small fully connected networks on random 4x4 "images" (with ``--bn``: BatchNorm1d after the first
layer of each, that layer without bias, as in DCGAN), so that a run takes a fraction of a second per
epoch. ``--kill-rank 1``: that rank kills itself (SIGKILL, as the kernel's OOM killer or a lost node
would) as soon as rank 0's first checkpoint exists, i.e. somewhere in the second epoch.
"""

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # this checkout's minigan

import numpy as np  # noqa: E402

from minigan import backend, nn  # noqa: E402
from minigan.training import TrainConfig  # noqa: E402
from minigan.run.trainer import train  # noqa: E402

LATENT = 8

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--bn", action="store_true")
parser.add_argument("--distributed", action="store_true")
parser.add_argument("--sync-bn", action="store_true")
parser.add_argument("--resume", action="store_true")
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--n", type=int, default=32)
parser.add_argument("--kill-rank", type=int, default=None)
parser.add_argument("--backend", default="numpy", help="cupy: NCCL between the ranks (benchmarks/gpu_check.sh)")
args = parser.parse_args()

backend.set_backend(args.backend)
backend.manual_seed(0)
dist = None
if args.distributed:
    from minigan.parallel import distributed
    dist = distributed.start(sync_bn=args.sync_bn)


def kill_me_after_first_checkpoint():
    while not (Path(args.out) / "checkpoint.npz").exists():
        time.sleep(0.005)
    os.kill(os.getpid(), signal.SIGKILL)


if dist is not None and dist.rank == args.kill_rank:
    threading.Thread(target=kill_me_after_first_checkpoint, daemon=True).start()


def hidden(n_in, n_out):
    """Linear -> (BatchNorm1d) -> LeakyReLU; the Linear has no bias in front of BatchNorm."""
    if args.bn:
        return [nn.Linear(n_in, n_out, bias=False), nn.BatchNorm1d(n_out), nn.LeakyReLU(0.2)]
    return [nn.Linear(n_in, n_out), nn.LeakyReLU(0.2)]


class G(nn.Module):
    def __init__(self):
        self.net = nn.Sequential(*hidden(LATENT, 32), nn.Linear(32, 16), nn.Tanh(), nn.Reshape(1, 4, 4))

    def forward(self, z):                                            # (N, 8) -> (N, 1, 4, 4)
        return self.net(z)


class D(nn.Module):
    def __init__(self):
        self.net = nn.Sequential(nn.Flatten(), *hidden(16, 32), nn.Linear(32, 1))

    def forward(self, x):                                            # (N, 1, 4, 4) -> (N, 1)
        return self.net(x)


images = np.random.default_rng(1).uniform(-1, 1, size=(args.n, 1, 4, 4)).astype(np.float32)
labels = np.zeros(args.n, dtype=np.int64)
config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, latent_dim=LATENT, sample_every=0,
                     progress=False)
train(G(), D(), images, labels, config, args.out, {"name": "test-mlp", "bn": args.bn}, resume=args.resume,
      distributed=dist)
