"""Draw images from a trained generator: a grid, one class (cGAN), a latent interpolation, raw samples.

    python examples/sample.py --checkpoint runs/dcgan_cifar/checkpoint.npz --out samples/
    python examples/sample.py --checkpoint runs/cgan_fashion_mnist/checkpoint.npz --class-id 7 --out samples/
    python examples/sample.py --checkpoint G.npz --save-npz samples.npz --n 10000   # for outside evaluation

Writes OUT/grid.png, OUT/interpolation.png (and OUT/class_<k>.png for a cGAN). ``--save-npz`` writes N
raw samples: ``images`` uint8 (N, H, W, C) and, for a cGAN, their ``labels`` (balanced over classes).
"""

import argparse
from pathlib import Path

import numpy as np

import minigan as mg
from minigan import cli
from minigan.backend import to_device
from minigan.data import to_uint8_images
from minigan.tensor import Tensor
from minigan.training import generate, load_generator
from minigan.viz import save_image_grid

parser = argparse.ArgumentParser(description=__doc__.splitlines()[1],
                                 formatter_class=cli.HelpFormatter)
parser.add_argument("--checkpoint", required=True, help="a training checkpoint (or a generator-only file)")
parser.add_argument("--out", default="samples", help="folder for the PNGs")
parser.add_argument("--n", type=int, default=64, help="images in the grid / in --save-npz")
parser.add_argument("--class-id", type=int, default=None, help="cGAN: draw only this class")
parser.add_argument("--steps", type=int, default=10, help="images per interpolation row")
parser.add_argument("--save-npz", default=None, help="write N raw samples to this .npz file")
parser.add_argument("--batch-size", type=int, default=500, help="images generated per forward pass")
parser.add_argument("--seed", type=int, default=0, help="seed of the noise")
parser.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=cli.BACKEND_HELP)
args = parser.parse_args()
if args.backend:
    mg.set_backend(args.backend)
mg.manual_seed(args.seed)

# --- the generator, rebuilt from the spec stored in the checkpoint --------------------------------------
G, spec, _ = load_generator(args.checkpoint)
G.train()  # BatchNorm with the statistics of the generated batch, as during training's sample grids
conditional = spec["name"] == "cgan"
num_classes = spec.get("num_classes", 10)
latent_dim = spec.get("latent_dim", 100)
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)


def labels_for(n, class_id=None):
    if class_id is not None:
        if not 0 <= class_id < num_classes:
            raise SystemExit(f"--class-id must be in 0..{num_classes - 1}, got {class_id}")
        values = np.full(n, class_id)
    else:
        values = np.arange(n) % num_classes                          # balanced over classes
    return Tensor(to_device(values.astype(np.int64)))


def draw(z, labels=None):
    return generate(G, z, labels) if conditional else generate(G, z)


# --- grid ------------------------------------------------------------------------------------------------
if conditional:
    n_rows = 10
    grid_labels = labels_for(num_classes * n_rows)                   # class k in column k
    images = draw(mg.randn(num_classes * n_rows, latent_dim), grid_labels)
    save_image_grid(images, out / "grid.png", nrow=num_classes)
    if args.class_id is not None:
        images = draw(mg.randn(args.n, latent_dim), labels_for(args.n, args.class_id))
        save_image_grid(images, out / f"class_{args.class_id}.png")
else:
    save_image_grid(draw(mg.randn(args.n, latent_dim)), out / "grid.png")

# --- latent interpolation: z moves in a straight line from z0 to z1 (one row per pair) ----------------
rows = 8
z0, z1 = mg.randn(rows, latent_dim).numpy(), mg.randn(rows, latent_dim).numpy()
t = np.linspace(0, 1, args.steps, dtype=np.float32)[None, :, None]  # (1, steps, 1)
z = (1 - t) * z0[:, None] + t * z1[:, None]                          # (rows, steps, latent_dim)
z = Tensor(to_device(z.reshape(rows * args.steps, latent_dim)))
row_labels = np.repeat(np.arange(rows) % num_classes, args.steps)    # cGAN: each row keeps its class
images = draw(z, Tensor(to_device(row_labels.astype(np.int64)))) if conditional else draw(z)
save_image_grid(images, out / "interpolation.png", nrow=args.steps)
print(f"wrote {out / 'grid.png'} and {out / 'interpolation.png'}")

# --- raw samples for outside evaluation -------------------------------------------------------------------
if args.save_npz:
    chunks, label_chunks = [], []
    all_labels = labels_for(args.n, args.class_id) if conditional else None   # (n,), made once
    for start in range(0, args.n, args.batch_size):
        n = min(args.batch_size, args.n - start)
        labels = all_labels[start:start + n] if conditional else None
        batch = draw(mg.randn(n, latent_dim), labels)
        chunks.append(to_uint8_images(batch.data))                  # (n, H, W, C) uint8
        if conditional:
            label_chunks.append(labels.numpy())
    arrays = {"images": np.concatenate(chunks)}
    if conditional:
        arrays["labels"] = np.concatenate(label_chunks)
    np.savez(args.save_npz, **arrays)
    print(f"wrote {args.n} samples to {args.save_npz}")
