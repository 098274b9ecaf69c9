"""Convolution and transposed convolution (three definitions), built on im2col / col2im.

Reading order: ops/im2col -> **ops/conv** -> ops/conv_subpixel -> ops/norm.

Notation: x (N, C_in, H, W), conv weight W (C_out, C_in, k, k), stride s, padding p,
H_out = floor((H + 2p - k)/s) + 1. Transposed conv weight W (C_in, C_out, k, k) (PyTorch's layouts).

conv2d as one matrix multiply (im2col)
--------------------------------------
    y[n, o, i, j] = sum_{c, a, b} W[o, c, a, b] * x_pad[n, c, i*s + a, j*s + b]

``im2col`` (ops/im2col.py) lays every k x k window out as one column: cols (N, C_in*k*k, H_out*W_out).
Then y[n] = W.reshape(C_out, C_in*k*k) @ cols[n] is one matmul per sample.

Backward, and the duality
-------------------------
    dW = sum_n g[n] @ cols[n]^T                  (C_out, H_out*W_out) @ (H_out*W_out, C_in*k*k)
    dx = conv_transpose2d(g, W)                  the transposed conv IS conv2d's input gradient

and for the transposed convolution the roles swap: its input gradient is conv2d(g, W).

Transposed convolution, definition 1: "scatter" (Kiểu 1)
    each input pixel multiplies the kernel and is added into the output at stride steps, overlaps
    summed; then p rows/columns are cropped from each side. In matrices: col2im(W^T @ x), the adjoint
    (transpose) of conv2d's im2col + matmul.
Transposed convolution, definition 2: "dilate" (Kiểu 2)
    insert z = s - 1 zeros between input pixels, pad p' = k - p - 1 on each side (+ output_padding on
    the bottom/right), then a stride-1 conv2d with the kernel flipped and its in/out channels swapped.
    Composed from visible Tensor ops (dilate2d -> pad2d -> conv2d), so autograd derives its backward.
Transposed convolution, definition 3: "subpixel" (ops/conv_subpixel.py)
    s*s stride-1 convolutions with the flipped sub-kernels W[:, :, r::s, c::s], each written into one
    phase y[phase_h::s, phase_w::s] of the output. Same Function as scatter (ConvTranspose2d).
The tests check that all give the same numbers, and that <conv2d(x, W), y> = <x, conv_transpose2d(y, W)>.

The fast path, one line each
----------------------------
Each Function below computes the textbook formula above, except where a line reads ``if not
is_textbook(): ... fast.<kernel>``: there it calls the speed kernel of minigan/fast/conv.py, which
computes the same numbers with the batch innermost in memory (activations are NCHW views of (C, H, W,
N) memory), col2im cropping as it adds, kn2row for layers with few output channels
(ops/conv_kn2row.py), and the faster of scatter and sub-pixel per layer. ``with mg.textbook():`` (or
MINIGAN_TEXTBOOK=1, or --textbook on the examples) turns all of them off.
"""

from minigan import fast
from minigan.autograd import Function
from minigan.backend import backend_of, is_textbook
from minigan.ops.im2col import as_int, col2im, conv_output_size, conv_transpose_output_size, im2col, output_padding_pair
from minigan.ops.conv_subpixel import conv_transpose2d_subpixel_array
from minigan.ops.shape import dilate2d, pad2d, permute


# ----------------------------------------------------------------------------------------------------
# The two Functions: each one's backward calls the other one's forward
# ----------------------------------------------------------------------------------------------------
class Conv2d(Function):
    def __init__(self, stride, padding):
        self.stride, self.padding = stride, padding

    def forward(self, x, weight, bias=None):
        s, p = self.stride, self.padding
        self.cols = None                                             # (the fast kernel's, kept for backward)
        if not is_textbook():                                        # speed kernel: the same numbers
            y, self.cols = fast.conv2d_array(x, weight, s, p)
        else:
            n, c_out, k = x.shape[0], weight.shape[0], weight.shape[2]
            h_out, w_out = conv_output_size(x.shape[2], k, s, p), conv_output_size(x.shape[3], k, s, p)
            cols = im2col(x, k, s, p)                                # (N, C_in*k*k, H_out*W_out)
            y = weight.reshape(c_out, -1) @ cols                     # (C_out, C_in*k*k) @ -> (N, C_out, H_out*W_out)
            y = y.reshape(n, c_out, h_out, w_out)                    # (N, C_out, H_out, W_out)
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
            gw = Conv2dWeightGrad(k, self.stride, self.padding, self.cols)(x, g)   # (C_out, C_in, k, k)
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
    """The gradient of a per-channel bias: g summed over (N, H, W), read in (C, H, W, N) order (the fast
    path's memory order; any layout gives the same sums)."""
    c = g.shape[1]
    return g.permute(1, 2, 3, 0).reshape(c, -1).sum(axis=1)        # (C, H*W*N) -> (C,)


class Conv2dWeightGrad(Function):
    """gw = dL/dW of a conv2d, as an op of its own: gw(x, g) = sum_n g[n] @ cols(x)[n]^T.

    Forward: the im2col matmul of conv2d's backward (the fast path reuses the ``cols`` conv2d's forward saved,
    so its first-order backward does no extra work). gw is linear in g and in x, so its backward is
    two convolutions again (G = dL/dgw, weight-shaped (C_out, C_in, k, k)):
        d<G, gw>/dg = conv2d(x, G)                  (N, C_out, H_out, W_out)
        d<G, gw>/dx = conv_transpose2d(g, G)        (N, C_in, H, W)
    It also serves the transposed convolution, whose weight gradient is Conv2dWeightGrad(g, x).
    ``cols``: the columns the fast kernel made in conv2d's forward, reused by the fast kernel here.
    """

    def __init__(self, k, stride, padding, cols=None):
        self.k, self.stride, self.padding, self.cols = k, stride, padding, cols

    def forward(self, x, g):                                         # x: (N, C_in, H, W), g: (N, C_out, H', W')
        k, s, p = self.k, self.stride, self.padding
        cols, self.cols = self.cols, None                            # backward does not need them
        if not is_textbook():                                        # speed kernel: the same numbers
            return fast.conv2d_weight_grad(x, g, k, s, p, cols)
        n, c_out, c_in = g.shape[0], g.shape[1], x.shape[1]
        cols = im2col(x, k, s, p)                                    # (N, C_in*k*k, H_out*W_out)
        g2 = g.reshape(n, c_out, -1)                                 # (N, C_out, H_out*W_out)
        gw = (g2 @ cols.transpose(0, 2, 1)).sum(axis=0)              # (N, C_out, C_in*k*k) summed over N
        return gw.reshape(c_out, c_in, k, k)                         # (C_out, C_in, k, k)

    def backward(self, gg):                                          # gg: (C_out, C_in, k, k)
        x, g = self.inputs
        gx = g_g = None
        if self.needs_input_grad[0]:
            op = restoring_padding(x.shape, g.shape, gg.shape[2], self.stride, self.padding)
            gx = ConvTranspose2d(self.stride, self.padding, op)(g, gg)               # (N, C_in, H, W)
        if self.needs_input_grad[1]:
            g_g = Conv2d(self.stride, self.padding)(x, gg)                           # (N, C_out, H', W')
        return gx, g_g


CONV_TRANSPOSE_METHODS = ("auto", "scatter", "dilate", "subpixel")


class ConvTranspose2d(Function):
    """The transposed convolution on arrays: "scatter" (Kiểu 1) or "subpixel" (definition 3).

    Both compute the same linear map, so they share this backward: conv2d of g.
    """

    def __init__(self, stride, padding, output_padding, method="auto"):
        self.stride, self.padding, self.output_padding = stride, padding, output_padding
        self.method = method                                         # "scatter", "subpixel" or "auto"

    def forward(self, x, weight, bias=None):
        s, p, (op_h, op_w) = self.stride, self.padding, self.output_padding
        method = self.method
        if method == "auto":                                         # the faster definition here (measured)
            method = "scatter" if is_textbook() else fast.fastest_conv_transpose(backend_of(x), *weight.shape[:2])
        if method == "subpixel":
            y = conv_transpose2d_subpixel_array(x, weight, s, p, self.output_padding)
        elif not is_textbook():                                      # speed kernel: the same numbers
            y = fast.conv_transpose2d_array(x, weight, s, p, self.output_padding)
        else:                                                        # Kiểu 1: W^T @ x, then col2im
            n, c_in, h, w = x.shape
            c_out, k = weight.shape[1], weight.shape[2]
            h_out = conv_transpose_output_size(h, k, s, p, op_h)
            w_out = conv_transpose_output_size(w, k, s, p, op_w)
            cols = weight.reshape(c_in, -1).T @ x.reshape(n, c_in, h * w)        # (N, C_out*k*k, H*W)
            y = col2im(cols, (n, c_out, h_out, w_out), k, s, p)               # (N, C_out, H_out, W_out)
        if bias is not None:
            y += bias[:, None, None]                                 # (C_out, 1, 1) broadcast
        return y

    def backward(self, g):                                           # g: (N, C_out, H_out, W_out)
        x, weight = self.inputs[0], self.inputs[1]
        gx = gw = gb = None
        conv = None
        if self.needs_input_grad[0]:
            # conv2d IS the input gradient: the same weight, read as (C_out'=C_in, C_in'=C_out, k, k)
            conv = Conv2d(self.stride, self.padding)
            gx = conv(g, weight)                                     # (N, C_in, H, W)
        if self.needs_input_grad[1]:
            # gw[c, o, a, b] = sum x[n, c, i, j] g_pad[n, o, i*s + a, j*s + b]: conv2d's weight
            # gradient with the roles of input and upstream gradient swapped (g's cols reused)
            k = weight.shape[2]
            cols = conv.cols if conv is not None else None           # g's columns, from the conv above
            gw = Conv2dWeightGrad(k, self.stride, self.padding, cols)(g, x)       # (C_in, C_out, k, k)
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
    return conv2d_unchecked(x, weight, bias, stride, padding)


def conv2d_unchecked(x, weight, bias, stride, padding):
    """conv2d without conv2d's checks: nn.Conv2d calls it after checking its input itself."""
    inputs = (x, weight) if bias is None else (x, weight, bias)
    c_in, c_out, k = x.shape[1], weight.shape[0], weight.shape[2]
    if not is_textbook() and fast.prefers_kn2row(c_in, c_out, k, stride, padding, *x.shape[2:]):
        from minigan.ops.conv_kn2row import Conv2dKn2row              # (it builds on this file: import late)
        return Conv2dKn2row(padding)(*inputs)                        # speed: few output channels
    return Conv2d(stride, padding)(*inputs)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, method="auto"):
    """2-D transposed convolution ("deconvolution"), the gradient of conv2d w.r.t. its input.

    x (N, C_in, H, W), weight (C_in, C_out, k, k), bias (C_out,) -> (N, C_out, H_out, W_out),
    H_out = (H - 1) s - 2p + k + output_padding. Example: (8, 512, 2, 2) with (512, 256, 4, 4), s=2, p=1
    -> (8, 256, 4, 4). ``method`` is "scatter" (definition 1), "dilate" (definition 2), "subpixel"
    (definition 3, ops/conv_subpixel.py) or "auto" (the faster of scatter and subpixel for this backend
    and shape: ``fast.fastest_conv_transpose``; "scatter" under ``mg.textbook()``); all give the same numbers.
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
    if method not in CONV_TRANSPOSE_METHODS:
        raise ValueError(f"conv_transpose2d: method must be one of {CONV_TRANSPOSE_METHODS}, got {method!r}")
    return conv_transpose2d_unchecked(x, weight, bias, stride, padding, (op_h, op_w), method)


def conv_transpose2d_unchecked(x, weight, bias, stride, padding, output_padding, method):
    """conv_transpose2d without its checks, output_padding as an (op_h, op_w) pair: nn.ConvTranspose2d calls
    it after checking its input itself."""
    if method == "dilate":
        return conv_transpose2d_dilate(x, weight, bias, stride, padding, output_padding)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return ConvTranspose2d(stride, padding, output_padding, method)(*inputs)


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
