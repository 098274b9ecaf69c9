"""The layers of ops/embedding.py: Embedding (a table of learned vectors, one per class) and Dropout.

Reading order: nn/layers -> **nn/embedding** -> optim -> models (the cGAN's label path uses Embedding,
the plain GAN's discriminator Dropout). The input checks are those of nn/layers.py.
"""

from minigan import functional as F
from minigan.nn import init
from minigan.nn.layers import _check_ints, _check_tensor, _empty
from minigan.nn.module import Module, Parameter


class Embedding(Module):
    def __init__(self, num_embeddings, embedding_dim):
        _check_ints("Embedding", 1, num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = init.normal_(Parameter(_empty(num_embeddings, embedding_dim)))   # N(0, 1), as PyTorch

    def forward(self, indices):                                      # (N,) ints -> (N, dim)
        return F.embedding(indices, self.weight, name=repr(self))    # checks the indices, naming this layer

    def extra_repr(self):
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Dropout(Module):
    def __init__(self, p=0.5):
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p!r}")
        self.p = p

    def forward(self, x):
        _check_tensor(self, x)
        if x.dtype.kind != "f":
            raise TypeError(f"{self!r}: expected a floating-point input, got {x.dtype} of shape {x.shape}")
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
