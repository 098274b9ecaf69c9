"""Model dtypes: Module.to(dtype), .double(), .float(); optimizers refuse a dtype mismatch; a float64
model passes gradcheck as a whole."""

import numpy as np
import pytest

import minigan as mg
from minigan import nn
from minigan.models import build
from minigan.optim import SGD, Adam


def small_model():
    return nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, output_padding=1), nn.Flatten(),
        nn.Linear(16, 2), nn.Sigmoid(),
    )


def test_double_and_float_convert_parameters_and_buffers_in_place(backend):
    model = small_model()
    weight = model[0].weight
    model(mg.randn(2, 1, 4, 4)).sum().backward()
    assert model.double() is model
    assert all(t.dtype == np.float64 and t.grad is None and t.backend == backend for _, t in model.named_tensors())
    assert model[0].weight is weight                                  # the same Parameter objects
    assert model[1].running_var.dtype == np.float64                   # buffers too
    assert model(mg.tensor(np.ones((2, 1, 4, 4)), dtype=np.float64)).dtype == np.float64
    model.float()
    assert all(t.dtype == np.float32 for _, t in model.named_tensors())


@pytest.mark.parametrize("target", [np.float64, "float64", np.dtype("float64")])
def test_to_accepts_a_dtype_and_still_a_backend_name(target):
    model = small_model()
    before = model[0].weight.numpy()
    model.to(target)
    assert model[0].weight.dtype == np.float64
    assert np.array_equal(model[0].weight.numpy(), before.astype(np.float64))   # values kept exactly
    assert model.to("numpy")[0].weight.dtype == np.float64                       # a backend: dtype kept


def test_to_keeps_integer_buffers():
    class WithCounter(nn.Module):
        def __init__(self):
            self.lin = nn.Linear(2, 2)
            self.seen = mg.Tensor(np.array([3], dtype=np.int64))   # an integer buffer
    model = WithCounter().double()
    assert model.lin.weight.dtype == np.float64 and model.seen.dtype == np.int64


@pytest.mark.parametrize("target", ["cpu", "int64", np.int32, None])
def test_to_refuses_what_is_neither_a_backend_nor_a_float_dtype(target):
    with pytest.raises(TypeError, match=r"expected a backend name .* or a float dtype"):
        small_model().to(target)


def test_adam_refuses_a_model_converted_after_it_was_made():
    model = small_model()
    opt = Adam(model.parameters())
    model.double()
    model(mg.tensor(np.ones((2, 1, 4, 4)), dtype=np.float64)).sum().backward()
    with pytest.raises(TypeError, match=r"Adam: the data of parameter 0 .* is float64, but the optimizer "
                                        r"state is float32.*BEFORE making its optimizer"):
        opt.step()


def test_optimizer_state_of_another_dtype_is_refused():
    model = small_model()
    opt32 = Adam(model.parameters())
    model(mg.randn(2, 1, 4, 4)).sum().backward()
    opt32.step()
    state = opt32.state_dict()
    model.double()
    opt64 = Adam(model.parameters())
    with pytest.raises(TypeError, match=r"the saved m\.0 of parameter 0 .* is float32, but the optimizer state is float64"):
        opt64.load_state_dict(state)
    opt64.load_state_dict({k: v.astype(np.float64) if k != "t" else v for k, v in state.items()})   # fine

    sgd = SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match=r"SGD: the saved velocity\.0 .* is float32"):
        sgd.load_state_dict({"velocity.0": np.zeros(model[0].weight.shape, dtype=np.float32)})


def test_a_float64_model_trains_with_a_float64_optimizer(backend):
    model = small_model().double()
    opt = Adam(model.parameters(), lr=1e-2)
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 1, 4, 4)), dtype=np.float64)
    for _ in range(3):
        opt.zero_grad()
        model(x).sum().backward()
        opt.step()
    assert opt.m_flat.dtype == np.float64 and all(p.dtype == np.float64 for p in model.parameters())


def test_whole_small_model_gradcheck_after_double(backend, rng):
    """The docs' example (docs/autograd.md): every parameter of a conv / BN / transposed-conv model."""
    model = small_model().double()
    x = mg.tensor(rng.standard_normal((2, 1, 4, 4)), dtype=np.float64, requires_grad=True)
    assert mg.gradcheck(lambda inp, *params: model(inp), x, *model.parameters())


def test_gradcheck_of_the_dcgan64_discriminator_head_in_float64(rng):
    """The 64x64 DCGAN's last D layers (bias-free conv, BN, LeakyReLU, 4x4 conv to one logit), narrow."""
    head = nn.Sequential(nn.Conv2d(3, 2, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(2), nn.LeakyReLU(0.2),
                         nn.Conv2d(2, 1, 4, stride=1, padding=0, bias=False), nn.Flatten()).double()
    x = mg.tensor(rng.standard_normal((3, 3, 8, 8)), dtype=np.float64, requires_grad=True)
    assert head(x).shape == (3, 1)
    assert mg.gradcheck(lambda inp, *params: head(inp), x, *head.parameters())


def test_a_built_model_converts_and_runs_in_float64():
    G, D = build({"name": "dcgan", "latent_dim": 8, "image_size": 64})
    G.double(), D.double()
    with mg.no_grad():
        out = D(G(mg.randn(2, 8, dtype=np.float64)))
    assert out.dtype == np.float64 and out.shape == (2, 1)
