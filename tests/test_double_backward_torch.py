"""Second-order gradients against PyTorch's double backward, and Hypothesis sweeps of conv / convT configs.

For random u (upstream) and v (second-order direction), both frameworks compute
    h = d<u, f(x)>/dx                       (create_graph=True)
    d<v, h>/dx  and  d<v, h>/du             (the backward of the backward)
in float64; they must agree to 1e-8 relative. The PyTorch tests skip when torch is not installed; the
sweeps then still run, with gradgradcheck (finite differences) as the reference.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from minigan.fast.conv import prefers_kn2row
from minigan.ops.conv import conv_transpose_output_size

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # optional: the cross-checks skip, the sweeps use gradgradcheck
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (optional cross-check)")


def second_order_minigan(fn, arrays, u, vs):
    xs = [mg.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays]
    ut = mg.tensor(u, requires_grad=True, dtype=np.float64)
    h = mg.grad(fn(*xs), xs, ut, create_graph=True, allow_unused=True)
    total = sum(((g * mg.tensor(v, dtype=np.float64)).sum() for g, v in zip(h, vs)
                 if g is not None and g.requires_grad), mg.tensor(0.0, dtype=np.float64))
    if not total.requires_grad:
        return [np.zeros_like(a) for a in arrays] + [np.zeros_like(u)]
    grads = mg.grad(total, xs + [ut], allow_unused=True)
    return [np.zeros(t.shape) if g is None else g.numpy() for g, t in zip(grads, xs + [ut])]


def second_order_torch(fn, arrays, u, vs):
    xs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    ut = torch.tensor(u, dtype=torch.float64, requires_grad=True)
    h = torch.autograd.grad(fn(*xs), xs, ut, create_graph=True, allow_unused=True)
    total = sum((g * torch.tensor(v)).sum() for g, v in zip(h, vs) if g is not None and g.requires_grad)
    if not torch.is_tensor(total):
        return [np.zeros_like(a) for a in arrays] + [np.zeros_like(u)]
    grads = torch.autograd.grad(total, xs + [ut], allow_unused=True)
    return [np.zeros(t.shape) if g is None else g.detach().numpy() for g, t in zip(grads, xs + [ut])]


def assert_same_second_order(mg_fn, torch_fn, arrays, seed=0, rtol=1e-8):
    rng = np.random.default_rng(seed)
    out_shape = mg_fn(*[mg.tensor(a, dtype=np.float64) for a in arrays]).shape
    u = rng.standard_normal(out_shape)
    vs = [rng.standard_normal(a.shape) for a in arrays]
    ours = second_order_minigan(mg_fn, arrays, u, vs)
    theirs = second_order_torch(torch_fn, arrays, u, vs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        scale = max(np.abs(b).max(), 1e-300)
        assert np.abs(a - b).max() <= rtol * scale, (
            f"{'u' if i == len(arrays) else f'input {i}'}: max |minigan - torch| = {np.abs(a - b).max():.3g}, "
            f"max |torch| = {scale:.3g}")


def r(rng, *shape):
    return rng.standard_normal(shape)


T = np.array([[1.0], [0.0], [0.3]])
LABELS = np.array([1, 0, 3])
IDX = np.array([2, 0, 2])
RM, RV = np.array([0.1, -0.2]), np.array([1.5, 0.7])

# name: (minigan function, torch function, input arrays)
TORCH_CASES = {
    "mul / div / pow": (lambda a, b: a * b / (b * b + 1) + a ** 3, lambda a, b: a * b / (b * b + 1) + a ** 3,
                        lambda rng: [r(rng, 2, 3), r(rng, 3)]),
    "exp / log": (lambda a: (a * a + 1).log() * a.exp(), lambda a: (a * a + 1).log() * a.exp(),
                  lambda rng: [r(rng, 2, 3)]),
    "matmul": (lambda a, b: (a @ b) * (a @ b), lambda a, b: (a @ b) * (a @ b), lambda rng: [r(rng, 2, 3), r(rng, 3, 4)]),
    "linear": (F.linear, TF.linear if torch else None, lambda rng: [r(rng, 3, 4), r(rng, 2, 4), r(rng, 2)]),
    "sum / mean": (lambda a: a.sum(axis=1) * a.mean(), lambda a: a.sum(dim=1) * a.mean(), lambda rng: [r(rng, 3, 2)]),
    "tanh": (F.tanh, torch.tanh if torch else None, lambda rng: [r(rng, 2, 5)]),
    "sigmoid": (F.sigmoid, torch.sigmoid if torch else None, lambda rng: [r(rng, 2, 5)]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.2) * a, lambda a: TF.leaky_relu(a, 0.2) * a,
                   lambda rng: [r(rng, 2, 5)]),
    "relu": (lambda a: F.relu(a) * a, lambda a: TF.relu(a) * a, lambda rng: [r(rng, 2, 5)]),
    "bce with logits": (lambda z: F.binary_cross_entropy_with_logits(z, mg.tensor(T, dtype=np.float64)),
                        lambda z: TF.binary_cross_entropy_with_logits(z, torch.tensor(T)), lambda rng: [r(rng, 3, 1)]),
    "binary_cross_entropy": (lambda p: F.binary_cross_entropy(p, mg.tensor(T, dtype=np.float64)),
                             lambda p: TF.binary_cross_entropy(p, torch.tensor(T)),
                             lambda rng: [rng.uniform(0.1, 0.9, (3, 1))]),
    "cross_entropy": (lambda z: F.cross_entropy(z, mg.tensor(LABELS)), lambda z: TF.cross_entropy(z, torch.tensor(LABELS)),
                      lambda rng: [r(rng, 3, 4)]),
    "embedding": (lambda w: F.embedding(mg.tensor(IDX), w) ** 2, lambda w: TF.embedding(torch.tensor(IDX), w) ** 2,
                  lambda rng: [r(rng, 3, 4)]),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (3, 4), w, b), lambda x, w, b: TF.layer_norm(x, (3, 4), w, b),
                   lambda rng: [r(rng, 2, 3, 4), r(rng, 3, 4), r(rng, 3, 4)]),
    "batch_norm train": (lambda x, g, b: F.batch_norm(x, g, b, training=True),
                         lambda x, g, b: TF.batch_norm(x, None, None, g, b, training=True),
                         lambda rng: [r(rng, 3, 2, 2, 2), r(rng, 2), r(rng, 2)]),
    "batch_norm eval": (lambda x, g, b: F.batch_norm(x, g, b, mg.tensor(RM, dtype=np.float64),
                                                     mg.tensor(RV, dtype=np.float64), training=False) ** 2,
                        lambda x, g, b: TF.batch_norm(x, torch.tensor(RM), torch.tensor(RV), g, b, training=False) ** 2,
                        lambda rng: [r(rng, 3, 2, 2, 1), r(rng, 2), r(rng, 2)]),
    "conv2d im2col": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1) ** 2,
                      lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1) ** 2,
                      lambda rng: [r(rng, 2, 2, 5, 6), r(rng, 3, 2, 3, 3), r(rng, 3)]),
    "conv2d kn2row": (lambda x, w, b: F.conv2d(x, w, b, padding=1) ** 2, lambda x, w, b: TF.conv2d(x, w, b, padding=1) ** 2,
                      lambda rng: [r(rng, 2, 3, 4, 5), r(rng, 1, 3, 3, 3), r(rng, 1)]),
    "conv_transpose2d scatter": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1) ** 2,
        lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1) ** 2,
        lambda rng: [r(rng, 2, 2, 3, 2), r(rng, 2, 3, 3, 3), r(rng, 3)]),
    "conv_transpose2d dilate": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=(1, 0), method="dilate") ** 2,
        lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=(1, 0)) ** 2,
        lambda rng: [r(rng, 1, 2, 3, 2), r(rng, 2, 2, 3, 3), r(rng, 2)]),
}


@needs_torch
@pytest.mark.parametrize("name", list(TORCH_CASES))
def test_second_order_matches_pytorch(name):
    mg_fn, torch_fn, arrays = TORCH_CASES[name]
    assert_same_second_order(mg_fn, torch_fn, arrays(np.random.default_rng(1)))


# --- Hypothesis sweeps over conv / convT configurations ---------------------------------------------------------
@st.composite
def conv_configs(draw):
    k = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, k - 1))
    h = draw(st.integers(max(1, k - 2 * padding), 6))
    w = draw(st.integers(max(1, k - 2 * padding), 6))               # non-square inputs
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return dict(n=draw(st.integers(1, 2)), c_in=c_in, c_out=c_out, h=h, w=w, k=k, stride=stride, padding=padding,
                op=(draw(st.integers(0, stride - 1)), draw(st.integers(0, stride - 1))),
                method=draw(st.sampled_from(["scatter", "dilate"])))


def conv_case(cfg):
    s, p = cfg["stride"], cfg["padding"]
    mg_fn = lambda x, w, b: F.conv2d(x, w, b, stride=s, padding=p) ** 2              # noqa: E731
    torch_fn = lambda x, w, b: TF.conv2d(x, w, b, stride=s, padding=p) ** 2           # noqa: E731
    shapes = [(cfg["n"], cfg["c_in"], cfg["h"], cfg["w"]), (cfg["c_out"], cfg["c_in"], cfg["k"], cfg["k"]), (cfg["c_out"],)]
    return mg_fn, torch_fn, shapes


def conv_transpose_case(cfg):
    s, p, op, method = cfg["stride"], cfg["padding"], cfg["op"], cfg["method"]
    assume(min(conv_transpose_output_size(cfg[a], cfg["k"], s, p, o) for a, o in zip("hw", op)) >= 1)
    mg_fn = lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, method=method) ** 2  # noqa: E731
    torch_fn = lambda x, w, b: TF.conv_transpose2d(x, w, b, s, p, op) ** 2            # noqa: E731
    shapes = [(cfg["n"], cfg["c_in"], cfg["h"], cfg["w"]), (cfg["c_in"], cfg["c_out"], cfg["k"], cfg["k"]), (cfg["c_out"],)]
    return mg_fn, torch_fn, shapes


def arrays_of(shapes, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


@needs_torch
@settings(max_examples=40, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv2d_second_order_matches_pytorch_sweep(cfg, seed):
    mg_fn, torch_fn, shapes = conv_case(cfg)
    assert_same_second_order(mg_fn, torch_fn, arrays_of(shapes, seed), seed)


@needs_torch
@settings(max_examples=40, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv_transpose2d_second_order_matches_pytorch_sweep(cfg, seed):
    mg_fn, torch_fn, shapes = conv_transpose_case(cfg)
    assert_same_second_order(mg_fn, torch_fn, arrays_of(shapes, seed), seed)


def test_the_sweep_covers_both_conv2d_paths():
    assert prefers_kn2row(3, 1, 3, 1, 1, 4, 4) and not prefers_kn2row(1, 3, 3, 2, 1, 4, 4)


@settings(max_examples=4, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2 ** 16), transposed=st.booleans())
def test_conv_gradgradcheck_sweep(cfg, seed, transposed):
    """Without torch this is the reference; with it, a few finite-difference checks on top."""
    mg_fn, _, shapes = (conv_transpose_case if transposed else conv_case)(cfg)
    inputs = [mg.tensor(a, requires_grad=True, dtype=np.float64) for a in arrays_of(shapes, seed)]
    assert mg.gradgradcheck(mg_fn, *inputs, atol=1e-6, rtol=1e-4)
