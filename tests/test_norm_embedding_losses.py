"""ops/norm.py, ops/embedding.py (embedding, dropout), ops/activations.py: against references and gradcheck."""

import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
import minigan.nn as nn
import reference as ref


def np_(array):
    return mg.to_numpy(array)


# --- batch norm ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 3, 2)])
def test_batch_norm_train_against_reference(make, rng, shape):
    x = rng.standard_normal(shape) * 3 + 1
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    expected, _, _ = ref.batch_norm_train(x, gamma, beta)
    y = F.batch_norm(make(x), make(gamma), make(beta), training=True)
    assert np.allclose(y.numpy(), expected)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 2)])
def test_batch_norm_train_gradcheck(make, rng, shape):
    inputs = [make(a, requires_grad=True) for a in (rng.standard_normal(shape), rng.standard_normal(3),
                                                     rng.standard_normal(3))]
    assert mg.gradcheck(lambda x, g, b: F.batch_norm(x, g, b, training=True), *inputs)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 2, 3)])
def test_batch_norm_running_statistics(make, rng, shape):
    x = rng.standard_normal(shape) * 2 + 0.5
    running_mean, running_var = make(np.zeros(3)), make(np.ones(3))
    F.batch_norm(make(x), make(np.ones(3)), make(np.zeros(3)), running_mean, running_var, training=True)
    _, mean, var = ref.batch_norm_train(x, np.ones(3), np.zeros(3))
    m = x.size // 3
    assert np.allclose(running_mean.numpy(), 0.9 * 0 + 0.1 * mean)              # momentum 0.1
    assert np.allclose(running_var.numpy(), 0.9 * 1 + 0.1 * var * m / (m - 1))   # unbiased variance


def test_batch_norm_eval_uses_running_statistics(make, rng):
    x = rng.standard_normal((4, 3, 2, 2))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    expected = gamma[None, :, None, None] * (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5) \
        + beta[None, :, None, None]
    running_mean, running_var = make(rm), make(rv)
    y = F.batch_norm(make(x), make(gamma), make(beta), running_mean, running_var, training=False)
    assert np.allclose(y.numpy(), expected)
    assert np.array_equal(running_mean.numpy(), rm) and np.array_equal(running_var.numpy(), rv)   # untouched
    inputs = [make(a, requires_grad=True) for a in (x, gamma, beta)]
    assert mg.gradcheck(lambda a, g, b: F.batch_norm(a, g, b, running_mean, running_var, training=False), *inputs)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 3, 2)])
def test_batch_norm_array_backward_is_the_tensor_backward(make, rng, shape, training):
    """BatchNorm's backward is written twice: on arrays (first order) and with Tensor ops (what
    create_graph=True runs). The same formula must give the same gradients, for a random upstream g."""
    x, gamma, beta = (make(a, requires_grad=True) for a in
                      (rng.standard_normal(shape) * 2 + 1, rng.standard_normal(3), rng.standard_normal(3)))
    running = (make(rng.standard_normal(3)), make(rng.uniform(0.5, 2.0, 3))) if not training else (None, None)
    g = make(rng.standard_normal(shape))
    grads = {}
    for create_graph in (False, True):
        y = F.batch_norm(x, gamma, beta, *running, training=training)
        grads[create_graph] = mg.grad(y, [x, gamma, beta], g, create_graph=create_graph)
    for first, second in zip(grads[False], grads[True]):
        assert np.allclose(np_(first.data), np_(second.data), rtol=1e-12, atol=1e-12)


def test_batch_norm_errors(make):
    with pytest.raises(ValueError, match="more than one value per channel"):
        F.batch_norm(make(np.ones((1, 3))), make(np.ones(3)), make(np.zeros(3)), training=True)
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(make(np.ones((2, 3))), make(np.ones(3)), make(np.zeros(3)), training=False)
    with pytest.raises(ValueError, match=r"expected 4 channels.*\(2, 4\)"):
        F.batch_norm(make(np.ones((2, 4))), make(np.ones(3)), make(np.zeros(3)))


def test_batch_norm_module_train_then_eval(backend, rng):
    bn = nn.BatchNorm2d(3)
    x = mg.tensor(rng.standard_normal((4, 3, 2, 2)) + 2.0)
    y_train = bn(x)
    assert np.allclose(y_train.numpy().mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert np.allclose(np_(bn.running_mean.data), 0.1 * x.numpy().mean(axis=(0, 2, 3)), atol=1e-6)
    bn.eval()
    y_eval = bn(x)
    assert not np.allclose(y_eval.numpy(), y_train.numpy())          # running stats differ from the batch's
    assert bn.running_mean.data.dtype == np.float32


# --- embedding -------------------------------------------------------------------------------------------
def test_embedding_forward_and_gradcheck_with_repeated_labels(make, rng):
    table = rng.standard_normal((5, 3))
    labels = mg.tensor(np.array([4, 1, 4, 0, 4]))                 # int64 on the backend; 4 repeats
    out = F.embedding(labels, make(table))
    assert np.allclose(out.numpy(), ref.embedding([4, 1, 4, 0, 4], table))
    w = make(table, requires_grad=True)
    F.embedding(labels, w).sum().backward()
    assert np.allclose(np_(w.grad)[:, 0], [1, 1, 0, 0, 3])         # counts: repeated rows add up
    assert mg.gradcheck(lambda t: F.embedding(labels, t), make(table, requires_grad=True))


def test_embedding_module(backend):
    emb = nn.Embedding(10, 4)
    out = emb(mg.tensor(np.array([0, 9, 3])))
    assert out.shape == (3, 4) and out.backend == backend and len(emb.parameters()) == 1


def test_embedding_errors(make):
    table = make(np.ones((5, 3)))
    with pytest.raises(TypeError, match="integer"):
        F.embedding(make([0.0, 1.0]), table)
    with pytest.raises(TypeError, match="integer"):
        F.embedding([0, 1], table)
    with pytest.raises(ValueError, match=r"\[0, 4\].*from 0 to 5"):
        F.embedding(mg.tensor(np.array([0, 5])), table)
    with pytest.raises(ValueError, match="from -1"):
        F.embedding(mg.tensor(np.array([-1, 2])), table)
    with pytest.raises(ValueError, match=r"\(N,\)"):
        F.embedding(mg.tensor(np.array([[0, 1]])), table)


# --- dropout -----------------------------------------------------------------------------------------------
def test_dropout_train_zeroes_about_p_and_rescales(backend):
    x = mg.ones(100, 100)
    y = F.dropout(x, 0.3, training=True).numpy()
    assert abs((y == 0).mean() - 0.3) < 0.03
    assert np.allclose(y[y != 0], 1 / 0.7)
    assert y.dtype == np.float32 and abs(y.mean() - 1.0) < 0.05


def test_dropout_eval_and_p0_are_the_identity(backend):
    x = mg.randn(3, 4)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        F.dropout(x, 1.0)
    layer = nn.Dropout(0.5)
    assert not np.array_equal(layer(x).numpy(), x.numpy())
    layer.eval()
    assert layer(x) is x


def test_dropout_is_reproducible_with_manual_seed(backend):
    x = mg.ones(4, 5)
    mg.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    mg.manual_seed(7)
    assert np.array_equal(a, F.dropout(x, 0.5).numpy())
    assert not np.array_equal(a, F.dropout(x, 0.5).numpy())        # the generator moved on


def test_dropout_gradcheck_with_a_fixed_mask(make, rng):
    def fn(x):
        mg.manual_seed(3)                                          # the same mask on every call
        return F.dropout(x, 0.4, training=True)
    assert mg.gradcheck(fn, make(rng.standard_normal((3, 4)), requires_grad=True))


def test_dropout_draws_on_its_inputs_backend(rng):
    # the active backend is "numpy" here; a strict tensor must get a strict mask (no mixing)
    x = mg.tensor(np.ones((2, 3))).to("strict")
    assert F.dropout(x, 0.5).backend == "strict"


# --- binary cross-entropy ----------------------------------------------------------------------------------
def test_bce_against_reference(make, rng):
    p = rng.uniform(0.05, 0.95, (4, 3))
    for t in (rng.integers(0, 2, (4, 3)).astype(float), rng.uniform(0, 1, (4, 3))):   # hard and soft targets
        assert F.binary_cross_entropy(make(p), make(t)).item() == pytest.approx(ref.binary_cross_entropy(p, t))


def test_bce_clamps_log_at_minus_100_like_pytorch(make):
    p = make([0.0, 1.0, 0.0, 1.0])
    t = make([1.0, 0.0, 0.0, 1.0])
    with np.errstate(divide="ignore"):
        loss = F.binary_cross_entropy(p, t).item()
    assert loss == pytest.approx((100 + 100 + 0 + 0) / 4)
    with np.errstate(divide="ignore"):
        assert F.binary_cross_entropy(make([0.0]), make([1.0])).item() == pytest.approx(100.0)
    assert ref.binary_cross_entropy(np.array([0.0]), np.array([1.0])) == 100.0


def test_bce_matches_pytorch(make, rng):
    torch = pytest.importorskip("torch")
    p = np.concatenate([rng.uniform(0.01, 0.99, 6), [0.0, 1.0]])
    t = np.array([1, 0, 1, 0, 0.3, 0.7, 1, 0], dtype=float)
    expected = torch.nn.functional.binary_cross_entropy(torch.tensor(p), torch.tensor(t)).item()
    with np.errstate(divide="ignore"):
        assert F.binary_cross_entropy(make(p), make(t)).item() == pytest.approx(expected)
    z = rng.standard_normal(8) * 5
    expected = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t)).item()
    assert F.binary_cross_entropy_with_logits(make(z), make(t)).item() == pytest.approx(expected)


def test_bce_gradcheck(make, rng):
    t = make(rng.integers(0, 2, (3, 2)).astype(float))
    assert mg.gradcheck(lambda p: F.binary_cross_entropy(p, t), make(rng.uniform(0.1, 0.9, (3, 2)), requires_grad=True))
    soft = make(rng.uniform(0, 1, (3, 2)))
    assert mg.gradcheck(lambda z: F.binary_cross_entropy_with_logits(z, soft),
                        make(rng.standard_normal((3, 2)) * 3, requires_grad=True))


def test_bce_with_logits_is_stable_at_plus_minus_1000(make):
    z = make([1000.0, -1000.0, 1000.0, -1000.0], requires_grad=True)
    t = make([1.0, 0.0, 0.0, 1.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):   # no overflow, no 0 * inf
        loss = F.binary_cross_entropy_with_logits(z, t)
        loss.backward()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx((0 + 0 + 1000 + 1000) / 4)
    grad = np_(z.grad)
    assert np.all(np.isfinite(grad)) and np.allclose(grad, [0, 0, 0.25, -0.25])


def test_bce_with_logits_matches_bce_of_sigmoid(make, rng):
    z, t = rng.uniform(-5, 5, (3, 4)), rng.uniform(0, 1, (3, 4))
    direct = F.binary_cross_entropy_with_logits(make(z), make(t)).item()
    assert direct == pytest.approx(F.binary_cross_entropy(F.sigmoid(make(z)), make(t)).item())
    zt1, zt2 = make(z, requires_grad=True), make(z, requires_grad=True)
    F.binary_cross_entropy_with_logits(zt1, make(t)).backward()
    F.binary_cross_entropy(F.sigmoid(zt2), make(t)).backward()
    assert np.allclose(np_(zt1.grad), np_(zt2.grad))


def test_bce_shape_mismatch(make):
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        F.binary_cross_entropy(make(np.full((4, 1), 0.5)), make(np.ones(4)))
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        F.binary_cross_entropy_with_logits(make(np.zeros((4, 1))), make(np.ones(4)))


@pytest.mark.parametrize("layout", ["NCHW view of CHWN memory", "contiguous NCHW", "(N, C)", "strided slice"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sum_per_channel_equals_numpy_sum_in_every_layout(layout, dtype):
    """BatchNorm's per-channel sums (a matrix-vector product with ones where the layout allows it, else
    ``sum``) are NumPy's sums, whatever the memory layout of x."""
    from minigan.fast.norm import sum_per_channel
    rng = np.random.default_rng(0)
    if layout == "NCHW view of CHWN memory":
        x = rng.standard_normal((5, 4, 3, 6)).astype(dtype).transpose(3, 0, 1, 2)   # (6, 5, 4, 3)
    elif layout == "contiguous NCHW":
        x = rng.standard_normal((6, 5, 4, 3)).astype(dtype)
    elif layout == "(N, C)":
        x = rng.standard_normal((7, 5)).astype(dtype)
    else:
        x = rng.standard_normal((6, 5, 8, 3)).astype(dtype)[:, :, ::2]
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    expected = x.astype(np.float64).sum(axis=axes)
    got = sum_per_channel(x)
    assert got.shape == (x.shape[1],) and got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


def test_labels_checked_on_host_skips_only_the_range_read(make):
    """The range check reads the labels back from the device; inside labels_checked_on_host() (the
    runner, after checking every label once on the host) it is skipped, and nothing else is."""
    from minigan.ops import embedding as embedding_module

    table = make(np.zeros((3, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=r"\[0, 2\].*0 to 3"):
        F.embedding(mg.tensor(np.array([0, 3])), table)
    with embedding_module.labels_checked_on_host():
        assert embedding_module._labels_checked_on_host
        with pytest.raises(TypeError, match="integer"):                  # the other checks stay
            F.embedding(mg.tensor([0.0, 1.0]), table)
        assert F.embedding(mg.tensor(np.array([0, 2])), table).shape == (2, 2)
    assert not embedding_module._labels_checked_on_host
    with pytest.raises(ValueError, match=r"\[0, 2\]"):                  # and after the block, the range again
        F.embedding(mg.tensor(np.array([3, 0])), table)
