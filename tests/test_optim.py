"""minigan/optim.py: SGD and Adam against their update formulas written out by hand (and PyTorch)."""

import numpy as np
import pytest

import minigan as mg
from minigan.optim import SGD, Adam

P0 = np.array([[0.5, -1.0, 2.0], [1.5, -0.3, 0.1]])
STEPS = 5


def cubic_loss(p):
    """L = sum(p^3) / 3, so dL/dp = p^2: a gradient that changes as p moves."""
    return (p * p * p).sum() / 3


def run(optimizer_cls, make, steps=STEPS, **kwargs):
    p = make(P0, requires_grad=True)
    opt = optimizer_cls([p], **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        cubic_loss(p).backward()
        opt.step()
    return p, opt


# --- SGD --------------------------------------------------------------------------------------------------
def test_sgd_matches_the_formula(make):
    p = P0.copy()
    for _ in range(STEPS):
        p = p - 0.1 * p ** 2                                       # p <- p - lr * g
    got, _ = run(SGD, make, lr=0.1)
    assert np.allclose(got.numpy(), p, rtol=1e-12)


def test_sgd_momentum_matches_the_formula(make):
    p, v = P0.copy(), None
    for _ in range(STEPS):
        g = p ** 2
        v = g if v is None else 0.9 * v + g                        # v <- momentum * v + g  (v_1 = g_1)
        p = p - 0.1 * v                                            # p <- p - lr * v
    got, _ = run(SGD, make, lr=0.1, momentum=0.9)
    assert np.allclose(got.numpy(), p, rtol=1e-12)


# --- Adam -------------------------------------------------------------------------------------------------
def adam_by_hand(lr, b1, b2, eps, steps):
    p, m, v = P0.copy(), np.zeros_like(P0), np.zeros_like(P0)
    for t in range(1, steps + 1):
        g = p ** 2
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)                                  # bias corrections
        v_hat = v / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


@pytest.mark.parametrize("lr, betas, eps", [(2e-4, (0.5, 0.999), 1e-8), (0.1, (0.9, 0.99), 1e-3)])
def test_adam_matches_the_formula(make, lr, betas, eps):
    got, opt = run(Adam, make, lr=lr, betas=betas, eps=eps)
    assert np.allclose(got.numpy(), adam_by_hand(lr, *betas, eps, STEPS), rtol=1e-10, atol=1e-14)
    assert opt.steps == [STEPS]


def test_adam_defaults_are_dcgan_s():
    opt = Adam([mg.zeros(1, requires_grad=True)])
    assert opt.lr == 2e-4 and opt.betas == (0.5, 0.999) and opt.eps == 1e-8


def test_against_pytorch(make):
    torch = pytest.importorskip("torch")
    for cls, torch_cls, kwargs in [(Adam, torch.optim.Adam, dict(lr=0.05, betas=(0.5, 0.999), eps=1e-8)),
                                   (SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9))]:
        tp = torch.tensor(P0, requires_grad=True)
        topt = torch_cls([tp], **kwargs)
        for _ in range(STEPS):
            topt.zero_grad()
            (tp ** 3).sum().div(3).backward()
            topt.step()
        got, _ = run(cls, make, **kwargs)
        assert np.allclose(got.numpy(), tp.detach().numpy(), rtol=1e-10), cls.__name__


# --- details ------------------------------------------------------------------------------------------------
def test_parameters_without_grad_are_skipped(make):
    a, b = make([1.0], requires_grad=True), make([2.0], requires_grad=True)
    for opt in (SGD([a, b], lr=0.5, momentum=0.9), Adam([a, b], lr=0.5)):
        a.grad, b.grad = None, mg.backend.to_device(np.array([1.0]))
        before = a.numpy().copy()
        opt.step()
        assert np.array_equal(a.numpy(), before)
        assert b.numpy()[0] < 2.0
        opt.zero_grad()
        assert a.grad is None and b.grad is None
        b.data[...] = 2.0


def test_adam_over_several_parameters_equals_one_adam_per_parameter(make):
    """Adam updates all parameters through one flat vector; that must equal separate updates."""
    shapes = [(2, 3), (4,), (2, 1, 3)]
    rng = np.random.default_rng(1)
    starts = [rng.standard_normal(shape) for shape in shapes]
    together = [make(a, requires_grad=True) for a in starts]
    alone = [make(a, requires_grad=True) for a in starts]
    opt_together = Adam(together, lr=0.05, betas=(0.9, 0.99))
    opts_alone = [Adam([p], lr=0.05, betas=(0.9, 0.99)) for p in alone]
    for _ in range(4):
        for params, opts in ((together, [opt_together]), (alone, opts_alone)):
            for opt in opts:
                opt.zero_grad()
            sum(cubic_loss(p) for p in params).backward()
            for opt in opts:
                opt.step()
    for a, b in zip(together, alone):
        assert np.array_equal(a.numpy(), b.numpy())
    assert [m.shape for m in opt_together.m] == shapes               # state_dict keeps one array per parameter


def test_adam_refuses_mixed_dtypes_and_wrong_state_shapes():
    a = mg.tensor(np.zeros(3, np.float32), requires_grad=True)
    b = mg.tensor(np.zeros(2), dtype=np.float64, requires_grad=True)
    with pytest.raises(ValueError, match="one dtype, got float32, float64"):
        Adam([a, b])
    opt = Adam([a])
    state = {"t": np.asarray(1), "m.0": np.zeros(4, np.float32), "v.0": np.zeros(3, np.float32)}
    with pytest.raises(ValueError, match=r"m.0 has shape \(4,\), parameter 0 has shape \(3,\)"):
        opt.load_state_dict(state)


def test_empty_parameter_list_is_an_error():
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)


def test_updates_do_not_record_a_graph(make):
    p, _ = run(Adam, make, steps=2, lr=0.1)
    assert p.creator is None and p.requires_grad


# --- state_dict: a resumed optimizer continues identically ---------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", [(Adam, dict(lr=0.05)), (SGD, dict(lr=0.05, momentum=0.9))])
@pytest.mark.parametrize("as_numpy", [True, False], ids=["from-numpy-checkpoint", "from-live-dict"])
def test_state_dict_round_trip_continues_identically(make, cls, kwargs, as_numpy):
    p1, opt1 = run(cls, make, steps=3, **kwargs)
    state = opt1.state_dict()
    if as_numpy:                                                   # what a checkpoint file gives back
        state = {k: mg.to_numpy(v) for k, v in state.items()}
    p2 = make(p1.numpy(), requires_grad=True)
    opt2 = cls([p2], **kwargs)
    opt2.load_state_dict(state)
    for _ in range(3):
        for p, opt in ((p1, opt1), (p2, opt2)):
            opt.zero_grad()
            cubic_loss(p).backward()
            opt.step()
    assert np.array_equal(p1.numpy(), p2.numpy())


def test_adam_counts_steps_per_parameter_like_pytorch():
    """A parameter that first gets a gradient at step 50 starts like a fresh Adam (PyTorch's rule)."""
    torch = pytest.importorskip("torch")
    a, b = (mg.tensor(np.zeros(2), dtype=np.float64, requires_grad=True) for _ in range(2))
    ta, tb = (torch.zeros(2, dtype=torch.float64, requires_grad=True) for _ in range(2))
    opt, topt = Adam([a, b], lr=0.1), torch.optim.Adam([ta, tb], lr=0.1, betas=(0.5, 0.999))
    rng = np.random.default_rng(0)
    for t in range(1, 61):
        g_a, g_b = rng.standard_normal(2), rng.standard_normal(2)
        opt.zero_grad(), topt.zero_grad()
        a.grad, ta.grad = g_a.copy(), torch.tensor(g_a)
        if t >= 50:                                                  # b joins late
            b.grad, tb.grad = g_b.copy(), torch.tensor(g_b)
        opt.step(), topt.step()
    assert opt.steps == [60, 11]
    np.testing.assert_allclose(a.numpy(), ta.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-12)


def test_adam_state_round_trip_keeps_the_counts_and_reads_old_checkpoints():
    p = mg.tensor(np.ones(3), dtype=np.float64, requires_grad=True)
    opt = Adam([p])
    for _ in range(3):
        p.grad = np.ones(3)
        opt.step()
    other = Adam([mg.tensor(np.ones(3), dtype=np.float64, requires_grad=True)])
    other.load_state_dict(opt.state_dict())
    assert other.steps == [3]
    old = {"t": np.asarray(7), "m.0": np.zeros(3), "v.0": np.zeros(3)}   # written before per-parameter counts
    other.load_state_dict(old)
    assert other.steps == [7]
