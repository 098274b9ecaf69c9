"""The random generator's state in a training checkpoint, so that a resumed run draws the same numbers.

Reading order: training -> run/trainer -> training_state -> **rng_state**. ``training_state`` saves
``get_rng_state()`` in every checkpoint, ``run.trainer.train`` restores it on ``--resume`` and calls
``reseed_for_iteration(i)`` at the start of every iteration.

NumPy's generator (PCG64) exposes its whole state as a small dict, so a checkpoint stores it and a
resumed run continues the same stream. CuPy's generator (cupy.random.RandomState, a cuRAND generator)
has no such getter: cuRAND can be seeded and moved to an absolute offset, but not asked where it is,
and CuPy does not count what it has drawn. So on every backend but NumPy minigan uses a scheme that
needs no state at all: ``reseed_for_iteration(i)`` seeds the generator from (base seed, i) at the start
of every training iteration, so iteration i draws the same numbers whether or not the run was resumed.
The checkpoint stores the base seed, and a resumed run re-seeds from it.
"""

import numpy as np

from minigan import backend

SEED_PER_ITERATION = "seed-per-iteration"


def reseed_for_iteration(iteration, backend_name=None):
    """At the start of training iteration ``iteration``: seed a non-NumPy backend's generator from
    (base seed, iteration). A no-op on NumPy, whose full generator state goes into checkpoints instead."""
    backend_name = backend_name or backend.get_backend()
    if backend_name == "numpy":
        return
    seed = int(np.random.SeedSequence([backend.base_seed(), int(iteration)]).generate_state(1)[0])   # 0..2^32-1
    backend.default_generator(backend_name).seed(seed)              # cupy.random.RandomState.seed


def get_rng_state():
    """The active backend's random state as a JSON-able dict (for bit-exact resume of a training run).

    NumPy: the PCG64 generator's state. Other backends: ``{"scheme": "seed-per-iteration",
    "base_seed": ...}`` (see ``reseed_for_iteration``).
    """
    if backend.get_backend() == "numpy":
        return backend.default_generator("numpy").bit_generator.state
    return {"scheme": SEED_PER_ITERATION, "base_seed": backend.base_seed()}


def set_rng_state(state):
    """Restore a state saved by ``get_rng_state`` on the same backend."""
    if state.get("scheme") == SEED_PER_ITERATION:
        backend.base_seed(int(state["base_seed"]))
    else:
        backend.default_generator("numpy").bit_generator.state = state
