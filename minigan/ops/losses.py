"""Binary cross-entropy losses (mean over all elements), the losses of every GAN in minigan.

Reading order: ops/embedding -> **ops/losses** -> functional.

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

from minigan.autograd import Function, array_of
from minigan.backend import get_array_module
from minigan.ops.activations import sigmoid
from minigan.ops.arith import maximum


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
