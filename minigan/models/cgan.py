"""Conditional GAN for Fashion-MNIST (28x28x1), as in the seed's cGAN section (Mirza & Osindero, 2014).

Reading order: models/dcgan -> **models/cgan** -> training.

Both networks see the class label. The label goes through an Embedding (a learned 50-number vector per
class) and a Linear layer that shapes it like one extra image channel; that channel is concatenated
with the generator's 7x7 feature map or with the discriminator's input image. The generator must then
produce an image that the discriminator accepts *for that label*, so asking for label 7 gives a sneaker.

The discriminator has no normalisation layer; ``Discriminator(norm="layer")`` adds a LayerNorm over
each sample's (128, 7, 7) after its second convolution (an option for the WGAN-GP critic, whose
penalty allows per-sample normalisation only; see penalties.py).
"""

from minigan import nn
from minigan.nn import init
from minigan.ops.embedding import check_class_indices
from minigan.tensor import cat


def keras_init_(module):
    """Keras's default init, as in the seed's Keras model: Glorot-uniform weights, zero biases.

    Why not PyTorch's default (kaiming-uniform, a = sqrt(5))? Its weights are about half as large for
    these layers, and with them the generator's tanh output ran to -1 (an all-black image) within 20
    iterations on Fashion-MNIST, after which D won and G got no gradient (measured: docs/results.md).
    Embedding tables keep their N(0, 1) init (Keras uses U(-0.05, 0.05); both work).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init.xavier_uniform_(m.weight)
            if m.bias is not None:
                init.zeros_(m.bias)
    return module


class Generator(nn.Module):
    def __init__(self, latent_dim=100, num_classes=10):
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.label_path = nn.Sequential(
            nn.Embedding(num_classes, 50),                           # (N, 50)
            nn.Linear(50, 7 * 7),                                    # (N, 49)
            nn.Reshape(1, 7, 7),                                     # (N, 1, 7, 7)
        )
        self.noise_path = nn.Sequential(
            nn.Linear(latent_dim, 128 * 7 * 7), nn.LeakyReLU(0.2),   # (N, 6272)
            nn.Reshape(128, 7, 7),                                   # (N, 128, 7, 7)
        )
        self.net = nn.Sequential(
            nn.ConvTranspose2d(129, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),   # (N, 128, 14, 14)
            nn.ConvTranspose2d(128, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),   # (N, 128, 28, 28)
            nn.Conv2d(128, 1, 7, padding=3), nn.Tanh(),              # (N, 1, 28, 28) in [-1, 1]
        )
        keras_init_(self)

    def forward(self, z, labels):                                    # z: (N, latent_dim), labels: (N,) ints
        check_class_indices("cgan.Generator", labels, self.num_classes, batch=z)
        features = cat([self.noise_path(z), self.label_path(labels)], axis=1)   # (N, 129, 7, 7)
        return self.net(features)


class Discriminator(nn.Module):
    def __init__(self, num_classes=10, norm="none"):
        if norm not in ("none", "layer"):
            raise ValueError(f"cGAN Discriminator: norm must be 'none' or 'layer', got {norm!r}")
        self.num_classes, self.norm = num_classes, norm
        middle = [nn.LayerNorm((128, 7, 7))] if norm == "layer" else []                  # per sample
        self.label_path = nn.Sequential(
            nn.Embedding(num_classes, 50),                           # (N, 50)
            nn.Linear(50, 28 * 28),                                  # (N, 784)
            nn.Reshape(1, 28, 28),                                   # (N, 1, 28, 28)
        )
        self.net = nn.Sequential(
            nn.Conv2d(2, 128, 3, stride=2, padding=1), nn.LeakyReLU(0.2),     # (N, 128, 14, 14)
            nn.Conv2d(128, 128, 3, stride=2, padding=1), *middle, nn.LeakyReLU(0.2),   # (N, 128, 7, 7)
            nn.Flatten(),                                            # (N, 6272)
            nn.Dropout(0.4),
            nn.Linear(128 * 7 * 7, 1),                               # (N, 1) logit
        )
        keras_init_(self)

    def forward(self, x, labels):                                    # x: (N, 1, 28, 28), labels: (N,)
        check_class_indices("cgan.Discriminator", labels, self.num_classes, batch=x)
        return self.net(cat([x, self.label_path(labels)], axis=1))   # (N, 2, 28, 28) -> (N, 1)
