"""Every user mistake in the scripts ends in one paragraph on stderr and exit code 2, never a traceback.

Each case runs an example in a subprocess, as a user would (docs/cli.md lists the exit codes). Most
mistakes are caught before any training, so a case costs about one import of minigan (~1-2 s). The
run-folder cases share one tiny finished run (the module fixture ``finished_run``), copied per test.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan.run.checkpoint import save_checkpoint
from minigan.evaluation import save_classifier
from minigan.evaluation.classifier import CIFAR10Classifier

ROOT = Path(__file__).resolve().parents[1]
OFFLINE = {"MINIGAN_DATA_URL": "http://127.0.0.1:9/"}       # port 9 (discard): the connection is refused
TINY = ["--dataset", "fake", "--limit", "32", "--batch-size", "16", "--sample-every", "0", "--no-progress"]


def run(script, *args, env=None, cwd=ROOT):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy", **(env or {})}
    for key in [k for k, v in full_env.items() if v is None]:
        del full_env[key]
    command = [sys.executable, *(["-c", script[3:]] if script.startswith("-c ") else [f"examples/{script}"])]
    return subprocess.run([*command, *map(str, args)], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=120)


def refused(done, *fragments, code=2):
    """The script stopped with ``code``, without a traceback, with every fragment in its stderr."""
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, f"{fragment!r} not in: {done.stderr}"
    return done.stderr


# ----------------------------------------------------------------------------------------------------
# Options refused up front by argparse, with a one-line reason
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("script, args, fragment", [
    ("dcgan_cifar.py", ["--epochs", "0"], "--epochs: expected an integer >= 1, got 0"),
    ("gan_fashion_mnist.py", ["--epochs", "-1"], "--epochs: expected an integer >= 1, got -1"),
    ("cgan_fashion_mnist.py", ["--batch-size", "0"], "--batch-size: expected an integer >= 1"),
    ("dcgan_cifar.py", ["--lr", "-1"], "--lr: expected a number > 0, got -1"),
    ("dcgan_cifar.py", ["--d-steps", "0"], "--d-steps: expected an integer >= 1"),
    ("dcgan_cifar.py", ["--real-label", "5"], "--real-label: expected a number in (0, 1]"),
    ("gan_fashion_mnist.py", ["--limit", "0"], "--limit: expected an integer >= 1"),
    ("train_classifier.py", ["fashion-mnist", "--epochs", "0"], "--epochs: expected an integer >= 1"),
    ("evaluate.py", ["--checkpoint", "missing.npz", "--classifier", "c.npz"], "missing.npz does not exist"),
    ("sample.py", ["--checkpoint", "missing.npz"], "missing.npz does not exist"),
    ("evaluate.py", ["--checkpoint", "README.md", "--classifier", "README.md", "--n", "1"], "at least 2 images"),
    ("gan_toy2d.py", ["--steps", "0"], "--steps: expected an integer >= 1"),
    ("train_classifier.py", [], "which classifier?"),
    ("dcgan_cifar.py", ["--dataset", "fake", "--limit", "10", "--batch-size", "16"], "fewer than one batch"),
    ("train_classifier.py", ["cifar10", "--dataset", "fake", "--limit", "10"], "fewer than one batch"),
])
def test_bad_option_values_are_refused_with_the_reason(script, args, fragment):
    refused(run(script, *args), fragment)


def test_a_mistyped_data_dir_is_refused_and_not_created(tmp_path):
    missing = tmp_path / "cifar-typo"
    stderr = refused(run("dcgan_cifar.py", "--data-dir", missing), "does not exist", "create the folder first",
                     "default cache")
    assert not missing.exists(), stderr


# ----------------------------------------------------------------------------------------------------
# Mistakes found while the script runs: one paragraph from the exception, exit code 2
# ----------------------------------------------------------------------------------------------------
def test_no_internet_says_what_to_download_and_mentions_the_fake_dataset(tmp_path):
    stderr = refused(run("dcgan_cifar.py", "--data-dir", tmp_path, env=OFFLINE),
                     "could not download", "cifar-10-binary.tar.gz", str(tmp_path), "--dataset fake")
    assert "Traceback" not in stderr


def test_corrupt_data_dir(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(b"not a gzip file at all")
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"nor this")
    refused(run("gan_fashion_mnist.py", "--data-dir", tmp_path, env=OFFLINE), "train-images-idx3-ubyte")


def test_data_dir_may_be_the_parent_of_the_dataset_folder(tmp_path):
    """--data-dir PARENT finds PARENT/fashion-mnist (MINIGAN_DATA means the same); here it is damaged."""
    (tmp_path / "fashion-mnist").mkdir()
    (tmp_path / "fashion-mnist" / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03 short")
    stderr = refused(run("gan_fashion_mnist.py", "--data-dir", tmp_path, env=OFFLINE),
                     f"put the file in\n    {tmp_path / 'fashion-mnist'}\n")    # the one missing file: there
    assert "train-labels-idx1-ubyte.gz" in stderr and not (tmp_path / "train-labels-idx1-ubyte.gz.part").exists()


def checkpoint_file(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    if kind == "truncated":
        save_checkpoint(path, {"w": np.zeros(1000)}, {"kind": "generator"})
        path.write_bytes(path.read_bytes()[:300])
    elif kind == "pickled":
        np.savez(path, payload=np.array([{"x": 1}, None], dtype=object))
    elif kind == "png":                                              # a picture renamed .npz
        shutil.copy(ROOT / "docs" / "images" / "toy2d.png", path)
    elif kind == "text":
        path.write_text("not a checkpoint\n")
    elif kind == "classifier":                                      # a checkpoint of another model
        save_classifier(path, CIFAR10Classifier(), {})
    return path


@pytest.mark.parametrize("kind, fragment", [("truncated", "truncated"), ("pickled", "pickle"),
                                            ("png", "a PNG image"), ("text", "not a .npz archive"),
                                            ("classifier", "no model spec")])
def test_bad_checkpoints_in_sample_py(tmp_path, kind, fragment):
    mg.set_backend("numpy")
    stderr = refused(run("sample.py", "--checkpoint", checkpoint_file(tmp_path, kind), "--out", tmp_path),
                     fragment)
    assert "allow_pickle" not in stderr                              # never the advice to unpickle


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One epoch of the plain GAN on 32 fake images (2 iterations), finished."""
    out = tmp_path_factory.mktemp("finished") / "run"
    done = run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--latent-dim", "8", "--out", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def copy_of(run_folder, tmp_path):
    shutil.copytree(run_folder, tmp_path / "run")
    return tmp_path / "run"


def test_class_id_on_a_model_without_classes(finished_run, tmp_path):
    refused(run("sample.py", "--checkpoint", finished_run / "checkpoint.npz", "--class-id", "3", "--out", tmp_path),
            "--class-id needs a conditional model", "gan generator")


def test_evaluate_with_a_classifier_of_another_dataset(finished_run, tmp_path):
    mg.set_backend("numpy")
    classifier = checkpoint_file(tmp_path, "classifier")            # CIFAR-10's, for a Fashion-MNIST GAN
    refused(run("evaluate.py", "--checkpoint", finished_run / "checkpoint.npz", "--classifier", classifier,
                "--dataset", "fake"), "trained on cifar10", "pass a fashion-mnist classifier")


def test_backend_errors():
    refused(run("gan_toy2d.py", "--steps", "1", env={"MINIGAN_BACKEND": "tpu"}), "MINIGAN_BACKEND", "'tpu'")
    try:
        import cupy  # noqa: F401
        return                                                       # this machine may have a GPU
    except ImportError:
        refused(run("gan_toy2d.py", "--steps", "1", "--backend", "cupy"), "CuPy", "numpy")


# ----------------------------------------------------------------------------------------------------
# Run folders: nothing lost, nothing surprising
# ----------------------------------------------------------------------------------------------------
def test_an_existing_run_folder_is_refused_without_resume_or_overwrite(finished_run, tmp_path):
    out = copy_of(finished_run, tmp_path)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    refused(run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--latent-dim", "8", "--out", out),
            "already holds a training run", "--resume", "--overwrite", "another --out")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before    # not a byte changed


def test_overwrite_deletes_the_old_run_files_only(finished_run, tmp_path):
    out = copy_of(finished_run, tmp_path)
    (out / "samples_epoch007.png").write_bytes(b"an old epoch's grid")
    (out / "notes.txt").write_text("mine")
    done = run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--latent-dim", "8", "--out", out, "--overwrite")
    assert done.returncode == 0, done.stderr
    assert not (out / "samples_epoch007.png").exists() and (out / "notes.txt").read_text() == "mine"
    lines = (out / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines if "loss_D" in line] == [1, 2]


def test_resume_of_a_finished_run_says_nothing_is_left(finished_run, tmp_path):
    out = copy_of(finished_run, tmp_path)
    done = run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--latent-dim", "8", "--out", out, "--resume")
    assert done.returncode == 0 and "nothing left to do" in done.stdout, done.stdout + done.stderr


def test_resume_with_changed_options(finished_run, tmp_path):
    out = copy_of(finished_run, tmp_path)
    refused(run("gan_fashion_mnist.py", *TINY, "--epochs", "2", "--latent-dim", "8", "--out", out, "--resume",
                "--seed", "1"), "seed 0", "--seed 0")
    refused(run("gan_fashion_mnist.py", *TINY[:2], "--limit", "48", *TINY[4:], "--epochs", "2", "--latent-dim",
                "8", "--out", out, "--resume"), "trained on fashion-mnist (fake, --limit 32): 32 images",
            "num_images 32, now 48")
    done = run("gan_fashion_mnist.py", *TINY, "--epochs", "2", "--latent-dim", "8", "--out", out, "--resume",
               "--lr", "1e-4")
    assert done.returncode == 0, done.stderr
    for fragment in ("changed options", "lr: 0.0002 -> 0.0001", "epochs: 1 -> 2"):
        assert fragment in done.stdout, done.stdout
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "options_changed" for e in events)


# ----------------------------------------------------------------------------------------------------
# The mechanism itself: exit codes, and bugs keep their traceback
# ----------------------------------------------------------------------------------------------------
PRELUDE = "-c from minigan.run import cli, trainer; cli.report_user_errors(); "


@pytest.mark.parametrize("statement, code, fragment", [
    ("raise cli.UsageError('options do not fit')", 2, "error: options do not fit"),
    ("raise trainer.TrainingDiverged('loss became NaN')", 1, "error: loss became NaN"),
    ("raise KeyboardInterrupt", 130, "interrupted"),
])
def test_exit_codes(statement, code, fragment):
    refused(run(PRELUDE + statement), fragment, code=code)


def test_a_bug_in_the_library_keeps_its_traceback():
    done = run(PRELUDE + "import minigan as mg; mg.zeros(2, 3) @ mg.zeros(2, 3)")
    assert done.returncode == 1 and "Traceback" in done.stderr


def test_old_spellings_still_work_and_say_so(tmp_path):
    done = run("train_classifier.py", "--dataset", "fashion_mnist", "--fake", "--limit", "32", "--epochs", "1",
               "--batch-size", "16", "--out", tmp_path / "c.npz", "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "--fake is the old spelling of --dataset fake" in done.stderr and (tmp_path / "c.npz").exists()
