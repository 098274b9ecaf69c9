"""minigan: a small deep-learning framework on NumPy/CuPy, and the GAN family built on it.

Reading order: backend -> autograd -> ops -> tensor -> functional -> nn -> optim -> models -> training.
Start with ``minigan/backend.py``. The names below are the public API (see docs/reading-guide.md).
"""

from minigan import fast, nn, optim
from minigan.autograd import grad, is_grad_enabled, no_grad
from minigan.backend import get_backend, is_textbook, manual_seed, set_backend, textbook, to_numpy
from minigan.tools.gradcheck import gradcheck, gradgradcheck
from minigan.tools.debug import detect_anomaly, trace
from minigan.tools.graphviz import draw_graph, to_dot
from minigan.tensor import Tensor, cat, ones, randn, tensor, zeros

__version__ = "0.1.0"

__all__ = [
    "Tensor", "cat", "detect_anomaly", "draw_graph", "fast", "get_backend", "grad", "gradcheck", "gradgradcheck",
    "is_grad_enabled", "is_textbook", "textbook", "manual_seed", "nn", "no_grad", "ones", "optim", "randn", "set_backend", "tensor", "to_dot",
    "to_numpy", "trace", "zeros",
]
