"""Weight initialisation, in place, from minigan's seeded generator (see mg.manual_seed).

Reading order: nn/module -> **nn/init** -> nn/layers.

    normal_(t, std=0.02)        N(0, std^2): the DCGAN paper's init for every conv / linear weight
    uniform_(t, a, b)           U(a, b)
    xavier_uniform_(t)          U(-b, b), b = sqrt(6 / (fan_in + fan_out))       (Glorot & Bengio, 2010)
    kaiming_uniform_(t, a)      U(-b, b), b = sqrt(6 / ((1 + a^2) fan_in))       (He et al., 2015)
PyTorch's default for Linear and Conv layers is kaiming_uniform_ with a = sqrt(5), i.e.
b = 1 / sqrt(fan_in); minigan's layers use the same so results can be compared.
"""

import math

from minigan import backend


def fan_in_and_fan_out(t):
    """(fan_in, fan_out) of a weight: Linear (out, in); conv (out, in, k, k) — PyTorch's convention."""
    if t.ndim < 2:
        raise ValueError(f"fan in/out needs a weight with >= 2 dimensions, got shape {t.shape}")
    receptive = 1
    for n in t.shape[2:]:
        receptive *= n
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fill(t, values):
    t.data[...] = values.astype(t.dtype, copy=False)
    return t


def normal_(t, mean=0.0, std=1.0):
    return _fill(t, mean + std * backend.randn(t.shape, backend=t.backend))


def uniform_(t, a=0.0, b=1.0):
    return _fill(t, a + (b - a) * backend.rand(t.shape, backend=t.backend))


def zeros_(t):
    t.data[...] = 0
    return t


def ones_(t):
    t.data[...] = 1
    return t


def xavier_uniform_(t, gain=1.0):
    fan_in, fan_out = fan_in_and_fan_out(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def kaiming_uniform_(t, a=0.0):
    fan_in, _ = fan_in_and_fan_out(t)
    bound = math.sqrt(6.0 / ((1 + a * a) * fan_in))
    return uniform_(t, -bound, bound)
