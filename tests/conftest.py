"""Shared fixtures: every op test runs on every backend through ONE fixture (no copied test files).

Backends:
- "numpy":  the CPU backend.
- "strict": NumPy arrays in a wrapper that behaves like CuPy (tests/strict_xp.py). A NumPy-only call
            slipped into an op (``np.exp(x)``, ``np.zeros(...)`` mixed with device arrays) fails here,
            on a machine without a GPU.
- "cupy":   only listed when CuPy imports and a GPU is visible.

Fixtures: ``backend`` (the active backend's name), ``xp`` (its array module), ``make`` (float64
tensors on the active backend from NumPy data) and ``rng`` (a seeded numpy Generator).
"""

import numpy as np
import pytest

import minigan as mg
from minigan import backend as backend_module
from strict_xp import STRICT_MODULE, StrictArray, to_numpy as strict_to_numpy

backend_module.register_backend("strict", STRICT_MODULE, StrictArray, strict_to_numpy)


def _cupy_available():
    """True when the "cupy" backend works here (CuPy installed and a GPU visible)."""
    try:
        backend_module.to_device(np.zeros(1), "cupy")   # imports CuPy lazily, checks for a GPU
    except backend_module.BackendError:
        return False
    return True


BACKENDS = ["numpy", "strict"] + (["cupy"] if _cupy_available() else [])


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The name of the active backend; set before the test, "numpy" again after it."""
    mg.set_backend(request.param)
    mg.manual_seed(0)
    yield request.param
    mg.set_backend("numpy")


@pytest.fixture
def xp(backend):
    """The array module of the active backend (numpy, the strict stand-in, or cupy)."""
    return backend_module.xp()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def tensor64(array, requires_grad=False, name=None):
    """A float64 tensor on the active backend, from NumPy data (gradcheck needs float64)."""
    return mg.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad,
                     dtype=np.float64, name=name)


@pytest.fixture
def make(backend):
    """``make(np_array, requires_grad=False)``: a float64 tensor on the backend under test."""
    return tensor64
