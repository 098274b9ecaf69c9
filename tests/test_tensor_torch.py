"""Tensor methods that share a name with PyTorch behave as PyTorch's (issue 20), checked against torch.

transpose(dim0, dim1), flatten(start_dim=0, end_dim=-1), nn.Flatten(start_dim=1), the comparison
operators (a bool tensor, no gradient), astype / to(dtype) / to(backend) keeping the gradient,
np.asarray(t) and bool(t). Each test runs on every backend of the ``backend`` fixture; the torch
comparison is skipped when torch is not installed (minigan itself never imports it).
"""

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn

torch = pytest.importorskip("torch")


def pair(rng, *shape, requires_grad=True):
    """The same float64 numbers as a minigan tensor (on the active backend) and a torch tensor."""
    x = rng.standard_normal(shape)
    return (mg.tensor(x, requires_grad=requires_grad, dtype=np.float64),
            torch.tensor(x, requires_grad=requires_grad))


def backward_both(out_mg, out_torch, rng):
    """Backpropagate the same random upstream gradient through both (not all-ones: hides transpositions)."""
    g = rng.standard_normal(out_torch.shape)
    out_mg.backward(mg.tensor(g, dtype=out_mg.dtype))
    out_torch.backward(torch.tensor(g, dtype=out_torch.dtype))


@pytest.mark.parametrize("shape, dims", [((3, 4), (0, 1)), ((3, 4), (1, 0)), ((2, 3, 4), (0, 2)),
                                         ((2, 3, 4), (-1, 1)), ((2, 3, 4, 5), (1, 1))])
def test_transpose_swaps_two_axes(backend, rng, shape, dims):
    x, xt = pair(rng, *shape)
    y, yt = x.transpose(*dims), xt.transpose(*dims)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    backward_both(y, yt, rng)
    np.testing.assert_array_equal(x.grad if backend == "numpy" else mg.to_numpy(x.grad), xt.grad.numpy())


def test_permute_reorders_all_axes_and_transpose_refuses_an_order(rng):
    x, xt = pair(rng, 2, 3, 4, requires_grad=False)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), xt.permute(2, 0, 1).numpy())
    np.testing.assert_array_equal(x.T.numpy(), xt.numpy().T)
    with pytest.raises(TypeError):                                   # numpy's meaning is permute's
        x.transpose(2, 0, 1)
    with pytest.raises(ValueError, match="permute"):
        x.transpose(0, 3)
    with pytest.raises(ValueError, match="each of 0..2 once"):
        x.permute(0, 0, 1)


@pytest.mark.parametrize("shape, args", [((2, 3, 4), ()), ((2, 3, 4), (1,)), ((2, 3, 4), (0, 1)),
                                         ((2, 3, 4, 5), (1, -2)), ((2, 3), (-1,)), ((), ())])
def test_flatten_as_torch(backend, rng, shape, args):
    x, xt = pair(rng, *shape)
    y, yt = x.flatten(*args), xt.flatten(*args)
    assert y.shape == tuple(yt.shape)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    backward_both(y, yt, rng)
    np.testing.assert_array_equal(mg.to_numpy(x.grad), xt.grad.numpy())


def test_flatten_errors_and_the_layer_keeps_the_batch_axis(rng):
    x, xt = pair(rng, 2, 3, 4, 5, requires_grad=False)
    with pytest.raises(ValueError, match="start_dim <= end_dim"):
        x.flatten(2, 1)
    assert nn.Flatten()(x).shape == tuple(torch.nn.Flatten()(xt).shape) == (2, 60)
    assert nn.Flatten(2)(x).shape == tuple(torch.nn.Flatten(2)(xt).shape) == (2, 3, 20)
    assert repr(nn.Flatten()) == "Flatten()" and "start_dim=2" in repr(nn.Flatten(2))


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">="])
def test_comparisons_are_element_wise_bool_tensors_without_grad(backend, rng, op):
    a = rng.integers(0, 3, (4, 5)).astype(np.float32)
    b = rng.integers(0, 3, (4, 5)).astype(np.float32)
    compare = {"==": lambda u, v: u == v, "!=": lambda u, v: u != v, "<": lambda u, v: u < v,
               "<=": lambda u, v: u <= v, ">": lambda u, v: u > v, ">=": lambda u, v: u >= v}[op]
    x = mg.tensor(a, requires_grad=True)
    for other, other_torch in [(mg.tensor(b), torch.tensor(b)), (1.0, 1.0), (mg.tensor(b[0]), torch.tensor(b[0]))]:
        result, expected = compare(x, other), compare(torch.tensor(a, requires_grad=True), other_torch)
        assert result.dtype == np.bool_ and not result.requires_grad and not expected.requires_grad
        np.testing.assert_array_equal(result.numpy(), expected.numpy())


def test_comparison_details(rng):
    labels = mg.tensor(np.array([0, 1, 2]))                          # int64
    assert not (labels == 0.5).numpy().any()                         # 0.5 is not cast to the int 0
    assert (labels == None) is False and (labels != None) is True   # noqa: E711 - as torch
    assert (torch.tensor([0, 1]) == None) is False and torch.tensor([0]).__eq__(None) is NotImplemented   # noqa: E711
    t = mg.tensor([1.0, 2.0])
    assert {t: "a dict key"}[t] == "a dict key" and t in {t} and hash(t) == object.__hash__(t)   # identity
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t == t)                                                 # torch raises RuntimeError here
    assert bool(mg.tensor([3.0]) > 2) is True


def test_mixing_backends_in_a_comparison_says_how_to_move():
    mg.set_backend("strict")
    try:
        with pytest.raises(TypeError, match="different backends"):
            mg.tensor([1.0]) == np.array([1.0], dtype=np.float32)
    finally:
        mg.set_backend("numpy")


@pytest.mark.parametrize("method", ["astype", "to"])
def test_casts_keep_the_gradient(backend, rng, method):
    x, xt = pair(rng, 3, 4)
    x32, xt32 = x.astype(np.float32), xt.detach().float().requires_grad_()
    y = getattr(x32, method)("float64") * x32.astype("float64")      # float32 -> float64, differentiable
    yt = xt32.to(torch.float64) * xt32.to(torch.float64)
    assert y.dtype == np.float64 and y.requires_grad and y.creator is not None
    backward_both(y, yt, rng)
    assert x.grad.dtype == np.float64                                # flowed on through the float32 copy
    np.testing.assert_allclose(mg.to_numpy(x.grad), xt32.grad.numpy(), rtol=1e-6)


def test_a_cast_to_int_has_no_gradient_and_to_backend_keeps_it(rng):
    x, xt = pair(rng, 3)
    assert not x.to("int64").requires_grad and not xt.to(torch.int64).requires_grad
    y = x.to("numpy") * 2
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(3, 2.0))


def test_np_asarray_gives_the_numbers_and_refuses_what_torch_and_cupy_refuse(rng):
    t = mg.tensor([[1.0, 2.0], [3.0, 4.0]])
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 2) and np.array_equal(a, np.asarray(torch.tensor(a)))
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(RuntimeError, match="detach"):                # torch: "Can't call numpy() on ..."
        np.asarray(mg.tensor([1.0], requires_grad=True))
    with pytest.raises(RuntimeError):
        np.asarray(torch.tensor([1.0], requires_grad=True))
    product = np.ones((2, 2), dtype=np.float32) * t                  # the tensor's operator, not numpy's
    assert isinstance(product, mg.Tensor)
    mg.set_backend("strict")                                         # the CuPy stand-in
    try:
        with pytest.raises(TypeError, match=r"t\.numpy\(\)"):
            np.asarray(mg.tensor([1.0]))
    finally:
        mg.set_backend("numpy")
