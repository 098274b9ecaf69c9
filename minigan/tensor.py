"""Tensor: an array (numpy or cupy) plus what autograd needs (requires_grad, grad, creator).

Reading order: backend -> autograd -> ops -> **tensor** -> nn -> optim -> models -> training.
Read ``autograd.py`` and ``ops/arith.py`` first; next read ``nn/module.py``.

A Tensor is a thin, readable wrapper. Every operator is written out on its own line and calls the
op function that implements it, so "go to definition" in an editor, or "step into" in a debugger,
lands on the math::

    def __mul__(self, other): return ops.mul(self, other)     # -> ops/arith.py: Mul

Fields
- ``data``: the array (numpy.ndarray on the "numpy" backend, cupy.ndarray on "cupy").
- ``requires_grad``: whether backward() should compute d loss / d this tensor.
- ``grad``: the gradient (an array of the same shape), filled by ``loss.backward()``; accumulates.
  After ``backward(create_graph=True)`` it is a Tensor instead, with the graph of the backward pass.
- ``creator``: the Function that produced this tensor (None for a leaf: data, parameters).
- ``name``: an optional label, shown in repr and handy when debugging.
"""

import numpy as np

from minigan import autograd, backend
from minigan.ops import activations, arith, reduce, shape


class Tensor:
    __array_ufunc__ = None  # array (op) tensor: NumPy defers to the Tensor's operator (array @ g -> Tensor)

    def __init__(self, data, requires_grad=False, name=None):
        if data is None:  # np.asarray(None, dtype=float32) would silently give nan
            raise TypeError("Tensor(None): expected an array, a (nested) list or a number")
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):
            data = np.asarray(data)  # a NumPy scalar (x.sum() of a numpy array): keep its dtype
        elif backend.backend_of(data) == "numpy" and not isinstance(data, np.ndarray):
            data = np.asarray(data, dtype=backend.DEFAULT_DTYPE)  # Python numbers and lists
        self.data = data
        self.requires_grad = requires_grad
        self.grad = None
        self.creator = None
        self.name = name

    # --- information ---------------------------------------------------------------------------------
    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def size(self):
        return self.data.size

    @property
    def backend(self):
        return backend.backend_of(self.data)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor (a single number); use t.item()")
        return self.data.shape[0]

    def __repr__(self):
        parts = [f"shape={self.shape}", f"dtype={self.dtype}", f"backend={self.backend}"]
        if self.name:
            parts.append(f"name={self.name!r}")
        if self.creator is not None:
            parts.append(f"creator={type(self.creator).__name__}")
        if self.requires_grad:
            parts.append("requires_grad=True")
        return f"Tensor({', '.join(parts)})"

    # --- autograd --------------------------------------------------------------------------------------
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Compute d self / d leaf for every leaf with requires_grad, into leaf.grad (accumulating).

        ``create_graph=True`` records the backward pass too: leaf.grad is then a Tensor that can be
        differentiated again (see docs/double-backward.md); otherwise it is an array, as always.
        """
        autograd.backward(self, grad, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self):
        """The same data, cut from the graph (no gradient flows through it)."""
        return Tensor(self.data, requires_grad=False, name=self.name)

    def zero_grad(self):
        self.grad = None

    # --- conversion ------------------------------------------------------------------------------------
    def numpy(self):
        """A numpy.ndarray copy of the data (copies from the GPU on the cupy backend)."""
        return backend.to_numpy(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): the tensor has {self.data.size} elements, expected 1")
        return self.numpy().reshape(()).item()

    def to(self, backend_name):
        """A copy of this tensor on another backend ("numpy" or "cupy"); a leaf, gradient not kept."""
        data = backend.to_device(self.data, backend_name)
        return Tensor(data, requires_grad=self.requires_grad, name=self.name)

    def astype(self, dtype):
        return Tensor(self.data.astype(dtype), requires_grad=self.requires_grad, name=self.name)

    # --- operators, one per line: each calls the op that implements it --------------------------------
    def __add__(self, other): return arith.add(self, other)
    def __radd__(self, other): return arith.add(other, self)
    def __sub__(self, other): return arith.sub(self, other)
    def __rsub__(self, other): return arith.sub(other, self)
    def __mul__(self, other): return arith.mul(self, other)
    def __rmul__(self, other): return arith.mul(other, self)
    def __truediv__(self, other): return arith.div(self, other)
    def __rtruediv__(self, other): return arith.div(other, self)
    def __neg__(self): return arith.neg(self)
    def __pow__(self, exponent): return arith.pow(self, exponent)
    def __matmul__(self, other): return arith.matmul(self, other)
    def __rmatmul__(self, other): return arith.matmul(other, self)
    def __getitem__(self, index): return shape.getitem(self, _unwrap_index(index))

    def exp(self): return arith.exp(self)
    def log(self): return arith.log(self)
    def sum(self, axis=None, keepdims=False): return reduce.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return reduce.mean(self, axis, keepdims)
    def reshape(self, *new_shape): return shape.reshape(self, *new_shape)
    def transpose(self, *axes): return shape.transpose(self, *axes)
    def flatten(self): return shape.flatten(self)
    def relu(self): return activations.relu(self)
    def tanh(self): return activations.tanh(self)
    def sigmoid(self): return activations.sigmoid(self)

    @property
    def T(self):
        return shape.transpose(self)


def _unwrap_index(index):
    """Allow tensors as indices (x[labels]) by using their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


def as_tensor(value, like=()):
    """Wrap an array or a Python number as a constant Tensor.

    A Python number takes the dtype and backend of the tensors it is combined with (``like``), so
    ``x * 2`` stays float32 on the GPU instead of becoming a float64 CPU array.
    """
    if isinstance(value, Tensor):
        return value
    reference = next((t for t in like if isinstance(t, Tensor)), None)
    is_number = not hasattr(value, "shape") or isinstance(value, np.generic)   # 2, 0.5, np.float32(2)
    if reference is not None and is_number:
        xp = backend.get_array_module(reference.data)
        return Tensor(xp.asarray(value, dtype=reference.dtype))
    return Tensor(value)


# --- constructors ----------------------------------------------------------------------------------------
def tensor(data, requires_grad=False, dtype=None, name=None):
    """A new leaf tensor on the active backend from a list, number or array.

    Floating-point data becomes float32 (minigan's default); integer data (labels) keeps its dtype.
    The tensor always owns a copy (as on the GPU): an optimizer step never writes into ``data``.
    """
    array = backend.to_numpy(data.data if isinstance(data, Tensor) else data)
    if dtype is None:
        dtype = backend.DEFAULT_DTYPE if array.dtype.kind == "f" else array.dtype
    copy = backend.xp().array(array, dtype=dtype)                    # xp.array copies, xp.asarray may not
    return Tensor(copy, requires_grad=requires_grad, name=name)


def zeros(*shape, requires_grad=False, dtype=backend.DEFAULT_DTYPE):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(backend.xp().zeros(shape, dtype=dtype), requires_grad=requires_grad)


def ones(*shape, requires_grad=False, dtype=backend.DEFAULT_DTYPE):
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(backend.xp().ones(shape, dtype=dtype), requires_grad=requires_grad)


def randn(*shape, requires_grad=False, dtype=backend.DEFAULT_DTYPE):
    """Standard-normal samples from minigan's seeded generator (see mg.manual_seed)."""
    shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    return Tensor(backend.randn(tuple(shape), dtype=dtype), requires_grad=requires_grad)


def cat(tensors, axis=0):
    """Concatenate tensors along an axis (see ops/shape.py: Concat)."""
    return shape.cat([as_tensor(t) for t in tensors], axis)
