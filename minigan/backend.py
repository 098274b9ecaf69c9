"""The array backend: NumPy on the CPU, CuPy on an NVIDIA GPU.

Reading order: **backend** -> autograd -> ops -> tensor -> nn -> optim -> models -> training.
Read this file first; next read ``autograd.py``.

minigan never writes ``import numpy as np`` inside an operation. Every op asks the arrays it was given
which library they belong to::

    xp = get_array_module(x)      # numpy for numpy arrays, cupy for cupy arrays
    y = xp.exp(x)                 # the same line runs on the CPU and on the GPU

NumPy and CuPy share one API, so one code path serves both (the idea comes from Chainer and DeZero).
This module is the ONLY place that knows CuPy exists, and it imports CuPy lazily: a CPU-only machine
never needs it installed.

What lives here
- ``set_backend("numpy" | "cupy")`` / ``get_backend()``: the backend new arrays are created on (the
  environment variable ``MINIGAN_BACKEND`` sets the starting value).
- ``get_array_module(x)``: the array library of an existing array.
- ``xp()``: the array library of the active backend (for creating new arrays).
- ``to_numpy(x)`` / ``to_device(x, backend)``: explicit copies between host and device. Nothing in
  minigan converts a GPU array to NumPy implicitly (CuPy refuses that too).
- ``manual_seed(seed)`` / ``default_generator()``: one seeded random generator per backend (saving and
  restoring its state for a resumed run is tooling: minigan/run/rng_state.py).
- ``cupy_nccl()``: CuPy's NCCL bindings, for data-parallel training on several GPUs (distributed.py).
- ``textbook()`` / ``is_textbook()``: the switch between the fast kernels (minigan/fast/, the default)
  and the textbook definitions (``with mg.textbook():``, or MINIGAN_TEXTBOOK=1): same numbers, the
  plain formulas stepped through in a debugger.

A third backend exists for tests only: ``tests/strict_xp.py`` registers a "strict" array type that
behaves like CuPy on the CPU (it refuses ``np.exp(x)`` and mixing with plain NumPy arrays), so that a
NumPy-only call slipped into an op makes a test fail even on a machine without a GPU.
"""

import contextlib
import os

import numpy as np

DEFAULT_DTYPE = np.float32

# name -> (array module, array type, function that copies one array to numpy)
_BACKENDS = {"numpy": (np, np.ndarray, np.asarray)}
_active = None            # the name of the active backend; resolved on first use
_generators = {}          # backend name -> seeded random generator
_textbook = os.environ.get("MINIGAN_TEXTBOOK", "0") not in ("", "0")   # True: no speed kernels


@contextlib.contextmanager
def textbook(enabled=True):
    """Run every op by its textbook definition inside the block: the same numbers, the plain formulas.

    conv2d as im2col + one matmul (ops/im2col.py), col2im as k x k adds then a crop, the transposed
    convolution as Kiểu 1 (scatter), BatchNorm composed of Tensor ops (autograd derives its backward),
    Adam as the paper's four lines per parameter; no kn2row, no sub-pixel choice, no batch-innermost
    layout. Outside it (the default) each op reaches its speed kernel in minigan/fast/ at one visible
    line. ``MINIGAN_TEXTBOOK=1`` (or ``--textbook`` on the example scripts) turns it on for a whole run.

        >>> with mg.textbook():
        ...     loss_D, _, _ = d_step(G, D, opt_D, real, None, config)   # step into it in a debugger
    """
    previous = _textbook
    set_textbook(enabled)
    try:
        yield
    finally:
        set_textbook(previous)


def set_textbook(enabled):
    """Turn textbook mode on or off for the rest of the program (``--textbook`` calls this)."""
    global _textbook
    _textbook = bool(enabled)


def is_textbook():
    """True inside ``with textbook():`` (or with MINIGAN_TEXTBOOK=1): the ops skip their speed kernels."""
    return _textbook


class BackendError(RuntimeError):
    """The requested backend cannot be used on this machine."""


class UnknownBackendError(BackendError, ValueError):
    """A backend name that minigan does not know (a typo in --backend or $MINIGAN_BACKEND)."""


def _load_cupy():
    """Import CuPy and check that a GPU is visible; register it as the "cupy" backend."""
    if "cupy" in _BACKENDS:
        return
    try:
        import cupy  # the one place in minigan that imports CuPy
    except ImportError as err:
        raise BackendError(
            "backend 'cupy' needs the CuPy package, which is not installed. Install it with "
            "`pip install minigan[cuda12]` (CUDA 12) or `pip install minigan[cuda13]` (CUDA 13), "
            f"or use the 'numpy' backend. (ImportError: {err})"
        ) from err
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA driver missing or broken
        raise BackendError(
            f"CuPy is installed, but no usable NVIDIA GPU was found ({err}). "
            "Use the 'numpy' backend on this machine."
        ) from err
    if n_gpus == 0:
        raise BackendError("CuPy is installed, but no NVIDIA GPU was found. Use the 'numpy' backend.")
    _BACKENDS["cupy"] = (cupy, cupy.ndarray, cupy.asnumpy)


def cupy_nccl():
    """CuPy's NCCL bindings (``cupy.cuda.nccl``): the GPU all-reduce of minigan/parallel/distributed.py."""
    _load_cupy()
    from cupy.cuda import nccl  # CuPy's own sub-module; NCCL itself is a separate library
    if not getattr(nccl, "available", False):
        raise BackendError("CuPy cannot load the NCCL library, which multi-GPU training needs. Install it "
                           "with `pip install nvidia-nccl-cu12` (CUDA 12; nvidia-nccl-cu13 for CUDA 13), "
                           "or train on the CPU with MPI (--backend numpy).")
    return nccl


def register_backend(name, array_module, array_type, to_numpy_fn):
    """Add a backend (used by the tests for the strict stand-in of CuPy)."""
    _BACKENDS[name] = (array_module, array_type, to_numpy_fn)


def is_registered(name):
    """Whether ``name`` is a backend loaded in this process (numpy, cupy once loaded, strict in tests)."""
    return name in _BACKENDS


def set_backend(name):
    """Choose the backend on which new arrays and parameters are created."""
    global _active
    if name == "cupy":
        _load_cupy()
    if name not in _BACKENDS:
        raise UnknownBackendError(f"unknown backend {name!r}; expected one of 'numpy', 'cupy'")
    _active = name


def is_backend_name(name):
    """True for "numpy", "cupy" (installed or not) and the backends registered by tests."""
    return name == "cupy" or name in _BACKENDS


def get_backend():
    """The name of the active backend ("numpy" unless set_backend or MINIGAN_BACKEND says otherwise)."""
    if _active is None:
        name = os.environ.get("MINIGAN_BACKEND", "numpy")
        try:
            set_backend(name)
        except BackendError as err:                                  # also UnknownBackendError: a typo
            raise type(err)(f"the environment variable MINIGAN_BACKEND is {name!r}: {err} (set it to 'numpy' "
                            "or 'cupy', or unset it: numpy)") from None
    return _active


def xp():
    """The array module (numpy, cupy, ...) of the active backend."""
    return _BACKENDS[get_backend()][0]


def backend_of(x):
    """The backend name an array belongs to ("numpy" for Python scalars)."""
    for name, (_, array_type, _) in _BACKENDS.items():
        if name != "numpy" and isinstance(x, array_type):
            return name
    return "numpy"


def describe(array):
    """'(2, 3) float32 numpy' — how trace() and error messages show an array."""
    return f"{tuple(array.shape)} {array.dtype} {backend_of(array)}"


def refuse_mixed_backends(op_name, arrays):
    """The error for an op whose inputs live on different backends (numpy and cupy never mix)."""
    shapes = ", ".join(describe(a) for a in arrays)
    raise TypeError(f"{op_name}: inputs live on different backends ({shapes}). Move them to one backend "
                    "first, e.g. tensor.to('cupy') or tensor.to('numpy') (module.to(...) for a model).")


def get_array_module(x):
    """numpy for a numpy array, cupy for a cupy array: the library to compute on ``x`` with."""
    for name, (module, array_type, _) in _BACKENDS.items():     # (backend_of's loop, one call less)
        if name != "numpy" and isinstance(x, array_type):
            return module
    return np


def to_numpy(x):
    """Copy an array of any backend into a numpy.ndarray (a no-op for numpy arrays)."""
    return _BACKENDS[backend_of(x)][2](x)


def to_device(x, backend=None, dtype=None):
    """Copy a numpy/cupy array (or nested list) onto ``backend`` (default: the active one)."""
    backend = backend or get_backend()
    if backend == "cupy":
        _load_cupy()
    if backend_of(x) != "numpy" and backend_of(x) != backend:
        x = to_numpy(x)  # device -> host first; never implicit
    return _BACKENDS[backend][0].asarray(x, dtype=dtype)


def manual_seed(seed):
    """Seed minigan's random generators (parameter init, noise, dropout) on every backend."""
    _generators.clear()
    _generators["seed"] = int(seed)


def default_generator(backend=None):
    """The seeded random generator of a backend: numpy.random.Generator or cupy's RandomState."""
    backend = backend or get_backend()
    if backend not in _generators:
        seed = _generators.get("seed")
        module = _BACKENDS[backend][0]
        if backend == "numpy":
            _generators[backend] = np.random.default_rng(seed)
        else:
            _generators[backend] = module.random.RandomState(seed)
    return _generators[backend]


def randn(shape, dtype=DEFAULT_DTYPE, backend=None):
    """Standard-normal samples of ``shape`` on a backend, drawn from its seeded generator."""
    return default_generator(backend).standard_normal(shape, dtype=dtype)


def rand(shape, dtype=DEFAULT_DTYPE, backend=None):
    """Uniform samples in [0, 1) of ``shape`` on a backend, drawn from its seeded generator."""
    gen = default_generator(backend)
    if isinstance(gen, np.random.Generator):
        return gen.random(shape, dtype=dtype)
    return gen.random_sample(shape).astype(dtype, copy=False)


def base_seed(seed=None):
    """The seed of ``manual_seed`` (one is drawn from the OS and kept if it was never called); given ``seed``,
    set it without resetting the generators (a resumed run: minigan/run/rng_state.py)."""
    if seed is not None:
        _generators["seed"] = int(seed)
    if _generators.get("seed") is None:
        _generators["seed"] = int(np.random.SeedSequence().entropy % (1 << 63))
    return _generators["seed"]
