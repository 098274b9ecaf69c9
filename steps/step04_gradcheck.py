"""Step 4 of 15: gradcheck. Every backward is checked against central differences, in float64.

Adds:    gradcheck(f, *arrays): L = sum(f(inputs) * G) with G a RANDOM upstream gradient; backward(y, G)
         gives dL/d(input), compared with (L(x + h) - L(x - h)) / 2h for every element of every input,
         in float64 (float32's 7 digits would drown the difference in rounding). Why random: y.sum()
         sends all-ones, and a square all-ones matrix is its own transpose, so a forgotten .T passes
         (the last lines). Also new: backward(y, grad) takes the upstream gradient; Transpose.
Run:     python steps/step04_gradcheck.py
Package: mg.gradcheck and mg.gradgradcheck (minigan/tools/gradcheck.py); the op tests in tests/
Prints:
    gradcheck add (3, 4) + (4,): max error < 1e-8: True
    gradcheck mul (3, 1) * (1, 4): max error < 1e-8: True
    gradcheck matmul (3, 4) @ (4, 2): max error < 1e-8: True
    gradcheck transpose (3, 4): max error < 1e-8: True
    gradcheck x * x + x (x used twice): max error < 1e-8: True
    a transpose whose backward forgot .T, on a (3, 3) input:
      all-ones upstream gradient (a .sum() loss): passes: True
      random upstream gradient: passes: False
"""

import numpy as np

class Tensor:
    def __init__(self, data):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad, self.creator = None, None
    def __add__(self, other): return Add()(self, other)
    def __mul__(self, other): return Mul()(self, other)
    def __matmul__(self, other): return MatMul()(self, other)
    @property
    def T(self): return Transpose()(self)

class Function:
    def __call__(self, *inputs):
        output = Tensor(self.forward(*[x.data for x in inputs]))
        output.creator, self.inputs = self, inputs
        return output

def unbroadcast(g, shape):
    """Sum g down to ``shape`` (step 2): over the axes broadcasting put in front, then over its 1s."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)

# --- the ops of step 2 (Sum left out), and Transpose--------------------------------------------
class Add(Function):
    def forward(self, a, b): return a + b
    def backward(self, g): return [unbroadcast(g, x.data.shape) for x in self.inputs]

class Mul(Function):
    def forward(self, a, b): return a * b
    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g * b.data, a.data.shape), unbroadcast(g * a.data, b.data.shape)

class MatMul(Function):
    def forward(self, a, b): return a @ b                             # (N, K) @ (K, M) -> (N, M)
    def backward(self, g): return g @ self.inputs[1].data.T, self.inputs[0].data.T @ g

class Transpose(Function):
    def forward(self, x): return x.T                                  # (N, M) -> (M, N)
    def backward(self, g): return (g.T,)

class ForgotTranspose(Transpose):
    def backward(self, g): return (g,)                                # the bug (shapes only fit if square)

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

def backward(y, grad=None):
    """As step 3; ``grad`` is dL/dy (default ones: y is the loss itself)."""
    y.grad = np.ones_like(y.data) if grad is None else grad
    for t in reversed(topological_order(y)):
        if t.creator is not None:
            for x, gx in zip(t.creator.inputs, t.creator.backward(t.grad)):
                x.grad = gx if x.grad is None else x.grad + gx

def gradcheck(f, *arrays, upstream="random", h=1e-6, tol=1e-8):
    """True when backward's gradient of sum(f(inputs) * G) matches central differences in every element."""
    inputs = [Tensor(a) for a in arrays]
    y = f(*inputs)
    G = np.random.default_rng(1).standard_normal(y.data.shape) if upstream == "random" else np.ones_like(y.data)
    backward(y, G)
    error = 0.0
    for t in inputs:
        for i in np.ndindex(t.data.shape):                            # nudge one element at a time
            old = t.data[i]
            t.data[i] = old + h
            plus = (f(*inputs).data * G).sum()
            t.data[i] = old - h
            numeric = (plus - (f(*inputs).data * G).sum()) / (2 * h)
            t.data[i] = old
            error = max(error, abs(numeric - t.grad[i]))
    return error < tol

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    a = rng.standard_normal
    checks = [("add (3, 4) + (4,)", lambda x, b: x + b, a((3, 4)), a(4)),
              ("mul (3, 1) * (1, 4)", lambda x, b: x * b, a((3, 1)), a((1, 4))),
              ("matmul (3, 4) @ (4, 2)", lambda x, w: x @ w, a((3, 4)), a((4, 2))),
              ("transpose (3, 4)", lambda x: x.T, a((3, 4))),
              ("x * x + x (x used twice)", lambda x: x * x + x, a((3, 4)))]
    for name, f, *arrays in checks:
        print(f"gradcheck {name}: max error < 1e-8: {gradcheck(f, *arrays)}")
    print("a transpose whose backward forgot .T, on a (3, 3) input:")
    x = a((3, 3))
    ones, random = gradcheck(ForgotTranspose(), x, upstream="ones"), gradcheck(ForgotTranspose(), x)
    print(f"  all-ones upstream gradient (a .sum() loss): passes: {ones}")
    print(f"  random upstream gradient: passes: {random}")
