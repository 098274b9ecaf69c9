"""Step 6 of 15: Adam, the optimizer of every GAN here, in the paper's four lines.

Adds:    An optimizer changes the parameters in place, outside the graph, from their .grad. Adam (Kingma
         & Ba, 2015) keeps per weight a running mean m of the gradient and v of its square, corrects
         both for starting at zero, and steps by lr * m_hat / (sqrt(v_hat) + eps): about lr per weight,
         whatever the gradient's scale. betas (0.5, 0.999) as in DCGAN and the seed's GANs. It comes
         before the first GAN (step 7), which would take far longer to move with plain SGD. zero_grad()
         is new too: backward() adds into .grad (step 3), so the last step's gradients must go first.
Run:     python steps/step06_adam.py
Package: minigan/optim.py (Adam, SGD)
Prints:
    Adam(lr=0.05, betas=(0.5, 0.999)) on XOR with a 2-8-1 tanh network
    first step: every weight moved by lr, since m_hat / sqrt(v_hat) = sign(g): True
    without the bias correction the first step would be 15.81 lr
    step   0  loss 0.6469
    step 100  loss 0.0034
    step 200  loss 0.0009
    predictions for (0,0) (0,1) (1,0) (1,1): [0 1 1 0]
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

# --- ops from step 5 (the ones this network needs) ----------------------------------------------------
class Linear(Function):
    def forward(self, x, W, b): return x @ W.T + b                    # (N, in) -> (N, out)

    def backward(self, g):
        x, W, _ = (t.data for t in self.inputs)
        return g @ W, g.T @ x, g.sum(axis=0)

class Tanh(Function):
    def forward(self, x): return np.tanh(x)
    def backward(self, g): return (g * (1 - self.output.data ** 2),)

class BCEWithLogits(Function):
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
            stack.append((t, True))
            stack.extend((x, False) for x in (t.creator.inputs if t.creator else ()))
    return order

def backward(y):
    y.grad = np.ones_like(y.data)
    for t in reversed(topological_order(y)):
        if t.creator is not None:
            for x, gx in zip(t.creator.inputs, t.creator.backward(t.grad)):
                x.grad = gx if x.grad is None else x.grad + gx

class Adam:
    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [np.zeros_like(p.data) for p in params]              # first moment, per weight
        self.v = [np.zeros_like(p.data) for p in params]              # second moment, per weight

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            m[...] = b1 * m + (1 - b1) * p.grad                       # m <- b1 m + (1 - b1) g
            v[...] = b2 * v + (1 - b2) * p.grad ** 2                  # v <- b2 v + (1 - b2) g^2
            m_hat, v_hat = m / (1 - b1 ** self.t), v / (1 - b2 ** self.t)   # bias correction
            p.data -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)   # the update

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    X = Tensor([[0, 0], [0, 1], [1, 0], [1, 1]])                      # (4, 2)
    target = np.array([[0], [1], [1], [0]], dtype=np.float64)         # (4, 1): XOR
    params = [Tensor(rng.standard_normal((8, 2))), Tensor(np.zeros(8)),   # W1 (8, 2), b1 (8,)
              Tensor(rng.standard_normal((1, 8))), Tensor(np.zeros(1))]   # W2 (1, 8), b2 (1,)
    start = [p.data.copy() for p in params]
    opt = Adam(params, lr=0.05, betas=(0.5, 0.999))
    print(f"Adam(lr={opt.lr}, betas={opt.betas}) on XOR with a 2-8-1 tanh network")
    for step in range(201):
        logits = Linear()(Tanh()(Linear()(X, *params[:2])), *params[2:])   # (4, 8) -> (4, 1)
        loss = BCEWithLogits(target)(logits)
        opt.zero_grad()
        backward(loss)
        opt.step()
        if step == 0:
            moved = np.concatenate([np.abs(p.data - q).ravel() for p, q in zip(params, start)])
            print(f"first step: every weight moved by lr, since m_hat / sqrt(v_hat) = sign(g): "
                  f"{np.allclose(moved, opt.lr, rtol=1e-4)}")
            print(f"without the bias correction the first step would be "
                  f"{(1 - opt.betas[0]) / np.sqrt(1 - opt.betas[1]):.2f} lr")
        if step % 100 == 0:
            print(f"step {step:3d}  loss {loss.data:.4f}")
    print("predictions for (0,0) (0,1) (1,0) (1,1):", (logits.data.ravel() > 0).astype(int))
