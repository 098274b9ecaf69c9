"""Step 10 of 15: the transposed convolution as an ordinary convolution (Kiểu 2), and the adjoint test.

Adds:    The seed's second definition. Insert s - 1 zeros between neighbouring input pixels (dilate),
         pad k - p - 1 zeros on every side (plus op more at the bottom/right), then run a plain
         stride-1 conv2d with the kernel rotated by 180 degrees and its two channel axes swapped:
         W (C_in, C_out, k, k) -> W[:, :, ::-1, ::-1] seen as (C_out, C_in, k, k). It gives the same
         numbers as Kiểu 1 (step 9), and both are the adjoint (the transpose, as a matrix) of conv2d
         with the same W: <conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for every x and y, the
         property that makes conv2d's input gradient a transposed convolution and the reverse.
         Kiểu 2 needs p <= k - 1 and multiplies the inserted zeros too: minigan keeps it to read
         (method="dilate") and computes with Kiểu 1 or the sub-pixel form.
Run:     python steps/step10_transposed_dilate.py
Package: minigan/ops/conv.py (conv_transpose2d_dilate, method="dilate"), minigan/ops/shape.py (Dilate2d, Pad2d)
Prints:
    the seed's example by definition 2 (dilate, pad, conv), s=2, p=1: [[0, 2], [2, 0]]
      x with s-1 = 1 zero between pixels, padded by k-p-1 = 0: [[0, 0, 1], [0, 0, 0], [2, 0, 3]]
      convolved (stride 1) with the kernel rotated by 180 degrees: [[3, 2], [1, 0]]
    scatter == dilate-pad-conv (max diff < 1e-12), and <conv2d(x, W), y> == <x, conv_transpose2d(y, W)>:
      k=4, s=2, p=1, op=0 (DCGAN's layers):        True True
      k=5, s=2, p=2, op=1 (Keras "same"):          True True
      k=3, s=1, p=1, op=0:                         True True
      k=3, s=2, p=0, op=1:                         True True
      k=2, s=2, p=0, op=0 (the seed's example):    True True
"""

import numpy as np

def out_size(h, k, s, p): return (h + 2 * p - k) // s + 1

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

def conv2d(x, W, s, p):                                               # step 8 (no bias)
    n, (c_out, _, k, _) = x.shape[0], W.shape
    y = W.reshape(c_out, -1) @ im2col(x, k, s, p)                     # (N, C_out, H_out*W_out)
    return y.reshape(n, c_out, out_size(x.shape[2], k, s, p), out_size(x.shape[3], k, s, p))

def conv_transpose2d_scatter(x, W, s, p, op=0):                       # step 9, Kiểu 1 (no bias)
    (n, c_in, h, w), (_, c_out, k, _) = x.shape, W.shape
    shape = (n, c_out, (h - 1) * s - 2 * p + k + op, (w - 1) * s - 2 * p + k + op)
    return col2im(W.reshape(c_in, -1).T @ x.reshape(n, c_in, h * w), shape, k, s, p)

def dilate_and_pad(x, s, k, p, op=0):
    """(N, C, H, W) -> (N, C, (H-1)*s + 1 + 2(k-p-1) + op, ...): s-1 zeros between pixels, k-p-1 around."""
    n, c, h, w = x.shape
    d = np.zeros((n, c, (h - 1) * s + 1, (w - 1) * s + 1))
    d[:, :, ::s, ::s] = x                                             # x's pixels s apart
    q = k - p - 1
    return np.pad(d, ((0, 0), (0, 0), (q, q + op), (q, q + op)))

def conv_transpose2d_dilate(x, W, s, p, op=0):
    """Kiểu 2: dilate, pad, then a stride-1 conv2d with the flipped kernel, channel axes swapped."""
    k = W.shape[2]
    assert p <= k - 1, "Kiểu 2 needs p <= k - 1 (the padding k - p - 1 cannot be negative)"
    flipped = W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)               # (C_out, C_in, k, k), rotated 180 degrees
    return conv2d(dilate_and_pad(x, s, k, p, op), flipped, 1, 0)

if __name__ == "__main__":
    x = w = np.array([[0.0, 1.0], [2.0, 3.0]]).reshape(1, 1, 2, 2)
    y = conv_transpose2d_dilate(x, w, 2, 1)[0, 0]
    print(f"the seed's example by definition 2 (dilate, pad, conv), s=2, p=1: {y.astype(int).tolist()}")
    print(f"  x with s-1 = 1 zero between pixels, padded by k-p-1 = 0: "
          f"{dilate_and_pad(x, 2, 2, 1)[0, 0].astype(int).tolist()}")
    print(f"  convolved (stride 1) with the kernel rotated by 180 degrees: "
          f"{w[0, 0, ::-1, ::-1].astype(int).tolist()}")
    rng = np.random.default_rng(0)
    print("scatter == dilate-pad-conv (max diff < 1e-12), and <conv2d(x, W), y> == <x, conv_transpose2d(y, W)>:")
    for k, s, p, op, note in [(4, 2, 1, 0, " (DCGAN's layers)"), (5, 2, 2, 1, ' (Keras "same")'),
                              (3, 1, 1, 0, ""), (3, 2, 0, 1, ""), (2, 2, 0, 0, " (the seed's example)")]:
        W = rng.standard_normal((3, 4, k, k))                         # conv2d: 4 -> 3 channels; transposed: 3 -> 4
        y = rng.standard_normal((2, 3, 5, 5))                         # (N, C_in, H, W) of the transposed conv
        out = conv_transpose2d_scatter(y, W, s, p, op)                # (N, 4, H', W')
        same = np.abs(out - conv_transpose2d_dilate(y, W, s, p, op)).max() < 1e-12
        x = rng.standard_normal(out.shape)                            # conv2d's input, of the same size
        adjoint = np.isclose((conv2d(x, W, s, p) * y).sum(), (x * out).sum(), rtol=1e-12)
        print(f"  {f'k={k}, s={s}, p={p}, op={op}{note}:':<45}{same} {adjoint}")
