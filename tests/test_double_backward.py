"""Higher-order gradients: mg.grad, backward(create_graph=True), gradgradcheck of every op.

Mirrors minigan/autograd.py (the engine) and minigan/tools/gradcheck.py (gradgradcheck); the per-op checks
cover every op the DCGAN, the cGAN and the classifiers use. Float64, random upstream gradients and
random second-order directions (gradgradcheck draws both).
"""

import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from minigan import nn
from minigan.autograd import Function
from minigan.backend import get_array_module
from minigan.tools.gradcheck import GradcheckError


def grad_of(t):
    return mg.to_numpy(t.grad.data if isinstance(t.grad, mg.Tensor) else t.grad)


# --- the API: mg.grad ----------------------------------------------------------------------------------------
def test_grad_returns_a_tuple_of_tensors_and_touches_no_grad(make):
    x = make([1.0, 2.0, 3.0], requires_grad=True)
    w = make([0.5, -1.0, 2.0], requires_grad=True)
    (gx, gw) = mg.grad((x * x * w).sum(), [x, w])
    assert isinstance(gx, mg.Tensor) and not gx.requires_grad       # first order: no graph
    assert np.allclose(gx.numpy(), 2 * x.numpy() * w.numpy()) and np.allclose(gw.numpy(), x.numpy() ** 2)
    assert x.grad is None and w.grad is None


def test_grad_of_a_non_leaf_and_grad_outputs(make, rng):
    x = make(rng.standard_normal((2, 3)), requires_grad=True)
    h = x * 3                                                      # a non-leaf input
    y = h.tanh()
    u = rng.standard_normal((2, 3))
    (gh,) = mg.grad(y, h, grad_outputs=make(u))
    assert np.allclose(gh.numpy(), u * (1 - np.tanh(3 * x.numpy()) ** 2))


def test_grad_with_create_graph_gives_the_second_derivative(make):
    x = make([0.3, -1.2, 2.0], requires_grad=True)
    (g,) = mg.grad(x.tanh().sum(), x, create_graph=True)           # 1 - tanh^2
    assert g.requires_grad and g.creator is not None
    (gg,) = mg.grad(g.sum(), x)                                    # -2 tanh (1 - tanh^2)
    t = np.tanh(x.numpy())
    assert np.allclose(gg.numpy(), -2 * t * (1 - t * t), rtol=1e-12)


def test_third_derivative_of_x_cubed(make):
    x = make(1.5, requires_grad=True)
    (d1,) = mg.grad(x ** 3, x, create_graph=True)
    (d2,) = mg.grad(d1, x, create_graph=True)
    (d3,) = mg.grad(d2, x)
    assert (d1.item(), d2.item(), d3.item()) == pytest.approx((3 * 1.5 ** 2, 6 * 1.5, 6.0))


def test_grad_visits_only_the_part_of_the_graph_that_leads_to_inputs(make, rng):
    x = make(rng.standard_normal((2, 3)), requires_grad=True)
    w = make(rng.standard_normal((3, 3)), requires_grad=True)
    calls = []

    class Spy(Function):  # y = x @ w, recording which gradients it is asked for
        def forward(self, a, b):
            return a @ b

        def backward(self, g):
            calls.append(list(self.needs_input_grad))
            a, b = self.inputs
            return (g @ b.T if self.needs_input_grad[0] else None,
                    a.T @ g if self.needs_input_grad[1] else None)

    mg.grad(Spy()(x, w).sum(), x)
    assert calls == [[True, False]]                                # w's gradient is not computed
    assert Spy()(x, w).creator.needs_input_grad == [True, True]


def test_grad_errors_name_the_problem(make):
    x = make([1.0, 2.0], requires_grad=True)
    unused = make([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="input 1 .* not used"):
        mg.grad((x * 2).sum(), [x, unused])
    assert mg.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.grad((x * 2).sum(), make([1.0]))
    with pytest.raises(RuntimeError, match="grad_outputs"):
        mg.grad(x * 2, x)                                          # non-scalar output, no grad_outputs


def test_retain_graph_defaults_to_create_graph(make):
    x = make([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    mg.grad(y, x, create_graph=True)
    mg.grad(y, x)                                                  # graph kept by the first call: fine
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        mg.grad(y, x)                                              # freed by the second one


# --- backward(create_graph=True) and .grad ---------------------------------------------------------------------
def test_backward_with_create_graph_makes_grad_a_tensor_with_a_graph(make):
    x = make([0.5, -1.0], requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert isinstance(x.grad, mg.Tensor) and x.grad.requires_grad
    assert np.allclose(x.grad.numpy(), 3 * x.numpy() ** 2)
    penalty = (x.grad * x.grad).sum()                              # sum (3x^2)^2: d/dx = 36 x^3
    (gp,) = mg.grad(penalty, x)
    assert np.allclose(gp.numpy(), 36 * x.numpy() ** 3)


def test_first_order_grad_stays_an_array_and_accumulates(make):
    x = make([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert not isinstance(x.grad, mg.Tensor)
    (x * x).sum().backward()
    assert np.allclose(grad_of(x), [4.0, 8.0])
    (x * x).sum().backward(create_graph=True)                      # accumulating onto an array: a Tensor
    assert isinstance(x.grad, mg.Tensor) and np.allclose(grad_of(x), [6.0, 12.0])


def test_optimizer_steps_with_a_tensor_grad(make):
    w = nn.Parameter(mg.tensor([1.0, -2.0]).data)
    (w * w).sum().backward(create_graph=True)
    for opt in (mg.optim.SGD([w], lr=0.1, momentum=0.9), mg.optim.Adam([w], lr=0.1)):
        opt.step()
    assert np.all(np.isfinite(w.numpy()))


def test_backward_returning_arrays_is_refused_under_create_graph(make):
    class ArrayBackward(Function):
        def forward(self, a):
            return a * 2

        def backward(self, g):
            return g.data * 2                                      # an array: the graph would be cut

    x = make([1.0], requires_grad=True)
    ArrayBackward()(x).sum().backward()                            # first order: still accepted
    assert np.allclose(grad_of(x), [2.0])
    with pytest.raises(RuntimeError, match="ArrayBackward.backward returned a raw array"):
        mg.grad(ArrayBackward()(x).sum(), x, create_graph=True)


def test_trace_shows_the_ops_of_a_create_graph_backward(capsys):
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.tanh().sum()
    with mg.trace():
        mg.grad(y, x, create_graph=True)
    out = capsys.readouterr().out
    assert "in Tanh.backward: Mul" in out and "in Sum.backward: BroadcastTo" in out


def test_no_grad_inside_a_create_graph_computation(make):
    x = make([1.0, 2.0], requires_grad=True)
    (g,) = mg.grad((x ** 2).sum(), x, create_graph=True)
    with mg.no_grad():
        assert not (g * 2).requires_grad


def test_detect_anomaly_names_the_backward_of_a_backward(make):
    x = make([0.0, 1.0], requires_grad=True)
    with mg.detect_anomaly():
        (g,) = mg.grad((x ** 1.5).sum(), x, create_graph=True)     # 1.5 sqrt(x): finite at 0
        with pytest.raises(FloatingPointError, match=r"Pow\.backward"):
            with np.errstate(divide="ignore"):
                mg.grad(g.sum(), x)                                # 0.75 / sqrt(0) = inf


# --- gradgradcheck itself ----------------------------------------------------------------------------------------
class DetachedTanh(Function):
    """tanh with a backward that uses y as a constant: right to first order, wrong to second."""

    def forward(self, x):
        self.y = get_array_module(x).tanh(x)
        return self.y

    def backward(self, g):
        return g * (1 - self.y * self.y)


def test_gradgradcheck_catches_a_backward_that_is_only_right_to_first_order(make, rng):
    x = make(rng.standard_normal(4), requires_grad=True)
    assert mg.gradcheck(lambda a: DetachedTanh()(a), x)
    with pytest.raises(GradcheckError, match="gradgradcheck failed for input 0"):
        mg.gradgradcheck(lambda a: DetachedTanh()(a), x)


class BadSquareBackward(Function):
    """y = x^2 whose backward ignores g's second use: d(g * 2x)/dg checked through u."""

    def forward(self, x):
        return x * x

    def backward(self, g):
        x, = self.inputs
        return g.detach() * 2 * x                                  # right value, no path back to g


def test_gradgradcheck_checks_the_derivative_with_respect_to_the_upstream_gradient(make, rng):
    x = make(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(GradcheckError, match="upstream gradient u"):
        mg.gradgradcheck(lambda a: BadSquareBackward()(a), x)


def test_gradgradcheck_refuses_float32(backend):
    with pytest.raises(ValueError, match="float64"):
        mg.gradgradcheck(lambda a: a * a, mg.randn(3, requires_grad=True))


# --- every op, to second order -------------------------------------------------------------------------------------
def r(rng, *shape):
    return rng.standard_normal(shape)


def away_from_zero(rng, *shape):
    """Values with |x| >= 0.1: finite differences must not straddle the kink of relu / leaky_relu."""
    x = rng.standard_normal(shape)
    return np.sign(x) * (np.abs(x) + 0.1)


CASES = {
    # name: (function of the inputs, list of input arrays)
    "add (broadcast)": (lambda a, b: (a + b) * a, lambda rng: [r(rng, 2, 3), r(rng, 3)]),
    "sub": (lambda a, b: (a - b) * b, lambda rng: [r(rng, 2, 3), r(rng, 2, 1)]),
    "mul (broadcast)": (lambda a, b: a * b, lambda rng: [r(rng, 2, 3), r(rng, 1, 3)]),
    "div": (lambda a, b: a / b, lambda rng: [r(rng, 2, 3), r(rng, 3) + 3]),
    "neg": (lambda a: -a * a, lambda rng: [r(rng, 4)]),
    "pow": (lambda a: a ** 3 + a ** -1.5, lambda rng: [np.abs(r(rng, 5)) + 0.5]),
    "exp": (lambda a: a.exp(), lambda rng: [r(rng, 2, 3)]),
    "log": (lambda a: a.log(), lambda rng: [np.abs(r(rng, 2, 3)) + 0.5]),
    "matmul (batched)": (lambda a, b: a @ b, lambda rng: [r(rng, 2, 3, 4), r(rng, 4, 2)]),
    "linear": (lambda x, w, b: F.linear(x, w, b), lambda rng: [r(rng, 3, 4), r(rng, 2, 4), r(rng, 2)]),
    "sum (axis)": (lambda a: a.sum(axis=1) * a.sum(axis=(0, 2), keepdims=True).sum(), lambda rng: [r(rng, 2, 3, 2)]),
    "mean": (lambda a: a.mean(axis=0) * a.mean(), lambda rng: [r(rng, 3, 2)]),
    "reshape / flatten": (lambda a: a.reshape(3, 2, 2).tanh().flatten(1) * a.reshape(3, -1), lambda rng: [r(rng, 2, 6)]),
    "permute / transpose": (lambda a: a.permute(2, 0, 1) * a.transpose(0, 2).transpose(1, 2).tanh(), lambda rng: [r(rng, 2, 3, 4)]),
    "getitem (slices)": (lambda a: a[1:, ::2] * a[:1, 1::2].sum(), lambda rng: [r(rng, 3, 4)]),
    "getitem (repeated indices)": (lambda a: a[np.array([0, 2, 0])] ** 2, lambda rng: [r(rng, 3, 2)]),
    "cat": (lambda a, b: mg.cat([a, b * a], axis=1) ** 2, lambda rng: [r(rng, 2, 3), r(rng, 2, 3)]),
    "relu": (lambda a: F.relu(a) * a, lambda rng: [away_from_zero(rng, 2, 5)]),
    "leaky_relu": (lambda a: F.leaky_relu(a, 0.2) * a, lambda rng: [away_from_zero(rng, 2, 5)]),
    "tanh": (lambda a: F.tanh(a), lambda rng: [r(rng, 2, 5)]),
    "sigmoid": (lambda a: F.sigmoid(a), lambda rng: [r(rng, 2, 5)]),
    "bce with logits": (lambda z: F.binary_cross_entropy_with_logits(z, mg.tensor(
        np.array([[1.0], [0.0], [1.0]]), dtype=np.float64)), lambda rng: [r(rng, 3, 1)]),
    "layer_norm (affine)": (lambda x, w, b: F.layer_norm(x, (3, 4), w, b),
                            lambda rng: [r(rng, 2, 3, 4), r(rng, 3, 4), r(rng, 3, 4)]),
    "layer_norm (no affine)": (lambda x: F.layer_norm(x, 4), lambda rng: [r(rng, 3, 4)]),
    "conv2d im2col (stride 2, pad 1, bias)": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
                                              lambda rng: [r(rng, 2, 2, 5, 6), r(rng, 3, 2, 3, 3), r(rng, 3)]),
    "conv2d im2col (stride 1, no pad)": (lambda x, w: F.conv2d(x, w), lambda rng: [r(rng, 1, 2, 4, 4), r(rng, 3, 2, 2, 2)]),
    "conv2d kn2row (fewer outputs, pad 1)": (lambda x, w, b: F.conv2d(x, w, b, padding=1),
                                             lambda rng: [r(rng, 2, 3, 4, 5), r(rng, 1, 3, 3, 3), r(rng, 1)]),
    "conv_transpose2d scatter (s 2, p 1, op 1)": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        lambda rng: [r(rng, 2, 2, 3, 2), r(rng, 2, 3, 3, 3), r(rng, 3)]),
    "conv_transpose2d dilate (s 2, p 1, op (1, 0))": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=(1, 0), method="dilate"),
        lambda rng: [r(rng, 1, 2, 3, 2), r(rng, 2, 2, 3, 3), r(rng, 2)]),
    "batch_norm train (N, C, H, W)": (lambda x, g, b: F.batch_norm(x, g, b, training=True),
                                      lambda rng: [r(rng, 3, 2, 2, 2), r(rng, 2), r(rng, 2)]),
    "batch_norm train (N, C)": (lambda x, g, b: F.batch_norm(x, g, b, training=True),
                                lambda rng: [r(rng, 4, 3), r(rng, 3), r(rng, 3)]),
    "batch_norm eval": (lambda x, g, b: F.batch_norm(x, g, b, on_backend([0.1, -0.2]), on_backend([1.5, 0.7]),
                                                     training=False) ** 2,
                        lambda rng: [r(rng, 3, 2, 2, 1), r(rng, 2), r(rng, 2)]),
    "embedding": (lambda w: F.embedding(mg.tensor(np.array([2, 0, 2])), w) ** 2, lambda rng: [r(rng, 3, 4)]),
    "dropout": (lambda a: seeded_dropout(a) * a, lambda rng: [r(rng, 3, 4)]),
    "binary_cross_entropy": (lambda p: F.binary_cross_entropy(p, mg.tensor(
        np.array([[1.0], [0.0], [0.3]]), dtype=np.float64)), lambda rng: [rng.uniform(0.1, 0.9, (3, 1))]),
    "cross_entropy": (lambda z: F.cross_entropy(z, mg.tensor(np.array([1, 0, 3]))), lambda rng: [r(rng, 3, 4)]),
    "pad2d / dilate2d": (lambda a: F.pad2d(F.dilate2d(a, 2), 1, 0, 2, 1) ** 2, lambda rng: [r(rng, 1, 2, 2, 3)]),
}


def on_backend(values):
    return mg.tensor(np.array(values), dtype=np.float64)


def seeded_dropout(a):
    mg.manual_seed(3)                                              # the same mask at every evaluation
    return F.dropout(a, 0.5, training=True)


@pytest.mark.parametrize("name", list(CASES))
def test_gradgradcheck_of_every_op(make, rng, name):
    fn, arrays = CASES[name]
    inputs = [make(a, requires_grad=True) for a in arrays(rng)]
    assert mg.gradgradcheck(fn, *inputs, atol=1e-6, rtol=1e-4)


def test_layer_norm_matches_the_formula_and_the_module(make, rng):
    x = rng.standard_normal((2, 3, 4))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    y = F.layer_norm(make(x), (3, 4))
    assert np.allclose(y.numpy(), (x - mean) / np.sqrt(var + 1e-5))
    layer = nn.LayerNorm((3, 4))
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert np.allclose(layer(mg.tensor(x)).numpy(), y.numpy(), atol=1e-5)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    with pytest.raises(ValueError, match=r"LayerNorm.*expected input of shape \(N, 3, 4\)"):
        layer(mg.tensor(np.ones((2, 4, 3))))
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(make(x), (4, 3))
