"""Batch normalization (Ioffe & Szegedy, 2015), with one fused backward.

Reading order: ops/conv -> **ops/norm** -> ops/embedding -> ops/losses.

Statistics are taken over every axis except the channel axis 1: (N,) for (N, C) inputs, (N, H, W)
for (N, C, H, W). Let M be the number of values per channel.

Training mode (batch statistics):
    mu = mean(x),  var = mean((x - mu)^2)        (biased: divided by M)
    x_hat = (x - mu) / sqrt(var + eps),  y = gamma * x_hat + beta
    running_mean <- (1 - momentum) running_mean + momentum * mu
    running_var  <- (1 - momentum) running_var  + momentum * var * M / (M - 1)   (unbiased, like PyTorch)
Eval mode: the same formula with running_mean / running_var in place of mu / var.

Backward in training mode. With g = dL/dy and d = g * gamma (= dL/dx_hat), every x_hat depends on all
x of its channel through mu and var. Summing the three paths (direct, via mu, via var):
    dL/dx = (1 / sqrt(var + eps)) * (d - mean(d) - x_hat * mean(d * x_hat))
    dL/dgamma = sum(g * x_hat),   dL/dbeta = sum(g)
(derivation: dx_hat/dx_j = (delta_ij - 1/M - x_hat_i x_hat_j / M) / sqrt(var + eps)).

Synchronised statistics (``sync``, set by distributed.py for ``--sync-bn``): when W processes each
hold one shard of the batch, the four per-channel sums above (sum x, sum (x - mu)^2, sum g,
sum g * x_hat) are added up over all W shards by ``sync.all_sum`` and M counts every shard's values,
so mu, var and both means in the backward are those of the whole batch, as in one process.
dL/dgamma and dL/dbeta stay this shard's sums: distributed.py averages them with the other gradients.
"""

from minigan.autograd import Function, array_of
from minigan.backend import get_array_module


def _stat_axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)


def _per_channel(v, x):
    """(C,) -> (1, C) or (1, C, 1, 1), to broadcast against x."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


class BatchNorm(Function):
    def __init__(self, running_mean, running_var, training, momentum, eps, sync=None):
        self.running_mean, self.running_var = running_mean, running_var   # arrays, updated in place
        self.training, self.momentum, self.eps = training, momentum, eps
        self.sync = sync              # None: this batch alone; else .all_sum(a) adds a up over the ranks

    def _batch_size(self, x):
        """M, the values per channel: this shard's, times the number of shards when synchronised."""
        m = x.size // x.shape[1]
        return m if self.sync is None else m * self.sync.world_size

    def _batch_sum(self, per_channel):
        """(C,) sums over this shard -> the same sums over the whole batch (a no-op for one process)."""
        return per_channel if self.sync is None else self.sync.all_sum(per_channel)

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        axes = _stat_axes(x)
        if self.training:
            m = self._batch_size(x)
            mean = self._batch_sum(x.sum(axis=axes)) / m                      # (C,)
            centered = x - _per_channel(mean, x)                              # x's shape
            var = self._batch_sum((centered * centered).sum(axis=axes)) / m   # (C,) biased
            if self.running_mean is not None:
                self.running_mean *= 1 - self.momentum
                self.running_mean += self.momentum * mean
                self.running_var *= 1 - self.momentum
                self.running_var += (self.momentum * m / max(m - 1, 1)) * var
        else:
            centered, var = x - _per_channel(self.running_mean, x), self.running_var
        self.inv_std = 1 / xp.sqrt(var + self.eps)                            # (C,)
        self.x_hat = centered                                                 # (x - mu) / sqrt(var + eps),
        self.x_hat *= _per_channel(self.inv_std, x)                           # in place: no extra copy
        self.gamma = gamma
        return self.x_hat * _per_channel(gamma, x) + _per_channel(beta, x)

    def backward(self, g):
        axes = _stat_axes(g)
        g_gamma = (g * self.x_hat).sum(axis=axes)                             # (C,)
        g_beta = g.sum(axis=axes)                                             # (C,)
        scale = _per_channel(self.gamma * self.inv_std, g)                    # gamma / sqrt(var + eps)
        if not self.training:
            return g * scale, g_gamma, g_beta
        xp, m, c = get_array_module(g), self._batch_size(g), g.shape[1]
        sum_g_x_hat, sum_g = g_gamma, g_beta                                  # (C,) each
        if self.sync is not None:                                             # both in one all-reduce
            sums = self._batch_sum(xp.concatenate([g_gamma, g_beta]))         # (2C,)
            sum_g_x_hat, sum_g = sums[:c], sums[c:]
        # scale * (g - mean(g) - x_hat * mean(g * x_hat)), built in one buffer
        gx = self.x_hat * _per_channel(sum_g_x_hat / m, g)                    # x_hat * mean(g * x_hat)
        xp.subtract(g, gx, out=gx)                                            # g - ...
        gx -= _per_channel(sum_g / m, g)                                      # ... - mean(g)
        gx *= scale
        return gx, g_gamma, g_beta


def batch_norm(x, gamma, beta, running_mean=None, running_var=None, training=True, momentum=0.1, eps=1e-5,
               sync=None):
    """Batch normalization over axis 1 of x (N, C) or (N, C, H, W); gamma, beta: (C,).

    running_mean / running_var are arrays (or Tensors) updated in place in training mode.
    ``sync`` (training mode): an object with ``all_sum(array)`` and ``world_size``, such as a
    ``minigan.distributed.Distributed``; x is then one rank's shard and the statistics are the whole batch's.
    """
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: expected input (N, C) or (N, C, H, W), got {tuple(x.shape)}")
    if gamma.shape != (x.shape[1],):
        raise ValueError(f"batch_norm: expected {x.shape[1]} channels (gamma {tuple(gamma.shape)}), got input {tuple(x.shape)}")
    if training and x.size // x.shape[1] < 2:
        raise ValueError(
            f"batch_norm: training mode needs more than one value per channel, got input {tuple(x.shape)}"
        )
    if not training and running_mean is None:
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and running_var")
    return BatchNorm(array_of(running_mean), array_of(running_var), training, momentum, eps,
                     sync if training else None)(x, gamma, beta)
