"""Finite-difference gradient checking: the test every op in minigan must pass, to first and second order.

Reading order: tensor -> **gradcheck** -> graphviz (tools, used by the tests and by learners).

First order (``gradcheck``). For a function f of tensors returning a tensor y, pick a random upstream
gradient u (same shape as y) and compare, for every input x and every element x_i:
    analytic:  d<u, f(x)>/dx_i  from backward(),  i.e. (J^T u)_i
    numeric:   (<u, f(x + eps e_i)> - <u, f(x - eps e_i)>) / (2 eps)     (central difference)
A *random* u matters: with u = ones (a plain .sum() loss) a backward that transposes or permutes its
gradient can still pass. Everything runs in float64, where eps = 1e-6 gives ~1e-10 accurate slopes.

Second order (``gradgradcheck``): the same test applied to the backward pass itself. With u random,
    h(x, u) = d<u, f(x)>/dx          (the first-order gradients, computed by backward)
is a function of the inputs x *and* of u. Pick a second random direction v (the shape of h) and compare
    analytic:  d<v, h(x, u)>/dx_i and d<v, h>/du_j    from a backward through h's recorded graph
               (mg.grad with create_graph=True, then mg.grad of <v, h>)
    numeric:   central differences of <v, h(x, u)> (each h evaluated by a first-order backward).
The u-derivative matters: inside a network the upstream gradient of an op depends on the parameters
of the layers after it, so the backward of a backward must be right w.r.t. its incoming gradient too.
"""

import numpy as np

from minigan import backend
from minigan.autograd import grad, no_grad
from minigan.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic gradient (backward) disagrees with the numeric one."""


def _checked_inputs(name, inputs):
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError(f"{name}: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"{name}: input {i} is {inputs[i].dtype}; use float64 (x.astype('float64'))")
    return checked


def _numeric_gradient(objective, x, eps):
    """Central differences of the number objective() w.r.t. every element of x (perturbed in place)."""
    xp = backend.get_array_module(x.data)
    numeric = np.zeros(x.shape)
    # contiguous, so that reshape below is a view (ascontiguousarray turns 0-d into (1,): undo that)
    x.data = xp.ascontiguousarray(x.data).reshape(x.shape)
    flat = x.data.reshape(-1)                                       # a view: writing it perturbs x
    for j in range(flat.size):
        original = float(flat[j])
        flat[j] = original + eps
        plus = objective()
        flat[j] = original - eps
        minus = objective()
        flat[j] = original
        numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
    return numeric


def _compare(name, what, x, analytic, numeric, atol, rtol):
    error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    if error.size and error.max() > 0:
        worst = np.unravel_index(np.argmax(error), x.shape)
        raise GradcheckError(
            f"{name} failed for {what} (shape {x.shape}{', ' + repr(x.name) if x.name else ''}): "
            f"at index {tuple(int(w) for w in worst)} analytic {analytic[worst]:.8g} vs numeric "
            f"{numeric[worst]:.8g} (atol={atol}, rtol={rtol}); max |analytic - numeric| = "
            f"{np.abs(analytic - numeric).max():.3g}"
        )


def _as_numpy(g, shape):
    return np.zeros(shape) if g is None else backend.to_numpy(g.data if isinstance(g, Tensor) else g)


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check backward() of ``fn(*inputs)`` against central differences; True or GradcheckError.

    Inputs that are Tensors with requires_grad=True are checked; they must be float64.
    """
    checked = _checked_inputs("gradcheck", inputs)
    out = fn(*inputs)
    xp = backend.get_array_module(out.data)
    rng = np.random.default_rng(seed)
    upstream = xp.asarray(rng.standard_normal(out.shape))          # random u, same shape as the output

    for i in checked:
        inputs[i].grad = None
    out.backward(upstream)

    def objective():  # <u, f(inputs)>
        with no_grad():
            return float((fn(*inputs).data * upstream).sum())

    for i in checked:
        x = inputs[i]
        analytic = _as_numpy(x.grad, x.shape)
        _compare("gradcheck", f"input {i}", x, analytic, _numeric_gradient(objective, x, eps), atol, rtol)
    return True


def gradgradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check the second derivatives of ``fn(*inputs)`` (the backward of its backward) against central
    differences of its first-order gradients; True or GradcheckError. Float64 inputs, as gradcheck.

    Checked: d<v, h>/dx for every input x with requires_grad, and d<v, h>/du, where h = d<u, f>/dx are
    the first-order gradients for a random upstream gradient u and v is a random direction.
    """
    checked = _checked_inputs("gradgradcheck", inputs)
    xs = [inputs[i] for i in checked]
    rng = np.random.default_rng(seed)
    out = fn(*inputs)
    xp = backend.get_array_module(out.data)
    u = Tensor(xp.asarray(rng.standard_normal(out.shape)), requires_grad=True, name="upstream u")
    directions = [xp.asarray(rng.standard_normal(x.shape)) for x in xs]   # v, one per input

    def first_order(create_graph):  # h(x, u), one gradient per checked input (None: unused)
        return grad(fn(*inputs), xs, u, create_graph=create_graph, allow_unused=True)

    def objective():  # <v, h(x, u)>, each h from an ordinary first-order backward
        h = first_order(create_graph=False)
        return sum(float((g.data * v).sum()) for g, v in zip(h, directions) if g is not None)

    h = first_order(create_graph=True)
    terms = [(g * v).sum() for g, v in zip(h, directions) if g is not None and g.requires_grad]
    wrt = xs + [u]
    if terms:
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        analytic = grad(total, wrt, allow_unused=True)            # d<v, h>/dx and d<v, h>/du
    else:
        analytic = [None] * len(wrt)                               # h does not depend on x or u: zero
    for position, (x, a) in enumerate(zip(wrt, analytic)):
        what = f"input {checked[position]}" if position < len(xs) else "the upstream gradient u"
        _compare("gradgradcheck", what, x, _as_numpy(a, x.shape), _numeric_gradient(objective, x, eps),
                 atol, rtol)
    return True
