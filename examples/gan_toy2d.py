"""The first GAN to run: learn a ring of 8 Gaussians in 2-D, in under a minute on a CPU.

    python examples/gan_toy2d.py                 # writes runs/gan_toy2d/toy2d.png
    python examples/gan_toy2d.py --steps 3000 --out /tmp/toy

Real points lie on 8 small blobs around a circle. G turns 2-D noise into 2-D points, D tells real
points from G's. The picture shows real (gray) and generated (orange) points as training goes on: at
first G's points sit in a lump; then they spread out and settle on the blobs. If they all pile onto one
or two blobs, that is mode collapse (docs/gan.md). Each step is the same D step / G step as the image
GANs use (minigan/training.py).
"""

import math
from pathlib import Path

import numpy as np

import minigan as mg
from minigan import nn
from minigan.run import cli
from minigan.training import TrainConfig, d_step, g_step, generate
from minigan.run.viz import _pyplot

cli.report_user_errors()  # a user mistake ends in one paragraph on stderr, not a traceback (minigan/run/cli.py)

# --- arguments ---------------------------------------------------------------------------------------
parser = cli.script_parser(__doc__.splitlines()[0])
parser.add_argument("--steps", type=cli.positive_int, default=2000,
                    help="training iterations (one D step + one G step)")
parser.add_argument("--batch-size", type=cli.positive_int, default=256, help="points per batch")
parser.add_argument("--lr", type=cli.positive_float, default=1e-3, help="Adam learning rate (both networks)")
parser.add_argument("--seed", type=cli.nonnegative_int, default=0, help="seeds the weights, the data and the noise")
parser.add_argument("--snapshots", type=cli.positive_int, default=6, help="panels in the picture")
parser.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=cli.BACKEND_HELP)
parser.add_argument("--out", default="runs/gan_toy2d", help="folder for toy2d.png")
args = parser.parse_args()
if args.backend:
    mg.set_backend(args.backend)
mg.manual_seed(args.seed)
rng = np.random.default_rng(args.seed)


# --- data: a ring of 8 Gaussians (radius 2, std 0.05) ---------------------------------------------------
def real_batch(n):
    angles = rng.integers(0, 8, size=n) * (2 * math.pi / 8)
    centers = np.stack([2 * np.cos(angles), 2 * np.sin(angles)], axis=1)       # (n, 2)
    return (centers + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)   # (n, 2)


# --- models: small MLPs ---------------------------------------------------------------------------------
latent_dim = 2
G = nn.Sequential(nn.Linear(latent_dim, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
D = nn.Sequential(nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))
config = TrainConfig(latent_dim=latent_dim, lr=args.lr)
opt_G = mg.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
opt_D = mg.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
fixed_z = mg.randn(1000, latent_dim)

# --- training loop: D step, G step, snapshot ---------------------------------------------------------
snapshot_at = set(np.linspace(0, args.steps, args.snapshots).astype(int).tolist())
snapshots = []
for step in range(args.steps + 1):
    if step in snapshot_at:
        snapshots.append((step, generate(G, fixed_z).numpy()))
    if step == args.steps:
        break
    real = mg.tensor(real_batch(args.batch_size))
    loss_D, d_x, d_g_z = d_step(G, D, opt_D, real, None, config)
    loss_G = g_step(G, D, opt_G, args.batch_size, None, config)
    if step % 500 == 0:
        print(f"step {step:5d}  loss_D {loss_D:.3f}  loss_G {loss_G:.3f}  D(x) {d_x:.2f}  D(G(z)) {d_g_z:.2f}")

# --- picture: real vs generated points over time ---------------------------------------------------------
plt = _pyplot()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
real = real_batch(1000)
fig, axes = plt.subplots(1, len(snapshots), figsize=(3 * len(snapshots), 3.2))
for ax, (step, fake) in zip(np.atleast_1d(axes), snapshots):
    ax.scatter(real[:, 0], real[:, 1], s=2, c="0.6", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:orange", label="G(z)")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"step {step}")
np.atleast_1d(axes)[0].legend(loc="lower left", fontsize=7, markerscale=4)
fig.tight_layout()
fig.savefig(out / "toy2d.png", dpi=80)
print(f"wrote {out / 'toy2d.png'}")
