"""Watching the engine: ``mg.trace()`` prints every op, ``mg.detect_anomaly()`` stops at the first NaN.

Reading order: autograd -> tensor -> **tools/debug** (a learner's tool; nothing in the lesson imports it).
Both are hooks: autograd.py calls every function in ``autograd.op_hooks`` after each op's forward
(phase "forward") and on each gradient a backward returns (phase "backward"). ``no_grad()`` works
inside both. ``autograd.running_backward`` is the Function whose backward is running, so an op
called from inside a backward is shown (and blamed) as part of it.
"""

import contextlib

from minigan import autograd
from minigan.backend import describe, get_array_module


@contextlib.contextmanager
def trace():
    """Print every op as it runs: name, input and output shapes, dtype, backend.

        >>> with mg.trace():
        ...     y = (x @ w).sum()
        MatMul   (2, 3) float32 numpy, (3, 4) float32 numpy -> (2, 4) float32 numpy
        Sum      (2, 4) float32 numpy -> () float32 numpy
    """
    with _hook(_print_op):
        yield


@contextlib.contextmanager
def detect_anomaly():
    """Raise at the first op whose forward or backward produces NaN or Inf (slow: a debug tool)."""
    with _hook(_check_finite):
        yield


@contextlib.contextmanager
def _hook(hook):
    autograd.op_hooks.append(hook)
    try:
        yield
    finally:
        autograd.op_hooks.remove(hook)


def _print_op(fn, arrays, output, phase):
    if phase != "forward":                                   # trace shows ops, not the gradients they return
        return
    ins = ", ".join(describe(a) for a in arrays)
    outer = autograd.running_backward
    where = "" if outer is None else f"  in {type(outer).__name__}.backward: "
    print(f"{where}{type(fn).__name__:<18} {ins} -> {describe(output)}")


def _check_finite(fn, arrays, result, phase):
    xp = get_array_module(result)
    if bool(xp.isfinite(result).all()):
        return
    culprit = fn
    if phase == "forward" and autograd.running_backward is not None:
        culprit, phase = autograd.running_backward, "backward"   # an op inside a backward: that backward
    shapes = ", ".join(describe(x) for x in arrays)
    raise FloatingPointError(
        f"detect_anomaly: {type(culprit).__name__}.{phase} produced NaN or Inf "
        f"(inputs: {shapes}). The op above it in the graph fed it bad values, or it divided "
        "by zero / took the log of 0."
    )
