"""Train the classifier whose features measure GANs offline (FCD, KID, conditional accuracy).

    python examples/train_classifier.py --dataset fashion_mnist                  # 10 epochs, CPU is fine
    python examples/train_classifier.py --dataset cifar10 --backend cupy         # 30 epochs, ~10 s each on a GPU
    python examples/train_classifier.py --dataset cifar10 --fake --limit 64 --epochs 1   # smoke test

Writes OUT (default runs/classifier_<dataset>.npz) at every epoch end; examples/evaluate.py reads it.
"""

import argparse

from minigan import backend, cli
from minigan.evaluation import dataset_name, load_split, train_classifier
from minigan.models.classifier import build_classifier

# --- arguments ---------------------------------------------------------------------------------------
DEFAULTS = {"fashion-mnist": {"epochs": 10, "augment": False}, "cifar10": {"epochs": 30, "augment": True}}
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=cli.HelpFormatter)
parser.add_argument("--dataset", required=True, choices=["fashion_mnist", "fashion-mnist", "cifar10"],
                    help="which classifier to train")
parser.add_argument("--epochs", type=int, default=None, help="default: 10 (fashion-mnist), 30 (cifar10)")
parser.add_argument("--batch-size", type=int, default=128, help="images per batch")
parser.add_argument("--lr", type=float, default=1e-3, help="Adam's initial learning rate (cosine decay to 0)")
parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                    help="random flips + crops (pad 4); default: on for cifar10, off for fashion-mnist")
parser.add_argument("--data-dir", default=None, help="folder with the dataset files (downloaded if missing)")
parser.add_argument("--fake", action="store_true", help="random images of the right shape (offline smoke test)")
parser.add_argument("--limit", type=int, default=None, help="use a random subset of N images of each split")
parser.add_argument("--out", default=None, help="classifier checkpoint (default runs/classifier_<dataset>.npz)")
parser.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=cli.BACKEND_HELP)
parser.add_argument("--seed", type=int, default=0, help="seeds the weights, the augmentation and the batch order")
parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
args = parser.parse_args()
name = dataset_name(args.dataset)
epochs = args.epochs if args.epochs is not None else DEFAULTS[name]["epochs"]
augment = args.augment if args.augment is not None else DEFAULTS[name]["augment"]
out = args.out or f"runs/classifier_{name.replace('-', '_')}.npz"
if args.backend:
    backend.set_backend(args.backend)
backend.manual_seed(args.seed)

# --- data: float images (N, C, H, W) in [-1, 1] --------------------------------------------------------
train_images, train_labels = load_split(name, "train", args.data_dir, args.fake, args.limit, args.seed)
test_images, test_labels = load_split(name, "test", args.data_dir, args.fake, args.limit, args.seed)
print(f"{name}{' (fake)' if args.fake else ''}: {len(train_images)} training, {len(test_images)} test "
      f"images of shape {train_images.shape[1:]}; backend {backend.get_backend()}")

# --- model and training --------------------------------------------------------------------------------
model = build_classifier(name)
print(f"{type(model).__name__}: {model.num_parameters():,} parameters, {model.feature_dim}-d features")
accuracy = train_classifier(model, train_images, train_labels, test_images, test_labels, epochs,
                            args.batch_size, args.lr, augment, out, progress=not args.no_progress,
                            seed=args.seed)
print(f"test accuracy {accuracy:.4f}; saved {out}")
