"""Step 5 of 15: the pieces of a network. A linear layer, ReLU / LeakyReLU / tanh / sigmoid, and BCE.

Adds:    Linear: y = x @ W.T + b with W (out, in), PyTorch's layout, as ONE Function with its own
         backward: gx = g @ W, gW = g.T @ x, gb = g summed over the batch (the sum over rows is step
         2's unbroadcast). Step 4's MatMul, Transpose and Add would give the same numbers with three
         Functions. Activations: backward = g times the local slope (tanh and sigmoid read it off their
         output y: 1 - y^2, y (1 - y); Function now keeps its output). BCE on D's logits z, the loss
         of every GAN here, written so that exp never overflows: mean(max(z, 0) - z t + log(1 + e^-|z|)),
         gradient (sigmoid(z) - t) / M. Each one is gradchecked (step 4).
Run:     python steps/step05_layers.py
Package: minigan/ops/arith.py (Linear), minigan/ops/activations.py (and the BCE losses), minigan/nn/layers.py
Prints:
    gradcheck linear (5, 3) -> (5, 4), W (4, 3), b (4,): True
    gradcheck relu, leaky_relu(0.2), tanh, sigmoid, bce_with_logits: True True True True True
    BCE at logit 0 (D cannot tell): 0.6931 = log 2: True
    BCE of logit -1000 against 1 (sure and wrong): 1000.0, finite: True
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

class Linear(Function):
    def forward(self, x, W, b): return x @ W.T + b                    # (N, in) -> (N, out)

    def backward(self, g):                                            # g (N, out)
        x, W, _ = (t.data for t in self.inputs)
        return g @ W, g.T @ x, g.sum(axis=0)                          # (N, in), (out, in), (out,)

class LeakyReLU(Function):                                            # slope 0: ReLU
    def __init__(self, slope): self.slope = slope

    def forward(self, x):
        self.local = np.where(x > 0, 1.0, self.slope)                 # the local slope: 1 or `slope`
        return x * self.local

    def backward(self, g): return (g * self.local,)

class Tanh(Function):
    def forward(self, x): return np.tanh(x)
    def backward(self, g): return (g * (1 - self.output.data ** 2),)

def sigmoid_array(x): return 0.5 * (1 + np.tanh(0.5 * x))            # = 1 / (1 + e^-x), never overflows

class Sigmoid(Function):
    def forward(self, x): return sigmoid_array(x)
    def backward(self, g): return (g * self.output.data * (1 - self.output.data),)

class BCEWithLogits(Function):
    def __init__(self, target): self.t = target                       # 1 = real, 0 = fake: a constant
    def forward(self, z): return (np.maximum(z, 0) - z * self.t + np.log1p(np.exp(-np.abs(z)))).mean()
    def backward(self, g): return (g * (sigmoid_array(self.inputs[0].data) - self.t) / self.t.size,)

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

def backward(y, grad=None):                                           # step 4
    y.grad = np.ones_like(y.data) if grad is None else grad
    for t in reversed(topological_order(y)):
        if t.creator is not None:
            for x, gx in zip(t.creator.inputs, t.creator.backward(t.grad)):
                x.grad = gx if x.grad is None else x.grad + gx

def gradcheck(f, *arrays, h=1e-6, tol=1e-8):                          # step 4, random upstream gradient
    inputs = [Tensor(a) for a in arrays]
    y = f(*inputs)
    G = np.random.default_rng(1).standard_normal(y.data.shape)
    backward(y, G)
    error = 0.0
    for t in inputs:
        for i in np.ndindex(t.data.shape):
            old = t.data[i]
            t.data[i] = old + h
            plus = (f(*inputs).data * G).sum()
            t.data[i] = old - h
            error = max(error, abs((plus - (f(*inputs).data * G).sum()) / (2 * h) - t.grad[i]))
            t.data[i] = old
    return error < tol

if __name__ == "__main__":
    a = np.random.default_rng(0).standard_normal
    ok = gradcheck(Linear(), a((5, 3)), a((4, 3)), a(4))
    print(f"gradcheck linear (5, 3) -> (5, 4), W (4, 3), b (4,): {ok}")
    fns = [LeakyReLU(0.0), LeakyReLU(0.2), Tanh(), Sigmoid(), BCEWithLogits((a((5, 1)) > 0) * 1.0)]
    print("gradcheck relu, leaky_relu(0.2), tanh, sigmoid, bce_with_logits:",
          *[gradcheck(fn, 2 * a((5, 1))) for fn in fns])
    loss = BCEWithLogits(np.ones((4, 1)))(Tensor(np.zeros((4, 1)))).data
    print(f"BCE at logit 0 (D cannot tell): {loss:.4f} = log 2: {np.isclose(loss, np.log(2))}")
    loss = BCEWithLogits(np.ones((1, 1)))(Tensor([[-1000.0]])).data
    print(f"BCE of logit -1000 against 1 (sure and wrong): {loss:.1f}, finite: {np.isfinite(loss)}")
