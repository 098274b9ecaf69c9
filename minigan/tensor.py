"""Tensor: an array (numpy or cupy) plus what autograd needs (requires_grad, grad, creator).

Reading order: backend -> autograd -> ops -> **tensor** -> nn -> optim -> models -> training.
Read ``autograd.py`` and ``ops/arith.py`` first; next read ``nn/module.py``.

A Tensor is a thin, readable wrapper. Every operator is written out on its own line and calls the
op that implements it, so "go to definition" in an editor, or "step into" in a debugger, lands on the
math (the five plain arithmetic operators call their Function class directly: one frame less)::

    def __mul__(self, other): return arith.Mul()(self, other)     # -> ops/arith.py: Mul

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
from minigan.ops import activations, arith, compare, convert, indexing, shape


class Tensor:
    __array_ufunc__ = None  # array (op) tensor: NumPy defers to the Tensor's operator (array @ g -> Tensor)

    def __init__(self, data, requires_grad=False, name=None):
        if data is None:  # np.asarray(None, dtype=float32) would silently give nan
            raise TypeError("Tensor(None): expected an array, a (nested) list or a number")
        if isinstance(data, Tensor):
            data = data.data
        if isinstance(data, np.generic):
            data = np.asarray(data)  # a NumPy scalar (x.sum() of a numpy array): keep its dtype
        elif not isinstance(data, np.ndarray) and backend.backend_of(data) == "numpy":
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

    def __bool__(self):
        """``if t:`` for a one-element tensor; more elements are ambiguous (as in PyTorch and NumPy)."""
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is ambiguous; "
                             "use (t == u).all() / .any() on the arrays, e.g. bool((t == u).numpy().all())")
        return bool(self.item())

    __hash__ = object.__hash__  # identity, as in PyTorch: == compares values, so it cannot define the hash

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

    def __float__(self):
        return float(self.item())                                    # float(loss): one read from the device

    def __format__(self, spec):
        """f"{loss:.3f}" formats a one-element tensor's value (a read from the device); f"{t}" its repr."""
        return format(self.item(), spec) if spec else str(self)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item(): the tensor has {self.data.size} elements, expected 1")
        return self.numpy().reshape(()).item()

    def to(self, target):
        """A copy on another backend (``t.to("cupy")``) or as another dtype (``t.to("float64")``).

        Both keep the gradient, as in PyTorch: the copy is part of the graph (ops/convert.py).
        """
        if isinstance(target, str) and (target in ("numpy", "cupy") or backend.is_registered(target)):
            return convert.to_backend(self, target)
        return convert.cast(self, target)

    def astype(self, dtype):
        """A copy as ``dtype``; keeps the gradient for float dtypes (ops/convert.py: Cast)."""
        return convert.cast(self, dtype)

    def __array__(self, dtype=None, copy=None):
        """``np.asarray(t)``: the numbers of a NumPy-backed tensor (like torch's ``Tensor.__array__``).

        A GPU tensor refuses, as a CuPy array does: copying to the host must be explicit (``t.numpy()``).
        A tensor that requires grad refuses too, as in PyTorch: the array would silently leave the graph.
        """
        if self.backend != "numpy":
            raise TypeError(f"Implicit conversion to a NumPy array is not allowed: this tensor is on the "
                            f"{self.backend} backend. Please use t.numpy() to copy it to the host explicitly.")
        if self.requires_grad:
            raise RuntimeError("np.asarray() of a tensor that requires grad would leave the graph without a "
                               "word; use t.detach().numpy() (or t.numpy()) to say so")
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    __array_ufunc__ = None  # numpy array (op) tensor calls the tensor's operator (__radd__, ...), keeping the graph

    # --- operators, one per line: each calls the op that implements it --------------------------------
    def __add__(self, other): return arith.Add()(self, other)
    def __radd__(self, other): return arith.Add()(other, self)
    def __sub__(self, other): return arith.Sub()(self, other)
    def __rsub__(self, other): return arith.Sub()(other, self)
    def __mul__(self, other): return arith.Mul()(self, other)
    def __rmul__(self, other): return arith.Mul()(other, self)
    def __truediv__(self, other): return arith.Div()(self, other)
    def __rtruediv__(self, other): return arith.Div()(other, self)
    def __neg__(self): return arith.Neg()(self)
    def __pow__(self, exponent): return arith.Pow(exponent)(self)
    def __matmul__(self, other): return arith.matmul(self, other)
    def __rmatmul__(self, other): return arith.matmul(other, self)
    def __getitem__(self, index): return indexing.getitem(self, _unwrap_index(index))
    def __eq__(self, other): return compare.eq(self, other)
    def __ne__(self, other): return compare.ne(self, other)
    def __lt__(self, other): return compare.lt(self, other)
    def __le__(self, other): return compare.le(self, other)
    def __gt__(self, other): return compare.gt(self, other)
    def __ge__(self, other): return compare.ge(self, other)

    def exp(self): return arith.exp(self)
    def log(self): return arith.log(self)
    def sum(self, axis=None, keepdims=False, *, dim=None): return arith.Sum(_axis(axis, dim), keepdims)(self)
    def mean(self, axis=None, keepdims=False, *, dim=None): return arith.Mean(_axis(axis, dim), keepdims)(self)
    def reshape(self, *new_shape): return shape.reshape(self, *new_shape)
    def transpose(self, dim0, dim1): return shape.transpose(self, dim0, dim1)
    def permute(self, *dims): return shape.permute(self, *dims)
    def flatten(self, start_dim=0, end_dim=-1): return shape.flatten(self, start_dim, end_dim)
    def relu(self): return activations.relu(self)
    def tanh(self): return activations.tanh(self)
    def sigmoid(self): return activations.sigmoid(self)

    @property
    def T(self):
        return shape.permute(self)                                   # all axes reversed


def _axis(axis, dim):
    """``dim=`` is PyTorch's name for NumPy's ``axis=``: t.sum(dim=1) == t.sum(axis=1) == t.sum(1)."""
    if dim is not None and axis is not None:
        raise TypeError(f"give axis={axis} or dim={dim}, not both (they are two names for one argument)")
    return axis if dim is None else dim


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
    """Concatenate tensors along an axis (see ops/indexing.py: Concat)."""
    return indexing.cat([as_tensor(t) for t in tensors], axis)
