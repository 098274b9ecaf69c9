"""minigan/penalties.py: WGAN-GP's gradient penalty and R1, against closed forms and finite differences.

A linear critic D(x) = <w, x> + b has the input gradient w for every sample, so
    gradient penalty = lambda * (||w|| - 1)^2,   d/dw = 2 lambda (||w|| - 1) w / ||w||
    R1               = (gamma / 2) ||w||^2,       d/dw = gamma w
whatever x, the fakes and eps are. A small conv critic (conv -> leaky ReLU -> layer norm -> linear)
has no closed form: there the gradient w.r.t. every parameter is compared with central differences
of the penalty itself, in float64 (each evaluation runs the penalty's double backward).
"""

import numpy as np
import pytest

import minigan as mg
from minigan import nn, penalties
from minigan.tensor import Tensor

LAM, GAMMA = 10.0, 3.0


class LinearCritic(nn.Module):
    """D(x) = <w, flatten(x)> + b: (N, C, H, W) -> (N, 1)."""

    def __init__(self, w, b=0.5):
        self.weight = nn.Parameter(mg.tensor(w.reshape(1, -1), dtype=np.float64).data)
        self.bias = nn.Parameter(mg.tensor(np.array([b]), dtype=np.float64).data)

    def forward(self, x):
        return x.reshape(x.shape[0], -1) @ self.weight.T + self.bias  # (N, C*H*W) @ (C*H*W, 1) -> (N, 1)


def images(rng, n=4, shape=(2, 3, 3)):
    return Tensor(rng.standard_normal((n, *shape)))                 # float64, no grad


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])                  # ||w|| below, at and above 1
def test_gradient_penalty_of_a_linear_critic_matches_the_closed_form(scale):
    rng = np.random.default_rng(0)
    w = rng.standard_normal((2, 3, 3))
    w *= scale / np.linalg.norm(w)
    D = LinearCritic(w)
    penalty, norms = penalties.gradient_penalty(D, images(rng), images(rng), lam=LAM)
    assert np.allclose(norms, scale, rtol=1e-10)
    assert np.isclose(penalty.item(), LAM * (scale - 1) ** 2, rtol=1e-10, atol=1e-12)
    penalty.backward()
    expected = 2 * LAM * (scale - 1) * w / scale
    assert np.allclose(D.weight.grad.reshape(w.shape), expected, rtol=1e-8, atol=1e-9)
    assert D.bias.grad is None or np.allclose(D.bias.grad, 0)        # the bias does not move the gradient


def test_r1_of_a_linear_critic_matches_the_closed_form():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((2, 3, 3))
    D = LinearCritic(w)
    real = Tensor(images(rng).data, requires_grad=True)
    r1 = penalties.r1_penalty(D(real), real, GAMMA)
    assert np.isclose(r1.item(), GAMMA / 2 * (w ** 2).sum(), rtol=1e-12)
    r1.backward()
    assert np.allclose(D.weight.grad.reshape(w.shape), GAMMA * w, rtol=1e-10)


def test_gradient_penalty_interpolates_per_sample_between_real_and_fake(monkeypatch):
    """x_hat = eps * x + (1 - eps) * G(z) with one eps per sample, drawn from minigan's generator."""
    rng = np.random.default_rng(2)
    real, fake = images(rng, n=5), images(rng, n=5)
    seen = []

    def critic(x):
        seen.append(x)
        return x.reshape(5, -1).sum(axis=1, keepdims=True)          # (N, 1)

    mg.manual_seed(7)
    penalties.gradient_penalty(critic, real, fake)
    mg.manual_seed(7)
    eps = mg.backend.rand((5, 1, 1, 1), dtype=np.float64)            # the same draw
    assert seen[0].requires_grad and seen[0].creator is None         # a leaf: the penalty's input
    assert np.allclose(seen[0].data, eps * real.data + (1 - eps) * fake.data)
    assert len(set(np.round(eps.ravel(), 12))) == 5                  # one eps per sample, not one per batch


def tiny_conv_critic(rng):
    """Conv (2 -> 3, k3 s2 p1) -> LeakyReLU -> LayerNorm over (3, 3, 3) -> Linear(27 -> 1), float64,
    every parameter random (a LayerNorm at weight 1, bias 0 would hide mistakes in their gradients)."""
    D = nn.Sequential(nn.Conv2d(2, 3, 3, stride=2, padding=1), nn.LeakyReLU(0.2), nn.LayerNorm((3, 3, 3)),
                      nn.Flatten(), nn.Linear(27, 1))
    for p in D.parameters():
        p.data = rng.standard_normal(p.shape) * 0.7
    return D


def numeric_gradients(loss_fn, params, eps=1e-6):
    """Central differences of the scalar loss_fn() w.r.t. every element of every parameter."""
    result = []
    for p in params:
        numeric = np.zeros(p.shape)
        flat = p.data.reshape(-1)                                    # a view: writing it perturbs p
        for j in range(flat.size):
            original = flat[j]
            flat[j] = original + eps
            plus = loss_fn().item()
            flat[j] = original - eps
            minus = loss_fn().item()
            flat[j] = original
            numeric.reshape(-1)[j] = (plus - minus) / (2 * eps)
        result.append(numeric)
    return result


@pytest.mark.parametrize("which", ["gradient_penalty", "r1"])
def test_penalty_gradients_of_a_conv_critic_match_finite_differences(which):
    rng = np.random.default_rng(3)
    D = tiny_conv_critic(rng)
    real, fake = images(rng, n=3, shape=(2, 5, 5)), images(rng, n=3, shape=(2, 5, 5))

    def loss():
        mg.manual_seed(11)                                           # the same eps at every evaluation
        if which == "r1":
            x = Tensor(real.data, requires_grad=True)
            return penalties.r1_penalty(D(x), x, GAMMA)
        return penalties.gradient_penalty(D, real, fake, lam=LAM)[0]

    params = D.parameters()
    value = loss()
    assert value.item() > 1e-3                                       # not a trivial zero
    value.backward()
    # LayerNorm's bias and the last bias add constants to D(x) (w2 . beta + b2), not to its gradient:
    # no path leads from the penalty to them (grad None: zero)
    assert [name for name, p in D.named_parameters() if p.grad is None] == ["2.bias", "4.bias"]
    analytic = [np.zeros(p.shape) if p.grad is None else mg.to_numpy(p.grad) for p in params]
    for (name, _), a, n in zip(D.named_parameters(), analytic, numeric_gradients(loss, params)):
        assert np.allclose(a, n, rtol=1e-5, atol=1e-7), (name, np.abs(a - n).max())


def test_conditional_critic_penalty_is_taken_wrt_the_image_only():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((1, 3, 3))
    D = LinearCritic(w)
    labels = Tensor(np.array([0, 1, 2, 1]))

    def conditional(x, y):                                           # the label shifts the score only
        return D(x) + y.data[:, None] * 0.5

    penalty, norms = penalties.gradient_penalty(conditional, images(rng, shape=(1, 3, 3)),
                                                images(rng, shape=(1, 3, 3)), (labels,), lam=LAM)
    assert np.allclose(norms, np.linalg.norm(w))
