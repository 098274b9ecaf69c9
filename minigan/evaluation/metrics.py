"""Evaluating a generator offline: Fréchet distance, kernel distance, classifier accuracy.

Reading order: ... models -> training -> checkpoint -> **metrics** -> viz.
Read this after ``training.py``; next read ``viz.py``.

A GAN has no loss that says "the samples look right", so we compare *features* of real and generated
images. A feature extractor maps every image to a vector; we get two clouds of points, (N_a, D) and
(N_b, D), and measure how far apart the clouds are.

Fréchet distance (FD)
    Fit a Gaussian to each cloud (mean mu, covariance S) and take the Fréchet (2-Wasserstein) distance
    between the two Gaussians::

        FD = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr( (S_a^1/2 S_b S_a^1/2)^1/2 )

    It is 0 for identical statistics and grows when the means move apart or the spreads differ.

Kernel distance (KID)
    The squared maximum mean discrepancy (MMD^2) between the clouds with the polynomial kernel
    k(x, y) = (gamma x.y + coef0)^degree, estimated without bias on random subsets. Unlike FD it
    assumes no Gaussian shape and its estimate is unbiased, so it can be compared across sample sizes;
    it can come out slightly negative when the two distributions are the same.

Conditional accuracy
    For a class-conditional generator: ask a classifier trained on real data which class each
    generated image shows, and count how often it agrees with the label the generator was given.

A warning about numbers
    Published "FID" numbers use the features of one particular Inception-v3 network trained on
    ImageNet. minigan works offline and uses features of its *own* small classifier, so what this
    module computes is a "Fréchet Classifier Distance". It is useful for comparing minigan runs with
    each other, and it is NOT comparable to published Inception FID or KID values.

Everything runs on NumPy or CuPy arrays (the array module comes from the inputs) in float64, and
needs no SciPy: matrix square roots come from the symmetric eigendecomposition ``xp.linalg.eigh``.
"""

import numpy as np

from minigan.backend import backend_of, get_array_module, to_device, to_numpy


# ---------------------------------------------------------------------------------------------------
# Fréchet distance
# ---------------------------------------------------------------------------------------------------
def frechet_distance(feats_a, feats_b):
    """The Fréchet distance between Gaussians fitted to two feature sets of shape (N_a, D), (N_b, D).

    Both arrays must live on the same backend (numpy or cupy). The covariances are the unbiased
    sample covariances (divide by N - 1). Returns a Python float >= 0.
    """
    xp = _common_module(feats_a, feats_b)
    a = xp.asarray(feats_a, dtype=xp.float64)
    b = xp.asarray(feats_b, dtype=xp.float64)
    _check_features(a, b, min_rows=2)
    mu_a, cov_a = _mean_and_covariance(a)
    mu_b, cov_b = _mean_and_covariance(b)
    return gaussian_frechet_distance(mu_a, cov_a, mu_b, cov_b)


def gaussian_frechet_distance(mu1, cov1, mu2, cov2):
    """The Fréchet distance between N(mu1, cov1) and N(mu2, cov2); mu: (D,), cov: (D, D) PSD.

        FD = |mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr( (cov1^1/2 cov2 cov1^1/2)^1/2 )

    M = cov1^1/2 cov2 cov1^1/2 is symmetric positive semi-definite, so its square root has the
    eigenvalues sqrt(lambda_i(M)) and tr(M^1/2) = sum_i sqrt(lambda_i(M)). Eigenvalues that rounding
    made slightly negative are clipped to 0, and so is the final result.
    """
    xp = _common_module(mu1, cov1, mu2, cov2)
    mu1, mu2 = xp.asarray(mu1, dtype=xp.float64), xp.asarray(mu2, dtype=xp.float64)
    cov1, cov2 = xp.asarray(cov1, dtype=xp.float64), xp.asarray(cov2, dtype=xp.float64)
    d = mu1.shape[0] if mu1.ndim == 1 else -1
    if d < 1 or mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"gaussian_frechet_distance expects mu1, mu2 of shape (D,) and cov1, cov2 of "
                         f"shape (D, D); got mu1 {mu1.shape}, cov1 {cov1.shape}, mu2 {mu2.shape}, "
                         f"cov2 {cov2.shape}")

    sqrt_cov1 = _sqrtm_psd(cov1)                       # (D, D)
    m = sqrt_cov1 @ cov2 @ sqrt_cov1                   # (D, D), symmetric PSD up to rounding
    eigenvalues = xp.linalg.eigh((m + m.T) / 2)[0]     # (D,)
    trace_sqrt_m = xp.sqrt(xp.maximum(eigenvalues, 0)).sum()

    diff = mu1 - mu2
    fd = diff @ diff + xp.trace(cov1) + xp.trace(cov2) - 2 * trace_sqrt_m
    return max(float(fd), 0.0)


def _sqrtm_psd(cov):
    """Square root of a symmetric PSD matrix: cov = V diag(w) V^T  ->  cov^1/2 = V diag(sqrt w) V^T."""
    xp = get_array_module(cov)
    w, v = xp.linalg.eigh((cov + cov.T) / 2)           # w: (D,), v: (D, D), columns are eigenvectors
    return (v * xp.sqrt(xp.maximum(w, 0))) @ v.T        # (D, D); v * s scales column j by s[j]


def _mean_and_covariance(x):
    """Mean (D,) and unbiased covariance (D, D) of the rows of x (N, D)."""
    mu = x.mean(axis=0)                                # (D,)
    centred = x - mu                                   # (N, D)
    return mu, centred.T @ centred / (x.shape[0] - 1)  # (D, D)


# ---------------------------------------------------------------------------------------------------
# Kernel distance
# ---------------------------------------------------------------------------------------------------
def kernel_inception_distance(feats_a, feats_b, num_subsets=100, subset_size=1000, degree=3,
                              gamma=None, coef0=1, seed=0):
    """Unbiased MMD^2 with a polynomial kernel, averaged over random subsets: returns (mean, std).

    Notation: X (m, D) and Y (m, D) are subsets drawn without replacement, m = subset_size (capped at
    min(N_a, N_b)); k(x, y) = (gamma x.y + coef0)^degree with gamma = 1/D by default. Per subset::

        MMD^2 = sum_{i != j} k(x_i, x_j) / (m(m-1)) + sum_{i != j} k(y_i, y_j) / (m(m-1))
                - 2 sum_{i, j} k(x_i, y_j) / m^2

    The diagonal terms k(x_i, x_i) are left out, which makes the estimate unbiased. ``mean`` and
    ``std`` are over the ``num_subsets`` estimates; the subsets come from np.random.default_rng(seed),
    so the result is reproducible and independent of minigan's global seed.
    """
    xp = _common_module(feats_a, feats_b)
    a = xp.asarray(feats_a, dtype=xp.float64)
    b = xp.asarray(feats_b, dtype=xp.float64)
    _check_features(a, b, min_rows=2)
    if num_subsets < 1 or subset_size < 2:
        raise ValueError(f"need num_subsets >= 1 and subset_size >= 2; got {num_subsets}, {subset_size}")
    m = min(subset_size, a.shape[0], b.shape[0])
    gamma = 1.0 / a.shape[1] if gamma is None else gamma

    def kernel(x, y):
        return (gamma * (x @ y.T) + coef0) ** degree   # (m, m)

    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(num_subsets):
        x = a[xp.asarray(rng.choice(a.shape[0], m, replace=False))]   # (m, D)
        y = b[xp.asarray(rng.choice(b.shape[0], m, replace=False))]   # (m, D)
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        within = (k_xx.sum() - xp.trace(k_xx) + k_yy.sum() - xp.trace(k_yy)) / (m * (m - 1))
        estimates.append(float(within - 2 * k_xy.sum() / (m * m)))
    return float(np.mean(estimates)), float(np.std(estimates))


# ---------------------------------------------------------------------------------------------------
# Classifier-based scores
# ---------------------------------------------------------------------------------------------------
def predict(classifier, images, batch_size=500):
    """Class predictions (N,) int64 numpy of ``classifier`` on ``images`` (N, C, H, W), in batches.

    ``classifier`` is any callable mapping a Tensor of float32 images to a Tensor of logits (n, K).
    Each batch is copied to the active backend; no graph is recorded (``no_grad``). A model with
    BatchNorm or Dropout should be put in eval mode (``classifier.eval()``) before calling this.
    """
    from minigan.autograd import no_grad  # imported here: metrics is read after the engine
    from minigan.tensor import Tensor

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    predictions = []
    with no_grad():
        for start in range(0, len(images), batch_size):
            batch = Tensor(to_device(images[start:start + batch_size], dtype=np.float32))  # (n, C, H, W)
            logits = classifier(batch)
            logits = logits.data if isinstance(logits, Tensor) else logits          # (n, K)
            if logits.ndim != 2 or logits.shape[0] != batch.data.shape[0]:
                raise ValueError(f"the classifier must return logits of shape ({batch.data.shape[0]}, "
                                 f"num_classes) for a batch of {batch.data.shape[0]} images; "
                                 f"got {tuple(logits.shape)}")
            predictions.append(to_numpy(logits.argmax(axis=1)))                         # (n,)
    if not predictions:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate(predictions).astype(np.int64)


def conditional_accuracy(classifier, images, labels, batch_size=500, num_classes=10):
    """How often ``classifier`` assigns each image the class in ``labels``.

    Returns ``{"overall": float, "per_class": [float] * num_classes, "n": int}``; a class with no
    images gets ``nan`` in ``per_class``. For a conditional GAN, ``images`` are generated from
    ``labels``, so this measures whether the generator draws the class it was asked for.
    """
    labels = to_numpy(labels).astype(np.int64).reshape(-1)   # (N,)
    if len(labels) != len(images):
        raise ValueError(f"got {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError("conditional_accuracy needs at least one image")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}); got [{labels.min()}, {labels.max()}]")
    correct = predict(classifier, images, batch_size) == labels   # (N,) bool
    per_class = []
    for c in range(num_classes):
        in_class = labels == c
        per_class.append(float(correct[in_class].mean()) if in_class.any() else float("nan"))
    return {"overall": float(correct.mean()), "per_class": per_class, "n": int(len(labels))}


# ---------------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------------
def _common_module(*arrays):
    """The array module shared by all inputs; mixing numpy and cupy arrays is refused, not copied."""
    backends = [backend_of(x) for x in arrays]
    if len(set(backends)) > 1:
        raise ValueError(f"inputs live on different backends {backends}; move them to one backend "
                         "first with minigan.backend.to_numpy or to_device")
    return get_array_module(arrays[0])


def _check_features(a, b, min_rows):
    """Both feature sets are (N, D) with the same D and at least ``min_rows`` rows."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(a.shape[0], b.shape[0]) < min_rows:
        raise ValueError(f"expected two feature arrays of shape (N, D) with the same D and N >= "
                         f"{min_rows}; got {tuple(a.shape)} and {tuple(b.shape)}")
