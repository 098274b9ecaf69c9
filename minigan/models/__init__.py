"""The GAN family: ``gan`` (fully connected), ``dcgan`` (CIFAR-10), ``cgan`` (Fashion-MNIST, conditional).

Reading order: optim -> **models** (gan.py, then dcgan.py, then cgan.py) -> training.
"""


def build(spec):
    """(Generator, Discriminator) from a spec such as {"name": "dcgan", "latent_dim": 128, "kernel_size": 4}.

    Checkpoints store this spec, so sample.py and evaluate.py can rebuild the networks they load.
    """
    from minigan.models import cgan, dcgan, gan

    name = spec["name"]
    if name == "gan":
        return gan.Generator(spec.get("latent_dim", 100)), gan.Discriminator()
    if name == "dcgan":
        k, size = spec.get("kernel_size", 4), spec.get("image_size", 32)   # no image_size: 32 (older checkpoints)
        return dcgan.Generator(spec.get("latent_dim", 128), k, size), dcgan.Discriminator(k, size)
    if name == "cgan":
        n = spec.get("num_classes", 10)
        return cgan.Generator(spec.get("latent_dim", 100), n), cgan.Discriminator(n)
    raise ValueError(f"unknown model {name!r}; expected 'gan', 'dcgan' or 'cgan'")
