"""Train the classifier whose features measure GANs offline (FCD, KID, conditional accuracy).

    python examples/train_classifier.py fashion-mnist                  # 10 epochs, CPU is fine
    python examples/train_classifier.py cifar10 --backend cupy         # 30 epochs, ~10 s each on a GPU
    python examples/train_classifier.py cifar10 --dataset fake --limit 64 --epochs 1   # smoke test

The first argument says which classifier to train; --dataset (real or fake), --data-dir and --limit mean
what they mean in every script (docs/cli.md). ``--dataset cifar10`` (PyTorch's spelling) also works.

Writes OUT (default runs/classifier_<dataset>.npz) at every epoch end; examples/evaluate.py reads it.
An existing OUT is refused unless --overwrite. There is no --resume: a run stopped early keeps the
classifier of its last finished epoch in OUT.
"""

import argparse

from minigan import backend
from minigan.run import cli
from minigan.evaluation import dataset_name, load_split, train_classifier
from minigan.evaluation.classifier import build_classifier

# --- arguments ---------------------------------------------------------------------------------------
DEFAULTS = {"fashion-mnist": {"epochs": 10, "augment": False}, "cifar10": {"epochs": 30, "augment": True}}
CLASSIFIERS = ["fashion-mnist", "cifar10"]
# a user mistake ends in one paragraph on stderr, not a traceback (minigan/run/cli.py)
cli.report_user_errors(on_interrupt="OUT keeps the classifier of the last finished epoch, if one finished "
                                    "(this script cannot resume: run it again with --overwrite)")

parser = cli.script_parser(__doc__.splitlines()[0])
parser.add_argument("which", nargs="?", type=cli.dataset_value(), choices=CLASSIFIERS,
                    metavar="{fashion-mnist,cifar10}", help="which classifier to train: the dataset it learns")
parser.add_argument("--epochs", type=cli.positive_int, default=None, help="default: 10 (fashion-mnist), 30 (cifar10)")
parser.add_argument("--batch-size", type=cli.positive_int, default=128, help="images per batch")
parser.add_argument("--lr", type=cli.positive_float, default=1e-3,
                    help="Adam's initial learning rate (cosine decay to 0)")
parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                    help="random flips + crops (pad 4); default: on for cifar10, off for fashion-mnist")
cli.add_data_options(parser)                                         # --dataset real|fake, --data-dir, --limit
cli.add_deprecated_fake_flag(parser)
parser.add_argument("--out", default=None, help="classifier checkpoint (default runs/classifier_<dataset>.npz)")
parser.add_argument("--overwrite", action="store_true", help="replace the classifier already in OUT")
parser.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=cli.BACKEND_HELP)
parser.add_argument("--seed", type=cli.nonnegative_int, default=0,
                    help="seeds the weights, the augmentation and the batch order")
parser.add_argument("--no-progress", action="store_true", help="no progress bar (for logs)")
args = parser.parse_args()
if args.dataset in CLASSIFIERS:                                      # --dataset cifar10: PyTorch's spelling
    if args.which is not None and args.which != args.dataset:
        parser.error(f"--dataset {args.dataset} and {args.which}: give the classifier once (first argument)")
    args.which, args.dataset = args.dataset, "real"
if args.which is None:
    parser.error("which classifier? give fashion-mnist or cifar10 as the first argument")
fake = args.dataset == "fake" or args.fake
name = dataset_name(args.which)
epochs = args.epochs if args.epochs is not None else DEFAULTS[name]["epochs"]
augment = args.augment if args.augment is not None else DEFAULTS[name]["augment"]
out = cli.output_file(args.out or f"runs/classifier_{name.replace('-', '_')}.npz", "--out", overwrite=args.overwrite)
if args.backend:
    backend.set_backend(args.backend)
backend.manual_seed(args.seed)

# --- data: float images (N, C, H, W) in [-1, 1] --------------------------------------------------------
train_images, train_labels = load_split(name, "train", args.data_dir, fake, args.limit, args.seed)
test_images, test_labels = load_split(name, "test", args.data_dir, fake, args.limit, args.seed)
cli.check_one_batch(len(train_images), args.batch_size)
print(f"{name}{' (fake)' if fake else ''}: {len(train_images)} training, {len(test_images)} test "
      f"images of shape {train_images.shape[1:]}; backend {backend.get_backend()}")

# --- model and training --------------------------------------------------------------------------------
model = build_classifier(name)
print(f"{type(model).__name__}: {model.num_parameters():,} parameters, {model.feature_dim}-d features")
accuracy = train_classifier(model, train_images, train_labels, test_images, test_labels, epochs,
                            args.batch_size, args.lr, augment, out, progress=not args.no_progress,
                            seed=args.seed)
print(f"test accuracy {accuracy:.4f}; saved {out}")
