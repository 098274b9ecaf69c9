"""Batch normalization (Ioffe & Szegedy, 2015) and layer normalization, each with one fused backward.

Reading order: ops/conv -> **ops/norm** -> ops/embedding -> ops/crossentropy.

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

The backward is written twice, the same formula each time, and a third time not at all:
- ``batch_norm`` in textbook mode composes the forward from Tensor ops (mean, subtract, square, divide);
  autograd then derives the backward. ``with mg.textbook():`` runs it.
- ``BatchNorm`` is one Function whose arrays come from minigan/fast/norm.py (the default): a
  first-order backward on raw arrays with the x - mu and 1/sqrt(var + eps) that forward saved (two
  temporaries of x's size; a DCGAN iteration calls it 13 times), and, for create_graph=True,
  ``backward`` written with Tensor ops: there x_hat and 1/sqrt(var + eps) depend on x, so they are
  recomputed from x (``normalize``) and the recorded graph reaches x through them.
The tests check the three against each other, against finite differences and against PyTorch.

Synchronised statistics (``sync``, set by distributed.py for ``--sync-bn``): when W processes each
hold one shard of the batch, the four per-channel sums above (sum x, sum (x - mu)^2, sum g,
sum g * x_hat) are added up over all W shards by ``sync.all_sum`` and M counts every shard's values,
so mu, var and both means in the backward are those of the whole batch, as in one process.
dL/dgamma and dL/dbeta stay this shard's sums: distributed.py averages them with the other gradients.
(A second derivative through synchronised statistics is not implemented: it is refused.)

Layer normalization (LayerNorm below) is the same formula with statistics per sample instead of per
channel.
"""

from minigan import fast
from minigan.autograd import Function, array_of, constant, is_grad_enabled
from minigan.backend import get_array_module, is_textbook




def _stat_axes(x):
    return (0,) if x.ndim == 2 else (0, 2, 3)                                 # every axis but the channels


def _per_channel(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))                           # (C,) -> (1, C, 1, 1) or (1, C)


class BatchNorm(Function):
    """Batch norm as one Function with a fused backward; its arrays are computed by the speed kernels of
    minigan/fast/norm.py (the formulas above; the tests check them against textbook mode)."""

    def __init__(self, running_mean, running_var, training, momentum, eps, sync=None):
        self.running_mean, self.running_var = running_mean, running_var   # arrays, updated in place
        self.training, self.momentum, self.eps = training, momentum, eps
        self.sync = sync              # None: this batch alone; else .all_sum(a) adds a up over the ranks

    def _batch_size(self, x):
        """M, the values per channel: this shard's, times the number of shards when synchronised."""
        m = x.size // x.shape[1]
        return m if self.sync is None else m * self.sync.world_size

    def _all_sum(self):
        """None for one process; else the function that adds (C,) sums up over the ranks."""
        return None if self.sync is None else self.sync.all_sum

    def forward(self, x, gamma, beta):                                        # speed kernel: the formulas above
        y, self.centered, self.inv_std = fast.batch_norm_forward(
            x, gamma, beta, self.running_mean, self.running_var, self.training, self.momentum, self.eps,
            self._batch_size(x), self._all_sum())                             # centered = x - mu, inv_std (C,)
        return y

    def backward(self, g):
        if not is_grad_enabled():                                             # the usual, first-order step
            return fast.batch_norm_backward(g.data, self.centered, self.inv_std, self.inputs[1].data,
                                            self.training, self._batch_size(g), self._all_sum())
        x, gamma, _ = self.inputs
        if self.sync is not None:
            raise NotImplementedError("batch_norm: a second derivative through synchronised statistics "
                                      "(--sync-bn) is not implemented; use per-rank statistics or LayerNorm")
        axes = _stat_axes(g)
        x_hat, inv_std = self.normalized(x)                                   # x's shape, (C,)
        g_gamma = (g * x_hat).sum(axis=axes)                                  # (C,)
        g_beta = g.sum(axis=axes)                                             # (C,)
        scale = _per_channel(gamma * inv_std, g)                              # gamma / sqrt(var + eps)
        if not self.training:
            return g * scale, g_gamma, g_beta
        m, sum_g_x_hat, sum_g = self._batch_size(g), g_gamma, g_beta           # (C,) sums
        # scale * (g - x_hat * mean(g * x_hat) - mean(g))
        gx = (g - x_hat * _per_channel(sum_g_x_hat / m, g) - _per_channel(sum_g / m, g)) * scale
        return gx, g_gamma, g_beta

    def normalized(self, x):
        """x_hat and 1/sqrt(var + eps) as Tensors that depend on x (``backward`` runs with
        create_graph=True only): recomputed from x with Tensor ops, so the graph of the backward leads
        back to x through them. In eval mode the running statistics are constants."""
        if not self.training:                                                 # running statistics: constants
            inv_std = constant(self.inv_std)
            return (x - constant(_per_channel(self.running_mean, x))) * _per_channel(inv_std, x), inv_std
        x_hat, inv_std = normalize(x, _stat_axes(x), self.eps)
        return x_hat, inv_std.reshape(x.shape[1])


def normalize(x, axes, eps):
    """x_hat = (x - mean) / sqrt(var + eps) over ``axes``, with Tensor ops (differentiable twice).
    Returns x_hat (x's shape) and 1 / sqrt(var + eps) (size 1 on ``axes``)."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)              # biased
    inv_std = (var + eps) ** -0.5
    return centered * inv_std, inv_std


class LayerNorm(Function):
    """Layer normalization (Ba et al., 2016) over the last ``n_axes`` axes, like torch.nn.LayerNorm.

    Per sample, over the normalized axes (M values):  x_hat = (x - mean) / sqrt(var + eps),
    y = weight * x_hat + bias (weight, bias: the normalized shape; optional). With d = g * weight:
        dL/dx = (1 / sqrt(var + eps)) * (d - mean(d) - x_hat * mean(d * x_hat))
        dL/dweight = sum over the leading axes of g * x_hat,   dL/dbias = sum of g
    The batch-norm formula with the roles of the axes swapped: statistics per sample, not per channel,
    so nothing couples the samples of a batch (what a WGAN-GP critic needs: its penalty is per sample).
    """

    def __init__(self, n_axes, eps, has_weight, has_bias):
        self.n_axes, self.eps, self.has_weight, self.has_bias = n_axes, eps, has_weight, has_bias

    def forward(self, x, *affine):
        xp = get_array_module(x)
        axes = tuple(range(x.ndim - self.n_axes, x.ndim))                    # the normalized axes
        mean = x.mean(axis=axes, keepdims=True)                               # (N, ..., 1, 1)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)            # biased, like PyTorch
        self.inv_std = 1 / xp.sqrt(var + self.eps)                            # (N, ..., 1, 1)
        self.x_hat = centered
        self.x_hat *= self.inv_std                                            # in place: no extra copy
        y = self.x_hat
        if self.has_weight:
            y = y * affine[0]
        if self.has_bias:
            y = y + affine[-1]
        return y

    def backward(self, g):
        x = self.inputs[0]
        axes = tuple(range(x.ndim - self.n_axes, x.ndim))
        leading = tuple(range(x.ndim - self.n_axes))
        if is_grad_enabled():                                                 # see BatchNorm.normalized
            x_hat, inv_std = normalize(x, axes, self.eps)
        else:
            x_hat, inv_std = constant(self.x_hat), constant(self.inv_std)
        d = g * self.inputs[1] if self.has_weight else g                      # dL/dx_hat
        mean_d = d.mean(axis=axes, keepdims=True)
        mean_dx = (d * x_hat).mean(axis=axes, keepdims=True)
        grads = [(d - mean_d - x_hat * mean_dx) * inv_std]                    # x's shape
        if self.has_weight:
            grads.append((g * x_hat).sum(axis=leading) if self.needs_input_grad[1] else None)
        if self.has_bias:
            grads.append(g.sum(axis=leading) if self.needs_input_grad[-1] else None)
        return tuple(grads)


def batch_norm(x, gamma, beta, running_mean=None, running_var=None, training=True, momentum=0.1, eps=1e-5,
               sync=None):
    """Batch normalization over axis 1 of x (N, C) or (N, C, H, W); gamma, beta: (C,).

    running_mean / running_var are arrays (or Tensors) updated in place in training mode.
    ``sync`` (training mode): an object with ``all_sum(array)`` and ``world_size``, such as a
    ``minigan.parallel.distributed.Distributed``; x is then one rank's shard and the statistics are the whole batch's.
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
    return batch_norm_unchecked(x, gamma, beta, running_mean, running_var, training, momentum, eps, sync)


def batch_norm_unchecked(x, gamma, beta, running_mean, running_var, training, momentum, eps, sync=None):
    """batch_norm without its checks: nn.BatchNorm1d/2d call it after checking their input themselves."""
    running_mean, running_var = array_of(running_mean), array_of(running_var)
    if not is_textbook() or (training and sync is not None):                  # speed: one fused Function
        return BatchNorm(running_mean, running_var, training, momentum, eps,
                         sync if training else None)(x, gamma, beta)
    # textbook mode: the formulas in Tensor ops; autograd derives the backward (the three paths
    # through mu and var). The same numbers as BatchNorm (tests/test_textbook.py).
    axes = _stat_axes(x)                                                      # (0, 2, 3) or (0,)
    shape = (1, -1) + (1,) * (x.ndim - 2)                                     # (1, C, 1, 1) or (1, C)
    if training:
        mu = x.mean(axis=axes, keepdims=True)                                 # (1, C, 1, 1)
        var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)                  # (1, C, 1, 1), biased
        if running_mean is not None:                                          # arrays, outside the graph
            m = x.data.size // x.shape[1]                                     # values per channel
            running_mean *= 1 - momentum
            running_mean += momentum * mu.data.reshape(-1)
            running_var *= 1 - momentum
            running_var += (momentum * m / max(m - 1, 1)) * var.data.reshape(-1)   # unbiased, like PyTorch
    else:                                                                     # eval: the running statistics
        mu, var = constant(running_mean.reshape(shape)), constant(running_var.reshape(shape))
    x_hat = (x - mu) / (var + eps) ** 0.5                                     # x's shape
    return gamma.reshape(*shape) * x_hat + beta.reshape(*shape)               # y = gamma * x_hat + beta


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the last len(normalized_shape) axes (torch.nn.functional.layer_norm).

    x (N, *normalized_shape) or any leading shape; weight, bias: normalized_shape or None.
    Example: x (8, 64, 16, 16), normalized_shape (64, 16, 16) -> (8, 64, 16, 16), each sample normalized.
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if x.ndim < len(shape) or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: expected an input whose last axes are normalized_shape {shape}, "
                         f"got input of shape {tuple(x.shape)}")
    for what, value in (("weight", weight), ("bias", bias)):
        if value is not None and tuple(value.shape) != shape:
            raise ValueError(f"layer_norm: expected {what} of shape {shape}, got {tuple(value.shape)}")
    affine = [v for v in (weight, bias) if v is not None]
    return LayerNorm(len(shape), eps, weight is not None, bias is not None)(x, *affine)
