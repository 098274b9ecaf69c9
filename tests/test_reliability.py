"""Reliability: clear errors on bad input, no lost work, nothing executed from files (docs/reliability.md).

Four parts:
1. bad inputs to every layer, the GAN models, mg.cat and the losses, chosen by hand: the error type, and
   a message that names the layer (its repr), what it expected and what it got;
2. the same with Hypothesis: random shapes, dtypes and kinds of input (Tensor, NumPy array, list) for
   every layer and model, random damage for the dataset parsers. Each input gets either a result of the
   right shape or one of the documented exceptions (ValueError, TypeError, DatasetError) - never an
   IndexError, AttributeError or a raw NumPy error, never an output of the wrong shape;
3. detect_anomaly in a real model: the first op whose forward or backward gives NaN/Inf is named;
4. faults during training, in-process: SIGTERM and a second Ctrl-C, a log that a killed run left
   half-written, stale temp files, a checkpoint of another model or batch size.
SIGKILL of a real training process is tests/test_kill_resume.py; damaged/pickled checkpoints are
tests/test_checkpoint.py; damaged dataset files and downloads are tests/test_data*.py.
"""

import gzip
import json
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
import minigan.nn as nn
from data_formats import CIFAR_ARCHIVE, cifar_batch_bytes, idx_bytes
from minigan import training
from minigan.run import trainer
from minigan.run.checkpoint import CheckpointError, load_checkpoint
from minigan.data import DatasetError, fake_dataset, load_cifar10, to_float_images
from minigan.data.cifar10 import RECORD_BYTES, parse_batch
from minigan.data.fashion_mnist import IMAGE_MAGIC, LABEL_MAGIC, parse_idx, read_idx
from minigan.models import build
from minigan.tensor import Tensor
from minigan.training import TrainConfig
from minigan.run.trainer import train

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def numpy_backend():
    """Every test starts and ends on the NumPy backend (some switch to "strict", the CuPy stand-in)."""
    mg.set_backend("numpy")
    mg.manual_seed(0)
    yield
    mg.set_backend("numpy")


def raises(exc_type, fn, *fragments):
    """Call fn(); it must raise exc_type with every fragment in its message. Returns the message."""
    with pytest.raises(exc_type) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    return message


# ========================================================================================================
# 1. Bad inputs, by hand
# ========================================================================================================
def test_wrong_features_channels_and_dims_name_the_layer_and_both_shapes():
    # more cases (Conv2d / ConvTranspose2d / BatchNorm channels) in tests/test_nn.py::test_layer_boundary_errors
    raises(ValueError, lambda: nn.Linear(784, 256)(mg.zeros(8, 28, 28)), "Linear(784, 256)", "(N, 784)",
           "(8, 28, 28)")
    raises(ValueError, lambda: nn.Linear(784, 256)(mg.zeros(8, 100)), "(N, 784)", "(8, 100)")
    raises(ValueError, lambda: nn.BatchNorm2d(64)(mg.zeros(8, 32, 4, 4)), "BatchNorm2d(64)",
           "(N, 64, H, W)", "(8, 32, 4, 4)")
    raises(ValueError, lambda: nn.Flatten()(mg.tensor(3.0)), "Flatten()", "(N, d1, ...)", "()")
    raises(ValueError, lambda: nn.Reshape(512, 2, 2)(mg.zeros(4, 1000)), "Reshape(512, 2, 2)", "2048",
           "(4, 1000)")


def test_image_too_small_for_the_kernel():
    conv = nn.Conv2d(3, 8, 5, stride=2, padding=1)
    raises(ValueError, lambda: conv(mg.zeros(2, 3, 2, 32)), repr(conv), "H, W >= 3", "(2, 3, 2, 32)")
    deconv = nn.ConvTranspose2d(4, 2, 3, stride=1, padding=2)       # (H - 1) - 4 + 3 = H - 2 pixels
    raises(ValueError, lambda: deconv(mg.zeros(1, 4, 2, 2)), repr(deconv), "(1, 4, 2, 2)", "gives 0x0 pixels")
    assert deconv(mg.zeros(1, 4, 3, 3)).shape == (1, 2, 1, 1)


def test_batchnorm_in_training_mode_needs_two_values_per_channel():
    bn = nn.BatchNorm1d(3)
    raises(ValueError, lambda: bn(mg.zeros(1, 3)), "BatchNorm1d(3)", "(1, 3)", ".eval()")
    assert bn.eval()(mg.zeros(1, 3)).shape == (1, 3)                # eval mode: running statistics


def test_lists_and_numpy_arrays_are_refused_by_layers_with_the_fix():
    for layer in (nn.Linear(3, 2), nn.Conv2d(1, 1, 1), nn.Dropout(0.5), nn.Flatten(), nn.Reshape(3)):
        raises(TypeError, lambda: layer([[1.0, 2.0, 3.0]]), repr(layer), "got list", "mg.tensor(x)")
        raises(TypeError, lambda: layer(np.ones((2, 3), np.float32)), "numpy.ndarray", "mg.tensor(x)")
    assert nn.Linear(3, 2)(mg.tensor([[1.0, 2.0, 3.0]])).shape == (1, 2)   # wrapped: works
    # the operators and mg.cat take arrays and lists, like NumPy does
    assert (mg.ones(2) + [1.0, 2.0]).numpy().tolist() == [2.0, 3.0]
    assert mg.cat([mg.zeros(1, 2), np.ones((1, 2), np.float32)]).shape == (2, 2)


def test_float64_or_integer_input_into_a_float32_model_is_a_type_error():
    """Decision (docs/reliability.md): nothing is cast silently; PyTorch refuses too."""
    G, _ = build({"name": "gan", "latent_dim": 8})
    z64 = mg.Tensor(np.random.default_rng(0).standard_normal((2, 8)))   # NumPy's default dtype: float64
    raises(TypeError, lambda: G(z64), "Linear(8, 256)", "expected float32", "got float64", "astype('float32')")
    images = mg.tensor(fake_dataset("fashion-mnist", 2)[0][:, None])   # uint8 (2, 1, 28, 28)
    raises(TypeError, lambda: nn.Conv2d(1, 4, 3)(images), "got uint8", "to_float_images")
    assert G(z64.astype(np.float32)).shape == (2, 1, 28, 28)
    assert nn.Linear(2, 1)(mg.tensor(np.ones((1, 2)))).dtype == np.float32   # mg.tensor makes float32


def test_embedding_and_cross_entropy_labels():
    emb = nn.Embedding(10, 4)
    raises(TypeError, lambda: emb(mg.tensor([1.0, 2.0])), "Embedding(10, 4)", "integer", "float32")
    raises(TypeError, lambda: emb([1, 2]), "Embedding(10, 4)", "list")
    raises(ValueError, lambda: emb(mg.tensor(np.array([[1, 2]]))), "Embedding(10, 4)", "(N,)", "(1, 2)")
    raises(ValueError, lambda: emb(mg.tensor(np.array([3, 10]))), "Embedding(10, 4)", "[0, 9]", "3 to 10")
    raises(ValueError, lambda: emb(mg.tensor(np.array([-1, 0]))), "-1 to 0")
    assert emb(np.array([0, 9])).shape == (2, 4)                    # an integer array works like a Tensor
    # cross_entropy: more in tests/test_evaluation.py::test_cross_entropy_rejects_bad_labels
    raises(TypeError, lambda: F.cross_entropy([[0.0, 1.0]], np.array([0])), "cross_entropy", "list")
    raises(ValueError, lambda: F.cross_entropy(mg.zeros(2, 3), np.array([0, 3])), "[0, 2]", "0 to 3")


@pytest.mark.parametrize("model", ["Generator", "Discriminator"])
def test_cgan_labels_errors_name_the_model(model):
    G, D = build({"name": "cgan", "latent_dim": 8})
    net, x = (G, mg.randn(3, 8)) if model == "Generator" else (D, mg.randn(3, 1, 28, 28))
    name = f"cgan.{model}"
    raises(TypeError, lambda: net(x, mg.tensor([1.0, 2.0, 3.0])), name, "integer", "float32")
    raises(TypeError, lambda: net(x, [1, 2, 3]), name, "list")
    raises(ValueError, lambda: net(x, mg.tensor(np.array([[1], [2], [3]]))), name, "(3,)", "(3, 1)")
    raises(ValueError, lambda: net(x, mg.tensor(np.array([1, 2]))), name, "(N,) = (3,)", "(2,)")
    raises(ValueError, lambda: net(x, mg.tensor(np.array([0, 5, 10]))), name, "[0, 9]", "0 to 10")
    assert net(x, mg.tensor(np.array([0, 5, 9]))).shape[0] == 3


def test_cat_and_bce_errors():
    # batch-size mismatch in mg.cat: tests/test_ops.py::test_cat_shape_error_names_both_shapes
    raises(ValueError, lambda: mg.cat([mg.zeros(4, 3), mg.zeros(5, 2)], axis=1), "(4, 3)", "(5, 2)",
           "batch sizes")
    raises(ValueError, lambda: mg.cat([mg.zeros(2, 3)], axis=2), "axis 2", "(2, 3)")
    raises(ValueError, lambda: mg.cat([mg.tensor(1.0), mg.tensor(2.0)]), "()")
    # BCE shape mismatch: tests/test_norm_embedding_losses.py::test_bce_shape_mismatch
    raises(ValueError, lambda: F.binary_cross_entropy_with_logits(mg.zeros(4, 1), mg.zeros(4)), "(4, 1)", "(4,)")
    raises(TypeError, lambda: F.binary_cross_entropy(mg.ones(2) * 0.5, [1.0, 0.0]), "target", "list")
    raises(ValueError, lambda: F.binary_cross_entropy(mg.tensor([0.5, 1.5]), mg.ones(2)), "[0, 1]", "1.5",
           "sigmoid")


def test_other_shape_ops_and_tensor_edge_cases():
    raises(ValueError, lambda: mg.zeros(2, 3).reshape(4, 2), "(4, 2)", "(2, 3) (6 values)")
    raises(ValueError, lambda: mg.zeros(2, 3).reshape(-1, -1), "(-1, -1)")
    assert mg.zeros(2, 3).reshape(3, -1).shape == (3, 2) and nn.Flatten()(mg.zeros(0, 2, 2)).shape == (0, 4)
    raises(TypeError, lambda: len(mg.tensor(1.0)), "0-d")
    raises(TypeError, lambda: mg.Tensor(None), "Tensor(None)")


def test_bad_layer_arguments_fail_at_construction():
    raises(ValueError, lambda: nn.Linear(0, 3), "Linear", "in_features", ">= 1")
    raises(ValueError, lambda: nn.Conv2d(3, 8, 4, stride=0), "Conv2d", "stride")
    raises(ValueError, lambda: nn.Conv2d(3, 8, 4.0), "kernel_size", "4.0")
    raises(ValueError, lambda: nn.ConvTranspose2d(3, 8, 4, stride=2, output_padding=2), "output_padding", "(2)")
    raises(ValueError, lambda: nn.ConvTranspose2d(3, 8, 3, padding=3, method="dilate"), "dilate", "scatter")
    raises(ValueError, lambda: nn.ConvTranspose2d(3, 8, 3, method="fft"), "'fft'")
    raises(ValueError, lambda: nn.Dropout(1.0), "Dropout", "[0, 1)")
    raises(ValueError, lambda: nn.Reshape(512, -1), "Reshape", "-1")
    raises(ValueError, lambda: nn.BatchNorm2d(0), "BatchNorm2d", "num_features")


def test_mixing_numpy_and_the_cupy_stand_in_says_how_to_move():
    """"strict" (tests/strict_xp.py) behaves like CuPy: its arrays refuse to mix with NumPy's."""
    mg.set_backend("strict")
    model = nn.Sequential(nn.Linear(3, 2))
    x_host = mg.tensor(np.ones((1, 3))).to("numpy")
    message = raises(TypeError, lambda: model(x_host), "different backends", "(1, 3) float32 numpy",
                     "float32 strict", "tensor.to(", "module.to(")
    assert "Linear" in message
    assert model(x_host.to("strict")).backend == "strict"
    assert model.to("numpy")(x_host).backend == "numpy"             # or move the model instead
    emb = nn.Embedding(10, 4).to("strict")
    raises(TypeError, lambda: emb(np.array([1, 2])), "Embedding(10, 4)", "numpy", "strict", "labels.to('strict')")
    raises(TypeError, lambda: mg.cat([mg.zeros(1, 2), mg.zeros(1, 2).to("numpy")]), "Concat", "different backends")
    raises(TypeError, lambda: F.cross_entropy(mg.zeros(2, 3), np.array([0, 1])), "labels.to('strict')")


# ========================================================================================================
# 2. Hypothesis: random inputs for every layer and model, random damage for the parsers
# ========================================================================================================
DTYPES = ["float32"] * 5 + ["float64", "int64", "uint8", "bool"]
KINDS = ["tensor"] * 6 + ["numpy", "list"]


@st.composite
def near(draw, shape):
    """``shape``, or it with one size changed, one axis dropped or one added (half the draws stay valid)."""
    shape = list(shape)
    how = draw(st.sampled_from(["same", "same", "same", "change", "drop", "add"]))
    if how == "change" and shape:
        shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(0, 6))
    elif how == "drop" and shape:
        del shape[draw(st.integers(0, len(shape) - 1))]
    elif how == "add":
        shape.insert(draw(st.integers(0, len(shape))), draw(st.integers(0, 3)))
    return tuple(shape)


@st.composite
def inputs(draw, shape, dtypes=DTYPES, kinds=KINDS, high=7):
    """A Tensor, a NumPy array or a list of a shape near ``shape``; integers drawn from [-1, high)."""
    shape = draw(near(shape))
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if dtype.kind == "f":
        values = np.asarray(rng.standard_normal(shape)).astype(dtype)
    else:
        low, high = (0, 2) if dtype.kind == "b" else (0 if dtype.kind == "u" else -1, high)
        values = np.asarray(rng.integers(low, high, shape)).astype(dtype)
    kind = draw(st.sampled_from(kinds))
    return {"tensor": mg.Tensor(values), "numpy": values, "list": values.tolist()}[kind]   # 0-d: a number


class Refuse:
    """The oracle's verdict "this input must be refused"; the message must contain ``fragment``."""

    def __init__(self, fragment):
        self.fragment = fragment


def tensor_verdict(x, dtype="float32"):
    """Refuse a non-Tensor (naming its type) or a Tensor of another dtype (naming the dtype).

    ``dtype``: the one dtype a layer with weights takes; "float": any floating dtype; None: any dtype.
    """
    if not isinstance(x, Tensor):
        return Refuse("numpy.ndarray" if isinstance(x, np.ndarray) else type(x).__name__)
    if dtype == "float":
        wrong_dtype = x.dtype.kind != "f"
    else:
        wrong_dtype = dtype is not None and x.dtype != dtype
    return Refuse(str(x.dtype)) if wrong_dtype else None


def check(layer, x, verdict, name=None):
    """Run ``layer(x)``: the output shape the oracle expects, or a documented error it predicted."""
    name = repr(layer) if name is None else name
    event("refused" if isinstance(verdict, Refuse) else "valid")   # see --hypothesis-show-statistics
    try:
        y = layer(x)
    except (ValueError, TypeError) as err:
        message = str(err)
        assert isinstance(verdict, Refuse), f"a valid input was refused: {message}"
        assert name in message and verdict.fragment in message, message
        return
    assert not isinstance(verdict, Refuse), f"{name} accepted an input it must refuse ({verdict.fragment})"
    assert isinstance(y, Tensor) and y.shape == verdict, (y.shape, verdict)


@FAST
@given(st.data(), st.integers(1, 4), st.integers(1, 4))
def test_hypothesis_linear(data, fin, fout):
    layer = nn.Linear(fin, fout)
    x = data.draw(inputs((data.draw(st.integers(0, 3)), fin)))
    verdict = tensor_verdict(x) or (Refuse(str(x.shape)) if x.ndim != 2 or x.shape[1] != fin
                                    else (x.shape[0], fout))
    check(layer, x, verdict)


@FAST
@given(st.data(), st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2))
def test_hypothesis_conv2d(data, cin, cout, k, s, p):
    layer = nn.Conv2d(cin, cout, k, stride=s, padding=p)
    x = data.draw(inputs((data.draw(st.integers(0, 2)), cin, data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7)))))
    verdict = tensor_verdict(x)
    if verdict is None:
        if x.ndim != 4 or x.shape[1] != cin or min(x.shape[2:]) + 2 * p < k or min(x.shape[2:]) < 1:
            verdict = Refuse(str(x.shape))
        else:
            verdict = (x.shape[0], cout, *((n + 2 * p - k) // s + 1 for n in x.shape[2:]))
    check(layer, x, verdict)


@FAST
@given(st.data(), st.sampled_from(["scatter", "dilate"]), st.integers(1, 3), st.integers(1, 3),
       st.integers(1, 4), st.integers(1, 3), st.integers(0, 3))
def test_hypothesis_conv_transpose2d(data, method, cin, cout, k, s, p):
    op = data.draw(st.integers(0, s - 1))
    if method == "dilate":
        p = min(p, k - 1)                                            # the dilate form needs p <= k - 1
    layer = nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, method=method)
    x = data.draw(inputs((data.draw(st.integers(0, 2)), cin, data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5)))))
    verdict = tensor_verdict(x)
    if verdict is None:
        out = [(n - 1) * s - 2 * p + k + op for n in x.shape[2:]]
        if x.ndim != 4 or x.shape[1] != cin or min(x.shape[2:]) < 1 or min(out) < 1:
            verdict = Refuse(str(x.shape))
        else:
            verdict = (x.shape[0], cout, *out)
    check(layer, x, verdict)


@FAST
@given(st.data(), st.sampled_from([1, 2]), st.integers(1, 4), st.booleans())
def test_hypothesis_batchnorm(data, which, c, training):
    layer = (nn.BatchNorm1d(c) if which == 1 else nn.BatchNorm2d(c)).train(training)
    shape = (data.draw(st.integers(0, 3)), c) + ((data.draw(st.integers(0, 3)),) * 2 if which == 2 else ())
    x = data.draw(inputs(shape))
    verdict = tensor_verdict(x)
    if verdict is None:
        wrong = x.ndim != (2 if which == 1 else 4) or x.shape[1] != c or training and x.size < 2 * c
        verdict = Refuse(str(x.shape)) if wrong else x.shape
    check(layer, x, verdict)


@FAST
@given(st.data(), st.integers(1, 6), st.integers(1, 3))
def test_hypothesis_embedding(data, num, dim):
    layer = nn.Embedding(num, dim)
    x = data.draw(inputs((data.draw(st.integers(0, 4)),), dtypes=["int64"] * 4 + ["uint8", "float32", "bool"],
                         high=num + 1))
    idx = x.data if isinstance(x, Tensor) else x
    if not isinstance(idx, np.ndarray):
        verdict = Refuse(type(idx).__name__)
    elif idx.dtype.kind not in "iu":
        verdict = Refuse(str(idx.dtype))
    elif idx.ndim != 1:
        verdict = Refuse(str(idx.shape))
    elif idx.size and (idx.min() < 0 or idx.max() >= num):
        verdict = Refuse(f"from {idx.min()} to {idx.max()}")
    else:
        verdict = (len(idx), dim)
    check(layer, x, verdict)


@FAST
@given(st.data(), st.floats(0, 0.9), st.booleans())
def test_hypothesis_dropout(data, p, training):
    layer = nn.Dropout(p).train(training)
    x = data.draw(inputs(tuple(data.draw(st.lists(st.integers(0, 3), max_size=4)))))
    check(layer, x, tensor_verdict(x, dtype="float") or x.shape)


@FAST
@given(st.data())
def test_hypothesis_flatten_and_reshape(data):
    x = data.draw(inputs((data.draw(st.integers(0, 3)), 2, 3)))
    check(nn.Flatten(), x, tensor_verdict(x, dtype=None) or (
        Refuse(str(x.shape)) if x.ndim < 2 else (x.shape[0], math.prod(x.shape[1:]))))
    target = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))
    layer = nn.Reshape(*target)
    check(layer, x, tensor_verdict(x, dtype=None) or (
        Refuse(str(x.shape)) if x.ndim < 1 or math.prod(x.shape[1:]) != math.prod(target)
        else (x.shape[0], *target)))


MODELS = {}


def model(name):
    """The (G, D) pair of a model, built once (the big ones take a moment)."""
    if name not in MODELS:
        mg.manual_seed(0)
        MODELS[name] = build({"name": name, "latent_dim": 8})
    return MODELS[name]


IMAGE_SHAPES = {"gan": (1, 28, 28), "cgan": (1, 28, 28), "dcgan": (3, 32, 32)}


def check_model(net, args, exact, out_shape):
    """A model call: the right output shape, or a documented error that says what it expected and got.

    ``exact``: the inputs are exactly what the model is made for, so it must not refuse them. Other
    inputs may still be fine (a Flatten accepts any layout of 784 values), but never give another shape.
    """
    try:
        y = net(*args)
    except (ValueError, TypeError) as err:
        event(f"{type(net).__name__} refused")
        message = str(err)
        assert not exact, f"{type(net).__name__} refused valid inputs: {message}"
        assert "expected" in message and "got" in message, message
        return message
    event(f"{type(net).__name__} ran")
    assert isinstance(y, Tensor) and y.shape == out_shape, (y.shape, out_shape)
    return None


def is_exact(x, shape):
    return isinstance(x, Tensor) and x.dtype == np.float32 and x.shape == shape


def labels_pass(labels, rows):
    """Whether the cGAN's label check accepts ``labels`` for a batch of ``rows`` (None: not a batch)."""
    idx = labels.data if isinstance(labels, Tensor) else labels
    if not isinstance(idx, np.ndarray) or idx.dtype.kind not in "iu":
        return False
    if idx.ndim != 1 or rows is not None and idx.shape[0] != rows:
        return False
    return idx.size == 0 or 0 <= idx.min() and idx.max() < 10


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from(["gan", "dcgan", "cgan"]), st.integers(1, 3))
def test_hypothesis_gan_models(data, name, n):
    G, D = model(name)
    image_shape = IMAGE_SHAPES[name]
    z = data.draw(inputs((n, 8)))
    x = data.draw(inputs((n, *image_shape)))
    conditional = name == "cgan"
    labels = data.draw(inputs((n,), dtypes=["int64"] * 5 + ["float32"], high=11)) if conditional else None
    cond = (labels,) if conditional else ()
    for net, inp, shape, out_shape in ((G, z, (n, 8), image_shape), (D, x, (n, *image_shape), (1,))):
        rows = inp.shape[0] if getattr(inp, "ndim", 0) else None     # one label per row of the batch
        labels_ok = not conditional or labels_pass(labels, rows)
        # (a list works where the model's first op is mg.cat, which converts it: the cGAN's D)
        out_rows = np.shape(inp)[0] if np.ndim(inp) else None
        message = check_model(net, (inp, *cond), is_exact(inp, shape) and labels_ok, (out_rows, *out_shape))
        if not labels_ok:                                            # a label error names the model
            assert message is not None and f"cgan.{type(net).__name__}" in message, message


# --- dataset parsers -------------------------------------------------------------------------------------
@st.composite
def damaged(draw, data):
    """``data`` as it is, cut short, with bytes appended, a few bytes overwritten, or replaced by noise."""
    how = draw(st.sampled_from(["same", "cut", "append", "overwrite", "noise"]))
    data = bytearray(data)
    if how == "cut":
        data = data[: draw(st.integers(0, max(len(data) - 1, 0)))]
    elif how == "append":
        data += draw(st.binary(min_size=1, max_size=20))
    elif how == "overwrite" and data:
        for _ in range(draw(st.integers(1, 3))):
            data[draw(st.integers(0, min(len(data) - 1, 40)))] = draw(st.integers(0, 255))  # mostly the header
    elif how == "noise":
        data = bytearray(draw(st.binary(max_size=64)))
    return bytes(data)


@FAST
@given(st.data(), st.sampled_from([IMAGE_MAGIC, LABEL_MAGIC]), st.integers(0, 3))
def test_hypothesis_idx_parser(data, magic, n):
    array = np.arange(n * 784, dtype=np.uint8).reshape(n, 28, 28) if magic == IMAGE_MAGIC else np.arange(n)
    raw = data.draw(damaged(idx_bytes(array)))
    try:
        parsed = parse_idx(raw, magic, source="<fuzzed>")
    except DatasetError as err:
        message = str(err)
        assert "<fuzzed>" in message and "Delete it" in message
        assert any(word in message for word in ("magic number", "truncated", "extra bytes", "pixels")), message
        return
    ndim = magic & 0xFF                                              # success: exactly what the header says
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    assert parsed.shape == shape and parsed.dtype == np.uint8 and parsed.tobytes() == raw[4 + 4 * ndim:]
    if raw == idx_bytes(array):
        assert np.array_equal(parsed, array)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_hypothesis_idx_gzip_files(tmp_path, data):
    whole = gzip.compress(idx_bytes(np.zeros((2, 28, 28), np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data.draw(damaged(whole)))
    try:
        images = read_idx(path, IMAGE_MAGIC)
    except DatasetError as err:
        assert str(path) in str(err)
        return
    assert images.shape[1:] == (28, 28)


@FAST
@given(st.data(), st.lists(st.integers(0, 12), max_size=3))
def test_hypothesis_cifar_record_parser(data, labels):
    rng = np.random.default_rng(len(labels))
    images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    original = cifar_batch_bytes(images, labels)                    # the independent writer
    raw = data.draw(damaged(original))
    records = len(raw) // RECORD_BYTES
    valid = len(raw) > 0 and len(raw) % RECORD_BYTES == 0 and max(raw[i * RECORD_BYTES] for i in range(records)) < 10
    try:
        parsed_images, parsed_labels = parse_batch(raw, source="<fuzzed>")
    except DatasetError as err:
        assert not valid, f"valid records refused: {err}"
        assert "<fuzzed>" in str(err) and ("bytes" in str(err) or "label" in str(err))
        return
    assert valid
    assert parsed_images.shape == (records, 32, 32, 3) and parsed_labels.shape == (records,)
    if raw == original:
        assert np.array_equal(parsed_images, images) and parsed_labels.tolist() == labels


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=200), gzip_header=st.booleans())
def test_hypothesis_cifar_archive_of_garbage(tmp_path, data, gzip_header):
    (tmp_path / CIFAR_ARCHIVE).write_bytes((b"\x1f\x8b\x08\x00" if gzip_header else b"") + data)
    with pytest.raises(DatasetError, match="cifar-10-binary.tar.gz"):
        load_cifar10(tmp_path, split="test", download=False)


# ========================================================================================================
# 3. detect_anomaly in a real model
# ========================================================================================================
def test_detect_anomaly_names_the_first_forward_op_that_makes_nan():
    _, D = model("gan")
    x = mg.randn(16, 1, 28, 28)
    D.eval()                                                         # no dropout: the same logits twice
    try:
        logits = D(x)
        assert (logits.numpy() < 0).any()                            # some logits are negative
        with np.errstate(invalid="ignore"):
            assert np.isnan(logits.log().mean().item())              # without the check: a silent NaN
            with mg.detect_anomaly():
                logits = D(x)                                        # D's forward is finite
                with pytest.raises(FloatingPointError) as info:
                    (-logits.log()).mean()                           # the bug: log of logits, not log-sigmoid
    finally:
        D.train()
    message = str(info.value)
    assert "Log.forward" in message and "(16, 1) float32 numpy" in message


def test_detect_anomaly_names_the_first_backward_op_that_makes_inf():
    _, D = model("gan")
    logits = None
    with mg.detect_anomaly():
        logits = D(mg.randn(4, 1, 28, 28))
        # a gradient-penalty-like term: the norm of a difference that is exactly 0 here; its forward is
        # finite (sqrt(0) = 0), its backward is not (d sqrt(u)/du = 1 / (2 sqrt(u)) = inf at u = 0)
        penalty = ((logits - logits.detach()) ** 2).sum() ** 0.5
        loss = F.binary_cross_entropy_with_logits(logits, mg.ones(4, 1)) + penalty
        assert np.isfinite(loss.item())
        with np.errstate(divide="ignore"), pytest.raises(FloatingPointError) as info:
            loss.backward()
    message = str(info.value)
    assert "Pow.backward" in message and "() float32 numpy" in message
    assert all(p.grad is None for p in D.parameters())              # it stopped before reaching D


# ========================================================================================================
# 4. Faults during training, in-process
# ========================================================================================================
def tiny_train(out, epochs, resume=False, latent_dim=8, batch_size=16, plots=False, monkeypatch=None):
    """The plain GAN (D has dropout: random numbers) on 32 fake images, 2 iterations per epoch."""
    if not plots:                                                    # PNGs take most of the time
        monkeypatch.setattr("minigan.run.viz.save_image_grid", lambda *a, **k: None)
        monkeypatch.setattr("minigan.run.viz.plot_curves", lambda *a, **k: None)
    mg.manual_seed(0)
    images, labels = fake_dataset("fashion-mnist", 32, seed=1)
    spec = {"name": "gan", "latent_dim": latent_dim}
    G, D = build(spec)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, latent_dim=latent_dim, sample_every=0,
                         progress=False)
    return train(G, D, to_float_images(images), labels, config, out, spec, resume=resume)


def assert_same_checkpoints(a, b):
    arrays_a, arrays_b = load_checkpoint(a)[0], load_checkpoint(b)[0]
    assert sorted(arrays_a) == sorted(arrays_b)
    for key in arrays_a:
        assert arrays_a[key].tobytes() == arrays_b[key].tobytes(), key


def log_iterations(out):
    return [r["iteration"] for r in map(json.loads, (Path(out) / "log.jsonl").read_text().splitlines())
            if "loss_D" in r]


def send_after(monkeypatch, signals, at_iteration):
    """Make the G step of iteration ``at_iteration`` send ``signals`` to this process."""
    real_g_step, calls = training.g_step, []

    def g_step(*args, **kwargs):
        loss = real_g_step(*args, **kwargs)
        calls.append(1)
        if len(calls) == at_iteration:
            for sig in signals:
                os.kill(os.getpid(), sig)
        return loss

    monkeypatch.setattr(trainer, "g_step", g_step)


def test_sigterm_saves_the_current_iteration_and_resume_is_exact(tmp_path, monkeypatch):
    tiny_train(tmp_path / "full", 2, monkeypatch=monkeypatch)
    send_after(monkeypatch, [signal.SIGTERM], at_iteration=3)       # epoch 2, batch 1
    history = tiny_train(tmp_path / "cut", 2, monkeypatch=monkeypatch)
    assert len(history) == 3
    meta = load_checkpoint(tmp_path / "cut" / "checkpoint.npz")[1]
    assert (meta["epoch"], meta["batch"], meta["iteration"]) == (1, 1, 3)
    monkeypatch.undo()                                               # the real g_step again
    tiny_train(tmp_path / "cut", 2, resume=True, monkeypatch=monkeypatch)
    assert_same_checkpoints(tmp_path / "full" / "checkpoint.npz", tmp_path / "cut" / "checkpoint.npz")
    assert log_iterations(tmp_path / "cut") == [1, 2, 3, 4]


def test_second_ctrl_c_aborts_at_once_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    tiny_train(tmp_path, 1, monkeypatch=monkeypatch)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    send_after(monkeypatch, [signal.SIGINT, signal.SIGINT], at_iteration=1)
    with pytest.raises(KeyboardInterrupt):
        tiny_train(tmp_path, 2, resume=True, monkeypatch=monkeypatch)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_resume_drops_log_lines_after_the_checkpoint_and_a_half_written_line(tmp_path, monkeypatch):
    """A run killed by SIGKILL logged iterations its checkpoint lacks, and may die mid-line."""
    tiny_train(tmp_path, 1, monkeypatch=monkeypatch)
    with open(tmp_path / "log.jsonl", "a") as log:
        log.write(json.dumps({"epoch": 1, "batch": 0, "iteration": 3, "loss_D": 1.0, "loss_G": 1.0,
                              "D_x": 0.5, "D_G_z": 0.5}) + "\n")
        log.write('{"epoch": 1, "batch": 1, "iteration": 4, "loss_D": 0.6')   # killed mid-write
    (tmp_path / ".checkpoint.npz.tmp-99999").write_bytes(b"PK\x03\x04 half a zip")   # killed mid-save
    monkeypatch.undo()                                               # the real plot_curves reads the log
    tiny_train(tmp_path, 2, resume=True, plots=True, monkeypatch=monkeypatch)   # plot_curves reads the log
    assert log_iterations(tmp_path) == [1, 2, 3, 4]
    assert (tmp_path / "curves.png").exists()
    assert not (tmp_path / ".checkpoint.npz.tmp-99999").exists()


def test_resume_refuses_another_model_or_batch_size_and_damaged_checkpoints(tmp_path, monkeypatch):
    tiny_train(tmp_path, 1, monkeypatch=monkeypatch)
    raises(CheckpointError, lambda: tiny_train(tmp_path, 2, resume=True, latent_dim=16, monkeypatch=monkeypatch),
           "'latent_dim': 8", "'latent_dim': 16", "another --out")
    raises(CheckpointError, lambda: tiny_train(tmp_path, 2, resume=True, batch_size=8, monkeypatch=monkeypatch),
           "batch size 16", "uses 8")
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[:1000])                       # a copy that did not finish
    raises(CheckpointError, lambda: tiny_train(tmp_path, 2, resume=True, monkeypatch=monkeypatch), "truncated")


# ----------------------------------------------------------------------------------------------------
# Pictures are replaced atomically, like checkpoints
# ----------------------------------------------------------------------------------------------------
def test_sample_grid_and_curves_replace_the_old_file_or_nothing(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from minigan.run import viz

    images = mg.tensor(np.linspace(-1, 1, 4 * 3 * 8 * 8, dtype=np.float32).reshape(4, 3, 8, 8))
    grid = tmp_path / "samples_latest.png"
    viz.save_image_grid(images, grid, nrow=2)
    picture = plt.imread(grid)
    assert picture.shape == (2 * (8 + 2) * 2 + 4, 2 * (8 + 2) * 2 + 4, 4)      # 2x2 grid, pad 2, scale 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples_latest.png"]   # no temp file left
    before = grid.read_bytes()

    def killed_mid_write(fname, *args, **kwargs):                   # half a PNG, then the interrupt
        with open(fname, "wb") as f:
            f.write(before[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(plt, "imsave", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        viz.save_image_grid(-images, grid, nrow=2)
    assert grid.read_bytes() == before                              # the old picture, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples_latest.png"]

    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps({"iteration": i, "loss_D": 1.0, "loss_G": 1.0, "D_x": 0.5, "D_G_z": 0.5})
                           + "\n" for i in range(20)))
    def disk_full(self, fname, **kwargs):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG")
        raise OSError("disk full")

    monkeypatch.setattr(plt.Figure, "savefig", disk_full)
    with pytest.raises(OSError, match="disk full"):
        viz.plot_curves(log, tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.jsonl", "samples_latest.png"]
    monkeypatch.undo()
    viz.plot_curves(log, tmp_path / "curves.png")
    assert plt.imread(tmp_path / "curves.png").ndim == 3
