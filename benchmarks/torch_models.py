"""minigan's DCGAN and cGAN, and its D step / G step, written in PyTorch: the benchmarks' reference.

Everything here mirrors a file of the package, layer for layer, so that a timing difference is a
difference between the frameworks and not between the networks:

    minigan/models/gan.py     ->  GANGenerator, GANDiscriminator (PyTorch's default init = minigan's)
    minigan/models/dcgan.py   ->  DCGANGenerator, DCGANDiscriminator, dcgan_init_
    minigan/models/cgan.py    ->  CGANGenerator, CGANDiscriminator (PyTorch's default init = minigan's)
    minigan/training.py       ->  d_step, g_step (D's parameters requires_grad=False during the G step)

The Sequential indices are the same as minigan's (Reshape is a layer in both), so the parameter and
buffer names are the same too ("net.0.weight", "net.2.running_mean", ...). ``copy_minigan_state``
uses that to load minigan's weights into the PyTorch networks, and ``python benchmarks/torch_models.py``
checks that both frameworks then compute the same outputs and gradients.

Only the benchmarks import this file; the minigan package never imports torch.
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class Reshape(nn.Module):
    """Reshape each sample, as minigan.nn.Reshape: Reshape(512, 2, 2) maps (N, 2048) -> (N, 512, 2, 2)."""

    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape((x.shape[0],) + self.shape)


# ----------------------------------------------------------------------------------------------------
# Plain GAN (minigan/models/gan.py): fully connected, on flattened 28x28 images
# ----------------------------------------------------------------------------------------------------
class GANGenerator(nn.Module):
    def __init__(self, latent_dim=100):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.LeakyReLU(0.2),           # (N, 256)
            nn.Linear(256, 512), nn.LeakyReLU(0.2),                  # (N, 512)
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),                 # (N, 1024)
            nn.Linear(1024, 28 * 28), nn.Tanh(),                     # (N, 784) in [-1, 1]
            Reshape(1, 28, 28),                                      # (N, 1, 28, 28)
        )

    def forward(self, z):
        return self.net(z)


class GANDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),                                            # (N, 784)
            nn.Linear(28 * 28, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),  # (N, 1024)
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),      # (N, 512)
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),       # (N, 256)
            nn.Linear(256, 1),                                       # (N, 1) logit
        )

    def forward(self, x):
        return self.net(x)


# ----------------------------------------------------------------------------------------------------
# DCGAN (minigan/models/dcgan.py)
# ----------------------------------------------------------------------------------------------------
def _conv_args(kernel_size):
    if kernel_size == 4:
        return dict(kernel_size=4, stride=2, padding=1), 0
    if kernel_size == 5:
        return dict(kernel_size=5, stride=2, padding=2), 1
    raise ValueError(f"DCGAN: kernel_size must be 4 or 5, got {kernel_size}")


def dcgan_init_(module):
    """conv / linear weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02), biases 0 (as minigan)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class DCGANGenerator(nn.Module):
    def __init__(self, latent_dim=128, kernel_size=4):
        super().__init__()
        self.latent_dim = latent_dim
        conv, op = _conv_args(kernel_size)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 512 * 2 * 2),                      # (N, 2048)
            Reshape(512, 2, 2),                                      # (N, 512, 2, 2)
            nn.BatchNorm2d(512), nn.ReLU(),
            nn.ConvTranspose2d(512, 256, output_padding=op, **conv), # (N, 256, 4, 4)
            nn.BatchNorm2d(256), nn.ReLU(),
            nn.ConvTranspose2d(256, 128, output_padding=op, **conv), # (N, 128, 8, 8)
            nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, output_padding=op, **conv),  # (N, 64, 16, 16)
            nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 3, output_padding=op, **conv),    # (N, 3, 32, 32)
            nn.Tanh(),
        )
        dcgan_init_(self)

    def forward(self, z):
        return self.net(z)


class DCGANDiscriminator(nn.Module):
    def __init__(self, kernel_size=4):
        super().__init__()
        conv, _ = _conv_args(kernel_size)
        self.net = nn.Sequential(
            nn.Conv2d(3, 64, **conv), nn.LeakyReLU(0.2),             # (N, 64, 16, 16)
            nn.Conv2d(64, 128, **conv), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),   # (N, 128, 8, 8)
            nn.Conv2d(128, 256, **conv), nn.BatchNorm2d(256), nn.LeakyReLU(0.2),  # (N, 256, 4, 4)
            nn.Conv2d(256, 512, **conv), nn.BatchNorm2d(512), nn.LeakyReLU(0.2),  # (N, 512, 2, 2)
            nn.Flatten(),                                            # (N, 2048)
            nn.Linear(512 * 2 * 2, 1),                               # (N, 1) logit
        )
        dcgan_init_(self)

    def forward(self, x):
        return self.net(x)


# ----------------------------------------------------------------------------------------------------
# cGAN (minigan/models/cgan.py); PyTorch's default init is the one minigan's layers use
# ----------------------------------------------------------------------------------------------------
class CGANGenerator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.label_path = nn.Sequential(
            nn.Embedding(num_classes, 50), nn.Linear(50, 7 * 7), Reshape(1, 7, 7),        # (N, 1, 7, 7)
        )
        self.noise_path = nn.Sequential(
            nn.Linear(latent_dim, 128 * 7 * 7), nn.LeakyReLU(0.2), Reshape(128, 7, 7),   # (N, 128, 7, 7)
        )
        self.net = nn.Sequential(
            nn.ConvTranspose2d(129, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),    # (N, 128, 14, 14)
            nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),    # (N, 128, 28, 28)
            nn.Conv2d(128, 1, 7, padding=3), nn.Tanh(),                                 # (N, 1, 28, 28)
        )

    def forward(self, z, labels):
        features = torch.cat([self.noise_path(z), self.label_path(labels)], dim=1)     # (N, 129, 7, 7)
        return self.net(features)


class CGANDiscriminator(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.label_path = nn.Sequential(
            nn.Embedding(num_classes, 50), nn.Linear(50, 28 * 28), Reshape(1, 28, 28),    # (N, 1, 28, 28)
        )
        self.net = nn.Sequential(
            nn.Conv2d(2, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.2),     # (N, 128, 14, 14)
            nn.Conv2d(128, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.2),   # (N, 128, 7, 7)
            nn.Flatten(),
            nn.Dropout(0.4),
            nn.Linear(128 * 7 * 7, 1),                               # (N, 1) logit
        )

    def forward(self, x, labels):
        return self.net(torch.cat([x, self.label_path(labels)], dim=1))


def build(model, latent_dim=None):
    """(G, D) for "gan", "dcgan" or "cgan", with minigan's default latent sizes (100, 128, 100)."""
    if model == "gan":
        return GANGenerator(latent_dim or 100), GANDiscriminator()
    if model == "dcgan":
        return DCGANGenerator(latent_dim or 128), DCGANDiscriminator()
    if model == "cgan":
        return CGANGenerator(latent_dim or 100), CGANDiscriminator()
    raise ValueError(f"unknown model {model!r}; expected 'gan', 'dcgan' or 'cgan'")


# ----------------------------------------------------------------------------------------------------
# The two steps (minigan/training.py: d_step, g_step)
# ----------------------------------------------------------------------------------------------------
def d_step(G, D, opt_D, real, labels, latent_dim, real_label=1.0):
    """One discriminator update. Returns (loss_D, D(x), D(G(z))) as Python floats, as minigan does."""
    n = real.shape[0]
    z = torch.randn(n, latent_dim, device=real.device)
    cond = (labels,) if labels is not None else ()
    with torch.no_grad():
        fake = G(z, *cond)                                           # no graph into G
    logits_real = D(real, *cond)
    logits_fake = D(fake, *cond)
    ones = torch.ones(n, 1, device=real.device)
    loss = (F.binary_cross_entropy_with_logits(logits_real, ones * real_label)
            + F.binary_cross_entropy_with_logits(logits_fake, torch.zeros(n, 1, device=real.device)))
    opt_D.zero_grad()
    loss.backward()
    opt_D.step()
    return (loss.item(), torch.sigmoid(logits_real).mean().item(),
            torch.sigmoid(logits_fake).mean().item())


def g_step(G, D, opt_G, n, labels, latent_dim, device):
    """One generator update, non-saturating loss; D's parameters get no gradient."""
    z = torch.randn(n, latent_dim, device=device)
    cond = (labels,) if labels is not None else ()
    D.requires_grad_(False)                                          # gradients flow through D, not into it
    loss = F.binary_cross_entropy_with_logits(D(G(z, *cond), *cond), torch.ones(n, 1, device=device))
    opt_G.zero_grad()
    loss.backward()
    opt_G.step()
    D.requires_grad_(True)
    return loss.item()


def adam(params, lr=2e-4, betas=(0.5, 0.999)):
    return torch.optim.Adam(params, lr=lr, betas=betas)


# ----------------------------------------------------------------------------------------------------
# Checks: same weights in, same numbers out; FLOPs of one iteration
# ----------------------------------------------------------------------------------------------------
def copy_minigan_state(module, state):
    """Load a minigan state_dict ({name: numpy array}) into the mirrored PyTorch module.

    Every PyTorch parameter and buffer (except BatchNorm's num_batches_tracked) must have a minigan
    array of the same name and shape: that is the check that the two networks are the same.
    """
    own = {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}
    if set(own) != set(state):
        raise ValueError(f"names differ: only PyTorch {sorted(set(own) - set(state))}, "
                         f"only minigan {sorted(set(state) - set(own))}")
    with torch.no_grad():
        for name, t in own.items():
            if tuple(t.shape) != tuple(state[name].shape):
                raise ValueError(f"{name}: PyTorch {tuple(t.shape)}, minigan {tuple(state[name].shape)}")
            t.copy_(torch.from_numpy(state[name].copy()))


def count_flops(model="dcgan", batch=64):
    """FLOPs of one training iteration (D step + G step) by PyTorch's own counter (matmuls and convs)."""
    from torch.utils.flop_counter import FlopCounterMode

    G, D = build(model)
    opt_G, opt_D = adam(G.parameters()), adam(D.parameters())
    real, labels = example_batch(model, batch, "cpu")
    counter = FlopCounterMode(display=False)
    with counter:
        d_step(G, D, opt_D, real, labels, G.latent_dim)
        g_step(G, D, opt_G, batch, labels, G.latent_dim, "cpu")
    return counter.get_total_flops()


def example_batch(model, batch, device, seed=0):
    """A random 'real' batch (and labels for the cGAN) of the model's image shape, in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, 3, 32, 32) if model == "dcgan" else (batch, 1, 28, 28)
    real = (torch.rand(shape, generator=gen) * 2 - 1).to(device)
    labels = torch.randint(0, 10, (batch,), generator=gen).to(device) if model == "cgan" else None
    return real, labels


def verify_against_minigan(model="dcgan", batch=4, atol=2e-4):
    """Build both frameworks' networks with the same weights; compare outputs and input gradients."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np

    import minigan as mg
    from minigan.models import build as mg_build

    mg.set_backend("numpy")
    mg.manual_seed(0)
    spec = {"name": model}
    G_mg, D_mg = mg_build(spec)
    G_t, D_t = build(model)
    copy_minigan_state(G_t, G_mg.state_dict())
    copy_minigan_state(D_t, D_mg.state_dict())
    D_mg.eval(), D_t.eval()                                          # no dropout: deterministic
    rng = np.random.default_rng(0)
    z = rng.standard_normal((batch, G_t.latent_dim)).astype(np.float32)
    labels = rng.integers(0, 10, batch) if model == "cgan" else None
    cond_mg = (mg.tensor(labels),) if labels is not None else ()
    cond_t = (torch.from_numpy(labels),) if labels is not None else ()

    z_mg = mg.tensor(z, requires_grad=True)
    logit_mg = D_mg(G_mg(z_mg, *cond_mg), *cond_mg)
    logit_mg.backward(np.ones_like(logit_mg.data))
    z_t = torch.from_numpy(z).requires_grad_(True)
    logit_t = D_t(G_t(z_t, *cond_t), *cond_t)
    logit_t.backward(torch.ones_like(logit_t))

    out_err = float(np.abs(logit_mg.numpy() - logit_t.detach().numpy()).max())
    grad_err = float(np.abs(z_mg.grad - z_t.grad.numpy()).max()) / max(float(np.abs(z_t.grad.numpy()).max()), 1e-12)
    ok = out_err < atol and grad_err < 1e-3
    print(f"{model}: max |logit difference| {out_err:.2e}, relative dL/dz difference {grad_err:.2e} "
          f"-> {'same network' if ok else 'MISMATCH'}")
    return ok


if __name__ == "__main__":
    ok = verify_against_minigan("dcgan") & verify_against_minigan("cgan")
    for m in ("dcgan", "cgan"):
        print(f"{m}: {count_flops(m, 64) / 1e9:.2f} GFLOP per iteration at batch 64 (PyTorch's counter)")
    sys.exit(0 if ok else 1)
