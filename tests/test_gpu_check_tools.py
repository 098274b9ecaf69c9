"""The CPU-side tools of benchmarks/gpu_check.sh: the launch counter and the step-equality check.

benchmarks/count_launches.py counts device launches and blocking host reads on the strict stand-in for
CuPy; its rules are checked here on a known sequence of array calls (in a subprocess: the counter wraps
the strict backend's classes for the rest of its process). benchmarks/gpu_step_equality.py compares
one iteration on two backends against a float64 run; here NumPy against the strict stand-in at a small
batch, and a perturbed gradient, loss or weight that it must refuse.
"""

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

COUNTED = r'''
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import count_launches as cl, gan_iteration as gi
from minigan import backend
cl.install(gi.strict_backend())
xp = backend._BACKENDS["strict"][0]
a = xp.ones((4, 3), dtype=np.float32)          # 1 elementwise (a fill)
steps = {}
def step(name, fn):
    cl.COUNTS = cl.Counts(); cl.COUNTS.on = True
    fn()
    c = cl.COUNTS; c.on = False
    steps[name] = [dict(c.launches), sum(c.host_reads.values()), sum(c.uploads.values())]
step("mul", lambda: a * 2)
step("iadd", lambda: a.__iadd__(1))
step("views", lambda: (a.reshape(3, 4), a.T, a[1:], xp.empty((5,)), xp.lib.stride_tricks.as_strided(a, (2, 2), (4, 4))))
step("copying reshape", lambda: a.T.reshape(12))
step("matmul", lambda: a @ a.T)
step("sum", lambda: a.sum(axis=0))
step("ufunc reduce and at", lambda: (xp.add.reduce(a, axis=1), xp.add.at(a, np.array([0, 1]), 1.0)))
step("setitem", lambda: a.__setitem__(0, 5.0))
step("out", lambda: xp.multiply(a, 2, out=a))
step("float and item", lambda: (float(a.sum()), a[0, 0].item()))
step("to_numpy", lambda: backend.to_numpy(a))
step("upload", lambda: xp.asarray(np.zeros(3)))
step("random", lambda: xp.random.RandomState(0).standard_normal((2,), dtype=np.float32))
print(json.dumps(steps))
'''


def test_the_counter_counts_one_launch_per_array_written_and_every_host_read():
    done = subprocess.run([sys.executable, "-c", COUNTED, str(BENCHMARKS)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout)
    assert steps == {
        "mul": [{"elementwise/copy": 1}, 0, 0],
        "iadd": [{"elementwise/copy": 1}, 0, 0],
        "views": [{}, 0, 0],                                         # reshape, .T, a slice, empty, as_strided
        "copying reshape": [{"elementwise/copy": 1}, 0, 0],          # a reshape of a transpose copies
        "matmul": [{"matmul": 1}, 0, 0],
        "sum": [{"reduction": 1}, 0, 0],
        "ufunc reduce and at": [{"reduction": 1, "elementwise/copy": 1}, 0, 0],
        "setitem": [{"elementwise/copy": 1}, 0, 0],
        "out": [{"elementwise/copy": 1}, 0, 0],
        "float and item": [{"reduction": 1}, 2, 0],                  # a[0, 0] is a view: no launch
        "to_numpy": [{}, 1, 0],
        "upload": [{}, 0, 1],
        "random": [{"random": 1}, 0, 0],
    }


@pytest.fixture(scope="module")
def equality():
    sys.path.insert(0, str(BENCHMARKS))
    import gan_iteration
    import gpu_step_equality

    gan_iteration.strict_backend()
    yield gpu_step_equality
    sys.path.remove(str(BENCHMARKS))


def test_step_equality_passes_numpy_against_the_strict_stand_in(equality, capsys):
    assert equality.main(["--backends", "numpy", "strict", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    for model in ("dcgan", "cgan", "wgan-gp"):
        assert f"{model}: strict vs numpy: PASS" in out


def test_step_equality_refuses_a_wrong_gradient_loss_or_weight(equality):
    exact, ref, other = (equality.run("dcgan", 4, b, 0, None, dtype)
                         for b, dtype in (("numpy", np.float64), ("numpy", np.float32), ("strict", np.float32)))
    assert equality.compare(exact, ref, other)[0]
    wrong = copy.deepcopy(other)
    wrong["grads"]["G.net.13.weight"] *= 1.01                        # a formula 1 % off
    passed, lines = equality.compare(exact, ref, wrong)
    assert not passed and "grads   FAIL" in lines[1]
    wrong = copy.deepcopy(other)
    wrong["stats"]["loss_D"] *= 1.001
    assert not equality.compare(exact, ref, wrong)[0]
    wrong = copy.deepcopy(other)
    wrong["weights"]["D.net.0.weight"] += exact["lr"]                # every weight a step further
    passed, lines = equality.compare(exact, ref, wrong)
    assert not passed and "off where g is not: D.net.0.weight" in lines[2]


ONE_READ = r'''
import json, sys
sys.path.insert(0, sys.argv[1])
import count_launches as cl, gan_iteration as gi
cl.install(gi.strict_backend())
reads = {}
for model in gi.MODELS:
    counts, _ = cl.count(model, batch=4, d_steps=2 if model == "wgan-gp" else None)
    reads[model] = dict(counts.host_reads)
print(json.dumps(reads))
'''


def test_one_training_iteration_reads_from_the_device_once():
    """The steps return their numbers as 0-d Tensors on the device and the runner reads an iteration's
    numbers together (run/trainer.read_numbers); the labels were checked on the host when the run
    started. So one iteration of every GAN, counted on the strict stand-in, is ONE blocking host read,
    and it is the runner's."""
    done = subprocess.run([sys.executable, "-c", ONE_READ, str(BENCHMARKS)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert done.returncode == 0, done.stderr
    for model, places in json.loads(done.stdout).items():
        assert sum(places.values()) == 1, (model, places)
        assert "read_numbers" in next(iter(places)), (model, places)
