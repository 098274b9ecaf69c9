"""minigan/autograd.py and tensor.py: accumulation, deep graphs, no_grad, freeing, debugging aids."""

import numpy as np
import pytest

import minigan as mg
from minigan.autograd import unbroadcast


def grad_of(t):
    return mg.to_numpy(t.grad)


# --- accumulation: a tensor used twice gets both contributions -------------------------------------------
def test_used_twice_gradients_add_up(make):
    x = make([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    assert np.allclose(grad_of(x), [2.0, -4.0, 6.0])               # d(x^2)/dx = x + x

    x.grad = None
    (x + x).sum().backward()
    assert np.allclose(grad_of(x), [2.0, 2.0, 2.0])


def test_diamond_graph(make):
    #        ┌─ b = 2a ─┐
    #   a ───┤          ├─ d = b * c      d = 2a * a^2 = 2a^3, dd/da = 6a^2
    #        └─ c = a^2 ┘
    a = make([1.0, 2.0], requires_grad=True)
    b = a * 2
    c = a ** 2
    (b * c).sum().backward()
    assert np.allclose(grad_of(a), [6.0, 24.0])


def test_leaf_gradients_accumulate_across_backward_calls(make):
    x = make([1.0, 2.0], requires_grad=True)
    (3 * x).sum().backward()
    (3 * x).sum().backward()
    assert np.allclose(grad_of(x), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None


def test_ten_thousand_op_chain_does_not_hit_the_recursion_limit(make):
    x = make([1.0], requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y + 1e-4
    y.sum().backward()
    assert np.allclose(grad_of(x), [1.0])
    assert np.allclose(y.numpy(), [2.0])


# --- what is recorded ------------------------------------------------------------------------------------------
def test_no_grad_records_nothing(make):
    x = make([1.0, 2.0], requires_grad=True)
    with mg.no_grad():
        assert not mg.is_grad_enabled()
        y = (x * 2).sum()
    assert mg.is_grad_enabled()
    assert y.creator is None and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_is_restored_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with mg.no_grad():
            1 / 0
    assert mg.is_grad_enabled()


def test_detach_cuts_the_graph(make):
    x = make([1.0, 2.0], requires_grad=True)
    d = (x * 3).detach()
    assert d.creator is None and not d.requires_grad
    assert np.allclose(d.numpy(), [3.0, 6.0])
    (x * d).sum().backward()                                       # d is a constant here
    assert np.allclose(grad_of(x), [3.0, 6.0])


def test_only_tensors_that_require_grad_get_a_grad(make):
    x = make([1.0, 2.0], requires_grad=True)
    c = make([5.0, 6.0])
    (x * c).sum().backward()
    assert c.grad is None and np.allclose(grad_of(x), [5.0, 6.0])


# --- backward's errors ----------------------------------------------------------------------------------------
def test_backward_of_non_scalar_needs_a_gradient(make):
    x = make([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"needs a scalar, got shape \(2,\)"):
        y.backward()
    y.backward(mg.tensor([1.0, 10.0], dtype=np.float64))           # an explicit gradient works
    assert np.allclose(grad_of(x), [2.0, 20.0])


def test_second_backward_needs_retain_graph(make):
    x = make([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward(make):
    x = make([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert np.allclose(grad_of(x), [4.0, 8.0])                    # 2x, twice


# --- unbroadcast ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("grad_shape, shape", [
    ((4, 2, 3), (2, 1)),          # leading axis added, last axis stretched
    ((4, 2, 3), (2, 3)),          # leading axis only
    ((4, 2, 3), (1, 1, 3)),       # stretched, kept as size 1
    ((4, 2, 3), (3,)),
    ((2, 3), ()),                 # a scalar
    ((2, 3), (2, 3)),             # nothing to do
])
def test_unbroadcast_is_the_adjoint_of_broadcasting(xp, rng, grad_shape, shape):
    g = rng.standard_normal(grad_shape)
    out = unbroadcast(xp.asarray(g), shape)
    assert tuple(out.shape) == shape
    # <broadcast(v), g> == <v, unbroadcast(g)> for any v
    v = rng.standard_normal(shape)
    assert np.isclose(np.sum(np.broadcast_to(v, grad_shape) * g), np.sum(v * mg.to_numpy(out)))


# --- debugging aids ----------------------------------------------------------------------------------------
def test_trace_prints_op_shapes_dtype_and_backend(backend, capsys):
    x = mg.ones(2, 3)
    w = mg.ones(3, 4)
    with mg.trace():
        (x @ w).sum()
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith("MatMul") and f"(2, 3) float32 {backend}, (3, 4) float32 {backend}" in out[0]
    assert out[0].endswith(f"-> (2, 4) float32 {backend}")
    assert out[1].startswith("Sum") and out[1].endswith(f"-> () float32 {backend}")
    (x @ w).sum()
    assert capsys.readouterr().out == ""                           # off again outside the block


def test_repr_shows_shape_dtype_backend_name_and_creator(backend):
    x = mg.tensor(np.ones((2, 3)), requires_grad=True, name="weights")
    text = repr(x)
    assert "shape=(2, 3)" in text and "dtype=float32" in text and f"backend={backend}" in text
    assert "name='weights'" in text and "requires_grad=True" in text
    assert "creator=Mul" in repr(x * 2)


def test_item_and_numpy(make):
    x = make([[1.5, 2.5]])
    assert x.sum().item() == 4.0 and isinstance(x.sum().item(), float)
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float64
    with pytest.raises(ValueError, match="2 elements"):
        x.item()


def test_float64_survives_full_reductions_and_indexing(make):
    # numpy returns a scalar (not an array) for x.sum() and x[0]; the dtype must survive that
    x = make([1.0, 2.0], requires_grad=True)
    assert x.sum().dtype == np.float64 and x.mean().dtype == np.float64 and x[0].dtype == np.float64


def test_detect_anomaly_forward_names_the_op(make):
    x = make([1.0, 0.0])
    with mg.detect_anomaly():
        with pytest.raises(FloatingPointError, match=r"Log\.forward"):
            with np.errstate(divide="ignore"):
                x.log()
    with np.errstate(divide="ignore"):
        assert np.isneginf(x.log().numpy()[1])                     # outside: no check


def test_detect_anomaly_backward_names_the_op(make):
    x = make([1.0, 0.0], requires_grad=True)
    with mg.detect_anomaly():
        y = (x ** 0.5).sum()                                       # forward is finite: sqrt(0) = 0
        with pytest.raises(FloatingPointError, match=r"Pow\.backward"):
            with np.errstate(divide="ignore"):
                y.backward()                                       # 0.5 / sqrt(0) = inf


def test_every_tensor_owns_its_grad():
    """a + b hands the same upstream array to both inputs; each .grad must still be its own array."""
    a, b = mg.randn(3, requires_grad=True), mg.randn(3, requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad *= 2                                                      # e.g. gradient clipping, in place
    np.testing.assert_array_equal(b.grad, np.ones(3, dtype=np.float32))

    c = mg.randn(2, 3, requires_grad=True)                           # a view of another gradient
    d = mg.randn(6, requires_grad=True)
    (c + d.reshape(2, 3)).sum().backward()
    c.grad[...] = 0
    np.testing.assert_array_equal(d.grad, np.ones(6, dtype=np.float32))


def test_backward_does_not_store_the_callers_gradient():
    x = mg.randn(2, 2, requires_grad=True)
    g = np.full((2, 2), 3.0, dtype=np.float32)
    x.backward(g)                                                    # x is its own root: a leaf
    assert x.grad is not g
    x.grad += 1
    np.testing.assert_array_equal(g, np.full((2, 2), 3.0, dtype=np.float32))
    y = mg.randn(2, 2, requires_grad=True)
    (y * 1).backward(g)
    y.grad -= 1
    np.testing.assert_array_equal(g, np.full((2, 2), 3.0, dtype=np.float32))


def test_accumulated_grad_stays_owned():
    x = mg.randn(3, requires_grad=True)
    (x * 2).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 5.0, dtype=np.float32))
    np.testing.assert_array_equal(first, np.full(3, 2.0, dtype=np.float32))   # += made a new array
