"""Step 3 of 15: a tensor used twice. Gradients add up, and the graph is visited in topological order.

Adds:    In y = a + a with a = x * x, a and x are each used twice; each use sends back a gradient,
         and the true gradient is their sum (dy/dx = 4x). Step 2's backward overwrites (x.grad = ...)
         and keeps only the last one; with += it pushes a's gradient on before the second use has
         added to it, and runs a's Function twice. The fix: sort the tensors so each comes after all
         it was computed from (a depth-first search with an explicit stack: no recursion limit), walk
         that order backwards and accumulate with +=. Each Function runs once, with a whole gradient.
Run:     python steps/step03_graph.py
Package: minigan/autograd.py (topological_order, run_backward)
Prints:
    y = a + a, a = x * x, at x = 3: dy/dx = 4x = 12
    step 2's backward (overwrites):          3.0
    += but no ordering (visits Mul twice):  24.0
    topological order + accumulation (+=):  12.0
    topological order: x, a, y
    a chain of 10,000 additions y = x + x + ... + x: dy/dx = 10001.0
"""

import numpy as np

class Tensor:
    def __init__(self, data, name=""):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad, self.creator, self.name = None, None, name

    def __add__(self, other): return Add()(self, other)
    def __mul__(self, other): return Mul()(self, other)

class Function:
    def __call__(self, *inputs):
        output = Tensor(self.forward(*[x.data for x in inputs]))
        output.creator = self
        self.inputs, self.output = inputs, output
        return output

def unbroadcast(g, shape):
    """Sum g down to ``shape`` (step 2): over the axes broadcasting put in front, then over its 1s."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))
    return g.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)

class Add(Function):
    def forward(self, a, b): return a + b
    def backward(self, g): return [unbroadcast(g, x.data.shape) for x in self.inputs]

class Mul(Function):
    def forward(self, a, b): return a * b

    def backward(self, g):
        a, b = self.inputs
        return unbroadcast(g * b.data, a.data.shape), unbroadcast(g * a.data, b.data.shape)

def topological_order(y):
    """Every tensor y depends on, each one after all the tensors it was computed from."""
    order, visited, stack = [], set(), [(y, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)           # post-order: after all of its inputs
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))       # come back to t once its inputs are done
        if t.creator is not None:
            stack.extend((x, False) for x in t.creator.inputs)
    return order

def backward(y):
    """Reverse topological order: a tensor's gradient is complete (every use summed) before it is used."""
    y.grad = np.ones_like(y.data)
    for t in reversed(topological_order(y)):
        if t.creator is not None:
            for x, gx in zip(t.creator.inputs, t.creator.backward(t.grad)):
                x.grad = gx if x.grad is None else x.grad + gx     # += : every use contributes

def backward_unordered(y, accumulate):
    """Step 2's backward (a stack of Functions), overwriting or adding: both wrong for shared tensors."""
    y.grad, todo = np.ones_like(y.data), [y.creator]
    while todo:
        f = todo.pop()
        for x, gx in zip(f.inputs, f.backward(f.output.grad)):
            x.grad = x.grad + gx if accumulate and x.grad is not None else gx
            if x.creator is not None:
                todo.append(x.creator)

def diamond():
    x = Tensor(3.0, "x")
    a = x * x
    y = a + a
    a.name, y.name = "a", "y"
    return x, y

if __name__ == "__main__":
    print("y = a + a, a = x * x, at x = 3: dy/dx = 4x = 12")
    for label, run in [("step 2's backward (overwrites):", lambda y: backward_unordered(y, False)),
                       ("+= but no ordering (visits Mul twice):", lambda y: backward_unordered(y, True)),
                       ("topological order + accumulation (+=):", backward)]:
        x, y = diamond()
        run(y)
        print(f"{label:<39}{float(x.grad):5.1f}")
    print("topological order:", ", ".join(t.name for t in topological_order(y)))
    x = Tensor(1.0)
    y = x
    for _ in range(10_000):           # a recursive depth-first search would pass Python's limit of 1000
        y = y + x
    backward(y)
    print(f"a chain of 10,000 additions y = x + x + ... + x: dy/dx = {float(x.grad):.1f}")
