"""Speed kernels: arrays in, arrays out, NumPy and CuPy side by side, each with the formula it computes.

Where this sits: below the lesson. These modules import ``minigan.backend`` and nothing above it (no
Function, no Tensor), and the lesson files reach them at one visible line each, e.g. in ops/conv.py::

    if self.fast:                                                # speed kernel: the same numbers
        y, self.cols = fast.conv2d_array(x, weight, s, p)

``with mg.textbook():`` (or MINIGAN_TEXTBOOK=1, or --textbook on the examples) turns every one of them
off, and the tests run both paths and check they agree (float64 to 1e-10, float32 within rounding).

- conv.py    im2col / col2im with the batch innermost, col2im cropping as it adds (NumPy) or in s x s
             blocks (CuPy), kn2row for stride-1 layers with few output channels, the weight gradient
             reusing the forward's columns, and the rule that picks scatter or sub-pixel per layer.
- norm.py    BatchNorm's per-channel sums as a matrix-vector product, its forward with x - mu kept
             (x_hat never stored), and its first-order backward on arrays (2 temporaries, not 5).
- adam.py    Adam over flat parameter and moment vectors, in cache-sized pieces on the CPU; the
             flat layout that distributed training all-reduces too.
- memory.py  keep freed NumPy memory for reuse (glibc mallopt).
"""

from minigan.fast.adam import ADAM_PIECE, adam_step, flat_offsets, flat_views
from minigan.fast.conv import (
    col2im,
    col2im_blocks,
    col2im_per_tap,
    conv2d_array,
    conv2d_kn2row,
    conv2d_kn2row_weight_grad,
    conv2d_weight_grad,
    conv_transpose2d_array,
    fastest_conv_transpose,
    im2col,
    pad_chwn,
    prefers_kn2row,
    windows_inside,
)
from minigan.fast.memory import keep_freed_memory
from minigan.fast.norm import batch_norm_backward, batch_norm_forward, sum_per_channel

__all__ = [
    "ADAM_PIECE", "adam_step", "batch_norm_backward", "batch_norm_forward", "col2im", "col2im_blocks",
    "col2im_per_tap", "conv2d_array", "conv2d_kn2row", "conv2d_kn2row_weight_grad", "conv2d_weight_grad",
    "conv_transpose2d_array", "fastest_conv_transpose", "flat_offsets", "flat_views", "im2col",
    "keep_freed_memory", "pad_chwn", "prefers_kn2row", "sum_per_channel", "windows_inside",
]
