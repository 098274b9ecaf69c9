"""Tests for minigan/evaluation/metrics.py: Fréchet distance against closed forms, KID, classifier accuracy."""

import numpy as np
import pytest

from minigan import backend
from minigan.evaluation.metrics import (conditional_accuracy, frechet_distance, gaussian_frechet_distance,
                             kernel_inception_distance, predict)


def random_covariance(rng, d):
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.1 * np.eye(d)


# --------------------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------------------
def test_gaussian_fd_diagonal_closed_form():
    """Diagonal covariances: FD = |mu1 - mu2|^2 + sum_i (sqrt(s1_i) - sqrt(s2_i))^2."""
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    got = gaussian_frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert isinstance(got, float)
    assert got == pytest.approx(want, rel=1e-10)


def test_gaussian_fd_commuting_non_diagonal_closed_form():
    """cov1 = Q diag(a) Q^T, cov2 = Q diag(b) Q^T share eigenvectors: FD = sum (sqrt a - sqrt b)^2."""
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))    # a random rotation
    a, b = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    cov1, cov2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert gaussian_frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(want, rel=1e-9)


def test_gaussian_fd_of_a_gaussian_with_itself_is_zero():
    rng = np.random.default_rng(2)
    cov = random_covariance(rng, 6)
    assert gaussian_frechet_distance(np.zeros(6), cov, np.zeros(6), cov) <= 1e-8 * np.trace(cov)


def test_fd_of_identical_feature_sets_is_zero():
    feats = np.random.default_rng(3).standard_normal((500, 16)).astype(np.float32)
    assert frechet_distance(feats, feats) <= 1e-6 * 2 * np.trace(np.cov(feats, rowvar=False))


def test_fd_is_symmetric():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((300, 8)) @ random_covariance(rng, 8)
    b = rng.standard_normal((400, 8)) + 0.5
    assert frechet_distance(a, b) == pytest.approx(frechet_distance(b, a), rel=1e-8)


def test_fd_of_large_samples_approaches_closed_form():
    rng = np.random.default_rng(5)
    mu1, mu2 = np.array([0.0, 0.0, 1.0, 0.0]), np.array([1.0, -1.0, 1.0, 0.5])
    cov1, cov2 = random_covariance(rng, 4), random_covariance(rng, 4)
    a = rng.multivariate_normal(mu1, cov1, size=20000)
    b = rng.multivariate_normal(mu2, cov2, size=20000)
    want = gaussian_frechet_distance(mu1, cov1, mu2, cov2)
    assert frechet_distance(a, b) == pytest.approx(want, rel=0.05)


def test_fd_validates_shapes():
    with pytest.raises(ValueError, match=r"\(10, 3\).*\(10, 4\)"):
        frechet_distance(np.zeros((10, 3)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(np.zeros((1, 3)), np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"\(10,\)"):
        frechet_distance(np.zeros(10), np.zeros((10, 1)))
    with pytest.raises(ValueError, match="shape"):
        gaussian_frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


@pytest.mark.backends("cupy")                                      # kept by MINIGAN_TEST_BACKENDS=cupy
def test_fd_on_cupy_matches_numpy():
    """Runs where a GPU and CuPy are present; the same numbers must come out."""
    try:
        backend.to_device(np.zeros(1), "cupy")
    except backend.BackendError:
        pytest.skip("CuPy backend not available")
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((200, 5)), rng.standard_normal((300, 5)) + 1
    a_gpu, b_gpu = backend.to_device(a, "cupy"), backend.to_device(b, "cupy")
    assert frechet_distance(a_gpu, b_gpu) == pytest.approx(frechet_distance(a, b), rel=1e-8)
    kid_gpu = kernel_inception_distance(a_gpu, b_gpu, num_subsets=5, subset_size=100)
    assert kid_gpu == pytest.approx(kernel_inception_distance(a, b, num_subsets=5, subset_size=100))
    with pytest.raises(ValueError, match="different backends"):
        frechet_distance(a_gpu, b)


# --------------------------------------------------------------------------------------------------
# Kernel distance
# --------------------------------------------------------------------------------------------------
def test_kid_near_zero_for_same_distribution():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))
    mean, std = kernel_inception_distance(a, b, num_subsets=20, subset_size=500)
    assert isinstance(mean, float) and isinstance(std, float)
    assert abs(mean) < max(3 * std, 1e-3)


def test_kid_clearly_positive_for_shifted_distribution():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)) + 1.0
    mean, std = kernel_inception_distance(a, b, num_subsets=20, subset_size=500)
    assert mean > 10 * std and mean > 0.1


def test_kid_is_reproducible_and_caps_subset_size():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((50, 3)), rng.standard_normal((40, 3))
    first = kernel_inception_distance(a, b, num_subsets=3, subset_size=1000, seed=1)
    assert first == kernel_inception_distance(a, b, num_subsets=3, subset_size=1000, seed=1)
    # subset_size is capped at 40: with all of b in every subset, only a's subset varies
    assert np.isfinite(first[0])


def test_kid_matches_plain_loop_estimator():
    """One subset that is the whole set: compare with the definition written as loops."""
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.3
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731  (gamma = 1/D, coef0 = 1, degree 3)
    m = 6
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = kernel_inception_distance(x, y, num_subsets=1, subset_size=m)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-12) and std == 0.0


# --------------------------------------------------------------------------------------------------
# Classifier-based scores
# --------------------------------------------------------------------------------------------------
def encoded_images(classes):
    """Images (N, 1, 2, 2) whose first pixel stores a class id: a stub classifier can read it back."""
    images = np.zeros((len(classes), 1, 2, 2), dtype=np.float32)
    images[:, 0, 0, 0] = classes
    return images


def stub_classifier(num_classes=10):
    """A classifier that outputs one-hot logits (as a Tensor) for the class stored in each image."""
    tensor = pytest.importorskip("minigan.tensor")

    def classify(x):
        assert isinstance(x, tensor.Tensor) and x.data.dtype == np.float32
        ids = backend.to_numpy(x.data)[:, 0, 0, 0].astype(np.int64)   # (n,)
        logits = np.zeros((len(ids), num_classes), dtype=np.float32)  # (n, K)
        logits[np.arange(len(ids)), ids] = 5.0
        return tensor.Tensor(backend.to_device(logits))

    return classify


def test_predict_reads_batches_in_order():
    classes = np.random.default_rng(11).integers(0, 10, size=1234)
    preds = predict(stub_classifier(), encoded_images(classes), batch_size=100)
    assert preds.dtype == np.int64 and preds.tolist() == classes.tolist()


def test_conditional_accuracy_perfect_predictions():
    classes = np.random.default_rng(12).integers(0, 10, size=1000)
    result = conditional_accuracy(stub_classifier(), encoded_images(classes), classes, batch_size=300)
    assert result["overall"] == 1.0 and result["n"] == 1000
    assert result["per_class"] == [1.0] * 10


def test_conditional_accuracy_random_labels_is_about_chance():
    rng = np.random.default_rng(13)
    predicted, labels = rng.integers(0, 10, size=5000), rng.integers(0, 10, size=5000)
    result = conditional_accuracy(stub_classifier(), encoded_images(predicted), labels)
    assert result["overall"] == pytest.approx(0.1, abs=0.02)
    assert len(result["per_class"]) == 10 and all(0.03 < p < 0.2 for p in result["per_class"])


def test_conditional_accuracy_missing_class_is_nan_and_labels_are_checked():
    classes = np.array([0, 0, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 2, 2, 0])
    result = conditional_accuracy(stub_classifier(4), encoded_images(predicted), classes,
                                  batch_size=4, num_classes=4)
    assert result["overall"] == pytest.approx(4 / 6)
    assert result["per_class"][:3] == pytest.approx([0.5, 1.0, 2 / 3])
    assert np.isnan(result["per_class"][3])
    with pytest.raises(ValueError, match="labels"):
        conditional_accuracy(stub_classifier(4), encoded_images(predicted), classes[:5], num_classes=4)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        conditional_accuracy(stub_classifier(4), encoded_images(predicted), classes, num_classes=2)
