"""The operations: one Function subclass per op plus a lowercase function, grouped by concept.

Read them in this order: arith, shape, reduce, activations, conv_shapes, im2col, conv, norm, embedding,
losses, crossentropy.
"""
