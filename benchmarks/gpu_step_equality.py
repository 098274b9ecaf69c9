"""One DCGAN, cGAN and WGAN-GP iteration on NumPy and on CuPy: the same numbers, to float32 rounding?

    python benchmarks/gpu_step_equality.py                             # numpy vs cupy (needs a GPU)
    python benchmarks/gpu_step_equality.py --backends numpy strict     # the dry run on a CPU
    python benchmarks/gpu_step_equality.py --models dcgan --batch 16

benchmarks/gpu_check.sh runs it as its stage ``step_equality``. Every backend runs the same iteration
(benchmarks/gan_iteration.py: the trainer's D step, then its G step) from the same weights (made on
NumPy, copied with ``Module.to``), the same real batch (and labels) and the same random numbers: NumPy's
generator (PCG64) and CuPy's (cuRAND) give different numbers for one seed, so during the iteration
every draw (the noise z, WGAN-GP's eps) comes from one NumPy generator on the host, rounded to
float32 and copied to the backend (``host_random_numbers``).

What "equal to float32 rounding" means here. Two float32 runs that add up millions of products in
another order differ by rounding, and how much depends on the numbers: a gradient that BatchNorm's
backward makes by subtracting nearly equal terms keeps only a few correct digits, and the gradient
of a conv bias followed by BatchNorm is exactly 0 in exact arithmetic, so its float32 value is pure
rounding. So the same iteration also runs in float64 on NumPy (the "exact" answer, same weights, batch
and noise), and each float32 run's error is its distance to that. The first backend listed (NumPy) is
the reference: another backend passes where its error is at most 10 times the reference's, plus a
floor of a few float32 roundings (a wrong formula is off by far more). One more rule keeps the G step
comparable: Adam's first step turns a gradient at rounding level into a move of +-lr (below), so
after the D step a few of D's weights differ between runs by 2 lr, and the G step, which runs
through D, would inherit that. So after each D step every float32 run continues from the float64
run's D (rounded to float32): the D step and the G step are each compared from the same start.
  Checks:
  - the log's numbers (loss_D, loss_G, D(x), D(G(z)), ...): floor 1e-6 * max(|exact|, 1);
  - every parameter's gradient (D's from the D step, G's from the G step), as max |g - g_exact| over
    the parameter: floor 1e-5 * max |g_exact|;
  - every weight after Adam's step. Adam's first step moves a weight by lr * g / (|g| + eps), about
    +-lr whatever |g| is, so where g is at rounding level its sign, and the weight, is a coin toss.
    A weight may be off the exact one by more than lr / 100 only where |g_exact| is within 10 times the
    reference's gradient error of that parameter.
Exit code 0 when every check passes, 1 otherwise.
"""

import argparse
import sys
import time
from contextlib import contextmanager

import numpy as np

import gan_iteration as gi
import minigan as mg

FACTOR = 10                                  # another backend's error <= FACTOR x the reference's + floor
LOG_FLOOR, GRAD_FLOOR = 1e-6, 1e-5
WEIGHT_LR_FRACTION = 1e-2


class HostRandom:
    """minigan's random generator replaced by one NumPy generator on the host: draws rounded to float32
    (so the float64 run gets the same numbers), copied to the active backend. backend.randn calls
    ``standard_normal``, backend.rand ``random_sample``. ``dtype``: the dtype handed out (float64 run)."""

    def __init__(self, seed, dtype=None):
        self.rng, self.dtype = np.random.default_rng(seed), dtype

    def standard_normal(self, size=None, dtype=np.float32):
        z = self.rng.standard_normal(size).astype(np.float32)
        return mg.backend.to_device(z.astype(self.dtype or dtype))

    def random_sample(self, size=None):
        u = self.rng.random(size).astype(np.float32)
        return mg.backend.to_device(u.astype(self.dtype or np.float64))

    def seed(self, seed=None):
        self.rng = np.random.default_rng(seed)


@contextmanager
def host_random_numbers(seed, dtype=None):
    """While inside: every random draw of minigan, on any backend, comes from HostRandom(seed, dtype)."""
    original = mg.backend.default_generator
    host = HostRandom(seed, dtype)
    mg.backend.default_generator = lambda backend=None: host
    try:
        yield host
    finally:
        mg.backend.default_generator = original


def to_host(a):
    return mg.to_numpy(getattr(a, "data", a)).astype(np.float64)   # a Tensor (create_graph) or an array


def snapshot(module, prefix):
    """{prefix.name: gradient} and {prefix.name: array} of every parameter, as NumPy float64."""
    named = [(f"{prefix}.{name}", p) for name, p in module.named_parameters()]
    return ({k: to_host(p.grad) for k, p in named if p.grad is not None}, {k: to_host(p.data) for k, p in named})


def run(model, batch, backend_name, seed, d_steps, dtype=np.float32, exact=None):
    """One iteration on ``backend_name``: the log's numbers, gradients and weights, as NumPy float64.

    D's gradients and weights are taken after the (last) D step, G's after the G step. With ``exact``
    (the float64 run's result) D's tensors are set to the exact run's after every D step, so that the
    next step starts from the same D on every backend (see the module docstring).
    """
    s = gi.setup(model, batch, backend_name, seed, d_steps, dtype)
    d_states = []
    with host_random_numbers(seed, dtype if dtype != np.float32 else None):
        t0 = time.perf_counter()
        for i in range(s.config.d_steps):
            stats = gi.d_update(s)
            d_grads, d_weights = snapshot(s.D, "D")
            d_states.append({name: to_host(t.data) for name, t in s.D.named_tensors()})
            if exact is not None:
                for name, t in s.D.named_tensors():                  # in place: views of t.data stay valid
                    t.data[...] = mg.backend.to_device(exact["d_states"][i][name].astype(t.dtype))
        stats = gi.read_numbers({**stats, "loss_G": gi.g_update(s)})
        seconds = time.perf_counter() - t0
    g_grads, g_weights = snapshot(s.G, "G")
    mg.set_backend("numpy")
    return {"stats": stats, "grads": {**g_grads, **d_grads}, "weights": {**g_weights, **d_weights},
            "d_states": d_states, "lr": s.config.lr, "seconds": seconds}


def compare(exact, ref, other):
    """The checks of the module docstring for ``other`` (reference ``ref``); returns (passed, report lines)."""
    lines = []

    # the log's numbers
    rows = []
    for k, v in exact["stats"].items():
        e_ref, e_other = abs(ref["stats"][k] - v), abs(other["stats"][k] - v)
        rows.append((e_other / (FACTOR * e_ref + LOG_FLOOR * max(abs(v), 1.0)), k, e_ref, e_other))
    worst = max(rows)
    log_ok = worst[0] <= 1
    lines.append(f"  log     {'ok  ' if log_ok else 'FAIL'} worst {worst[1]}: error {worst[3]:.1e} vs the reference's "
                 f"{worst[2]:.1e} (" + ", ".join(f"{k} {v:.6g}" for k, v in other["stats"].items()) + ")")

    # gradients
    missing = sorted(set(exact["grads"]) ^ set(other["grads"]))
    rows, ref_err = [], {}
    for k, g in exact["grads"].items():
        if k not in other["grads"]:
            continue
        scale = float(np.abs(g).max())
        ref_err[k] = float(np.abs(ref["grads"][k] - g).max())
        e_other = float(np.abs(other["grads"][k] - g).max())
        rows.append((e_other / (FACTOR * ref_err[k] + GRAD_FLOOR * scale + 1e-30), k, ref_err[k], e_other, scale))
    worst = max(rows)
    grads_ok = worst[0] <= 1 and not missing
    lines.append(f"  grads   {'ok  ' if grads_ok else 'FAIL'} worst {worst[1]}: max|g - g_exact| {worst[3]:.1e}, the "
                 f"reference's {worst[2]:.1e}, max|g_exact| {worst[4]:.1e}; {len(rows)} parameters"
                 + (f"; a gradient on one side only: {missing}" if missing else ""))

    # weights after Adam
    lr, worst_w = exact["lr"], (0.0, "")
    tossed, bad = {"ref": 0, "other": 0}, []
    for k, w in exact["weights"].items():
        coin = np.abs(exact["grads"].get(k, np.zeros_like(w))) <= FACTOR * ref_err.get(k, 0.0)
        for who, run_ in (("ref", ref), ("other", other)):
            off = np.abs(run_["weights"][k] - w) > WEIGHT_LR_FRACTION * lr
            tossed[who] += int((off & coin).sum())
        off = np.abs(other["weights"][k] - w)
        worst_w = max(worst_w, (float(off.max()) / lr, k))
        if (off > WEIGHT_LR_FRACTION * lr)[~coin].any():
            bad.append(f"{k} ({int((off > WEIGHT_LR_FRACTION * lr)[~coin].sum())})")
    weights_ok = not bad
    lines.append(f"  weights {'ok  ' if weights_ok else 'FAIL'} worst |w - w_exact| = {worst_w[0]:.2g} lr ({worst_w[1]}); "
                 f"off by > lr/100 where g is at rounding level (allowed): {tossed['other']}, the reference "
                 f"{tossed['ref']}" + (f"; off where g is not: {', '.join(bad)}" if bad else ""))
    return log_ok and grads_ok and weights_ok, lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backends", nargs="+", default=None,
                   help="float32 runs to compare, the first is the reference (default: numpy cupy; numpy strict "
                        "where CuPy cannot run)")
    p.add_argument("--models", nargs="+", choices=gi.MODELS, default=list(gi.MODELS))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--wgan-d-steps", type=int, default=1,
                   help="critic steps in the WGAN-GP iteration (the trainer's default is 5; the weights' check "
                        "assumes Adam's first step, so more than 1 can fail it on rounding alone)")
    args = p.parse_args(argv)

    backends = args.backends
    if backends is None:
        try:
            mg.backend.to_device(np.zeros(1), "cupy")
            backends = ["numpy", "cupy"]
        except mg.backend.BackendError as err:
            print(f"CuPy cannot run here ({str(err).split('.')[0]}); comparing numpy with the strict stand-in")
            backends = ["numpy", "strict"]
    if "strict" in backends:
        gi.strict_backend()
    print(f"one iteration at batch {args.batch}, seed {args.seed}: {', '.join(backends)} in float32 against "
          f"numpy in float64; {backends[0]} is the reference")
    failures = 0
    for model in args.models:
        d_steps = args.wgan_d_steps if model == "wgan-gp" else None
        exact = run(model, args.batch, "numpy", args.seed, d_steps, np.float64)
        results = {b: run(model, args.batch, b, args.seed, d_steps, exact=exact) for b in backends}
        timing = ", ".join(f"{b} {r['seconds']:.2f} s" for b, r in results.items())
        for b in backends[1:]:
            passed, lines = compare(exact, results[backends[0]], results[b])
            failures += not passed
            print(f"{model}: {b} vs {backends[0]}: {'PASS' if passed else 'FAIL'} (one iteration took {timing})")
            print("\n".join(lines))
    print(f"{failures} comparison(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
