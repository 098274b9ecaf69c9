"""A/B of Adam's update arithmetic in one process: this checkout's ``Adam._step`` against another's.

    python benchmarks/ab_adam.py --old /path/to/old/checkout            # 3.02 M floats (the DCGAN's G)
    python benchmarks/ab_adam.py --old OLD --size 2765633 --calls 21

Both ``_step`` functions get the same gradient (a fresh copy per call, as ``Adam.step`` makes one with
``concatenate``) and their own m and v; they alternate call by call (the order reversed every other
call), and the script checks that both end with the same m and v. Medians over all calls.
"""

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

import common


def load_old_optim(checkout):
    """The other checkout's minigan/optim.py as a module (it imports minigan.backend: this checkout's)."""
    spec = importlib.util.spec_from_file_location("old_optim", Path(checkout) / "minigan" / "optim.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--old", required=True, help="the other checkout (its minigan/optim.py)")
    p.add_argument("--size", type=int, default=3_022_147, help="floats (default: the DCGAN generator's)")
    p.add_argument("--calls", type=int, default=15, help="timed calls of each")
    args = p.parse_args()
    common.add_repo_to_path()
    from minigan.optim import Adam

    steps = {"old": load_old_optim(args.old).Adam._step, "new": Adam._step}
    rng = np.random.default_rng(0)
    g0 = (0.01 * rng.standard_normal(args.size)).astype(np.float32)
    state = {k: (np.zeros(args.size, np.float32), np.zeros(args.size, np.float32)) for k in steps}
    times = {k: [] for k in steps}
    for call in range(args.calls):
        for k in (("old", "new") if call % 2 == 0 else ("new", "old")):
            m, v = state[k]
            g = g0.copy()
            t0 = time.perf_counter()
            steps[k](np, m, v, g, 0.5, 0.999, 1e-8, 2e-4)
            times[k].append(time.perf_counter() - t0)
    for i in (0, 1):
        np.testing.assert_allclose(state["old"][i], state["new"][i], rtol=1e-6)
    machine = common.describe_machine()
    print(f"{machine['cpu']}, {machine['cores']} cores, load {machine['load_average']}; "
          f"command: `{common.command_line()}`")
    for k in steps:
        print(f"{k}: median {np.median(times[k]) * 1e3:.2f} ms, min {min(times[k]) * 1e3:.2f} ms")
    print(f"new / old: {np.median(times['new']) / np.median(times['old']):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
