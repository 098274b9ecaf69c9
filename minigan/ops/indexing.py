"""Indexing and joining: x[idx] (getitem), its adjoint ScatterAdd, and cat (concat).

Reading order: ops/arith -> **ops/indexing** -> ops/shape. Like the shape ops, these move numbers
without changing them, so each backward moves the gradient back:

    x[idx]      a zero array of x's shape with grad added at idx (ScatterAdd, whose backward is x[idx])
    concat      the slice of grad that belongs to each input

The cGAN joins the label channel to the image with ``cat``; a Tensor's ``t[idx]`` is ``getitem``.
"""

from minigan.autograd import Function
from minigan.backend import get_array_module


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
