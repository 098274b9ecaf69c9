"""Output sizes, and im2col / col2im the textbook way: every convolution in minigan is one matrix multiply.

Reading order: ops/activations -> **ops/im2col** -> ops/conv.

Pad x (N, C, H, W) with p zeros on each side. Window (i, j) of a k x k kernel at stride s is
x_pad[:, :, i*s : i*s + k, j*s : j*s + k]. ``im2col`` writes every window as one column:

    cols[n, (c, a, b), (i, j)] = x_pad[n, c, i*s + a, j*s + b]        cols: (N, C*k*k, H_out*W_out)

so conv2d is one matrix multiply per sample, y[n] = W.reshape(C_out, C*k*k) @ cols[n]. ``col2im`` is
its adjoint (its transpose): each column entry is ADDED back at the pixel it was read from (the
windows overlap, so contributions add up), then the padding is cropped. That makes the transposed
convolution "W^T @ x, then col2im" (Kiểu 1, the scatter), and conv2d's input gradient the same thing.

Both loops run over the k*k kernel taps (a, b), not over the H_out*W_out windows: tap (a, b) of every
window at once is the strided slice x_pad[:, :, a : a + s*H_out : s, b : b + s*W_out : s].

minigan/fast/conv.py holds the same two functions laid out for speed (batch innermost, one strided
view instead of k*k copies, col2im cropping as it adds). ``ops/conv.py`` calls those by default and
these under ``with mg.textbook():``; the tests check that both give the same numbers.

Output sizes
------------
Notation: H input size, k kernel size, s stride, p padding, op output_padding.

    convolution             H_out = floor((H + 2p - k) / s) + 1
    transposed convolution  H_out = (H - 1) s - 2p + k + op         (0 <= op < s)

The floor in the first formula is why ``output_padding`` exists: with k = 3, s = 2, p = 1 both H = 7
and H = 8 give a conv output of 4. Going back from 4, the transposed convolution gives
(4 - 1)*2 - 2 + 3 = 7, plus op: op = 0 picks 7 and op = 1 picks 8.
"""

import operator

from minigan.backend import get_array_module


# ----------------------------------------------------------------------------------------------------
# Output sizes (tools/shapes.py explains them with the numbers filled in)
# ----------------------------------------------------------------------------------------------------
def conv_output_size(h, k, s=1, p=0):
    """Spatial output size of a convolution: floor((h + 2p - k) / s) + 1."""
    return (h + 2 * p - k) // s + 1


def conv_transpose_output_size(h, k, s=1, p=0, output_padding=0):
    """Spatial output size of a transposed convolution: (h - 1) s - 2p + k + output_padding."""
    return (h - 1) * s - 2 * p + k + output_padding


def output_padding_pair(output_padding):
    """``output_padding`` as (op_h, op_w): 1 -> (1, 1), (1, 0) -> (1, 0); (None, None) if it is neither."""
    if as_int(output_padding) is not None:
        return as_int(output_padding), as_int(output_padding)
    if isinstance(output_padding, (tuple, list)) and len(output_padding) == 2:
        op_h, op_w = (as_int(v) for v in output_padding)
        if op_h is not None and op_w is not None:
            return op_h, op_w
    return None, None


def as_int(value):
    """``value`` as a Python int if it is an integer of any kind (3, np.int64(3)), else None.

    (``operator.index`` is how Python asks "are you an integer?"; bools are refused on purpose.)
    """
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


# ----------------------------------------------------------------------------------------------------
# im2col and col2im
# ----------------------------------------------------------------------------------------------------
def im2col(x, k, stride, padding):
    """x (N, C, H, W) -> cols (N, C*k*k, H_out*W_out): every k x k window as one column.

    Example: x (2, 3, 5, 5), k=3, s=1, p=1 -> cols (2, 27, 25): 25 windows of 3*3*3 numbers each."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    s, p = stride, padding
    h_out, w_out = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)
    x_pad = xp.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))             # (N, C, H+2p, W+2p)
    cols = xp.empty((n, c, k, k, h_out, w_out), dtype=x.dtype)      # (N, C, k, k, H_out, W_out)
    for a in range(k):
        for b in range(k):                                           # tap (a, b) of every window at once
            cols[:, :, a, b] = x_pad[:, :, a:a + s * h_out:s, b:b + s * w_out:s]   # (N, C, H_out, W_out)
    return cols.reshape(n, c * k * k, h_out * w_out)                 # (N, C*k*k, H_out*W_out)


def col2im(cols, image_shape, k, stride, padding):
    """cols (N, C*k*k, h*w) -> an image of ``image_shape`` (N, C, H, W): the adjoint of im2col.

    (h, w) = (conv_output_size(H, k, s, p), ...) windows. Column entry (c, a, b) of window (i, j) is
    added at x_pad[n, c, i*s + a, j*s + b]; then p rows/columns are cropped from each side.
    Example: cols (2, 27, 25), image (2, 3, 5, 5), k=3, s=1, p=1: 25 windows added into (2, 3, 7, 7),
    cropped to (2, 3, 5, 5)."""
    xp = get_array_module(cols)
    n, c, h, w = image_shape
    s, p = stride, padding
    h_in, w_in = conv_output_size(h, k, s, p), conv_output_size(w, k, s, p)   # the windows
    taps = cols.reshape(n, c, k, k, h_in, w_in)                      # (N, C, k, k, h, w)
    x_pad = xp.zeros((n, c, h + 2 * p, w + 2 * p), dtype=cols.dtype)   # (N, C, H+2p, W+2p)
    for a in range(k):
        for b in range(k):                                           # k*k adds; overlapping windows add up
            x_pad[:, :, a:a + s * h_in:s, b:b + s * w_in:s] += taps[:, :, a, b]
    return x_pad[:, :, p:p + h, p:p + w]                             # crop p from each side: (N, C, H, W)
