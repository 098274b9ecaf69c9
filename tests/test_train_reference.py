"""benchmarks/train_reference.py: minigan's recipe in PyTorch, and its generators read back by minigan.

Skipped without PyTorch (an optional dependency of benchmarks/ only). Checked here: a PyTorch generator
exported to minigan's checkpoint layout computes what PyTorch computes (eval and train BatchNorm modes),
the PyTorch trainer sees minigan's batches in minigan's order, and one tiny run of each framework on
fake data writes generator files that minigan loads and the judge scores.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import torch_models as tm  # noqa: E402
import train_reference as ref  # noqa: E402

from minigan import backend  # noqa: E402
from minigan.data import batches  # noqa: E402
from minigan.evaluation import save_classifier  # noqa: E402
from minigan.evaluation.classifier import build_classifier  # noqa: E402
from minigan.tensor import Tensor  # noqa: E402
from minigan.run.training_state import load_generator  # noqa: E402


@pytest.fixture(autouse=True)
def numpy_backend():
    previous = backend.get_backend()
    backend.set_backend("numpy")
    yield
    backend.set_backend(previous)


def _moved_batchnorm_statistics(G, z, labels):
    """A few train-mode passes, so running_mean / running_var are not their initial 0 / 1."""
    G.train()
    with torch.no_grad():
        for _ in range(3):
            G(z * 3 + 1, *labels)


@pytest.mark.parametrize("model", ["dcgan", "cgan", "gan"])
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_exported_torch_generator_computes_what_pytorch_computes(model, mode, tmp_path):
    torch.manual_seed(1)
    G_t = tm.build(model)[0]
    spec = ref.model_spec(model, G_t.latent_dim)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, G_t.latent_dim)).astype(np.float32)          # (6, latent_dim)
    y = rng.integers(0, 10, 6)                                                # (6,)
    cond_t = (torch.from_numpy(y),) if model == "cgan" else ()
    _moved_batchnorm_statistics(G_t, torch.from_numpy(z), cond_t)

    ref.export_torch_generator(G_t, spec, tmp_path / "G.npz", {"epoch": 1})
    G_mg, loaded_spec, meta = load_generator(tmp_path / "G.npz")
    assert loaded_spec == spec and meta["framework"] == "torch" and meta["epoch"] == 1

    G_t.train(mode == "train")
    G_mg.train(mode == "train")
    with torch.no_grad():
        expected = G_t(torch.from_numpy(z), *cond_t).numpy()                  # (6, C, H, W)
    got = G_mg(Tensor(z), *((Tensor(y),) if model == "cgan" else ())).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_export_has_minigan_names_and_no_batch_counter():
    state = ref.torch_state_for_minigan(tm.build("dcgan")[0])
    assert "net.2.running_mean" in state and not any(k.endswith("num_batches_tracked") for k in state)
    assert all(v.dtype == np.float32 for v in state.values())


@pytest.mark.parametrize("n, batch_size, seed", [(50, 8, 0), (37, 5, 3), (16, 16, 1)])
def test_torch_batches_are_minigans_batches_in_minigans_order(n, batch_size, seed):
    images = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1) + 0.5      # image i holds the value i + 0.5
    labels = np.arange(n, dtype=np.int64)
    for epoch in range(3):
        ours = list(ref.torch_batches(images, labels, batch_size, seed, epoch))
        theirs = list(batches((images, labels), batch_size, shuffle=True, seed=[seed, epoch]))  # run.trainer.train's call
        assert len(ours) == len(theirs) == n // batch_size                 # the last partial batch is dropped
        for (x_t, y_t), (x_mg, y_mg) in zip(ours, theirs):
            np.testing.assert_array_equal(x_t.numpy(), x_mg.numpy())
            np.testing.assert_array_equal(y_t.numpy(), y_mg.numpy())
    assert not np.array_equal(ref.batch_order(n, seed, 0), ref.batch_order(n, seed, 1))   # reshuffled per epoch


def _tiny_run(tmp_path, framework, model, *extra):
    out = tmp_path / framework
    ref.main(["--framework", framework, "--model", model, "--dataset", "fake", "--limit", "16",
              "--batch-size", "8", "--epochs", "1", "--out", str(out), *extra])
    return out


@pytest.mark.parametrize("model", ["dcgan", "cgan", "gan"])
def test_one_tiny_torch_epoch_writes_a_generator_minigan_loads(model, tmp_path):
    out = _tiny_run(tmp_path, "torch", model)
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines if "loss_D" in r] == [1, 2]      # 16 images, batches of 8
    assert all(np.isfinite(r["loss_D"]) and np.isfinite(r["loss_G"]) for r in lines if "loss_D" in r)
    G, spec, meta = load_generator(out / "G_epoch001.npz")
    assert spec["name"] == model and meta["epoch"] == 1 and meta["framework"] == "torch"


def test_both_frameworks_start_from_the_same_weights_and_are_scored_alike(tmp_path):
    judge = tmp_path / "judge.npz"
    save_classifier(judge, build_classifier("fashion-mnist"), {"test_accuracy": 0.1})   # untrained: a smoke judge
    outs = {fw: _tiny_run(tmp_path, fw, "cgan", "--classifier", str(judge), "--eval-n", "20", "--lr", "0")
            for fw in ("torch", "minigan")}
    # lr 0: Adam leaves the weights where they started, so the two files hold the same weights
    # (BatchNorm-free cGAN: nothing else moves) and the one judge must give the same scores
    G_t, _, _ = load_generator(outs["torch"] / "G_epoch001.npz")
    G_mg, _, _ = load_generator(outs["minigan"] / "G_epoch001.npz")
    for name, value in G_mg.state_dict().items():
        np.testing.assert_array_equal(G_t.state_dict()[name], value, err_msg=name)
    scores = {fw: json.loads((out / "scores.jsonl").read_text()) for fw, out in outs.items()}
    # the figure script reads both runs: one table row, the overlay figure and the samples side by side
    import plot_reference

    (tmp_path / "runs").mkdir()
    for fw, out in outs.items():
        out.rename(tmp_path / "runs" / f"{fw}_seed0")                   # the layout of reference_runs.sh
    plot_reference.main(["--runs", str(tmp_path / "runs"), "--images", str(tmp_path / "images")])
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["reference_cgan_curves.png",
                                                                      "reference_cgan_samples.png"]
    table = json.loads((tmp_path / "runs" / "scores.json").read_text())["runs"]
    assert [r["epoch"] for r in table["torch"]["0"]] == [r["epoch"] for r in table["minigan"]["0"]] == [1]
    assert scores["torch"]["framework"] == "torch" and scores["minigan"]["epoch"] == 1
    for key in ("fcd", "kid_mean", "conditional_accuracy"):
        assert scores["torch"][key] == pytest.approx(scores["minigan"][key], rel=1e-6), key


def test_defaults_are_the_examples_defaults():
    args = ref.parse_args(["--framework", "torch", "--model", "dcgan", "--out", "x"])
    assert (args.batch_size, args.latent_dim, args.real_label, args.lr, args.init) == (128, 128, 1.0, 2e-4, "minigan")
    args = ref.parse_args(["--framework", "minigan", "--model", "gan", "--out", "x"])
    assert (args.batch_size, args.latent_dim) == (64, 100)


def test_score_mode_rescores_a_finished_run_with_the_same_numbers(tmp_path):
    judge = tmp_path / "judge.npz"
    save_classifier(judge, build_classifier("fashion-mnist"), {"test_accuracy": 0.1})
    out = _tiny_run(tmp_path, "torch", "gan", "--classifier", str(judge), "--eval-n", "20")
    during = json.loads((out / "scores.jsonl").read_text())
    run_json = (out / "run.json").read_text()
    copy = tmp_path / "copy"                                              # a second run folder, not scored yet
    copy.mkdir()
    (copy / "G_epoch001.npz").write_bytes((out / "G_epoch001.npz").read_bytes())
    ref.main(["--score", "--model", "gan", "--dataset", "fake", "--out", str(out), str(copy),
              "--classifier", str(judge), "--eval-n", "20"])              # one judge for both folders
    for folder in (out, copy):
        after = json.loads((folder / "scores.jsonl").read_text())
        assert (after["framework"], after["epoch"]) == ("torch", 1)
        assert after["fcd"] == pytest.approx(during["fcd"], rel=1e-9)
    assert (out / "run.json").read_text() == run_json                   # the training run's record is kept
    with pytest.raises(SystemExit):
        ref.parse_args(["--model", "gan", "--out", str(out)])             # neither --framework nor --score
    with pytest.raises(SystemExit):
        ref.parse_args(["--framework", "torch", "--out", str(out), str(copy)])   # two folders to train into


def test_init_torch_draws_other_weights_from_the_same_distribution(tmp_path):
    out = _tiny_run(tmp_path, "torch", "dcgan", "--init", "torch", "--lr", "0")
    ours = _tiny_run(tmp_path / "m", "minigan", "dcgan", "--lr", "0")
    G_t, G_mg = (load_generator(o / "G_epoch001.npz")[0].state_dict() for o in (out, ours))
    w_t, w_mg = G_t["net.4.weight"], G_mg["net.4.weight"]                 # a transposed conv, N(0, 0.02)
    assert not np.allclose(w_t, w_mg)
    assert abs(float(w_t.std()) - 0.02) < 2e-3 and abs(float(w_mg.std()) - 0.02) < 2e-3
