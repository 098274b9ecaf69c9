"""Layers: Modules that hold parameters and call the ops in minigan.functional.

Reading order: nn/init -> **nn/layers** -> optim -> models.

Every layer checks its input at the boundary and names itself, the expected shape and the received
shape in the error, so a wrong wiring fails where it happens, not deep inside a matmul.
"""

import math

from minigan import backend
from minigan import functional as F
from minigan.nn import init
from minigan.nn.module import Module, Parameter
from minigan.tensor import Tensor


def _empty(*shape):
    return backend.xp().zeros(shape, dtype=backend.DEFAULT_DTYPE)


def _check_input(layer, x, ndim, channels, what):
    if x.ndim != ndim or x.shape[1] != channels:
        raise ValueError(f"{layer!r}: expected input of shape {what}, got {tuple(x.shape)}")


class Linear(Module):
    def __init__(self, in_features, out_features, bias=True):
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(_empty(out_features, in_features))   # (out, in)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))           # PyTorch's default
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(in_features)
            self.bias = init.uniform_(Parameter(_empty(out_features)), -bound, bound)

    def forward(self, x):                                            # (N, in) -> (N, out)
        _check_input(self, x, 2, self.in_features, f"(N, {self.in_features})")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}"


class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
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
        _check_input(self, x, 4, self.in_channels, f"(N, {self.in_channels}, H, W)")
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}")


class ConvTranspose2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
                 bias=True, method="scatter"):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.output_padding, self.method = output_padding, method
        k = kernel_size
        self.weight = Parameter(_empty(in_channels, out_channels, k, k))   # (C_in, C_out, k, k)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))           # fan_in = C_out*k*k, as PyTorch
        self.bias = None
        if bias:
            bound = 1 / math.sqrt(out_channels * k * k)
            self.bias = init.uniform_(Parameter(_empty(out_channels)), -bound, bound)

    def forward(self, x):                                            # (N, C_in, H, W) -> (N, C_out, H', W')
        _check_input(self, x, 4, self.in_channels, f"(N, {self.in_channels}, H, W)")
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, method=self.method)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, output_padding={self.output_padding}")


class _BatchNorm(Module):
    ndim = None

    def __init__(self, num_features, momentum=0.1, eps=1e-5):
        self.num_features, self.momentum, self.eps = num_features, momentum, eps
        self.weight = init.ones_(Parameter(_empty(num_features)))   # gamma (C,)
        self.bias = Parameter(_empty(num_features))                  # beta (C,)
        self.running_mean = Tensor(_empty(num_features))             # buffers: saved, not trained
        self.running_var = init.ones_(Tensor(_empty(num_features)))

    def forward(self, x):
        shape = f"(N, {self.num_features})" if self.ndim == 2 else f"(N, {self.num_features}, H, W)"
        _check_input(self, x, self.ndim, self.num_features, shape)
        return F.batch_norm(x, self.weight, self.bias, self.running_mean, self.running_var,
                            self.training, self.momentum, self.eps)

    def extra_repr(self):
        return f"{self.num_features}"


class BatchNorm1d(_BatchNorm):
    ndim = 2


class BatchNorm2d(_BatchNorm):
    ndim = 4


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = init.normal_(Parameter(_empty(num_embeddings, embedding_dim)))   # N(0, 1), as PyTorch

    def forward(self, indices):                                      # (N,) ints -> (N, dim)
        return F.embedding(indices, self.weight)

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    def __init__(self, p=0.5):
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


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
    def forward(self, x):                                            # (N, d1, d2, ...) -> (N, d1*d2*...)
        return F.flatten(x)


class Reshape(Module):
    """Reshape each sample: Reshape(512, 2, 2) maps (N, 2048) -> (N, 512, 2, 2)."""

    def __init__(self, *shape):
        self.shape = shape

    def forward(self, x):
        return F.reshape(x, (x.shape[0],) + self.shape)

    def extra_repr(self):
        return ", ".join(map(str, self.shape))
