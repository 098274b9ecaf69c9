"""SIGKILL a training run (at random moments, and in the middle of a checkpoint write), then --resume.

SIGKILL cannot be caught: no handler runs, no file is closed, no temp file is deleted. What must hold
after it anyway (docs/reliability.md):
  - the newest checkpoint on disk loads (``load_checkpoint``), and it is a complete one: the atomic
    write means the final name holds the previous checkpoint or the new one, never half of either;
  - a temporary file left behind by the killed write is never taken for the checkpoint (it is hidden
    and not named *.npz) and the resumed run deletes it;
  - ``--resume`` finishes the run, and on NumPy the final weights equal an uninterrupted run's bit for
    bit; the log holds every iteration exactly once (the killed run's lines after its last checkpoint,
    and a half-written last line, are dropped on resume).

The run: the fully connected GAN on 64 fake images, 4 iterations per epoch, a 35 MB checkpoint at the
end of every epoch (each write takes ~0.1 s, so the poll below catches it in the middle). The same
holds with the gradient penalties (PENALTIES: WGAN-GP's critic loss, one critic step per iteration
to keep it short, plus R1), whose interpolation weights eps come from the random generator state that
the checkpoint saves.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minigan.run.checkpoint import load_checkpoint, stale_temp_files

ROOT = Path(__file__).resolve().parents[1]
EPOCHS, ITERATIONS_PER_EPOCH = 3, 4                                 # --limit 64 / --batch-size 16
COMMAND = ["examples/gan_fashion_mnist.py", "--dataset", "fake", "--limit", "64", "--batch-size", "16",
           "--latent-dim", "8", "--sample-every", "0", "--no-progress", "--epochs", str(EPOCHS)]
PENALTIES = ["--loss", "wgan-gp", "--d-steps", "1", "--r1", "1"]


def start(out, *extra):
    """Start the training example in a subprocess; its output goes to OUT.txt next to OUT."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy"}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    log = open(f"{out}.txt", "a")
    process = subprocess.Popen([sys.executable, *COMMAND, "--out", str(out), *extra], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    log.close()                                                      # the child holds its own copy
    return process


def finish(out, *extra):
    process = start(out, *extra)
    assert process.wait(timeout=600) == 0, Path(f"{out}.txt").read_text()


def kill(process, may_have_finished=False):
    """SIGKILL ``process``. may_have_finished: exit 0 is fine too (the run ended in the instant between
    the caller's poll() and the signal; runs vary in length)."""
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) in ((-signal.SIGKILL, 0) if may_have_finished else (-signal.SIGKILL,))


def kill_during_checkpoint_write(process, out, after_epoch=0, timeout=300):
    """SIGKILL ``process`` in the middle of a checkpoint write of an epoch later than ``after_epoch``.

    Polls the output folder for the temporary file of ``save_checkpoint`` and kills as soon as it has
    bytes in it. Returns (hit, epochs): ``hit`` is True when the temporary file was still there after the
    kill (the kill landed before the atomic rename), False when the rename won the race; ``epochs`` is
    how many epochs the killed run had logged (an epoch's log record is written just after its
    checkpoint, so that a failed score cannot lose the epoch).
    """
    checkpoint, log = Path(out) / "checkpoint.npz", Path(out) / "log.jsonl"
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        if epochs_logged(log) < after_epoch:
            time.sleep(0.005)
            continue
        temps = stale_temp_files(checkpoint)
        if temps and _size(temps[0]) > 0:
            kill(process)
            return bool(stale_temp_files(checkpoint)), epochs_logged(log)
        time.sleep(0.0005)
    raise AssertionError(f"no checkpoint write seen; the run exited with {process.poll()}")


def epochs_logged(log):
    """The number of "epoch_end" records in a training log (a half-written last line is skipped)."""
    if not log.exists():
        return 0
    return sum('"event": "epoch_end"' in line and line.endswith("}") for line in log.read_text().splitlines())


def _size(path):
    try:
        return os.path.getsize(path)
    except FileNotFoundError:                                        # renamed in the meantime
        return 0


def check_after_kill(out):
    """What a SIGKILL must leave: a loadable checkpoint (or none yet), temp files never named *.npz.

    Returns the number of epochs the checkpoint holds (0: none was written).
    """
    checkpoint = Path(out) / "checkpoint.npz"
    for temp in stale_temp_files(checkpoint):
        assert Path(temp).name.startswith(".") and not temp.endswith(".npz"), temp
    assert sorted(p.name for p in Path(out).glob("*.npz")) in ([], ["checkpoint.npz"])
    if not checkpoint.exists():
        return 0                                                     # killed before the first save
    arrays, meta = load_checkpoint(checkpoint)                      # must not raise
    assert meta["iteration"] == meta["epoch"] * ITERATIONS_PER_EPOCH and meta["batch"] == 0
    assert {"G/net.0.weight", "optD/steps", "fixed/noise"} <= set(arrays)
    return meta["epoch"]


def check_kept(out, hit, epochs):
    """A write that died kept the checkpoint before it (``epochs`` logged epochs); one that won the race
    holds the next epoch, whose log record the kill may have cut off."""
    saved = check_after_kill(out)
    assert saved == epochs if hit else saved in (epochs, epochs + 1), (hit, epochs, saved)


def check_finished_like(out, reference):
    """The resumed run ended where the uninterrupted one did, with the same bits and a clean log."""
    checkpoint = Path(out) / "checkpoint.npz"
    arrays, meta = load_checkpoint(checkpoint)
    assert meta["epoch"] == EPOCHS and meta["iteration"] == EPOCHS * ITERATIONS_PER_EPOCH
    assert sorted(arrays) == sorted(reference)
    for key, value in reference.items():
        assert arrays[key].dtype == value.dtype and arrays[key].tobytes() == value.tobytes(), key
    assert stale_temp_files(checkpoint) == []                        # the resumed run cleaned up
    records = [json.loads(line) for line in (Path(out) / "log.jsonl").read_text().splitlines()]
    iterations = [r["iteration"] for r in records if "loss_D" in r]
    assert iterations == list(range(1, EPOCHS * ITERATIONS_PER_EPOCH + 1))
    assert [r["epoch"] for r in records if r.get("event") == "epoch_end"] == list(range(1, EPOCHS + 1))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The final checkpoint arrays of an uninterrupted run, and how long that run took."""
    out = tmp_path_factory.mktemp("kill") / "uninterrupted"
    began = time.time()
    finish(out)
    return load_checkpoint(out / "checkpoint.npz")[0], time.time() - began


@pytest.fixture(scope="module")
def reference_penalized(tmp_path_factory):
    """The same for a run with PENALTIES."""
    out = tmp_path_factory.mktemp("kill") / "uninterrupted"
    began = time.time()
    finish(out, *PENALTIES)
    return load_checkpoint(out / "checkpoint.npz")[0], time.time() - began


# --------------------------------------------------------------------------------------------------------
# Quick (default suite): one kill in the middle of the second checkpoint write
# --------------------------------------------------------------------------------------------------------
def test_sigkill_during_checkpoint_write_keeps_previous_and_resume_is_exact(tmp_path, reference):
    out = tmp_path / "run"
    hit, epochs = kill_during_checkpoint_write(start(out), out, after_epoch=1)
    check_kept(out, hit, epochs)                                     # a write that died kept the one before
    assert len(stale_temp_files(out / "checkpoint.npz")) == hit
    finish(out, "--resume")
    assert "resumed from" in Path(f"{out}.txt").read_text()
    check_finished_like(out, reference[0])


# --------------------------------------------------------------------------------------------------------
# Slow: kills with the gradient penalties; at random moments, during the first write, twice in a row; SIGTERM
# --------------------------------------------------------------------------------------------------------
@pytest.mark.slow  # ~70 s on the shared CPU; the default suite checks resume with penalties in-process
def test_sigkill_with_gradient_penalties_then_resume_is_exact(tmp_path, reference_penalized):
    out = tmp_path / "run"
    hit, epochs = kill_during_checkpoint_write(start(out, *PENALTIES), out, after_epoch=1)
    check_kept(out, hit, epochs)                                     # the log record follows its checkpoint
    finish(out, "--resume", *PENALTIES)
    assert "resumed from" in Path(f"{out}.txt").read_text()
    check_finished_like(out, reference_penalized[0])
    _, meta = load_checkpoint(out / "checkpoint.npz")
    assert (meta["config"]["loss"], meta["config"]["r1_gamma"], meta["config"]["d_steps"]) == ("wgan-gp", 1.0, 1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_sigkill_at_a_random_moment_then_resume_is_exact(tmp_path, reference, seed):
    arrays, seconds = reference
    delay = random.Random(seed).uniform(0.2, 0.9 * seconds)         # from startup into the last epoch
    out = tmp_path / "run"
    process = start(out)
    time.sleep(delay)
    if process.poll() is None:
        kill(process, may_have_finished=True)
    check_after_kill(out)
    finish(out, "--resume")
    check_finished_like(out, arrays)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_sigkill_at_a_random_moment_with_gradient_penalties_then_resume_is_exact(tmp_path, reference_penalized,
                                                                                   seed):
    arrays, seconds = reference_penalized
    delay = random.Random(seed).uniform(0.2, 0.9 * seconds)
    out = tmp_path / "run"
    process = start(out, *PENALTIES)
    time.sleep(delay)
    if process.poll() is None:
        kill(process, may_have_finished=True)
    check_after_kill(out)
    finish(out, "--resume", *PENALTIES)
    check_finished_like(out, arrays)


@pytest.mark.slow
def test_sigkill_during_the_first_checkpoint_write_then_resume_starts_over(tmp_path, reference):
    out = tmp_path / "run"
    hit, epochs = kill_during_checkpoint_write(start(out), out, after_epoch=0)
    if not hit:
        pytest.skip("the rename won the race against the kill; nothing to test this time")
    assert epochs == 0 and check_after_kill(out) == 0               # no checkpoint.npz at all yet
    finish(out, "--resume")
    assert "no checkpoint" in Path(f"{out}.txt").read_text()
    check_finished_like(out, reference[0])


@pytest.mark.slow
def test_two_kills_in_a_row_then_resume_is_exact(tmp_path, reference):
    out = tmp_path / "run"
    hit, epochs = kill_during_checkpoint_write(start(out), out, after_epoch=0)
    check_kept(out, hit, epochs)
    hit, epochs = kill_during_checkpoint_write(start(out, "--resume"), out, after_epoch=epochs + 1)
    check_kept(out, hit, epochs)
    finish(out, "--resume")
    check_finished_like(out, reference[0])


@pytest.mark.slow
def test_sigterm_saves_mid_epoch_and_resume_is_exact(tmp_path, reference):
    out = tmp_path / "run"
    process = start(out)
    log = out / "log.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and '"epoch": 1' in log.read_text()):
        time.sleep(0.01)                                             # into the second epoch
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 0
    assert "stopped by signal" in Path(f"{out}.txt").read_text()
    _, meta = load_checkpoint(out / "checkpoint.npz")
    assert meta["epoch"] >= 1 and meta["iteration"] > ITERATIONS_PER_EPOCH
    finish(out, "--resume")
    check_finished_like(out, reference[0])
