"""Reductions: sum and mean over some axes (or all of them).

Reading order: ops/shape -> **ops/reduce** -> ops/activations.

    y = sum(x, axis)    dx = g broadcast back over the summed axes
    y = mean(x, axis)   dx = g broadcast back, divided by the number of values averaged

The broadcast is an op of its own (BroadcastTo), whose backward is again a sum: sum and broadcast are
each other's gradient, so a sum can be differentiated twice.

Backward first re-inserts the reduced axes (``keepdims``) so that broadcasting lines ``g`` up with ``x``.
"""

from minigan.autograd import Function
from minigan.backend import get_array_module


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
