"""Step 15 of 15: differentiating the backward pass. The WGAN-GP gradient penalty (double backward).

Adds:    WGAN-GP (Gulrajani et al., 2017): loss_D = mean D(G(z)) - mean D(x) + 10 mean_n (||g_n|| - 1)^2,
         g = dD/dx at x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample. g comes from a backward
         pass; Adam needs d(penalty)/d(weights), a gradient of a gradient. So every backward is now made
         of Tensor operators, and grad(y, xs, create_graph=True) records them: a second grad() goes back
         through that graph. Critic: the seed's GAN discriminator, 784-1024-512-256-1, LeakyReLU(0.2).
Run:     python steps/step15_gradient_penalty.py
Package: minigan/autograd.py (grad, create_graph), minigan/penalties.py (gradient_penalty), docs/double-backward.md
Prints:
    ||dD/dx|| at the 4 interpolates: [0.0393, 0.0396, 0.0385, 0.0424]; gradient penalty 9.2163, loss_D 9.2311
    d loss_D / d weights by double backward == central differences (rel. error < 1e-6): True
    the penalty alone reaches every layer's weights: True
"""

import numpy as np

recording = True                                                      # False inside a first-order backward

class Tensor:
    def __init__(self, data): self.data, self.creator = np.asarray(data, dtype=np.float64), None
    def __add__(self, other): return Add()(self, other)
    def __sub__(self, other): return self + other * -1.0
    def __mul__(self, other): return Mul()(self, other)
    def __matmul__(self, other): return MatMul()(self, other)
    def __pow__(self, c): return Pow(c)(self)
    def sum(self, axis=None, keepdims=False): return Sum(axis, keepdims)(self)
    def mean(self): return self.sum() * (1.0 / self.data.size)
    @property
    def T(self): return Transpose()(self)

class Function:
    def __call__(self, *inputs):
        inputs = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]   # numbers, arrays: constants
        output = Tensor(self.forward(*[x.data for x in inputs]))
        if recording:                                                 # remember how output was made
            output.creator, self.inputs = self, inputs
        return output

def unbroadcast(g, shape):                                            # step 2, in Tensor ops
    g = g.sum(axis=tuple(range(g.data.ndim - len(shape)))) if g.data.ndim > len(shape) else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.data.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g

# --- every backward is written with Tensor operators, so it can be recorded and differentiated ---------
class Add(Function):
    def forward(self, a, b): return a + b
    def backward(self, g): return [unbroadcast(g, x.data.shape) for x in self.inputs]

class Mul(Function):
    def forward(self, a, b): return a * b
    def backward(self, g):                                            # g times the other input
        return [unbroadcast(g * y, x.data.shape) for x, y in zip(self.inputs, self.inputs[::-1])]

class MatMul(Function):
    def forward(self, a, b): return a @ b
    def backward(self, g): return g @ self.inputs[1].T, self.inputs[0].T @ g

class Transpose(Function):
    def forward(self, x): return x.T
    def backward(self, g): return (g.T,)

class Sum(Function):                                                  # over leading axes, or keepdims=True
    def __init__(self, axis, keepdims): self.axis, self.keepdims = axis, keepdims
    def forward(self, x): return x.sum(axis=self.axis, keepdims=self.keepdims)
    def backward(self, g): return (g * np.ones_like(self.inputs[0].data),)   # g copied back by broadcasting

class Pow(Function):
    def __init__(self, c): self.c = c
    def forward(self, x): return x ** self.c
    def backward(self, g): return (g * self.inputs[0] ** (self.c - 1) * self.c,)   # uses x, a Tensor

class LeakyReLU(Function):
    def forward(self, x):
        self.local = np.where(x > 0, 1.0, 0.2)                        # a constant: 0 second derivative
        return x * self.local
    def backward(self, g): return (g * self.local,)

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

def grad(y, xs, create_graph=False):
    """[dy/dx for x in xs] for a scalar y, as Tensors; the backward's own ops are recorded if create_graph."""
    global recording
    grads, recording = {id(y): Tensor(1.0)}, create_graph             # dict: no .grad is touched
    for t in reversed(topological_order(y)):
        if t.creator is not None and id(t) in grads:
            for x, gx in zip(t.creator.inputs, t.creator.backward(grads[id(t)])):
                grads[id(x)] = gx if id(x) not in grads else grads[id(x)] + gx
    recording = True
    return [grads.get(id(x)) for x in xs]                             # None: y does not depend on x

def critic(params, x):                                                # (N, 784) -> (N, 1); no Dropout (eval)
    for i in range(0, len(params) - 2, 2):
        x = LeakyReLU()(x @ params[i].T + params[i + 1])
    return x @ params[-2].T + params[-1]

def critic_loss(params, real, fake, eps, lam=10.0):
    """(loss_D, gp, ||g||) for real and fake batches (N, 784) and eps (N, 1), as minigan/penalties.py."""
    x_hat = Tensor(eps * real + (1 - eps) * fake)                     # (N, 784), a leaf
    (g,) = grad(critic(params, x_hat).sum(), [x_hat], create_graph=True)   # (N, 784), with a graph
    norms = ((g * g).sum(axis=1, keepdims=True) + 1e-12) ** 0.5       # (N, 1); + 1e-12: a finite slope at 0
    gp = ((norms - 1.0) ** 2).mean() * lam
    return critic(params, Tensor(fake)).mean() - critic(params, Tensor(real)).mean() + gp, gp, norms

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    sizes = [784, 1024, 512, 256, 1]                                  # [W1, b1, ...], nn.Linear's U(+-1/sqrt(in))
    params = [Tensor(rng.uniform(-1, 1, shape) / n_in ** 0.5) for n_in, n_out in zip(sizes, sizes[1:])
              for shape in ((n_out, n_in), (n_out,))]
    real, fake, eps = rng.uniform(-1, 1, (4, 784)), rng.uniform(-1, 1, (4, 784)), rng.uniform(0, 1, (4, 1))
    loss, gp, norms = critic_loss(params, real, fake, eps)
    print(f"||dD/dx|| at the 4 interpolates: {np.round(norms.data.ravel(), 4).tolist()}; "
          f"gradient penalty {gp.data:.4f}, loss_D {loss.data:.4f}")
    grads = grad(loss, params)                                        # through the recorded backward pass
    V = [rng.standard_normal(w.data.shape) for w in params]           # check along a random direction (step 4)
    def at(h): return critic_loss([Tensor(w.data + h * v) for w, v in zip(params, V)], real, fake, eps)[0].data
    numeric = (at(1e-8) - at(-1e-8)) / 2e-8                           # h so small that no LeakyReLU input
    along_V = sum((g.data * v).sum() for g, v in zip(grads, V))       # changes sign (g would jump)
    print(f"d loss_D / d weights by double backward == central differences (rel. error < 1e-6): "
          f"{np.isclose(along_V, numeric, rtol=1e-6)}")
    print(f"the penalty alone reaches every layer's weights: {all(g.data.any() for g in grad(gp, params)[::2])}")
