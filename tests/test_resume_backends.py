"""Bit-exact resume on every backend: NumPy saves its generator state; CuPy (and its strict stand-in,
whose generator has CuPy's API) re-seeds every iteration from (seed, iteration) (run/rng_state.reseed_for_iteration).

On a GPU machine the `backend` fixture includes "cupy", so the same test checks the real thing
(benchmarks/gpu_check.sh runs it in its pytest_cupy stage, MINIGAN_TEST_BACKENDS=cupy)."""

from pathlib import Path

import numpy as np

from minigan.run import rng_state
import minigan as mg
from minigan import backend as backend_module
from minigan.run.checkpoint import load_checkpoint
from minigan.data import fake_dataset, to_float_images
from minigan.models import build
from minigan.training import TrainConfig
from minigan.run.trainer import train


def tiny_run(out, epochs, resume=False):
    """The plain GAN: D's Dropout draws random numbers in every iteration, as does the noise z."""
    mg.manual_seed(0)
    images, labels = fake_dataset("fashion-mnist", 48, seed=1)
    spec = {"name": "gan", "latent_dim": 8}
    G, D = build(spec)
    config = TrainConfig(epochs=epochs, batch_size=16, latent_dim=8, sample_every=0, progress=False)
    train(G, D, to_float_images(images), labels, config, out, spec, resume=resume)
    return load_checkpoint(Path(out) / "checkpoint.npz")


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert np.array_equal(a[key], b[key]), key


def test_resume_is_bit_exact_on_every_backend(backend, tmp_path):
    a, meta_a = tiny_run(tmp_path / "a", epochs=2)
    tiny_run(tmp_path / "b", epochs=1)
    b, meta_b = tiny_run(tmp_path / "b", epochs=2, resume=True)
    assert meta_a["iteration"] == meta_b["iteration"] == 6
    assert_same(a, b)
    if backend == "numpy":
        assert meta_a["rng_state"]["bit_generator"] == "PCG64"
    else:
        assert meta_a["rng_state"] == {"scheme": "seed-per-iteration", "base_seed": 0}


def test_without_reseeding_the_strict_backend_would_not_resume_exactly(tmp_path, monkeypatch):
    """The test above can fail: switch the scheme off and the resumed run draws other numbers."""
    mg.set_backend("strict")
    try:
        monkeypatch.setattr(rng_state, "reseed_for_iteration", lambda iteration, backend_name=None: None)
        a, _ = tiny_run(tmp_path / "a", epochs=2)
        tiny_run(tmp_path / "b", epochs=1)
        b, _ = tiny_run(tmp_path / "b", epochs=2, resume=True)
    finally:
        mg.set_backend("numpy")
    assert any(not np.array_equal(a[k], b[k]) for k in a if k.startswith("G/"))


def test_reseed_for_iteration_depends_on_seed_and_iteration_only(backend):
    if backend == "numpy":
        mg.manual_seed(0)
        first = mg.randn(3).numpy()
        rng_state.reseed_for_iteration(5)                       # a no-op on NumPy
        assert not np.array_equal(mg.randn(3).numpy(), first)
        return
    draws = {}
    for seed, iteration in [(0, 5), (0, 6), (1, 5), (0, 5)]:
        mg.manual_seed(seed)
        mg.randn(7)                                                  # whatever was drawn before
        rng_state.reseed_for_iteration(iteration)
        draws.setdefault((seed, iteration), []).append(mg.randn(4).numpy())
    assert np.array_equal(*draws[(0, 5)])
    assert not np.array_equal(draws[(0, 5)][0], draws[(0, 6)][0])
    assert not np.array_equal(draws[(0, 5)][0], draws[(1, 5)][0])


def test_the_base_seed_is_restored_from_the_checkpoint_state():
    mg.set_backend("strict")
    try:
        mg.manual_seed(123)
        state = rng_state.get_rng_state()
        mg.manual_seed(7)
        rng_state.set_rng_state(state)
        assert backend_module.base_seed() == 123
    finally:
        mg.set_backend("numpy")
