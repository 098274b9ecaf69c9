"""im2col / col2im on raw arrays: the machinery under every convolution in minigan.

Reading order: ops/conv_shapes -> **ops/im2col** -> ops/conv.

``im2col`` lays every k x k window of the (padded) input out as one column, so a convolution is ONE
matmul; ``col2im`` is its adjoint, a scatter-add of columns back into an image, so a transposed
convolution is one matmul and one col2im. ``conv2d_array`` and ``conv_transpose2d_array`` are the two
forwards on arrays; the Functions in ops/conv.py call them (see that file for the math and the layout:
activations are NCHW views of (C, H, W, N) memory, the batch innermost).
"""

from minigan.backend import backend_of, get_array_module
from minigan.ops.conv_shapes import conv_output_size, conv_transpose_output_size


def pad_chwn(x, padding):
    """x (N, C, H, W) -> a zero-padded copy laid out (C, H+2p, W+2p, N): the order im2col reads it in."""
    n, c, h, w = x.shape
    x_pad = get_array_module(x).zeros((c, h + 2 * padding, w + 2 * padding, n), dtype=x.dtype)
    x_pad[:, padding:padding + h, padding:padding + w, :] = x.transpose(1, 2, 3, 0)
    return x_pad


def im2col(x, k, stride, padding):
    """x (N, C, H, W) -> cols (C*k*k, H_out*W_out*N): every k x k window as one column (batch innermost)."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    h_out, w_out = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    if padding > 0:
        x = pad_chwn(x, padding).transpose(3, 0, 1, 2)               # (N, C, H+2p, W+2p) view
    sn, sc, sh, sw = x.strides
    windows = xp.lib.stride_tricks.as_strided(                       # a view, nothing copied yet
        x,
        shape=(c, k, k, h_out, w_out, n),
        strides=(sc, sh, sw, sh * stride, sw * stride, sn),
    )                                                                # (C, k, k, H_out, W_out, N)
    return windows.reshape(c * k * k, h_out * w_out * n)            # the one copy


def col2im(cols, n, c, h_in, w_in, k, stride, padding, h_out, w_out):
    """Scatter-add columns back into an image and crop the padding: the adjoint of im2col.

    cols (C*k*k, h_in*w_in*N) -> (N, C, h_out, w_out). Column (c, a, b) of window (i, j) is added at
    pixel (i*s + a - p, j*s + b - p); what lands in the p-wide border (im2col's zero padding) is
    dropped. Two loops give the same sums, and each backend runs the faster one:

    - ``col2im_per_tap`` (NumPy): one strided add per tap (a, b), k^2 of them, each of only the
      windows whose tap lands inside the crop. Each add streams through memory in order, which is
      what a CPU does best.
    - ``col2im_blocks`` (CuPy, any other backend): ceil(k/s)^2 adds (4 instead of 16 for k=4, s=2)
      into the uncropped image, then the crop. On a GPU every add is a kernel launch whose host-side
      cost (tens of microseconds) is far above its arithmetic, so fewer, bigger adds win; on the CPU
      the same loop is 2-3x slower, because its six-dimensional views read memory in short jumps.
    """
    xp = get_array_module(cols)
    taps = cols.reshape(c, k, k, h_in, w_in, n)                      # (C, k, k, h_in, w_in, N) view
    if backend_of(cols) == "numpy":
        return col2im_per_tap(xp, taps, stride, padding, h_out, w_out)
    full = col2im_blocks(xp, taps, stride, h_out + 2 * padding, w_out + 2 * padding)   # (N, C, H_out+2p, W_out+2p)
    return full[:, :, padding:padding + h_out, padding:padding + w_out]             # crop p from each side


def windows_inside(a, s, p, n_in, n_out):
    """Tap a of window i lands on output row i*s + a - p. Returns (i0, i1, first row): the windows
    i0 <= i < i1 whose tap a lands inside 0 <= row < n_out, and the row window i0's tap lands on."""
    i0 = max(0, -(-(p - a) // s))                                   # ceil((p - a) / s): row >= 0
    i1 = min(n_in, -(-(n_out + p - a) // s))                         # row < n_out
    return i0, i1, i0 * s + a - p


def col2im_per_tap(xp, taps, s, p, h_out, w_out):
    """taps (C, k, k, h_in, w_in, N) -> (N, C, h_out, w_out): one strided add per tap (a, b).

    Tap (a, b) of window (i, j) goes to pixel (i*s + a - p, j*s + b - p); the windows whose tap falls
    in the cropped border are left out of that tap's add, so nothing is computed only to be cropped,
    and the result is a view of contiguous (C, h_out, w_out, N) memory, like every activation.
    Within one tap no two windows hit the same pixel, so the loop is deterministic (no atomic adds).
    """
    c, k, _, h_in, w_in, n = taps.shape
    out = xp.zeros((c, h_out, w_out, n), dtype=taps.dtype)          # (C, H_out, W_out, N)
    for a in range(k):
        i0, i1, row = windows_inside(a, s, p, h_in, h_out)
        for b in range(k):
            j0, j1, col = windows_inside(b, s, p, w_in, w_out)
            if i0 < i1 and j0 < j1:
                out[:, row:row + s * (i1 - i0):s, col:col + s * (j1 - j0):s, :] += taps[:, a, b, i0:i1, j0:j1]
    return out.transpose(3, 0, 1, 2)                                 # (N, C, H_out, W_out) view


def col2im_blocks(xp, taps, s, h_full, w_full):
    """The same sums on a grid of s x s blocks: ceil(k/s)^2 adds instead of k^2.

    Write the output row as y = s*Y + r (block Y, phase r < s) and the tap as a = s*t + r. Window i's
    tap a lands in block Y = i + t at phase r, so all the taps that share t (every phase at once) are
    ONE add of a shifted (h_in, s, w_in, s) slab onto the block grid. Deterministic, like the per-tap loop.
    """
    c, k, _, h_in, w_in, n = taps.shape
    q = -(-k // s)                                                   # ceil(k/s) taps per phase
    hb, wb = -(-h_full // s), -(-w_full // s)                        # blocks that cover the output
    out = xp.zeros((c, hb, s, wb, s, n), dtype=taps.dtype)          # (C, H_blocks, s, W_blocks, s, N)
    for t in range(q):
        r = min(s, k - s * t)                                        # phases that have a tap s*t + r
        for u in range(q):
            r2 = min(s, k - s * u)
            slab = taps[:, s * t:s * t + r, s * u:s * u + r2]        # (C, r, r2, h_in, w_in, N)
            out[:, t:t + h_in, :r, u:u + w_in, :r2] += slab.transpose(0, 3, 1, 4, 2, 5)  # (C, h_in, r, w_in, r2, N)
    out = out.reshape(c, hb * s, wb * s, n)[:, :h_full, :w_full]    # (C, H_full, W_full, N)
    return out.transpose(3, 0, 1, 2)                                 # (N, C, H_full, W_full) view


def conv2d_array(x, weight, stride, padding):
    """conv2d on raw arrays. Returns (y (N, C_out, H_out, W_out), cols) — cols kept for backward."""
    n, _, h, w = x.shape
    c_out, _, k, _ = weight.shape
    h_out, w_out = conv_output_size(h, k, stride, padding), conv_output_size(w, k, stride, padding)
    cols = im2col(x, k, stride, padding)                             # (C_in*k*k, H_out*W_out*N)
    y = weight.reshape(c_out, -1) @ cols                             # (C_out, H_out*W_out*N)
    y = y.reshape(c_out, h_out, w_out, n).transpose(3, 0, 1, 2)     # (N, C_out, H_out, W_out) view
    return y, cols


def conv_transpose2d_array(x, weight, stride, padding, output_padding):
    """Transposed conv on raw arrays, "scatter" definition: col2im(W^T @ x), cropped by p.

    x (N, C_in, H, W), weight (C_in, C_out, k, k), output_padding (op_h, op_w).
    """
    n, c_in, h, w = x.shape
    c_out, k = weight.shape[1], weight.shape[2]
    x2 = x.transpose(1, 2, 3, 0).reshape(c_in, h * w * n)           # (C_in, H*W*N), free for our layout
    op_h, op_w = output_padding
    h_out = conv_transpose_output_size(h, k, stride, padding, op_h)
    w_out = conv_transpose_output_size(w, k, stride, padding, op_w)
    cols = weight.reshape(c_in, -1).T @ x2                           # (C_out*k*k, H*W*N)
    return col2im(cols, n, c_out, h, w, k, stride, padding, h_out, w_out)   # (N, C_out, H_out, W_out)
