"""Arithmetic ops (add, sub, mul, div, neg, pow, exp, log, maximum, matmul, linear) and the reductions (sum, mean).

Reading order: backend -> autograd -> **ops/arith** -> ops/shape -> ops/activations ->
ops/conv -> ... -> tensor. Each op is one Function subclass (forward on raw arrays, backward on Tensors,
side by side) plus a lowercase function that users call. A backward is written with Tensor operators
(``g * b``), so the same line computes the gradient (first order) and, under create_graph=True, also
records it as a graph (see autograd.py).

The math (g = dL/dy is the upstream gradient, "unbroadcast" sums g back to the input's shape):

    y = a + b      da = g                 db = g
    y = a - b      da = g                 db = -g
    y = a * b      da = g * b             db = g * a
    y = a / b      da = g / b             db = -g * a / b^2
    y = -a         da = -g
    y = a ** c     da = g * c * a^(c-1)   (c a constant number)
    y = exp(a)     da = g * y
    y = log(a)     da = g / a
    y = max(a, c)  da = g * [a > c]       (c a constant number)
    y = a @ b      da = g @ b^T           db = a^T @ g       (a: (n, k), b: (k, m), y: (n, m))
    y = x @ W^T + bias   dx = g @ W   dW = g^T @ x   dbias = sum_n g     (x: (N, in), W: (out, in))
    y = sum(x, axis)     dx = g broadcast back over the summed axes (re-inserted first, as keepdims does)
    y = mean(x, axis)    dx = the same, divided by the number of values averaged

The broadcast is an op of its own (BroadcastTo), whose backward is again a sum: sum and broadcast are
each other's gradient, so a sum can be differentiated twice.
"""

from minigan.autograd import Function, constant, unbroadcast
from minigan.backend import get_array_module


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g, a.shape), unbroadcast(-g, b.shape)


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.inputs
        ga = unbroadcast(g * b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(g * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, g):
        a, b = self.inputs
        ga = unbroadcast(g / b, a.shape) if self.needs_input_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Pow(Function):
    """y = a ** c for a constant exponent c (a Python number)."""

    def __init__(self, exponent):
        if not isinstance(exponent, (int, float)):
            raise TypeError(f"pow: the exponent must be a Python int or float, got {type(exponent).__name__}")
        self.exponent = exponent

    def forward(self, a):
        return a ** self.exponent

    def backward(self, g):
        a, = self.inputs
        return g * self.exponent * a ** (self.exponent - 1)


class Exp(Function):
    def forward(self, a):
        return get_array_module(a).exp(a)

    def backward(self, g):
        return g * self.output()                                     # d exp(a) = exp(a) = y


class Log(Function):
    def forward(self, a):
        return get_array_module(a).log(a)

    def backward(self, g):
        a, = self.inputs
        return g / a


class Maximum(Function):
    """y = max(a, c) for a constant number c (a clamp from below): dy/da = 1 where a > c, else 0."""

    def __init__(self, c):
        self.c = c

    def forward(self, a):
        self.above = a > self.c                                      # a constant mask
        return get_array_module(a).maximum(a, self.c)

    def backward(self, g):
        return g * constant(self.above.astype(g.dtype))


class MatMul(Function):
    """Matrix product a @ b of arrays with ndim >= 2 ((..., n, k) @ (..., k, m) -> (..., n, m))."""

    def forward(self, a, b):
        return a @ b

    def backward(self, g):                                           # g: (..., n, m)
        a, b = self.inputs
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = unbroadcast(g @ _swap_last_two(b), a.shape)         # (..., n, m) @ (..., m, k)
        if self.needs_input_grad[1]:
            gb = unbroadcast(_swap_last_two(a) @ g, b.shape)         # (..., k, n) @ (..., n, m)
        return ga, gb


def _swap_last_two(t):
    axes = list(range(t.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return t.permute(*axes)


class Linear(Function):
    """y = x @ W^T + b, the fully connected layer, as one op (one matmul each way)."""

    def forward(self, x, weight, bias=None):
        y = x @ weight.T                                             # (N, in) @ (in, out) -> (N, out)
        if bias is not None:
            y += bias
        return y

    def backward(self, g):                                           # g: (N, out)
        x, weight = self.inputs[0], self.inputs[1]
        gx = g @ weight if self.needs_input_grad[0] else None        # (N, out) @ (out, in) -> (N, in)
        gw = g.T @ x if self.needs_input_grad[1] else None           # (out, N) @ (N, in) -> (out, in)
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
    return Pow(exponent)(a)


def exp(a):
    return Exp()(a)


def log(a):
    return Log()(a)


def maximum(a, c):
    """max(a, c) elementwise for a constant number c (a clamp from below)."""
    return Maximum(c)(a)


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


# ----------------------------------------------------------------------------------------------------
# Reductions: sum and mean (and BroadcastTo, their backward)
# ----------------------------------------------------------------------------------------------------
def _normalize_axes(axis, ndim):
    """None -> every axis; -1 -> ndim - 1; an int or a tuple -> a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    positive = []
    for a in axes:
        positive.append(a % ndim)                            # -1 -> ndim - 1
    return tuple(positive)


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        self.axes = _normalize_axes(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        return BroadcastTo(self.x_shape, self.axes, self.keepdims)(g)


class BroadcastTo(Function):
    """Copy x along ``axes`` to ``shape``: the backward of Sum, whose own backward is a Sum."""

    def __init__(self, shape, axes, keepdims):
        self.shape, self.axes, self.keepdims = shape, axes, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        if not self.keepdims:
            x = xp.expand_dims(x, self.axes)          # put the summed axes back as size 1
        return xp.broadcast_to(x, self.shape).copy()

    def backward(self, g):
        return sum(g, self.axes, self.keepdims)


class Mean(Sum):
    def forward(self, x):
        self.x_shape = x.shape
        self.axes = _normalize_axes(self.axis, x.ndim)
        self.count = 1                                       # how many values each mean averages
        for a in self.axes:
            self.count *= x.shape[a]
        return x.sum(axis=self.axes, keepdims=self.keepdims) / self.count

    def backward(self, g):
        return super().backward(g / self.count)


def sum(x, axis=None, keepdims=False):
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return Mean(axis, keepdims)(x)
