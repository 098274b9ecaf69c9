"""Step 7 of 15: the first GAN. G learns a ring of 8 Gaussians in 2-D from D's gradient, in seconds.

Adds:    The game (Goodfellow et al., 2014): real points lie on 8 blobs around a circle, G turns 2-D
         noise z into points, D gives each point a logit ("real" if large). D step: BCE(D(x), 1) +
         BCE(D(G(z)), 0), G(z) an array (no graph into G), two backward() calls adding into .grad.
         G step: BCE(D(G(z)), 1), the non-saturating loss, through D into G. At first D cannot tell.
Run:     python steps/step07_toy_gan.py [--steps 2000] [--out toy.png]   (--out draws the points)
Package: minigan/training.py (d_step, g_step), examples/gan_toy2d.py
Prints:
    step    0  loss_D 1.335  loss_G 0.695
    step 1000  loss_D 1.246  loss_G 1.028
    after 2000 steps, of 1000 points from G: 91.9% within 0.25 of a blob centre
    points per blob: [127, 117, 134, 133, 104, 87, 104, 113]
"""

import argparse

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

class LeakyReLU(Function):                                            # step 5; slope 0: ReLU
    def __init__(self, slope): self.slope = slope
    def forward(self, x):
        self.local = np.where(x > 0, 1.0, self.slope)                 # the local slope: 1 or `slope`
        return x * self.local
    def backward(self, g): return (g * self.local,)

class BCEWithLogits(Function):                                        # step 5
    def __init__(self, target): self.t = target
    def forward(self, z): return (np.maximum(z, 0) - z * self.t + np.log1p(np.exp(-np.abs(z)))).mean()
    def backward(self, g): return (g * (0.5 + 0.5 * np.tanh(0.5 * self.inputs[0].data) - self.t) / self.t.size,)

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

def backward(y):
    y.grad = np.ones_like(y.data)
    for t in reversed(topological_order(y)):
        if t.creator is not None:
            for x, gx in zip(t.creator.inputs, t.creator.backward(t.grad)):
                x.grad = gx if x.grad is None else x.grad + gx

class Adam:                                                           # step 6
    def __init__(self, params, lr, betas=(0.5, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m, self.v = [np.zeros_like(p.data) for p in params], [np.zeros_like(p.data) for p in params]
    def zero_grad(self):
        for p in self.params:
            p.grad = None
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            m[...] = b1 * m + (1 - b1) * p.grad
            v[...] = b2 * v + (1 - b2) * p.grad ** 2
            p.data -= self.lr * (m / (1 - b1 ** self.t)) / (np.sqrt(v / (1 - b2 ** self.t)) + self.eps)

def mlp(rng, sizes):                                                  # [W1, b1, ...], U(+-1/sqrt(in))
    return [Tensor(rng.uniform(-1, 1, shape) / np.sqrt(n_in)) for n_in, n_out in zip(sizes, sizes[1:])
            for shape in ((n_out, n_in), (n_out,))]

def run(params, x, slope):                                            # Linear, LeakyReLU(slope), ..., Linear
    for i in range(0, len(params) - 2, 2):
        x = LeakyReLU(slope)(Linear()(x, params[i], params[i + 1]))
    return Linear()(x, params[-2], params[-1])

CENTRES = 2 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], axis=1)

def train(steps, batch=64, lr=3e-3, seed=0):
    rng = np.random.default_rng(seed)
    G, D = mlp(rng, [2, 64, 64, 2]), mlp(rng, [2, 64, 64, 1])        # G: ReLU, D: LeakyReLU(0.2)
    opt_G, opt_D = Adam(G, lr), Adam(D, lr)
    ones, zeros = np.ones((batch, 1)), np.zeros((batch, 1))
    for step in range(steps):
        real = CENTRES[rng.integers(0, 8, batch)] + 0.05 * rng.standard_normal((batch, 2))   # (batch, 2)
        fake = run(G, Tensor(rng.standard_normal((batch, 2))), 0.0).data   # an array: no graph into G
        opt_D.zero_grad()                                             # D step: real -> 1, fake -> 0
        loss_real = BCEWithLogits(ones)(run(D, Tensor(real), 0.2))
        loss_fake = BCEWithLogits(zeros)(run(D, Tensor(fake), 0.2))
        backward(loss_real)
        backward(loss_fake)                                           # adds into D's .grad
        opt_D.step()
        opt_G.zero_grad()                                             # G step: fake -> 1, through D
        loss_G = BCEWithLogits(ones)(run(D, run(G, Tensor(rng.standard_normal((batch, 2))), 0.0), 0.2))
        backward(loss_G)
        opt_G.step()
        if step % 1000 == 0:
            print(f"step {step:4d}  loss_D {loss_real.data + loss_fake.data:.3f}  loss_G {loss_G.data:.3f}")
    return G

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="iterations (one D step + one G step each)")
    parser.add_argument("--out", help="write a picture of real and generated points to this .png")
    args = parser.parse_args()
    points = run(train(args.steps), Tensor(np.random.default_rng(1).standard_normal((1000, 2))), 0.0).data
    dist = np.linalg.norm(points[:, None, :] - CENTRES[None], axis=2)  # (1000, 8)
    near = dist.min(axis=1) < 0.25                                    # within 5 std of a blob's centre
    print(f"after {args.steps} steps, of 1000 points from G: {near.mean():.1%} within 0.25 of a blob centre")
    print("points per blob:", np.bincount(dist.argmin(axis=1)[near], minlength=8).tolist())
    if args.out:                                                      # matplotlib only when asked for
        import matplotlib.pyplot as plt
        real = CENTRES[np.arange(1000) % 8] + 0.05 * np.random.default_rng(2).standard_normal((1000, 2))
        plt.scatter(real[:, 0], real[:, 1], s=2, c="0.6", label="real")
        plt.scatter(points[:, 0], points[:, 1], s=2, c="tab:orange", label="G(z)")
        plt.legend(loc="lower left")
        plt.savefig(args.out, dpi=80)
        print(f"wrote {args.out}")
