"""Step 1 of 15: a number that remembers how it was made, and backward() along a chain.

Adds:    Value (a number, its gradient, the Function that made it) and Function (forward and backward
         side by side). Calling a Function links its output to itself and itself to its input, so a
         computation leaves a chain behind; backward() walks that chain from the end to the start, one
         chain-rule step per Function: d y/d(input) = d(output)/d(input) * d y/d(output).
Run:     python steps/step01_value.py
Package: minigan/autograd.py (Function, backward), minigan/tensor.py (Tensor)
Prints:
    y = exp(x^2)^2 at x = 0.5: 1.648721
    dy/dx by backward:            3.297443
    dy/dx by hand, 4x exp(2x^2):  3.297443
    dy/dx by central differences: 3.297443
"""

import math

class Value:
    def __init__(self, data):
        self.data = data              # the number
        self.grad = None              # d(final output)/d(this number), filled by backward()
        self.creator = None           # the Function that made this Value (None: an input)

class Function:
    def __call__(self, x):
        y = Value(self.forward(x.data))
        y.creator = self              # y remembers how it was made ...
        self.input, self.output = x, y    # ... and the Function remembers what it was given
        return y

class Square(Function):
    def forward(self, x):
        return x * x

    def backward(self, gy):           # gy = d(final)/d(output); returns d(final)/d(input)
        return 2 * self.input.data * gy

class Exp(Function):
    def forward(self, x):
        return math.exp(x)

    def backward(self, gy):
        return math.exp(self.input.data) * gy

def backward(y):
    """Fill .grad of every Value on the chain that ends at y, from y back to the start."""
    y.grad = 1.0                      # dy/dy
    f = y.creator
    while f is not None:
        f.input.grad = f.backward(f.output.grad)   # the chain rule, one step
        f = f.input.creator

if __name__ == "__main__":
    x = Value(0.5)
    y = Square()(Exp()(Square()(x)))  # y = (e^(x^2))^2 = e^(2 x^2)
    backward(y)

    def f(v):
        return math.exp(v * v) ** 2

    h = 1e-6
    print(f"y = exp(x^2)^2 at x = 0.5: {y.data:.6f}")
    print(f"dy/dx by backward:            {x.grad:.6f}")
    print(f"dy/dx by hand, 4x exp(2x^2):  {4 * x.data * math.exp(2 * x.data ** 2):.6f}")
    print(f"dy/dx by central differences: {(f(x.data + h) - f(x.data - h)) / (2 * h):.6f}")
