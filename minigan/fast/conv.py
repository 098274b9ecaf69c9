"""The convolution kernels on raw arrays, laid out for speed: batch innermost, col2im variants, kn2row.

Where this sits: minigan/fast/ holds the speed kernels (arrays in, arrays out; they import backend and
nothing above it). The lesson is ``minigan/ops/im2col.py`` and ``minigan/ops/conv.py``: there
conv2d is im2col + one matmul on plain NCHW arrays, col2im is k x k adds into the padded image then
a crop. The Functions of ops/conv.py call the kernels below at one visible line each, unless
``with mg.textbook():`` is on; the tests check that both give the same numbers.

What is different here, and why
--------------------------------
- Batch innermost: activations come out of these kernels as NCHW *views* of (C, H, W, N) memory.
  That is the layout the matmul produces when the columns are ordered (H_out, W_out, N), and numpy
  strides make the NCHW view free; elementwise ops (BatchNorm, LeakyReLU) keep it. A GAN's feature
  maps are small (4 x 4 to 32 x 32) while the batch is 64-128, so with N last every row that im2col
  copies and col2im adds is N floats long and contiguous, instead of W = 4-16.
- im2col reads the windows through one strided view (``as_strided``: no copy, just new strides), and
  the single copy happens when the view is reshaped to (C*k*k, H_out*W_out*N).
- col2im crops as it adds (NumPy: ``col2im_per_tap``) or adds s x s blocks at once (CuPy:
  ``col2im_blocks``, fewer kernel launches).
- kn2row (``conv2d_kn2row``) for a stride-1 conv with few output channels: multiply first, add after.
- ``fastest_conv_transpose`` picks "scatter" or "subpixel" per layer (the sub-pixel definition itself
  is a lesson of its own: ops/conv_subpixel.py).
"""

from minigan.backend import backend_of, get_array_module


def output_size(h, k, s, p):
    """floor((h + 2p - k)/s) + 1: conv2d's output size (ops/im2col.conv_output_size)."""
    return (h + 2 * p - k) // s + 1


def transposed_output_size(h, k, s, p, op=0):
    """(h - 1)s - 2p + k + op: the transposed conv's output size (ops/im2col)."""
    return (h - 1) * s - 2 * p + k + op


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
    h_out, w_out = output_size(h, k, stride, padding), output_size(w, k, stride, padding)
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
    h_out, w_out = output_size(h, k, stride, padding), output_size(w, k, stride, padding)
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
    h_out = transposed_output_size(h, k, stride, padding, op_h)
    w_out = transposed_output_size(w, k, stride, padding, op_w)
    cols = weight.reshape(c_in, -1).T @ x2                           # (C_out*k*k, H*W*N)
    return col2im(cols, n, c_out, h, w, k, stride, padding, h_out, w_out)   # (N, C_out, H_out, W_out)


def conv2d_weight_grad(x, g, k, stride, padding, cols=None):
    """conv2d's weight gradient gw = g2 @ cols^T, (C_out, C_in, k, k), reusing the forward's cols if given.
    x (N, C_in, H, W), g (N, C_out, H_out, W_out)."""
    c_out, c_in = g.shape[1], x.shape[1]
    if cols is None:
        cols = im2col(x, k, stride, padding)                         # (C_in*k*k, H_out*W_out*N)
    g2 = g.transpose(1, 2, 3, 0).reshape(c_out, -1)                  # (C_out, H_out*W_out*N)
    return (g2 @ cols.T).reshape(c_out, c_in, k, k)                  # (C_out, C_in*k*k) -> (C_out, C_in, k, k)


# ----------------------------------------------------------------------------------------------------
# kn2row: conv2d at stride 1 for a layer with fewer output than input channels
# ----------------------------------------------------------------------------------------------------
def prefers_kn2row(c_in, c_out, k, stride, padding, h, w):
    """True where kn2row's intermediate (C_out*k*k, Hp*Wp*N) is smaller than im2col's (C_in*k*k,
    H_out*W_out*N): stride 1 (kn2row as written here), padding <= k-1 (for its input gradient), and
    C_out * Hp * Wp < C_in * H_out * W_out, i.e. roughly fewer output than input channels."""
    hp, wp = h + 2 * padding, w + 2 * padding
    return stride == 1 and padding <= k - 1 and c_out * hp * wp < c_in * (hp - k + 1) * (wp - k + 1)


def conv2d_kn2row(x, weight, padding):
    """conv2d at stride 1 for a layer with fewer output than input channels: multiply first, add after.
    Returns (y (N, C_out, H_out, W_out), x_pad (C_in, Hp, Wp, N), kept for the weight gradient).

    im2col copies every k x k window into cols (C_in*k*k, H_out*W_out*N) and multiplies once. "kn2row"
    turns that around: multiply every (padded) input pixel by every tap first, then add up k*k shifted
    slices of the product T:

        T = W' @ x_pad          W' (C_out*k*k, C_in),  x_pad (C_in, Hp*Wp*N)  ->  (C_out, k, k, Hp, Wp, N)
        y[o, i, j] = sum_{a,b} T[o, a, b, i + a, j + b]

    Nearly the same multiplications (Hp*Wp / (H_out*W_out) times as many: the padding pixels are
    multiplied too, 1.5x for the layer below); what changes is the size of the intermediate:
    (C_out*k*k, Hp*Wp*N) instead of (C_in*k*k, H_out*W_out*N). For the cGAN's last layer (128 -> 1
    channel, 7x7, padding 3) at batch 64 that is 49 x 74,000 floats instead of 6,272 x 50,000
    (1.26 GB). ``ops.conv.conv2d`` picks whichever intermediate is smaller; the tests check that both give the
    same numbers.
    """
    xp = get_array_module(x)
    n, c_in, _, _ = x.shape
    c_out, _, k, _ = weight.shape
    x_pad = pad_chwn(x, padding)                                     # (C_in, Hp, Wp, N)
    _, hp, wp, _ = x_pad.shape
    h_out, w_out = hp - k + 1, wp - k + 1
    w_taps = weight.transpose(0, 2, 3, 1).reshape(c_out * k * k, c_in)          # (C_out*k*k, C_in)
    t = (w_taps @ x_pad.reshape(c_in, -1)).reshape(c_out, k, k, hp, wp, n)      # every tap of every pixel
    y = xp.zeros((c_out, h_out, w_out, n), dtype=t.dtype)            # (C_out, H_out, W_out, N)
    for a in range(k):
        for b in range(k):
            y += t[:, a, b, a:a + h_out, b:b + w_out]                 # tap (a, b) of pixel (i+a, j+b) -> (i, j)
    return y.transpose(3, 0, 1, 2), x_pad                            # (N, C_out, H_out, W_out) view


def conv2d_kn2row_weight_grad(x_pad, g, k):
    """The weight gradient of a kn2row conv2d (stride 1), from the padded input, without the k*k windows:
    the same function as ``conv2d_weight_grad``.

        gw[o, c, a, b] = sum_{i, j, n} g[o, i, j, n] * x_pad[c, i + a, j + b, n]

    For one kernel row a, the input rows a .. a + H_out - 1 of every channel are ONE contiguous block
    of x_pad's (C_in, Hp, Wp, N) memory: ``rows_a`` (C_in, H_out*Wp*N) is a view, nothing copied. The
    column offset b moves to g instead: ``shifted[b]`` is g written into a zero (C_out, H_out, Wp, N)
    array at columns b .. b + W_out - 1 (k copies of g, which is small: C_out is). Then
        gw[:, :, a, :] = rows_a @ shifted^T          (C_in, H_out*Wp*N) @ (H_out*Wp*N, k*C_out)
    k matmuls in all, with Wp / W_out times the minimal multiplications (the zero columns of shifted);
    the window-by-window loop it replaces copied all k*k windows of x, one (C_in, H_out*W_out*N) copy
    each, and multiplied each by g alone (see docs/benchmarks.md for the time it saves).
    """
    xp = get_array_module(g)
    c_out, h_out, w_out = g.shape[1], g.shape[2], g.shape[3]
    c_in, hp, wp, n = x_pad.shape
    shifted = xp.zeros((k, c_out, h_out, wp, n), dtype=g.dtype)     # g at column offset b, for each b
    for b in range(k):
        shifted[b, :, :, b:b + w_out] = g.transpose(1, 2, 3, 0)      # (C_out, H_out, W_out, N)
    shifted = shifted.reshape(k * c_out, h_out * wp * n)             # (k*C_out, H_out*Wp*N)
    gw = xp.empty((c_out, c_in, k, k), dtype=g.dtype)                # (C_out, C_in, k, k)
    for a in range(k):
        rows_a = x_pad[:, a:a + h_out].reshape(c_in, h_out * wp * n)   # (C_in, H_out*Wp*N), a view
        gw[:, :, a, :] = (rows_a @ shifted.T).reshape(c_in, k, c_out).transpose(2, 0, 1)   # (C_out, C_in, k)
    return gw


# ----------------------------------------------------------------------------------------------------
# Which definition of the transposed convolution runs faster
# ----------------------------------------------------------------------------------------------------
def fastest_conv_transpose(backend, c_in, c_out):
    """The faster array definition of a transposed conv C_in -> C_out: "scatter" or "subpixel".

    What each one writes and reads (k x k kernel, H*W*N input pixels, any stride): scatter's cols are
    (C_out*k*k, H*W*N), then k*k scatter-adds into the output; the sub-pixel phases' cols add up to
    (C_in*k*k, H*W*N) (every kernel tap belongs to exactly one phase), and the output is written once.
    So on NumPy the sub-pixel wins while C_in is not much larger than C_out, scatter when C_out is
    small. Measured forward times, subpixel / scatter (benchmarks/bench_conv_transpose.py, one
    process, interleaved, 2-core CPU, busy; one BLAS thread; batch 64 / 128; docs/benchmarks.md):
    the cGAN's 129->128, 128->128 (k=4) and 128->128 (k=3): 0.81-0.87 / 0.73-0.94; the DCGAN's
    512->256 ... 128->64 (C_in = 2 C_out): 0.94-1.17 / 1.07-1.34; 64->3 and 128->2: 8-43. Hence the
    line at C_in <= 1.5 C_out: the cGAN's layers go sub-pixel, the DCGAN's stay scatter. With the
    default two BLAS threads on a quiet machine (2026-12-02 18:00) the same line holds in all 16 rows:
    cGAN 0.73-0.81 / 0.65-0.87, DCGAN 1.13-1.36 / 0.99-1.29, 64->3 and 128->2: 9-14. (On a busy
    machine the sub-pixel lost almost everywhere with two threads: each of its s*s matmuls waits for
    the second thread to be scheduled, where scatter waits once.) With OpenBLAS's AVX-512 kernels
    (OPENBLAS_CORETYPE unset, 2026-12-03) the line holds again in all 16 rows: DCGAN 1.20-1.92,
    cGAN 0.69-0.86, the 2-3-channel layers 11-16.

    On CuPy (and the strict test backend) scatter: its col2im_blocks is 1 matmul + 5 kernels, the
    sub-pixel 4 matmuls + about 15 kernels, and a GPU running this model is limited by launches.
    (Not measured on a GPU yet: `bench_conv_transpose.py --backend cupy` is the check to run there.)
    """
    if backend == "numpy" and 2 * c_in <= 3 * c_out:
        return "subpixel"
    return "scatter"
