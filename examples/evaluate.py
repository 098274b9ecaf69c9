"""Score a trained generator offline: FCD, KID and (cGAN) conditional accuracy, with a classifier.

    python examples/evaluate.py --checkpoint runs/cgan_fashion_mnist/checkpoint.npz \\
                                --classifier runs/classifier_fashion_mnist.npz
    python examples/evaluate.py --checkpoint runs/dcgan_cifar/checkpoint.npz \\
                                --classifier runs/classifier_cifar10.npz --backend cupy

--checkpoint is a training checkpoint or a generator-only file (minigan.evaluation.export_generator,
or OUT/generator_epochNNN.npz of a run with --keep-every). gan and cgan are compared with the
Fashion-MNIST test set, dcgan with the CIFAR-10 test set. A cGAN must know the judge's classes (its
checkpoint records their names): a folder of the same classes, numbered otherwise, is relabelled.
FCD is measured in minigan's own classifier feature space: not comparable to published Inception FID.
"""

import json
import os
import time

from minigan import backend
from minigan.run import cli
from minigan.data import CIFAR10_CLASSES, FASHION_MNIST_CLASSES
from minigan.evaluation import (DATASET_OF_MODEL, FCD_NOTE, RelabeledGenerator, evaluate_generator,
                                judge_classes_of, load_classifier, load_generator, load_split, report_lines)

# a user mistake ends in one paragraph on stderr, not a traceback (minigan/run/cli.py)
cli.report_user_errors(on_interrupt="nothing was written")

# --- arguments ---------------------------------------------------------------------------------------
parser = cli.script_parser(__doc__.splitlines()[0])
parser.add_argument("--checkpoint", type=cli.existing_file, required=True,
                    help="training checkpoint or generator-only checkpoint")
parser.add_argument("--classifier", type=cli.existing_file, required=True,
                    help="classifier checkpoint from train_classifier.py")
parser.add_argument("--n", type=cli.positive_int, default=10000, help="number of generated images")
cli.add_data_options(parser)                                         # --dataset real|fake, --data-dir, --limit
cli.add_deprecated_fake_flag(parser)
parser.add_argument("--batch-size", type=cli.positive_int, default=500,
                    help="images per forward pass (G and the classifier)")
parser.add_argument("--backend", choices=["numpy", "cupy"], default=None, help=cli.BACKEND_HELP)
parser.add_argument("--seed", type=cli.nonnegative_int, default=0, help="seed of the generator's noise")
parser.add_argument("--out", default=None, help="JSON result (default: next to the checkpoint, <checkpoint>.eval.json)")
args = parser.parse_args()
if args.n < 2 or (args.limit is not None and args.limit < 2):
    parser.error("FCD and KID compare two sets of at least 2 images: --n and --limit must be >= 2")
fake = args.dataset == "fake" or args.fake
out = cli.output_file(args.out or os.path.splitext(args.checkpoint)[0] + ".eval.json", "--out")   # before the work
if args.backend:
    backend.set_backend(args.backend)
start = time.perf_counter()

# --- the generator, the classifier, and the real test set they are compared on -------------------------
G, spec, g_meta = load_generator(args.checkpoint)
dataset = DATASET_OF_MODEL[spec["name"]]
if spec.get("image_size", 32) != 32:
    raise cli.UsageError(f"{args.checkpoint} holds a {spec['image_size']}x{spec['image_size']} generator, but the "
                     f"scores compare it with the 32x32 {dataset} test set through a 32x32 classifier; "
                     "only 32x32 generators can be scored here (use examples/sample.py to look at it)")
if args.dataset not in ("real", "fake", dataset):                   # --dataset cifar10 for a Fashion-MNIST model
    raise cli.UsageError(f"--dataset {args.dataset}: a {spec['name']} generator is scored against the {dataset} "
                         f"test set; leave out --dataset (or give --dataset {dataset})")
classifier, c_meta = load_classifier(args.classifier)
if c_meta["dataset"] != dataset:
    raise cli.UsageError(f"the classifier was trained on {c_meta['dataset']}, but a {spec['name']} generator "
                         f"makes {dataset} images; pass a {dataset} classifier")
class_names = FASHION_MNIST_CLASSES if dataset == "fashion-mnist" else CIFAR10_CLASSES   # the judge's classes
trained_on = g_meta.get("dataset") or {}                            # absent in older checkpoints
if spec["name"] == "cgan":                                          # G's class k must be the judge's class k
    g_names = trained_on.get("class_names") or (class_names if spec.get("num_classes", 10) == 10 else None)
    g_class = judge_classes_of(g_names or [], class_names)
    if g_class is None:
        raise cli.UsageError(
            f"{args.checkpoint} is a cGAN of {spec.get('num_classes', 10)} classes "
            f"({', '.join(g_names) if g_names else 'names not recorded'}), but the judge knows the {len(class_names)} "
            f"{dataset} classes ({', '.join(class_names)}): its conditional accuracy would compare labels "
            "that mean different things. Score a cGAN trained on those classes (examples/sample.py shows this one)")
    if g_class != list(range(len(class_names))):
        print(f"note: G numbers the {dataset} classes otherwise (a folder's sorted names); asked in the judge's order")
        G = RelabeledGenerator(G, g_class)
elif trained_on.get("source") == "folder":
    print(f"note: G was trained on the images in {trained_on.get('folder')}; the scores compare it with the "
          f"{dataset} test set")
test_images, test_labels = load_split(dataset, "test", args.data_dir, fake, args.limit, args.seed)
print(f"generator: {spec} (epoch {g_meta.get('epoch', '?')}); classifier: {c_meta['architecture']} "
      f"(test accuracy {c_meta.get('test_accuracy', float('nan')):.4f}); backend {backend.get_backend()}")

# --- score ---------------------------------------------------------------------------------------------
result = evaluate_generator(G, spec, classifier, test_images, test_labels, n=args.n,
                            batch_size=args.batch_size, seed=args.seed)
print("\n".join(report_lines(result, class_names)))

# --- save ----------------------------------------------------------------------------------------------
record = {"checkpoint": args.checkpoint, "classifier": args.classifier, "dataset": dataset, "model": spec,
          "epoch": g_meta.get("epoch"), "iteration": g_meta.get("iteration"),
          "classifier_meta": {k: c_meta.get(k) for k in ("architecture", "test_accuracy", "epochs")},
          "fake_real_test_set": fake, "seed": args.seed, "backend": backend.get_backend(),
          "seconds": round(time.perf_counter() - start, 2), "note": FCD_NOTE, **result}
with open(out, "w") as f:
    json.dump(record, f, indent=1)
print(f"wrote {out}")
