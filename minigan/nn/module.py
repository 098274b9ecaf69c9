"""Module and Parameter: how layers hold their weights, and how a model is walked.

Reading order: functional -> **nn/module** -> nn/init -> nn/layers -> optim.

A Module is a plain Python object. Its Parameters (trainable tensors) and buffers (non-trainable
tensors, like BatchNorm's running mean) are ordinary attributes, and so are its sub-modules. There is
no registration magic: ``named_parameters()`` walks ``vars(self)`` in the order the attributes were
assigned in ``__init__`` (Python dicts keep insertion order), so parameter order is the same on every
run — which keeps optimizer state and checkpoints stable.
"""

import numpy as np

from minigan import backend
from minigan.tensor import Tensor


def _float_dtype(owner, target):
    """``target`` as a NumPy floating dtype, or a TypeError that lists what ``to()`` accepts."""
    try:
        dtype = None if target is None else np.dtype(target)         # np.dtype(None) would be float64
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind != "f":
        raise TypeError(f"{owner}.to({target!r}): expected a backend name ('numpy' or 'cupy') or a float "
                        "dtype (np.float32, np.float64, 'float64', ...)")
    return dtype


class Parameter(Tensor):
    """A Tensor that a Module trains: requires_grad is True."""

    def __init__(self, data, name=None):
        super().__init__(data, requires_grad=True, name=name)


class Module:
    training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError

    # --- walking the tree ------------------------------------------------------------------------------
    def named_children(self):
        """(name, sub-module) pairs, in attribute order; lists of modules are named by index."""
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield f"{name}.{i}", item

    def named_tensors(self, prefix=""):
        """(dotted name, Tensor) for every parameter and buffer of this module and its children."""
        for name, value in vars(self).items():
            if isinstance(value, Tensor):
                yield prefix + name, value
        for name, child in self.named_children():
            yield from child.named_tensors(prefix + name + ".")

    def named_parameters(self):
        return [(n, t) for n, t in self.named_tensors() if isinstance(t, Parameter)]

    def parameters(self):
        return [t for _, t in self.named_parameters()]

    def modules(self):
        yield self
        for _, child in self.named_children():
            yield from child.modules()

    def num_parameters(self):
        return sum(p.size for p in self.parameters())

    # --- modes and devices -----------------------------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            m.training = mode
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def to(self, target):
        """Move every parameter and buffer to a backend, or convert them to a float dtype (in place).

        ``model.to("cupy")`` / ``model.to("numpy")`` moves the arrays; ``model.to(np.float64)`` (or
        ``"float64"``) converts the floating-point ones, as PyTorch's ``.to(device)`` / ``.to(dtype)``.
        Integer buffers are left as they are. Gradients are dropped. Returns self. The Parameter objects
        stay the same, so make the optimizer after converting: Adam's state has the dtype of the
        parameters it was made with, and it refuses to step parameters of another dtype.
        """
        if isinstance(target, str) and backend.is_backend_name(target):
            for _, t in self.named_tensors():
                t.data = backend.to_device(t.data, target)
                t.grad = None
            return self
        dtype = _float_dtype(type(self).__name__, target)
        for _, t in self.named_tensors():
            if t.dtype.kind == "f":
                t.data = t.data.astype(dtype)
            t.grad = None
        return self

    def double(self):
        """Convert parameters and buffers to float64 (for gradcheck): ``model.to(np.float64)``."""
        return self.to(np.float64)

    def float(self):
        """Convert parameters and buffers to float32, minigan's default: ``model.to(np.float32)``."""
        return self.to(np.float32)

    # --- saving and loading ----------------------------------------------------------------------------
    def state_dict(self):
        """Ordered {name: array} of all parameters and buffers (arrays on the module's backend)."""
        return {name: t.data for name, t in self.named_tensors()}

    def load_state_dict(self, state):
        """Copy arrays into the parameters and buffers; every key must be present with its shape."""
        own = dict(self.named_tensors())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        misshaped = [
            f"{k}: expected {own[k].shape}, got {tuple(state[k].shape)}"
            for k in own if k in state and tuple(state[k].shape) != own[k].shape
        ]
        if missing or unexpected or misshaped:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the state does not fit this model.\n"
                f"  missing keys: {missing or 'none'}\n  unexpected keys: {unexpected or 'none'}\n"
                f"  mis-shaped keys: {misshaped or 'none'}\n"
                "Was it saved from another architecture (or another kernel_size / latent_dim)?"
            )
        for name, t in own.items():
            # a copy: the model must not share memory with the dict (optimizers update in place)
            t.data = backend.to_device(state[name], t.backend, dtype=t.dtype).copy()

    def extra_repr(self):
        return ""

    def __repr__(self):
        children = list(self.named_children())
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"{type(self).__name__}("]
        for name, child in children:
            lines.append(f"  ({name}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"


class Sequential(Module):
    """Runs its layers in order: Sequential(a, b, c)(x) == c(b(a(x)))."""

    def __init__(self, *layers):
        self.layers = list(layers)

    def named_children(self):
        for i, layer in enumerate(self.layers):
            yield str(i), layer

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)                                     # = layer(x), one frame less to step through
        return x

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)
