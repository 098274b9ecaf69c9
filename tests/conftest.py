"""Shared fixtures: every op test runs on every backend through ONE fixture (no copied test files).

Backends:
- "numpy":  the CPU backend.
- "strict": NumPy arrays in a wrapper that behaves like CuPy (tests/strict_xp.py). A NumPy-only call
            slipped into an op (``np.exp(x)``, ``np.zeros(...)`` mixed with device arrays) fails here,
            on a machine without a GPU.
- "cupy":   only listed when CuPy imports and a GPU is visible.

Fixtures: ``backend`` (the active backend's name), ``xp`` (its array module), ``make`` (float64
tensors on the active backend from NumPy data) and ``rng`` (a seeded numpy Generator).

Choosing backends: ``MINIGAN_TEST_BACKENDS=cupy python -m pytest`` (or ``=numpy,strict``) runs only the
cases of those backends: the ``backend`` fixture takes just those names, and every test that is not
parametrised over one of them is deselected, unless it is marked ``@pytest.mark.backends("cupy")``
(a test about one backend that does not use the fixture). A name that is unknown, or not available
here (cupy without CuPy or a GPU), stops the run with a usage error rather than skipping everything.
Unset, every available backend runs, and so do the tests that use none (benchmarks/gpu_check.sh
sets it to run the CuPy cases alone).
"""

import os

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


KNOWN_BACKENDS = ("numpy", "strict", "cupy")
SELECTED = [name.strip() for name in os.environ.get("MINIGAN_TEST_BACKENDS", "").split(",") if name.strip()]
BACKENDS = SELECTED or ["numpy", "strict"] + (["cupy"] if _cupy_available() else [])


def pytest_configure(config):
    config.addinivalue_line("markers", "backends(*names): a test about these backends that does not use the "
                                       "`backend` fixture; kept when MINIGAN_TEST_BACKENDS names one of them")
    unknown = [name for name in SELECTED if name not in KNOWN_BACKENDS]
    if unknown:
        raise pytest.UsageError(f"MINIGAN_TEST_BACKENDS={os.environ['MINIGAN_TEST_BACKENDS']!r}: unknown backend "
                                f"{unknown[0]!r}; expected a comma-separated list of {', '.join(KNOWN_BACKENDS)}")
    if "cupy" in SELECTED and not _cupy_available():
        raise pytest.UsageError("MINIGAN_TEST_BACKENDS names cupy, but the cupy backend is not available here "
                                "(CuPy is not installed or no GPU is visible): nothing of it could run")


def pytest_collection_modifyitems(config, items):
    """With MINIGAN_TEST_BACKENDS set: keep the cases of the selected backends, deselect the rest."""
    if not SELECTED:
        return
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        marker = item.get_closest_marker("backends")
        names = [callspec.params["backend"]] if callspec and "backend" in callspec.params else []
        names += list(marker.args) if marker else []
        (kept if any(name in SELECTED for name in names) else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept


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
