"""BatchNorm's speed kernels on raw arrays: per-channel sums by BLAS, x_hat never stored, a backward with
2 temporaries of x's size instead of 5.

Where this sits: minigan/fast/ (speed, arrays only). The lesson is ``minigan/ops/norm.py``: the formulas

    mu = mean(x), var = mean((x - mu)^2), x_hat = (x - mu) / sqrt(var + eps), y = gamma * x_hat + beta
    dL/dx = (gamma / sqrt(var + eps)) * (g - mean(g) - x_hat * mean(g * x_hat))

which ``BatchNorm`` computes with these kernels by default, and which ``batch_norm`` composes from
Tensor ops under ``with mg.textbook():`` (autograd then derives the backward). The tests check both.

Statistics over every axis but the channel axis 1; M values per channel (times the number of shards
when ``batch_sum`` adds the sums of every rank up: synchronised batch norm, parallel/distributed.py).
"""

from minigan.backend import get_array_module


def stat_axes(x):
    """The axes a per-channel statistic sums over: (0,) for (N, C), (0, 2, 3) for (N, C, H, W)."""
    return (0,) if x.ndim == 2 else (0, 2, 3)


def per_channel(v, x):
    """(C,) -> (1, C) or (1, C, 1, 1), to broadcast against x."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def sum_per_channel(x):
    """(C,) sums of x (N, C) or (N, C, H, W) over every axis but the channel axis.

    The same sums as ``x.sum(axis=(0, 2, 3))``, written as a matrix-vector product with a vector of
    ones: x viewed as a (C, M) matrix, times (M,) ones. Why: NumPy's float32 reduction runs on one
    core and reads memory 4-6x slower than BLAS's matrix-vector loop (SIMD, every core); measured on
    the 2-core CPU, (128, 16, 16, 128) floats: 650 us by ``sum``, 116 us by the product. Every
    activation of a conv is an NCHW view of (C, H, W, N) memory (fast/conv.py), where the (C, M) matrix
    is free. A plain NCHW array (a Linear's output reshaped) is summed over N by the product, then
    over H*W; any other layout would need a copy, so it keeps ``sum``.
    """
    xp = get_array_module(x)
    n, c = x.shape[:2]
    if x.ndim == 2:                                                           # (N, C)
        return xp.ones(n, dtype=x.dtype) @ x                                  # (N,) @ (N, C) -> (C,)
    rows = x.transpose(1, 2, 3, 0)                                            # (C, H, W, N)
    if rows.flags.c_contiguous:
        m = x.size // c
        return rows.reshape(c, m) @ xp.ones(m, dtype=x.dtype)                 # (C, M) @ (M,) -> (C,)
    if x.flags.c_contiguous:
        per_pixel = xp.ones(n, dtype=x.dtype) @ x.reshape(n, -1)              # (N,) @ (N, C*H*W)
        return per_pixel.reshape(c, -1).sum(axis=1)                           # (C, H*W) -> (C,)
    return x.sum(axis=stat_axes(x))


def batch_norm_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps, m, batch_sum=None):
    """y = gamma * (x - mu) / sqrt(var + eps) + beta, and the running statistics updated in place.

    Returns (y, centered = x - mu, inv_std = 1 / sqrt(var + eps) (C,)): what the backward needs.
    x_hat = centered * inv_std is never stored: inv_std is one number per channel, so it folds into
    the per-channel factors here and in ``batch_norm_backward`` (one pass over x fewer). y is written
    into the memory of the squares (x - mu)^2, which are not needed after var.
    ``batch_sum``: None, or a function that adds (C,) sums up over the ranks (synchronised statistics).
    """
    xp = get_array_module(x)
    total = batch_sum if batch_sum is not None else (lambda sums: sums)
    if training:
        mean = total(sum_per_channel(x)) / m                                  # (C,)
        centered = x - per_channel(mean, x)                                   # x's shape
        squares = centered * centered                                         # x's shape (y reuses it)
        var = total(sum_per_channel(squares)) / m                             # (C,) biased
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += (momentum * m / max(m - 1, 1)) * var
    else:
        centered, var = x - per_channel(running_mean, x), running_var
        squares = None
    inv_std = 1 / xp.sqrt(var + eps)                                          # (C,)
    y = xp.multiply(centered, per_channel(gamma * inv_std, x), out=squares)   # into squares' memory
    y += per_channel(beta, x)                                                 # y = gamma * x_hat + beta
    return y, centered, inv_std


def batch_norm_backward(g, centered, inv_std, gamma, training, m, batch_sum=None):
    """(dL/dx, dL/dgamma, dL/dbeta) on raw arrays: 2 temporaries of x's size, no Tensor objects.

        dL/dx = g * scale - x_hat * (scale * mean(g * x_hat)) - scale * mean(g),  scale = gamma / sqrt(var + eps)

    with x_hat = centered * inv_std, and inv_std moved into the per-channel factors.
    """
    xp = get_array_module(g)
    work = g * centered                                                       # x's shape, reused below
    g_gamma = sum_per_channel(work) * inv_std                                 # (C,) sum(g * x_hat)
    g_beta = sum_per_channel(g)                                               # (C,) sum(g)
    scale = gamma * inv_std                                                   # (C,) gamma / sqrt(var + eps)
    gx = g * per_channel(scale, g)                                            # x's shape
    if not training:
        return gx, g_gamma, g_beta
    c = g.shape[1]
    sum_g_x_hat, sum_g = g_gamma, g_beta                                      # (C,) each
    if batch_sum is not None:                                                 # both in one all-reduce
        sums = batch_sum(xp.concatenate([g_gamma, g_beta]))                   # (2C,)
        sum_g_x_hat, sum_g = sums[:c], sums[c:]
    # x_hat * (scale * mean(g * x_hat)), written as centered * (the same per-channel factor * inv_std)
    xp.multiply(centered, per_channel(scale * sum_g_x_hat / m * inv_std, g), out=work)
    gx -= work
    gx -= per_channel(scale * sum_g / m, g)
    return gx, g_gamma, g_beta
