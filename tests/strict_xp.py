"""A strict stand-in for CuPy on the CPU: the "strict" backend of the test suite.

Why it exists
-------------
minigan's ops must run unchanged on NumPy and on CuPy: every op asks its input which library to use
(``xp = get_array_module(x)``) instead of calling ``np.`` directly. A slip such as ``np.exp(x)`` or
``np.zeros(shape)`` mixed with device arrays passes every test on a laptop and only breaks on a GPU.
The "strict" backend makes that slip fail on any machine: its arrays behave like CuPy arrays, held in
host memory.

Design
------
- ``StrictArray`` is a wrapper class (deliberately NOT an ``ndarray`` subclass) around one
  ``numpy.ndarray`` (``.a``). It implements the operators (``+ - * / ** @``, comparisons, in-place
  ops, indexing) and the attributes and methods the ops use (``shape``, ``strides``, ``reshape``,
  ``sum``, ``astype``, ...) by delegating to ``.a`` and re-wrapping array results. Like CuPy, a
  reduction or an integer index gives a 0-d array, not a NumPy scalar.
- Like CuPy, it refuses implicit conversion: ``np.asarray(x)`` raises (``__array__``), ``np.exp(x)``
  raises (``__array_ufunc__``), ``np.concatenate([x, y])`` raises (``__array_function__``), each
  naming the NumPy function and saying to use ``xp = get_array_module(x)``.
- Like CuPy, it refuses to be mixed with a ``numpy.ndarray``: ``x + np.ones(3)`` and
  ``xp.maximum(x, np.ones(3))`` raise ``TypeError: Unsupported type <class 'numpy.ndarray'>``.
  NumPy scalars, 0-d arrays, Python numbers and dtypes are accepted, as CuPy accepts them.
  ``xp.asarray`` / ``xp.array`` are the explicit host -> device copies and accept NumPy arrays.
- ``STRICT_MODULE`` (a ``StrictModule``) is the array module of the backend. Attribute lookup finds
  the NumPy function of the same name and wraps it: StrictArray arguments are unwrapped (also inside
  lists and tuples), NumPy-array arguments are refused, array results are wrapped. Ufunc methods
  (``xp.add.at``, ``xp.add.reduce``) and sub-modules (``xp.lib.stride_tricks.as_strided``,
  ``xp.linalg``) are wrapped the same way; types and dtypes (``xp.float32``) pass through;
  ``xp.random.RandomState`` has CuPy's signatures (``standard_normal(size, dtype=...)``).

Allowed on purpose, because CuPy allows them: indices may be NumPy arrays or lists (in ``x[idx]``,
``x[idx] = v`` and ``xp.add.at``; CuPy copies them to the GPU), and a NumPy scalar on the left of an
operator (``np.float32(2) * x``) works.
"""

import numpy as np


def _refuse_ndarray(value, where):
    if isinstance(value, np.ndarray) and value.ndim > 0:
        raise TypeError(
            f"Unsupported type {type(value)} in {where}: a NumPy array mixed with strict (CuPy-like) "
            "arrays. Create arrays with xp = get_array_module(x) (or backend.to_device) instead of np."
        )


def _unwrap(value, where):
    """StrictArray -> its ndarray (the same memory), recursively inside lists/tuples/dicts."""
    if isinstance(value, StrictArray):
        return value.a
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, where) for k, v in value.items()}
    _refuse_ndarray(value, where)
    return value


def _unwrap_index(index):
    """Indices may hold StrictArrays (unwrapped), NumPy arrays and lists (allowed, as in CuPy)."""
    if isinstance(index, tuple):
        return tuple(_unwrap_index(i) for i in index)
    return index.a if isinstance(index, StrictArray) else index


def _wrap(value):
    """ndarray or NumPy scalar -> StrictArray (CuPy returns 0-d arrays, not scalars)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return StrictArray(np.asarray(value))
    if isinstance(value, (list, tuple)):
        items = [_wrap(v) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)  # namedtuples
    return value


def _strict_call(fn, where):
    """Wrap a NumPy callable: unwrap StrictArray arguments, refuse ndarrays, wrap array results."""
    def call(*args, **kwargs):
        return _wrap(fn(*_unwrap(args, where), **_unwrap(kwargs, where)))
    call.__name__ = getattr(fn, "__name__", where)
    return call


def _host_to_device(fn):
    """xp.asarray / xp.array: the explicit host -> device copy, so they accept NumPy data (and copy
    it, as CuPy does: the strict array never shares memory with the NumPy array it came from)."""
    def call(obj, *args, **kwargs):
        if isinstance(obj, StrictArray):
            obj = obj.a
        elif isinstance(obj, np.ndarray):
            obj = obj.copy()
        return _wrap(fn(obj, *args, **kwargs))
    call.__name__ = fn.__name__
    return call


def _refusal(name):
    return TypeError(
        f"{name}: implicit conversion of a strict (CuPy-like) array by NumPy is not allowed. "
        "Inside an op use xp = get_array_module(x) and call xp.<function>, not np.<function>."
    )


def _delegate(name):
    def method(self, *args, **kwargs):
        where = f"StrictArray.{name}"
        return _wrap(getattr(self.a, name)(*_unwrap(args, where), **_unwrap(kwargs, where)))
    method.__name__ = name
    return method


def _inplace(name):
    def method(self, other):
        getattr(self.a, name)(_unwrap(other, f"StrictArray.{name}"))  # modifies self.a in place
        return self
    method.__name__ = name
    return method


class StrictArray:
    """A numpy.ndarray in a wrapper that, like cupy.ndarray, refuses to be handled by NumPy."""

    __slots__ = ("a",)

    def __init__(self, array):
        self.a = array

    # --- refusals: what CuPy refuses ---------------------------------------------------------------------
    def __array__(self, *args, **kwargs):
        raise TypeError(
            "implicit conversion to a NumPy array is not allowed (strict backend, like CuPy). "
            "Use minigan.backend.to_numpy(x) to copy explicitly, or xp = get_array_module(x)."
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "__call__" and len(inputs) == 2 and isinstance(inputs[0], np.generic) \
                and inputs[1] is self and not kwargs:
            return _wrap(ufunc(inputs[0], self.a))  # `np.float32(2) * x`: allowed, as in CuPy
        raise _refusal(f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}"))

    def __array_function__(self, func, types, args, kwargs):
        raise _refusal(f"numpy.{func.__name__}")

    # --- attributes ----------------------------------------------------------------------------------------
    shape = property(lambda self: self.a.shape)
    dtype = property(lambda self: self.a.dtype)
    ndim = property(lambda self: self.a.ndim)
    size = property(lambda self: self.a.size)
    strides = property(lambda self: self.a.strides)
    itemsize = property(lambda self: self.a.itemsize)
    nbytes = property(lambda self: self.a.nbytes)
    flags = property(lambda self: self.a.flags)
    T = property(lambda self: StrictArray(self.a.T))

    __hash__ = None  # arrays are unhashable (== is elementwise)

    def __getitem__(self, index):
        return _wrap(self.a[_unwrap_index(index)])

    def __setitem__(self, index, value):
        self.a[_unwrap_index(index)] = _unwrap(value, "StrictArray.__setitem__")

    # --- Python conversions (explicit, so allowed; CuPy allows them too) ---------------------------------
    def item(self):
        return self.a.item()

    def tolist(self):
        return self.a.tolist()

    def __float__(self):
        return float(self.a)

    def __int__(self):
        return int(self.a)

    def __index__(self):
        return self.a.__index__()

    def __bool__(self):
        return bool(self.a)

    def __len__(self):
        return len(self.a)

    def __iter__(self):
        return (StrictArray(np.asarray(row)) for row in self.a)

    def __repr__(self):
        return f"StrictArray({self.a!r})"


# Methods and operators delegate to the ndarray (the operand check happens in _unwrap). Listed here
# rather than found by __getattr__, so that a method the ops should not use fails loudly.
_METHODS = ("reshape", "transpose", "swapaxes", "ravel", "flatten", "squeeze", "sum", "mean", "var",
            "std", "max", "min", "prod", "argmax", "argmin", "cumsum", "clip", "astype", "copy", "any",
            "all", "fill", "dot", "round", "nonzero", "view", "repeat")
_OPERATORS = ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
              "__rtruediv__", "__floordiv__", "__rfloordiv__", "__mod__", "__pow__", "__rpow__",
              "__matmul__", "__rmatmul__", "__neg__", "__pos__", "__abs__", "__invert__", "__and__",
              "__or__", "__xor__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__")
_INPLACE = ("__iadd__", "__isub__", "__imul__", "__itruediv__", "__ipow__", "__iand__", "__ior__")
for _name in _METHODS + _OPERATORS:
    setattr(StrictArray, _name, _delegate(_name))
for _name in _INPLACE:
    setattr(StrictArray, _name, _inplace(_name))


class StrictRandomState:
    """CuPy's cupy.random.RandomState signatures, on numpy.random.RandomState."""

    def __init__(self, seed=None):
        self._rs = np.random.RandomState(seed)

    def seed(self, seed=None):
        self._rs.seed(seed)

    def standard_normal(self, size=None, dtype=float):
        return StrictArray(np.asarray(self._rs.standard_normal(size), dtype=dtype))

    def random_sample(self, size=None, dtype=float):
        return StrictArray(np.asarray(self._rs.random_sample(size), dtype=dtype))

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        return StrictArray(np.asarray(self._rs.normal(loc, scale, size), dtype=dtype))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        return StrictArray(np.asarray(self._rs.uniform(low, high, size), dtype=dtype))


class StrictModule:
    """The array module of the strict backend: NumPy's namespace, every function wrapped."""

    def __init__(self, namespace, name):
        self._namespace, self._name = namespace, name

    def __getattr__(self, name):
        where = f"{self._name}.{name}"
        if self._namespace is np and name == "random":
            return _RANDOM                                          # xp.random.RandomState(seed)
        if self._namespace is np and name == "ndarray":
            return StrictArray
        obj = getattr(self._namespace, name)                        # AttributeError for typos
        if isinstance(obj, type) or obj is None:                    # dtypes, finfo, errstate, newaxis
            return obj
        if isinstance(obj, type(np)):                               # sub-modules: lib, linalg, ...
            return StrictModule(obj, where)
        if isinstance(obj, np.ufunc):
            return StrictUfunc(obj, where)
        if name in ("asarray", "array", "asanyarray"):
            return _host_to_device(obj)
        if callable(obj):
            return _strict_call(obj, where)
        return obj                                                  # constants: pi, inf, e

    def __repr__(self):
        return f"<strict stand-in for CuPy: {self._name}>"


class _RandomNamespace:
    """xp.random: only what minigan's backend uses (cupy.random.RandomState)."""
    RandomState = StrictRandomState


_RANDOM = _RandomNamespace()


class StrictUfunc:
    """A NumPy ufunc whose call and methods (.at, .reduce, .outer, ...) go through the strict checks."""

    def __init__(self, ufunc, where):
        self._ufunc, self._where = ufunc, where
        self._call = _strict_call(ufunc, where)

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def at(self, a, indices, b=None):
        """xp.add.at(a, indices, b): indices follow the indexing rules (NumPy arrays allowed)."""
        where = f"{self._where}.at"
        args = (_unwrap(a, where), _unwrap_index(indices)) + (() if b is None else (_unwrap(b, where),))
        self._ufunc.at(*args)                                       # in place, in a's memory

    def __getattr__(self, name):
        obj = getattr(self._ufunc, name)
        return _strict_call(obj, f"{self._where}.{name}") if callable(obj) else obj


def to_numpy(x):
    """The explicit device -> host copy of the strict backend (cupy.asnumpy's role)."""
    return np.array(x.a)


STRICT_MODULE = StrictModule(np, "xp")
