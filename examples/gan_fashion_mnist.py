"""Train the plain (fully connected) GAN of the seed on Fashion-MNIST.

    python examples/gan_fashion_mnist.py --epochs 20
    python examples/gan_fashion_mnist.py --dataset fake --epochs 1 --limit 256   # offline smoke test
    python examples/gan_fashion_mnist.py --dataset folder --data-dir DIR   # your images, as 28x28 grayscale
    python examples/gan_fashion_mnist.py --loss wgan-gp --r1 1   # gradient penalties (docs/dcgan.md)
"""

from minigan.run import cli
from minigan.models import build
from minigan.training import TrainConfig
from minigan.run.trainer import train

cli.report_user_errors()  # a user mistake ends in one paragraph on stderr, not a traceback (minigan/run/cli.py)

# --- arguments ---------------------------------------------------------------------------------------
parser = cli.training_parser(__doc__.splitlines()[0], epochs=20, batch_size=64, out="runs/gan_fashion_mnist",
                             losses=True, dataset="fashion-mnist")
parser.add_argument("--latent-dim", type=cli.positive_int, default=100, help="size of the noise vector z")
args = parser.parse_args()
cli.check_options(args)  # before any work: contradicting options, --out that cannot take the run
cli.setup_backend(args)
dist = cli.setup_distributed(args)  # None unless --distributed (under mpiexec -n W)
losses = cli.loss_options(args)  # lr, betas, d_steps: WGAN-GP's defaults with --loss wgan-gp

# --- data ----------------------------------------------------------------------------------------------
images, labels, dataset = cli.load_training_set("fashion-mnist", args)  # + what they are, for the checkpoint

# --- models --------------------------------------------------------------------------------------------
spec = {"name": "gan", "latent_dim": args.latent_dim}
G, D = build(spec)
print(f"G: {G.num_parameters():,} parameters, D: {D.num_parameters():,} parameters")

# --- training ------------------------------------------------------------------------------------------
config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                     sample_every=args.sample_every, latent_dim=args.latent_dim,
                     real_label=args.real_label, progress=not args.no_progress, **losses)
evaluate = cli.epoch_evaluator(args, "fashion-mnist", spec)  # None unless --classifier is given
train(G, D, images, labels, config, args.out, spec, resume=args.resume, evaluate=evaluate,
      evaluate_every=args.eval_every, overwrite=args.overwrite,
      distributed=dist, dataset=dataset, keep_every=args.keep_every)
