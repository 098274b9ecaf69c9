"""Evaluating GANs offline: train a judge classifier, then score generators in its feature space.

Reading order: models/classifier -> metrics -> **evaluation** -> viz; the scripts that use it are
``examples/train_classifier.py`` and ``examples/evaluate.py``.

The pipeline, one function per step:

    train_classifier   a small CNN learns the real training set (cross-entropy, Adam, cosine decay);
                       its checkpoint is written at every epoch end
    classify           one pass over images: penultimate features (N, d) and predicted classes (N,)
    sample_generator   n images from G with fixed noise (and balanced labels for a cGAN)
    evaluate_generator Fréchet Classifier Distance (FCD) and KID between real-test and generated
                       features; for a cGAN, how often the classifier sees the class G was asked for
    make_epoch_evaluator  the same, as the ``evaluate(G, epoch)`` hook of ``run.trainer.train``

FCD is computed in minigan's *own* classifier feature space (metrics.py explains why). It ranks
minigan runs against each other on one dataset with one classifier checkpoint; it is not comparable
to published Inception FID numbers, nor between two different classifier checkpoints.

Side effects are kept away from training: sampling draws its noise from its own numpy generator
(seeded, so every epoch's evaluation uses the same z), never from minigan's global one, and runs G in
eval mode (BatchNorm uses its running statistics and updates nothing); G's mode is restored after.
"""

import math
import os
import re
import time

import numpy as np

from minigan import backend
from minigan.autograd import no_grad
from minigan.nn import Module
from minigan.run.checkpoint import CheckpointError, flatten_state, load_checkpoint, save_checkpoint, unflatten_state
from minigan.data import fake_dataset, load_cifar10, load_fashion_mnist, random_subset, to_float_images
from minigan.evaluation.metrics import frechet_distance, kernel_inception_distance
from minigan.evaluation.classifier import build_classifier
from minigan.ops.crossentropy import cross_entropy
from minigan.optim import Adam
from minigan.tensor import Tensor
from minigan.run.training_state import load_generator  # noqa: F401  (evaluate.py and the tests use it from here)

LOADERS = {"fashion-mnist": load_fashion_mnist, "cifar10": load_cifar10}
DATASET_OF_MODEL = {"gan": "fashion-mnist", "cgan": "fashion-mnist", "dcgan": "cifar10"}
FCD_NOTE = ("FCD and KID are computed in the feature space of minigan's own classifier; they compare "
            "minigan runs with each other and are NOT comparable to published Inception FID/KID.")


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
def dataset_name(name):
    """The canonical dataset name: 'fashion_mnist' or 'Fashion-MNIST' -> 'fashion-mnist'; 'cifar10'."""
    key = name.replace("_", "-").lower()
    if key not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; expected 'fashion-mnist' (or 'fashion_mnist') or 'cifar10'")
    return key


def load_split(name, split, data_dir=None, fake=False, limit=None, seed=0):
    """(float32 images (N, C, H, W) in [-1, 1], int64 labels (N,)) of one split, on the host.

    ``fake``: random noise images of the right shape (``limit`` of them, default 512) for smoke tests.
    ``limit``: keep a random subset of ``limit`` images (``data.random_subset``: fixed by ``seed``, in the
    split's order), as ``--limit`` does in every script.
    """
    name = dataset_name(name)
    if fake:
        images, labels = fake_dataset(name, limit or 512, seed=seed + (split == "test"))
    else:
        images, labels = random_subset(*LOADERS[name](root=data_dir, split=split), limit, seed)
    return to_float_images(images), labels


def augment_batch(images, rng, pad=4):
    """Random horizontal flips and random crops (zero-pad ``pad`` pixels, cut back to H x W), on the host.

    images: numpy (N, C, H, W) in [-1, 1]; the padding is -1, i.e. black. Returns a new array.
    """
    n, c, h, w = images.shape
    flip = rng.random(n) < 0.5                                       # (N,) bool
    flipped = np.where(flip[:, None, None, None], images[:, :, :, ::-1], images)   # (N, C, H, W)
    padded = np.pad(flipped, ((0, 0), (0, 0), (pad, pad), (pad, pad)), constant_values=-1.0)
    dy, dx = rng.integers(0, 2 * pad + 1, n), rng.integers(0, 2 * pad + 1, n)      # crop corners
    out = np.empty_like(images)
    for i in range(n):
        out[i] = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]      # (C, H, W)
    return out


# ---------------------------------------------------------------------------------------------------
# Training, saving and loading the classifier
# ---------------------------------------------------------------------------------------------------
def train_classifier(model, images, labels, test_images, test_labels, epochs, batch_size=128, lr=1e-3,
                     augment=False, out_path=None, progress=True, seed=0):
    """Train ``model`` (a minigan.evaluation.classifier) with cross-entropy; returns the final test accuracy.

    images: float32 numpy (N, C, H, W) in [-1, 1], labels int64 (N,); the test split alike. Adam
    (betas 0.9, 0.999) with the learning rate decayed from ``lr`` to 0 along a cosine over the run.
    ``augment``: random flips and crops (``augment_batch``), done on the host before the copy to the
    device. At every epoch end the test accuracy is measured and, if ``out_path`` is given, the
    classifier is saved there (atomically: an interrupted run leaves the previous epoch's file).
    """
    from tqdm import tqdm

    steps_per_epoch = len(images) // batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"train_classifier: {len(images)} images are fewer than one batch of {batch_size}")
    opt = Adam(model.parameters(), lr=lr, betas=(0.9, 0.999))
    rng = np.random.default_rng(seed)                                # shuffling and augmentation
    total_steps, step, accuracy = epochs * steps_per_epoch, 0, float("nan")
    for epoch in range(epochs):
        model.train()
        start, order = time.perf_counter(), rng.permutation(len(images))
        bar = tqdm(total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                   dynamic_ncols=True)
        for b in range(steps_per_epoch):
            index = order[b * batch_size:(b + 1) * batch_size]       # (B,)
            x = images[index]                                        # (B, C, H, W), host
            if augment:
                x = augment_batch(x, rng)
            opt.lr = lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))   # cosine decay
            logits = model(Tensor(backend.to_device(x)))             # (B, 10)
            loss = cross_entropy(logits, backend.to_device(labels[index]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            bar.update(1)
            if b % 20 == 0:                                          # .item() waits for the GPU: not every step
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{opt.lr:.2e}", refresh=False)
        bar.close()
        accuracy = classifier_accuracy(model, test_images, test_labels)
        print(f"epoch {epoch + 1}/{epochs}: test accuracy {accuracy:.4f} on {len(test_images)} images "
              f"({time.perf_counter() - start:.1f} s)")
        if out_path is not None:
            save_classifier(out_path, model, {
                "test_accuracy": accuracy, "epochs": epoch + 1, "train_images": len(images),
                "test_images": len(test_images), "batch_size": batch_size, "lr": lr,
                "augment": bool(augment), "seed": seed})
    return accuracy


def save_classifier(path, model, meta):
    """Write the classifier's parameters and buffers under "C/" and ``meta`` (plus kind, dataset)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    meta = {"kind": "classifier", "dataset": model.dataset, "architecture": type(model).__name__,
            "feature_dim": model.feature_dim, **meta}
    save_checkpoint(path, flatten_state("C/", model.state_dict()), meta)


def load_classifier(path):
    """(classifier in eval mode on the active backend, meta) from a file written by save_classifier."""
    arrays, meta = load_checkpoint(path)
    if meta.get("kind") != "classifier":
        raise CheckpointError(f"{path!r} is not a classifier checkpoint (its kind is {meta.get('kind')!r}); "
                              "train one with examples/train_classifier.py")
    model = build_classifier(meta["dataset"])
    try:
        model.load_state_dict(unflatten_state("C/", arrays))
    except ValueError as err:                                        # weights of another architecture
        raise CheckpointError(f"{path}: {err}") from err
    return model.eval(), meta


# ---------------------------------------------------------------------------------------------------
# Running the classifier
# ---------------------------------------------------------------------------------------------------
def classify(classifier, images, batch_size=500):
    """One pass in eval mode, no graph: (features float32 numpy (N, d), predictions int64 numpy (N,))."""
    was_training = classifier.training
    classifier.eval()
    features, predictions = [], []
    try:
        with no_grad():
            for s in range(0, len(images), batch_size):
                x = Tensor(backend.to_device(images[s:s + batch_size], dtype=np.float32))   # (B, C, H, W)
                f = classifier.features(x)                           # (B, d)
                logits = classifier.head(f)                          # (B, 10)
                features.append(backend.to_numpy(f.data))
                predictions.append(backend.to_numpy(logits.data.argmax(axis=1)))
    finally:
        classifier.train(was_training)
    return np.concatenate(features), np.concatenate(predictions).astype(np.int64)


def extract_features(classifier, images, batch_size=500):
    """Penultimate-layer features (N, d) of ``images`` (N, C, H, W): the FCD feature space."""
    return classify(classifier, images, batch_size)[0]


def classifier_accuracy(classifier, images, labels, batch_size=500):
    """The fraction of ``images`` whose predicted class equals ``labels``."""
    return float((classify(classifier, images, batch_size)[1] == np.asarray(labels)).mean())


def accuracy_by_class(predictions, labels, num_classes=10):
    """(overall accuracy, [accuracy of each class]); nan for a class that has no examples."""
    correct = predictions == labels                                  # (N,) bool
    per_class = [float(correct[labels == c].mean()) if (labels == c).any() else float("nan")
                 for c in range(num_classes)]
    return float(correct.mean()), per_class


# ---------------------------------------------------------------------------------------------------
# Generators: sampling, scoring, loading
# ---------------------------------------------------------------------------------------------------
def sample_generator(G, n, latent_dim, conditional=False, num_classes=10, batch_size=500, seed=0):
    """(images float32 numpy (n, C, H, W) in [-1, 1], labels int64 (n,) or None) from G.

    Noise comes from ``np.random.default_rng(seed)``; a cGAN gets balanced labels 0, 1, ..., 9, 0, ...
    (n / num_classes of each). G runs in eval mode under no_grad; its mode is restored afterwards.
    """
    rng = np.random.default_rng(seed)
    z_all = rng.standard_normal((n, latent_dim), dtype=np.float32)   # (n, latent_dim)
    labels = (np.arange(n) % num_classes).astype(np.int64) if conditional else None   # (n,)
    was_training = G.training
    G.eval()
    images = []
    try:
        with no_grad():
            for s in range(0, n, batch_size):
                z = Tensor(backend.to_device(z_all[s:s + batch_size]))   # (B, latent_dim)
                if conditional:
                    out = G(z, Tensor(backend.to_device(labels[s:s + batch_size])))
                else:
                    out = G(z)                                       # (B, C, H, W)
                images.append(backend.to_numpy(out.data))
    finally:
        G.train(was_training)
    return np.concatenate(images).astype(np.float32, copy=False), labels


def real_statistics(classifier, images, labels, batch_size=500):
    """What a score needs from the real test set, computed once: features, predictions, labels."""
    features, predictions = classify(classifier, images, batch_size)
    return {"features": features, "predictions": predictions, "labels": np.asarray(labels)}


def evaluate_generator(G, spec, classifier, real_test_images, real_test_labels, n=10000, batch_size=500,
                       seed=0, real=None):
    """Score G against the real test set; returns a JSON-able dict.

    Keys: fcd, kid_mean, kid_std, n_fake, n_real, real_accuracy (the classifier on real test images),
    real_accuracy_per_class, fake_class_fractions (how the classifier labels the generated images:
    mode coverage); for a cGAN also conditional_accuracy and conditional_accuracy_per_class.
    ``real``: the output of real_statistics, to skip recomputing it (make_epoch_evaluator does this).
    """
    if real is None:
        real = real_statistics(classifier, real_test_images, real_test_labels, batch_size)
    conditional, num_classes = spec["name"] == "cgan", spec.get("num_classes", 10)
    latent_dim = spec.get("latent_dim", G.latent_dim)
    fake, fake_labels = sample_generator(G, n, latent_dim, conditional, num_classes, batch_size, seed)
    fake_features, fake_predictions = classify(classifier, fake, batch_size)

    kid_mean, kid_std = kernel_inception_distance(real["features"], fake_features, num_subsets=100,
                                                  subset_size=1000)
    real_accuracy, real_per_class = accuracy_by_class(real["predictions"], real["labels"], num_classes)
    result = {
        "fcd": frechet_distance(real["features"], fake_features),
        "kid_mean": kid_mean, "kid_std": kid_std,
        "n_fake": int(n), "n_real": int(len(real["features"])),
        "real_accuracy": real_accuracy, "real_accuracy_per_class": real_per_class,
        "fake_class_fractions": (np.bincount(fake_predictions, minlength=num_classes) / n).tolist(),
    }
    if conditional:
        overall, per_class = accuracy_by_class(fake_predictions, fake_labels, num_classes)
        result.update(conditional_accuracy=overall, conditional_accuracy_per_class=per_class)
    return result


def make_epoch_evaluator(classifier, real_test_images, real_test_labels, spec, n=10000, batch_size=500,
                         seed=0):
    """``evaluate(G, epoch) -> dict`` for ``run.trainer.train(..., evaluate=..., evaluate_every=K)``.

    The real test set goes through the classifier once, here; each call samples ``n`` images with the
    same noise (``seed``), so epochs are compared on equal terms. G's train/eval mode is restored.
    """
    real = real_statistics(classifier, real_test_images, real_test_labels, batch_size)

    def evaluate(G, epoch):
        start, was_training = time.perf_counter(), G.training
        try:
            r = evaluate_generator(G, spec, classifier, None, None, n, batch_size, seed, real=real)
        finally:
            G.train(was_training)
        record = {"fcd": round(r["fcd"], 4), "kid_mean": round(r["kid_mean"], 6),
                  "kid_std": round(r["kid_std"], 6), "n_fake": r["n_fake"]}
        if "conditional_accuracy" in r:
            record["conditional_accuracy"] = round(r["conditional_accuracy"], 4)
            record["conditional_accuracy_per_class"] = [round(a, 4) for a in r["conditional_accuracy_per_class"]]
        record["eval_seconds"] = round(time.perf_counter() - start, 2)
        return record

    return evaluate


def save_generator(path, G, spec, meta=None):
    """A generator-only checkpoint ("G/" arrays + the model spec): small enough to ship anywhere."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    save_checkpoint(path, flatten_state("G/", G.state_dict()), {"kind": "generator", "model": spec,
                                                                 **(meta or {})})


def export_generator(training_checkpoint, path):
    """Copy only the generator (and its spec, config and position) out of a training checkpoint."""
    arrays, meta = load_checkpoint(training_checkpoint)
    keep = {k: meta[k] for k in ("model", "config", "dataset", "epoch", "iteration", "saved_at") if k in meta}
    save_checkpoint(path, flatten_state("G/", unflatten_state("G/", arrays)),
                    {"kind": "generator", "source": os.fspath(training_checkpoint), **keep})


# ---------------------------------------------------------------------------------------------------
# A cGAN's classes against the judge's
# ---------------------------------------------------------------------------------------------------
def _plain(name):
    """'T-shirt/top', 'T-shirt-top' and 't_shirt top' are one class name: lower case, letters and digits."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def judge_classes_of(generator_classes, judge_classes):
    """For each of the judge's classes, the number G knows it by, matched by name; None if the two sets
    of names differ. A folder's classes are numbered in sorted order (Ankle boot = 0, Bag = 1, ...),
    Fashion-MNIST's in its own (T-shirt/top = 0, Trouser = 1, ...): the same names, other numbers."""
    mine = [_plain(n) for n in generator_classes]
    theirs = [_plain(n) for n in judge_classes]
    if sorted(mine) != sorted(theirs) or len(set(mine)) != len(mine):
        return None
    return [mine.index(n) for n in theirs]


class RelabeledGenerator(Module):
    """A cGAN generator asked in the judge's class numbers: judge class j -> G's class ``g_class[j]``.
    Wraps G for ``evaluate_generator``, so that every score and report row is in the judge's classes."""

    def __init__(self, G, g_class):
        self.G, self.latent_dim = G, G.latent_dim
        self.g_class = np.asarray(g_class, dtype=np.int64)           # (num_classes,)

    def forward(self, z, labels):                                    # labels: (N,) judge classes
        g_labels = backend.to_device(self.g_class)[labels.data]      # (N,) the same classes, G's numbers
        return self.G(z, Tensor(g_labels))


def kid_line(result, subset_size=1000):
    """'KID mean +- std'; no +- when both sets fit in one subset (every subset is the whole set: no spread)."""
    if max(result["n_fake"], result["n_real"]) <= subset_size:
        return (f"KID  {result['kid_mean']:.6f}   (no +-: {result['n_fake']} generated and {result['n_real']} "
                f"real images fit in one subset of {subset_size}, so every subset is the same)")
    return f"KID  {result['kid_mean']:.6f} +- {result['kid_std']:.6f}"


def report_lines(result, class_names):
    """The human-readable summary that examples/evaluate.py prints."""
    lines = [f"FCD  {result['fcd']:.4f}   (n_fake={result['n_fake']}, n_real={result['n_real']})",
             kid_line(result),
             f"classifier accuracy on the real test images: {result['real_accuracy']:.4f}"]
    if "conditional_accuracy" in result:
        lines.append(f"conditional accuracy (classifier agrees with the label G was given): "
                     f"{result['conditional_accuracy']:.4f}   (ceiling: the real accuracy above)")
        lines.append(f"  {'class':<14} {'generated':>9} {'real':>6}")
        for name, fake_acc, real_acc in zip(class_names, result["conditional_accuracy_per_class"],
                                            result["real_accuracy_per_class"]):
            lines.append(f"  {name:<14} {fake_acc:>9.3f} {real_acc:>6.3f}")
    else:
        fractions = ", ".join(f"{name} {f:.2f}" for name, f in zip(class_names, result["fake_class_fractions"]))
        lines.append(f"generated images per predicted class: {fractions}")
    lines.append("note: " + FCD_NOTE)
    return lines
