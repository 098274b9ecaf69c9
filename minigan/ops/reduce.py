"""Reductions: sum and mean over some axes (or all of them).

Reading order: ops/shape -> **ops/reduce** -> ops/activations.

    y = sum(x, axis)    dx = g broadcast back over the summed axes
    y = mean(x, axis)   dx = g broadcast back, divided by the number of values averaged

Backward first re-inserts the reduced axes (``keepdims``) so that broadcasting lines ``g`` up with ``x``.
"""

from minigan.autograd import Function
from minigan.backend import get_array_module


def _normalize_axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, (tuple, list)) else (axis,)
    return tuple(a % ndim for a in axes)


class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.x_shape = x.shape
        self.axes = _normalize_axes(self.axis, x.ndim)
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, g):
        xp = get_array_module(g)
        if not self.keepdims:
            g = xp.expand_dims(g, self.axes)          # put the summed axes back as size 1
        return xp.broadcast_to(g, self.x_shape).copy()


class Mean(Sum):
    def forward(self, x):
        y = super().forward(x)
        self.count = 1
        for a in self.axes:
            self.count *= x.shape[a]
        return y / self.count

    def backward(self, g):
        return super().backward(g / self.count)


def sum(x, axis=None, keepdims=False):
    return Sum(axis, keepdims)(x)


def mean(x, axis=None, keepdims=False):
    return Mean(axis, keepdims)(x)
