"""One training iteration of the DCGAN, the cGAN and WGAN-GP, built the same way on any backend.

Used by ``gpu_step_equality.py`` (the same iteration on NumPy and on CuPy, compared) and by
``count_launches.py`` (device launches and host reads of one iteration, counted on the CPU).

    setup(model, batch, backend_name, seed)   G, D, their Adams, a real batch (and labels), the config
    iteration(s)                              the trainer's D step(s) + G step; returns the log's numbers
    d_update(s), g_update(s)                  its two parts
    strict_backend()                          register the strict stand-in for CuPy (tests/strict_xp.py)

An iteration is what ``minigan/run/trainer.py`` runs per batch: ``config.d_steps`` D steps on the
same real batch (1 for the BCE GANs; 5 for WGAN-GP, the trainer's default there), then one G step,
through the trainer's own dispatch (``run.trainer.discriminator_update`` / ``generator_update``: ``training.d_step``/``g_step``,
``penalties.critic_step``/``wgan_g_step``) and its one read of the numbers (``read_numbers``). The weights are made on NumPy from ``seed`` and
copied to the backend (``Module.to``), so every backend starts from the same numbers.
"""

import sys
from dataclasses import dataclass

import numpy as np

import common

common.add_repo_to_path()

import minigan as mg                                                  # noqa: E402
from minigan import training                                          # noqa: E402
from minigan.ops.embedding import labels_checked_on_host                              # noqa: E402
from minigan.run.trainer import discriminator_update, generator_update, read_numbers   # noqa: E402
from minigan.models import build                                      # noqa: E402
from minigan.optim import Adam                                        # noqa: E402

MODELS = ("dcgan", "cgan", "wgan-gp")
SPECS = {"dcgan": {"name": "dcgan"}, "cgan": {"name": "cgan"},
         "wgan-gp": {"name": "dcgan", "d_norm": "layer"}}            # the WGAN-GP critic: layer norm
# Adam and n_critic per loss, as the examples' defaults (minigan/run/cli.py, LOSS_DEFAULTS)
OPTIM = {"bce": dict(lr=2e-4, beta1=0.5, beta2=0.999, d_steps=1),
         "wgan-gp": dict(lr=1e-4, beta1=0.0, beta2=0.9, d_steps=5)}


@dataclass
class Setup:
    model: str
    G: object
    D: object
    opt_G: Adam
    opt_D: Adam
    real: object                  # Tensor (N, C, H, W) on the backend
    labels: object                # Tensor (N,) of ints (cGAN) or None
    config: training.TrainConfig


def example_batch(model, batch, seed):
    """A 'real' batch (NumPy) in [-1, 1] and labels 0..9, the same for every backend."""
    rng = np.random.default_rng(seed)
    shape = (batch, 1, 28, 28) if model == "cgan" else (batch, 3, 32, 32)
    return rng.uniform(-1, 1, shape).astype(np.float32), rng.integers(0, 10, batch)


def setup(model, batch, backend_name, seed=0, d_steps=None, dtype=np.float32):
    """Everything one iteration of ``model`` needs, on ``backend_name``, from ``seed``. ``dtype=np.float64``:
    the same weights and batch in float64 (gpu_step_equality.py's exact reference)."""
    loss = "wgan-gp" if model == "wgan-gp" else "bce"
    optim = dict(OPTIM[loss], **({} if d_steps is None else {"d_steps": d_steps}))
    mg.set_backend("numpy")
    mg.manual_seed(seed)
    G, D = build(SPECS[model])                                       # the weights, made on NumPy
    for module in (G, D):
        module.to(dtype)
        module.to(backend_name)
    mg.set_backend(backend_name)
    mg.manual_seed(seed)
    config = training.TrainConfig(batch_size=batch, latent_dim=G.latent_dim, conditional=(model == "cgan"),
                                  loss=loss, progress=False, **optim)
    betas = (config.beta1, config.beta2)
    opt_G, opt_D = Adam(G.parameters(), config.lr, betas), Adam(D.parameters(), config.lr, betas)
    images, labels = example_batch(model, batch, seed)
    real = mg.tensor(images.astype(dtype), dtype=dtype)              # host -> device, once
    y = mg.tensor(labels) if model == "cgan" else None
    return Setup(model, G, D, opt_G, opt_D, real, y, config)


def iteration(s):
    """The trainer's iteration: ``d_steps`` D steps, one G step, then its one read of the log's numbers
    (the labels, checked on the host when the run starts, are not range-checked again on the device)."""
    with labels_checked_on_host():
        for _ in range(s.config.d_steps):
            stats = d_update(s)
        loss_G = g_update(s)
    return read_numbers({**stats, "loss_G": loss_G})


def d_update(s):
    """One D (critic) step, as the trainer runs it. Returns the log's numbers (0-d Tensors)."""
    return discriminator_update(s.G, s.D, s.opt_D, s.real, s.labels, s.config)


def g_update(s):
    """One G step, as the trainer runs it. Returns loss_G (a 0-d Tensor)."""
    return generator_update(s.G, s.D, s.opt_G, s.real.shape[0], s.labels, s.config)


def strict_backend():
    """Register the test suite's strict stand-in for CuPy as the backend "strict"; returns its module."""
    tests = str(common.REPO_ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    import strict_xp

    if not mg.backend.is_registered("strict"):
        mg.backend.register_backend("strict", strict_xp.STRICT_MODULE, strict_xp.StrictArray, strict_xp.to_numpy)
    return strict_xp
