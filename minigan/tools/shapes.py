"""Shape explainers for learners: which padding gives which size, and why, with the numbers filled in.

Reading order: ops/im2col (the output-size formulas) -> **tools/shapes** (a learner's tool; nothing in
the lesson imports it). docs/transposed-conv.md uses both.
"""

from minigan.ops.im2col import conv_transpose_output_size


def padding_choices(h_in, h_target, k, s):
    """All (padding, output_padding) pairs with which a transposed conv maps h_in to h_target."""
    pairs = []
    for p in range(0, k):
        for op in range(0, s):
            if conv_transpose_output_size(h_in, k, s, p, op) == h_target:
                pairs.append((p, op))
    return pairs


def explain_conv_transpose(h_in, k, s=1, p=0, output_padding=0, target=None):
    """Print, with the numbers filled in, how a transposed convolution gets its output size.

    Returns the explanation as a string as well (so it can be tested and shown in docs).

        >>> explain_conv_transpose(16, k=5, s=2, p=2, output_padding=1, target=32)
    """
    h_out = conv_transpose_output_size(h_in, k, s, p, output_padding)
    z = s - 1
    p_prime = k - p - 1
    lines = [
        f"transposed convolution: input {h_in}, kernel k={k}, stride s={s}, padding p={p}, "
        f"output_padding op={output_padding}",
        f"  output size = (H - 1) s - 2p + k + op = ({h_in} - 1)*{s} - 2*{p} + {k} + {output_padding} = {h_out}",
        "  'scatter' view (Kieu 1): every input pixel adds kernel*value into the output at stride steps,",
        f"      the full result is ({h_in} - 1)*{s} + {k} = {(h_in - 1) * s + k} wide"
        + (f", + op={output_padding} zero rows/cols at the bottom/right = {(h_in - 1) * s + k + output_padding}"
           if output_padding else "")
        + f"; then p={p} is cropped from each side: {h_out}",
        "  'dilate' view (Kieu 2): insert z = s - 1 zeros between input pixels, pad p' = k - p - 1,",
        f"      then a stride-1 convolution with the flipped kernel: z = {z}, p' = {p_prime}"
        + (" (+ op on the bottom/right)" if output_padding else ""),
        f"      ({h_in} - 1)*{s} + 1 + 2*{p_prime} + {output_padding} - {k} + 1 = {h_out}",
    ]
    if p_prime < 0:
        lines.append(f"  p' < 0: padding p={p} is larger than k-1={k - 1}; the dilate view would crop instead")
    if output_padding >= s:
        lines.append(f"  INVALID: output_padding must be smaller than the stride ({output_padding} >= {s})")
    if k % s == 0:
        lines.append(f"  k={k} is divisible by s={s}: every output pixel receives the same number of kernel taps")
    else:
        lines.append(
            f"  k={k} is NOT divisible by s={s}: output pixels receive uneven numbers of kernel taps "
            "(uneven overlap), which tends to leave checkerboard artifacts in generated images"
        )
    if target is not None:
        pairs = padding_choices(h_in, target, k, s)
        if pairs:
            lines.append(f"  (padding, output_padding) pairs that give {h_in} -> {target}: {pairs}")
        else:
            lines.append(f"  no (padding, output_padding) pair gives {h_in} -> {target} with k={k}, s={s}")
        if target == h_in * s:
            lines.append(f"  (Keras padding='same' with stride {s} gives this size too: output = input * stride;"
                         " TensorFlow puts an odd extra padding row at the bottom/right, so for odd k its"
                         " content can sit one pixel away from PyTorch-style padding)")
    text = "\n".join(lines)
    print(text)
    return text
