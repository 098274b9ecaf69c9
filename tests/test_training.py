"""The training loop: bit-exact resume, Ctrl-C checkpoints, NaN stop, health checks."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import training
from minigan.run import runfolder, training_state, trainer
from minigan.run.checkpoint import CheckpointError, load_checkpoint
from minigan.data import fake_dataset, to_float_images
from minigan.models import build
from minigan.training import TrainConfig
from minigan.run.trainer import TrainingDiverged, health_warnings, train

ROOT = Path(__file__).resolve().parents[1]


def tiny_run(out, epochs, resume=False, model="cgan", spec_extra=None, **losses):
    """``losses``: TrainConfig's loss fields (loss="wgan-gp", r1_gamma, d_steps, ...)."""
    mg.set_backend("numpy")
    mg.manual_seed(0)
    images, labels = fake_dataset("fashion-mnist", 48, seed=1)
    spec = {"name": model, "latent_dim": 8, **(spec_extra or {})}
    G, D = build(spec)
    config = TrainConfig(epochs=epochs, batch_size=16, latent_dim=8, conditional=model == "cgan",
                         sample_every=0, progress=False, **losses)
    train(G, D, to_float_images(images), labels, config, out, spec, resume=resume)
    return load_checkpoint(Path(out) / "checkpoint.npz")


def test_resume_is_bit_exact(tmp_path):
    """2 epochs in one run == 1 epoch, then --resume for the 2nd (D's dropout draws random numbers)."""
    a, meta_a = tiny_run(tmp_path / "a", epochs=2, model="gan")
    tiny_run(tmp_path / "b", epochs=1, model="gan")
    b, meta_b = tiny_run(tmp_path / "b", epochs=2, resume=True, model="gan")
    assert meta_a["iteration"] == meta_b["iteration"] == 6
    assert sorted(a) == sorted(b)
    for key in a:
        assert np.array_equal(a[key], b[key]), key


# WGAN-GP and R1 on the plain GAN (its D's dropout and WGAN-GP's eps draw random numbers; the cGAN and
# the layer-norm critics are trained by the example tests, tests/test_examples.py)
PENALIZED = {"wgan-gp": dict(model="gan", loss="wgan-gp", d_steps=2), "r1": dict(model="gan", r1_gamma=5.0)}


@pytest.mark.parametrize("case", sorted(PENALIZED))
def test_resume_is_bit_exact_with_gradient_penalties(tmp_path, case, monkeypatch):
    monkeypatch.setattr("minigan.run.viz.save_image_grid", lambda *a, **k: None)   # PNGs: most of the time
    monkeypatch.setattr("minigan.run.viz.plot_curves", lambda *a, **k: None)
    a, meta_a = tiny_run(tmp_path / "a", epochs=2, **PENALIZED[case])
    tiny_run(tmp_path / "b", epochs=1, **PENALIZED[case])
    b, meta_b = tiny_run(tmp_path / "b", epochs=2, resume=True, **PENALIZED[case])
    assert meta_a["iteration"] == meta_b["iteration"] == 6
    assert meta_a["config"]["loss"] == ("wgan-gp" if case == "wgan-gp" else "bce")
    assert sorted(a) == sorted(b)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    records = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss_D" in r]
    assert [r["iteration"] for r in steps] == [1, 2, 3, 4, 5, 6]
    keys = {"wasserstein", "grad_norm", "gp"} if case == "wgan-gp" else {"D_x", "D_G_z", "r1"}
    for r in steps:
        assert keys <= set(r) and all(np.isfinite(r[k]) for k in keys | {"loss_D", "loss_G"}), r
        assert r.get("r1", 1.0) > 0 and r.get("gp", 1.0) >= 0


def test_wgan_gp_loss_is_critic_difference_plus_penalty(tmp_path):
    """loss_D = -(Wasserstein estimate) + penalty in every logged iteration; losses stay finite."""
    tiny_run(tmp_path, epochs=1, model="gan", loss="wgan-gp", d_steps=1)
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss_D" in r]
    assert len(steps) == 3
    for r in steps:
        assert np.isclose(r["loss_D"], -r["wasserstein"] + r["gp"], rtol=1e-4, atol=1e-5), r
        assert np.isfinite(r["loss_G"]) and r["grad_norm"] > 0
    assert (tmp_path / "curves.png").exists()


def test_resume_refuses_another_loss(tmp_path):
    tiny_run(tmp_path, epochs=1, model="gan")
    with pytest.raises(CheckpointError, match="wgan-gp"):
        tiny_run(tmp_path, epochs=2, resume=True, model="gan", loss="wgan-gp")
    with pytest.raises(CheckpointError, match="r1_gamma"):
        tiny_run(tmp_path, epochs=2, resume=True, model="gan", r1_gamma=1.0)


def test_train_config_rejects_unknown_loss_and_negative_weights():
    with pytest.raises(ValueError, match="wgan-gp"):
        TrainConfig(loss="wgan")
    with pytest.raises(ValueError, match="r1_gamma"):
        TrainConfig(r1_gamma=-1.0)


def test_checkpoint_holds_everything_needed(tmp_path):
    arrays, meta = tiny_run(tmp_path, epochs=1)
    assert meta["model"] == {"name": "cgan", "latent_dim": 8}
    assert meta["epoch"] == 1 and meta["batch"] == 0 and meta["rng_state"] is not None
    assert {"fixed/noise", "fixed/labels", "optG/steps", "optD/steps"} <= set(arrays)
    for name in ("log.jsonl", "samples_epoch001.png", "curves.png"):
        assert (tmp_path / name).exists()
    G, spec, _ = training_state.load_generator(tmp_path / "checkpoint.npz")
    assert spec["name"] == "cgan" and G.latent_dim == 8


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    tiny_run(tmp_path, epochs=1, model="gan")
    before = (tmp_path / "checkpoint.npz").read_bytes()
    monkeypatch.setattr(trainer, "g_step", lambda *a, **k: float("nan"))
    with pytest.raises(TrainingDiverged, match="NaN"):
        tiny_run(tmp_path, epochs=2, resume=True, model="gan")
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_a_failed_score_is_logged_after_the_epoch_is_saved(tmp_path):
    """An exception in the per-epoch score (--classifier) loses nothing: the checkpoint comes first."""
    mg.manual_seed(0)
    images, labels = fake_dataset("fashion-mnist", 32, seed=1)
    spec = {"name": "gan", "latent_dim": 8}
    G, D = build(spec)
    config = TrainConfig(epochs=2, batch_size=16, latent_dim=8, sample_every=0, progress=False)

    def evaluate(G, epoch):
        assert load_checkpoint(tmp_path / "checkpoint.npz")[1]["epoch"] == epoch   # already saved
        raise ValueError("n must be >= 2")

    train(G, D, to_float_images(images), labels, config, tmp_path, spec, evaluate=evaluate, evaluate_every=1)
    assert load_checkpoint(tmp_path / "checkpoint.npz")[1]["epoch"] == 2             # trained on
    records = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    warnings = [r["message"] for r in records if r.get("event") == "warning"]
    assert len(warnings) == 2 and "scoring epoch 1 failed (ValueError: n must be >= 2)" in warnings[0]
    assert [r["epoch"] for r in records if r.get("event") == "epoch_end"] == [1, 2]


def test_a_second_run_into_the_same_folder_is_refused_unless_resume_or_overwrite(tmp_path):
    tiny_run(tmp_path, epochs=1, model="gan")
    with pytest.raises(runfolder.RunFolderError, match="--resume"):
        tiny_run(tmp_path, epochs=1, model="gan")
    (tmp_path / "samples_epoch009.png").write_bytes(b"an old grid")
    mg.manual_seed(0)
    images, labels = fake_dataset("fashion-mnist", 48, seed=1)
    spec = {"name": "gan", "latent_dim": 8}
    G, D = build(spec)
    config = TrainConfig(epochs=1, batch_size=16, latent_dim=8, sample_every=0, progress=False)
    with pytest.raises(runfolder.RunFolderError, match="contradict"):
        train(G, D, to_float_images(images), labels, config, tmp_path, spec, resume=True, overwrite=True)
    train(G, D, to_float_images(images), labels, config, tmp_path, spec, overwrite=True)
    assert not (tmp_path / "samples_epoch009.png").exists() and (tmp_path / "samples_epoch001.png").exists()


def test_health_warnings_in_plain_words():
    history = [{"loss_D": 0.001}] * 200
    assert "D wins" in health_warnings(history)[0]
    assert health_warnings([{"loss_D": 0.7}] * 200) == []
    same = mg.Tensor(np.ones((8, 1, 4, 4), dtype=np.float32))
    assert any("mode collapse" in w for w in health_warnings([], same))


def test_health_check_does_not_read_a_critic_loss_as_d_winning():
    critic = [{"loss_D": -3.0, "wasserstein": 2.9, "grad_norm": 1.0, "gp": 0.1}] * 200   # WGAN-GP: < 0 is normal
    assert health_warnings(critic) == []


def _run_example(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy"}
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kw)


def test_ctrl_c_saves_and_resume_matches_uninterrupted_run(tmp_path):
    """SIGINT mid-epoch: a checkpoint at the current iteration, exit 0; resuming reproduces the full run."""
    common = ["examples/gan_fashion_mnist.py", "--dataset", "fake", "--limit", "1000", "--batch-size", "16",
              "--epochs", "1", "--no-progress", "--sample-every", "0", "--latent-dim", "8"]
    full = _run_example(common + ["--out", str(tmp_path / "full")])
    assert full.wait(timeout=300) == 0, full.stdout.read()

    interrupted = _run_example(common + ["--out", str(tmp_path / "cut")])
    log = tmp_path / "cut" / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.stat().st_size > 0):
        time.sleep(0.02)  # the log is flushed every iteration: once it has a line, training is under way
    interrupted.send_signal(signal.SIGINT)
    output = interrupted.communicate(timeout=120)[0]
    assert interrupted.returncode == 0, output
    assert "stopped by signal" in output
    _, meta = load_checkpoint(tmp_path / "cut" / "checkpoint.npz")
    assert meta["epoch"] == 0 and 0 < meta["batch"] < 62

    resumed = _run_example(common + ["--out", str(tmp_path / "cut"), "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stdout.read()
    a, _ = load_checkpoint(tmp_path / "full" / "checkpoint.npz")
    b, _ = load_checkpoint(tmp_path / "cut" / "checkpoint.npz")
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert records[-1]["event"] == "epoch_end"


@pytest.mark.parametrize("field, value", [("d_steps", 0), ("batch_size", 0), ("lr", -1.0), ("real_label", 5.0)])
def test_train_refuses_a_config_that_cannot_train(tmp_path, field, value):
    images, labels = fake_dataset("fashion-mnist", 32, seed=1)
    spec = {"name": "gan", "latent_dim": 8}
    G, D = build(spec)
    config = TrainConfig(**{"epochs": 1, "batch_size": 16, "latent_dim": 8, "progress": False, field: value})
    with pytest.raises(ValueError, match="expected batch_size >= 1, d_steps >= 1"):
        train(G, D, to_float_images(images), labels, config, tmp_path, spec)
    assert not (tmp_path / "checkpoint.npz").exists()


def test_the_bare_train_loop_trains_without_writing_files(tmp_path, monkeypatch, capsys):
    """training.train_loop, the loop a learner reads first: the same steps, one (loss_D, loss_G) per
    iteration, a line per epoch, nothing written."""
    from minigan.data import batches

    monkeypatch.chdir(tmp_path)
    mg.manual_seed(0)
    images, labels = fake_dataset("fashion-mnist", n=48)
    images = to_float_images(images)
    G, D = build({"name": "gan", "latent_dim": 8})
    config = TrainConfig(epochs=2, batch_size=16, latent_dim=8)
    history = training.train_loop(G, D, lambda epoch: batches((images, labels), 16, shuffle=True, seed=[0, epoch]),
                                  config)
    assert len(history) == 2 * 3 and all(np.isfinite([float(d), float(g)]).all() for d, g in history)
    assert capsys.readouterr().out.count("epoch ") == 2
    assert list(tmp_path.iterdir()) == []


def test_a_conditional_run_checks_its_labels_once_on_the_host(tmp_path):
    """train() checks every class label against config.num_classes before the first batch (on the host,
    so the iterations need not read labels back from the device)."""
    mg.manual_seed(0)
    images, labels = fake_dataset("fashion-mnist", n=32)
    labels = labels.copy()
    labels[5] = 10                                                   # one label too many for 10 classes
    G, D = build({"name": "cgan", "latent_dim": 8})
    config = TrainConfig(epochs=1, batch_size=16, latent_dim=8, conditional=True, progress=False)
    with pytest.raises(ValueError, match=r"training labels.*\[0, 9\].* to 10"):
        train(G, D, to_float_images(images), labels, config, tmp_path / "run", {"name": "cgan", "latent_dim": 8})
    assert not (tmp_path / "run" / "checkpoint.npz").exists()
