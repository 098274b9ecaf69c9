"""minigan/nn: Module walking and naming, modes, state_dict, layers, init, boundary errors."""

import math

import numpy as np
import pytest

import minigan as mg
import minigan.nn as nn
from minigan.nn import init


class Net(nn.Module):
    def __init__(self):
        self.body = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2))
        self.blocks = [nn.Linear(2, 2), nn.Tanh()]                  # a plain list of modules
        self.head = nn.Linear(2, 1, bias=False)

    def forward(self, x):
        x = self.body(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


NET_TENSORS = ["body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "body.1.running_mean",
               "body.1.running_var", "body.3.weight", "body.3.bias", "blocks.0.weight", "blocks.0.bias",
               "head.weight"]


def float64(model):
    """Cast every parameter and buffer to float64 in place (for gradcheck)."""
    for _, t in model.named_tensors():
        t.data = t.data.astype(np.float64)
    return model


# --- walking the tree --------------------------------------------------------------------------------------
def test_parameter_names_and_order_are_deterministic(backend):
    net = Net()
    assert [name for name, _ in net.named_tensors()] == NET_TENSORS
    params = [name for name, _ in net.named_parameters()]
    assert params == [n for n in NET_TENSORS if "running" not in n]   # buffers are not parameters
    assert [name for name, _ in Net().named_parameters()] == params    # same order on every build
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert net.num_parameters() == 4 * 3 + 3 + 3 + 3 + 3 * 2 + 2 + 2 * 2 + 2 + 2
    assert [name for name, _ in nn.Sequential(nn.Linear(2, 2)).named_parameters()] == ["0.weight", "0.bias"]


def test_train_and_eval_recurse(backend):
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    assert not net.blocks[1].training and not net.body[1].training
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_repr(backend):
    net = Net()
    net(mg.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    text = repr(net)
    assert "(body): Sequential(" in text and "(0): Linear(4, 3)" in text and "(blocks.1): Tanh()" in text


# --- state_dict -----------------------------------------------------------------------------------------------
def test_state_dict_round_trip(backend):
    mg.manual_seed(1)
    a = Net()
    a(mg.randn(6, 4))                                              # moves BatchNorm's running stats
    mg.manual_seed(2)
    b = Net()
    state = a.state_dict()
    assert list(state) == NET_TENSORS
    b.load_state_dict(state)
    for (name, ta), (_, tb) in zip(a.named_tensors(), b.named_tensors()):
        assert np.array_equal(ta.numpy(), tb.numpy()), name
    a.eval(), b.eval()
    x = mg.randn(3, 4)
    assert np.array_equal(a(x).numpy(), b(x).numpy())
    # the loaded model owns its arrays: training `a` further must not change `b`
    before = b.head.weight.numpy().copy()
    a.head.weight.data -= 1.0
    assert np.array_equal(b.head.weight.numpy(), before)


def test_state_dict_loads_numpy_arrays(backend):
    a, b = Net(), Net()
    b.load_state_dict({k: mg.to_numpy(v) for k, v in a.state_dict().items()})   # e.g. from a checkpoint
    assert all(t.backend == backend for _, t in b.named_tensors())
    assert np.array_equal(a.body[0].weight.numpy(), b.body[0].weight.numpy())


def test_load_state_dict_lists_every_problem(backend):
    net = Net()
    state = {k: mg.to_numpy(v) for k, v in net.state_dict().items()}
    del state["head.weight"]
    state["extra.weight"] = np.zeros(3)
    state["body.0.weight"] = np.zeros((3, 5))
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    assert "missing keys: ['head.weight']" in message
    assert "unexpected keys: ['extra.weight']" in message
    assert "body.0.weight: expected (3, 4), got (3, 5)" in message


# --- layers: shapes and PyTorch's default init ----------------------------------------------------------------
@pytest.mark.parametrize("layer, fan_in, weight_shape, x_shape, y_shape", [
    (lambda: nn.Linear(50, 40), 50, (40, 50), (7, 50), (7, 40)),
    (lambda: nn.Conv2d(3, 16, 4, stride=2, padding=1), 3 * 16, (16, 3, 4, 4), (2, 3, 8, 8), (2, 16, 4, 4)),
    (lambda: nn.ConvTranspose2d(16, 3, 4, stride=2, padding=1), 3 * 16, (16, 3, 4, 4), (2, 16, 4, 4),
     (2, 3, 8, 8)),
    (lambda: nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, method="dilate"), 2 * 9,
     (4, 2, 3, 3), (1, 4, 3, 3), (1, 2, 6, 6)),
])
def test_layer_shapes_and_default_init(backend, layer, fan_in, weight_shape, x_shape, y_shape):
    m = layer()
    assert m.weight.shape == weight_shape and m.weight.dtype == np.float32 and m.weight.backend == backend
    bound = 1 / math.sqrt(fan_in)                                  # kaiming_uniform_(a=sqrt(5))
    w, b = m.weight.numpy(), m.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound and abs(w.mean()) < 0.2 * bound
    assert b.shape == (weight_shape[0] if isinstance(m, (nn.Linear, nn.Conv2d)) else weight_shape[1],)
    assert np.abs(b).max() <= bound
    assert m(mg.randn(*x_shape)).shape == y_shape


def test_layers_without_bias(backend):
    assert nn.Linear(3, 2, bias=False).bias is None and len(nn.Linear(3, 2, bias=False).parameters()) == 1
    assert nn.Conv2d(3, 2, 3, bias=False).bias is None
    assert nn.ConvTranspose2d(3, 2, 3, bias=False)(mg.randn(1, 3, 2, 2)).shape == (1, 2, 4, 4)


def test_init_functions(backend):
    t = nn.Parameter(mg.zeros(200, 300).data)
    init.normal_(t, std=0.02)
    assert abs(t.numpy().std() - 0.02) < 0.001 and abs(t.numpy().mean()) < 0.001
    fan_in, fan_out = init.fan_in_and_fan_out(t)
    assert (fan_in, fan_out) == (300, 200)
    init.xavier_uniform_(t)
    bound = math.sqrt(6 / (300 + 200))
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.95 * bound
    init.kaiming_uniform_(t, a=0.2)
    bound = math.sqrt(6 / ((1 + 0.04) * 300))
    assert np.abs(t.numpy()).max() <= bound and np.abs(t.numpy()).max() > 0.95 * bound
    conv = mg.zeros(8, 4, 3, 3)
    assert init.fan_in_and_fan_out(conv) == (4 * 9, 8 * 9)
    assert init.zeros_(t).numpy().max() == 0 and init.ones_(t).numpy().min() == 1
    u = init.uniform_(nn.Parameter(mg.zeros(1000).data), -2, 3).numpy()
    assert u.min() >= -2 and u.max() < 3 and u.dtype == np.float32
    with pytest.raises(ValueError, match="2 dimensions"):
        init.fan_in_and_fan_out(mg.zeros(3))


def test_sequential_flatten_reshape(backend):
    model = nn.Sequential(nn.Linear(8, 12), nn.LeakyReLU(0.2), nn.Reshape(3, 2, 2), nn.Flatten(), nn.Sigmoid())
    assert len(model) == 5 and isinstance(model[0], nn.Linear)
    y = model(mg.randn(4, 8))
    assert y.shape == (4, 12) and 0 < y.numpy().min() and y.numpy().max() < 1
    assert nn.Reshape(512, 2, 2)(mg.zeros(2, 2048)).shape == (2, 512, 2, 2)
    assert nn.Flatten()(mg.zeros(2, 3, 4, 5)).shape == (2, 60)


# --- boundary errors name the layer and the shapes ------------------------------------------------------------
@pytest.mark.parametrize("layer, x_shape, expected", [
    (lambda: nn.Conv2d(3, 64, 4, stride=2, padding=1), (8, 1, 32, 32),
     r"Conv2d\(3, 64, kernel_size=4, stride=2, padding=1\): expected input of shape \(N, 3, H, W\), "
     r"got \(8, 1, 32, 32\)"),
    (lambda: nn.Linear(784, 256), (8, 28, 28), r"Linear\(784, 256\).*\(N, 784\).*\(8, 28, 28\)"),
    (lambda: nn.ConvTranspose2d(100, 512, 4), (8, 100), r"ConvTranspose2d\(100, 512.*\(N, 100, H, W\).*\(8, 100\)"),
    (lambda: nn.BatchNorm1d(256), (8, 128), r"BatchNorm1d\(256\).*\(N, 256\).*\(8, 128\)"),
    (lambda: nn.BatchNorm2d(64), (8, 64), r"BatchNorm2d\(64\).*\(N, 64, H, W\).*\(8, 64\)"),
])
def test_layer_boundary_errors(backend, layer, x_shape, expected):
    with pytest.raises(ValueError, match=expected):
        layer()(mg.zeros(*x_shape))


# --- devices -------------------------------------------------------------------------------------------------
def test_module_to_moves_parameters_and_buffers(backend):
    net = Net()
    net(mg.randn(3, 4)).sum().backward()
    assert net.to("numpy") is net
    assert all(t.backend == "numpy" and t.grad is None for _, t in net.named_tensors())
    assert net(mg.tensor(np.ones((3, 4))).to("numpy")).backend == "numpy"
    net.to(backend)
    assert all(t.backend == backend for _, t in net.named_tensors())


# --- a whole small model passes gradcheck ----------------------------------------------------------------------
def test_small_model_gradcheck(backend, rng):
    model = float64(nn.Sequential(
        nn.Conv2d(1, 2, 3, stride=2, padding=1), nn.BatchNorm2d(2), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, output_padding=1), nn.Flatten(),
        nn.Linear(16, 2), nn.Sigmoid(),
    ))
    x = mg.tensor(rng.standard_normal((2, 1, 4, 4)), dtype=np.float64, requires_grad=True)
    assert model(x).shape == (2, 2)
    assert mg.gradcheck(lambda inp, *params: model(inp), x, *model.parameters())
