"""DCGAN for CIFAR-10 (32x32x3), as in the seed's DCGAN section (Radford et al., 2016), and its 64x64 form.

Reading order: models/gan -> **models/dcgan** -> models/cgan -> training.

The DCGAN guidelines, and where each one shows up below:
  1. no pooling: strided convolutions downsample in D, transposed convolutions upsample in G;
  2. BatchNorm in both networks, except G's output layer and D's input layer;
  3. no fully connected hidden layers (only G's projection of z and D's final logit);
  4. ReLU in G (tanh on the output), LeakyReLU(0.2) in D;
  5. weights initialised from N(0, 0.02); Adam with lr 2e-4, beta1 0.5 (training.py).

Default kernel 4, stride 2, padding 1: (H - 1)*2 - 2 + 4 = 2H, an exact doubling where every output
pixel receives the same number of kernel taps (k divisible by s: no checkerboard). ``kernel_size=5``
(padding 2, output_padding 1) reproduces the Keras model of the book ("same" padding): 5 is not
divisible by 2, see tools.shapes.explain_conv_transpose(2, 5, 2, 2, 1, target=4).

``image_size=64`` builds the 64x64 networks of Radford et al. exactly as the PyTorch DCGAN example
writes them (``examples/dcgan/main.py``, ngf = ndf = 64): one more block in each network. G starts
with a 4x4 transposed convolution of z seen as a 1x1 image, (N, latent_dim, 1, 1) -> (N, 512, 4, 4)
(the same maths as a Linear layer, written as PyTorch writes it), then the four doubling blocks run
4 -> 8 -> 16 -> 32 -> 64. D ends with a 4x4 convolution without padding, (N, 512, 4, 4) -> (N, 1, 1, 1),
instead of Flatten + Linear. As in PyTorch's example, these networks have no conv biases (each is
followed by BatchNorm, which removes a bias, or is the last layer of D): so their parameter counts and
shapes are those of PyTorch's netG / netD, layer by layer.

``Discriminator(norm="layer")`` is the critic of WGAN-GP (penalties.py): LayerNorm over each sample's
(C, H, W) in place of BatchNorm, because the gradient penalty is a per-sample gradient, and batch
statistics would make every sample's output depend on the whole batch (Gulrajani et al., 2017, 4).
"""

from minigan import nn
from minigan.nn import init


IMAGE_SIZES = (32, 64)


def _check_image_size(image_size):
    if image_size not in IMAGE_SIZES:
        raise ValueError(f"DCGAN: image_size must be 32 (CIFAR-10) or 64 (Radford et al.'s 64x64 model), "
                         f"got {image_size!r}; resize your images to one of them (--image-size)")


def _conv_args(kernel_size):
    if kernel_size == 4:
        return dict(kernel_size=4, stride=2, padding=1), 0
    if kernel_size == 5:
        return dict(kernel_size=5, stride=2, padding=2), 1
    raise ValueError(f"DCGAN: kernel_size must be 4 or 5, got {kernel_size}")


def dcgan_init_(module):
    """The DCGAN init: conv / linear weights ~ N(0, 0.02), BatchNorm gamma ~ N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            init.normal_(m.weight, 1.0, 0.02)
            init.zeros_(m.bias)
    return module


class Generator(nn.Module):
    def __init__(self, latent_dim=128, kernel_size=4, image_size=32):
        _check_image_size(image_size)
        self.latent_dim, self.kernel_size, self.image_size = latent_dim, kernel_size, image_size
        conv, op = _conv_args(kernel_size)
        if image_size == 32:
            self.net = nn.Sequential(
                nn.Linear(latent_dim, 512 * 2 * 2),                      # (N, 2048): project z
                nn.Reshape(512, 2, 2),                                   # (N, 512, 2, 2)
                nn.BatchNorm2d(512), nn.ReLU(),
                nn.ConvTranspose2d(512, 256, output_padding=op, **conv), # (N, 256, 4, 4)
                nn.BatchNorm2d(256), nn.ReLU(),
                nn.ConvTranspose2d(256, 128, output_padding=op, **conv), # (N, 128, 8, 8)
                nn.BatchNorm2d(128), nn.ReLU(),
                nn.ConvTranspose2d(128, 64, output_padding=op, **conv),  # (N, 64, 16, 16)
                nn.BatchNorm2d(64), nn.ReLU(),
                nn.ConvTranspose2d(64, 3, output_padding=op, **conv),    # (N, 3, 32, 32)
                nn.Tanh(),                                               # images in [-1, 1]
            )
        else:  # 64: the PyTorch DCGAN example's netG, no biases
            self.net = nn.Sequential(
                nn.Reshape(latent_dim, 1, 1),                            # (N, latent_dim, 1, 1): z as a 1x1 image
                nn.ConvTranspose2d(latent_dim, 512, 4, stride=1, padding=0, bias=False),   # (N, 512, 4, 4)
                nn.BatchNorm2d(512), nn.ReLU(),
                nn.ConvTranspose2d(512, 256, output_padding=op, bias=False, **conv),  # (N, 256, 8, 8)
                nn.BatchNorm2d(256), nn.ReLU(),
                nn.ConvTranspose2d(256, 128, output_padding=op, bias=False, **conv),  # (N, 128, 16, 16)
                nn.BatchNorm2d(128), nn.ReLU(),
                nn.ConvTranspose2d(128, 64, output_padding=op, bias=False, **conv),   # (N, 64, 32, 32)
                nn.BatchNorm2d(64), nn.ReLU(),
                nn.ConvTranspose2d(64, 3, output_padding=op, bias=False, **conv),     # (N, 3, 64, 64)
                nn.Tanh(),                                               # images in [-1, 1]
            )
        dcgan_init_(self)

    def forward(self, z):                                            # z: (N, latent_dim)
        return self.net.forward(z)                                   # = self.net(z), one frame less


def _norm(kind, channels, size):
    """BatchNorm2d over the batch, or LayerNorm over one sample's (C, H, W): the WGAN-GP critic's."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "layer":
        return nn.LayerNorm((channels, size, size))
    raise ValueError(f"DCGAN Discriminator: norm must be 'batch' or 'layer', got {kind!r}")


class Discriminator(nn.Module):
    def __init__(self, kernel_size=4, image_size=32, norm="batch"):
        _check_image_size(image_size)
        self.kernel_size, self.image_size, self.norm = kernel_size, image_size, norm
        conv, _ = _conv_args(kernel_size)
        if image_size == 32:
            self.net = nn.Sequential(
                nn.Conv2d(3, 64, **conv), nn.LeakyReLU(0.2),             # (N, 64, 16, 16), no norm on the input
                nn.Conv2d(64, 128, **conv), _norm(norm, 128, 8), nn.LeakyReLU(0.2),   # (N, 128, 8, 8)
                nn.Conv2d(128, 256, **conv), _norm(norm, 256, 4), nn.LeakyReLU(0.2),  # (N, 256, 4, 4)
                nn.Conv2d(256, 512, **conv), _norm(norm, 512, 2), nn.LeakyReLU(0.2),  # (N, 512, 2, 2)
                nn.Flatten(),                                            # (N, 2048)
                nn.Linear(512 * 2 * 2, 1),                               # (N, 1) logit
            )
        else:  # 64: the PyTorch DCGAN example's netD without its final sigmoid (the loss takes logits)
            self.net = nn.Sequential(
                nn.Conv2d(3, 64, bias=False, **conv), nn.LeakyReLU(0.2),  # (N, 64, 32, 32), no norm on the input
                nn.Conv2d(64, 128, bias=False, **conv), _norm(norm, 128, 16), nn.LeakyReLU(0.2),   # (N, 128, 16, 16)
                nn.Conv2d(128, 256, bias=False, **conv), _norm(norm, 256, 8), nn.LeakyReLU(0.2),   # (N, 256, 8, 8)
                nn.Conv2d(256, 512, bias=False, **conv), _norm(norm, 512, 4), nn.LeakyReLU(0.2),   # (N, 512, 4, 4)
                nn.Conv2d(512, 1, 4, stride=1, padding=0, bias=False),   # (N, 1, 1, 1)
                nn.Flatten(),                                            # (N, 1) logit
            )
        dcgan_init_(self)

    def forward(self, x):                                            # x: (N, 3, 32, 32) or (N, 3, 64, 64)
        return self.net.forward(x)                                   # = self.net(x), one frame less
