"""ops/arith, ops/shape, ops/arith, ops/activations: forward values and gradcheck, on every backend.

gradcheck (minigan/tools/gradcheck.py) compares backward() with central differences in float64 along a
*random* upstream gradient. Broadcasting cases are drawn by Hypothesis.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F

SETTINGS = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def randn(rng, *shape):
    return rng.standard_normal(shape)


def away_from_zero(rng, *shape, low=0.3):
    """Values with |v| >= low: keeps kinks (relu at 0) and poles (1/b at 0) out of the finite differences."""
    return rng.uniform(low, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def check(fn, *arrays, make):
    """gradcheck fn on float64 tensors made from numpy arrays (all of them require grad)."""
    inputs = [make(a, requires_grad=True) for a in arrays]
    assert mg.gradcheck(fn, *inputs)


# --- elementwise arithmetic ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, fn, numpy_fn", [
    ("add", lambda a, b: a + b, np.add),
    ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply),
    ("div", lambda a, b: a / b, np.divide),
])
def test_binary_ops_forward_and_gradcheck(make, rng, name, fn, numpy_fn):
    a, b = randn(rng, 2, 3), away_from_zero(rng, 2, 3)
    assert np.allclose(fn(make(a), make(b)).numpy(), numpy_fn(a, b))
    check(fn, a, b, make=make)


@st.composite
def broadcastable_shapes(draw):
    """Two shapes that broadcast: a base shape, and a copy with leading dims dropped and some set to 1."""
    base = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    n_drop = draw(st.integers(0, len(base)))
    other = [1 if draw(st.booleans()) else n for n in base[n_drop:]]
    pair = (tuple(base), tuple(other))
    return pair if draw(st.booleans()) else pair[::-1]


@pytest.mark.parametrize("fn", [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b,
                                lambda a, b: a / b], ids=["add", "sub", "mul", "div"])
@settings(**SETTINGS)
@given(shapes=broadcastable_shapes(), seed=st.integers(0, 2**16))
def test_broadcasting_gradcheck(make, fn, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = away_from_zero(rng, *shapes[0]), away_from_zero(rng, *shapes[1])
    out = fn(make(a), make(b))
    assert out.shape == np.broadcast_shapes(*shapes)
    check(fn, a, b, make=make)


def test_unary_ops(make, rng):
    x = randn(rng, 2, 3)
    positive = rng.uniform(0.5, 2.0, (2, 3))
    assert np.allclose((-make(x)).numpy(), -x)
    assert np.allclose(make(x).exp().numpy(), np.exp(x))
    assert np.allclose(make(positive).log().numpy(), np.log(positive))
    check(lambda a: -a, x, make=make)
    check(lambda a: a.exp(), x, make=make)
    check(lambda a: a.log(), positive, make=make)
    check(F.exp, x, make=make)
    check(F.log, positive, make=make)


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1.5, 0])
def test_pow(make, rng, exponent):
    x = rng.uniform(0.5, 2.0, (2, 3))
    assert np.allclose((make(x) ** exponent).numpy(), x ** exponent)
    check(lambda a: a ** exponent, x, make=make)


def test_pow_needs_a_number_exponent(make):
    with pytest.raises(TypeError, match="exponent"):
        make([1.0]) ** make([2.0])


def test_python_scalars_keep_float32(backend):
    x = mg.ones(2, 3)                                              # float32
    for y in (x * 2, 2 * x, 2 - x, x - 2, x / 3, 3 / x, x + 1.5, 1.5 + x, x ** 2, -x, x * np.float32(2)):
        assert y.dtype == np.float32 and y.backend == backend


# --- matmul and linear ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("a_shape, b_shape", [
    ((3, 4), (4, 2)),
    ((2, 3, 4), (4, 5)),          # batched @ matrix
    ((2, 3, 4), (2, 4, 5)),       # batched @ batched
    ((1, 3, 4), (2, 4, 2)),       # batch dims broadcast
    ((3, 4), (2, 4, 2)),
])
def test_matmul(make, rng, a_shape, b_shape):
    a, b = randn(rng, *a_shape), randn(rng, *b_shape)
    assert np.allclose((make(a) @ make(b)).numpy(), a @ b)
    check(lambda x, y: x @ y, a, b, make=make)
    check(F.matmul, a, b, make=make)


def test_matmul_refuses_vectors(make):
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        make(np.ones(3)) @ make(np.ones((3, 2)))


@pytest.mark.parametrize("bias", [True, False])
def test_linear(make, rng, bias):
    x, w, b = randn(rng, 4, 3), randn(rng, 2, 3), randn(rng, 2)
    expected = x @ w.T + (b if bias else 0)
    args = (x, w, b) if bias else (x, w)
    assert np.allclose(F.linear(*[make(a) for a in args]).numpy(), expected)
    check(F.linear, *args, make=make)


def test_linear_shape_error_names_shapes(make):
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(2, 3\)"):
        F.linear(make(np.ones((4, 5))), make(np.ones((2, 3))))


# --- shape ops -----------------------------------------------------------------------------------------------
def test_reshape_permute_transpose_flatten(make, rng):
    x = randn(rng, 2, 3, 4)
    assert make(x).reshape(6, 4).shape == (6, 4) and make(x).reshape((4, -1)).shape == (4, 6)
    assert np.allclose(make(x).permute(2, 0, 1).numpy(), x.transpose(2, 0, 1))
    assert np.allclose(make(x).permute().numpy(), x.T)
    assert np.allclose(make(x).transpose(0, 2).numpy(), x.swapaxes(0, 2))      # torch's meaning: swap two
    assert make(x).flatten().shape == (24,) and make(x).flatten(1).shape == (2, 12)
    assert make(x).flatten(0, 1).shape == (6, 4) and make(x[0]).T.shape == (4, 3)
    check(lambda a: a.reshape(4, 6), x, make=make)
    check(lambda a: a.permute(2, 0, 1), x, make=make)
    check(lambda a: a.permute(), x, make=make)
    check(lambda a: a.permute(1, -1, 0), x, make=make)
    check(lambda a: a.transpose(-1, 0), x, make=make)
    check(F.flatten, x, make=make)
    check(lambda a: F.flatten(a, 1, -2), x, make=make)


@pytest.mark.parametrize("index", [
    (slice(1, None), slice(None, None, 2)),      # x[1:, ::2]
    (slice(None, None, -1), slice(3, 0, -2)),    # negative steps
    1,                                           # an integer
    (Ellipsis, -1),
    (None, slice(None), 0),                      # a new axis
    [0, 2, 0, 0],                                # an integer array with repeats
    ([0, 0, 2], [1, 1, 3]),                      # two integer arrays, a repeated pair
    (slice(None), [3, 3, 0]),                    # a slice and an integer array
])
def test_getitem(make, rng, index):
    x = randn(rng, 3, 4)
    np_index = tuple(np.asarray(i) if isinstance(i, list) else i for i in index) \
        if isinstance(index, tuple) else (np.asarray(index) if isinstance(index, list) else index)
    assert np.allclose(make(x)[np_index].numpy(), x[np_index])
    check(lambda a: a[np_index], x, make=make)


def test_getitem_with_a_tensor_index_adds_repeated_rows(make, rng):
    x = randn(rng, 3, 2)
    labels = mg.tensor(np.array([2, 0, 2]))                       # int64, on the active backend
    assert np.allclose(make(x)[labels].numpy(), x[[2, 0, 2]])
    t = make(x, requires_grad=True)
    t[labels].sum().backward()
    assert np.allclose(mg.to_numpy(t.grad), [[1, 1], [0, 0], [2, 2]])
    check(lambda a: a[labels], x, make=make)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cat(make, rng, axis):
    shapes = [[2, 3, 2], [2, 3, 2], [2, 3, 2]]
    for s, extra in zip(shapes, (1, 2, 3)):
        s[axis] = extra
    arrays = [randn(rng, *s) for s in shapes]
    assert np.allclose(mg.cat([make(a) for a in arrays], axis).numpy(), np.concatenate(arrays, axis))
    check(lambda *ts: mg.cat(ts, axis=axis), *arrays, make=make)


def test_cat_shape_error_names_both_shapes(make):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        mg.cat([make(np.ones((2, 3))), make(np.ones((4, 2)))], axis=0)


def test_pad2d_and_dilate2d(make, rng):
    x = randn(rng, 1, 2, 2, 3)
    padded = F.pad2d(make(x), 1, 2, 0, 1).numpy()
    assert padded.shape == (1, 2, 5, 4)
    assert np.allclose(padded[:, :, 1:3, 0:3], x) and padded.sum() == pytest.approx(x.sum())
    dilated = F.dilate2d(make(x), 3).numpy()
    assert dilated.shape == (1, 2, 4, 7)
    assert np.allclose(dilated[:, :, ::3, ::3], x) and dilated.sum() == pytest.approx(x.sum())
    check(lambda a: F.pad2d(a, 1, 2, 0, 1), x, make=make)
    check(lambda a: F.dilate2d(a, 2), x, make=make)
    check(lambda a: F.dilate2d(a, 1), x, make=make)
    with pytest.raises(ValueError):
        F.pad2d(make(x), -1, 0, 0, 0)
    with pytest.raises(ValueError):
        F.dilate2d(make(x), 0)


# --- reductions ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), (1,)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_and_mean(make, rng, axis, keepdims):
    x = randn(rng, 2, 3, 2)
    assert np.allclose(make(x).sum(axis, keepdims).numpy(), x.sum(axis=axis, keepdims=keepdims))
    assert np.allclose(make(x).mean(axis, keepdims).numpy(), x.mean(axis=axis, keepdims=keepdims))
    check(lambda a: a.sum(axis, keepdims), x, make=make)
    check(lambda a: a.mean(axis, keepdims), x, make=make)
    check(lambda a: F.sum(a, axis=axis, keepdims=keepdims), x, make=make)
    check(lambda a: F.mean(a, axis=axis, keepdims=keepdims), x, make=make)


# --- activations -------------------------------------------------------------------------------------------
def test_activations_forward(make, rng):
    x = randn(rng, 3, 4)
    assert np.allclose(F.relu(make(x)).numpy(), np.maximum(x, 0))
    assert np.allclose(F.leaky_relu(make(x), 0.2).numpy(), np.where(x > 0, x, 0.2 * x))
    assert np.allclose(F.tanh(make(x)).numpy(), np.tanh(x))
    assert np.allclose(F.sigmoid(make(x)).numpy(), 1 / (1 + np.exp(-x)))
    assert np.allclose(make(x).relu().numpy(), np.maximum(x, 0))
    extreme = F.sigmoid(make([-1000.0, 1000.0])).numpy()           # no overflow warning, exact limits
    assert np.array_equal(extreme, [0.0, 1.0])


@pytest.mark.parametrize("fn", [F.relu, lambda a: F.leaky_relu(a, 0.2), F.leaky_relu, F.tanh, F.sigmoid,
                                lambda a: a.tanh(), lambda a: a.sigmoid()],
                         ids=["relu", "leaky_relu_0.2", "leaky_relu_default", "tanh", "sigmoid",
                              "Tensor.tanh", "Tensor.sigmoid"])
def test_activations_gradcheck(make, rng, fn):
    check(fn, away_from_zero(rng, 3, 4, low=0.05), make=make)


# --- comparisons, casts, np.asarray (tests/test_tensor_torch.py compares the same with PyTorch) ------------
def test_comparisons_casts_and_asarray(backend, rng):
    a, b = rng.integers(0, 3, (4, 5)).astype(np.float32), rng.integers(0, 3, (5,)).astype(np.float32)
    x = mg.tensor(a, requires_grad=True)
    for result, expected in [(x == mg.tensor(b), a == b), (x != 1.0, a != 1.0), (x < mg.tensor(b), a < b),
                             (x <= 1, a <= 1), (x > 0.5, a > 0.5), (x >= mg.tensor(b), a >= b)]:
        assert result.dtype == np.bool_ and not result.requires_grad
        assert np.array_equal(result.numpy(), expected)
    assert (x == None) is False                                      # noqa: E711
    y = x.astype(np.float64) * 3                                     # the cast stays in the graph
    y.sum().backward()
    assert y.dtype == np.float64 and x.grad.dtype == np.float32
    assert np.array_equal(mg.to_numpy(x.grad), np.full((4, 5), 3.0))
    if backend == "numpy":
        assert np.asarray(x.detach()).dtype == np.float32
        assert isinstance(np.ones((4, 5), dtype=np.float32) * x, mg.Tensor)
    else:
        with pytest.raises(TypeError, match="Implicit conversion"):
            np.asarray(x.detach())
