"""Softmax cross-entropy on logits and integer class labels: the loss of every classifier in minigan.

Reading order: ops/embedding -> **ops/crossentropy** -> functional.

Notation: logits z (N, K), labels y (N,) integers in [0, K), onehot(y) (N, K).

    log_softmax(z)_ik = z_ik - m_i - log sum_j exp(z_ij - m_i),     m_i = max_j z_ij
    CE(z, y)          = -(1/N) sum_i log_softmax(z)_{i, y_i}          (mean over the batch)
    dCE/dz            = (softmax(z) - onehot(y)) / N                   (N, K)

Subtracting the row maximum m_i changes nothing mathematically (it cancels between the two terms) but
keeps every exp() argument <= 0, so logits of +-1000 neither overflow nor give log(0):

    z = [1000, 0]:  naive exp(1000) = inf;  shifted exp([0, -1000]) = [1, 0], log-sum = 0  -> CE = 0

The gradient is the classic "prediction minus target": it pushes the probability of the true class up
and every other class down, and it is never larger than 1/N in size per entry.
"""

from minigan.autograd import Function, constant, is_grad_enabled
from minigan.backend import backend_of, get_array_module


class CrossEntropy(Function):
    def __init__(self, labels):
        self.labels = labels                                         # (N,) integers, not differentiable

    def forward(self, z):                                            # z: (N, K)
        xp = get_array_module(z)
        n, k = z.shape
        shifted = z - z.max(axis=1, keepdims=True)                   # (N, K), every entry <= 0
        log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))   # (N, K)
        self.probs = xp.exp(log_probs)                               # (N, K) softmax, rows sum to 1
        self.onehot = (self.labels[:, None] == xp.arange(k)).astype(z.dtype)       # (N, K)
        return -(self.onehot * log_probs).sum() / n                  # () mean over the batch

    def backward(self, g):                                           # g: () upstream gradient
        z, = self.inputs
        n = z.shape[0]
        return g * (self.softmax(z) - constant(self.onehot)) / n     # (N, K)

    def softmax(self, z):
        """softmax(z) as a Tensor: the saved array (first order), or recomputed from z with Tensor ops
        under create_graph=True, so that the graph leads back to z (see ops/norm.py: the same choice)."""
        if not is_grad_enabled():
            return constant(self.probs)
        shifted = z - constant(z.data.max(axis=1, keepdims=True))     # (N, K); softmax ignores the shift
        e = shifted.exp()
        return e / e.sum(axis=1, keepdims=True)                      # (N, K)


def cross_entropy(logits, labels):
    """Mean softmax cross-entropy of ``logits`` (N, K) against integer class ``labels`` (N,).

    ``labels`` is an integer Tensor or array on the same backend as ``logits``; it gets no gradient.
    Example: logits (64, 10) from a classifier, labels (64,) in 0..9 -> a scalar loss Tensor.
    """
    from minigan.tensor import Tensor  # tensor.py builds on the ops: import late

    if not isinstance(logits, Tensor):
        raise TypeError(f"cross_entropy: logits must be a Tensor (N, K), got {type(logits).__name__}")
    y = labels.data if isinstance(labels, Tensor) else labels       # (N,); NB numpy arrays have .data too
    if getattr(y, "dtype", None) is None or y.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be an integer array or tensor, got "
                        f"{getattr(y, 'dtype', type(y).__name__)}; use labels.astype('int64')")
    if logits.ndim != 2 or y.ndim != 1 or y.shape[0] != logits.shape[0]:
        raise ValueError(f"cross_entropy: expected logits (N, K) and labels (N,), got logits "
                         f"{tuple(logits.shape)} and labels {tuple(y.shape)}")
    if backend_of(y) != backend_of(logits.data):
        raise TypeError(f"cross_entropy: logits live on {backend_of(logits.data)} but labels on "
                        f"{backend_of(y)}; move the labels with labels.to({backend_of(logits.data)!r}) "
                        "(or backend.to_device(labels))")
    k = logits.shape[1]
    if y.size and (int(y.min()) < 0 or int(y.max()) >= k):
        raise ValueError(f"cross_entropy: labels must be in [0, {k - 1}] for {k} classes, got values "
                         f"from {int(y.min())} to {int(y.max())}")
    return CrossEntropy(y)(logits)
