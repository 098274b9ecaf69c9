"""Activations (relu, leaky_relu, tanh, sigmoid), and the binary cross-entropy losses built on the sigmoid.

Reading order: ops/arith -> ops/indexing -> ops/shape -> **ops/activations** -> ops/im2col -> ops/conv.

    relu(x)           = max(x, 0)                 dx = g * [x > 0]
    leaky_relu(x, a)  = x if x > 0 else a * x     dx = g * (1 if x > 0 else a)
    tanh(x)           = y                         dx = g * (1 - y^2)
    sigmoid(x)        = y = 1 / (1 + e^-x)        dx = g * y * (1 - y)

tanh and sigmoid write the derivative in terms of their output y (cheaper than in terms of x). y is
taken as the output *Tensor* (``self.output()``), not a saved array: y depends on x, and with
create_graph=True the graph of ``g * (1 - y*y)`` must lead back to x through y. The masks of relu and
leaky_relu are constants (their derivative is 0 almost everywhere), so they stay saved arrays.

Binary cross-entropy (mean over all elements), the loss of every GAN in minigan
------------------------------------------------------------------------------
On probabilities p in [0, 1] and targets t (1 = real, 0 = fake):
    BCE(p, t) = -mean( t log p + (1 - t) log(1 - p) ),   each log clamped at >= -100 (like PyTorch)
    dBCE/dp   = (p - t) / (p (1 - p)) / M

On logits z (the discriminator's raw output, p = sigmoid(z)), computed without ever forming p:
    BCE(z, t) = mean( max(z, 0) - z t + log(1 + exp(-|z|)) )          stable for z = +-1000
    dBCE/dz   = (sigmoid(z) - t) / M
(derivation: log sigmoid(z) = -log(1 + e^-z); split z >= 0 / z < 0 so that exp never overflows.)

Both backwards are written with Tensor ops on the inputs (p, z), so they can be differentiated again
(the second derivative of BCE-with-logits is sigmoid'(z) / M = sigmoid(z)(1 - sigmoid(z)) / M). The
targets get no gradient.
"""

from minigan.autograd import Function, array_of, constant
from minigan.backend import get_array_module
from minigan.ops.arith import maximum


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


# ----------------------------------------------------------------------------------------------------
# Binary cross-entropy
# ----------------------------------------------------------------------------------------------------
class BinaryCrossEntropy(Function):
    def forward(self, p, t):
        xp = get_array_module(p)
        log_p = xp.maximum(xp.log(p), -100)
        log_1mp = xp.maximum(xp.log(1 - p), -100)
        return -(t * log_p + (1 - t) * log_1mp).mean()

    def backward(self, g):
        p, t = self.inputs
        denom = maximum(p * (1 - p), 1e-12)
        return g * (p - t) / denom / p.size, None


class BinaryCrossEntropyWithLogits(Function):
    def forward(self, z, t):
        xp = get_array_module(z)
        return (xp.maximum(z, 0) - z * t + xp.log1p(xp.exp(-xp.abs(z)))).mean()

    def backward(self, g):
        z, t = self.inputs
        return g * (sigmoid(z) - t) / z.size, None


def _check(name, x, target):
    for what, value in (("input", x), ("target", target)):
        if not hasattr(value, "shape"):
            raise TypeError(f"{name}: the {what} must be a Tensor or an array, got {type(value).__name__}")
    if tuple(x.shape) != tuple(target.shape):
        raise ValueError(f"{name}: input shape {tuple(x.shape)} and target shape {tuple(target.shape)} differ")


def binary_cross_entropy(p, target):
    """Mean BCE of probabilities p (after a sigmoid) against targets of the same shape."""
    _check("binary_cross_entropy", p, target)
    probs = array_of(p)
    if probs.size and (float(probs.min()) < 0 or float(probs.max()) > 1):   # like PyTorch; NaN passes
        raise ValueError(f"binary_cross_entropy: the input must be probabilities in [0, 1], got values from "
                         f"{float(probs.min())} to {float(probs.max())}; apply a sigmoid first, or use "
                         "binary_cross_entropy_with_logits")
    return BinaryCrossEntropy()(p, target)


def binary_cross_entropy_with_logits(logits, target):
    """Mean BCE of logits (before the sigmoid) against targets of the same shape: numerically stable."""
    _check("binary_cross_entropy_with_logits", logits, target)
    return BinaryCrossEntropyWithLogits()(logits, target)
