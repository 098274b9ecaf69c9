"""The GAN family: ``gan`` (fully connected), ``dcgan`` (CIFAR-10), ``cgan`` (Fashion-MNIST, conditional).

Reading order: optim -> **models** (gan.py, then dcgan.py, then cgan.py) -> training.
"""


def build(spec):
    """(Generator, Discriminator) from a spec such as {"name": "dcgan", "latent_dim": 128, "kernel_size": 4}.

    ``"d_norm"`` (optional): the discriminator's normalisation, "batch" (DCGAN default), "layer" (the
    WGAN-GP critic) or "none" (cGAN default).

    Checkpoints store this spec, so sample.py and evaluate.py can rebuild the networks they load.
    """
    from minigan.models import cgan, dcgan, gan

    name = spec["name"]
    if name == "gan":
        return gan.Generator(spec.get("latent_dim", 100)), gan.Discriminator()
    if name == "dcgan":
        k, size = spec.get("kernel_size", 4), spec.get("image_size", 32)   # no image_size: 32 (older checkpoints)
        G = dcgan.Generator(spec.get("latent_dim", 128), k, size)     # G first: the order of the random draws
        return G, dcgan.Discriminator(k, size, norm=spec.get("d_norm", "batch"))
    if name == "cgan":
        n = spec.get("num_classes", 10)
        G = cgan.Generator(spec.get("latent_dim", 100), n)
        return G, cgan.Discriminator(n, norm=spec.get("d_norm", "none"))
    raise ValueError(f"unknown model {name!r}; expected 'gan', 'dcgan' or 'cgan'")
