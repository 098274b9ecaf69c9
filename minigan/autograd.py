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

One backward per op, differentiable again: ``backward`` receives the upstream gradient as a Tensor and
computes with Tensor operators (``Mul.backward`` is ``g * b, g * a``). ``run_backward`` runs it with
grad mode set to ``create_graph``: off for a training step, on for a gradient penalty, where the
backward pass is recorded as a graph and can be differentiated again (docs/double-backward.md).

``mg.trace()`` and ``mg.detect_anomaly()`` (tools/debug.py) watch the ops through ``op_hooks``.
"""

import contextlib
import weakref

from minigan.backend import backend_of, get_array_module, refuse_mixed_backends

# ----------------------------------------------------------------------------------------------------
# Global switches (plain module variables: easy to inspect in a debugger)
# ----------------------------------------------------------------------------------------------------
_grad_enabled = True     # False inside `with no_grad():`
running_backward = None  # the Function whose backward is running (the ops it calls are named after it)
op_hooks = []            # hook(fn, input_arrays, result, phase) after every forward ("forward") and every
                         # gradient a backward returns ("backward"): mg.trace(), mg.detect_anomaly()


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


# ----------------------------------------------------------------------------------------------------
# Function: one differentiable operation
# ----------------------------------------------------------------------------------------------------
class Function:
    """Base class of every op. Subclasses write ``forward(*arrays)`` and ``backward(grad_output)``.

    ``forward`` receives raw arrays (numpy or cupy) and returns one array. It stores what ``backward``
    needs as named attributes (``self.cols``, ``self.mask``). ``backward`` receives the gradient of the
    loss w.r.t. the output as a Tensor and returns one Tensor per input (or None where
    ``self.needs_input_grad[i]`` is False, to skip work nobody needs), computed with Tensor ops on
    ``g``, ``self.inputs``, ``self.output()`` and constants (see "One backward per op" above).
    """

    def __call__(self, *inputs):
        from minigan.tensor import Tensor, as_tensor  # tensor.py builds on this file: import late

        tensors = []
        for x in inputs:                                         # a Python number becomes a constant Tensor
            tensors.append(x if isinstance(x, Tensor) else as_tensor(x, like=inputs))
        arrays = [t.data for t in tensors]
        backends = set()
        for a in arrays:                                         # one backend per op: numpy and cupy never mix
            backends.add(backend_of(a))
        if len(backends) > 1:
            refuse_mixed_backends(type(self).__name__, arrays)

        output = self.forward(*arrays)
        for hook in op_hooks:                                    # mg.trace(), mg.detect_anomaly()
            hook(self, arrays, output, "forward")

        requires_grad = _grad_enabled and any(t.requires_grad for t in tensors)
        result = Tensor(output, requires_grad=requires_grad)
        if requires_grad:  # remember how `result` was made, so backward() can walk back
            self.inputs = tensors
            self.needs_input_grad = [t.requires_grad for t in tensors]
            self.output_ref = weakref.ref(result)  # weak: result.creator is self, no reference cycle
            result.creator = self
        return result

    def output(self):
        """The output Tensor, for backwards written in terms of it (tanh, sigmoid, exp). A weak reference
        suffices: backward reaches this Function only through its output, which something keeps alive."""
        return self.output_ref()

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError


def array_of(x):
    """The raw array inside a Tensor, or ``x`` itself when it is already an array (not ``getattr(x,
    "data", x)``: a numpy array has a ``.data`` attribute too, a raw memory buffer)."""
    from minigan.tensor import Tensor  # tensor.py builds on this file: import late
    return x.data if isinstance(x, Tensor) else x


def constant(array):
    """An array as a Tensor outside the graph (a mask, a saved statistic used as a constant)."""
    from minigan.tensor import Tensor  # tensor.py builds on this file: import late
    return Tensor(array)


def unbroadcast(grad, shape):
    """Sum ``grad`` (a Tensor or an array) down to ``shape``: the backward of NumPy broadcasting.

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
def topological_order(roots):
    """All tensors that ``roots`` (one tensor or a list) depend on, each after every tensor it was computed
    from: depth-first search with an explicit stack (a recursive one hits Python's recursion limit)."""
    roots, order, visited = _as_list(roots), [], set()
    stack = [(root, False) for root in reversed(roots)]
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


def backward(root, grad=None, retain_graph=None, create_graph=False):
    """Fill ``.grad`` of every leaf tensor that ``root`` depends on (d root / d leaf), accumulating.
    ``create_graph=True`` records the backward pass as a graph of its own: each leaf's ``.grad`` is then
    a Tensor (differentiable again) instead of an array. ``retain_graph`` defaults to create_graph."""
    if not root.requires_grad:
        raise RuntimeError("backward(): this tensor does not require grad (no graph was recorded)")
    if grad is None and root.data.size != 1:
        raise RuntimeError(f"backward() without a gradient needs a scalar, got shape {root.shape}")
    retain_graph = create_graph if retain_graph is None else retain_graph
    run_backward([root], [grad], retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, create_graph=False, retain_graph=None, allow_unused=False):
    """The gradients of ``outputs`` w.r.t. ``inputs``, as a tuple of Tensors (torch.autograd.grad); touches
    no ``.grad``. ``grad_outputs``: the upstream gradients (None: ones, for scalar outputs). With
    ``create_graph=True`` the result can be differentiated again (a gradient penalty, a Hessian-vector
    product). Only the part of the graph that leads to ``inputs`` is visited."""
    outputs, inputs = _as_list(outputs), _as_list(inputs)
    grad_outputs = [None] * len(outputs) if grad_outputs is None else _as_list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad(): got {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    for i, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"grad(): output {i} does not require grad (no graph was recorded for it)")
        if g is None and out.data.size != 1:
            raise RuntimeError(f"grad(): output {i} has shape {out.shape}; pass grad_outputs for a "
                               "non-scalar output")
    for i, x in enumerate(inputs):
        if not x.requires_grad:
            raise RuntimeError(f"grad(): input {i} (shape {x.shape}) does not require grad; create it "
                               "with requires_grad=True")
    retain_graph = create_graph if retain_graph is None else retain_graph
    grads = run_backward(outputs, grad_outputs, retain_graph, create_graph, inputs=inputs)
    for i, g in enumerate(grads):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad(): input {i} (shape {inputs[i].shape}) is not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
    return tuple(grads)


def run_backward(roots, root_grads, retain_graph, create_graph, inputs=None):
    """The engine behind backward() and grad(). Without ``inputs``: accumulate into leaves' .grad.
    With ``inputs``: return their gradients (a list of Tensors or None) and touch no .grad."""
    grads = {}  # id(tensor) -> gradient (a Tensor) of the roots w.r.t. that tensor, summed so far
    for root, g in zip(roots, root_grads):
        g = _as_grad(get_array_module(root.data).ones_like(root.data) if g is None else g)
        if g.shape != root.shape:
            raise RuntimeError(f"backward(): the gradient has shape {g.shape}, the output {root.shape}")
        grads[id(root)] = grads[id(root)] + g if id(root) in grads else g

    order = topological_order(roots)
    wanted = None  # None: every tensor; otherwise the ids of the tensors that lead to an input
    if inputs is not None:
        wanted = {id(x) for x in inputs}
        for tensor in order:  # inputs before the tensors computed from them
            fn = tensor.creator
            if fn is not None and (fn.inputs is None or any(id(p) in wanted for p in fn.inputs)):
                wanted.add(id(tensor))  # (a freed graph counts too: the loop below says it was freed)
    captured = {}

    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, create_graph  # record the backward ops only if asked
    try:
        for tensor in reversed(order):
            grad_output = grads.pop(id(tensor), None)
            if grad_output is None or (wanted is not None and id(tensor) not in wanted):
                continue
            if inputs is not None and any(x is tensor for x in inputs):
                captured[id(tensor)] = grad_output  # a requested gradient (it may flow on, too)
            fn = tensor.creator
            if fn is None:  # a leaf
                if inputs is None:
                    _accumulate(tensor, grad_output, create_graph)
                continue
            if fn.inputs is None:
                raise RuntimeError("backward() through a graph that was already freed; call backward("
                                   "retain_graph=True) the first time if you need to go through it twice")
            if wanted is None or any(id(p) in wanted for p in fn.inputs):  # else: no input behind it
                _push_back(fn, grad_output, grads, wanted, create_graph)
            if not retain_graph:  # free the graph: the saved arrays can be garbage-collected
                vars(fn).clear()
                fn.inputs = None
    finally:
        _grad_enabled = previous
    return None if inputs is None else [captured.get(id(x)) for x in inputs]


def _push_back(fn, grad_output, grads, wanted, create_graph):
    """One chain-rule step: fn.backward, then add each input's gradient into ``grads``."""
    global running_backward
    needs, outer = fn.needs_input_grad, running_backward
    if wanted is not None:  # mg.grad(): skip the gradients that lead to no requested input
        fn.needs_input_grad = [n and id(p) in wanted for n, p in zip(needs, fn.inputs)]
    running_backward = fn
    try:
        input_grads = fn.backward(grad_output)
    finally:
        fn.needs_input_grad, running_backward = needs, outer
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    for parent, g in zip(fn.inputs, input_grads):
        if g is None or not parent.requires_grad:
            continue
        if create_graph and not hasattr(g, "creator"):
            raise RuntimeError(f"{type(fn).__name__}.backward returned a raw array; with create_graph=True "
                               "every backward must return Tensors computed with Tensor ops (or the graph is cut)")
        g = _as_grad(g)
        if g.shape != parent.shape:
            raise RuntimeError(f"{type(fn).__name__}.backward returned a gradient of shape {g.shape} "
                               f"for an input of shape {parent.shape}")
        for hook in op_hooks:                                    # mg.detect_anomaly() checks it
            hook(fn, [p.data for p in fn.inputs], g.data, "backward")
        if id(parent) in grads:
            grads[id(parent)] = grads[id(parent)] + g  # used twice: contributions add up
        else:
            grads[id(parent)] = g


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _as_grad(g):
    """A gradient as a Tensor (backward written on raw arrays, or a user's array, gets wrapped)."""
    from minigan.tensor import Tensor  # tensor.py builds on this file: import late
    return g if isinstance(g, Tensor) else Tensor(g)


def _accumulate(leaf, g, create_graph):
    """leaf.grad += g: an array, or a Tensor with its graph under create_graph. The first store copies
    (a + b hands one g to both inputs; y.backward(g) starts from the caller's g): each tensor owns its
    .grad, so an in-place edit of one (clipping, a.grad *= 2) changes no other. ``+`` makes a new one."""
    if create_graph:  # astype to its own dtype: a copy that stays in the graph
        leaf.grad = g.astype(g.dtype) if leaf.grad is None else _as_grad(leaf.grad) + g
    else:
        leaf.grad = g.data.copy() if leaf.grad is None else array_of(leaf.grad) + g.data
