"""Step 9 of 15: the transposed convolution by scatter (Kiểu 1): each input pixel stamps the kernel.

Adds:    The layer that lets a DCGAN generator grow a 2x2 map into a 32x32 image. Kiểu 1 (scatter), the
         seed's first definition: input pixel (i, j) with value v adds v * kernel into the output at
         (i*s, j*s); overlapping stamps add up; then p rows/columns are cropped from every side. So
         H_out = (H - 1)*s - 2p + k + op (op, output padding, adds rows at the bottom/right). As matrices
         it is col2im(W^T x): W (C_in, C_out, k, k) seen as (C_in, C_out*k*k) turns each input pixel
         into its C_out*k*k stamp, and col2im (step 8) adds the stamps into place and crops. That is
         conv2d's backward for x, hence "transposed", and so its own backward is a conv2d:
         gx = conv2d(g, W), gW = sum_n x_n @ im2col(g)_n^T, gb = g summed.
Run:     python steps/step09_transposed_scatter.py
Package: minigan/ops/conv.py (ConvTranspose2d, method="scatter"), docs/transposed-conv.md
Prints:
    the seed's example, x = [[0, 1], [2, 3]], kernel [[0, 1], [2, 3]]:
      s=1, p=0: [[0, 0, 1], [0, 4, 6], [4, 12, 9]]
      s=2, p=0: [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]
      s=2, p=1: [[0, 2], [2, 0]]
    DCGAN's first block, k=4, s=2, p=1: (8, 512, 2, 2) -> (8, 256, 4, 4)
    col2im(W^T x) == the stamping loop, k=4, s=2, p=1 and k=5, s=2, p=2, op=1: True True
    gradcheck conv_transpose2d (x, W, b), k=3, s=2, p=1, op=1: max error < 1e-8: True
"""

import numpy as np

def out_size(h, k, s, p): return (h + 2 * p - k) // s + 1             # conv2d's output size (step 8)

def im2col(x, k, s, p):                                               # step 8
    n, c, h, w = x.shape
    h_out, w_out = out_size(h, k, s, p), out_size(w, k, s, p)
    x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    cols = np.empty((n, c, k, k, h_out, w_out))
    for a in range(k):
        for b in range(k):
            cols[:, :, a, b] = x[:, :, a:a + s * h_out:s, b:b + s * w_out:s]
    return cols.reshape(n, c * k * k, h_out * w_out)

def col2im(cols, shape, k, s, p):                                     # step 8
    n, c, h, w = shape
    h_out, w_out = out_size(h, k, s, p), out_size(w, k, s, p)
    cols = cols.reshape(n, c, k, k, h_out, w_out)
    x = np.zeros((n, c, h + 2 * p, w + 2 * p))
    for a in range(k):
        for b in range(k):
            x[:, :, a:a + s * h_out:s, b:b + s * w_out:s] += cols[:, :, a, b]
    return x[:, :, p:p + h, p:p + w]

def conv_transpose2d(x, W, b, s, p, op=0):
    """x (N, C_in, H, W), W (C_in, C_out, k, k), b (C_out,) -> (N, C_out, (H-1)*s - 2p + k + op, ...)."""
    (n, c_in, h, w), (_, c_out, k, _) = x.shape, W.shape
    shape = (n, c_out, (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op)
    cols = W.reshape(c_in, -1).T @ x.reshape(n, c_in, h * w)          # (C_out*k*k, C_in) @ (N, C_in, H*W)
    return col2im(cols, shape, k, s, p) + b[:, None, None]            # stamps added into place, cropped

def conv_transpose2d_backward(g, x, W, s, p):
    """g (N, C_out, H_out, W_out) -> (dL/dx, dL/dW, dL/db). dL/dx is conv2d(g, W) without bias."""
    (n, c_in, h, w), k = x.shape, W.shape[2]
    cols = im2col(g, k, s, p)                                         # (N, C_out*k*k, H*W): the stamps' gradients
    gx = (W.reshape(c_in, -1) @ cols).reshape(x.shape)                # (C_in, C_out*k*k) @ (N, C_out*k*k, H*W)
    gW = (x.reshape(n, c_in, -1) @ cols.transpose(0, 2, 1)).sum(axis=0).reshape(W.shape)
    return gx, gW, g.sum(axis=(0, 2, 3))

def conv_transpose2d_loop(x, W, b, s, p, op=0):
    """The definition as a loop: stamp x[n, c, i, j] * W[c] at (i*s, j*s), add up, crop p."""
    (n, c_in, h, w), (_, c_out, k, _) = x.shape, W.shape
    full = np.zeros((n, c_out, (h - 1) * s + k + op, (w - 1) * s + k + op))
    for i0, c, i, j in np.ndindex(x.shape):
        full[i0, :, i * s:i * s + k, j * s:j * s + k] += x[i0, c, i, j] * W[c]   # (C_out, k, k)
    return full[:, :, p:full.shape[2] - p, p:full.shape[3] - p] + b[:, None, None]

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
    x = w = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)    # the seed's example, (N, C, H, W)
    print("the seed's example, x = [[0, 1], [2, 3]], kernel [[0, 1], [2, 3]]:")
    for s, p in [(1, 0), (2, 0), (2, 1)]:
        print(f"  s={s}, p={p}: {conv_transpose2d(x, w, np.zeros(1), s, p)[0, 0].astype(int).tolist()}")
    rng = np.random.default_rng(0)
    x, W = rng.standard_normal((8, 512, 2, 2)), rng.standard_normal((512, 256, 4, 4))
    y = conv_transpose2d(x, W, np.zeros(256), 2, 1)
    print(f"DCGAN's first block, k=4, s=2, p=1: (8, 512, 2, 2) -> {y.shape}")
    x, b = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal(5)
    same = [np.abs(conv_transpose2d(x, W, b, 2, p, op) - conv_transpose2d_loop(x, W, b, 2, p, op)).max() < 1e-12
            for W, p, op in [(rng.standard_normal((3, 5, 4, 4)), 1, 0), (rng.standard_normal((3, 5, 5, 5)), 2, 1)]]
    print("col2im(W^T x) == the stamping loop, k=4, s=2, p=1 and k=5, s=2, p=2, op=1:", *same)
    ok = gradcheck(lambda x, W, b: conv_transpose2d(x, W, b, 2, 1, 1),
                   lambda G, x, W, b: conv_transpose2d_backward(G, x, W, 2, 1),
                   rng.standard_normal((2, 3, 3, 3)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal(2))
    print(f"gradcheck conv_transpose2d (x, W, b), k=3, s=2, p=1, op=1: max error < 1e-8: {ok}")
