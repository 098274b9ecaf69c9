"""Step 11 of 15: batch normalization in training mode, its backward, and PyTorch's running statistics.

Adds:    BatchNorm2d (Ioffe & Szegedy, 2015), in every DCGAN block. Per channel c, over the M = N*H*W
         values of the batch: mu = mean(x), var = mean((x - mu)^2) (biased), x_hat = (x - mu) /
         sqrt(var + eps), y = gamma * x_hat + beta. Backward, with d = g * gamma (the three paths from
         x_i to the loss, directly and through mu and var, summed):
             dx = (d - mean(d) - x_hat * mean(d * x_hat)) / sqrt(var + eps),
             dgamma = sum(g * x_hat),  dbeta = sum(g).
         The running statistics, as PyTorch keeps them (momentum 0.1, eps 1e-5): running_mean <-
         0.9 running_mean + 0.1 mu, running_var <- 0.9 running_var + 0.1 var * M / (M - 1): the
         UNBIASED variance, although the batch is normalized with the biased one. Eval mode uses them.
Run:     python steps/step11_batchnorm.py
Package: minigan/ops/norm.py (BatchNorm), minigan/nn/layers.py (BatchNorm2d)
Prints:
    x (4, 3, 2, 2), M = 16 values per channel; x_hat per channel: mean 0, variance var / (var + eps): True
    channel 0: batch mean 1.4456, biased var 7.2938, unbiased var 7.7801
    running_mean after one batch: [0.1446, 0.2674, 0.2505] = 0.1 * mean: True
    running_var after one batch: [1.678, 1.5888, 1.5666] = 0.9 + 0.1 * var * 16/15: True
    gradcheck batch_norm (x, gamma, beta), training mode: max error < 1e-8: True
    dx sums to 0 over each channel (adding a constant to a channel changes nothing): True
    eval mode normalizes with the running statistics instead: channel 0 of y has mean 1.0645, not beta[0] = -0.1208
"""

import numpy as np

AXES = (0, 2, 3)                                                      # every axis but the channel axis

def per_channel(v): return v.reshape(1, -1, 1, 1)                     # (C,) -> (1, C, 1, 1), to broadcast

def batch_norm(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    """x (N, C, H, W) -> (y, cache). Updates running_mean / running_var (C,) in place in training mode."""
    if training:
        m = x.size // x.shape[1]                                      # M values per channel
        mu, var = x.mean(axis=AXES), x.var(axis=AXES)                 # (C,), (C,); var divides by M
        running_mean[...] = (1 - momentum) * running_mean + momentum * mu
        running_var[...] = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mu, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var + eps)                                  # (C,)
    x_hat = (x - per_channel(mu)) * per_channel(inv_std)              # (N, C, H, W)
    return per_channel(gamma) * x_hat + per_channel(beta), (x_hat, inv_std, gamma)

def batch_norm_backward(g, cache):
    """Training mode: g = dL/dy (N, C, H, W) -> (dL/dx, dL/dgamma, dL/dbeta)."""
    x_hat, inv_std, gamma = cache
    d = g * per_channel(gamma)                                        # dL/dx_hat
    dx = (d - d.mean(axis=AXES, keepdims=True) - x_hat * (d * x_hat).mean(axis=AXES, keepdims=True))
    return dx * per_channel(inv_std), (g * x_hat).sum(axis=AXES), g.sum(axis=AXES)

def gradcheck(forward, backward, *arrays, h=1e-6, tol=1e-8):          # step 8
    G = np.random.default_rng(1).standard_normal(forward(*arrays).shape)
    error = 0.0
    for a, grad in zip(arrays, backward(G, *arrays)):
        for i in np.ndindex(a.shape):
            old = a[i]
            a[i] = old + h
            plus = (forward(*arrays) * G).sum()
            a[i] = old - h
            error = max(error, abs((plus - (forward(*arrays) * G).sum()) / (2 * h) - grad[i]))
            a[i] = old
    return error < tol

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = 2 + 3 * rng.standard_normal((4, 3, 2, 2))                     # (N, C, H, W): M = 16 values per channel
    gamma, beta = 1 + 0.1 * rng.standard_normal(3), 0.1 * rng.standard_normal(3)
    running_mean, running_var = np.zeros(3), np.ones(3)               # PyTorch's starting values
    y, cache = batch_norm(x, gamma, beta, running_mean, running_var)
    x_hat, mu, var = cache[0], x.mean(axis=AXES), x.var(axis=AXES)
    print(f"x {x.shape}, M = 16 values per channel; x_hat per channel: mean 0, variance var / (var + eps): "
          f"{np.allclose(x_hat.mean(axis=AXES), 0) and np.allclose(x_hat.var(axis=AXES), var / (var + 1e-5))}")
    print(f"channel 0: batch mean {mu[0]:.4f}, biased var {var[0]:.4f}, unbiased var {var[0] * 16 / 15:.4f}")
    print(f"running_mean after one batch: {np.round(running_mean, 4).tolist()} = 0.1 * mean: "
          f"{np.allclose(running_mean, 0.1 * mu)}")
    print(f"running_var after one batch: {np.round(running_var, 4).tolist()} = 0.9 + 0.1 * var * 16/15: "
          f"{np.allclose(running_var, 0.9 + 0.1 * var * 16 / 15)}")
    def bn(x, gamma, beta): return batch_norm(x, gamma, beta, np.zeros(3), np.ones(3))   # fresh statistics
    ok = gradcheck(lambda *arrays: bn(*arrays)[0], lambda G, *arrays: batch_norm_backward(G, bn(*arrays)[1]),
                   x, gamma, beta)
    print(f"gradcheck batch_norm (x, gamma, beta), training mode: max error < 1e-8: {ok}")
    dx = batch_norm_backward(rng.standard_normal(x.shape), cache)[0]
    print(f"dx sums to 0 over each channel (adding a constant to a channel changes nothing): "
          f"{np.allclose(dx.sum(axis=AXES), 0)}")
    y_eval = batch_norm(x, gamma, beta, running_mean, running_var, training=False)[0]
    print(f"eval mode normalizes with the running statistics instead: channel 0 of y has mean "
          f"{y_eval[:, 0].mean():.4f}, not beta[0] = {beta[0]:.4f}")
