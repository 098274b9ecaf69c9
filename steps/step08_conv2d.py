"""Step 8 of 15: conv2d as im2col + one matrix product, its backward through col2im, checked by a loop.

Adds:    From here on an op is a forward and a backward on arrays, as a Function's two methods are (the
         engine of steps 1-7 would call them unchanged). conv2d slides a k x k kernel over the image
         with stride s after padding p: H_out = (H + 2p - k) // s + 1. im2col copies every window
         into a column, (N, C_in, H, W) -> (N, C_in*k*k, H_out*W_out), with k*k strided copies (one
         per kernel offset), so the whole convolution is ONE matmul with W seen as (C_out, C_in*k*k).
         Backward: gW = g @ cols^T summed over the batch, gb = g summed, gx = col2im(W^T g), where
         col2im is im2col's adjoint: it adds every column back into its window (overlaps add up).
Run:     python steps/step08_conv2d.py
Package: minigan/ops/im2col.py (im2col, col2im), minigan/ops/conv.py (Conv2d), minigan/nn/layers.py (Conv2d)
Prints:
    x (2, 3, 7, 7), W (4, 3, 3, 3), stride 2, padding 1 -> y (2, 4, 4, 4)
    im2col (2, 27, 16); one matmul (4, 27) @ (2, 27, 16) -> (2, 4, 16)
    conv2d by im2col == the six-loop definition (max diff < 1e-12): True
    col2im is the adjoint of im2col, <im2col(x), c> == <x, col2im(c)>: True
    gradcheck conv2d (x, W, b) with stride 2, padding 1: max error < 1e-8: True
"""

import numpy as np

def out_size(h, k, s, p): return (h + 2 * p - k) // s + 1

def im2col(x, k, s, p):
    """(N, C, H, W) -> (N, C*k*k, H_out*W_out): column l is the k x k window under output pixel l."""
    n, c, h, w = x.shape
    h_out, w_out = out_size(h, k, s, p), out_size(w, k, s, p)
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))                  # (N, C, H+2p, W+2p)
    cols = np.empty((n, c, k, k, h_out, w_out))
    for a in range(k):                                                # kernel offset (a, b): one strided copy
        for b in range(k):
            cols[:, :, a, b] = x[:, :, a:a + s * h_out:s, b:b + s * w_out:s]   # (N, C, H_out, W_out)
    return cols.reshape(n, c * k * k, h_out * w_out)

def col2im(cols, shape, k, s, p):
    """The adjoint of im2col: (N, C*k*k, H_out*W_out) -> (N, C, H, W), each column added into its window."""
    n, c, h, w = shape
    h_out, w_out = out_size(h, k, s, p), out_size(w, k, s, p)
    cols = cols.reshape(n, c, k, k, h_out, w_out)
    x = np.zeros((n, c, h + 2 * p, w + 2 * p))
    for a in range(k):
        for b in range(k):
            x[:, :, a:a + s * h_out:s, b:b + s * w_out:s] += cols[:, :, a, b]
    return x[:, :, p:p + h, p:p + w]                                  # crop the padding

def conv2d(x, W, b, s, p):
    """x (N, C_in, H, W), W (C_out, C_in, k, k), b (C_out,) -> (N, C_out, H_out, W_out)."""
    n, (c_out, _, k, _) = x.shape[0], W.shape
    cols = im2col(x, k, s, p)                                         # (N, C_in*k*k, L)
    y = W.reshape(c_out, -1) @ cols + b[:, None]                      # (C_out, C_in*k*k) @ (N, C_in*k*k, L)
    return y.reshape(n, c_out, out_size(x.shape[2], k, s, p), out_size(x.shape[3], k, s, p))

def conv2d_backward(g, x, W, s, p):
    """g (N, C_out, H_out, W_out) = dL/dy -> (dL/dx, dL/dW, dL/db)."""
    n, (c_out, _, k, _) = x.shape[0], W.shape
    cols, g2 = im2col(x, k, s, p), g.reshape(n, c_out, -1)            # (N, C_in*k*k, L), (N, C_out, L)
    gW = (g2 @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(W.shape)  # sum_n (C_out, L) @ (L, C_in*k*k)
    gx = col2im(W.reshape(c_out, -1).T @ g2, x.shape, k, s, p)        # (C_in*k*k, C_out) @ (N, C_out, L)
    return gx, gW, g.sum(axis=(0, 2, 3))

def conv2d_loop(x, W, b, s, p):
    """The definition: y[n, o, i, j] = b[o] + sum over c, a, e of W[o, c, a, e] * x_pad[n, c, i*s + a, j*s + e]."""
    (n, c_in, h, w), (c_out, _, k, _) = x.shape, W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    y = np.zeros((n, c_out, out_size(h, k, s, p), out_size(w, k, s, p)))
    for i0, o, i, j in np.ndindex(y.shape):
        y[i0, o, i, j] = b[o] + sum(W[o, c, a, e] * xp[i0, c, i * s + a, j * s + e]
                                    for c in range(c_in) for a in range(k) for e in range(k))
    return y

def gradcheck(forward, backward, *arrays, h=1e-6, tol=1e-8):
    """Step 4 on arrays: backward(G, *arrays) against central differences of sum(forward(*arrays) * G)."""
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
    x, W, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    y = conv2d(x, W, b, 2, 1)
    cols = im2col(x, 3, 2, 1)
    print(f"x {x.shape}, W {W.shape}, stride 2, padding 1 -> y {y.shape}")
    W2 = W.reshape(4, -1)                                             # (C_out, C_in*k*k)
    print(f"im2col {cols.shape}; one matmul {W2.shape} @ {cols.shape} -> {(W2 @ cols).shape}")
    print(f"conv2d by im2col == the six-loop definition (max diff < 1e-12): "
          f"{np.abs(y - conv2d_loop(x, W, b, 2, 1)).max() < 1e-12}")
    c = rng.standard_normal(cols.shape)
    print(f"col2im is the adjoint of im2col, <im2col(x), c> == <x, col2im(c)>: "
          f"{np.isclose((cols * c).sum(), (x * col2im(c, x.shape, 3, 2, 1)).sum(), rtol=1e-12)}")
    ok = gradcheck(lambda x, W, b: conv2d(x, W, b, 2, 1), lambda G, x, W, b: conv2d_backward(G, x, W, 2, 1),
                   x[:, :, :5, :5].copy(), W, b)
    print(f"gradcheck conv2d (x, W, b) with stride 2, padding 1: max error < 1e-8: {ok}")
