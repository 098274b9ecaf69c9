"""Conversions that keep the gradient: a cast to another dtype, a copy to another backend.

Reading order: ops/shape -> **ops/convert** -> ops/compare -> ops/activations. ``Tensor.astype`` and
``Tensor.to`` call these, so a float64 copy of a float32 tensor (or a GPU copy of a CPU tensor) is
still part of the graph, as in PyTorch::

    cast        y = x.astype(dtype)          dx = g.astype(x's dtype)
    to backend  y = copy of x on backend B   dx = copy of g back on x's backend

A cast to an integer or bool dtype has no gradient (its output is piecewise constant), so its result
is a constant, as in PyTorch.
"""

import numpy as np

from minigan import backend
from minigan.autograd import Function


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.x_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, g):
        return g.astype(self.x_dtype)                                # the gradient in the input's dtype


class ToBackend(Function):
    def __init__(self, backend_name):
        self.backend_name = backend_name

    def forward(self, x):
        self.x_backend = backend.backend_of(x)
        return backend.to_device(x, self.backend_name)               # an explicit copy (host <-> device)

    def backward(self, g):
        return g.to(self.x_backend)                                  # the gradient goes back the same way


def cast(x, dtype):
    """x as ``dtype`` (a copy); differentiable for floating-point dtypes."""
    from minigan.tensor import Tensor  # tensor.py builds on ops: import late

    dtype = np.dtype(dtype)
    if dtype.kind not in "fc":                                       # int, bool: no gradient, as in PyTorch
        return Tensor(x.data.astype(dtype))
    return Cast(dtype)(x)


def to_backend(x, backend_name):
    """A copy of x on another backend ("numpy", "cupy"); the gradient flows back to x."""
    return ToBackend(backend_name)(x)
