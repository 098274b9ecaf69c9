"""The plain GAN of the seed: two fully connected networks on flattened 28x28 Fashion-MNIST images.

Reading order: optim -> **models/gan** -> models/dcgan -> models/cgan -> training.

Seed, section "Generator" / "Discriminator" (mạng sinh / mạng phân biệt): the generator maps noise z to
an image, the discriminator maps an image to one logit ("real" if large). LeakyReLU(0.2) in both, tanh
on the generator's output so images live in [-1, 1] like the data (see data.to_float_images), and
Dropout(0.3) in the discriminator so it does not simply memorise the training set.
"""

from minigan import nn


class Generator(nn.Module):
    def __init__(self, latent_dim=100, image_shape=(1, 28, 28)):
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        pixels = 1
        for n in self.image_shape:
            pixels *= n
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.LeakyReLU(0.2),           # (N, 256)
            nn.Linear(256, 512), nn.LeakyReLU(0.2),                  # (N, 512)
            nn.Linear(512, 1024), nn.LeakyReLU(0.2),                 # (N, 1024)
            nn.Linear(1024, pixels), nn.Tanh(),                      # (N, 784) in [-1, 1]
            nn.Reshape(*self.image_shape),                           # (N, 1, 28, 28)
        )

    def forward(self, z):                                            # z: (N, latent_dim)
        return self.net.forward(z)                                   # = self.net(z), one frame less


class Discriminator(nn.Module):
    def __init__(self, image_shape=(1, 28, 28)):
        pixels = 1
        for n in image_shape:
            pixels *= n
        self.net = nn.Sequential(
            nn.Flatten(),                                            # (N, 784)
            nn.Linear(pixels, 1024), nn.LeakyReLU(0.2), nn.Dropout(0.3),   # (N, 1024)
            nn.Linear(1024, 512), nn.LeakyReLU(0.2), nn.Dropout(0.3),      # (N, 512)
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Dropout(0.3),       # (N, 256)
            nn.Linear(256, 1),                                       # (N, 1) logit
        )

    def forward(self, x):                                            # x: (N, 1, 28, 28)
        return self.net.forward(x)                                   # = self.net(x), one frame less
