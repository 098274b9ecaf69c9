"""Arithmetic ops: add, sub, mul, div, neg, pow, exp, log, matmul, linear.

Reading order: backend -> autograd -> **ops/arith** -> ops/shape -> ops/reduce -> ops/activations ->
ops/conv -> ... -> tensor. Each op is one Function subclass (forward and backward side by side, on raw
arrays) plus a lowercase function that users call.

The math (g = dL/dy is the upstream gradient, "unbroadcast" sums g back to the input's shape):

    y = a + b      da = g                 db = g
    y = a - b      da = g                 db = -g
    y = a * b      da = g * b             db = g * a
    y = a / b      da = g / b             db = -g * a / b^2
    y = -a         da = -g
    y = a ** c     da = g * c * a^(c-1)   (c a constant number)
    y = exp(a)     da = g * y
    y = log(a)     da = g / a
    y = a @ b      da = g @ b^T           db = a^T @ g       (a: (n, k), b: (k, m), y: (n, m))
    y = x @ W^T + bias   dx = g @ W   dW = g^T @ x   dbias = sum_n g     (x: (N, in), W: (out, in))
"""

from minigan.autograd import Function, unbroadcast
from minigan.backend import get_array_module


class Add(Function):
    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a + b

    def backward(self, g):
        return unbroadcast(g, self.a_shape), unbroadcast(g, self.b_shape)


class Sub(Function):
    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        return a - b

    def backward(self, g):
        return unbroadcast(g, self.a_shape), unbroadcast(-g, self.b_shape)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, g):
        ga = unbroadcast(g * self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * self.a, self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, g):
        ga = unbroadcast(g / self.b, self.a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * self.a / (self.b * self.b), self.b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """y = a ** c for a constant exponent c (a Python number)."""

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, a):
        self.a = a
        return a ** self.exponent

    def backward(self, g):
        return g * self.exponent * self.a ** (self.exponent - 1)


class Exp(Function):
    def forward(self, a):
        self.y = get_array_module(a).exp(a)
        return self.y

    def backward(self, g):
        return g * self.y


class Log(Function):
    def forward(self, a):
        self.a = a
        return get_array_module(a).log(a)

    def backward(self, g):
        return g / self.a


class MatMul(Function):
    """Matrix product a @ b of arrays with ndim >= 2 ((..., n, k) @ (..., k, m) -> (..., n, m))."""

    def forward(self, a, b):
        self.a, self.b = a, b
        return a @ b

    def backward(self, g):                                           # g: (..., n, m)
        xp = get_array_module(g)
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g @ xp.swapaxes(self.b, -1, -2), self.a.shape)   # (..., n, m) @ (..., m, k)
        if self.needs_input_grad[1]:
            gb = unbroadcast(xp.swapaxes(self.a, -1, -2) @ g, self.b.shape)   # (..., k, n) @ (..., n, m)
        return ga, gb


class Linear(Function):
    """y = x @ W^T + b, the fully connected layer, as one op (one matmul each way)."""

    def forward(self, x, weight, bias=None):
        self.x, self.weight = x, weight
        y = x @ weight.T                                             # (N, in) @ (in, out) -> (N, out)
        if bias is not None:
            y += bias
        return y

    def backward(self, g):                                           # g: (N, out)
        gx = g @ self.weight if self.needs_input_grad[0] else None   # (N, out) @ (out, in) -> (N, in)
        gw = g.T @ self.x if self.needs_input_grad[1] else None      # (out, N) @ (N, in) -> (out, in)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        gb = g.sum(axis=0) if self.needs_input_grad[2] else None     # (out,)
        return gx, gw, gb


def add(a, b):
    return Add()(a, b)


def sub(a, b):
    return Sub()(a, b)


def mul(a, b):
    return Mul()(a, b)


def div(a, b):
    return Div()(a, b)


def neg(a):
    return Neg()(a)


def pow(a, exponent):
    """a ** exponent for a constant exponent (a Python number)."""
    if not isinstance(exponent, (int, float)):
        raise TypeError(f"pow: the exponent must be a Python int or float, got {type(exponent).__name__}")
    return Pow(exponent)(a)


def exp(a):
    return Exp()(a)


def log(a):
    return Log()(a)


def matmul(a, b):
    """a @ b for arrays of 2 or more dimensions (batched over the leading ones)."""
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(
            f"matmul: both operands need at least 2 dimensions, got {tuple(a.shape)} @ {tuple(b.shape)}; "
            "use x.reshape(1, -1) or x.reshape(-1, 1) for a vector"
        )
    return MatMul()(a, b)


def linear(x, weight, bias=None):
    """Fully connected layer: y = x @ weight^T + bias.

    Shapes: x (N, in_features), weight (out_features, in_features), bias (out_features,) -> (N, out).
    """
    for what, value in (("x", x), ("weight", weight)):
        if not hasattr(value, "ndim"):
            raise TypeError(f"linear: expected {what} as a Tensor, got {type(value).__name__}")
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"linear: expected x of shape (N, {weight.shape[1] if weight.ndim == 2 else 'in'}) and weight "
            f"(out, in), got x {tuple(x.shape)} and weight {tuple(weight.shape)}"
        )
    if bias is None:
        return Linear()(x, weight)
    return Linear()(x, weight, bias)
