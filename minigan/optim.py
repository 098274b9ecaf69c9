"""Optimizers: SGD with momentum and Adam. They change parameters in place, outside the graph.

Reading order: nn -> **optim** -> models -> training.
``flat_offsets`` / ``flat_views`` (fast/adam.py) lay every parameter end to end in one vector: Adam
keeps m and v that way, and parallel/distributed.py packs the gradients the same way, to average them
with one all-reduce.

    SGD:   v <- momentum * v + grad;   p <- p - lr * v                   (PyTorch's form)
    Adam:  m <- b1 m + (1 - b1) g;     v <- b2 v + (1 - b2) g^2          (Kingma & Ba, 2015)
           m_hat = m / (1 - b1^t);     v_hat = v / (1 - b2^t)             (bias correction)
           p <- p - lr * m_hat / (sqrt(v_hat) + eps)
``p.grad`` is an array, or a Tensor after backward(create_graph=True): ``array_of`` reads either.
The state (m, v, step count) is kept per parameter, in parameter order, so state_dict() is a plain
{name: array} dict that a checkpoint can store.

The state has the dtype of the parameters (float32, or float64 after ``model.double()``). A mismatch
is refused, not cast silently: a model converted after its optimizer was made (``step()``), or a
float32 checkpoint loaded into a float64 optimizer (``load_state_dict()``).
"""

import math

from minigan import fast
from minigan.autograd import array_of
from minigan.backend import get_array_module, is_textbook
from minigan.fast.adam import flat_offsets, flat_views


class Optimizer:
    def __init__(self, params):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")

    def _check_dtype(self, i, array, what, state_dtype):
        """Refuse ``array`` (parameter i, or its saved state) whose dtype is not ``state_dtype``."""
        if array.dtype != state_dtype:
            p = self.params[i]
            raise TypeError(
                f"{type(self).__name__}: {what} of parameter {i} (shape {p.shape}) is {array.dtype}, but the "
                f"optimizer state is {state_dtype}. Convert the model (model.double() / model.float()) "
                "BEFORE making its optimizer, and load optimizer state saved at the same dtype.")

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def state_dict(self):
        raise NotImplementedError

    def load_state_dict(self, state):
        raise NotImplementedError


class SGD(Optimizer):
    def __init__(self, params, lr, momentum=0.0):
        super().__init__(params)
        self.lr, self.momentum = lr, momentum
        self.velocity = [None] * len(self.params)

    def step(self):
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            step = array_of(p.grad)                                  # a Tensor after create_graph=True
            if self.momentum:
                v = self.velocity[i]
                self.velocity[i] = step.copy() if v is None else v * self.momentum + step
                step = self.velocity[i]
            p.data -= self.lr * step

    def state_dict(self):
        return {f"velocity.{i}": v for i, v in enumerate(self.velocity) if v is not None}

    def load_state_dict(self, state):
        xp = get_array_module(self.params[0].data)
        for i, p in enumerate(self.params):
            if f"velocity.{i}" in state:
                self._check_dtype(i, state[f"velocity.{i}"], f"the saved velocity.{i}", p.dtype)
        self.velocity = [xp.asarray(state[f"velocity.{i}"]) if f"velocity.{i}" in state else None
                         for i in range(len(self.params))]


class Adam(Optimizer):
    """Adam. m and v live in two flat vectors holding every parameter's state end to end; ``self.m[i]``
    and ``self.v[i]`` are views of parameter i's slice (so state_dict() still has one array per parameter).

    Why flat: step() then updates every parameter with ONE array operation per line of the formula,
    instead of one per parameter. On the CPU that changes little; on a GPU, where each operation is a
    kernel launch costing the host tens of microseconds, it turns ~170 launches per step into ~30.

    Steps are counted per parameter, as in PyTorch: ``self.steps[i]`` is how many updates parameter i
    has had, and its bias corrections use that count. A parameter that first gets a gradient late (at
    step 1,000, say) then starts like a fresh Adam (first step about lr) instead of dividing m = 0.5 g by
    sqrt(v) = 0.03 |g| under an almost finished bias correction (a first step of ~12.6 lr, measured).
    When every parameter has the same count (every model here: all get a gradient at every step), one
    step size serves them all and the flat update below is used.
    """

    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        super().__init__(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.steps = [0] * len(self.params)                          # updates so far, per parameter
        dtypes = sorted({str(p.dtype) for p in self.params})
        if len(dtypes) > 1:
            raise ValueError(f"Adam: all parameters must have one dtype, got {', '.join(dtypes)}; "
                             "convert the model first (model.to(dtype))")
        xp = get_array_module(self.params[0].data)
        self.offsets = flat_offsets(self.params)                     # parameter i is [offsets[i], offsets[i+1])
        self.m_flat = xp.zeros(self.offsets[-1], dtype=self.params[0].dtype)   # (P,) all first moments
        self.v_flat = xp.zeros(self.offsets[-1], dtype=self.params[0].dtype)   # (P,) all second moments
        self.m, self.v = self._per_parameter(self.m_flat), self._per_parameter(self.v_flat)

    def _per_parameter(self, flat):
        """Views of ``flat`` (P,), one per parameter in its shape: [flat[offsets[i]:offsets[i+1]] ...]."""
        return flat_views(flat, self.params, self.offsets)

    def step(self):
        for i, p in enumerate(self.params):                          # model.double() after Adam(...)?
            self._check_dtype(i, p.data, "the data", self.m_flat.dtype)
        has_grad = [p.grad is not None for p in self.params]
        self.steps = [t + 1 if has else t for t, has in zip(self.steps, has_grad)]
        if is_textbook():                                            # the paper's lines, one parameter at a time
            b1, b2 = self.betas
            for p, m, v, t in zip(self.params, self.m, self.v, self.steps):
                if p.grad is None:
                    continue                                         # no gradient: no update, no step counted
                g = array_of(p.grad)
                m[...] = b1 * m + (1 - b1) * g                       # first moment (mean of g)
                v[...] = b2 * v + (1 - b2) * g * g                   # second moment (mean of g^2)
                m_hat = m / (1 - b1 ** t)                            # bias corrections: m, v start at 0
                v_hat = v / (1 - b2 ** t)
                p.data -= self.lr * m_hat / (get_array_module(v).sqrt(v_hat) + self.eps)
            return
        if all(has_grad) and len(set(self.steps)) == 1:              # speed kernel: every parameter at once
            xp = get_array_module(self.m_flat)
            g = xp.concatenate([array_of(p.grad).reshape(-1) for p in self.params])   # (P,), a new array
            step = fast.adam_step(xp, self.m_flat, self.v_flat, g, *self._scales(self.steps[0]))   # (P,)
            for p, step_p in zip(self.params, self._per_parameter(step)):
                p.data -= step_p
            return
        for p, m, v, t in zip(self.params, self.m, self.v, self.steps):   # one by one, skipping those
            if p.grad is not None:                                          # that got no gradient
                p.data -= fast.adam_step(get_array_module(p.data), m, v, array_of(p.grad).copy(), *self._scales(t))

    def _scales(self, t):
        """(b1, b2, eps_hat, step_size) at step t: both bias corrections folded into the step size and
        eps (the form in the Adam paper, end of section 2)."""
        b1, b2 = self.betas
        step_size = self.lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        eps_hat = self.eps * math.sqrt(1 - b2 ** t)
        return b1, b2, eps_hat, step_size

    def state_dict(self):
        state = {"steps": get_array_module(self.m[0]).asarray(self.steps)}   # (n_params,) int
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"], state[f"v.{i}"] = m, v
        return state

    def load_state_dict(self, state):
        if "steps" in state:
            steps = [int(t) for t in state["steps"].tolist()]
            if len(steps) != len(self.params):
                raise ValueError(f"Adam.load_state_dict: the state counts steps of {len(steps)} parameters, "
                                 f"this optimizer has {len(self.params)}")
        else:                                                        # checkpoints before per-parameter counts
            steps = [int(state["t"])] * len(self.params)
        self.steps = steps
        xp = get_array_module(self.m_flat)
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            for name, mine in ((f"m.{i}", m), (f"v.{i}", v)):
                given = state[name]
                self._check_dtype(i, given, f"the saved {name}", mine.dtype)
                if tuple(given.shape) != mine.shape:
                    raise ValueError(f"Adam.load_state_dict: {name} has shape {tuple(given.shape)}, "
                                     f"parameter {i} has shape {mine.shape}")
                mine[...] = xp.asarray(given)    # a copy into the flat vector: step() must not write into `state`
