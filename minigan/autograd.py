"""Reverse-mode automatic differentiation: the Function base class and backward().

Reading order: backend -> **autograd** -> ops -> tensor -> nn -> optim -> models -> training.
Read ``backend.py`` first; next read ``ops/arith.py`` (the simplest Functions), then ``tensor.py``.

The idea in four sentences
--------------------------
Every operation on Tensors is a ``Function`` with a ``forward`` (arrays in, array out) and a ``backward``
(the gradient of the loss w.r.t. the output in, the gradients w.r.t. each input out: the chain rule,
one step). When a Function runs, its output Tensor remembers the Function (``out.creator``), and the
Function remembers its inputs, so the computation builds a graph as a side effect. ``backward()``
visits that graph from the loss back to the leaves in reverse topological order, so that a node's
gradient is complete (all its uses summed) before it is pushed further. A Tensor used twice receives
two gradient contributions, and they are added (``+=``): d(x*x)/dx = x + x.

    x ──┐
        ├─ Mul ── y ── Sum ── loss         forward:  left to right, saving what backward needs
    x ──┘                                  backward: right to left, one chain-rule step per Function

Broadcasting: ``a + b`` with a of shape (N, 3) and b of shape (3,) copies b along the first axis, so
b's gradient is the sum of the upstream gradient over that axis. ``unbroadcast(grad, shape)`` does that
sum for every op that broadcasts.
"""

import contextlib

from minigan.backend import backend_of, get_array_module

# ----------------------------------------------------------------------------------------------------
# Global switches (plain module variables: easy to inspect in a debugger)
# ----------------------------------------------------------------------------------------------------
_grad_enabled = True     # False inside `with no_grad():`
_trace_enabled = False   # True inside `with trace():`
_anomaly_enabled = False # True inside `with detect_anomaly():`


@contextlib.contextmanager
def no_grad():
    """Run ops without recording the graph (evaluation, sampling, optimizer updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled():
    return _grad_enabled


@contextlib.contextmanager
def trace():
    """Print every op as it runs: name, input and output shapes, dtype, backend.

        >>> with mg.trace():
        ...     y = (x @ w).sum()
        MatMul   (2, 3) float32 numpy, (3, 4) float32 numpy -> (2, 4) float32 numpy
        Sum      (2, 4) float32 numpy -> () float32 numpy
    """
    global _trace_enabled
    previous, _trace_enabled = _trace_enabled, True
    try:
        yield
    finally:
        _trace_enabled = previous


@contextlib.contextmanager
def detect_anomaly():
    """Raise at the first op whose forward or backward produces NaN or Inf (slow: a debug tool)."""
    global _anomaly_enabled
    previous, _anomaly_enabled = _anomaly_enabled, True
    try:
        yield
    finally:
        _anomaly_enabled = previous


def _describe(array):
    """'(2, 3) float32 numpy' — how trace() and error messages show an array."""
    return f"{tuple(array.shape)} {array.dtype} {backend_of(array)}"


def _check_finite(array, fn, phase, inputs):
    xp = get_array_module(array)
    if not bool(xp.isfinite(array).all()):
        shapes = ", ".join(_describe(x) for x in inputs)
        raise FloatingPointError(
            f"detect_anomaly: {type(fn).__name__}.{phase} produced NaN or Inf "
            f"(inputs: {shapes}). The op above it in the graph fed it bad values, or it divided "
            "by zero / took the log of 0."
        )


# ----------------------------------------------------------------------------------------------------
# Function: one differentiable operation
# ----------------------------------------------------------------------------------------------------
class Function:
    """Base class of every op. Subclasses write ``forward(*arrays)`` and ``backward(grad_output)``.

    ``forward`` receives raw arrays (numpy or cupy) and returns one array. It stores what ``backward``
    needs as named attributes (``self.x``, ``self.cols``). ``backward`` receives the gradient of the
    loss w.r.t. the output and returns one gradient per input (or None where
    ``self.needs_input_grad[i]`` is False, to skip work nobody needs).
    """

    def __call__(self, *inputs):
        from minigan.tensor import Tensor, as_tensor  # tensor.py builds on this file: import late

        tensors = [x if isinstance(x, Tensor) else as_tensor(x, like=inputs) for x in inputs]
        arrays = [t.data for t in tensors]
        _check_same_backend(type(self).__name__, arrays)

        output = self.forward(*arrays)

        if _trace_enabled:
            ins = ", ".join(_describe(a) for a in arrays)
            print(f"{type(self).__name__:<18} {ins} -> {_describe(output)}")
        if _anomaly_enabled:
            _check_finite(output, self, "forward", arrays)

        requires_grad = _grad_enabled and any(t.requires_grad for t in tensors)
        result = Tensor(output, requires_grad=requires_grad)
        if requires_grad:  # remember how `result` was made, so backward() can walk back
            self.inputs = tensors
            self.needs_input_grad = [t.requires_grad for t in tensors]
            result.creator = self
        return result

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError


def _check_same_backend(op_name, arrays):
    backends = {backend_of(a) for a in arrays}
    if len(backends) > 1:
        shapes = ", ".join(_describe(a) for a in arrays)
        raise TypeError(
            f"{op_name}: inputs live on different backends ({shapes}). Move them to one backend "
            "first, e.g. tensor.to('cupy') or tensor.to('numpy') (module.to(...) for a model)."
        )


def array_of(x):
    """The raw array inside a Tensor, or ``x`` itself when it is already an array.

    (Not ``getattr(x, "data", x)``: a numpy array has a ``.data`` attribute too, a raw memory buffer.)
    """
    from minigan.tensor import Tensor  # tensor.py builds on this file: import late

    return x.data if isinstance(x, Tensor) else x


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the backward of NumPy broadcasting.

    grad (4, 2, 3) -> shape (2, 1): sum over the leading axis (added by broadcasting), then over the
    last axis (stretched from 1 to 3), keeping it: result (2, 1).
    """
    if grad.shape == tuple(shape):
        return grad
    n_leading = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(n_leading)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


# ----------------------------------------------------------------------------------------------------
# backward(): reverse topological order, += accumulation
# ----------------------------------------------------------------------------------------------------
def topological_order(root):
    """All tensors that ``root`` depends on, each after every tensor it was computed from.

    Iterative depth-first search with an explicit stack (a recursive one would hit Python's recursion
    limit on a chain of 10,000 ops).
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, children_done = stack.pop()
        if children_done:
            order.append(tensor)  # post-order: after all of its inputs
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor.creator is not None and tensor.creator.inputs is not None:  # None: graph freed
            for parent in tensor.creator.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order


def backward(root, grad=None, retain_graph=False):
    """Fill ``.grad`` of every leaf tensor that ``root`` depends on (d root / d leaf)."""
    if not root.requires_grad:
        raise RuntimeError("backward(): this tensor does not require grad (no graph was recorded)")
    xp = get_array_module(root.data)
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(f"backward() without a gradient needs a scalar, got shape {root.shape}")
        grad = xp.ones_like(root.data)
    grads = {id(root): grad}  # id(tensor) -> gradient of root w.r.t. that tensor, summed so far

    for tensor in reversed(topological_order(root)):
        grad_output = grads.pop(id(tensor), None)
        if grad_output is None:
            continue
        fn = tensor.creator
        if fn is None:  # a leaf: store (accumulate) its gradient
            # The first store copies: the array may be shared (a + b hands the same g to both, and
            # y.backward(g) starts from the caller's g), and every tensor must own its .grad, so that
            # an in-place edit of one gradient (clipping, a.grad *= 2) changes nothing else.
            tensor.grad = grad_output.copy() if tensor.grad is None else tensor.grad + grad_output
            continue
        if fn.inputs is None:
            raise RuntimeError(
                "backward() through a graph that was already freed; call backward(retain_graph=True) "
                "the first time if you need to go through it twice"
            )
        input_grads = fn.backward(grad_output)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, g in zip(fn.inputs, input_grads):
            if g is None or not parent.requires_grad:
                continue
            if g.shape != parent.shape:
                raise RuntimeError(
                    f"{type(fn).__name__}.backward returned a gradient of shape {g.shape} "
                    f"for an input of shape {parent.shape}"
                )
            if _anomaly_enabled:
                _check_finite(g, fn, "backward", [p.data for p in fn.inputs])
            if id(parent) in grads:
                grads[id(parent)] = grads[id(parent)] + g  # used twice: contributions add up
            else:
                grads[id(parent)] = g
        if not retain_graph:  # free the graph: the saved arrays can be garbage-collected
            vars(fn).clear()
            fn.inputs = None
