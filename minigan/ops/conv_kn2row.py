"""conv2d by "kn2row": a speed variant of ``ops/conv.Conv2d`` for stride-1 layers with few output channels.

Reading order: ops/conv -> **ops/conv_kn2row** (optional: textbook mode never runs it) -> ops/norm.

The same function as Conv2d, computed in another order: multiply every padded input pixel by every
kernel tap first, then add up k*k shifted slices (the derivation and the sizes are in the docstring
of ``minigan/fast/conv.py: conv2d_kn2row``). ``ops.conv.conv2d`` picks it where its intermediate is
smaller than im2col's (``fast.prefers_kn2row``: the cGAN's last layer, 128 -> 1 channel, 7x7), except
under ``mg.textbook()``. Its backward is made of the same pieces as Conv2d's:

    dx = the transposed conv of g, which at stride 1 IS a conv2d: the kernel flipped and its in/out
         channels swapped, padding k-1-p (Kiểu 2 with no zeros to insert)
    dW = Conv2dKn2rowWeightGrad(x, g): Conv2dWeightGrad's function (and its backward), computed from
         the padded input that the forward saved
"""

from minigan import fast
from minigan.ops.conv import Conv2d, Conv2dWeightGrad, bias_grad
from minigan.autograd import Function


class Conv2dKn2row(Function):
    def __init__(self, padding):
        self.padding = padding

    def forward(self, x, weight, bias=None):
        y, self.x_pad = fast.conv2d_kn2row(x, weight, self.padding)  # (N, C_out, H_out, W_out), (C_in, Hp, Wp, N)
        if bias is not None:
            y += bias[:, None, None]                                 # (C_out, 1, 1) broadcast
        return y

    def backward(self, g):                                           # g: (N, C_out, H_out, W_out)
        x, weight = self.inputs[0], self.inputs[1]
        k = weight.shape[2]
        gx = gw = gb = None
        if self.needs_input_grad[0]:
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
    """Conv2dWeightGrad at stride 1, computed from the padded input x_pad (C_in, Hp, Wp, N) without
    building the k*k windows; its backward (two convolutions) is inherited."""

    def __init__(self, k, padding, x_pad=None):
        super().__init__(k, 1, padding)
        self.x_pad = x_pad                                           # (C_in, Hp, Wp, N), saved by forward

    def forward(self, x, g):
        x_pad = self.x_pad if self.x_pad is not None else fast.pad_chwn(x, self.padding)
        self.x_pad = None                                            # backward does not need it
        return fast.conv2d_kn2row_weight_grad(x_pad, g, self.k)     # (C_out, C_in, k, k)
