"""Train the conditional GAN of the seed on Fashion-MNIST: ask for a class, get an item of that class.

    python examples/cgan_fashion_mnist.py --epochs 10
    python examples/cgan_fashion_mnist.py --dataset fake --epochs 1 --limit 256   # offline smoke test
    python examples/cgan_fashion_mnist.py --dataset folder --data-dir DIR   # DIR/<class>/*.png, as 28x28 gray
    python examples/cgan_fashion_mnist.py --loss wgan-gp   # WGAN-GP, conditioned on the labels

Sample grids have one row per class (T-shirt/top, Trouser, ..., Ankle boot).
"""

from minigan.run import cli
from minigan.models import build
from minigan.training import TrainConfig
from minigan.run.trainer import train

cli.report_user_errors()  # a user mistake ends in one paragraph on stderr, not a traceback (minigan/run/cli.py)

# --- arguments ---------------------------------------------------------------------------------------
parser = cli.training_parser(__doc__.splitlines()[0], epochs=10, batch_size=128, out="runs/cgan_fashion_mnist",
                             losses=True, dataset="fashion-mnist")
parser.add_argument("--latent-dim", type=cli.positive_int, default=100, help="size of the noise vector z")
parser.add_argument("--d-norm", choices=["none", "layer"], default="none",
                    help="D's normalisation (it has none; layer: LayerNorm after its second convolution)")
args = parser.parse_args()
cli.check_options(args)  # before any work: contradicting options, --out that cannot take the run
cli.setup_backend(args)
dist = cli.setup_distributed(args)  # None unless --distributed (under mpiexec -n W)
losses = cli.loss_options(args)  # lr, betas, d_steps: WGAN-GP's defaults with --loss wgan-gp

# --- data: Fashion-MNIST as float images (N, 1, 28, 28) in [-1, 1], labels 0..9 -------------------------
images, labels, dataset = cli.load_training_set("fashion-mnist", args, conditional=True)
num_classes = len(dataset["class_names"])  # 10, or one per sub-folder of --dataset folder

# --- models --------------------------------------------------------------------------------------------
spec = {"name": "cgan", "latent_dim": args.latent_dim, "num_classes": num_classes}
if args.d_norm != "none":
    spec["d_norm"] = args.d_norm
G, D = build(spec)
print(f"G: {G.num_parameters():,} parameters, D: {D.num_parameters():,} parameters")

# --- training ------------------------------------------------------------------------------------------
config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                     sample_every=args.sample_every, latent_dim=args.latent_dim, conditional=True,
                     num_classes=num_classes,
                     real_label=args.real_label, progress=not args.no_progress, **losses)
evaluate = cli.epoch_evaluator(args, "fashion-mnist", spec)  # None unless --classifier is given
train(G, D, images, labels, config, args.out, spec, resume=args.resume, evaluate=evaluate,
      evaluate_every=args.eval_every, overwrite=args.overwrite,
      distributed=dist, dataset=dataset, keep_every=args.keep_every)
