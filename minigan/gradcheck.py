"""Finite-difference gradient checking: the test every op in minigan must pass.

Reading order: tensor -> **gradcheck** -> graphviz (tools, used by the tests and by learners).

For a function f of tensors returning a tensor y, pick a random upstream gradient u (same shape as y)
and compare, for every input x and every element x_i:
    analytic:  d<u, f(x)>/dx_i  from backward(),  i.e. (J^T u)_i
    numeric:   (<u, f(x + eps e_i)> - <u, f(x - eps e_i)>) / (2 eps)     (central difference)
A *random* u matters: with u = ones (a plain .sum() loss) a backward that transposes or permutes its
gradient can still pass. Everything runs in float64, where eps = 1e-6 gives ~1e-10 accurate slopes.
"""

import numpy as np

from minigan import backend
from minigan.autograd import no_grad
from minigan.tensor import Tensor


class GradcheckError(AssertionError):
    """The analytic gradient (backward) disagrees with the numeric one."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check backward() of ``fn(*inputs)`` against central differences; True or GradcheckError.

    Inputs that are Tensors with requires_grad=True are checked; they must be float64.
    """
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {inputs[i].dtype}; use float64 (x.astype('float64'))")

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
        analytic = backend.to_numpy(x.grad) if x.grad is not None else np.zeros(x.shape)
        numeric = np.zeros(x.shape)
        # contiguous, so that reshape below is a view (ascontiguousarray turns 0-d into (1,): undo that)
        x.data = xp.ascontiguousarray(x.data).reshape(x.shape)
        flat = x.data.reshape(-1)                                   # a view: writing it perturbs x
        for j in range(flat.size):
            original = float(flat[j])
            flat[j] = original + eps
            plus = objective()
            flat[j] = original - eps
            minus = objective()
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if error.max() > 0:
            worst = np.unravel_index(np.argmax(error), x.shape)
            raise GradcheckError(
                f"gradcheck failed for input {i} (shape {x.shape}{', ' + repr(x.name) if x.name else ''}): "
                f"at index {tuple(int(w) for w in worst)} analytic {analytic[worst]:.8g} vs numeric "
                f"{numeric[worst]:.8g} (atol={atol}, rtol={rtol}); max |analytic - numeric| = "
                f"{np.abs(analytic - numeric).max():.3g}"
            )
    return True
