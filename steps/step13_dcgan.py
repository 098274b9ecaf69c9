"""Step 13 of 15: the seed's DCGAN at 32x32, generator and discriminator, and one real training iteration.

Adds:    BatchNorm (step 11) and tanh as layers, and the seed's DCGAN (Radford et al., 2016) as
         minigan/models/dcgan.py builds it, layer for layer: k=4, s=2, p=1, weights ~ N(0, 0.02), BatchNorm
         gamma ~ N(1, 0.02), biases 0. D goes forward and back on the real batch, then on the fakes (two
         BatchNorm statistics, as in the package). Then one iteration of step 7 with Adam(2e-4, betas
         (0.5, 0.999)) on a random batch standing in for CIFAR-10. The layers are step 12's: from here
         a step imports the one before it (as DeZero's steps import what they built, from step 23 on).
Run:     python steps/step13_dcgan.py
Package: minigan/models/dcgan.py (Generator, Discriminator), minigan/training.py (d_step, g_step)
Prints:
    G: 3,022,147 parameters, D: 2,760,385 (those of minigan.models.build({'name': 'dcgan'}))
    D step: loss_D 1.5612 (a D that cannot tell: 2 log 2 = 1.3863)
    G step: loss_G 2.4636 (log 2 = 0.6931)
    G(z): (8, 3, 32, 32), in [-1, 1]: True; D(G(z)): (8, 1)
    gradcheck: BatchNorm2d True, Tanh True
"""

import numpy as np

from step12_layers import (Conv2d, ConvTranspose2d, Layer, LeakyReLU, Linear, Reshape, backward, forward,
                          gradcheck, zero_grad)

class BatchNorm2d(Layer):                                             # step 11, training mode
    def __init__(self, rng, c):
        self.params = {"weight": rng.normal(1, 0.02, c), "bias": np.zeros(c)}   # gamma, beta
        self.running_mean, self.running_var = np.zeros(c), np.ones(c)
    def forward(self, x):
        m, mu, var = x.size // x.shape[1], x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        self.running_mean[...] = 0.9 * self.running_mean + 0.1 * mu
        self.running_var[...] = 0.9 * self.running_var + 0.1 * var * m / (m - 1)
        self.inv_std = 1 / np.sqrt(var + 1e-5)[:, None, None]         # (C, 1, 1)
        self.x_hat = (x - mu[:, None, None]) * self.inv_std
        return self.params["weight"][:, None, None] * self.x_hat + self.params["bias"][:, None, None]
    def backward(self, g):
        d, x_hat = g * self.params["weight"][:, None, None], self.x_hat
        self.grads["weight"] += (g * x_hat).sum(axis=(0, 2, 3))
        self.grads["bias"] += g.sum(axis=(0, 2, 3))
        dx = d - d.mean(axis=(0, 2, 3), keepdims=True)
        dx -= x_hat * (d * x_hat).mean(axis=(0, 2, 3), keepdims=True)
        return dx * self.inv_std

class Tanh(Layer):
    def forward(self, x):
        self.y = np.tanh(x)
        return self.y
    def backward(self, g): return g * (1 - self.y ** 2)

def generator(rng, latent_dim=128):                                   # z (N, 128) -> images (N, 3, 32, 32)
    net = [Linear(rng, latent_dim, 2048), Reshape(512, 2, 2), BatchNorm2d(rng, 512), LeakyReLU(0)]   # ReLU
    for c_in, c_out in [(512, 256), (256, 128), (128, 64)]:           # (N, 512, 2, 2) -> (N, 64, 16, 16)
        net += [ConvTranspose2d(rng, c_in, c_out), BatchNorm2d(rng, c_out), LeakyReLU(0)]
    return net + [ConvTranspose2d(rng, 64, 3), Tanh()]

def discriminator(rng):                                               # images (N, 3, 32, 32) -> logits (N, 1)
    net = [Conv2d(rng, 3, 64), LeakyReLU(0.2)]                        # (N, 64, 16, 16), no BatchNorm on the input
    for c_in, c_out in [(64, 128), (128, 256), (256, 512)]:           # -> (N, 512, 2, 2)
        net += [Conv2d(rng, c_in, c_out), BatchNorm2d(rng, c_out), LeakyReLU(0.2)]
    return net + [Reshape(2048), Linear(rng, 2048, 1)]

class Adam:                                                           # step 6, over the layers' named arrays
    def __init__(self, net, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        self.slots = [(layer, name) for layer in net for name in layer.params]
        self.m = [np.zeros_like(layer.params[name]) for layer, name in self.slots]   # first moments
        self.v = [np.zeros_like(m) for m in self.m]                   # second moments
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
    def step(self):
        self.t, (b1, b2) = self.t + 1, self.betas
        for (layer, name), m, v in zip(self.slots, self.m, self.v):
            g = layer.grads[name]
            m[...] = b1 * m + (1 - b1) * g
            v[...] = b2 * v + (1 - b2) * g ** 2
            layer.params[name] -= self.lr * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t)) + self.eps)

def bce_with_logits(z, t):                                            # step 5: (loss, dloss/dz)
    loss = (np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))).mean()
    return loss, (0.5 + 0.5 * np.tanh(z / 2) - t) / z.size

def d_step(G, D, opt_D, real, z):
    fake = forward(G, z)                                              # G's gradients are not needed here
    zero_grad(D)
    loss_real, g = bce_with_logits(forward(D, real), 1.0)
    backward(D, g)                                                    # before D's layers see the fakes
    loss_fake, g = bce_with_logits(forward(D, fake), 0.0)
    backward(D, g)                                                    # adds into the same .grads
    opt_D.step()
    return loss_real + loss_fake

def g_step(G, D, opt_G, z):
    zero_grad(G + D)                                                  # D's .grads fill too, and go unused
    loss, g = bce_with_logits(forward(D, forward(G, z)), 1.0)
    backward(G, backward(D, g))                                       # through D into G
    opt_G.step()
    return loss

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    G, D = generator(rng), discriminator(rng)
    opt_G, opt_D = Adam(G), Adam(D)
    real = rng.uniform(-1, 1, (8, 3, 32, 32))                         # a stand-in for 8 CIFAR-10 images
    sizes = [sum(p.size for layer in net for p in layer.params.values()) for net in (G, D)]
    print(f"G: {sizes[0]:,} parameters, D: {sizes[1]:,} (those of minigan.models.build({{'name': 'dcgan'}}))")
    print(f"D step: loss_D {d_step(G, D, opt_D, real, rng.standard_normal((8, 128))):.4f} "
          f"(a D that cannot tell: 2 log 2 = {2 * np.log(2):.4f})")
    print(f"G step: loss_G {g_step(G, D, opt_G, rng.standard_normal((8, 128))):.4f} (log 2 = {np.log(2):.4f})")
    images = forward(G, rng.standard_normal((8, 128)))
    print(f"G(z): {images.shape}, in [-1, 1]: {np.abs(images).max() <= 1}; D(G(z)): {forward(D, images).shape}")
    check = np.random.default_rng(1)                                  # step 12's check of the two new layers
    _, bn_ok = gradcheck([BatchNorm2d(check, 3)], check.standard_normal((4, 3, 5, 5)), check)
    print(f"gradcheck: BatchNorm2d {bn_ok}, Tanh {gradcheck([Tanh()], check.standard_normal((4, 3)), check)[1]}")
