"""Step 12 of 15: layers. The ops of steps 5-10 as objects that hold their parameters; a network is a list.

Adds:    A layer holds its parameters in .params (the package's names), keeps what its backward needs, and
         adds its parameter gradients into .grads (step 3's +=). A DCGAN is a chain, so the graph is a list:
         forward in order, backward in reverse. DCGAN's convolutions (k=4, s=2, p=1): im2col as a strided
         view and einsums; the transposed one by Kiểu 2 (step 10); each one's input gradient is the other.
         Step 4's check (a random direction, a random upstream gradient) for every layer, then the list.
Run:     python steps/step12_layers.py
Package: minigan/nn/layers.py (Linear, Conv2d, ConvTranspose2d, LeakyReLU, Reshape), minigan/nn/module.py
Prints:
    Linear           (4, 16) -> (4, 32)              gradcheck True
    Reshape          (4, 32) -> (4, 8, 2, 2)         gradcheck True
    ConvTranspose2d  (4, 8, 2, 2) -> (4, 4, 4, 4)    gradcheck True
    LeakyReLU        (4, 4, 4, 4) -> (4, 4, 4, 4)    gradcheck True
    Conv2d           (4, 4, 4, 4) -> (4, 6, 2, 2)    gradcheck True
    the whole list, forward in order and backward in reverse: gradcheck True
"""

import numpy as np

def windows(x):                                                       # im2col (step 8) as a view, k=4, s=2, p=1
    x = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))                   # (N, C, H, W) -> (N, C, H/2, W/2, 4, 4)
    return np.lib.stride_tricks.sliding_window_view(x, (4, 4), axis=(2, 3))[:, :, ::2, ::2]

def conv2d(x, W):                                                     # (N, C_in, H, W), W (C_out, C_in, 4, 4)
    return np.einsum("nchwij,ocij->nohw", windows(x), W, optimize=True)   # -> (N, C_out, H/2, W/2)

def conv_transpose2d(x, W):                                           # (N, C_in, H, W), W (C_in, C_out, 4, 4)
    n, c, h, w = x.shape                                              # Kiểu 2 (step 10): a zero between pixels,
    dilated = np.zeros((n, c, 2 * h + 3, 2 * w + 3))                  # padded by k-p-1 = 2 on every side
    dilated[:, :, 2:-2:2, 2:-2:2] = x                                 # (N, C_in, 2H+3, 2W+3)
    windows = np.lib.stride_tricks.sliding_window_view(dilated, (4, 4), axis=(2, 3))   # (N, C_in, 2H, 2W, 4, 4)
    return np.einsum("nchwij,coij->nohw", windows, W[:, :, ::-1, ::-1], optimize=True)  # flipped kernel, stride 1

class Layer:
    params = {}                                                       # name -> array (the package's names)

class Linear(Layer):                                                  # (N, in) -> (N, out), W (out, in)
    def __init__(self, rng, n_in, n_out):
        self.params = {"weight": rng.normal(0, 0.02, (n_out, n_in)), "bias": np.zeros(n_out)}
    def forward(self, x):
        self.x = x
        return x @ self.params["weight"].T + self.params["bias"]
    def backward(self, g):
        self.grads["weight"] += g.T @ self.x
        self.grads["bias"] += g.sum(axis=0)
        return g @ self.params["weight"]

class Conv2d(Layer):                                                  # (N, C_in, H, W) -> (N, C_out, H/2, W/2)
    transposed = False                                                # W (C_out, C_in, 4, 4)
    def __init__(self, rng, c_in, c_out):
        shape = (c_in, c_out, 4, 4) if self.transposed else (c_out, c_in, 4, 4)
        self.params = {"weight": rng.normal(0, 0.02, shape), "bias": np.zeros(c_out)}
    def forward(self, x):
        self.x = x
        conv = conv_transpose2d if self.transposed else conv2d
        return conv(x, self.params["weight"]) + self.params["bias"][:, None, None]
    def backward(self, g):
        large, small = (g, self.x) if self.transposed else (self.x, g)   # gW: large's windows times small
        self.grads["weight"] += np.einsum("nchwij,nohw->ocij", windows(large), small, optimize=True)
        self.grads["bias"] += g.sum(axis=(0, 2, 3))
        return (conv2d if self.transposed else conv_transpose2d)(g, self.params["weight"])

class ConvTranspose2d(Conv2d):                                        # (N, C_in, H, W) -> (N, C_out, 2H, 2W)
    transposed = True                                                 # W (C_in, C_out, 4, 4)

class LeakyReLU(Layer):                                               # slope 0: ReLU
    def __init__(self, slope): self.slope = slope
    def forward(self, x):
        self.local = np.where(x > 0, 1.0, self.slope)                 # dy/dx, 1 or the slope
        return x * self.local
    def backward(self, g): return g * self.local

class Reshape(Layer):                                                 # (N, ...) -> (N, *shape)
    def __init__(self, *shape): self.shape = shape
    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(x.shape[0], *self.shape)
    def backward(self, g): return g.reshape(self.x_shape)

def zero_grad(net):                                                   # backward adds into .grads (step 3)
    for layer in net:
        layer.grads = {name: np.zeros_like(p) for name, p in layer.params.items()}
def forward(net, x):
    for layer in net:
        x = layer.forward(x)
    return x
def backward(net, g):                                                 # step 3's reverse order, for a chain
    for layer in reversed(net):
        g = layer.backward(g)
    return g

def gradcheck(net, x, rng, h=1e-6):
    """d/dt <g, net(x + t dx) with every parameter p + t dp> at t = 0: by backward, by central differences."""
    zero_grad(net)
    y = forward(net, x)
    g, dx = rng.standard_normal(y.shape), rng.standard_normal(x.shape)   # upstream gradient, direction
    dps = [{name: rng.standard_normal(p.shape) for name, p in layer.params.items()} for layer in net]
    by_backward = np.sum(backward(net, g) * dx)
    by_backward += sum(np.sum(layer.grads[name] * dp[name]) for layer, dp in zip(net, dps) for name in dp)
    originals = [dict(layer.params) for layer in net]
    def f(t):                                                         # <g, net(x + t dx)>, parameters p + t dp
        for layer, p, dp in zip(net, originals, dps):
            layer.params.update({name: p[name] + t * dp[name] for name in dp})
        return np.sum(g * forward(net, x + t * dx))
    by_differences = (f(h) - f(-h)) / (2 * h)
    for layer, p in zip(net, originals):
        layer.params.update(p)                                        # the same arrays as before
    return y, abs(by_backward - by_differences) <= 1e-6 * abs(by_differences)

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    net = [Linear(rng, 16, 32), Reshape(8, 2, 2), ConvTranspose2d(rng, 8, 4), LeakyReLU(0.2), Conv2d(rng, 4, 6)]
    x = rng.standard_normal((4, 16))
    for layer in net:
        y, ok = gradcheck([layer], x, rng)
        print(f"{type(layer).__name__:17}{f'{x.shape} -> {y.shape}':32}gradcheck {ok}")
        x = y
    _, ok = gradcheck(net, rng.standard_normal((4, 16)), rng)
    print(f"the whole list, forward in order and backward in reverse: gradcheck {ok}")
