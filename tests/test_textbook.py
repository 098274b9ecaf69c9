"""Textbook mode (``with mg.textbook():``, MINIGAN_TEXTBOOK=1, --textbook) against the default fast path.

Every op of the GAN, DCGAN and cGAN paths, and one whole DCGAN, cGAN and WGAN-GP iteration, must give
the same numbers in both modes: float64 to 1e-10, float32 within rounding. The textbook pieces are also
checked on their own: im2col against the plain-loop reference, col2im as im2col's adjoint, and the
mode's gradients by finite differences (so agreeing with the fast path is not the only evidence).
"""

import functools
import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigan as mg
import minigan.functional as F
from minigan import penalties, training
from minigan.models import build
from minigan.ops.im2col import col2im, im2col
from minigan.penalties import critic_step, wgan_g_step
from minigan.training import TrainConfig, d_step, g_step

ROOT = Path(__file__).resolve().parents[1]
tensor_module = importlib.import_module("minigan.tensor")   # (mg.tensor is the function)
SETTINGS = dict(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def np_(t):
    return mg.to_numpy(t.data if isinstance(t, mg.Tensor) else t)


def both_modes(fn):
    """fn() run in the default (fast) mode, then in textbook mode: (fast result, textbook result)."""
    fast = fn()
    with mg.textbook():
        assert mg.is_textbook()
        textbook = fn()
    assert not mg.is_textbook()
    return fast, textbook


def value_and_grads(op, inputs, g):
    """op(*inputs) and the gradients of <op(*inputs), g> w.r.t. every input, as numpy arrays."""
    for t in inputs:
        t.grad = None
    y = op(*inputs)
    y.backward(g)
    return [np_(y)] + [np_(t.grad) for t in inputs]


def assert_same(fast, textbook, tol=1e-10):
    for a, b in zip(fast, textbook):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# --- the textbook pieces on their own ----------------------------------------------------------------------
@given(k=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), h=st.integers(1, 7), w=st.integers(1, 7))
@settings(**SETTINGS)
def test_textbook_im2col_is_the_plain_loop_and_col2im_its_adjoint(k, s, p, h, w):
    if h + 2 * p < k or w + 2 * p < k:
        return
    rng = np.random.default_rng(k * 100 + s * 10 + p)
    x = rng.standard_normal((2, 3, h, w))
    cols = im2col(x, k, s, p)                                        # (N, C*k*k, H_out*W_out)
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    h_out, w_out = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    for i in range(h_out):                                           # window (i, j) is column i*W_out + j
        for j in range(w_out):
            window = x_pad[:, :, i * s:i * s + k, j * s:j * s + k].reshape(2, -1)
            np.testing.assert_array_equal(cols[:, :, i * w_out + j], window)
    c = rng.standard_normal(cols.shape)                              # <im2col(x), c> = <x, col2im(c)>
    assert np.isclose((cols * c).sum(), (x * col2im(c, x.shape, k, s, p)).sum(), rtol=1e-12)


CONV_CASES = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 6))


@given(case=CONV_CASES, data=st.data())
@settings(**SETTINGS)
def test_conv2d_and_conv_transpose2d_agree_in_both_modes(make, rng, case, data):
    """Forward and every gradient, for a random upstream gradient, float64 to 1e-10."""
    k, s, p, h = case
    if h + 2 * p < k:
        return
    x = make(rng.standard_normal((2, 3, h, h + 1)), requires_grad=True)
    w = make(rng.standard_normal((4, 3, k, k)), requires_grad=True)
    b = make(rng.standard_normal(4), requires_grad=True)
    y_shape = F.conv2d(x, w, b, stride=s, padding=p).shape
    g = make(rng.standard_normal(y_shape))
    assert_same(*both_modes(lambda: value_and_grads(lambda *a: F.conv2d(*a, stride=s, padding=p), [x, w, b], g)))

    op = data.draw(st.integers(0, s - 1), label="output_padding")
    xt = make(rng.standard_normal((2, 4, h, h)), requires_grad=True)
    wt = make(rng.standard_normal((4, 3, k, k)), requires_grad=True)
    if (h - 1) * s - 2 * p + k + op < 1:
        return
    for method in ("auto", "scatter", "dilate"):
        if method == "dilate" and p > k - 1:
            continue
        conv_t = lambda *a: F.conv_transpose2d(*a, stride=s, padding=p, output_padding=op, method=method)  # noqa: E731
        gt = make(rng.standard_normal(conv_t(xt, wt).shape))
        assert_same(*both_modes(lambda: value_and_grads(conv_t, [xt, wt], gt)))


def test_kn2row_and_subpixel_are_fast_path_only(make, rng):
    """The cGAN's last layer (few output channels) runs kn2row by default and im2col in textbook mode;
    the transposed conv's "auto" picks sub-pixel by default on NumPy where it is faster, scatter (Kiểu 1)
    in textbook mode."""
    x = make(rng.standard_normal((2, 8, 6, 6)), requires_grad=True)
    w = make(rng.standard_normal((1, 8, 3, 3)), requires_grad=True)
    fast, textbook = both_modes(lambda: type(F.conv2d(x, w, padding=1).creator).__name__)
    assert (fast, textbook) == ("Conv2dKn2row", "Conv2d")
    g = make(rng.standard_normal((2, 1, 6, 6)))
    assert_same(*both_modes(lambda: value_and_grads(lambda *a: F.conv2d(*a, padding=1), [x, w], g)))


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_agrees_in_both_modes_with_running_statistics(make, rng, shape, training):
    x = make(rng.standard_normal(shape) * 2 + 1, requires_grad=True)
    gamma = make(rng.standard_normal(3), requires_grad=True)
    beta = make(rng.standard_normal(3), requires_grad=True)
    g = make(rng.standard_normal(shape))

    def run():
        running = [make(rng.standard_normal(3) * 0 + 0.5), make(np.full(3, 2.0))]
        out = value_and_grads(lambda *a: F.batch_norm(*a, *running, training=training), [x, gamma, beta], g)
        return out + [np_(r) for r in running]                       # the running statistics too
    assert_same(*both_modes(run))
    with mg.textbook():                                              # autograd's derivative is right too
        assert mg.gradcheck(lambda *a: F.batch_norm(*a, training=True), x, gamma, beta)


def test_textbook_batch_norm_is_made_of_tensor_ops(make, rng):
    x = make(rng.standard_normal((4, 3, 2, 2)), requires_grad=True)
    gamma, beta = make(np.ones(3), requires_grad=True), make(np.zeros(3), requires_grad=True)
    with mg.textbook():
        y = F.batch_norm(x, gamma, beta)
    assert type(y.creator).__name__ == "Add"                         # gamma * x_hat + beta: no BatchNorm op
    assert type(F.batch_norm(x, gamma, beta).creator).__name__ == "BatchNorm"


def test_adam_agrees_in_both_modes_over_several_steps(rng):
    def run():
        mg.manual_seed(0)
        model = mg.nn.Sequential(mg.nn.Linear(5, 4), mg.nn.Tanh(), mg.nn.Linear(4, 1)).double()
        opt = mg.optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.999))
        x = mg.tensor(np.random.default_rng(0).standard_normal((8, 5)), dtype=np.float64)
        for _ in range(5):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        return [np_(p) for p in model.parameters()] + [np_(v) for v in opt.state_dict().values()]
    assert_same(*both_modes(run), tol=1e-12)


# --- one whole iteration ---------------------------------------------------------------------------------
ITERATIONS = {
    "dcgan": ({"name": "dcgan", "latent_dim": 16}, (4, 3, 32, 32), {}, (d_step, g_step)),
    "cgan": ({"name": "cgan", "latent_dim": 8}, (4, 1, 28, 28), {"conditional": True}, (d_step, g_step)),
    "wgan-gp": ({"name": "dcgan", "latent_dim": 16, "d_norm": "layer"}, (4, 3, 32, 32), {"loss": "wgan-gp"},
                (critic_step, wgan_g_step)),
}


def one_iteration(name, dtype):
    """One D (or critic) step and one G step from the same weights, batch and noise: every parameter,
    BatchNorm's running statistics and the Adam moments after it."""
    spec, shape, extra, (d, g) = ITERATIONS[name]
    mg.manual_seed(0)
    G, D = build(spec)
    if dtype == np.float64:
        G, D = G.double(), D.double()
    config = TrainConfig(batch_size=shape[0], latent_dim=spec["latent_dim"], **extra)
    opt_G, opt_D = mg.optim.Adam(G.parameters(), 2e-4, (0.5, 0.999)), mg.optim.Adam(D.parameters(), 2e-4, (0.5, 0.999))
    data = np.random.default_rng(1)
    real = mg.tensor(data.uniform(-1, 1, shape), dtype=dtype)
    labels = mg.tensor(data.integers(0, 10, shape[0])) if extra.get("conditional") else None
    d(G, D, opt_D, real, labels, config)
    g(G, D, opt_G, shape[0], labels, config)
    state = [np_(v) for m in (G, D) for v in m.state_dict().values()]
    return state + [np_(v) for o in (opt_G, opt_D) for k, v in o.state_dict().items() if k != "steps"]


@pytest.mark.parametrize("name", list(ITERATIONS))
def test_one_training_iteration_agrees_in_both_modes(name, monkeypatch):
    mg.set_backend("numpy")
    with monkeypatch.context() as m:                                 # the steps' noise and targets in float64
        for module in (training, penalties):
            for fn in ("randn", "ones", "zeros"):
                if hasattr(module, fn):
                    m.setattr(module, fn, functools.partial(getattr(tensor_module, fn), dtype=np.float64))
        fast, textbook = both_modes(lambda: one_iteration(name, np.float64))
    assert_same(fast, textbook, tol=1e-10)
    fast32, textbook32 = both_modes(lambda: one_iteration(name, np.float32))
    # float32: within rounding. Adam's first step is about lr * g / |g| per weight, so a gradient within
    # float32 rounding of 0 (G's BatchNorm shifts get such gradients) may flip its sign between the
    # modes and move that weight by up to 2 lr = 4e-4; the float64 check above is the strict one.
    for a, b in zip(fast32, textbook32):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=4.1e-4)


# --- the switches ------------------------------------------------------------------------------------------
def test_the_environment_variable_and_the_flag_turn_it_on(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_TEXTBOOK": "1"}
    out = subprocess.run([sys.executable, "-c", "import minigan as mg; print(mg.is_textbook())"],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "True"
    env["MINIGAN_TEXTBOOK"] = "0"
    out = subprocess.run([sys.executable, "-c", "import minigan as mg; print(mg.is_textbook())"],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"
    for script in sorted((ROOT / "examples").glob("*.py")):          # every example that runs ops has --textbook
        if script.name == "export_image_folder.py":                  # (it only writes image files)
            continue
        done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert "--textbook" in done.stdout, script.name


def test_a_training_run_with_textbook_says_so(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "gan_fashion_mnist.py"), "--dataset", "fake",
                           "--limit", "32", "--batch-size", "16", "--epochs", "1", "--out", str(tmp_path / "r"),
                           "--no-progress", "--textbook"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "textbook mode" in done.stdout


def test_the_op_and_step_test_files_pass_in_textbook_mode(tmp_path):
    """The op tests (references, gradchecks, PyTorch where present) and the whole-step tests, run again
    with MINIGAN_TEXTBOOK=1: every op checked in the mode a learner steps through (about 25 s)."""
    files = ["test_conv.py", "test_ops.py", "test_norm_embedding_losses.py", "test_optim.py",
             "test_penalties.py", "test_training.py"]
    env = {**os.environ, "MINIGAN_TEXTBOOK": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                           *[str(ROOT / "tests" / f) for f in files]],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
