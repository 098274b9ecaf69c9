"""Activations: relu, leaky_relu, tanh, sigmoid.

Reading order: ops/reduce -> **ops/activations** -> ops/conv.

    relu(x)           = max(x, 0)                 dx = g * [x > 0]
    leaky_relu(x, a)  = x if x > 0 else a * x     dx = g * (1 if x > 0 else a)
    tanh(x)           = y                         dx = g * (1 - y^2)
    sigmoid(x)        = y = 1 / (1 + e^-x)        dx = g * y * (1 - y)

tanh and sigmoid write the derivative in terms of their output y (cheaper than in terms of x). y is
taken as the output *Tensor* (``self.output()``), not a saved array: y depends on x, and with
create_graph=True the graph of ``g * (1 - y*y)`` must lead back to x through y. The masks of relu and
leaky_relu are constants (their derivative is 0 almost everywhere), so they stay saved arrays.
"""

from minigan.autograd import Function, constant
from minigan.backend import get_array_module


class ReLU(Function):
    def forward(self, x):
        self.positive = x > 0
        return x * self.positive

    def backward(self, g):
        return g * constant(self.positive)                           # the mask is a constant


class LeakyReLU(Function):
    def __init__(self, negative_slope):
        self.negative_slope = negative_slope

    def forward(self, x):
        a = self.negative_slope
        # the local slope: 1 where x > 0, a elsewhere (in x's dtype: a bool mask times a Python float
        # would become float64). forward and backward are then one multiply each.
        self.slope = (x > 0).astype(x.dtype)
        self.slope *= 1 - a
        self.slope += a
        return x * self.slope

    def backward(self, g):
        return g * constant(self.slope)                              # the slope is a constant


class Tanh(Function):
    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, g):
        y = self.output()                                            # a Tensor: depends on x
        return g * (1 - y * y)


def sigmoid_array(x):
    """sigmoid of a raw array. 1 / (1 + e^-x) overflows e^-x for x << 0; the tanh form is stable:
    sigmoid(x) = (1 + tanh(x/2)) / 2. (Also used by BCE-with-logits' backward and the training loop.)"""
    return 0.5 * (1 + get_array_module(x).tanh(0.5 * x))


class Sigmoid(Function):
    def forward(self, x):
        return sigmoid_array(x)

    def backward(self, g):
        y = self.output()                                            # a Tensor: depends on x
        return g * y * (1 - y)


def relu(x):
    return ReLU()(x)


def leaky_relu(x, negative_slope=0.2):
    return LeakyReLU(negative_slope)(x)


def tanh(x):
    return Tanh()(x)


def sigmoid(x):
    return Sigmoid()(x)
