"""models/: the DCGAN at 32x32 and 64x64 (shapes layer by layer, parameter counts, the PyTorch reference)."""

import numpy as np
import pytest

import minigan as mg
from minigan.models import build, dcgan


def _shapes_through(seq, x):
    shapes = []
    for layer in seq.layers:
        x = layer(x)
        shapes.append(x.shape)
    return shapes


def test_dcgan64_shapes_layer_by_layer(backend):
    G, D = build({"name": "dcgan", "latent_dim": 100, "kernel_size": 4, "image_size": 64})
    with mg.no_grad():
        g_shapes = _shapes_through(G.net, mg.randn(2, 100))
        d_shapes = _shapes_through(D.net, mg.randn(2, 3, 64, 64))
    # G: z as a 1x1 image, a 4x4 projection, then every transposed conv doubles H and W (+ BN, ReLU)
    assert g_shapes == [(2, 100, 1, 1)] + [(2, 512, 4, 4)] * 3 + [(2, 256, 8, 8)] * 3 + \
        [(2, 128, 16, 16)] * 3 + [(2, 64, 32, 32)] * 3 + [(2, 3, 64, 64)] * 2
    # D: every conv halves H and W (+ BN except on the input, LeakyReLU), a 4x4 conv to one logit
    assert d_shapes == [(2, 64, 32, 32)] * 2 + [(2, 128, 16, 16)] * 3 + [(2, 256, 8, 8)] * 3 + \
        [(2, 512, 4, 4)] * 3 + [(2, 1, 1, 1), (2, 1)]
    assert G.image_size == D.image_size == 64


def test_dcgan32_is_unchanged_and_is_the_default():
    G, D = build({"name": "dcgan", "latent_dim": 128, "kernel_size": 4})   # a spec from before image_size
    assert G.image_size == 32 and (G.num_parameters(), D.num_parameters()) == (3_022_147, 2_760_385)


def test_dcgan64_refuses_the_wrong_image_size():
    _, D = build({"name": "dcgan", "image_size": 64})
    with pytest.raises(ValueError, match=r"H, W >= 4"):
        D(mg.randn(2, 3, 32, 32))                                    # 32x32 images into the 64x64 D
    with pytest.raises(ValueError, match="image_size must be 32 .* or 64"):
        dcgan.Generator(image_size=48)


def test_dcgan64_matches_the_pytorch_example_parameter_for_parameter():
    """PyTorch's examples/dcgan/main.py (ngf = ndf = 64, nz = 100, nc = 3): same tensors, same shapes."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    nz, ngf, ndf = 100, 64, 64
    net_g = nn.Sequential(
        nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())
    net_d = nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    G, D = build({"name": "dcgan", "latent_dim": nz, "image_size": 64})
    for ours, theirs in ((G, net_g), (D, net_d)):
        assert [p.shape for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
        assert ours.num_parameters() == sum(p.numel() for p in theirs.parameters())
    assert (G.num_parameters(), D.num_parameters()) == (3_576_704, 2_765_568)   # PyTorch's well-known counts


def test_dcgan64_forward_matches_pytorch_with_the_same_weights():
    """Copy our weights into torch's layers (eval-mode BatchNorm = a per-channel affine map) and compare."""
    torch = pytest.importorskip("torch")
    mg.set_backend("numpy")
    mg.manual_seed(0)
    G, _ = build({"name": "dcgan", "latent_dim": 8, "image_size": 64})
    G.eval()
    z = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    with mg.no_grad():
        ours = G(mg.tensor(z)).numpy()
    x = torch.from_numpy(z).reshape(2, 8, 1, 1)
    with torch.no_grad():
        for layer in G.net.layers:
            kind = type(layer).__name__
            if kind == "ConvTranspose2d":
                x = torch.nn.functional.conv_transpose2d(x, torch.from_numpy(layer.weight.numpy()),
                                                         stride=layer.stride, padding=layer.padding)
            elif kind == "BatchNorm2d":
                x = torch.nn.functional.batch_norm(
                    x, torch.from_numpy(layer.running_mean.numpy()), torch.from_numpy(layer.running_var.numpy()),
                    torch.from_numpy(layer.weight.numpy()), torch.from_numpy(layer.bias.numpy()),
                    training=False, eps=layer.eps)
            elif kind == "ReLU":
                x = torch.relu(x)
            elif kind == "Tanh":
                x = torch.tanh(x)
    assert ours.shape == (2, 3, 64, 64)
    np.testing.assert_allclose(ours, x.numpy(), atol=1e-5)
