"""Embedding lookup and dropout.

Reading order: ops/norm -> **ops/embedding** -> ops/crossentropy.

embedding: y = W[indices], a table lookup. Its backward adds each row of g into the row of the table
it was read from; a label that appears twice gets both rows added. Written as a matmul with the
one-hot matrix, which is deterministic on every backend:
    y = onehot(indices) @ W        (N, num) @ (num, dim) -> (N, dim)
    dW = onehot(indices)^T @ g     (num, N) @ (N, dim)   -> (num, dim)

dropout (training only): keep each value with probability 1 - p and scale it by 1 / (1 - p), so the
expected value is unchanged and eval mode is the identity. Backward multiplies by the same mask.

Both backwards are linear in g with constant arrays (the one-hot matrix, the mask), written with
Tensor ops: differentiating them again gives onehot @ G and G * mask.

Class labels are checked before use (``check_class_indices``): integers, one per row, in [0, num). The
range check reads the smallest and largest label back from the device, which on a GPU waits for all the
queued work; ``labels_checked_on_host()`` skips that read for a caller that has checked every label on
the host already (the training runner does, once per run).
"""

import contextlib

from minigan.autograd import Function, array_of, constant
from minigan.backend import backend_of, get_array_module, rand, to_numpy
from minigan.ops.arith import matmul


class Embedding(Function):
    def __init__(self, indices):
        self.indices = indices                                       # (N,) integers, not differentiable

    def forward(self, weight):
        self.num_embeddings = weight.shape[0]
        return weight[self.indices]                                  # (N, dim)

    def backward(self, g):                                           # g: (N, dim)
        xp = get_array_module(g.data)
        onehot = (self.indices[:, None] == xp.arange(self.num_embeddings)).astype(g.dtype)   # (N, num)
        return matmul(constant(onehot.T), g)                         # (num, N) @ (N, dim) -> (num, dim)


class Dropout(Function):
    def __init__(self, p):
        self.p = p

    def forward(self, x):
        keep = rand(x.shape, dtype=x.dtype, backend=backend_of(x)) >= self.p   # (same shape as x) bool
        self.mask = keep.astype(x.dtype)                             # 1 = kept, 0 = dropped
        self.mask *= 1 / (1 - self.p)                                # kept values scaled by 1/(1-p)
        return x * self.mask

    def backward(self, g):
        return g * constant(self.mask)                               # the mask is a constant


_labels_checked_on_host = False   # True inside `with labels_checked_on_host():`


@contextlib.contextmanager
def labels_checked_on_host():
    """Inside this block, class labels are not range-checked again (every label was checked on the host)."""
    global _labels_checked_on_host
    previous, _labels_checked_on_host = _labels_checked_on_host, True
    try:
        yield
    finally:
        _labels_checked_on_host = previous


def check_class_indices(owner, indices, num_classes, like=None, batch=None):
    """The raw array of ``indices`` after checking they are class labels: (N,) integers in [0, num_classes).

    ``owner`` names the caller in the error ("embedding", a layer's repr, "cgan.Generator"). ``like``:
    an array whose backend the indices must share (the table). ``batch``: a tensor whose first axis
    the indices must match (one label per image or noise vector). ``num_classes=None``: no range check.
    The range check reads the smallest and largest label from the device together: one read, which on a
    GPU waits for all the queued work.
    """
    idx = array_of(indices)
    if getattr(idx, "dtype", None) is None or idx.dtype.kind not in "iu":
        raise TypeError(
            f"{owner}: expected integer class labels (an integer array or tensor) as indices, got "
            f"{getattr(idx, 'dtype', type(idx).__name__)}; use labels.astype('int64')"
        )
    n = batch.shape[0] if getattr(batch, "ndim", 0) >= 1 else None
    if idx.ndim != 1 or (n is not None and idx.shape[0] != n):
        expected = "(N,)" if n is None else f"(N,) = ({n},), one per row of the batch"
        raise ValueError(f"{owner}: expected indices of shape {expected}, got {tuple(idx.shape)}")
    if like is not None and backend_of(idx) != backend_of(like):
        raise TypeError(
            f"{owner}: expected indices on the table's backend ({backend_of(like)}), got indices on "
            f"{backend_of(idx)}; move them with labels.to({backend_of(like)!r}) (or backend.to_device(labels))"
        )
    if num_classes is not None and idx.size and not _labels_checked_on_host:
        low, high = to_numpy(get_array_module(idx).stack([idx.min(), idx.max()])).tolist()   # one read
        if low < 0 or high >= num_classes:
            raise ValueError(f"{owner}: expected class labels in [0, {num_classes - 1}] ({num_classes} "
                             f"classes), got values from {low} to {high}")
    return idx


def embedding(indices, weight, name="embedding"):
    """Rows of ``weight`` (num, dim) picked by integer ``indices`` (N,) -> (N, dim).

    ``name`` is who errors about the indices are reported for (nn.Embedding passes its repr)."""
    idx = check_class_indices(name, indices, weight.shape[0], like=array_of(weight))
    return Embedding(idx)(weight)


def dropout(x, p=0.5, training=True):
    """Zero each value with probability p (training) and scale the rest by 1/(1-p); identity in eval."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    if getattr(x, "dtype", None) is None or x.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if not training or p == 0:
        return x
    return Dropout(p)(x)
