"""Convolution and transposed convolution (three definitions), built on im2col / col2im.

Reading order: ops/conv_shapes -> ops/im2col -> **ops/conv** -> ops/conv_subpixel -> ops/norm.

Notation: x (N, C_in, H, W), conv weight W (C_out, C_in, k, k), stride s, padding p,
H_out = floor((H + 2p - k)/s) + 1. Transposed conv weight W (C_in, C_out, k, k) (PyTorch's layouts).

conv2d as one matrix multiply (im2col)
--------------------------------------
    y[n, o, i, j] = sum_{c, a, b} W[o, c, a, b] * x_pad[n, c, i*s + a, j*s + b]

``im2col`` lays every k x k window out as one column: cols (C_in*k*k, H_out*W_out*N). Then
y = W.reshape(C_out, C_in*k*k) @ cols is ONE big matmul. The windows are read through a strided view
(``as_strided``: no copy, just new strides), and the single copy happens when the view is reshaped.

Backward, and the duality
-------------------------
    dW = g @ cols^T                              (C_out, H_out*W_out*N) @ (H_out*W_out*N, C_in*k*k)
    dx = conv_transpose2d(g, W)                  the transposed conv IS conv2d's input gradient

and for the transposed convolution the roles swap: its input gradient is conv2d(g, W).

Transposed convolution, definition 1: "scatter" (Kieu 1)
    each input pixel multiplies the kernel and is added into the output at stride steps, overlaps
    summed; then p rows/columns are cropped from each side. In matrices: col2im(W^T @ x), the adjoint
    (transpose) of conv2d's im2col + matmul.
Transposed convolution, definition 2: "dilate" (Kieu 2)
    insert z = s - 1 zeros between input pixels, pad p' = k - p - 1 on each side (+ output_padding on
    the bottom/right), then a stride-1 conv2d with the kernel flipped and its in/out channels swapped.
    Composed from visible Tensor ops (dilate2d -> pad2d -> conv2d), so autograd derives its backward.
Transposed convolution, definition 3: "subpixel" (ops/conv_subpixel.py)
    s*s stride-1 convolutions with the flipped sub-kernels W[:, :, r::s, c::s], each written into one
    phase y[phase_h::s, phase_w::s] of the output. Same Function as scatter (ConvTranspose2d), whose
    forward and conv2d's input gradient pick the faster of the two (``fastest_conv_transpose``).
The tests check that all give the same numbers, and that <conv2d(x, W), y> = <x, conv_transpose2d(y, W)>.

Memory layout: activations come out of these ops as NCHW *views* of (C, H, W, N) memory, the batch
innermost. That is the layout the matmul produces when the columns are ordered (H_out, W_out, N), and
numpy strides make the NCHW view free; elementwise ops (BatchNorm, LeakyReLU) keep it. Why the batch
innermost: a GAN's feature maps are small (4 x 4 to 32 x 32) while the batch is 64-128, so with N last
every row that im2col copies and col2im adds is N floats long and contiguous, instead of W = 4-16.
"""

from minigan.autograd import Function
from minigan.backend import backend_of, get_array_module
from minigan.ops.conv_shapes import (  # noqa: F401  (re-exported for learners)
    conv_output_size,
    as_int,
    conv_transpose_output_size,
    explain_conv_transpose,
    output_padding_pair,
    padding_choices,
)
from minigan.ops.conv_subpixel import conv_transpose2d_subpixel_array, fastest_conv_transpose
from minigan.ops.im2col import (  # noqa: F401  (re-exported: the tests and benchmarks use them)
    col2im,
    col2im_blocks,
    col2im_per_tap,
    conv2d_array,
    conv_transpose2d_array,
    im2col,
    pad_chwn,
)
from minigan.ops.shape import dilate2d, pad2d, permute


# ----------------------------------------------------------------------------------------------------
# The two Functions: each one's backward calls the other one's forward
# ----------------------------------------------------------------------------------------------------
class Conv2d(Function):
    def __init__(self, stride, padding):
        self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        y, self.cols = conv2d_array(x, weight, self.stride, self.padding)
        if bias is not None:
            y += bias[:, None, None]                                 # (C_out, 1, 1) broadcast
        return y

    def backward(self, g):                                           # g: (N, C_out, H_out, W_out)
        x, weight = self.inputs[0], self.inputs[1]
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            # the transposed convolution of g IS the input gradient (output_padding: see restoring_padding)
            op = restoring_padding(x.shape, g.shape, weight.shape[2], self.stride, self.padding)
            gx = ConvTranspose2d(self.stride, self.padding, op)(g, weight)          # (N, C_in, H, W)
        if self.needs_input_grad[1]:
            k = weight.shape[2]
            gw = Conv2dWeightGrad(k, self.stride, self.padding, self.cols)(x, g)  # (C_out, C_in, k, k)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = bias_grad(g)                                        # (C_out,)
        return gx, gw, gb


def restoring_padding(x_shape, y_shape, k, stride, padding):
    """The output_padding (op_h, op_w) with which a transposed conv maps y's size back to x's: it
    restores the rows/columns that the floor in H_out = floor((H + 2p - k)/s) + 1 dropped."""
    return (x_shape[2] - conv_transpose_output_size(y_shape[2], k, stride, padding),
            x_shape[3] - conv_transpose_output_size(y_shape[3], k, stride, padding))


def bias_grad(g):
    """The gradient of a per-channel bias: g summed over (N, H, W), read in g's (C, H, W, N) memory order."""
    c = g.shape[1]
    return g.permute(1, 2, 3, 0).reshape(c, -1).sum(axis=1)        # (C, H*W*N) -> (C,)


class Conv2dWeightGrad(Function):
    """gw = dL/dW of a conv2d, as an op of its own: gw(x, g) = g2 @ cols(x)^T.

    Forward: the im2col matmul of conv2d's backward, reusing the ``cols`` that conv2d's forward saved
    (so the first-order backward does no extra work). gw is linear in g and in x, so its backward is
    two convolutions again (G = dL/dgw, weight-shaped (C_out, C_in, k, k)):
        d<G, gw>/dg = conv2d(x, G)                  (N, C_out, H_out, W_out)
        d<G, gw>/dx = conv_transpose2d(g, G)        (N, C_in, H, W)
    It also serves the transposed convolution, whose weight gradient is Conv2dWeightGrad(g, x).
    """

    def __init__(self, k, stride, padding, cols=None):
        self.k, self.stride, self.padding, self.cols = k, stride, padding, cols

    def forward(self, x, g):                                         # x: (N, C_in, H, W), g: (N, C_out, H', W')
        c_out, c_in, k = g.shape[1], x.shape[1], self.k
        cols = self.cols if self.cols is not None else im2col(x, k, self.stride, self.padding)
        self.cols = None                                             # backward does not need them
        g2 = g.transpose(1, 2, 3, 0).reshape(c_out, -1)              # (C_out, H_out*W_out*N)
        return (g2 @ cols.T).reshape(c_out, c_in, k, k)              # (C_out, C_in*k*k) -> (C_out, C_in, k, k)

    def backward(self, gg):                                          # gg: (C_out, C_in, k, k)
        x, g = self.inputs
        gx = g_g = None
        if self.needs_input_grad[0]:
            op = restoring_padding(x.shape, g.shape, gg.shape[2], self.stride, self.padding)
            gx = ConvTranspose2d(self.stride, self.padding, op)(g, gg)               # (N, C_in, H, W)
        if self.needs_input_grad[1]:
            g_g = Conv2d(self.stride, self.padding)(x, gg)                           # (N, C_out, H', W')
        return gx, g_g


class Conv2dKn2row(Function):
    """conv2d at stride 1 for a layer with fewer output than input channels: multiply first, add after.

    im2col copies every k x k window into cols (C_in*k*k, H_out*W_out*N) and multiplies once. "kn2row"
    turns that around: multiply every (padded) input pixel by every tap first, then add up k*k shifted
    slices of the product T:

        T = W' @ x_pad          W' (C_out*k*k, C_in),  x_pad (C_in, Hp*Wp*N)  ->  (C_out, k, k, Hp, Wp, N)
        y[o, i, j] = sum_{a,b} T[o, a, b, i + a, j + b]

    Nearly the same multiplications (Hp*Wp / (H_out*W_out) times as many: the padding pixels are
    multiplied too, 1.5x for the layer below); what changes is the size of the intermediate:
    (C_out*k*k, Hp*Wp*N) instead of (C_in*k*k, H_out*W_out*N). For the cGAN's last layer (128 -> 1
    channel, 7x7, padding 3) at batch 64 that is 49 x 74,000 floats instead of 6,272 x 50,000
    (1.26 GB). ``conv2d`` picks whichever intermediate is smaller; the tests check that both give the
    same numbers.
    """

    def __init__(self, padding):
        self.padding = padding

    def forward(self, x, weight, bias=None):
        xp = get_array_module(x)
        n, c_in, _, _ = x.shape
        c_out, _, k, _ = weight.shape
        self.x_pad = pad_chwn(x, self.padding)                        # (C_in, Hp, Wp, N)
        _, hp, wp, _ = self.x_pad.shape
        h_out, w_out = hp - k + 1, wp - k + 1
        w_taps = weight.transpose(0, 2, 3, 1).reshape(c_out * k * k, c_in)          # (C_out*k*k, C_in)
        t = (w_taps @ self.x_pad.reshape(c_in, -1)).reshape(c_out, k, k, hp, wp, n)  # every tap of every pixel
        y = xp.zeros((c_out, h_out, w_out, n), dtype=t.dtype)       # (C_out, H_out, W_out, N)
        for a in range(k):
            for b in range(k):
                y += t[:, a, b, a:a + h_out, b:b + w_out]            # tap (a, b) of pixel (i+a, j+b) -> (i, j)
        y = y.transpose(3, 0, 1, 2)                                  # (N, C_out, H_out, W_out) view
        if bias is not None:
            y += bias[:, None, None]                                 # (C_out, 1, 1) broadcast
        return y

    def backward(self, g):                                           # g: (N, C_out, H_out, W_out)
        x, weight = self.inputs[0], self.inputs[1]
        k = weight.shape[2]
        gx = gw = gb = None
        if self.needs_input_grad[0]:
            # at stride 1 the transposed conv of g IS a conv2d: the kernel flipped and its in/out channels
            # swapped, padding k-1-p (definition 2 with no zeros to insert). Its im2col has C_out*k*k rows.
            flipped = weight.permute(1, 0, 2, 3)[:, :, ::-1, ::-1]            # (C_in, C_out, k, k)
            gx = Conv2d(1, k - 1 - self.padding)(g, flipped)                     # (N, C_in, H, W)
        if self.needs_input_grad[1]:
            gw = Conv2dKn2rowWeightGrad(k, self.padding, self.x_pad)(x, g)     # (C_out, C_in, k, k)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = bias_grad(g)                                        # (C_out,)
        return gx, gw, gb


class Conv2dKn2rowWeightGrad(Conv2dWeightGrad):
    """The weight gradient of Conv2dKn2row (stride 1): the same function as Conv2dWeightGrad, computed
    from the padded input without building the k*k windows (cols). Its backward is inherited: the
    same two convolutions.

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

    def __init__(self, k, padding, x_pad=None):
        super().__init__(k, 1, padding)
        self.x_pad = x_pad                                           # (C_in, Hp, Wp, N), saved by forward

    def forward(self, x, g):
        xp = get_array_module(g)
        c_out, c_in, k = g.shape[1], x.shape[1], self.k
        h_out, w_out = g.shape[2], g.shape[3]
        x_pad = self.x_pad if self.x_pad is not None else pad_chwn(x, self.padding)
        self.x_pad = None                                            # backward does not need it
        _, hp, wp, n = x_pad.shape
        shifted = xp.zeros((k, c_out, h_out, wp, n), dtype=g.dtype)  # g at column offset b, for each b
        for b in range(k):
            shifted[b, :, :, b:b + w_out] = g.transpose(1, 2, 3, 0)  # (C_out, H_out, W_out, N)
        shifted = shifted.reshape(k * c_out, h_out * wp * n)         # (k*C_out, H_out*Wp*N)
        gw = xp.empty((c_out, c_in, k, k), dtype=g.dtype)            # (C_out, C_in, k, k)
        for a in range(k):
            rows_a = x_pad[:, a:a + h_out].reshape(c_in, h_out * wp * n)   # (C_in, H_out*Wp*N), a view
            gw[:, :, a, :] = (rows_a @ shifted.T).reshape(c_in, k, c_out).transpose(2, 0, 1)   # (C_out, C_in, k)
        return gw


def prefers_kn2row(c_in, c_out, k, stride, padding, h, w):
    """True where Conv2dKn2row's intermediate (C_out*k*k, Hp*Wp*N) is smaller than im2col's (C_in*k*k,
    H_out*W_out*N): stride 1 (kn2row as written here), padding <= k-1 (for its input gradient), and
    C_out * Hp * Wp < C_in * H_out * W_out, i.e. roughly fewer output than input channels."""
    hp, wp = h + 2 * padding, w + 2 * padding
    return stride == 1 and padding <= k - 1 and c_out * hp * wp < c_in * (hp - k + 1) * (wp - k + 1)


CONV_TRANSPOSE_METHODS = ("auto", "scatter", "dilate", "subpixel")


class ConvTranspose2d(Function):
    """The transposed convolution on arrays: "scatter" (definition 1) or "subpixel" (definition 3).

    Both compute the same linear map, so they share this backward: conv2d of g.
    """

    def __init__(self, stride, padding, output_padding, method="auto"):
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.method = method                                         # "scatter", "subpixel" or "auto"

    def forward(self, x, weight, bias=None):
        method = self.method
        if method == "auto":                                         # the faster definition here (measured)
            method = fastest_conv_transpose(backend_of(x), weight.shape[0], weight.shape[1])
        if method == "subpixel":
            y = conv_transpose2d_subpixel_array(x, weight, self.stride, self.padding, self.output_padding)
        else:                                                        # "scatter"
            y = conv_transpose2d_array(x, weight, self.stride, self.padding, self.output_padding)
        if bias is not None:
            y += bias[:, None, None]                                 # (C_out, 1, 1) broadcast
        return y

    def backward(self, g):                                           # g: (N, C_out, H_out, W_out)
        x, weight = self.inputs[0], self.inputs[1]
        gx = gw = gb = None
        g_cols = None
        if self.needs_input_grad[0]:
            # conv2d IS the input gradient: the same weight, read as (C_out'=C_in, C_in'=C_out, k, k)
            conv = Conv2d(self.stride, self.padding)
            gx = conv(g, weight)                                     # (N, C_in, H, W)
            g_cols = conv.cols                                       # (C_out*k*k, H*W*N): reused below
        if self.needs_input_grad[1]:
            # gw[c, o, a, b] = sum x[n, c, i, j] g_pad[n, o, i*s + a, j*s + b]: conv2d's weight
            # gradient with the roles of input and upstream gradient swapped
            k = weight.shape[2]
            gw = Conv2dWeightGrad(k, self.stride, self.padding, g_cols)(g, x)   # (C_in, C_out, k, k)
        if len(self.needs_input_grad) == 2:
            return gx, gw
        if self.needs_input_grad[2]:
            gb = g.sum(axis=(0, 2, 3))                               # (C_out,)
        return gx, gw, gb


# ----------------------------------------------------------------------------------------------------
# Public functions (with their checks)
# ----------------------------------------------------------------------------------------------------
def _check_conv_args(name, x, weight, stride, padding, channel_axis):
    for what, value in (("input", x), ("weight", weight)):
        if not hasattr(value, "ndim"):
            raise TypeError(f"{name}: expected the {what} as a Tensor, got {type(value).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W), got shape {tuple(x.shape)}")
    if weight.ndim != 4 or weight.shape[2] != weight.shape[3]:
        raise ValueError(f"{name}: expected a square 4-D weight, got shape {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[channel_axis]:
        raise ValueError(
            f"{name}: the input has {x.shape[1]} channels, the weight {tuple(weight.shape)} expects "
            f"{weight.shape[channel_axis]} (input shape {tuple(x.shape)})"
        )
    stride, padding = as_int(stride), as_int(padding)
    if stride is None or stride < 1 or padding is None or padding < 0:
        raise ValueError(f"{name}: stride must be an int >= 1 and padding an int >= 0, got {stride!r}, {padding!r}")
    return stride, padding



def conv2d(x, weight, bias=None, stride=1, padding=0):
    """2-D convolution (cross-correlation, like PyTorch).

    x (N, C_in, H, W), weight (C_out, C_in, k, k), bias (C_out,) -> (N, C_out, H_out, W_out),
    H_out = floor((H + 2p - k)/s) + 1. Example: (8, 3, 32, 32) with (64, 3, 4, 4), s=2, p=1 -> (8, 64, 16, 16).
    """
    stride, padding = _check_conv_args("conv2d", x, weight, stride, padding, channel_axis=1)
    k = weight.shape[2]
    if x.shape[2] + 2 * padding < k or x.shape[3] + 2 * padding < k:
        raise ValueError(
            f"conv2d: input {tuple(x.shape)} with padding {padding} is smaller than the {k}x{k} kernel"
        )
    inputs = (x, weight) if bias is None else (x, weight, bias)
    if prefers_kn2row(x.shape[1], weight.shape[0], k, stride, padding, x.shape[2], x.shape[3]):
        return Conv2dKn2row(padding)(*inputs)                        # few output channels: see Conv2dKn2row
    return Conv2d(stride, padding)(*inputs)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, method="auto"):
    """2-D transposed convolution ("deconvolution"), the gradient of conv2d w.r.t. its input.

    x (N, C_in, H, W), weight (C_in, C_out, k, k), bias (C_out,) -> (N, C_out, H_out, W_out),
    H_out = (H - 1) s - 2p + k + output_padding. Example: (8, 512, 2, 2) with (512, 256, 4, 4), s=2, p=1
    -> (8, 256, 4, 4). ``method`` is "scatter" (definition 1), "dilate" (definition 2), "subpixel"
    (definition 3, ops/conv_subpixel.py) or "auto" (the faster of scatter and subpixel for this backend
    and shape: ``fastest_conv_transpose``); all give the same numbers.
    """
    stride, padding = _check_conv_args("conv_transpose2d", x, weight, stride, padding, channel_axis=0)
    op_h, op_w = output_padding_pair(output_padding)
    if op_h is None or not (0 <= op_h < stride and 0 <= op_w < stride):
        raise ValueError(
            "conv_transpose2d: output_padding must be an int or an (int, int) pair with "
            f"0 <= output_padding < stride ({stride}), got {output_padding!r}"
        )
    k = weight.shape[2]
    h_out = conv_transpose_output_size(x.shape[2], k, stride, padding, op_h)   # each axis with its own op
    w_out = conv_transpose_output_size(x.shape[3], k, stride, padding, op_w)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"conv_transpose2d: padding {padding} leaves no output for input {tuple(x.shape)} "
                         f"(output {h_out}x{w_out})")
    if method in ("scatter", "subpixel", "auto"):
        inputs = (x, weight) if bias is None else (x, weight, bias)
        return ConvTranspose2d(stride, padding, (op_h, op_w), method)(*inputs)
    if method == "dilate":
        return conv_transpose2d_dilate(x, weight, bias, stride, padding, (op_h, op_w))
    raise ValueError(f"conv_transpose2d: method must be one of {CONV_TRANSPOSE_METHODS}, got {method!r}")


def conv_transpose2d_dilate(x, weight, bias, stride, padding, output_padding):
    """Definition 2, as visible steps: dilate -> pad -> stride-1 conv2d with the flipped kernel."""
    k = weight.shape[2]
    p_prime = k - padding - 1                                        # p' = k - p - 1
    if p_prime < 0:
        raise ValueError(
            f"conv_transpose2d(method='dilate'): padding {padding} > k - 1 = {k - 1} gives p' < 0; "
            "use method='scatter'"
        )
    op_h, op_w = output_padding
    z = dilate2d(x, stride)                                          # (N, C_in, (H-1)s+1, (W-1)s+1)
    z = pad2d(z, p_prime, p_prime + op_h, p_prime, p_prime + op_w)   # (N, C_in, (H-1)s+1+2p'+op, ...)
    flipped = permute(weight, 1, 0, 2, 3)[:, :, ::-1, ::-1]          # (C_out, C_in, k, k), rotated 180°
    return conv2d(z, flipped, bias, stride=1, padding=0)             # (N, C_out, H_out, W_out)
