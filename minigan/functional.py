"""The public function names (``import minigan.functional as F``), re-exported from ``minigan.ops``.

Reading order: ops -> tensor -> **functional** -> nn. Nothing is defined here: "go to definition" on
any name below takes you to the op that implements it.
"""

from minigan.ops.activations import (binary_cross_entropy, binary_cross_entropy_with_logits, leaky_relu, relu,
                                     sigmoid, tanh)
from minigan.ops.arith import exp, linear, log, matmul, mean, sum
from minigan.ops.conv import conv2d, conv_transpose2d
from minigan.ops.crossentropy import cross_entropy
from minigan.ops.embedding import dropout, embedding
from minigan.ops.norm import batch_norm, layer_norm
from minigan.ops.indexing import cat
from minigan.ops.shape import dilate2d, flatten, pad2d, permute, reshape, transpose

__all__ = [
    "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cat", "conv2d",
    "conv_transpose2d", "cross_entropy", "dilate2d", "dropout", "embedding", "exp", "flatten", "layer_norm",
    "leaky_relu", "linear", "log", "matmul", "mean", "pad2d", "permute", "relu", "reshape", "sigmoid", "sum", "tanh",
    "transpose",
]
