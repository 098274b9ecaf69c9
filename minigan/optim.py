"""Optimizers: SGD with momentum and Adam. They change parameters in place, outside the graph.

Reading order: nn -> **optim** -> models -> training.

    SGD:   v <- momentum * v + grad;   p <- p - lr * v                   (PyTorch's form)
    Adam:  m <- b1 m + (1 - b1) g;     v <- b2 v + (1 - b2) g^2          (Kingma & Ba, 2015)
           m_hat = m / (1 - b1^t);     v_hat = v / (1 - b2^t)             (bias correction)
           p <- p - lr * m_hat / (sqrt(v_hat) + eps)
``p.grad`` is an array, or a Tensor after backward(create_graph=True): ``array_of`` reads either.
The state (v, m, step count) is one array per parameter, in parameter order, so state_dict() is a
plain {name: array} dict that a checkpoint can store.
"""

import math

from minigan.autograd import array_of
from minigan.backend import get_array_module


class Optimizer:
    def __init__(self, params):
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")

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
        self.velocity = [xp.asarray(state[f"velocity.{i}"]) if f"velocity.{i}" in state else None
                         for i in range(len(self.params))]


class Adam(Optimizer):
    """Adam. m and v live in two flat vectors holding every parameter's state end to end; ``self.m[i]``
    and ``self.v[i]`` are views of parameter i's slice (so state_dict() still has one array per parameter).

    Why flat: step() then updates every parameter with ONE array operation per line of the formula,
    instead of one per parameter. On the CPU that changes little; on a GPU, where each operation is a
    kernel launch costing the host tens of microseconds, it turns ~170 launches per step into ~30.
    """

    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        super().__init__(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.t = 0
        dtypes = sorted({str(p.dtype) for p in self.params})
        if len(dtypes) > 1:
            raise ValueError(f"Adam: all parameters must have one dtype, got {', '.join(dtypes)}; "
                             "convert the model first (model.to(dtype))")
        xp = get_array_module(self.params[0].data)
        self.offsets = [0]                                           # parameter i is [offsets[i], offsets[i+1])
        for p in self.params:
            self.offsets.append(self.offsets[-1] + p.data.size)
        self.m_flat = xp.zeros(self.offsets[-1], dtype=self.params[0].dtype)   # (P,) all first moments
        self.v_flat = xp.zeros(self.offsets[-1], dtype=self.params[0].dtype)   # (P,) all second moments
        self.m, self.v = self._per_parameter(self.m_flat), self._per_parameter(self.v_flat)

    def _per_parameter(self, flat):
        """Views of ``flat`` (P,), one per parameter in its shape: [flat[offsets[i]:offsets[i+1]] ...]."""
        return [flat[a:b].reshape(p.shape) for p, a, b in zip(self.params, self.offsets, self.offsets[1:])]

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        # fold both bias corrections into one step size (the form in the Adam paper, section 2)
        step_size = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        eps_hat = self.eps * math.sqrt(1 - b2 ** self.t)
        if all(p.grad is not None for p in self.params):
            # every parameter at once: their gradients end to end in one vector, like m and v
            xp = get_array_module(self.m_flat)
            g = xp.concatenate([array_of(p.grad).reshape(-1) for p in self.params])   # (P,), a new array
            step = self._step(xp, self.m_flat, self.v_flat, g, b1, b2, eps_hat, step_size)   # (P,)
            for p, step_p in zip(self.params, self._per_parameter(step)):
                p.data -= step_p
            return
        for p, m, v in zip(self.params, self.m, self.v):             # some got no gradient: skip those
            if p.grad is not None:
                p.data -= self._step(get_array_module(p.data), m, v, array_of(p.grad).copy(), b1, b2, eps_hat,
                                     step_size)

    @staticmethod
    def _step(xp, m, v, g, b1, b2, eps_hat, step_size):
        """Update m and v in place and return the step lr * m_hat / (sqrt(v_hat) + eps).

        ``g`` is a scratch copy of the gradient: it is overwritten, and the step is built in the
        buffer of g^2, so the whole update allocates one array besides g.
        """
        g2 = g * g
        g2 *= 1 - b2
        v *= b2
        v += g2                                                      # v <- b2 v + (1 - b2) g^2
        g *= 1 - b1
        m *= b1
        m += g                                                       # m <- b1 m + (1 - b1) g
        step = xp.sqrt(v, out=g2)                                    # reuse g^2's buffer for the step:
        step += eps_hat
        xp.divide(m, step, out=step)
        step *= step_size                                            # = lr * m_hat / (sqrt(v_hat) + eps)
        return step

    def state_dict(self):
        state = {"t": get_array_module(self.m[0]).asarray(self.t)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"], state[f"v.{i}"] = m, v
        return state

    def load_state_dict(self, state):
        self.t = int(state["t"])
        xp = get_array_module(self.m_flat)
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            for name, mine in ((f"m.{i}", m), (f"v.{i}", v)):
                given = state[name]
                if tuple(given.shape) != mine.shape:
                    raise ValueError(f"Adam.load_state_dict: {name} has shape {tuple(given.shape)}, "
                                     f"parameter {i} has shape {mine.shape}")
                mine[...] = xp.asarray(given)    # a copy into the flat vector: step() must not write into `state`
