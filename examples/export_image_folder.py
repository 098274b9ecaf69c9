"""Write images of a built-in dataset as PNG files, one sub-folder per class: a folder to try
``--dataset folder`` on (docs/own-images.md).

    python examples/export_image_folder.py --dataset cifar10 --n 2000 --out images/
    python examples/dcgan_cifar.py --dataset folder --data-dir images/ --epochs 5

Writes OUT/<class name>/<index>.png for the first N images of the split (CIFAR-10: 32x32 RGB,
Fashion-MNIST: 28x28 grayscale), and nothing else.
"""

from pathlib import Path

from PIL import Image

from minigan.run import cli
from minigan.data import CIFAR10_CLASSES, FASHION_MNIST_CLASSES, load_cifar10, load_fashion_mnist

READERS = {"cifar10": (load_cifar10, CIFAR10_CLASSES), "fashion-mnist": (load_fashion_mnist, FASHION_MNIST_CLASSES)}

cli.report_user_errors(on_interrupt="the PNG files written so far are in OUT")   # one paragraph, no traceback

parser = cli.script_parser(__doc__.splitlines()[0])
parser.add_argument("--dataset", type=cli.dataset_value(), choices=list(READERS), default="cifar10",
                    help="the dataset to export")
parser.add_argument("--data-dir", "--dataroot", dest="data_dir", type=cli.existing_dir, default=None,
                    help="its files (default: $MINIGAN_DATA or ~/.cache/minigan/<name>)")
parser.add_argument("--split", choices=["train", "test"], default="train", help="which split")
parser.add_argument("--n", type=cli.positive_int, default=2000, help="how many images (the first N of the split)")
parser.add_argument("--out", required=True, help="the folder to write (created if missing)")
args = parser.parse_args()
out = Path(cli.output_folder(args.out, "--out"))                    # before any work

read, class_names = READERS[args.dataset]
images, labels = read(root=args.data_dir, split=args.split)            # uint8 (N, H, W[, 3]), int64 (N,)
if args.n > len(images):
    cli.note(f"--n {args.n} is more than the {len(images)} images of the {args.split} split: writing all of them")
images, labels = images[:args.n], labels[:args.n]
for name in class_names:
    (out / name.replace("/", "-")).mkdir(parents=True, exist_ok=True)  # "T-shirt/top" -> "T-shirt-top"
for i, (image, label) in enumerate(zip(images, labels)):
    Image.fromarray(image).save(out / class_names[label].replace("/", "-") / f"{i:05d}.png")
print(f"wrote {len(images)} PNG files of {args.dataset} ({args.split}) into {out}/<class>/")
