"""Draw images from a trained generator: a grid, one class (cGAN), a latent interpolation, raw samples.

    python examples/sample.py --checkpoint runs/dcgan_cifar/checkpoint.npz --out samples/
    python examples/sample.py --checkpoint runs/cgan_fashion_mnist/checkpoint.npz --class-id 7 --out samples/
    python examples/sample.py --checkpoint G.npz --save-npz samples.npz --n 10000   # for outside evaluation

Writes OUT/grid.png, OUT/interpolation.png (and OUT/class_<k>.png for a cGAN). ``--save-npz`` writes N
raw samples: ``images`` uint8 (N, H, W, C) and, for a cGAN, their ``labels`` (balanced over classes).
BatchNorm uses the running statistics saved in the checkpoint (``--batchnorm eval``, as evaluate.py
scores G), so an image depends only on its own noise, not on --batch-size or the other images drawn.
"""

from pathlib import Path

import numpy as np

import minigan as mg
from minigan.run import cli
from minigan.backend import to_device
from minigan.data import to_uint8_images
from minigan.tensor import Tensor
from minigan.training import generate
from minigan.run.training_state import load_generator
from minigan.run.viz import save_image_grid

# a user mistake ends in one paragraph on stderr, not a traceback (minigan/run/cli.py)
cli.report_user_errors(on_interrupt="the pictures already written are whole; run it again for the rest")

parser = cli.script_parser(__doc__.splitlines()[0])
parser.add_argument("--checkpoint", type=cli.existing_file, required=True,
                    help="a training checkpoint (or a generator-only file)")
parser.add_argument("--out", default="samples", help="folder for the PNGs")
parser.add_argument("--n", type=cli.positive_int, default=64, help="images in the grid / in --save-npz")
parser.add_argument("--class-id", type=cli.nonnegative_int, default=None, help="cGAN: draw only this class")
parser.add_argument("--steps", type=cli.positive_int, default=10, help="images per interpolation row")
parser.add_argument("--save-npz", default=None, help="write N raw samples to this .npz file")
parser.add_argument("--batch-size", type=cli.positive_int, default=500, help="images generated per forward pass")
parser.add_argument("--batchnorm", choices=["eval", "batch"], default="eval",
                    help="eval: BatchNorm's running statistics from the checkpoint (each image depends only on "
                         "its noise); batch: the statistics of each generated batch, as training's sample "
                         "grids (images then depend on --batch-size)")
parser.add_argument("--seed", type=cli.nonnegative_int, default=0, help="seed of the noise")
parser.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=cli.BACKEND_HELP)
args = parser.parse_args()
out = Path(cli.output_folder(args.out, "--out"))                    # before any work: where the results go
if args.save_npz:
    cli.output_file(args.save_npz, "--save-npz")
if args.backend:
    mg.set_backend(args.backend)
mg.manual_seed(args.seed)

# --- the generator, rebuilt from the spec stored in the checkpoint --------------------------------------
G, spec, meta = load_generator(args.checkpoint)           # in eval mode
if args.batchnorm == "batch":
    G.train()  # BatchNorm with the statistics of the generated batch, as during training's sample grids
conditional = spec["name"] == "cgan"
if args.class_id is not None and not conditional:
    raise cli.UsageError(f"--class-id needs a conditional model (cgan), but {args.checkpoint} holds a "
                         f"{spec['name']} generator, which cannot be asked for a class; leave out --class-id")
num_classes = spec.get("num_classes", 10)
latent_dim = spec.get("latent_dim", 100)
if conditional and args.class_id is not None and args.class_id >= num_classes:
    raise cli.UsageError(f"--class-id must be in 0..{num_classes - 1} for this {num_classes}-class model, "
                         f"got {args.class_id}")
class_names = (meta.get("dataset") or {}).get("class_names")      # absent in older checkpoints


def labels_for(n, class_id=None):
    if class_id is not None:
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
        if class_names:
            print(f"class {args.class_id} is {class_names[args.class_id]!r} in the data G was trained on")
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
