"""The operations: one Function subclass per op plus a lowercase function, grouped by concept.

Read them in this order: arith (and the reductions), indexing, shape, activations (and the BCE losses), im2col
(output sizes, im2col / col2im), conv, conv_subpixel, norm, embedding, crossentropy; conv_kn2row,
compare and convert when you need them.
"""
