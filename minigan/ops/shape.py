"""Shape ops: reshape, transpose, getitem, concat, pad, dilate.

Reading order: ops/arith -> **ops/shape** -> ops/reduce -> ops/activations -> ops/conv.
These ops move numbers around without changing them, so each backward moves the gradient back:

    reshape     grad.reshape(input shape)
    transpose   grad.transpose(inverse permutation)
    x[idx]      a zero array of x's shape with grad added at idx (ScatterAdd, whose backward is x[idx])
    concat      the slice of grad that belongs to each input
    pad         crop the padding off the gradient
    dilate      keep every s-th gradient value (the ones that came from input pixels)

``pad`` and ``dilate`` are the first two steps of the "dilate" definition of the transposed
convolution (ops/conv.py): insert zeros between pixels, pad, then an ordinary convolution.
"""

import math

from minigan.autograd import Function
from minigan.backend import get_array_module


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, g):
        return reshape(g, self.x_shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        if self.axes is None:
            self.axes = tuple(reversed(range(x.ndim)))
        return x.transpose(self.axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for i, axis in enumerate(self.axes):
            inverse[axis] = i
        return transpose(g, inverse)


class GetItem(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape = x.shape
        return x[self.index]

    def backward(self, g):
        return ScatterAdd(self.index, self.x_shape)(g)              # x's shape, g added at index


class ScatterAdd(Function):
    """y = zeros(shape) with x added at ``index``: the backward of x[index], and its adjoint.

    Its own backward picks the values back out: g[index] (GetItem), so the two ops are each other's
    gradient, like conv2d and conv_transpose2d.
    """

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, x):
        xp = get_array_module(x)
        out = xp.zeros(self.shape, dtype=x.dtype)
        if _is_basic_index(self.index):
            out[self.index] = x           # slices and integers pick each element at most once
        else:
            xp.add.at(out, self.index, x)  # an integer-array index may pick one element twice: add up
        return out

    def backward(self, g):
        return getitem(g, self.index)


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, slice)) or p is None or p is Ellipsis for p in parts)


class Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *arrays):
        xp = get_array_module(arrays[0])
        self.sizes = [a.shape[self.axis] for a in arrays]
        return xp.concatenate(arrays, axis=self.axis)

    def backward(self, g):
        grads, start = [], 0
        for size in self.sizes:
            index = [slice(None)] * g.ndim
            index[self.axis] = slice(start, start + size)
            grads.append(getitem(g, tuple(index)))
            start += size
        return tuple(grads)


class Pad2d(Function):
    """Zero padding of the last two axes: (top, bottom, left, right) rows/columns of zeros."""

    def __init__(self, top, bottom, left, right):
        self.widths = (top, bottom, left, right)

    def forward(self, x):                                            # x: (N, C, H, W)
        xp = get_array_module(x)
        top, bottom, left, right = self.widths
        n, c, h, w = x.shape
        out = xp.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
        out[:, :, top:top + h, left:left + w] = x                    # (N, C, H+top+bottom, W+left+right)
        return out

    def backward(self, g):
        top, bottom, left, right = self.widths
        return getitem(g, (slice(None), slice(None), slice(top, g.shape[2] - bottom),
                           slice(left, g.shape[3] - right)))         # crop the padding off


class Dilate2d(Function):
    """Insert ``stride - 1`` zeros between neighbouring pixels: (H, W) -> ((H-1)s + 1, (W-1)s + 1)."""

    def __init__(self, stride):
        self.stride = stride

    def forward(self, x):                                            # x: (N, C, H, W)
        xp = get_array_module(x)
        s = self.stride
        n, c, h, w = x.shape
        out = xp.zeros((n, c, (h - 1) * s + 1, (w - 1) * s + 1), dtype=x.dtype)
        out[:, :, ::s, ::s] = x                                      # (N, C, (H-1)s+1, (W-1)s+1)
        return out

    def backward(self, g):
        s = self.stride
        return getitem(g, (slice(None), slice(None), slice(None, None, s), slice(None, None, s)))  # (N, C, H, W)


def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    known = math.prod(n for n in shape if n != -1)                  # the product of the given sizes
    if -1 in shape:                                                  # -1: "whatever is left"
        fits = shape.count(-1) == 1 and known > 0 and x.size % known == 0
    else:
        fits = x.size == known
    if not fits:
        raise ValueError(f"reshape: expected a shape with as many values as the input, got {shape} for "
                         f"an input of shape {tuple(x.shape)} ({x.size} values)")
    return Reshape(shape)(x)


def transpose(x, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    return Transpose(axes or None)(x)


def getitem(x, index):
    return GetItem(index)(x)


def cat(tensors, axis=0):
    """Concatenate tensors along ``axis``; every other axis must match."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    first = tensors[0].shape
    if not -len(first) <= axis < len(first):
        raise ValueError(f"cat along axis {axis}: expected tensors with an axis {axis}, got tensor 0 of "
                         f"shape {tuple(first)}")
    for i, t in enumerate(tensors[1:], start=1):
        if len(t.shape) != len(first) or any(
            a != b for d, (a, b) in enumerate(zip(t.shape, first)) if d != axis % len(first)
        ):
            raise ValueError(
                f"cat along axis {axis}: expected every axis except {axis} to match tensor 0, of shape "
                f"{tuple(first)} (batch sizes too), got tensor {i} of shape {tuple(t.shape)}"
            )
    return Concat(axis)(*tensors)


def flatten(x):
    """(N, d1, d2, ...) -> (N, d1*d2*...)."""
    if x.ndim < 1:
        raise ValueError(f"flatten: expected input of shape (N, d1, ...), got {tuple(x.shape)}")
    return Reshape((x.shape[0], math.prod(x.shape[1:])))(x)             # explicit size: N = 0 works too


def pad2d(x, top, bottom, left, right):
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pad2d: padding widths must be >= 0, got {(top, bottom, left, right)}")
    return Pad2d(top, bottom, left, right)(x)


def dilate2d(x, stride):
    if stride < 1:
        raise ValueError(f"dilate2d: stride must be >= 1, got {stride}")
    return Dilate2d(stride)(x)
