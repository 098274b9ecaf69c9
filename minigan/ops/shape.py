"""Shape ops: reshape, permute / transpose, flatten, pad, dilate (indexing and concat: ops/indexing.py).

Reading order: ops/arith -> ops/indexing -> **ops/shape** -> ops/activations -> ops/im2col -> ops/conv.
These ops move numbers around without changing them, so each backward moves the gradient back:

    reshape     grad.reshape(input shape)                 (flatten is a reshape)
    permute     grad.transpose(inverse permutation)       (transpose(dim0, dim1) is a permute)
    pad         crop the padding off the gradient
    dilate      keep every s-th gradient value (the ones that came from input pixels)

``pad`` and ``dilate`` are the first two steps of the "dilate" definition of the transposed
convolution (ops/conv.py): insert zeros between pixels, pad, then an ordinary convolution.
"""

import math

from minigan.autograd import Function
from minigan.backend import get_array_module
from minigan.ops.indexing import getitem


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
        return permute(g, inverse)


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


def permute(x, *dims):
    """Reorder all axes: output axis i is input axis dims[i] (torch.permute, numpy's x.transpose(dims)).

    permute(x, 0, 2, 3, 1): (N, C, H, W) -> (N, H, W, C). No dims: reverse the axes (x.T).
    """
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if dims and sorted(d % x.ndim for d in dims) != list(range(x.ndim)):
        raise ValueError(f"permute: expected an order of all {x.ndim} axes (each of 0..{x.ndim - 1} once), "
                         f"got {dims} for an input of shape {tuple(x.shape)}")
    return Transpose(tuple(d % x.ndim for d in dims) if dims else None)(x)


def transpose(x, dim0, dim1):
    """Swap two axes, as torch.transpose: transpose(x, 0, 1) of a (3, 4) tensor is (4, 3).

    (Not numpy's x.transpose(*axes), which takes a whole order of the axes: that is ``permute``.)
    """
    dims = list(range(x.ndim))
    try:
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    except (IndexError, TypeError):
        raise ValueError(f"transpose(dim0, dim1): expected two axes of the {x.ndim}-d input (shape "
                         f"{tuple(x.shape)}), got {dim0!r}, {dim1!r}; to reorder all axes use permute(*dims)") from None
    return Transpose(tuple(dims))(x)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge the axes start_dim..end_dim into one, as torch.flatten (its defaults: everything -> 1-D).

    (N, C, H, W): flatten(x) -> (N*C*H*W,); flatten(x, 1) -> (N, C*H*W), what nn.Flatten does.
    A 0-d input becomes shape (1,).
    """
    shape = tuple(x.shape) or (1,)                                   # a 0-d input flattens to (1,)
    ndim = len(shape)
    axes_exist = -ndim <= start_dim < ndim and -ndim <= end_dim < ndim
    if not axes_exist or start_dim % ndim > end_dim % ndim:
        raise ValueError(f"flatten: expected start_dim <= end_dim, both axes of the input, got start_dim="
                         f"{start_dim}, end_dim={end_dim} for an input of shape {tuple(x.shape)}")
    start, end = start_dim % ndim, end_dim % ndim
    merged = shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:]   # explicit sizes: N = 0 works
    return Reshape(merged)(x)


def pad2d(x, top, bottom, left, right):
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pad2d: padding widths must be >= 0, got {(top, bottom, left, right)}")
    return Pad2d(top, bottom, left, right)(x)


def dilate2d(x, stride):
    if stride < 1:
        raise ValueError(f"dilate2d: stride must be >= 1, got {stride}")
    return Dilate2d(stride)(x)
