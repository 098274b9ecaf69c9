"""Train the DCGAN of the seed on CIFAR-10 — minigan's main job.

    python examples/dcgan_cifar.py                       # NumPy on the CPU
    python examples/dcgan_cifar.py --backend cupy        # CuPy on an NVIDIA GPU
    python examples/dcgan_cifar.py --dataset fake --epochs 1 --limit 256   # a smoke test, offline
    mpiexec -n 2 python examples/dcgan_cifar.py --distributed   # 2 processes, half a batch each
    python examples/dcgan_cifar.py --dataset folder --data-dir my_images/ --image-size 64   # your own images
    python examples/dcgan_cifar.py --loss wgan-gp        # WGAN-GP: layer-norm critic, gradient penalty
    python examples/dcgan_cifar.py --r1 10               # BCE plus the R1 penalty on real images

Writes OUT/checkpoint.npz (the latest; --resume continues from it), OUT/log.jsonl,
OUT/samples_epochNNN.png and OUT/curves.png; with --keep-every N also OUT/generator_epochNNN.npz, the
generator of every N-th epoch. Ctrl-C saves a checkpoint and stops.
"""

from minigan.run import cli
from minigan.models import build
from minigan.training import TrainConfig
from minigan.run.trainer import train

cli.report_user_errors()  # a user mistake ends in one paragraph on stderr, not a traceback (minigan/run/cli.py)

# --- arguments ---------------------------------------------------------------------------------------
parser = cli.training_parser(__doc__.splitlines()[0], epochs=5, batch_size=128, out="runs/dcgan_cifar", losses=True,
                             dataset="cifar10")
parser.add_argument("--kernel-size", type=int, choices=[4, 5], default=4,
                    help="4: stride-2 doubling with even overlap; 5: the Keras model of the book")
parser.add_argument("--latent-dim", type=cli.positive_int, default=128, help="size of the noise vector z")
parser.add_argument("--image-size", type=int, choices=[32, 64], default=32,
                    help="64: the 64x64 DCGAN of Radford et al. (with --dataset folder or fake)")
parser.add_argument("--d-norm", choices=["batch", "layer"], default=None,
                    help="D's normalisation (default: batch; layer with --loss wgan-gp)")
args = parser.parse_args()
cli.check_options(args)  # before any work: contradicting options, --out that cannot take the run
cli.setup_backend(args)
dist = cli.setup_distributed(args)  # None unless --distributed (under mpiexec -n W)
losses = cli.loss_options(args)  # lr, betas, d_steps: WGAN-GP's defaults with --loss wgan-gp

# --- data: CIFAR-10 (or your folder) as float images (N, 3, S, S) in [-1, 1], S = --image-size ----------
images, labels, dataset = cli.load_training_set("cifar10", args, image_size=args.image_size)  # + what they are

# --- models --------------------------------------------------------------------------------------------
spec = {"name": "dcgan", "latent_dim": args.latent_dim, "kernel_size": args.kernel_size}
if args.image_size != 32:
    spec["image_size"] = args.image_size  # absent means 32, as in checkpoints written before 64 existed
d_norm = args.d_norm or ("layer" if args.loss == "wgan-gp" else "batch")   # a WGAN-GP critic: no batch norm
if d_norm != "batch":
    spec["d_norm"] = d_norm
G, D = build(spec)
print(f"G: {G.num_parameters():,} parameters, D: {D.num_parameters():,} parameters")

# --- training: D step, G step, log, sample, checkpoint (minigan/training.py) ---------------------------
config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                     sample_every=args.sample_every, latent_dim=args.latent_dim,
                     real_label=args.real_label, progress=not args.no_progress, **losses)
evaluate = cli.epoch_evaluator(args, "cifar10", spec)  # None unless --classifier is given
train(G, D, images, labels, config, args.out, spec, resume=args.resume, evaluate=evaluate,
      evaluate_every=args.eval_every, overwrite=args.overwrite,
      distributed=dist, dataset=dataset, keep_every=args.keep_every)
