"""Transposed convolution, definition 3: "sub-pixel" (phase decomposition), on raw arrays.

Reading order: ops/im2col -> ops/conv (definitions 1 and 2) -> **ops/conv_subpixel** -> ops/norm.
The ``ConvTranspose2d`` Function of ``ops/conv.py`` calls ``conv_transpose2d_subpixel_array`` when
``method="subpixel"`` (or when ``minigan/fast/conv.py``'s ``fastest_conv_transpose`` picks it), so the transposed conv's forward
and ``Conv2d``'s input gradient (which IS that Function) use it without a Function of their own: the
backward stays conv2d.

Notation as in ops/conv.py: x (N, C_in, H, W), transposed-conv weight W (C_in, C_out, k, k), stride s,
padding p, output_padding op, H_out = (H - 1) s - 2p + k + op. One axis is explained; the other is
the same.

The idea (Shi et al., 2016, "Is the deconvolution layer the same as a convolutional layer?")
----------------------------------------------------------------------------------------------
The scatter definition adds x[i] * W[a] into output row o when i*s + a = o + p. Split the output rows
into s *phases* by their remainder: o = s*q + phase. For one phase, write o + p = s*(q + c) + r with

    r = (phase + p) mod s,   c = (phase + p) // s.

Then i*s + a = s*(q + c) + r holds exactly for the taps a = s*t + r (t = 0, 1, ...: the kernel rows
r, r+s, r+2s, ... < k, i.e. ``W[:, :, r::s]``, T = len(range(r, k, s)) of them) and the input rows
i = q + c - t. So every phase is an ordinary stride-1 correlation of x with a small kernel:

    y[s*q + phase] = sum_{t < T} x[q + c - t] * W[s*t + r]
                   = sum_{u < T} x[q + start + u] * W_flipped[u]      W_flipped = W[r::s][::-1],
                                                                       start = c - T + 1

(u = T - 1 - t reverses the sub-kernel, hence "flipped"). In 2-D the phases are the s*s pairs
(phase_h, phase_w); each is one im2col with T_h*T_w taps (ceil(k/s)^2 at most: 4 for k=4, s=2,
instead of k*k = 16) and one matmul, and its result is written once into the output pixels
y[phase_h::s, phase_w::s]. No scatter-add, and no (C_out*k*k, H*W*N) intermediate: the largest
intermediate is one phase's cols (C_in*T_h*T_w, Q_h*Q_w*N). (All phases' cols together are about
(C_in*k*k, H*W*N), since every tap belongs to exactly one phase: smaller than scatter's only when
C_in < C_out.)

Worked example (one axis, k=4, s=2, p=1, the DCGAN layer): phase 0 has r=1, c=0: kernel rows 1, 3,
flipped (3, 1), reading input rows q-1, q. Phase 1 has r=0, c=1: kernel rows 0, 2, flipped (2, 0),
reading input rows q, q+1. docs/transposed-conv.md draws the four 2-D phases.

Which definition is faster depends on the channels: ``fastest_conv_transpose`` in minigan/fast/conv.py chooses.
"""

from minigan.backend import get_array_module
from minigan.ops.im2col import conv_transpose_output_size


def subpixel_phases(n_out, k, s, p):
    """The s phases of one axis: [(phase, r, taps, start, outputs)].

    Output rows phase, phase + s, ... (``outputs`` of them) use the kernel rows r, r + s, ... (``taps``
    of them, flipped), and output q of the phase reads the input rows start + q ... start + q + taps - 1.
    """
    phases = []
    for phase in range(s):
        outputs = len(range(phase, n_out, s))                        # output rows phase, phase+s, ...
        r, c = (phase + p) % s, (phase + p) // s                     # o + p = s*(q + c) + r
        taps = len(range(r, k, s))                                   # kernel rows r, r+s, ... < k
        phases.append((phase, r, taps, c - taps + 1, outputs))       # start = c - T + 1
    return phases


def subpixel_padding(phases, n_in):
    """(before, after): zeros to add to one input axis so that every phase's windows lie inside it."""
    used = [(start, start + taps - 1 + outputs - 1) for _, _, taps, start, outputs in phases
            if taps > 0 and outputs > 0]                             # (first, last) input row read
    if not used:
        return 0, 0
    return max(0, -min(first for first, _ in used)), max(0, max(last for _, last in used) - (n_in - 1))


def pad_chwn_sides(x, top, bottom, left, right):
    """x (N, C, H, W) -> a zero-padded copy laid out (C, H+top+bottom, W+left+right, N)."""
    n, c, h, w = x.shape
    x_pad = get_array_module(x).zeros((c, h + top + bottom, w + left + right, n), dtype=x.dtype)
    x_pad[:, top:top + h, left:left + w, :] = x.transpose(1, 2, 3, 0)
    return x_pad


def phase_cols(x_chwn, row, col, taps_h, taps_w, q_h, q_w):
    """im2col of one phase: the taps_h x taps_w windows at stride 1 starting at (row, col).

    x_chwn (C, H', W', N), any strides -> cols (C*taps_h*taps_w, q_h*q_w*N), batch innermost.
    """
    xp = get_array_module(x_chwn)
    c, _, _, n = x_chwn.shape
    corner = x_chwn[:, row:, col:, :]                                # (C, H'-row, W'-col, N) view
    sc, sh, sw, sn = corner.strides
    windows = xp.lib.stride_tricks.as_strided(                       # a view, nothing copied yet
        corner, shape=(c, taps_h, taps_w, q_h, q_w, n), strides=(sc, sh, sw, sh, sw, sn))
    return windows.reshape(c * taps_h * taps_w, q_h * q_w * n)      # the one copy


def conv_transpose2d_subpixel_array(x, weight, stride, padding, output_padding):
    """Transposed conv on raw arrays, "sub-pixel" definition: s*s stride-1 convolutions, interleaved.

    x (N, C_in, H, W) (any strides), weight (C_in, C_out, k, k), output_padding (op_h, op_w)
    -> (N, C_out, H_out, W_out), an NCHW view of (C_out, H_out, W_out, N) memory like every conv output.
    Example: (64, 512, 2, 2) with (512, 256, 4, 4), s=2, p=1 -> 4 phases of (256, 512*2*2) @ (2048, 2*2*64).
    """
    xp = get_array_module(x)
    n, c_in, h, w = x.shape
    _, c_out, k, _ = weight.shape
    s, p = stride, padding
    h_out = conv_transpose_output_size(h, k, s, p, output_padding[0])
    w_out = conv_transpose_output_size(w, k, s, p, output_padding[1])
    phases_h, phases_w = subpixel_phases(h_out, k, s, p), subpixel_phases(w_out, k, s, p)
    (top, bottom), (left, right) = subpixel_padding(phases_h, h), subpixel_padding(phases_w, w)
    if top or bottom or left or right:
        x_chwn = pad_chwn_sides(x, top, bottom, left, right)         # (C_in, H+top+bottom, W+left+right, N)
    else:
        x_chwn = x.transpose(1, 2, 3, 0)                             # (C_in, H, W, N) view
    # every output pixel belongs to exactly one phase; only with k < s do some phases get no tap (zeros)
    dtype = xp.result_type(x.dtype, weight.dtype)                    # what x @ weight would give
    out = (xp.zeros if k < s else xp.empty)((c_out, h_out, w_out, n), dtype=dtype)   # (C_out, H_out, W_out, N)
    # the weight with C_out innermost, copied once: each sub-kernel below is then a copy of whole rows
    # of C_out floats (reading the sub-kernels straight out of (C_in, C_out, k, k) jumps around memory)
    w_last = xp.ascontiguousarray(weight.transpose(0, 2, 3, 1))      # (C_in, k, k, C_out)
    for phase_h, r_h, taps_h, start_h, q_h in phases_h:
        for phase_w, r_w, taps_w, start_w, q_w in phases_w:
            if taps_h == 0 or taps_w == 0 or q_h == 0 or q_w == 0:
                continue                                             # no tap reaches it, or no pixel in it
            sub = w_last[:, r_h::s, r_w::s][:, ::-1, ::-1]           # (C_in, taps_h, taps_w, C_out), flipped
            w_mat = sub.reshape(c_in * taps_h * taps_w, c_out).T     # (C_out, C_in*T_h*T_w), a transposed view
            cols = phase_cols(x_chwn, start_h + top, start_w + left,
                              taps_h, taps_w, q_h, q_w)              # (C_in*T_h*T_w, Q_h*Q_w*N)
            y = w_mat @ cols                                         # (C_out, Q_h*Q_w*N)
            out[:, phase_h::s, phase_w::s, :] = y.reshape(c_out, q_h, q_w, n)   # written once
    return out.transpose(3, 0, 1, 2)                                 # (N, C_out, H_out, W_out) view
