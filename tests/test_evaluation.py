"""Tests for offline evaluation: ops/crossentropy, models/classifier, evaluation.py and its two examples.

The classifiers learn "prototype" data: each class is a fixed random +-0.8 image plus noise, so a few
Adam steps are enough to beat chance by far, and the tests stay fast on a CPU.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan import backend as backend_module
from minigan.run.checkpoint import CheckpointError, load_checkpoint
from minigan.evaluation import (accuracy_by_class, augment_batch, classify, evaluate_generator, export_generator,
                                extract_features, load_classifier, load_generator, make_epoch_evaluator,
                                sample_generator, save_generator, train_classifier)
from minigan.evaluation.metrics import conditional_accuracy
from minigan.models import build
from minigan.evaluation.classifier import CIFAR10Classifier, FashionMNISTClassifier, build_classifier
from minigan.ops.crossentropy import cross_entropy
from minigan.optim import Adam
from minigan.training import TrainConfig, fixed_inputs
from minigan.run.training_state import load_generator_state, save_training_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def prototype_data(n, seed=0, shape=(1, 28, 28)):
    """Learnable fake data: image = prototype[label] + noise, in [-1, 1]; float32 (n, C, H, W), int64 (n,)."""
    rng = np.random.default_rng(seed)
    prototypes = np.random.default_rng(123).choice([-0.8, 0.8], size=(10, *shape))   # fixed across seeds
    labels = rng.integers(0, 10, n)
    images = np.clip(prototypes[labels] + 0.3 * rng.standard_normal((n, *shape)), -1, 1)
    return images.astype(np.float32), labels.astype(np.int64)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A FashionMNISTClassifier trained for 6 steps; (model, test accuracy, checkpoint path)."""
    mg.set_backend("numpy")
    mg.manual_seed(0)
    model = FashionMNISTClassifier()
    images, labels = prototype_data(192, seed=0)
    test_images, test_labels = prototype_data(100, seed=1)
    path = tmp_path_factory.mktemp("classifier") / "c.npz"
    accuracy = train_classifier(model, images, labels, test_images, test_labels, epochs=1, batch_size=32,
                                lr=1e-3, augment=False, out_path=path, progress=False)
    return model, accuracy, path


# --------------------------------------------------------------------------------------------------
# ops/crossentropy
# --------------------------------------------------------------------------------------------------
def numpy_cross_entropy(z, y):
    """Plain NumPy reference: loss and d loss / d z."""
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    onehot = np.eye(z.shape[1])[y]
    return loss, (p - onehot) / len(y)


def test_cross_entropy_matches_numpy_reference(make, rng):
    z_np, y_np = 3 * rng.standard_normal((6, 5)), np.array([0, 4, 2, 2, 1, 3])
    z = make(z_np, requires_grad=True)
    loss = cross_entropy(z, mg.tensor(y_np))
    loss.backward()
    want_loss, want_grad = numpy_cross_entropy(z_np, y_np)
    assert loss.item() == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(backend_module.to_numpy(z.grad), want_grad, rtol=1e-10, atol=1e-14)


def test_cross_entropy_gradcheck(make, rng):
    z = make(2 * rng.standard_normal((7, 10)), requires_grad=True)
    y = mg.tensor(rng.integers(0, 10, 7))
    assert mg.gradcheck(lambda logits: cross_entropy(logits, y), z)


def test_cross_entropy_is_stable_for_huge_logits(make):
    z = make(np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 0.0]]), requires_grad=True)
    loss = cross_entropy(z, mg.tensor(np.array([0, 0])))
    loss.backward()
    assert loss.item() == pytest.approx(500.0)                      # row 1: 0, row 2: 1000
    assert np.isfinite(backend_module.to_numpy(z.grad)).all()


def test_cross_entropy_rejects_bad_labels():
    z = mg.tensor(np.zeros((3, 4)))
    with pytest.raises(TypeError, match="integer"):
        cross_entropy(z, mg.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="labels"):
        cross_entropy(z, np.array([0, 1]))


# --------------------------------------------------------------------------------------------------
# models/classifier
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, shape, dim", [(FashionMNISTClassifier, (1, 28, 28), 128),
                                             (CIFAR10Classifier, (3, 32, 32), 256)])
def test_classifier_shapes(cls, shape, dim):
    mg.manual_seed(0)
    model = cls().eval()
    x = mg.tensor(np.zeros((2, *shape)))
    assert model(x).shape == (2, 10)
    assert model.features(x).shape == (2, dim)
    with pytest.raises(ValueError, match=cls.__name__):
        model(mg.tensor(np.zeros((2, 3, 16, 16))))


def test_build_classifier_accepts_both_spellings():
    assert isinstance(build_classifier("fashion_mnist"), FashionMNISTClassifier)
    assert isinstance(build_classifier("fashion-mnist"), FashionMNISTClassifier)
    assert isinstance(build_classifier("cifar10"), CIFAR10Classifier)
    with pytest.raises(ValueError, match="mnist"):
        build_classifier("svhn")


def test_augment_batch_flips_and_crops_on_the_host():
    images = np.arange(2 * 3 * 8 * 8, dtype=np.float32).reshape(2, 3, 8, 8)
    out = augment_batch(images, np.random.default_rng(0), pad=0)     # pad 0: only flips
    for a, b in zip(out, images):
        assert np.array_equal(a, b) or np.array_equal(a, b[:, :, ::-1])
    out = augment_batch(images, np.random.default_rng(1), pad=2)
    assert out.shape == images.shape and out.dtype == np.float32
    assert set(np.unique(out)) <= set(np.unique(images)) | {-1.0}   # pixels move, padding is -1


# --------------------------------------------------------------------------------------------------
# training, saving, loading
# --------------------------------------------------------------------------------------------------
def test_load_split_limit_takes_every_class_from_a_split_grouped_by_class(monkeypatch):
    """The shared CIFAR-10 test set is sorted by class: --limit must not mean "the first N" (all airplanes)."""
    import minigan.evaluation as evaluation
    labels = np.repeat(np.arange(10), 100)                                   # (1000,) 0,0,...,9,9
    images = np.repeat(labels.astype(np.uint8), 32 * 32 * 3).reshape(1000, 32, 32, 3)
    monkeypatch.setitem(evaluation.LOADERS, "cifar10", lambda root, split: (images, labels))
    x, y = evaluation.load_split("cifar10", "test", limit=200, seed=3)
    assert x.shape == (200, 3, 32, 32) and len(np.unique(y)) == 10
    assert np.all(np.diff(y) >= 0)                                           # the split's order is kept
    assert np.array_equal(y, evaluation.load_split("cifar10", "test", limit=200, seed=3)[1])   # seeded
    assert len(evaluation.load_split("cifar10", "test", limit=5000)[1]) == 1000                # limit > N


def test_trained_classifier_beats_chance_and_round_trips(trained):
    model, accuracy, path = trained
    assert accuracy > 0.5                                            # chance: 0.1
    loaded, meta = load_classifier(path)
    assert meta["kind"] == "classifier" and meta["dataset"] == "fashion-mnist" and meta["epochs"] == 1
    assert meta["test_accuracy"] == pytest.approx(accuracy)
    assert not loaded.training
    images, _ = prototype_data(50, seed=2)
    f1, p1 = classify(model, images)
    f2, p2 = classify(loaded, images)
    assert f1.shape == (50, 128) and p1.dtype == np.int64
    np.testing.assert_allclose(f1, f2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(extract_features(loaded, images, batch_size=7), f2, rtol=1e-5, atol=1e-6)


def test_conditional_accuracy_of_random_labels_is_near_chance(trained):
    model, _, _ = trained
    images, labels = prototype_data(400, seed=3)
    random_labels = np.random.default_rng(4).integers(0, 10, 400)
    model.eval()
    right = conditional_accuracy(model, images, labels)["overall"]
    wrong = conditional_accuracy(model, images, random_labels)
    assert right > 0.5
    assert 0.05 < wrong["overall"] < 0.16
    overall, per_class = accuracy_by_class(classify(model, images)[1], random_labels)
    assert overall == pytest.approx(wrong["overall"])
    np.testing.assert_allclose(per_class, wrong["per_class"])


def test_load_classifier_refuses_other_checkpoints(tmp_path):
    mg.manual_seed(0)
    spec = {"name": "gan", "latent_dim": 8}
    save_generator(tmp_path / "g.npz", build(spec)[0], spec)
    with pytest.raises(CheckpointError, match="not a classifier"):
        load_classifier(tmp_path / "g.npz")


# --------------------------------------------------------------------------------------------------
# sampling and scoring generators
# --------------------------------------------------------------------------------------------------
def test_sample_generator_is_balanced_seeded_and_side_effect_free():
    mg.manual_seed(0)
    G, _ = build({"name": "cgan", "latent_dim": 8})
    before = mg.randn(3).numpy()
    mg.manual_seed(0)
    G, _ = build({"name": "cgan", "latent_dim": 8})
    images, labels = sample_generator(G, 25, 8, conditional=True, batch_size=10, seed=5)
    assert images.shape == (25, 1, 28, 28) and images.dtype == np.float32
    assert np.abs(images).max() <= 1
    assert np.bincount(labels).tolist() == [3, 3, 3, 3, 3, 2, 2, 2, 2, 2]
    assert G.training                                                # mode restored
    assert np.array_equal(mg.randn(3).numpy(), before)               # global generator untouched
    again, _ = sample_generator(G, 25, 8, conditional=True, batch_size=25, seed=5)
    np.testing.assert_allclose(again, images, atol=1e-6)


def test_evaluate_generator_on_an_untrained_cgan_returns_every_key():
    mg.manual_seed(0)
    spec = {"name": "cgan", "latent_dim": 8, "num_classes": 10}
    G, _ = build(spec)
    classifier = FashionMNISTClassifier().eval()
    real, real_labels = prototype_data(30, seed=6)
    result = evaluate_generator(G, spec, classifier, real, real_labels, n=20)
    for key in ("fcd", "kid_mean", "kid_std", "real_accuracy", "conditional_accuracy"):
        assert np.isfinite(result[key]), key
    assert result["n_fake"] == 20 and result["n_real"] == 30
    assert len(result["conditional_accuracy_per_class"]) == 10 and len(result["real_accuracy_per_class"]) == 10
    assert sum(result["fake_class_fractions"]) == pytest.approx(1.0)
    json.dumps(result)                                               # JSON-able as it is


def test_epoch_evaluator_leaves_a_batchnorm_generator_as_it_was():
    mg.manual_seed(0)
    spec = {"name": "dcgan", "latent_dim": 16}
    G, _ = build(spec)
    state = {k: v.copy() for k, v in G.state_dict().items()}
    real, real_labels = prototype_data(30, seed=7, shape=(3, 32, 32))
    evaluate = make_epoch_evaluator(CIFAR10Classifier(), real, real_labels, spec, n=20)
    first = evaluate(G, 1)
    assert G.training                                                # train mode restored
    for k, v in G.state_dict().items():                              # BatchNorm running stats untouched
        assert np.array_equal(v, state[k]), k
    assert {"fcd", "kid_mean", "kid_std", "n_fake", "eval_seconds"} <= set(first)
    assert evaluate(G, 2)["fcd"] == first["fcd"]                     # same noise every epoch


def test_pipeline_runs_on_every_backend(backend, tmp_path):
    """Train one step, save, load, score: on the strict backend a NumPy-only call would fail."""
    images, labels = prototype_data(16, seed=8)
    model = FashionMNISTClassifier()
    train_classifier(model, images, labels, images, labels, epochs=1, batch_size=16, augment=True,
                     out_path=tmp_path / "c.npz", progress=False)
    classifier, _ = load_classifier(tmp_path / "c.npz")
    spec = {"name": "gan", "latent_dim": 8}
    G, _ = build(spec)
    result = evaluate_generator(G, spec, classifier, images, labels, n=12, batch_size=8)
    assert np.isfinite(result["fcd"]) and "conditional_accuracy" not in result


def test_load_generator_from_training_and_generator_only_checkpoints(tmp_path):
    mg.manual_seed(0)
    spec = {"name": "cgan", "latent_dim": 8, "num_classes": 10}
    G, D = build(spec)
    config = TrainConfig(latent_dim=8, conditional=True)
    save_training_checkpoint(tmp_path / "checkpoint.npz", G, D, Adam(G.parameters()), Adam(D.parameters()),
                             fixed_inputs(config), {"epoch": 3, "batch": 0, "iteration": 30}, config, spec)
    export_generator(tmp_path / "checkpoint.npz", tmp_path / "G.npz")
    assert os.path.getsize(tmp_path / "G.npz") < os.path.getsize(tmp_path / "checkpoint.npz") / 3
    arrays, _ = load_checkpoint(tmp_path / "G.npz")
    assert all(key.startswith("G/") for key in arrays)
    for path in ("checkpoint.npz", "G.npz"):
        loaded, loaded_spec, meta = load_generator(tmp_path / path)
        assert loaded_spec == spec and meta["epoch"] == 3 and not loaded.training
        for (name, a), (_, b) in zip(G.state_dict().items(), loaded.state_dict().items()):
            assert np.array_equal(a, b), name
    assert load_generator_state(build(spec)[0], tmp_path / "G.npz")["model"] == spec   # training's loader too
    with pytest.raises(CheckpointError, match="no model spec"):
        load_generator(_classifier_file(tmp_path))


def _classifier_file(tmp_path):
    from minigan.evaluation import save_classifier

    save_classifier(tmp_path / "c.npz", FashionMNISTClassifier(), {})
    return tmp_path / "c.npz"


# --------------------------------------------------------------------------------------------------
# the examples, end to end on fake data
# --------------------------------------------------------------------------------------------------
def run_example(*args):
    env = {**os.environ, "MINIGAN_BACKEND": "numpy", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_examples_train_classifier_then_evaluate(tmp_path):
    classifier = tmp_path / "classifier.npz"
    out = run_example("examples/train_classifier.py", "fashion-mnist", "--dataset", "fake", "--limit", "64",
                      "--epochs", "1", "--batch-size", "32", "--out", str(classifier), "--no-progress")
    assert "test accuracy" in out and classifier.exists()

    mg.manual_seed(0)
    spec = {"name": "cgan", "latent_dim": 16, "num_classes": 10}
    save_generator(tmp_path / "G.npz", build(spec)[0], spec, {"epoch": 1})
    result = tmp_path / "result.json"
    out = run_example("examples/evaluate.py", "--checkpoint", str(tmp_path / "G.npz"), "--classifier",
                      str(classifier), "--n", "20", "--dataset", "fake", "--limit", "30", "--out", str(result))
    assert "FCD" in out and "KID" in out and "Sneaker" in out and "NOT comparable" in out
    record = json.loads(result.read_text())
    assert record["n_fake"] == 20 and record["dataset"] == "fashion-mnist"
    assert len(record["conditional_accuracy_per_class"]) == 10


def test_evaluate_refuses_a_classifier_of_the_wrong_dataset(tmp_path):
    mg.manual_seed(0)
    spec = {"name": "gan", "latent_dim": 8}
    save_generator(tmp_path / "G.npz", build(spec)[0], spec)
    from minigan.evaluation import save_classifier

    save_classifier(tmp_path / "c.npz", CIFAR10Classifier(), {})
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "examples/evaluate.py", "--checkpoint", str(tmp_path / "G.npz"),
                           "--classifier", str(tmp_path / "c.npz"), "--dataset", "fake"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "trained on cifar10" in done.stderr


def test_kid_line_shows_no_spread_when_every_subset_is_the_whole_set():
    from minigan.evaluation import kid_line

    small = {"kid_mean": 0.0123, "kid_std": 0.0, "n_fake": 500, "n_real": 1000}
    assert "+- 0.000000" not in kid_line(small) and "every subset is the same" in kid_line(small)
    large = {"kid_mean": 0.0123, "kid_std": 0.0021, "n_fake": 10000, "n_real": 10000}
    assert kid_line(large) == "KID  0.012300 +- 0.002100"
