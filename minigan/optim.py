"""Optimizers: SGD with momentum and Adam. They change parameters in place, outside the graph.

Reading order: nn -> **optim** -> models -> training.

    SGD:   v <- momentum * v + grad;   p <- p - lr * v                   (PyTorch's form)
    Adam:  m <- b1 m + (1 - b1) g;     v <- b2 v + (1 - b2) g^2          (Kingma & Ba, 2015)
           m_hat = m / (1 - b1^t);     v_hat = v / (1 - b2^t)             (bias correction)
           p <- p - lr * m_hat / (sqrt(v_hat) + eps)
The state (v, m, step count) is one array per parameter, in parameter order, so state_dict() is a
plain {name: array} dict that a checkpoint can store.
"""

import math

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
            step = p.grad
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
    def __init__(self, params, lr=2e-4, betas=(0.5, 0.999), eps=1e-8):
        super().__init__(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.t = 0
        xp = get_array_module(self.params[0].data)
        self.m = [xp.zeros_like(p.data) for p in self.params]
        self.v = [xp.zeros_like(p.data) for p in self.params]

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        # fold both bias corrections into one step size (the form in the Adam paper, section 2)
        step_size = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        eps_hat = self.eps * math.sqrt(1 - b2 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            xp = get_array_module(p.data)
            g = p.grad
            m *= b1
            m += (1 - b1) * g                                        # m <- b1 m + (1 - b1) g
            g2 = g * g
            g2 *= 1 - b2
            v *= b2
            v += g2                                                  # v <- b2 v + (1 - b2) g^2
            step = xp.sqrt(v)                                        # one buffer for the update:
            step += eps_hat
            xp.divide(m, step, out=step)
            step *= step_size
            p.data -= step                       # = lr * m_hat / (sqrt(v_hat) + eps)

    def state_dict(self):
        state = {"t": get_array_module(self.m[0]).asarray(self.t)}
        for i, (m, v) in enumerate(zip(self.m, self.v)):
            state[f"m.{i}"], state[f"v.{i}"] = m, v
        return state

    def load_state_dict(self, state):
        xp = get_array_module(self.params[0].data)
        self.t = int(state["t"])
        # copies: step() updates m and v in place, and must not write into the dict's arrays
        self.m = [xp.array(state[f"m.{i}"], dtype=p.dtype) for i, p in enumerate(self.params)]
        self.v = [xp.array(state[f"v.{i}"], dtype=p.dtype) for i, p in enumerate(self.params)]
