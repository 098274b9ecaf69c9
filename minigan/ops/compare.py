"""Element-wise comparisons: ``x == y``, ``x < y``, ... give a bool tensor, as in PyTorch and NumPy.

Reading order: ops/convert -> **ops/compare** -> ops/activations.
A comparison has no gradient (its output is True/False, a step function of its inputs), so these are
plain functions, not Functions: the result is a constant bool tensor that never requires grad.
``y`` may be a tensor, an array, a list or a Python number; it broadcasts like any other operand. A
Python number is compared as it is (``labels == 0.5`` is all False, not ``labels == 0``).
"""

import numbers

from minigan.backend import backend_of, get_array_module, refuse_mixed_backends


def _operands(symbol, x, y):
    """(array module, x's array, y's array or number), after checking that both are on one backend."""
    from minigan.tensor import Tensor  # tensor.py builds on ops: import late

    a = x.data
    if isinstance(y, numbers.Number):
        return get_array_module(a), a, y                             # a number goes with any backend
    b = y.data if isinstance(y, Tensor) else Tensor(y).data          # a tensor, an array or a (nested) list
    if backend_of(a) != backend_of(b):
        refuse_mixed_backends(f"x {symbol} y", [a, b])
    return get_array_module(a), a, b


def _constant(array):
    from minigan.tensor import Tensor

    return Tensor(array)                                             # bool, requires_grad=False


def eq(x, y):
    if y is None:
        return NotImplemented                                        # Python then says False, as PyTorch does
    xp, a, b = _operands("==", x, y)
    return _constant(xp.equal(a, b))


def ne(x, y):
    if y is None:
        return NotImplemented                                        # Python then says True
    xp, a, b = _operands("!=", x, y)
    return _constant(xp.not_equal(a, b))


def lt(x, y):
    xp, a, b = _operands("<", x, y)
    return _constant(xp.less(a, b))


def le(x, y):
    xp, a, b = _operands("<=", x, y)
    return _constant(xp.less_equal(a, b))


def gt(x, y):
    xp, a, b = _operands(">", x, y)
    return _constant(xp.greater(a, b))


def ge(x, y):
    xp, a, b = _operands(">=", x, y)
    return _constant(xp.greater_equal(a, b))
