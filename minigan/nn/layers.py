"""Layers: Modules that hold parameters and call the ops of minigan.functional.

Reading order: nn/init -> **nn/layers** -> nn/embedding -> optim -> models.

Every layer checks its input at the boundary and names itself, the expected shape and the received
shape in the error, so a wrong wiring fails where it happens, not deep inside a matmul. Having checked,
the layers with weights call the op behind the F.* function without its checks (``conv2d_unchecked``,
``batch_norm_unchecked``, the ``Linear`` Function): F.conv2d and the others check their arguments for
callers that use them directly, and a debugger session through a layer steps through one set of
checks, not two.

    TypeError   not a Tensor (a list, a NumPy array: wrap it with mg.tensor), or a dtype other than
                the weights' (float64 or uint8 into a float32 model; like PyTorch, nothing is cast
                silently)
    ValueError  a wrong number of dimensions or channels, an image too small for the kernel
"""

import math
import numbers

from minigan import backend
from minigan import functional as F
from minigan.nn import init
from minigan.nn.module import Module, Parameter
from minigan.ops.arith import Linear as LinearFunction
from minigan.ops.conv import conv2d_unchecked, conv_transpose2d_unchecked
from minigan.ops.im2col import conv_transpose_output_size, output_padding_pair
from minigan.ops.norm import batch_norm_unchecked
from minigan.ops.shape import Reshape as ReshapeFunction
from minigan.tensor import Tensor


def _empty(*shape):
    return backend.xp().zeros(shape, dtype=backend.DEFAULT_DTYPE)


def _check_tensor(layer, x, dtype=None):
    """x must be a Tensor; with ``dtype`` (a layer's weight dtype), of exactly that dtype."""
    if not isinstance(x, Tensor):
        kind = type(x).__name__ if type(x).__module__ == "builtins" else f"{type(x).__module__}.{type(x).__name__}"
        raise TypeError(f"{layer!r}: expected a minigan Tensor, got {kind}; wrap it with mg.tensor(x)")
    if dtype is not None and x.dtype != dtype:
        hint = ("uint8 images? scale them with minigan.data.to_float_images" if x.dtype.kind in "iub"
                else f"convert it with x.astype('{dtype}')")
        raise TypeError(f"{layer!r}: expected {dtype} input (the dtype of its weights), got {x.dtype} "
                        f"of shape {x.shape}; {hint}")


def _check_input(layer, x, ndim, channels):
    """x must be a Tensor of the layer's dtype, (N, channels) for ndim 2 or (N, channels, H, W) for ndim 4."""
    _check_tensor(layer, x, layer.weight.dtype)
    if x.ndim != ndim or x.shape[1] != channels:
        what = f"(N, {channels})" if ndim == 2 else f"(N, {channels}, H, W)"
        raise ValueError(f"{layer!r}: expected input of shape {what}, got {tuple(x.shape)}")


def _check_ints(layer_name, low, **values):
    """Constructor arguments such as kernel_size=4 must be ints >= low."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ValueError(f"{layer_name}: {name} must be an int >= {low}, got {value!r}")


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        _check_ints("Linear", 1, in_features=in_features, out_features=out_features)
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_empty(out_features, in_features))   # (out, in)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))           # PyTorch's default
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(in_features)
            self.bias = init.uniform_(Parameter(_empty(out_features)), -bound, bound)

    def forward(self, x):                                            # (N, in) -> (N, out)
        _check_input(self, x, 2, self.in_features)
        inputs = (x, self.weight) if self.bias is None else (x, self.weight, self.bias)
        return LinearFunction()(*inputs)                             # checked above: the op itself

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}"


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        _check_ints("Conv2d", 1, in_channels=in_channels, out_channels=out_channels,
                    kernel_size=kernel_size, stride=stride)
        _check_ints("Conv2d", 0, padding=padding)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        k = kernel_size
        self.weight = Parameter(_empty(out_channels, in_channels, k, k))   # (C_out, C_in, k, k)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(in_channels * k * k)
            self.bias = init.uniform_(Parameter(_empty(out_channels)), -bound, bound)

    def forward(self, x):                                            # (N, C_in, H, W) -> (N, C_out, H', W')
        _check_input(self, x, 4, self.in_channels)
        k, p = self.kernel_size, self.padding
        if min(x.shape[2:]) < max(1, k - 2 * p):                     # H_out = floor((H + 2p - k)/s) + 1 >= 1
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_channels}, H, W) with H, W >= "
                             f"{max(1, k - 2 * p)} (a {k}x{k} kernel, padding {p}), got {x.shape}")
        return conv2d_unchecked(x, self.weight, self.bias, self.stride, self.padding)   # checked above

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ConvTranspose2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 bias=True, method="auto"):
        _check_ints("ConvTranspose2d", 1, in_channels=in_channels, out_channels=out_channels,
                    kernel_size=kernel_size, stride=stride)
        _check_ints("ConvTranspose2d", 0, padding=padding)
        op_h, op_w = output_padding_pair(output_padding)             # 1 -> (1, 1); (1, 0) per axis
        if op_h is None or not (0 <= op_h < stride and 0 <= op_w < stride):
            raise ValueError(f"ConvTranspose2d: output_padding must be an int or an (int, int) pair, each "
                             f">= 0 and smaller than the stride ({stride}), got {output_padding!r}")
        if method not in ("auto", "scatter", "dilate", "subpixel"):
            raise ValueError("ConvTranspose2d: method must be 'auto', 'scatter', 'dilate' or 'subpixel', "
                             f"got {method!r}")
        if method == "dilate" and padding > kernel_size - 1:
            raise ValueError(f"ConvTranspose2d: method='dilate' needs padding <= kernel_size - 1 = "
                             f"{kernel_size - 1}, got {padding}; use method='scatter'")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.output_padding, self.method = (op_h, op_w), method     # (op_h, op_w), as PyTorch keeps it
        k = kernel_size
        self.weight = Parameter(_empty(in_channels, out_channels, k, k))   # (C_in, C_out, k, k)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))           # fan_in = C_out*k*k, as PyTorch
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(out_channels * k * k)
            self.bias = init.uniform_(Parameter(_empty(out_channels)), -bound, bound)

    def forward(self, x):                                            # (N, C_in, H, W) -> (N, C_out, H', W')
        _check_input(self, x, 4, self.in_channels)
        k, s, p = self.kernel_size, self.stride, self.padding
        op_h, op_w = self.output_padding
        h_out = conv_transpose_output_size(x.shape[2], k, s, p, op_h)
        w_out = conv_transpose_output_size(x.shape[3], k, s, p, op_w)
        if min(x.shape[2:]) < 1 or min(h_out, w_out) < 1:
            raise ValueError(f"{self!r}: expected input of shape (N, {self.in_channels}, H, W) with an output "
                             "of at least 1x1 pixels ((H - 1)*stride - 2*padding + kernel_size + "
                             f"output_padding), got {x.shape}, which gives {h_out}x{w_out} pixels")
        return conv_transpose2d_unchecked(x, self.weight, self.bias, s, p, self.output_padding, self.method)   # checked above

    def extra_repr(self):
        op_h, op_w = self.output_padding
        op = op_h if op_h == op_w else (op_h, op_w)                  # 1 for (1, 1), as it is usually written
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={op}")


class _BatchNorm(Module):
    ndim = None

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        _check_ints(type(self).__name__, 1, num_features=num_features)
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = init.ones_(Parameter(_empty(num_features)))   # gamma (C,)
        self.bias = Parameter(_empty(num_features))                  # beta (C,)
        self.running_mean = Tensor(_empty(num_features))             # buffers: saved, not trained
        self.running_var = init.ones_(Tensor(_empty(num_features)))
        self.sync = None              # distributed.py's --sync-bn: batch statistics over every rank's shard

    def forward(self, x):
        _check_input(self, x, self.ndim, self.num_features)
        if self.training and x.size < 2 * self.num_features:         # batch statistics need 2 values
            raise ValueError(f"{self!r}: training mode needs more than one value per channel: expected an "
                             f"input with N*H*W >= 2, got {x.shape}; use a batch of 2 or more, or call .eval()")
        return batch_norm_unchecked(x, self.weight, self.bias, self.running_mean, self.running_var,
                                    self.training, self.momentum, self.eps, sync=self.sync)   # checked above

    def extra_repr(self):
        return f"{self.num_features}"


class BatchNorm1d(_BatchNorm):
    ndim = 2


class BatchNorm2d(_BatchNorm):
    ndim = 4


class LayerNorm(Module):
    """Layer normalization over the last axes (normalized_shape), like torch.nn.LayerNorm: statistics
    per sample, so it suits a WGAN-GP critic (whose gradient penalty is per sample) where batch norm
    does not. LayerNorm((64, 16, 16)) after a conv normalizes each sample's whole feature map."""

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        integral = isinstance(normalized_shape, numbers.Integral)
        shape = (normalized_shape,) if integral else tuple(normalized_shape)
        _check_ints("LayerNorm", 1, **{f"normalized_shape[{i}]": n for i, n in enumerate(shape)})
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = init.ones_(Parameter(_empty(*shape)))      # normalized_shape
            self.bias = Parameter(_empty(*shape))

    def forward(self, x):                                            # (N, *normalized_shape) -> same
        _check_tensor(self, x, None if self.weight is None else self.weight.dtype)
        n = len(self.normalized_shape)
        if x.ndim < n or x.shape[x.ndim - n:] != self.normalized_shape:
            shape = ", ".join(map(str, self.normalized_shape))
            raise ValueError(f"{self!r}: expected input of shape (N, {shape}), got {x.shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class ReLU(Module):
    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"{self.negative_slope}"


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Flatten(Module):
    """Flatten each sample, as torch.nn.Flatten: start_dim=1 keeps the batch axis (F.flatten starts at 0)."""

    def __init__(self, start_dim=1, end_dim=-1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def extra_repr(self):
        if (self.start_dim, self.end_dim) == (1, -1):
            return ""
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward(self, x):                                            # (N, d1, d2, ...) -> (N, d1*d2*...)
        _check_tensor(self, x)
        if x.ndim < 2:
            raise ValueError(f"{self!r}: expected input of shape (N, d1, ...), got {x.shape}")
        return F.flatten(x, self.start_dim, self.end_dim)


class Reshape(Module):
    """Reshape each sample: Reshape(512, 2, 2) maps (N, 2048) -> (N, 512, 2, 2)."""

    def __init__(self, *shape):
        _check_ints("Reshape", 1, **{f"shape[{i}]": n for i, n in enumerate(shape)})
        self.shape = shape

    def forward(self, x):                                            # (N, prod(shape)) -> (N, *shape)
        _check_tensor(self, x)
        if x.ndim < 1 or math.prod(x.shape[1:]) != math.prod(self.shape):
            raise ValueError(f"{self!r}: expected input of shape (N, ...) with {math.prod(self.shape)} "
                             f"values per sample, e.g. (N, {math.prod(self.shape)}), got {x.shape}")
        return ReshapeFunction((x.shape[0],) + self.shape)(x)       # checked above: the op itself

    def extra_repr(self):
        return ", ".join(map(str, self.shape))
