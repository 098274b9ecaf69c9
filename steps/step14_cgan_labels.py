"""Step 14 of 15: the cGAN's label path. An Embedding, a Linear, and a concatenation on the channel axis.

Adds:    The seed's conditional GAN (Mirza & Osindero, 2014) tells both networks the class y. An
         Embedding is a learned table, one 50-number row per class: forward picks rows, W[y]; backward
         adds each sample's gradient into its class's row with np.add.at: a class twice in a batch gets
         both contributions (step 3 again; gW[y] += g keeps one). A Linear makes the row one extra
         image channel, 7x7 for G, 28x28 for D; Concat joins it to G's noise features or D's image, and
         its backward hands each part its slice. A graph, not a chain: this step uses step 7's engine.
Run:     python steps/step14_cgan_labels.py
Package: minigan/models/cgan.py (label_path, noise_path), minigan/ops/embedding.py, minigan/ops/shape.py (Concat)
Prints:
    G: z (4, 100) and labels [3, 1, 3, 7] -> noise (4, 128, 7, 7) + label channel (4, 1, 7, 7) -> (4, 129, 7, 7)
       the two samples of class 3 get the same label channel: True
    D: images (4, 1, 28, 28) + label channel -> (4, 2, 28, 28)
    embedding gradient, row 3 (label 3 twice) = both samples' contributions: True
    gradcheck along a random direction (step 4), all weights of G's two paths, rel. error < 1e-6: True
    gW[y] += g instead keeps one of them: True; rows of classes not in the batch are 0: True
"""

import numpy as np

class Tensor:
    def __init__(self, data):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad, self.creator = None, None

class Function:
    def __call__(self, *inputs):
        output = Tensor(self.forward(*[x.data for x in inputs]))
        output.creator, self.inputs, self.output = self, inputs, output
        return output

class Linear(Function):                                               # step 5
    def forward(self, x, W, b): return x @ W.T + b
    def backward(self, g): return g @ self.inputs[1].data, g.T @ self.inputs[0].data, g.sum(axis=0)

class LeakyReLU(Function):                                            # step 5
    def __init__(self, slope): self.slope = slope
    def forward(self, x):
        self.local = np.where(x > 0, 1.0, self.slope)
        return x * self.local
    def backward(self, g): return (g * self.local,)

class Reshape(Function):                                              # (N, ...) -> (N, *shape)
    def __init__(self, *shape): self.shape = shape
    def forward(self, x): return x.reshape(x.shape[0], *self.shape)
    def backward(self, g): return (g.reshape(self.inputs[0].data.shape),)

class Embedding(Function):                                            # the table W (classes, dim) -> W[y] (N, dim)
    def __init__(self, labels): self.labels = labels                  # (N,) ints: constants, no gradient
    def forward(self, W): return W[self.labels]
    def backward(self, g):
        gW = np.zeros_like(self.inputs[0].data)
        np.add.at(gW, self.labels, g)                                 # row y += g[n] for every n with label y
        return (gW,)

class Concat(Function):                                               # along the channel axis 1
    def forward(self, *xs): return np.concatenate(xs, axis=1)
    def backward(self, g):
        ends = np.cumsum([x.data.shape[1] for x in self.inputs])      # where each part's channels end
        return np.split(g, ends[:-1], axis=1)

def topological_order(y):                                             # step 3
    order, visited, stack = [], set(), [(y, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
        elif id(t) not in visited:
            visited.add(id(t))
            stack += [(t, True)] + [(x, False) for x in (t.creator.inputs if t.creator else ())]
    return order

def backward(y, grad):                                                # step 4
    y.grad = grad
    for t in reversed(topological_order(y)):
        if t.creator is not None:
            for x, gx in zip(t.creator.inputs, t.creator.backward(t.grad)):
                x.grad = gx if x.grad is None else x.grad + gx

def g_features(p, z, labels, side=7, channels=128):
    """cGAN G up to its first ConvTranspose2d: (N, channels + 1, side, side), as minigan/models/cgan.py."""
    noise = Reshape(channels, side, side)(LeakyReLU(0.2)(Linear()(z, p["noise.W"], p["noise.b"])))
    label = Reshape(1, side, side)(Linear()(Embedding(labels)(p["embed"]), p["label.W"], p["label.b"]))
    return Concat()(noise, label)                                     # noise channels first, the label last

def d_input(p, images, labels):
    """cGAN D up to its first Conv2d: the image and a label channel, (N, 2, 28, 28)."""
    label = Reshape(1, 28, 28)(Linear()(Embedding(labels)(p["embed"]), p["label.W"], p["label.b"]))
    return Concat()(images, label)

def glorot(rng, n_in, n_out):                                         # Keras's init (the seed's model)
    return Tensor(rng.uniform(-1, 1, (n_out, n_in)) * np.sqrt(6 / (n_in + n_out)))

def g_params(rng, latent_dim=100, classes=10, dim=50, side=7, channels=128):
    return {"embed": Tensor(rng.standard_normal((classes, dim))),    # N(0, 1), as minigan's Embedding
            "label.W": glorot(rng, dim, side * side), "label.b": Tensor(np.zeros(side * side)),
            "noise.W": glorot(rng, latent_dim, channels * side * side),
            "noise.b": Tensor(np.zeros(channels * side * side))}

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    labels = np.array([3, 1, 3, 7])
    pg, z = g_params(rng), Tensor(rng.standard_normal((4, 100)))
    features = g_features(pg, z, labels)
    print(f"G: z (4, 100) and labels {labels.tolist()} -> noise (4, 128, 7, 7) + label channel (4, 1, 7, 7) "
          f"-> {features.data.shape}")
    print(f"   the two samples of class 3 get the same label channel: "
          f"{np.array_equal(features.data[0, 128], features.data[2, 128])}")
    pd = {"embed": Tensor(rng.standard_normal((10, 50))), "label.W": glorot(rng, 50, 784),
          "label.b": Tensor(np.zeros(784))}
    images = Tensor(rng.uniform(-1, 1, (4, 1, 28, 28)))
    print(f"D: images (4, 1, 28, 28) + label channel -> {d_input(pd, images, labels).data.shape}")
    g = rng.standard_normal(features.data.shape)
    backward(features, g)
    gE = pg["embed"].grad
    print(f"embedding gradient, row 3 (label 3 twice) = both samples' contributions: "
          f"{np.allclose(gE[3], g[0, 128].ravel() @ pg['label.W'].data + g[2, 128].ravel() @ pg['label.W'].data)}")
    V = {name: rng.standard_normal(t.data.shape) for name, t in pg.items()}   # a random direction
    def loss(h):                                                      # sum(features * g) at the weights + h V
        moved = {name: Tensor(t.data + h * V[name]) for name, t in pg.items()}
        return (g_features(moved, z, labels).data * g).sum()
    along_V = sum((pg[name].grad * V[name]).sum() for name in pg)
    numeric = (loss(1e-8) - loss(-1e-8)) / 2e-8                       # a small h: no LeakyReLU input crosses 0
    print(f"gradcheck along a random direction (step 4), all weights of G's two paths, rel. error < 1e-6: "
          f"{np.isclose(along_V, numeric, rtol=1e-6)}")
    buffered = np.zeros_like(gE)
    buffered[labels] += (g[:, 128].reshape(4, 49) @ pg["label.W"].data)   # fancy-index +=: one write per row
    print(f"gW[y] += g instead keeps one of them: {not np.allclose(buffered[3], gE[3])}; "
          f"rows of classes not in the batch are 0: {not gE[[0, 2, 4, 5, 6, 8, 9]].any()}")
