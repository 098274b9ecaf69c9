"""minigan/tools/gradcheck.py: it must catch wrong backwards, say where, and refuse float32."""

import numpy as np
import pytest

import minigan as mg
from minigan.autograd import Function
from minigan.tools.gradcheck import GradcheckError


class TransposedBackward(Function):
    """y = x @ W for square W, with the classic bug: backward uses W instead of W^T."""

    def forward(self, x, w):
        self.x, self.w = x, w
        return x @ w

    def backward(self, g):
        return g @ self.w, self.x.T @ g                            # should be g @ self.w.T


class DoubledBackward(Function):
    """y = x^2 / 2 with backward 2 * g * x (twice the true gradient g * x)."""

    def forward(self, x):
        self.x = x
        return x * x / 2

    def backward(self, g):
        return 2 * g * self.x


class SumOfOnesBlindBackward(Function):
    """y = x[::-1] (reverse), backward forgets to reverse: invisible to an all-ones upstream gradient."""

    def forward(self, x):
        return x[::-1]

    def backward(self, g):
        return g


def test_gradcheck_passes_a_correct_op(make, rng):
    x = make(rng.standard_normal((2, 3)), requires_grad=True)
    assert mg.gradcheck(lambda a: (a * a).tanh(), x) is True


def test_gradcheck_catches_a_transposed_backward(make, rng):
    x = make(rng.standard_normal((2, 3)), requires_grad=True, name="x")
    w = make(rng.standard_normal((3, 3)), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda a, b: TransposedBackward()(a, b), x, w)
    message = str(info.value)
    assert "input 0" in message and "(2, 3)" in message and "'x'" in message
    assert "at index (" in message and "analytic" in message and "numeric" in message


def test_gradcheck_message_has_the_worst_entry(make):
    x = make([1.0, -2.0, 0.5], requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        mg.gradcheck(lambda a: DoubledBackward()(a), x, seed=7)
    message = str(info.value)
    # analytic 2 u x vs numeric u x, u the random upstream gradient: worst where |u x| is largest
    u = np.random.default_rng(7).standard_normal(3)
    worst = int(np.argmax(np.abs(u * [1.0, -2.0, 0.5])))
    assert f"at index ({worst},)" in message
    analytic = float(message.split("analytic ")[1].split()[0])
    numeric = float(message.split("numeric ")[1].split()[0])
    assert analytic == pytest.approx(2 * numeric, rel=1e-6)


def test_random_upstream_gradient_catches_what_sum_hides(make, rng):
    x = make(rng.standard_normal(5), requires_grad=True)
    y = SumOfOnesBlindBackward()(x)
    y.sum().backward()                                             # all-ones upstream: looks right
    assert np.allclose(mg.to_numpy(x.grad), np.ones(5))
    with pytest.raises(GradcheckError):
        mg.gradcheck(lambda a: SumOfOnesBlindBackward()(a), x)


def test_gradcheck_checks_every_input_and_names_the_wrong_one(make, rng):
    a = make(rng.standard_normal((2, 3)), requires_grad=True)
    w = make(rng.standard_normal((3, 3)), requires_grad=True)
    with pytest.raises(GradcheckError, match="input 0"):
        mg.gradcheck(lambda x, y: TransposedBackward()(x, y), a, w)
    w.requires_grad = True
    a.requires_grad = False                                        # only w is checked now: its grad is right
    assert mg.gradcheck(lambda x, y: TransposedBackward()(x, y), a, w)


def test_gradcheck_refuses_float32(backend):
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="float32.*float64"):
        mg.gradcheck(lambda a: a * 2, x)


def test_gradcheck_needs_an_input_that_requires_grad(make):
    with pytest.raises(ValueError, match="requires_grad"):
        mg.gradcheck(lambda a: a * 2, make([1.0]))


def test_gradcheck_leaves_inputs_unchanged(make):
    scalar = make(2.0, requires_grad=True)                         # 0-d input keeps its shape
    matrix = make(np.arange(6.0).reshape(3, 2).T, requires_grad=True)   # a non-contiguous view
    assert mg.gradcheck(lambda s, m: s * m, scalar, matrix)
    assert scalar.shape == () and matrix.shape == (2, 3)
    assert scalar.item() == 2.0 and np.array_equal(matrix.numpy(), np.arange(6.0).reshape(3, 2).T)
