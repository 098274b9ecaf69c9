"""Step 2 of 15: tensors (NumPy arrays), several inputs per Function, and the backward of broadcasting.

Adds:    Tensor holds a float64 NumPy array; Functions take several inputs (Add, Mul, MatMul, Sum) and
         their backward returns one gradient per input. NumPy broadcasting copies b (2,) along the rows
         of a (4, 2) in a + b, so b's gradient is the upstream gradient summed over those rows:
         unbroadcast(g, shape) sums g down to the input's shape. backward() now follows every input,
         with a stack of Functions still to visit (enough while each tensor is used once: step 3).
Run:     python steps/step02_tensor.py
Package: minigan/autograd.py (unbroadcast, backward), minigan/ops/arith.py (Add, Mul, MatMul, Sum),
         minigan/tensor.py (Tensor's operators)
Prints:
    loss = sum((x @ W + b) * s) with x (4, 3), W (3, 2), b (2,), s (4, 1)
    W.grad (3, 2) == x.T @ (s * ones(4, 2)): True
    b.grad (2,) == s summed over the 4 rows, in each column: True
    s.grad (4, 1) == (x @ W + b) summed over the 2 columns: True
    without unbroadcast b.grad would have shape (4, 2)
"""

import numpy as np

class Tensor:
    def __init__(self, data):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = None
        self.creator = None

    def __add__(self, other): return Add()(self, other)          # a + b: see Add below
    def __mul__(self, other): return Mul()(self, other)
    def __matmul__(self, other): return MatMul()(self, other)
    def sum(self): return Sum()(self)

class Function:
    def __call__(self, *inputs):
        output = Tensor(self.forward(*[x.data for x in inputs]))
        output.creator = self
        self.inputs, self.output = inputs, output
        return output

def unbroadcast(g, shape):
    """Sum g down to ``shape``: g (4, 2) -> (2,) sums over axis 0; g (4, 2) -> (4, 1) sums over axis 1."""
    while g.ndim > len(shape):        # axes that broadcasting put in front
        g = g.sum(axis=0)
    for axis, n in enumerate(shape):  # axes that broadcasting stretched from 1 to n
        if n == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g

class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g, a.data.shape), unbroadcast(g, b.data.shape)

class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g * b.data, a.data.shape), unbroadcast(g * a.data, b.data.shape)

class MatMul(Function):
    def forward(self, a, b):          # (N, K) @ (K, M) -> (N, M)
        return a @ b

    def backward(self, g):            # g (N, M)
        a, b = self.inputs
        return g @ b.data.T, a.data.T @ g   # (N, M) @ (M, K) -> (N, K);  (K, N) @ (N, M) -> (K, M)

class Sum(Function):
    def forward(self, x):             # any shape -> ()
        return x.sum()

    def backward(self, g):            # every element counts once: g copied to x's shape
        return (g * np.ones_like(self.inputs[0].data),)

def backward(y):
    """Push gradients from y to every input, visiting each Function once (right for trees only)."""
    y.grad = np.ones_like(y.data)
    todo = [y.creator]
    while todo:
        f = todo.pop()
        for x, gx in zip(f.inputs, f.backward(f.output.grad)):
            x.grad = gx
            if x.creator is not None:
                todo.append(x.creator)

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x, W = Tensor(rng.standard_normal((4, 3))), Tensor(rng.standard_normal((3, 2)))
    b, s = Tensor(rng.standard_normal(2)), Tensor(rng.standard_normal((4, 1)))
    loss = ((x @ W + b) * s).sum()    # (4, 3) @ (3, 2) -> (4, 2); + (2,) -> (4, 2); * (4, 1) -> (4, 2)
    backward(loss)
    upstream = s.data * np.ones((4, 2))                          # d loss / d(x @ W + b): (4, 2)
    print("loss = sum((x @ W + b) * s) with x (4, 3), W (3, 2), b (2,), s (4, 1)")
    print(f"W.grad {W.grad.shape} == x.T @ (s * ones(4, 2)): {np.allclose(W.grad, x.data.T @ upstream)}")
    print(f"b.grad {b.grad.shape} == s summed over the 4 rows, in each column: "
          f"{np.allclose(b.grad, upstream.sum(axis=0))}")
    print(f"s.grad {s.grad.shape} == (x @ W + b) summed over the 2 columns: "
          f"{np.allclose(s.grad, (x.data @ W.data + b.data).sum(axis=1, keepdims=True))}")
    print(f"without unbroadcast b.grad would have shape {upstream.shape}")
