"""steps/: every step runs on its own and prints what its docstring says; the later steps agree with minigan.

The steps (steps/stepNN_*.py) build the framework up again in 15 scripts that need only NumPy. Each one's
docstring ends with a "Prints:" block, the exact lines it prints: the docs and the check are one thing.
Here each step runs as a subprocess in an empty folder and its output is compared with that block;
its header and length are checked; and the steps whose numbers the package also computes (conv2d,
the transposed convolution, batch norm, the DCGAN iteration, the cGAN's label path, the WGAN-GP
penalty) are imported as modules and compared with minigan's public API on the same float64 weights
and inputs, to 1e-10.
"""

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
import minigan.functional as F
from minigan.models import build

ROOT = Path(__file__).resolve().parents[1]
STEPS = sorted((ROOT / "steps").glob("step[0-9][0-9]_*.py"))
MAX_LINES = 120                  # a step reads in one sitting
# Three steps copy forward a whole engine (step 3's graph, or step 15's Tensor-operator backwards) and
# still add their idea: they have up to 130 lines, and none may grow past that.
LONGER = {"step07_toy_gan.py": 130, "step14_cgan_labels.py": 130, "step15_gradient_penalty.py": 130}
MAX_WIDTH = 115
ALLOWED_IMPORTS = {"numpy", "math", "argparse", "matplotlib.pyplot"}
# The DCGAN's layers, networks and iteration do not fit in 120 readable lines, so they are two steps and
# the second imports the first (as DeZero's steps import what they built, from its step 23 on). Every
# other step copies forward what it needs.
IMPORTS_A_STEP = {"step13_dcgan.py": "step12_layers"}


def docstring(path):
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))


def expected_output(path):
    """The lines after "Prints:" in the step's docstring, without their 4-space indent."""
    block = docstring(path).split("\nPrints:\n", 1)[1]
    return [line[4:] if line.startswith("    ") else line for line in block.splitlines()]


def load(name):
    """Import steps/<name>.py as a module (its main block does not run)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "steps" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "steps"))                          # step 13 imports step 12
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "steps"))
    return module


def tensor(array, requires_grad=False):
    return mg.tensor(np.asarray(array), requires_grad=requires_grad, dtype=np.float64)


def grad_array(p):
    """A parameter's gradient as an array (a Tensor after a create_graph backward)."""
    return p.grad.data if isinstance(p.grad, mg.Tensor) else p.grad


def assert_close(mine, theirs, what, scale=None):
    """|mine - theirs| <= 1e-10 * scale, scale defaulting to the largest |theirs| (a relative 1e-10)."""
    mine, theirs = np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert mine.shape == theirs.shape, f"{what}: shape {mine.shape} != {theirs.shape}"
    if mine.size == 0:
        return
    scale = np.abs(theirs).max() if scale is None else scale
    error = np.abs(mine - theirs).max()
    assert error <= 1e-10 * max(scale, 1e-300), f"{what}: differs by {error:.3g} (scale {scale:.3g})"


# ----------------------------------------------------------------------------------------------------
# Every step: header, length, imports, and its output equal to its "Prints:" block
# ----------------------------------------------------------------------------------------------------
def test_the_steps_are_numbered_1_to_15():
    assert [int(p.name[4:6]) for p in STEPS] == list(range(1, 16)), [p.name for p in STEPS]


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.stem)
def test_header_length_and_imports(path):
    text = path.read_text(encoding="utf-8")
    doc = docstring(path)
    assert doc is not None, f"{path.name}: no module docstring"
    number = int(path.name[4:6])
    assert doc.startswith(f"Step {number} of 15: "), f"{path.name}: the title should start 'Step {number} of 15: '"
    for part in ("\nAdds:", "\nRun:", "\nPackage:", "\nPrints:\n"):
        assert part in doc, f"{path.name}: the docstring has no {part.strip()!r} section"
    run_line = re.search(r"^Run:\s+(.*)$", doc, re.MULTILINE).group(1)
    assert run_line.startswith(f"python steps/{path.name}"), f"{path.name}: Run: says {run_line!r}"
    assert doc.index("\nPrints:\n") > doc.index("\nPackage:") > doc.index("\nRun:") > doc.index("\nAdds:")
    assert expected_output(path), f"{path.name}: the Prints: block is empty"

    lines = text.splitlines()
    wide = [i + 1 for i, line in enumerate(lines) if len(line) > MAX_WIDTH]
    assert not wide, f"{path.name}: lines {wide} are wider than {MAX_WIDTH} characters"

    imports = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            imports |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imports.add(node.module)
    extra = sorted(imports - ALLOWED_IMPORTS - {IMPORTS_A_STEP.get(path.name)})
    assert not extra, f"{path.name} imports {extra}: a step is self-contained (numpy, and matplotlib to draw)"
    assert "if __name__ == \"__main__\":" in text, f"{path.name}: main must be guarded, so tests can import it"


def test_every_step_is_at_most_120_lines():
    """A step reads in one sitting: at most MAX_LINES lines, docstring included (the three in LONGER: 130)."""
    counts = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in STEPS}
    long = {name: n for name, n in counts.items() if n > LONGER.get(name, MAX_LINES)}
    assert not long, f"steps longer than {MAX_LINES} lines: {long}"
    assert set(LONGER) <= set(counts), "LONGER names a step that does not exist"


def test_a_step_imports_only_the_step_it_builds_on():
    for name, module in IMPORTS_A_STEP.items():
        assert (ROOT / "steps" / f"{module}.py").exists() and module < name, (name, module)


def test_readme_lists_every_step_with_its_line_count():
    """steps/README.md's table: one row per step, in order, with the step's current number of lines."""
    rows = re.findall(r"^\| \[(step\d\d_\w+\.py)\]\(\1\) \|[^|]*\| (\d+) \|",
                      (ROOT / "steps" / "README.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert [name for name, _ in rows] == [p.name for p in STEPS]
    for name, count in rows:
        lines = len((ROOT / "steps" / name).read_text(encoding="utf-8").splitlines())
        assert int(count) == lines, f"steps/README.md says {name} has {count} lines; it has {lines}"


def run_step(path, *args, cwd):
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONIOENCODING": "utf-8"}
    env.pop("PYTHONPATH", None)                                      # a step needs numpy only
    result = subprocess.run([sys.executable, str(path), *args], cwd=cwd, env=env, capture_output=True,
                            text=True, encoding="utf-8", timeout=120)
    assert result.returncode == 0, f"{path.name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("path", STEPS, ids=lambda p: p.stem)
def test_step_prints_what_its_docstring_says(path, tmp_path):
    printed = [line.rstrip() for line in run_step(path, cwd=tmp_path).splitlines()]
    expected = [line.rstrip() for line in expected_output(path)]
    assert printed == expected, f"{path.name} printed:\n" + "\n".join(printed)
    assert list(tmp_path.iterdir()) == [], f"{path.name} wrote files without being asked"


def test_toy_gan_draws_its_picture_when_asked(tmp_path):
    out = run_step(ROOT / "steps" / "step07_toy_gan.py", "--steps", "20", "--out", "toy.png", cwd=tmp_path)
    assert "wrote toy.png" in out
    assert (tmp_path / "toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------------------------------
# The steps' numbers against the package's (float64, same weights and inputs)
# ----------------------------------------------------------------------------------------------------
def test_conv2d_and_both_transposed_convs_agree_with_the_package():
    step8, step9 = load("step08_conv2d"), load("step09_transposed_scatter")
    step10 = load("step10_transposed_dilate")
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    y = F.conv2d(tensor(x, True), tensor(w, True), tensor(b, True), stride=2, padding=1)
    assert_close(step8.conv2d(x, w, b, 2, 1), y.numpy(), "conv2d")
    g = rng.standard_normal(y.shape)
    xt, wt, bt = tensor(x, True), tensor(w, True), tensor(b, True)
    (F.conv2d(xt, wt, bt, stride=2, padding=1) * tensor(g)).sum().backward()
    for mine, theirs, name in zip(step8.conv2d_backward(g, x, w, 2, 1), (xt, wt, bt), ("x", "W", "b")):
        assert_close(mine, theirs.grad, f"conv2d's gradient for {name}")

    for k, s, p, op in [(4, 2, 1, 0), (5, 2, 2, 1), (3, 1, 1, 0), (3, 2, 0, 1)]:
        x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((3, 4, k, k)), rng.standard_normal(4)
        xt, wt, bt = tensor(x, True), tensor(w, True), tensor(b, True)
        y = F.conv_transpose2d(xt, wt, bt, stride=s, padding=p, output_padding=op, method="scatter")
        assert_close(step9.conv_transpose2d(x, w, b, s, p, op), y.numpy(), f"scatter k={k} s={s} p={p} op={op}")
        assert_close(step10.conv_transpose2d_dilate(x, w, s, p, op) + b[:, None, None], y.numpy(), f"dilate k={k}")
        g = rng.standard_normal(y.shape)
        (y * tensor(g)).sum().backward()
        for mine, theirs, name in zip(step9.conv_transpose2d_backward(g, x, w, s, p), (xt, wt, bt), "xWb"):
            assert_close(mine, theirs.grad, f"conv_transpose2d's gradient for {name}, k={k} s={s} p={p} op={op}")


def test_batch_norm_agrees_with_the_package():
    step11 = load("step11_batchnorm")
    rng = np.random.default_rng(2)
    x, gamma, beta = 2 + 3 * rng.standard_normal((4, 3, 5, 5)), rng.standard_normal(3), rng.standard_normal(3)
    mean_mine, var_mine, mean_pkg, var_pkg = np.zeros(3), np.ones(3), np.zeros(3), np.ones(3)
    y, cache = step11.batch_norm(x, gamma, beta, mean_mine, var_mine)
    xt, gt, bt = tensor(x, True), tensor(gamma, True), tensor(beta, True)
    y_pkg = F.batch_norm(xt, gt, bt, mean_pkg, var_pkg, training=True, momentum=0.1, eps=1e-5)
    assert_close(y, y_pkg.numpy(), "batch_norm's output")
    assert_close(mean_mine, mean_pkg, "running_mean")
    assert_close(var_mine, var_pkg, "running_var (unbiased)")
    g = rng.standard_normal(x.shape)
    (y_pkg * tensor(g)).sum().backward()
    for mine, theirs, name in zip(step11.batch_norm_backward(g, cache), (xt, gt, bt), ("x", "gamma", "beta")):
        assert_close(mine, theirs.grad, f"batch_norm's gradient for {name}")
    y_eval, _ = step11.batch_norm(x, gamma, beta, mean_mine, var_mine, training=False)
    assert_close(y_eval, F.batch_norm(tensor(x), tensor(gamma), tensor(beta), mean_pkg, var_pkg,
                                      training=False).numpy(), "batch_norm in eval mode")


def dcgan_state(net):
    """The step's layer list as the package's state_dict: "net.<index>.<name>", buffers included."""
    state = {}
    for i, layer in enumerate(net):
        state.update({f"net.{i}.{name}": array for name, array in layer.params.items()})
        if hasattr(layer, "running_mean"):
            state[f"net.{i}.running_mean"], state[f"net.{i}.running_var"] = layer.running_mean, layer.running_var
    return state


def dcgan_grads(net):
    return {f"net.{i}.{name}": g for i, layer in enumerate(net) for name, g in layer.grads.items()}


def compare_after_adam(step_net, step_grads, package_net, what):
    """Parameters and buffers after the Adam step, to 1e-10 (absolute: the weights are ~0.02). Where a
    gradient is rounding noise (a conv bias followed by BatchNorm: exactly 0 in exact arithmetic), Adam's
    step lr * g / (|g| + eps) turns noise of 1e-16 into steps of up to ~1e-11, so those entries are
    compared to 1e-9; the BatchNorm statistics after them carry that noise too (a few 1e-12)."""
    mine = dcgan_state(step_net)
    scale = max((np.abs(g).max() for g in step_grads.values()), default=0.0)
    for name, t in package_net.named_tensors():
        if name in step_grads:
            signal = np.abs(step_grads[name]) > 1e-6 * scale
            assert_close(mine[name][signal], t.data[signal], f"{what} {name} after Adam", scale=1.0)
            assert np.abs(mine[name] - t.data).max() <= 1e-9, f"{what} {name} after Adam (noise entries)"
        else:
            assert_close(mine[name], t.data, f"{what} {name} (a BatchNorm statistic, or not stepped)", scale=1.0)


def test_dcgan_iterations_agree_with_the_package():
    """Step 13's D step and G step against minigan's DCGAN (models.build) with the same weights, batch,
    noise and Adam settings: losses, every gradient, the parameters after Adam, BatchNorm statistics.
    Two iterations: Adam's first step is lr * g / (|g| + eps) whatever beta1 is; the second is not."""
    step13 = load("step13_dcgan")
    rng = np.random.default_rng(3)
    G, D = step13.generator(rng), step13.discriminator(rng)
    opt_G, opt_D = step13.Adam(G), step13.Adam(D)
    pG, pD = build({"name": "dcgan"})
    pG.double(), pD.double()
    pG.load_state_dict(dcgan_state(G))
    pD.load_state_dict(dcgan_state(D))
    assert (pG.num_parameters(), pD.num_parameters()) == tuple(
        sum(p.size for layer in net for p in layer.params.values()) for net in (G, D))
    popt_G = mg.optim.Adam(pG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    popt_D = mg.optim.Adam(pD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = rng.uniform(-1, 1, (6, 3, 32, 32))
    ones, zeros = tensor(np.ones((6, 1))), tensor(np.zeros((6, 1)))
    for iteration in range(2):
        z1, z2 = rng.standard_normal((6, 128)), rng.standard_normal((6, 128))
        loss_D = step13.d_step(G, D, opt_D, real, z1)                # D step, as minigan.training.d_step
        with mg.no_grad():
            fake = pG(tensor(z1))
        package_loss_D = (F.binary_cross_entropy_with_logits(pD(tensor(real)), ones)
                          + F.binary_cross_entropy_with_logits(pD(fake), zeros))
        popt_D.zero_grad()
        package_loss_D.backward()
        grads_D = dcgan_grads(D)
        scale = max(np.abs(g).max() for g in grads_D.values())
        for name, p in pD.named_parameters():
            assert_close(grads_D[name], grad_array(p), f"D step {iteration}: gradient of {name}", scale=scale)
        popt_D.step()
        assert_close(loss_D, package_loss_D.item(), f"loss_D {iteration}")
        compare_after_adam(D, grads_D, pD, f"D step {iteration}: D")
        compare_after_adam(G, {}, pG, f"D step {iteration}: G (forward only)")

        loss_G = step13.g_step(G, D, opt_G, z2)                      # G step, as minigan.training.g_step
        package_loss_G = F.binary_cross_entropy_with_logits(pD(pG(tensor(z2))), ones)
        popt_G.zero_grad()
        package_loss_G.backward()
        grads_G = dcgan_grads(G)
        scale = max(np.abs(g).max() for g in grads_G.values())
        for name, p in pG.named_parameters():
            assert_close(grads_G[name], grad_array(p), f"G step {iteration}: gradient of {name}", scale=scale)
        popt_G.step()
        assert_close(loss_G, package_loss_G.item(), f"loss_G {iteration}")
        compare_after_adam(G, grads_G, pG, f"G step {iteration}: G")
        compare_after_adam(D, grads_D, pD, f"G step {iteration}: D's BatchNorm statistics")


def test_cgan_label_paths_agree_with_the_package():
    """Step 14's G features (noise path + label path, concatenated) and D input against minigan's cGAN
    sub-modules label_path / noise_path with the same weights: values and gradients."""
    step14 = load("step14_cgan_labels")
    rng = np.random.default_rng(4)
    labels = np.array([3, 1, 3, 7, 0])
    p = step14.g_params(rng)
    z = rng.standard_normal((5, 100))
    features = step14.g_features(p, step14.Tensor(z), labels)
    g = rng.standard_normal(features.data.shape)
    step14.backward(features, g)

    pG, pD = build({"name": "cgan"})
    pG.double(), pD.double()
    pG.label_path.load_state_dict({"0.weight": p["embed"].data, "1.weight": p["label.W"].data,
                                   "1.bias": p["label.b"].data})
    pG.noise_path.load_state_dict({"0.weight": p["noise.W"].data, "0.bias": p["noise.b"].data})
    package = mg.cat([pG.noise_path(tensor(z)), pG.label_path(mg.tensor(labels))], axis=1)
    assert_close(features.data, package.numpy(), "G's features (N, 129, 7, 7)")
    (package * tensor(g)).sum().backward()
    for mine, name in [("embed", "label_path.0.weight"), ("label.W", "label_path.1.weight"),
                       ("label.b", "label_path.1.bias"), ("noise.W", "noise_path.0.weight"),
                       ("noise.b", "noise_path.0.bias")]:
        assert_close(p[mine].grad, grad_array(dict(pG.named_parameters())[name]), f"the gradient of {name}")

    q = {"embed": step14.Tensor(rng.standard_normal((10, 50))), "label.W": step14.glorot(rng, 50, 784),
         "label.b": step14.Tensor(rng.standard_normal(784))}
    images = rng.uniform(-1, 1, (5, 1, 28, 28))
    pD.label_path.load_state_dict({"0.weight": q["embed"].data, "1.weight": q["label.W"].data,
                                   "1.bias": q["label.b"].data})
    package = mg.cat([tensor(images), pD.label_path(mg.tensor(labels))], axis=1)
    mine = step14.d_input(q, step14.Tensor(images), labels).data
    assert_close(mine, package.numpy(), "D's input (N, 2, 28, 28)")


def test_gradient_penalty_agrees_with_the_package():
    """The last step: WGAN-GP's loss, penalty, gradient norms and every weight gradient (through the
    double backward) against minigan's GAN discriminator (eval mode: no dropout) with mg.grad."""
    step15 = load("step15_gradient_penalty")
    rng = np.random.default_rng(5)
    sizes = [784, 1024, 512, 256, 1]
    params = [step15.Tensor(rng.uniform(-1, 1, shape) / n_in ** 0.5) for n_in, n_out in zip(sizes, sizes[1:])
              for shape in ((n_out, n_in), (n_out,))]
    real, fake, eps = rng.uniform(-1, 1, (5, 784)), rng.uniform(-1, 1, (5, 784)), rng.uniform(0, 1, (5, 1))
    loss, gp, norms = step15.critic_loss(params, real, fake, eps)
    grads = step15.grad(loss, params)

    _, D = build({"name": "gan"})
    D.double(), D.eval()                                             # eval: Dropout off, as in the step
    names = [f"net.{i}.{kind}" for i in (1, 4, 7, 10) for kind in ("weight", "bias")]
    D.load_state_dict({name: t.data for name, t in zip(names, params)})

    def images(flat, requires_grad=False):                           # (N, 784) -> (N, 1, 28, 28) Tensors
        return tensor(flat.reshape(-1, 1, 28, 28), requires_grad)

    x_hat = images(eps * real + (1 - eps) * fake, requires_grad=True)
    (g,) = mg.grad(D(x_hat).sum(), [x_hat], create_graph=True)      # as minigan.penalties.gradient_penalty
    package_norms = ((g * g).reshape(5, -1).sum(axis=1) + 1e-12) ** 0.5
    package_gp = 10.0 * ((package_norms - 1.0) ** 2).mean()
    package_loss = D(images(fake)).mean() - D(images(real)).mean() + package_gp
    package_loss.backward()

    assert_close(norms.data.ravel(), package_norms.numpy(), "||dD/dx_hat||")
    assert_close(gp.data, package_gp.item(), "the gradient penalty")
    assert_close(loss.data, package_loss.item(), "loss_D")
    named = dict(D.named_parameters())
    scale = max(np.abs(gr.data).max() for gr in grads)
    for name, mine in zip(names, grads):
        assert_close(mine.data, grad_array(named[name]), f"d loss_D / d {name}", scale=scale)
