"""Small CNN classifiers: the judges that measure a GAN offline (see minigan/evaluation/__init__.py).

Reading order: models/cgan -> **models/classifier** -> training -> metrics -> evaluation.

Published GAN scores (FID, KID) measure distances between *features* of real and generated images,
taken from an Inception-v3 network trained on ImageNet. Those weights cannot be downloaded here, so
minigan trains its own classifier on the real training set and uses its penultimate layer as the
feature space ("Fréchet Classifier Distance"). Its numbers compare minigan runs with each other; they
are not comparable to published Inception FID.

Each classifier is two halves:

    features(x)  the body: convolutions -> a d-dimensional vector per image (after its ReLU), (N, d)
    head(f)      Dropout + one Linear layer: features -> 10 class logits,                   (N, 10)
    forward(x) = head(features(x))

So ``features`` is exactly what the last Linear layer sees: the representation the classifier has
learned to separate the classes with. The body has no pooling: stride-2 convolutions halve the size,
as in the DCGAN discriminator, and BatchNorm after every convolution makes training fast and stable.
"""

from minigan import nn


def _check_images(model, x, shape):
    if x.ndim != 4 or tuple(x.shape[1:]) != shape:
        raise ValueError(f"{type(model).__name__}: expected images of shape (N, {', '.join(map(str, shape))}) "
                         f"in [-1, 1], got {tuple(x.shape)}")


def _conv_bn_relu(c_in, c_out, stride):
    """3x3 convolution ("same" padding at stride 1, halving at stride 2), BatchNorm, ReLU."""
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),   # BN's beta is the bias
            nn.BatchNorm2d(c_out), nn.ReLU()]


class FashionMNISTClassifier(nn.Module):
    """About 0.47 M parameters. Measured: 80% test accuracy after one epoch on 6,000 images (CPU)."""

    dataset = "fashion-mnist"
    image_shape = (1, 28, 28)
    feature_dim = 128

    def __init__(self, num_classes=10, dropout=0.3):
        self.num_classes = num_classes
        self.body = nn.Sequential(
            *_conv_bn_relu(1, 32, 1),                                # (N, 32, 28, 28)
            *_conv_bn_relu(32, 32, 2),                               # (N, 32, 14, 14)
            *_conv_bn_relu(32, 64, 1),                               # (N, 64, 14, 14)
            *_conv_bn_relu(64, 64, 2),                               # (N, 64, 7, 7)
            nn.Flatten(),                                            # (N, 3136)
            nn.Linear(64 * 7 * 7, self.feature_dim), nn.ReLU(),      # (N, 128): the features
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout),                                     # (N, 128), identity in eval mode
            nn.Linear(self.feature_dim, num_classes),                # (N, 10) logits
        )

    def features(self, x):                                           # (N, 1, 28, 28) -> (N, 128)
        _check_images(self, x, self.image_shape)
        return self.body(x)

    def forward(self, x):                                            # (N, 1, 28, 28) -> (N, 10)
        return self.head(self.features(x))


class CIFAR10Classifier(nn.Module):
    """A VGG-like stack, about 2.2 M parameters, trained with flips and crops (evaluation.augment_batch).

    Measured: 83.8% test accuracy after 15 epochs on the full training set (an H100, 6-8 s per
    epoch; docs/results.md); 69.9% after 3 epochs on a 2-core CPU (7-19 minutes per epoch).
    """

    dataset = "cifar10"
    image_shape = (3, 32, 32)
    feature_dim = 256

    def __init__(self, num_classes=10, dropout=0.3):
        self.num_classes = num_classes
        self.body = nn.Sequential(
            *_conv_bn_relu(3, 64, 1),                                # (N, 64, 32, 32)
            *_conv_bn_relu(64, 64, 2),                               # (N, 64, 16, 16)
            *_conv_bn_relu(64, 128, 1),                              # (N, 128, 16, 16)
            *_conv_bn_relu(128, 128, 2),                             # (N, 128, 8, 8)
            *_conv_bn_relu(128, 256, 1),                             # (N, 256, 8, 8)
            *_conv_bn_relu(256, 256, 2),                             # (N, 256, 4, 4)
            nn.Flatten(),                                            # (N, 4096)
            nn.Linear(256 * 4 * 4, self.feature_dim), nn.ReLU(),     # (N, 256): the features
        )
        self.head = nn.Sequential(
            nn.Dropout(dropout),                                     # (N, 256), identity in eval mode
            nn.Linear(self.feature_dim, num_classes),                # (N, 10) logits
        )

    def features(self, x):                                           # (N, 3, 32, 32) -> (N, 256)
        _check_images(self, x, self.image_shape)
        return self.body(x)

    def forward(self, x):                                            # (N, 3, 32, 32) -> (N, 10)
        return self.head(self.features(x))


CLASSIFIERS = {"fashion-mnist": FashionMNISTClassifier, "cifar10": CIFAR10Classifier}


def build_classifier(name):
    """A fresh classifier for dataset ``name``: "fashion-mnist" (also "fashion_mnist") or "cifar10"."""
    key = name.replace("_", "-").lower()
    if key not in CLASSIFIERS:
        raise ValueError(f"no classifier for dataset {name!r}; expected 'fashion-mnist' or 'cifar10'")
    return CLASSIFIERS[key]()
