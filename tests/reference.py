"""Plain-loop reference implementations: obviously correct, slow, NumPy float64 only.

Each function is written the way the math is written on paper, one output (or input) pixel at a
time, so that a reader can check it by eye. The fast ops in minigan/ops are tested against these.

Notation: x (N, C_in, H, W); conv weight (C_out, C_in, k, k); transposed-conv weight
(C_in, C_out, k, k); stride s, padding p, output_padding op.
"""

import numpy as np


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """y[n, o, i, j] = sum_{c, a, b} W[o, c, a, b] * x_pad[n, c, i*s + a, j*s + b] + bias[o]."""
    n, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    x_pad = np.zeros((n, c_in, h + 2 * padding, w + 2 * padding))
    x_pad[:, :, padding:padding + h, padding:padding + w] = x
    h_out = (h + 2 * padding - k) // stride + 1
    w_out = (w + 2 * padding - k) // stride + 1
    y = np.zeros((n, c_out, h_out, w_out))
    for b_ in range(n):
        for o in range(c_out):
            for i in range(h_out):
                for j in range(w_out):
                    window = x_pad[b_, :, i * stride:i * stride + k, j * stride:j * stride + k]
                    y[b_, o, i, j] = np.sum(window * weight[o])
            if bias is not None:
                y[b_, o] += bias[o]
    return y


def conv_transpose2d_scatter(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """Definition 1: every input pixel adds value * kernel into the output at stride steps.

    The full output is ((H-1)s + k + op) wide; then p rows/columns are cropped from each side
    (output_padding only adds rows/columns at the bottom/right).
    """
    n, c_in, h, w = x.shape
    _, c_out, k, _ = weight.shape
    full = np.zeros((n, c_out, (h - 1) * stride + k + output_padding, (w - 1) * stride + k + output_padding))
    for b_ in range(n):
        for c in range(c_in):
            for i in range(h):
                for j in range(w):
                    full[b_, :, i * stride:i * stride + k, j * stride:j * stride + k] += x[b_, c, i, j] * weight[c]
    h_out = (h - 1) * stride - 2 * padding + k + output_padding
    w_out = (w - 1) * stride - 2 * padding + k + output_padding
    y = full[:, :, padding:padding + h_out, padding:padding + w_out].copy()
    if bias is not None:
        y += bias[None, :, None, None]
    return y


def conv_transpose2d_dilate(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """Definition 2: insert s-1 zeros between pixels, pad p' = k-p-1 (+op bottom/right), then a
    stride-1 convolution with the kernel flipped and its in/out channels swapped."""
    n, c_in, h, w = x.shape
    _, c_out, k, _ = weight.shape
    dilated = np.zeros((n, c_in, (h - 1) * stride + 1, (w - 1) * stride + 1))
    for i in range(h):
        for j in range(w):
            dilated[:, :, i * stride, j * stride] = x[:, :, i, j]
    pp = k - padding - 1
    padded = np.zeros((n, c_in, dilated.shape[2] + 2 * pp + output_padding,
                       dilated.shape[3] + 2 * pp + output_padding))
    padded[:, :, pp:pp + dilated.shape[2], pp:pp + dilated.shape[3]] = dilated
    flipped = np.zeros((c_out, c_in, k, k))
    for o in range(c_out):
        for c in range(c_in):
            for a in range(k):
                for b in range(k):
                    flipped[o, c, a, b] = weight[c, o, k - 1 - a, k - 1 - b]
    return conv2d(padded, flipped, bias, stride=1, padding=0)


def batch_norm_train(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm, one channel at a time. Returns (y, batch mean, biased batch var)."""
    c = x.shape[1]
    y = np.zeros_like(x)
    means, variances = np.zeros(c), np.zeros(c)
    for ch in range(c):
        values = x[:, ch]                                  # (N,) or (N, H, W)
        mu = values.sum() / values.size
        var = ((values - mu) ** 2).sum() / values.size     # biased: divided by M
        y[:, ch] = gamma[ch] * (values - mu) / np.sqrt(var + eps) + beta[ch]
        means[ch], variances[ch] = mu, var
    return y, means, variances


def embedding(indices, weight):
    """out[i] = weight[indices[i]], one row at a time."""
    out = np.zeros((len(indices), weight.shape[1]))
    for i, label in enumerate(indices):
        out[i] = weight[int(label)]
    return out


def binary_cross_entropy(p, t):
    """-mean(t log p + (1 - t) log(1 - p)), each log clamped at >= -100 (PyTorch's rule)."""
    total = 0.0
    for p_i, t_i in zip(np.ravel(p), np.ravel(t)):
        log_p = max(np.log(p_i), -100.0) if p_i > 0 else -100.0
        log_1mp = max(np.log(1 - p_i), -100.0) if p_i < 1 else -100.0
        total += -(t_i * log_p + (1 - t_i) * log_1mp)
    return total / np.size(p)


def linear_vjp(fn, x, g):
    """The gradient of <g, fn(x)> w.r.t. x, for fn affine in x (conv in x, in its weight, in its bias).

    Feeds fn one basis vector e_i at a time: <g, fn(e_i)> - <g, fn(0)> is exactly entry i. No finite
    differences, no step size: slow and obviously right.
    """
    base = np.sum(g * fn(np.zeros_like(x)))
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        e = np.zeros_like(x)
        e[i] = 1.0
        grad[i] = np.sum(g * fn(e)) - base
    return grad
