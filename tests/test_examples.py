"""Every example runs: --help, a few iterations on fake data, and on a small slice of the real data."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MINIGAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
TRAINING_EXAMPLES = ["gan_fashion_mnist.py", "dcgan_cifar.py", "cgan_fashion_mnist.py"]


def run(*args, timeout=300):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy"}
    result = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.parametrize("script", TRAINING_EXAMPLES + ["gan_toy2d.py", "sample.py", "evaluate.py",
                                    "train_classifier.py"])
def test_help(script):
    text = run(f"examples/{script}", "--help")
    assert "usage" in text
    description = text.split("\n\n")[1]                             # after the usage lines
    assert description.strip() and not description.startswith(("options", "positional")), f"{script}: no description"
    assert "docs/cli.md" in text                                     # the shared options are described there
    # every option explains itself; no "(default: None)" / "(default: False)" noise (cli.HelpFormatter)
    assert "(default: None)" not in text and "(default: False)" not in text
    lines = text.splitlines()
    for i, line in enumerate(lines):
        words = line.split()
        if line.startswith("  -") and len(words) <= 2 and not line.startswith("  -h"):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            has_help = len(words) == 2 and not words[1].isupper() and not words[1].startswith("{")
            assert has_help or following.startswith(" " * 10), f"{script}: {line.strip()} has no help text"


def test_training_parser_options_all_have_help():
    from minigan.run import cli

    parser = cli.training_parser("test", epochs=1, batch_size=8, out="runs/x")
    assert [a.option_strings for a in parser._actions if not a.help] == []


def test_loss_options_give_each_loss_its_defaults_and_explicit_values_win(capsys):
    from minigan.run import cli

    parser = cli.training_parser("test", epochs=1, batch_size=8, out="runs/x", losses=True)
    assert [a.option_strings for a in parser._actions if not a.help] == []
    assert cli.loss_options(parser.parse_args([])) == {
        "loss": "bce", "r1_gamma": 0.0, "gp_lambda": 10.0, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "d_steps": 1}
    wgan = cli.loss_options(parser.parse_args(["--loss", "wgan-gp"]))
    assert (wgan["lr"], wgan["beta1"], wgan["beta2"], wgan["d_steps"], wgan["gp_lambda"]) == (1e-4, 0.0, 0.9, 5, 10.0)
    mine = cli.loss_options(parser.parse_args(["--loss", "wgan-gp", "--lr", "3e-4", "--d-steps", "2",
                                               "--beta1", "0.5", "--r1", "10"]))
    assert (mine["lr"], mine["d_steps"], mine["beta1"], mine["beta2"], mine["r1_gamma"]) == (3e-4, 2, 0.5, 0.9, 10.0)
    for bad in (["--r1", "-1"], ["--d-steps", "0"], ["--gp-lambda", "-2"], ["--beta1", "1"]):
        with pytest.raises(SystemExit) as refused:                   # argparse refuses it up front
            parser.parse_args(bad)
        assert refused.value.code == 2 and f"argument {bad[0]}" in capsys.readouterr().err


@pytest.mark.parametrize("script, extra", [("dcgan_cifar.py", ["--loss", "wgan-gp", "--d-steps", "2"]),
                                           ("cgan_fashion_mnist.py", ["--loss", "wgan-gp", "--d-steps", "1",
                                                                      "--r1", "1"])])
def test_wgan_gp_trains_on_fake_data_then_samples(script, extra, tmp_path):
    out = tmp_path / "run"
    stdout = run(f"examples/{script}", "--dataset", "fake", "--limit", "32", "--batch-size", "16", "--epochs", "1",
                 "--out", out, "--no-progress", *extra)
    assert "loss wgan-gp" in stdout and "lr 0.0001, beta1 0.0, beta2 0.9" in stdout
    for name in ("checkpoint.npz", "log.jsonl", "samples_epoch001.png", "curves.png"):
        assert (out / name).exists(), name
    run("examples/sample.py", "--checkpoint", out / "checkpoint.npz", "--out", tmp_path / "s", "--n", "4")


@pytest.mark.parametrize("script", TRAINING_EXAMPLES)
def test_trains_on_fake_data_then_samples(script, tmp_path):
    out = tmp_path / "run"
    run(f"examples/{script}", "--dataset", "fake", "--limit", "32", "--batch-size", "16", "--epochs", "1",
        "--out", out, "--no-progress")
    for name in ("checkpoint.npz", "log.jsonl", "samples_epoch001.png", "curves.png"):
        assert (out / name).exists(), name
    run("examples/sample.py", "--checkpoint", out / "checkpoint.npz", "--out", tmp_path / "s",
        "--save-npz", tmp_path / "s.npz", "--n", "20")
    saved = np.load(tmp_path / "s.npz")
    assert saved["images"].dtype == np.uint8 and saved["images"].shape[0] == 20
    assert ("labels" in saved) == (script == "cgan_fashion_mnist.py")
    assert (tmp_path / "s" / "grid.png").exists() and (tmp_path / "s" / "interpolation.png").exists()


def test_sample_npz_does_not_depend_on_the_batch_size(tmp_path):
    """sample.py uses BatchNorm's running statistics by default: --batch-size changes nothing."""
    import minigan as mg
    from minigan.evaluation import save_generator
    from minigan.models import build

    mg.set_backend("numpy")
    mg.manual_seed(0)
    spec = {"name": "dcgan", "latent_dim": 16, "kernel_size": 4}
    G = build(spec)[0]
    for m in G.modules():                                            # running statistics unlike a batch's
        if hasattr(m, "running_mean"):
            m.running_mean.data[...] = 0.3
    save_generator(tmp_path / "G.npz", G, spec)
    for batch_size in (5, 12):
        run("examples/sample.py", "--checkpoint", tmp_path / "G.npz", "--out", tmp_path / "s", "--n", "12",
            "--batch-size", batch_size, "--save-npz", tmp_path / f"b{batch_size}.npz")
    a, b = np.load(tmp_path / "b5.npz")["images"], np.load(tmp_path / "b12.npz")["images"]
    assert np.array_equal(a, b)


def test_toy2d_runs_quickly(tmp_path):
    run("examples/gan_toy2d.py", "--steps", "20", "--out", tmp_path)
    assert (tmp_path / "toy2d.png").exists()


@pytest.mark.parametrize("script, folder", [("cgan_fashion_mnist.py", "fashion-mnist"),
                                            ("dcgan_cifar.py", "cifar10")])
def test_trains_on_a_slice_of_the_real_data(script, folder, tmp_path):
    if not (SHARED / folder).is_dir():
        pytest.skip(f"real data not found in {SHARED / folder}")
    out = tmp_path / "run"
    stdout = run(f"examples/{script}", "--data-dir", SHARED / folder, "--limit", "32", "--batch-size", "16",
                 "--epochs", "1", "--out", out, "--no-progress")
    assert "(real, train): 32 images" in stdout
    assert (out / "checkpoint.npz").exists()
