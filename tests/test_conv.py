"""ops/conv.py, ops/conv_subpixel.py and ops/im2col.py: conv2d and the three transposed convolutions.

Checked against the plain-loop references in tests/reference.py (forward and every gradient), against
each other (scatter == dilate == subpixel), through the adjoint identity, with gradcheck, and
optionally against PyTorch.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
import reference as ref
from minigan.fast.conv import (col2im, col2im_blocks, col2im_per_tap, conv_transpose2d_array, fastest_conv_transpose,
                               prefers_kn2row)
from minigan.ops.conv import CONV_TRANSPOSE_METHODS, Conv2d, conv_output_size, conv_transpose_output_size
from minigan.tools.shapes import explain_conv_transpose
from minigan.ops.conv_kn2row import Conv2dKn2row
from minigan.ops.conv_subpixel import conv_transpose2d_subpixel_array, subpixel_phases

SETTINGS = dict(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
METHODS = ["scatter", "dilate", "subpixel"]


def np_(t):
    return mg.to_numpy(t.data if isinstance(t, mg.Tensor) else t)


# --- the worked example (docs quote it) ---------------------------------------------------------------------
X_EXAMPLE = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
K_EXAMPLE = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("stride, padding, expected", [
    (1, 0, [[0, 0, 1], [0, 4, 6], [4, 12, 9]]),
    (1, 1, [[4]]),
    (2, 1, [[0, 2], [2, 0]]),      # full 4x4 scatter [[0,0,0,1],[0,0,2,3],[0,2,0,3],[4,6,6,9]], crop 1
])
def test_worked_example(make, method, stride, padding, expected):
    y = F.conv_transpose2d(make(X_EXAMPLE), make(K_EXAMPLE), stride=stride, padding=padding, method=method)
    assert np.array_equal(y.numpy()[0, 0], expected)
    for reference in (ref.conv_transpose2d_scatter, ref.conv_transpose2d_dilate):
        assert np.array_equal(reference(X_EXAMPLE, K_EXAMPLE, None, stride, padding)[0, 0], expected)


# --- against the plain-loop references: forward and all gradients ------------------------------------------
CONFIGS = [  # (N, C_in, C_out, H, W, k, stride, padding)
    (1, 1, 1, 4, 4, 3, 1, 0),
    (2, 2, 3, 5, 4, 3, 2, 1),
    (1, 3, 2, 6, 6, 4, 2, 1),     # the DCGAN layer shape
    (2, 1, 2, 3, 5, 2, 3, 1),
    (1, 2, 1, 4, 4, 1, 1, 0),     # 1x1 kernel
]


def _conv_grads(make, fn, x, w, b, g):
    """Run fn(x, w, b) on the backend and return (y, dx, dw, db) as numpy arrays."""
    xt, wt, bt = (make(a, requires_grad=True) for a in (x, w, b))
    y = fn(xt, wt, bt)
    y.backward(make(g))
    return y.numpy(), np_(xt.grad), np_(wt.grad), np_(bt.grad)


@pytest.mark.parametrize("config", CONFIGS)
def test_conv2d_against_reference(make, rng, config):
    n, c_in, c_out, h, w_, k, s, p = config
    x, w, b = rng.standard_normal((n, c_in, h, w_)), rng.standard_normal((c_out, c_in, k, k)), rng.standard_normal(c_out)
    expected = ref.conv2d(x, w, b, s, p)
    g = rng.standard_normal(expected.shape)
    y, dx, dw, db = _conv_grads(make, lambda *a: F.conv2d(*a, stride=s, padding=p), x, w, b, g)
    assert np.allclose(y, expected)
    assert np.allclose(dx, ref.linear_vjp(lambda v: ref.conv2d(v, w, b, s, p), x, g))
    assert np.allclose(dw, ref.linear_vjp(lambda v: ref.conv2d(x, v, b, s, p), w, g))
    assert np.allclose(db, ref.linear_vjp(lambda v: ref.conv2d(x, w, v, s, p), b, g))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("config", CONFIGS)
def test_conv_transpose2d_against_reference(make, rng, config, method):
    n, c_in, c_out, h, w_, k, s, p = config
    h, w_ = max(h // 2, 1), max(w_ // 2, 1)                     # transposed convs grow their input
    op = s - 1 if s > 1 else 0                                  # exercise output_padding too
    x, w, b = rng.standard_normal((n, c_in, h, w_)), rng.standard_normal((c_in, c_out, k, k)), rng.standard_normal(c_out)
    expected = ref.conv_transpose2d_scatter(x, w, b, s, p, op)
    assert np.allclose(ref.conv_transpose2d_dilate(x, w, b, s, p, op), expected)   # the two definitions
    g = rng.standard_normal(expected.shape)
    fn = lambda *a: F.conv_transpose2d(*a, stride=s, padding=p, output_padding=op, method=method)  # noqa: E731
    y, dx, dw, db = _conv_grads(make, fn, x, w, b, g)
    assert np.allclose(y, expected)
    ref_fn = ref.conv_transpose2d_scatter
    assert np.allclose(dx, ref.linear_vjp(lambda v: ref_fn(v, w, b, s, p, op), x, g))
    assert np.allclose(dw, ref.linear_vjp(lambda v: ref_fn(x, v, b, s, p, op), w, g))
    assert np.allclose(db, ref.linear_vjp(lambda v: ref_fn(x, w, v, s, p, op), b, g))


def test_non_contiguous_inputs_are_read_correctly(make, rng):
    # the stride tricks read x through its strides: transposed and flipped views must give the same numbers
    x_memory = rng.standard_normal((5, 6, 2, 2))                # (W, H, C, N) in memory
    w_memory = rng.standard_normal((3, 3, 2, 3))                # (k, k, C_in, C_out) in memory
    x, w = x_memory.transpose(3, 2, 1, 0), w_memory.transpose(3, 2, 0, 1)   # (2, 2, 6, 5), (3, 2, 3, 3)
    xt = make(x_memory).permute(3, 2, 1, 0)                     # the same views, made on the backend
    wt = make(w_memory).permute(3, 2, 0, 1)
    assert not xt.data.flags.c_contiguous and not wt.data.flags.c_contiguous
    for p in (0, 1):
        assert np.allclose(F.conv2d(xt, wt, stride=2, padding=p).numpy(), ref.conv2d(x, w, None, 2, p))
    flipped = xt[:, :, ::-1, :]                                 # negative strides
    assert np.allclose(F.conv2d(flipped, wt, padding=1).numpy(), ref.conv2d(x[:, :, ::-1], w, None, 1, 1))

    wt_t = make(w_memory).permute(2, 3, 0, 1)                   # (C_in=2, C_out=3, k, k) view
    expected = ref.conv_transpose2d_scatter(x, w_memory.transpose(2, 3, 0, 1), None, 2, 1, 1)
    for method in METHODS:
        got = F.conv_transpose2d(xt, wt_t, stride=2, padding=1, output_padding=1, method=method)
        assert np.allclose(got.numpy(), expected)


def test_conv_output_feeds_the_next_conv(make, rng):
    # conv outputs are NCHW views of (C, H, W, N) memory; the next layer must read them correctly
    x, w1, w2 = rng.standard_normal((2, 2, 6, 6)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((2, 3, 3, 3))
    y = F.conv2d(F.conv2d(make(x), make(w1), stride=1, padding=1), make(w2), stride=2, padding=1)
    assert np.allclose(y.numpy(), ref.conv2d(ref.conv2d(x, w1, None, 1, 1), w2, None, 2, 1))


# --- Hypothesis: properties over random sizes, strides and paddings ------------------------------------------
@st.composite
def conv_transpose_cases(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    return dict(n=draw(st.integers(1, 2)), c_in=draw(st.integers(1, 3)), c_out=draw(st.integers(1, 3)),
                h=draw(st.integers(1, 4)), w=draw(st.integers(1, 4)), k=k, s=s,
                p=draw(st.integers(0, k - 1)), seed=draw(st.integers(0, 999)),
                op=(draw(st.integers(0, s - 1)), draw(st.integers(0, s - 1))))    # (op_h, op_w): per axis


def _output_size_ok(case):
    k, s, p, (op_h, op_w) = case["k"], case["s"], case["p"], case["op"]
    return (conv_transpose_output_size(case["h"], k, s, p, op_h) >= 1
            and conv_transpose_output_size(case["w"], k, s, p, op_w) >= 1)


@settings(**SETTINGS)
@given(case=conv_transpose_cases())
def test_scatter_equals_dilate_equals_subpixel_and_shapes_follow_the_formula(make, case):
    assume(_output_size_ok(case))
    rng = np.random.default_rng(case["seed"])
    n, c_in, c_out, h, w_, k, s, p, op = (case[key] for key in ("n", "c_in", "c_out", "h", "w", "k", "s", "p", "op"))
    x, w, b = make(rng.standard_normal((n, c_in, h, w_))), make(rng.standard_normal((c_in, c_out, k, k))), make(rng.standard_normal(c_out))
    a = F.conv_transpose2d(x, w, b, s, p, op, method="scatter")
    d = F.conv_transpose2d(x, w, b, s, p, op, method="dilate")
    sub = F.conv_transpose2d(x, w, b, s, p, op, method="subpixel")
    expected_shape = (n, c_out, (h - 1) * s - 2 * p + k + op[0], (w_ - 1) * s - 2 * p + k + op[1])
    assert a.shape == d.shape == sub.shape == expected_shape
    assert np.allclose(a.numpy(), d.numpy())
    assert np.allclose(sub.numpy(), a.numpy())


@settings(**SETTINGS)
@given(case=conv_transpose_cases(), op_w=st.integers(0, 2), extra_p=st.integers(0, 2))
def test_subpixel_per_axis_output_padding_and_any_padding(case, op_w, extra_p):
    """Non-square inputs, output_padding (op_h, op_w) per axis, and padding up to k + 1 (beyond k - 1,
    where the dilate view would have to crop): the sub-pixel arrays equal the plain-loop scatter."""
    n, c_in, c_out, h, w_, k, s = (case[key] for key in ("n", "c_in", "c_out", "h", "w", "k", "s"))
    op_h, p, op_w = case["op"][0], case["p"] + extra_p, min(op_w, s - 1)
    h_out, w_out = conv_transpose_output_size(h, k, s, p, op_h), conv_transpose_output_size(w_, k, s, p, op_w)
    assume(h_out >= 1 and w_out >= 1)
    rng = np.random.default_rng(case["seed"])
    x, w = rng.standard_normal((n, c_in, h, w_)), rng.standard_normal((c_in, c_out, k, k))
    got = conv_transpose2d_subpixel_array(x, w, s, p, (op_h, op_w))
    # output_padding only appends zero rows/columns at the bottom/right before the crop: the result
    # with (op_h, op_w) is the top-left corner of the one with max(op_h, op_w) on both axes
    expected = ref.conv_transpose2d_scatter(x, w, None, s, p, max(op_h, op_w))[:, :, :h_out, :w_out]
    assert got.shape == (n, c_out, h_out, w_out)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    scatter = conv_transpose2d_array(x, w, s, p, (op_h, op_w))                    # definition 1
    np.testing.assert_allclose(got, scatter, rtol=1e-10, atol=1e-10)


def test_subpixel_phases_of_the_dcgan_layer():
    # k=4, s=2, p=1 (docs/transposed-conv.md works it by hand): phase 0 uses kernel rows 1, 3 and reads
    # input rows q-1, q; phase 1 uses kernel rows 0, 2 and reads input rows q, q+1; 8 outputs each
    assert subpixel_phases(16, 4, 2, 1) == [(0, 1, 2, -1, 8), (1, 0, 2, 0, 8)]
    # k=3, s=2, p=1, op=1 (7 -> 14): uneven phases, 2 taps and 1 tap
    assert subpixel_phases(14, 3, 2, 1) == [(0, 1, 1, 0, 7), (1, 0, 2, 0, 7)]
    # k=1, s=2: kernel row 0 only reaches phase 0; phase 1 gets no tap (its outputs are zeros)
    assert subpixel_phases(3, 1, 2, 0) == [(0, 0, 1, 0, 2), (1, 1, 0, 1, 1)]


def test_fastest_conv_transpose_picks_one_definition_and_auto_agrees(make, backend, rng):
    for c_in, c_out in ((512, 256), (64, 3), (128, 128), (129, 128), (2, 3)):
        assert fastest_conv_transpose(backend, c_in, c_out) in METHODS
    assert fastest_conv_transpose("numpy", 128, 64) == "scatter"          # the DCGAN's C_in = 2 C_out
    assert fastest_conv_transpose("numpy", 64, 3) == "scatter"            # few output channels
    assert fastest_conv_transpose("numpy", 128, 128) == "subpixel"        # the cGAN's generator
    assert fastest_conv_transpose("cupy", 128, 128) == "scatter"          # fewer kernel launches
    assert set(CONV_TRANSPOSE_METHODS) == {"auto", *METHODS}
    for c_in, c_out in ((2, 3), (3, 1)):                                  # one pick of each kind on NumPy
        x, w, b = rng.standard_normal((2, c_in, 3, 4)), rng.standard_normal((c_in, c_out, 4, 4)), rng.standard_normal(c_out)
        results = [F.conv_transpose2d(make(x), make(w), make(b), 2, 1, 1, method=m).numpy()
                   for m in ("auto", *METHODS)]
        for other in results[1:]:
            np.testing.assert_allclose(results[0], other, rtol=1e-10, atol=1e-10)


@settings(**SETTINGS)
@given(case=conv_transpose_cases(), extra=st.integers(0, 2))
def test_adjoint_identity(make, case, extra):
    # <conv2d(x, W), y> == <x, conv_transpose2d(y, W)>: the transposed conv is conv2d's adjoint
    k, s, p = case["k"], case["s"], case["p"]
    h, w_ = case["h"] + k + extra, case["w"] + k                # conv input, big enough for the kernel
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c_in"], h, w_))
    weight = make(rng.standard_normal((case["c_out"], case["c_in"], k, k)))   # conv2d layout
    y_conv = F.conv2d(make(x), weight, stride=s, padding=p)
    h_out, w_out = y_conv.shape[2:]
    assert (h_out, w_out) == (conv_output_size(h, k, s, p), conv_output_size(w_, k, s, p))
    y = rng.standard_normal(y_conv.shape)
    op = (h - conv_transpose_output_size(h_out, k, s, p), w_ - conv_transpose_output_size(w_out, k, s, p))
    assert 0 <= min(op) and max(op) < s                         # the floor is undone by output_padding
    for method in METHODS:
        back = F.conv_transpose2d(make(y), weight, stride=s, padding=p, output_padding=op, method=method)
        assert back.shape == x.shape
        assert np.isclose(np.sum(y_conv.numpy() * y), np.sum(x * back.numpy()))


@settings(**SETTINGS)
@given(case=conv_transpose_cases())
def test_col2im_blocks_equal_one_add_per_tap(case):
    """The two col2im loops (per tap on NumPy, cropping as it adds; in s x s blocks on CuPy, then a
    crop) give the same image, and both equal a plain loop that stamps every window, then crops."""
    assume(_output_size_ok(case))
    n, c, h, w, k, s, p, op = (case[key] for key in ("n", "c_out", "h", "w", "k", "s", "p", "op"))
    taps = np.random.default_rng(case["seed"]).standard_normal((c, k, k, h, w, n))   # (C, k, k, h, w, N)
    h_full, w_full = (h - 1) * s + k + op[0], (w - 1) * s + k + op[1]
    h_out, w_out = h_full - 2 * p, w_full - 2 * p
    per_tap = col2im_per_tap(np, taps, s, p, h_out, w_out)          # (N, C, h_out, w_out)
    blocks = col2im_blocks(np, taps, s, h_full, w_full)              # (N, C, h_full, w_full)
    assert per_tap.shape == (n, c, h_out, w_out) and blocks.shape == (n, c, h_full, w_full)
    ref_stamp = np.zeros((c, h_full, w_full, n))
    for i in range(h):
        for j in range(w):
            ref_stamp[:, i * s:i * s + k, j * s:j * s + k] += taps[:, :, :, i, j]
    ref_stamp = ref_stamp.transpose(3, 0, 1, 2)                      # (N, C, h_full, w_full)
    np.testing.assert_allclose(blocks, ref_stamp, rtol=0, atol=1e-12)
    np.testing.assert_allclose(per_tap, ref_stamp[:, :, p:p + h_out, p:p + w_out], rtol=0, atol=1e-12)
    # col2im itself: on NumPy arrays the per-tap loop (on other backends the blocks loop and a crop,
    # which the strict backend's runs of the conv_transpose2d tests above go through)
    cols = taps.reshape(c * k * k, h * w * n)
    np.testing.assert_array_equal(col2im(cols, n, c, h, w, k, s, p, h_out, w_out), per_tap)


@settings(**SETTINGS)
@given(case=conv_transpose_cases(), method=st.sampled_from(METHODS))
def test_conv_transpose_input_gradient_is_conv2d(make, case, method):
    assume(_output_size_ok(case))
    rng = np.random.default_rng(case["seed"])
    k, s, p, op = case["k"], case["s"], case["p"], case["op"]
    x = make(rng.standard_normal((case["n"], case["c_in"], case["h"], case["w"])), requires_grad=True)
    w = make(rng.standard_normal((case["c_in"], case["c_out"], k, k)))
    y = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, method=method)
    g = make(rng.standard_normal(y.shape))
    y.backward(g)
    assert np.allclose(np_(x.grad), F.conv2d(g, w, stride=s, padding=p).numpy())


# --- gradcheck (float64, random upstream gradient) ---------------------------------------------------------
@pytest.mark.parametrize("s, p", [(1, 0), (2, 1), (3, 2)])
def test_conv2d_gradcheck(make, rng, s, p):
    x, w, b = rng.standard_normal((2, 2, 5, 4)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    inputs = [make(a, requires_grad=True) for a in (x, w, b)]
    assert mg.gradcheck(lambda *a: F.conv2d(*a, stride=s, padding=p), *inputs)


# --- kn2row: conv2d for layers with few output channels ------------------------------------------------------
@settings(**SETTINGS)
@given(n=st.integers(1, 3), c_in=st.integers(1, 4), c_out=st.integers(1, 4), k=st.integers(1, 4),
       h=st.integers(1, 6), w=st.integers(1, 6), data=st.data())
def test_kn2row_equals_im2col_forward_and_gradients(make, n, c_in, c_out, k, h, w, data):
    p = data.draw(st.integers(0, k - 1))
    assume(h + 2 * p >= k and w + 2 * p >= k)
    rng = np.random.default_rng(n * 1000 + c_in * 100 + c_out * 10 + k)
    arrays = (rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, k, k)), rng.standard_normal(c_out))
    results = []
    for function in (Conv2dKn2row(p), Conv2d(1, p)):
        x, wt, b = (make(a, requires_grad=True) for a in arrays)
        y = function(x, wt, b)
        y.backward(make(np.cos(np.arange(y.size)).reshape(y.shape)))     # a non-uniform upstream gradient
        results.append([np_(t) for t in (y, x.grad, wt.grad, b.grad)])
    assert results[0][0].shape == (n, c_out, h + 2 * p - k + 1, w + 2 * p - k + 1)
    for kn2row, im2col_ in zip(*results):
        np.testing.assert_allclose(kn2row, im2col_, rtol=1e-10, atol=1e-10)


def test_kn2row_gradcheck(make, rng):
    x, w, b = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((1, 3, 3, 3)), rng.standard_normal(1)
    inputs = [make(a, requires_grad=True) for a in (x, w, b)]
    assert mg.gradcheck(lambda *a: Conv2dKn2row(1)(*a), *inputs)


def test_conv2d_picks_kn2row_only_where_its_intermediate_is_smaller(make, rng):
    assert prefers_kn2row(128, 1, 7, 1, 3, 28, 28)                   # the cGAN's last layer: 49 rows, not 6,272
    assert not prefers_kn2row(64, 128, 4, 2, 1, 16, 16)               # stride 2 (the DCGAN's D)
    assert not prefers_kn2row(32, 32, 3, 1, 1, 28, 28)                # as many outputs as inputs: im2col
    assert not prefers_kn2row(8, 1, 3, 1, 3, 8, 8)                    # padding > k-1
    x = make(rng.standard_normal((2, 8, 6, 6)), requires_grad=True)
    with mg.textbook(False):                                          # the default path (textbook: never kn2row)
        y = F.conv2d(x, make(rng.standard_normal((1, 8, 3, 3))), padding=1)
    assert type(y.creator).__name__ == "Conv2dKn2row"
    assert np.allclose(y.numpy(), ref.conv2d(x.numpy(), np_(y.creator.inputs[1]), None, 1, 1))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("s, p, op", [(1, 0, 0), (2, 1, 1), (2, 0, 0), (3, 1, 2)])
def test_conv_transpose2d_gradcheck(make, rng, method, s, p, op):
    x, w, b = rng.standard_normal((2, 2, 2, 3)), rng.standard_normal((2, 2, 3, 3)), rng.standard_normal(2)
    inputs = [make(a, requires_grad=True) for a in (x, w, b)]
    assert mg.gradcheck(lambda *a: F.conv_transpose2d(*a, stride=s, padding=p, output_padding=op,
                                                      method=method), *inputs)


# --- errors that teach ---------------------------------------------------------------------------------------
def test_output_padding_must_be_smaller_than_stride(make):
    x, w = make(np.ones((1, 1, 2, 2))), make(np.ones((1, 1, 3, 3)))
    for op in (2, 3):
        with pytest.raises(ValueError, match="output_padding"):
            F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=op)


def test_wrong_channels_names_the_shapes(make):
    with pytest.raises(ValueError, match=r"1 channels.*\(64, 3, 4, 4\).*\(8, 1, 32, 32\)"):
        F.conv2d(make(np.ones((8, 1, 32, 32))), make(np.ones((64, 3, 4, 4))), stride=2, padding=1)
    with pytest.raises(ValueError, match=r"\(2, 5, 4, 4\)"):
        F.conv_transpose2d(make(np.ones((1, 3, 2, 2))), make(np.ones((2, 5, 4, 4))))


def test_input_smaller_than_kernel(make):
    with pytest.raises(ValueError, match="smaller than the 5x5 kernel"):
        F.conv2d(make(np.ones((1, 1, 3, 3))), make(np.ones((1, 1, 5, 5))), padding=0)
    assert F.conv2d(make(np.ones((1, 1, 3, 3))), make(np.ones((1, 1, 5, 5))), padding=1).shape == (1, 1, 1, 1)


def test_other_argument_errors(make):
    x, w = make(np.ones((1, 1, 3, 3))), make(np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="4-D input"):
        F.conv2d(make(np.ones((1, 3, 3))), w)
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, w, stride=0)
    with pytest.raises(ValueError, match="method"):
        F.conv_transpose2d(x, w, method="magic")
    with pytest.raises(ValueError, match="method='scatter'"):
        F.conv_transpose2d(make(np.ones((1, 1, 4, 4))), w, stride=2, padding=3, method="dilate")   # p' < 0
    with pytest.raises(ValueError, match="no output"):
        F.conv_transpose2d(make(np.ones((1, 1, 1, 1))), w, padding=2)


def test_scatter_handles_padding_beyond_k_minus_1(make, rng):
    x, w = rng.standard_normal((1, 1, 4, 4)), rng.standard_normal((1, 1, 2, 2))
    got = F.conv_transpose2d(make(x), make(w), stride=2, padding=2).numpy()
    assert np.allclose(got, ref.conv_transpose2d_scatter(x, w, None, 2, 2))


# --- the output-size explainer -------------------------------------------------------------------------------
def test_explain_conv_transpose(capsys):
    text = explain_conv_transpose(16, 5, 2, 2, 1, target=32)
    assert capsys.readouterr().out.strip() == text.strip()
    assert "(16 - 1)*2 - 2*2 + 5 + 1 = 32" in text
    assert "z = 1" in text and "p' = 2" in text
    assert "NOT divisible" in text
    assert "(2, 1)" in text
    assert "output_padding must be smaller" not in explain_conv_transpose(4, 4, 2, 1)
    assert "INVALID" in explain_conv_transpose(4, 4, 2, 1, output_padding=2)
    assert "is divisible" in explain_conv_transpose(4, 4, 2, 1)


def test_output_size_formulas():
    assert conv_output_size(7, 3, 2, 1) == conv_output_size(8, 3, 2, 1) == 4
    assert conv_transpose_output_size(4, 3, 2, 1, 0) == 7
    assert conv_transpose_output_size(4, 3, 2, 1, 1) == 8
    assert conv_transpose_output_size(16, 4, 2, 1) == 32                # DCGAN: doubles the size


# --- optional: PyTorch as a second opinion ---------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
def test_against_pytorch(make, rng, method):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    g_conv = rng.standard_normal((2, 4, 3, 3))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = tF.conv2d(xt, wt, bt, stride=2, padding=1)
    y.backward(torch.tensor(g_conv))
    _, dx, dw, db = _conv_grads(make, lambda *a: F.conv2d(*a, stride=2, padding=1), x, w, b, g_conv)
    assert np.allclose(y.detach().numpy(), F.conv2d(make(x), make(w), make(b), 2, 1).numpy())
    for mine, theirs in ((dx, xt), (dw, wt), (db, bt)):
        assert np.allclose(mine, theirs.grad.numpy())

    xt2, bt2 = torch.tensor(g_conv, requires_grad=True), torch.tensor(b[:3], requires_grad=True)
    wt2 = torch.tensor(w, requires_grad=True)                     # (C_in=4, C_out=3, k, k) for the transpose
    y2 = tF.conv_transpose2d(xt2, wt2, bt2, stride=2, padding=1, output_padding=1)
    g2 = rng.standard_normal(tuple(y2.shape))
    y2.backward(torch.tensor(g2))
    fn = lambda *a: F.conv_transpose2d(*a, stride=2, padding=1, output_padding=1, method=method)  # noqa: E731
    mine_y, dx2, dw2, db2 = _conv_grads(make, fn, g_conv, w, b[:3], g2)
    assert np.allclose(mine_y, y2.detach().numpy())
    for mine, theirs in ((dx2, xt2), (dw2, wt2), (db2, bt2)):
        assert np.allclose(mine, theirs.grad.numpy())


@settings(**SETTINGS)
@given(case=conv_transpose_cases(), method=st.sampled_from(METHODS))
def test_conv_transpose2d_against_pytorch_on_random_configs(case, method):
    """Non-square inputs and a different output_padding per axis, forward and all three gradients."""
    torch = pytest.importorskip("torch")
    assume(_output_size_ok(case))
    assume(method != "dilate" or case["p"] <= case["k"] - 1)
    rng = np.random.default_rng(case["seed"])
    k, s, p, op = case["k"], case["s"], case["p"], case["op"]
    x = rng.standard_normal((case["n"], case["c_in"], case["h"], case["w"]))
    w, b = rng.standard_normal((case["c_in"], case["c_out"], k, k)), rng.standard_normal(case["c_out"])
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv_transpose2d(xt, wt, bt, stride=s, padding=p, output_padding=op)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    fn = lambda *a: F.conv_transpose2d(*a, stride=s, padding=p, output_padding=op, method=method)  # noqa: E731
    as_f64 = lambda a, requires_grad=False: mg.tensor(a, requires_grad=requires_grad, dtype=np.float64)  # noqa: E731
    y, dx, dw, db = _conv_grads(as_f64, fn, x, w, b, g)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    for mine, theirs in ((dx, xt), (dw, wt), (db, bt)):
        np.testing.assert_allclose(mine, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_per_axis_output_padding_is_checked_per_axis(make):
    """The issue's case: H = 1 with op_h = 1, W = 2 with op_w = 0 (PyTorch: output (1, 1, 1, 2))."""
    x, w = make(np.ones((1, 1, 1, 2))), make(np.ones((1, 1, 2, 2)))
    y = F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=(1, 0))
    assert y.shape == (1, 1, 1, 2)
    layer = mg.nn.ConvTranspose2d(1, 1, 2, stride=2, padding=1, output_padding=(1, 0))
    assert layer(mg.tensor(np.ones((1, 1, 1, 2)))).shape == (1, 1, 1, 2)
    with pytest.raises(ValueError, match="output_padding"):
        mg.nn.ConvTranspose2d(1, 1, 2, stride=2, output_padding=(0, 2))


def test_numpy_integers_are_accepted_as_stride_and_padding(make, rng):
    x, w = make(rng.standard_normal((1, 2, 6, 6))), make(rng.standard_normal((3, 2, 3, 3)))
    expected = F.conv2d(x, w, stride=2, padding=1).numpy()
    np.testing.assert_array_equal(F.conv2d(x, w, stride=np.int64(2), padding=np.int32(1)).numpy(), expected)
    wt = make(rng.standard_normal((2, 3, 3, 3)))
    a = F.conv_transpose2d(x, wt, stride=np.int64(2), padding=np.int64(1), output_padding=np.int64(1))
    np.testing.assert_array_equal(a.numpy(), F.conv_transpose2d(x, wt, stride=2, padding=1, output_padding=1).numpy())
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, w, stride=True)                              # a bool is not an integer here
    with pytest.raises(ValueError, match="stride"):
        F.conv2d(x, w, stride=2.0)
