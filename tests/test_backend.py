"""minigan/backend.py: the backend switch, explicit copies, seeding; and the strict stand-in for CuPy."""

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigan.run import rng_state
import minigan as mg
from minigan import backend as bk   # (the fixture `backend` is the active backend's name)
from minigan.autograd import Function
from strict_xp import STRICT_MODULE, StrictArray


# --- the switch ---------------------------------------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None, reason="CuPy is installed here")
def test_cupy_without_cupy_is_a_clear_error():
    with pytest.raises(bk.BackendError) as info:
        mg.set_backend("cupy")
    message = str(info.value)
    assert "CuPy" in message and "not installed" in message
    assert "pip install minigan[cuda12]" in message and "minigan[cuda13]" in message
    assert mg.get_backend() == "numpy"   # a failed switch leaves the backend alone


def test_unknown_backend_is_a_value_error():
    with pytest.raises(ValueError, match="unknown backend 'tpu'"):
        mg.set_backend("tpu")


def test_environment_variable_sets_the_starting_backend(monkeypatch):
    monkeypatch.setattr(bk, "_active", None)
    monkeypatch.setenv("MINIGAN_BACKEND", "strict")
    assert mg.get_backend() == "strict"
    assert isinstance(mg.zeros(2).data, StrictArray)
    monkeypatch.setattr(bk, "_active", None)
    monkeypatch.delenv("MINIGAN_BACKEND")
    assert mg.get_backend() == "numpy"
    monkeypatch.setattr(bk, "_active", None)
    monkeypatch.setenv("MINIGAN_BACKEND", "bogus")
    with pytest.raises(ValueError, match="bogus"):
        mg.get_backend()
    monkeypatch.setattr(bk, "_active", "numpy")


def test_new_tensors_are_created_on_the_active_backend(backend, xp):
    for t in (mg.zeros(2, 3), mg.ones((2, 3)), mg.randn(2, 3), mg.tensor([[1.0, 2.0]])):
        assert t.backend == backend
        assert t.dtype == np.float32
        assert bk.get_array_module(t.data) is xp


def test_tensor_keeps_integer_labels_and_defaults_floats_to_float32(backend):
    assert mg.tensor([1, 2, 3]).dtype.kind == "i"
    assert mg.tensor(np.ones(2, dtype=np.float64)).dtype == np.float32
    assert mg.tensor(np.ones(2), dtype=np.float64).dtype == np.float64


# --- explicit copies ------------------------------------------------------------------------------------
def test_to_numpy_and_to_device_round_trip(backend):
    host = np.arange(6.0).reshape(2, 3)
    device = bk.to_device(host)
    assert bk.backend_of(device) == backend
    back = mg.to_numpy(device)
    assert isinstance(back, np.ndarray) and np.array_equal(back, host)
    assert bk.to_device(host, dtype=np.float32).dtype == np.float32
    # device -> numpy backend, and the Tensor-level spelling
    t = mg.tensor(host, dtype=np.float64)
    assert isinstance(t.numpy(), np.ndarray) and np.array_equal(t.numpy(), host)
    assert t.to("numpy").backend == "numpy"
    assert np.array_equal(t.to("numpy").to(backend).numpy(), host)


def test_tensors_on_different_backends_do_not_mix():
    a = mg.tensor([1.0, 2.0])                       # numpy
    b = mg.tensor([1.0, 2.0]).to("strict")
    with pytest.raises(TypeError, match="different backends"):
        a + b


# --- seeding ----------------------------------------------------------------------------------------------
def test_manual_seed_makes_random_draws_reproducible(backend):
    mg.manual_seed(123)
    a, u = mg.randn(3, 4).numpy(), mg.to_numpy(bk.rand((5,)))
    mg.manual_seed(123)
    assert np.array_equal(a, mg.randn(3, 4).numpy())
    assert np.array_equal(u, mg.to_numpy(bk.rand((5,))))
    mg.manual_seed(124)
    assert not np.array_equal(a, mg.randn(3, 4).numpy())


def test_rand_is_uniform_in_unit_interval(backend):
    u = mg.to_numpy(bk.rand((1000,)))
    assert u.dtype == np.float32 and u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.05


def test_rng_state_round_trip():
    mg.manual_seed(5)
    state = rng_state.get_rng_state()
    a = bk.randn((4,), backend="numpy")
    rng_state.set_rng_state(state)
    assert np.array_equal(a, bk.randn((4,), backend="numpy"))


# --- the strict backend catches NumPy-only code -------------------------------------------------------------
class WrongExp(Function):
    """A deliberately wrong op: calls np.exp on its input instead of xp = get_array_module(x)."""

    def forward(self, x):
        self.y = np.exp(x)
        return self.y

    def backward(self, g):
        return g * self.y


class WrongZeros(Function):
    """A deliberately wrong op: builds its output with np.zeros and mixes it with the input."""

    def forward(self, x):
        return np.zeros(x.shape, dtype=x.dtype) + x

    def backward(self, g):
        return g


@pytest.mark.parametrize("op", [WrongExp, WrongZeros])
def test_numpy_only_op_fails_on_strict_but_passes_on_numpy(op):
    x = mg.tensor([0.0, 1.0])
    assert np.allclose(op()(x).numpy()[:1], [1.0 if op is WrongExp else 0.0])   # numpy: fine
    mg.set_backend("strict")
    try:
        x = mg.tensor([0.0, 1.0])
        with pytest.raises(TypeError) as info:
            op()(x)
        assert "get_array_module" in str(info.value) or "numpy.ndarray" in str(info.value)
    finally:
        mg.set_backend("numpy")


def test_strict_refuses_implicit_conversion_and_mixing():
    xp = STRICT_MODULE
    s = xp.asarray(np.arange(3.0))
    with pytest.raises(TypeError, match="implicit conversion to a NumPy array is not allowed"):
        np.asarray(s)
    with pytest.raises(TypeError, match=r"numpy\.exp.*get_array_module"):
        np.exp(s)
    with pytest.raises(TypeError, match=r"numpy\.concatenate"):
        np.concatenate([s, s])
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        s + np.ones(3)
    with pytest.raises(TypeError):
        np.ones(3) + s
    with pytest.raises(TypeError, match="Unsupported type <class 'numpy.ndarray'>"):
        xp.maximum(s, np.ones(3))
    with pytest.raises(TypeError, match="Unsupported type"):
        xp.concatenate([s, np.ones(3)])
    with pytest.raises(TypeError, match="Unsupported type"):
        s[:] = np.ones(3)


def test_strict_accepts_what_cupy_accepts():
    xp = STRICT_MODULE
    s = xp.asarray(np.arange(4.0, dtype=np.float32))
    assert isinstance(s + 1, StrictArray) and (s * 2).dtype == np.float32
    assert isinstance(np.float32(2) * s, StrictArray)              # NumPy scalar operand
    assert isinstance(s + np.asarray(1.0, dtype=np.float32), StrictArray)   # 0-d array operand
    total = s.sum()
    assert isinstance(total, StrictArray) and total.ndim == 0 and float(total) == 6.0   # 0-d, as CuPy
    assert isinstance(s[1], StrictArray) and int(s[1]) == 1
    assert xp.float32 is np.float32 and xp.newaxis is None
    both = xp.concatenate([s, s])
    assert isinstance(both, StrictArray) and both.shape == (8,)
    s += 1
    assert s.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_strict_transfers_copy():
    host = np.zeros(3)
    s = STRICT_MODULE.asarray(host)
    s[0] = 5.0
    assert host[0] == 0.0                                          # like CuPy: a device copy


def test_strict_submodules_and_ufunc_methods():
    xp = STRICT_MODULE
    base = xp.arange(12.0).reshape(3, 4)
    view = xp.lib.stride_tricks.as_strided(base, shape=(2, 2), strides=base.strides)
    assert isinstance(view, StrictArray)
    view[0, 0] = -1.0                                              # shares memory with base
    assert float(base[0, 0]) == -1.0
    acc = xp.zeros(3)
    xp.add.at(acc, xp.asarray(np.array([0, 0, 2])), 1.0)
    assert acc.tolist() == [2.0, 0.0, 1.0]
    assert float(xp.add.reduce(acc)) == 3.0
    w, _ = xp.linalg.eigh(xp.eye(2))
    assert isinstance(w, StrictArray)
    rs = xp.random.RandomState(0)
    z = rs.standard_normal((2, 3), dtype=np.float32)
    assert isinstance(z, StrictArray) and z.dtype == np.float32 and z.shape == (2, 3)
    assert isinstance(rs.random_sample((4,)), StrictArray)
    with pytest.raises(AttributeError):
        xp.no_such_function


def test_tensor_owns_a_copy_of_its_data(backend):
    host = np.ones(3)
    t = mg.tensor(host, dtype=np.float64)       # same dtype: numpy alone would not need to copy
    t.data[0] = 5.0
    assert host[0] == 1.0                       # as on the GPU: the tensor never writes into `host`


# --- keep_freed_memory: freed NumPy arrays' memory is reused, not handed back to the kernel -------------
FAULTS_CHILD = """
import resource, sys
import numpy as np
import minigan as mg
if sys.argv[1] == "keep":
    assert mg.fast.keep_freed_memory() is True
def faults_of_one_array():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(16 * 2**20, dtype=np.float32)     # 64 MiB: above glibc's mmap threshold (at most 32 MiB)
    a.fill(1.0)                                    # touch every page
    del a
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
faults_of_one_array()                              # the first one: fresh pages either way
print(faults_of_one_array())                       # the second one, as in a training loop's next step
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_keep_freed_memory_makes_the_next_big_array_reuse_the_freed_pages():
    """Without it, every 64 MiB temporary comes fresh from the kernel, and each page is zeroed at its
    first touch, a page fault: 16,384 of 4 KiB, or (NumPy asks for transparent huge pages for big
    arrays) 32 of 2 MiB plus some (544 seen). With it, the second array reuses the first one's memory:
    no faults (0 seen)."""
    def second_array_faults(mode):
        out = subprocess.run([sys.executable, "-c", FAULTS_CHILD, mode], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
        return int(out.stdout.split()[-1])
    default, kept = second_array_faults("default"), second_array_faults("keep")
    assert default >= 32                           # at least one fault per 2 MiB
    assert kept * 20 <= default


def test_keep_freed_memory_is_called_by_the_example_scripts(monkeypatch):
    from minigan.run import cli
    calls = []
    monkeypatch.setattr(mg.fast, "keep_freed_memory", lambda: calls.append(True) or True)
    cli.setup_backend(argparse.Namespace(backend="numpy", seed=0))
    assert calls == [True]
