"""What a new user trips over, tried as a new user would (issue 30): every case as a subprocess, like
tests/test_cli_errors.py. docs/reliability.md lists each case and what the user sees.

- photos taken upright on a phone (EXIF orientation) train upright;
- a checkpoint records its dataset: --resume on other data is refused, evaluate.py refuses (or
  relabels) a cGAN whose classes are not the judge's;
- --keep-every keeps earlier generators, and the health warnings only advise options that exist;
- train_classifier.py does not overwrite a classifier, checks --out before the work, says the truth on Ctrl-C;
- a full disk, an --out that is a file, output files in missing folders: one paragraph, nothing lost;
- absurd or ineffective values: divergence stops the run, contradictions are refused, no-ops noted;
- PyTorch habits: --dataset cifar10, --dataroot, t.sum(dim=1).
(The mpiexec cases are in tests/test_distributed.py, the docs' hygiene in tests/test_docs_hygiene.py.)
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minigan as mg
from minigan.data import FASHION_MNIST_CLASSES
from minigan.evaluation import RelabeledGenerator, judge_classes_of, save_classifier, save_generator
from minigan.evaluation.classifier import FashionMNISTClassifier
from minigan.models import build
from minigan.run import cli, training_state, trainer
from minigan.run.checkpoint import CheckpointError, load_checkpoint
from minigan.training import TrainConfig

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MINIGAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
SMALL = ["--batch-size", "16", "--sample-every", "0", "--no-progress", "--latent-dim", "8"]
TINY = ["--dataset", "fake", "--limit", "32", *SMALL]


def run(script, *args, env=None, timeout=180):
    """examples/<script> (or ``-c CODE``) in a subprocess, from the repository root, on NumPy."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy", **(env or {})}
    command = ["-c", script[3:]] if script.startswith("-c ") else [f"examples/{script}"]
    return subprocess.run([sys.executable, *command, *map(str, args)], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def refused(done, *fragments, code=2):
    """Stopped with ``code``, no traceback, every fragment in stderr; returns the finished process."""
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, f"{fragment!r} not in: {done.stderr}"
    return done


def ok(done):
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done


def patched(script, patch):
    """``-c`` code: run ``patch`` (Python source), then examples/<script> as __main__ (argv from the caller)."""
    return "-c " + "\n".join(["import runpy, sys", f"sys.argv = [{script!r}] + sys.argv[1:]", textwrap.dedent(patch),
                               f"runpy.run_path('examples/{script}', run_name='__main__')"])


@pytest.fixture(scope="module")
def finished_gan(tmp_path_factory):
    """One epoch of the plain GAN on 32 fake images (2 iterations), finished."""
    out = tmp_path_factory.mktemp("gan") / "run"
    ok(run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--out", out))
    return out


def png_folder(root, classes, per_class=16, size=28):
    """``root/<class>/<i>.png``: gray images, one shade per class."""
    from PIL import Image

    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(np.full((size, size), 20 * k + i, dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


# ----------------------------------------------------------------------------------------------------
# 3. Photos keep the orientation they are viewed in
# ----------------------------------------------------------------------------------------------------
def test_a_portrait_phone_photo_is_decoded_upright(tmp_path):
    """A phone stores a portrait photo as landscape pixels plus EXIF Orientation 6 ("rotate 90 degrees
    clockwise to view"). The viewed picture here: red top half, blue bottom half."""
    from PIL import Image

    from minigan.data.folder import decode_image

    viewed = np.zeros((40, 20, 3), dtype=np.uint8)                   # (H, W, 3): portrait
    viewed[:20, :, 0] = 255                                          # top: red
    viewed[20:, :, 2] = 255                                          # bottom: blue
    stored = Image.fromarray(viewed).rotate(90, expand=True)         # landscape 40x20, as the sensor saw it
    exif = Image.Exif()
    exif[0x0112] = 6                                                 # Orientation
    stored.save(tmp_path / "portrait.jpg", exif=exif, quality=95)
    pixels, _, size = decode_image(tmp_path / "portrait.jpg", 20, channels=3)
    assert size == (20, 40)                                          # (width, height) as viewed
    top, bottom = pixels[:10].reshape(-1, 3).mean(0), pixels[10:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60, top                         # red on top
    assert bottom[2] > 200 and bottom[0] < 60, bottom                # blue below


# ----------------------------------------------------------------------------------------------------
# 4. The checkpoint knows its data
# ----------------------------------------------------------------------------------------------------
def test_the_checkpoint_records_the_dataset_and_its_class_names(finished_gan):
    _, meta = load_checkpoint(finished_gan / "checkpoint.npz")
    assert meta["dataset"] == {"name": "fashion-mnist", "source": "fake", "limit": 32, "num_images": 32,
                               "image_shape": [1, 28, 28], "class_names": list(FASHION_MNIST_CLASSES)}


def test_resume_on_other_data_of_the_same_size_is_refused(finished_gan, tmp_path):
    """32 fake images, resumed on a folder of 32 images: the count matches, the data do not."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished_gan, out)
    folder = png_folder(tmp_path / "images", ["a", "b"])
    refused(run("gan_fashion_mnist.py", *SMALL, "--dataset", "folder", "--data-dir", folder, "--limit", "32",
                "--no-cache", "--epochs", "2", "--out", out, "--resume"),
            "was trained on fashion-mnist (fake, --limit 32): 32 images", "source 'fake', now 'folder'")


@pytest.mark.skipif(not (SHARED / "fashion-mnist").is_dir(), reason="needs the real Fashion-MNIST files")
def test_resume_of_a_fake_run_on_the_real_data_is_refused(finished_gan, tmp_path):
    """The case as it was found: a --dataset fake --limit 32 run, resumed on the real images, --limit 32."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished_gan, out)
    refused(run("gan_fashion_mnist.py", *SMALL, "--dataset", "real", "--data-dir", SHARED / "fashion-mnist",
                "--limit", "32", "--epochs", "2", "--out", out, "--resume"), "source 'fake', now 'real'")


def test_a_checkpoint_without_the_dataset_still_resumes():
    """Checkpoints written before the dataset was recorded: checked by their image count, as before."""
    spec, config = {"name": "gan"}, TrainConfig()
    meta = {"kind": "gan-training", "model": spec, "config": {"batch_size": config.batch_size}, "batch": 0}
    now = {"name": "fashion-mnist", "source": "real", "limit": None, "num_images": 10, "image_shape": [1, 28, 28],
           "class_names": []}
    assert training_state._check_resumable("c.npz", meta, config, spec, 10, dataset=now) == []
    meta["dataset"] = {**now, "source": "fake"}
    with pytest.raises(CheckpointError, match="source 'fake', now 'real'"):
        training_state._check_resumable("c.npz", meta, config, spec, 10, dataset=now)


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    """An (untrained) Fashion-MNIST classifier file: enough for evaluate.py's checks and a fake score."""
    path = tmp_path_factory.mktemp("judge") / "classifier.npz"
    mg.set_backend("numpy")
    save_classifier(path, FashionMNISTClassifier(), {})
    return path


def cgan_file(path, class_names, recorded=True):
    mg.set_backend("numpy")
    mg.manual_seed(0)
    spec = {"name": "cgan", "latent_dim": 8, "num_classes": len(class_names)}
    G, _ = build(spec)
    dataset = {"name": "folder", "source": "folder", "class_names": class_names}
    save_generator(path, G, spec, {"dataset": dataset} if recorded else {})
    return path


@pytest.mark.parametrize("classes, recorded", [(["cat", "dog", "fish"], True),
                                               ([f"c{i}" for i in range(11)], False)])
def test_evaluate_refuses_a_cgan_of_other_classes(tmp_path, judge, classes, recorded):
    """A 3-class folder cGAN (names recorded), and an 11-class one from before names were recorded."""
    done = refused(run("evaluate.py", "--checkpoint", cgan_file(tmp_path / "G.npz", classes, recorded),
                         "--classifier", judge, "--dataset", "fake", "--n", "20", "--limit", "20"),
                     f"is a cGAN of {len(classes)} classes", "the judge knows the 10 fashion-mnist classes")
    assert ("cat, dog, fish" if recorded else "names not recorded") in done.stderr
    assert not (tmp_path / "G.eval.json").exists()


def test_evaluate_asks_a_folder_cgan_of_the_same_classes_in_the_judges_order(tmp_path, judge):
    """Fashion-MNIST exported to a folder (examples/export_image_folder.py) numbers its classes in sorted
    order: the same names, other numbers. evaluate.py asks G for the judge's class j by G's number."""
    folder_names = sorted(name.replace("/", "-") for name in FASHION_MNIST_CLASSES)   # Ankle boot, Bag, ...
    g_class = judge_classes_of(folder_names, FASHION_MNIST_CLASSES)
    assert [folder_names[g] for g in g_class][:2] == ["T-shirt-top", "Trouser"]
    G = RelabeledGenerator(build({"name": "cgan", "latent_dim": 8, "num_classes": 10})[0].eval(), g_class)
    z, judge_labels = mg.randn(3, 8), mg.tensor(np.array([0, 1, 9]))
    np.testing.assert_array_equal(G(z, judge_labels).numpy(),
                                  G.G(z, mg.tensor(np.array(g_class)[[0, 1, 9]])).numpy())
    done = ok(run("evaluate.py", "--checkpoint", cgan_file(tmp_path / "G.npz", folder_names), "--classifier", judge,
                  "--dataset", "fake", "--n", "20", "--limit", "20"))
    assert "asked in the judge's order" in done.stdout and (tmp_path / "G.eval.json").exists()


# ----------------------------------------------------------------------------------------------------
# 5. Earlier generators, and advice that can be followed
# ----------------------------------------------------------------------------------------------------
def test_keep_every_keeps_earlier_generators_that_sample_and_evaluate_read(tmp_path, judge):
    out = tmp_path / "run"
    ok(run("cgan_fashion_mnist.py", *TINY, "--epochs", "2", "--keep-every", "1", "--out", out))
    kept = sorted(p.name for p in out.glob("generator_epoch*.npz"))
    assert kept == ["generator_epoch001.npz", "generator_epoch002.npz"]
    _, meta = load_checkpoint(out / "generator_epoch001.npz")
    assert (meta["kind"], meta["epoch"], meta["dataset"]["source"]) == ("generator", 1, "fake")
    ok(run("sample.py", "--checkpoint", out / "generator_epoch001.npz", "--out", tmp_path / "s", "--class-id", "3"))
    assert (tmp_path / "s" / "class_3.png").exists()
    ok(run("evaluate.py", "--checkpoint", out / "generator_epoch001.npz", "--classifier", judge, "--dataset", "fake",
           "--n", "20", "--limit", "20"))
    ok(run("cgan_fashion_mnist.py", *TINY, "--epochs", "1", "--out", out, "--overwrite"))
    assert not list(out.glob("generator_epoch*.npz"))                # a run's files: --overwrite deletes them


def test_health_warnings_advise_only_options_that_exist():
    import re

    history = [{"loss_D": 0.001, "loss_G": 9.0}] * 200
    same = mg.zeros(8, 1, 4, 4)
    messages = trainer.health_warnings(history, same) + trainer.health_warnings([{"loss_D": 1e3, "loss_G": 1.0}])
    assert len(messages) == 3 and "Restart from an earlier checkpoint" not in " ".join(messages)
    assert "--keep-every" in messages[1] and "exploding" in messages[2]
    parser = cli.training_parser("t", epochs=1, batch_size=8, out="o", losses=True)
    options = {s for action in parser._actions for s in action.option_strings}
    for option in re.findall(r"--[a-z][a-z0-9-]*", " ".join(messages)):
        assert option in options, f"a health warning advises {option}, which no training script has"


# ----------------------------------------------------------------------------------------------------
# 6. train_classifier.py
# ----------------------------------------------------------------------------------------------------
CLASSIFIER = ["fashion-mnist", "--dataset", "fake", "--limit", "32", "--batch-size", "16", "--epochs", "1",
              "--no-progress"]


def test_train_classifier_does_not_overwrite_a_classifier(tmp_path):
    out = tmp_path / "c.npz"
    out.write_bytes(b"hours of CPU")
    refused(run("train_classifier.py", *CLASSIFIER, "--out", out), "already exists", "--overwrite")
    assert out.read_bytes() == b"hours of CPU"
    ok(run("train_classifier.py", *CLASSIFIER, "--out", out, "--overwrite"))
    assert load_checkpoint(out)[1]["kind"] == "classifier"


def test_train_classifier_refuses_a_folder_as_out_before_training(tmp_path):
    done = refused(run("train_classifier.py", *CLASSIFIER, "--out", tmp_path), "is a folder")
    assert "epoch 1" not in done.stdout                              # refused before the first epoch


def test_train_classifier_ctrl_c_does_not_offer_a_resume_it_lacks(tmp_path):
    patch = ("import minigan.evaluation as e\n"
             "def interrupted(*a, **k): raise KeyboardInterrupt\n"
             "e.train_classifier = interrupted")
    done = refused(run(patched("train_classifier.py", patch), *CLASSIFIER, "--out", tmp_path / "c.npz"),
                     "interrupted (Ctrl-C)", "cannot resume", code=130)
    assert "--resume" not in done.stderr


# ----------------------------------------------------------------------------------------------------
# 7. I/O failures
# ----------------------------------------------------------------------------------------------------
def full_disk(out):
    """A patch that makes every checkpoint write under ``out`` fail with ENOSPC, as a full disk does."""
    return textwrap.dedent(f"""
        import errno, os
        import minigan.run.checkpoint as c
        write = c._write_npz
        def full(f, arrays):
            if os.path.abspath(f.name).startswith({str(out.resolve())!r}):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f.name)
            return write(f, arrays)
        c._write_npz = full
    """)


def test_a_full_disk_at_the_first_save_says_so_and_loses_nothing(tmp_path):
    out, tmp = tmp_path / "run", tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    done = refused(run(patched("gan_fashion_mnist.py", full_disk(out)), *TINY, "--epochs", "2", "--out", out,
                         env=env), "No space left on device", "No checkpoint had been written",
                     "was saved to", "then continue with --resume", code=1)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr             # one paragraph
    rescued = list(tmp.glob("minigan-rescue-run-iteration2.npz"))
    assert rescued and not (out / "checkpoint.npz").exists()
    rescued[0].rename(out / "checkpoint.npz")                        # what the message says to do
    done = ok(run("gan_fashion_mnist.py", *TINY, "--epochs", "2", "--out", out, "--resume"))
    assert "resumed from" in done.stdout and "epoch 1, batch 0" in done.stdout
    assert load_checkpoint(out / "checkpoint.npz")[1]["iteration"] == 4


def test_a_full_disk_later_names_the_checkpoint_that_survived(finished_gan, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished_gan, out)
    before = (out / "checkpoint.npz").read_bytes()
    refused(run(patched("gan_fashion_mnist.py", full_disk(out)), *TINY, "--epochs", "2", "--out", out, "--resume",
                env={"TMPDIR": str(tmp_path)}),
            "checkpoint.npz (epoch 1, iteration 2) is intact", code=1)
    assert (out / "checkpoint.npz").read_bytes() == before


def test_out_naming_a_file_is_refused_before_any_work(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    done = refused(run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--out", tmp_path / "notes.txt"),
                   "is a file, not a folder")
    assert "images of shape" not in done.stdout and (tmp_path / "notes.txt").read_text() == "mine"


def test_output_files_in_missing_folders_are_written_and_folders_refused_before_the_work(finished_gan, tmp_path,
                                                                                          judge):
    checkpoint = finished_gan / "checkpoint.npz"
    ok(run("sample.py", "--checkpoint", checkpoint, "--out", tmp_path / "s", "--save-npz", tmp_path / "new" / "x.npz",
           "--n", "4"))
    assert (tmp_path / "new" / "x.npz").exists()
    done = refused(run("sample.py", "--checkpoint", checkpoint, "--out", tmp_path / "s", "--save-npz", tmp_path))
    assert "wrote" not in done.stdout
    (tmp_path / "taken").write_text("a file")
    refused(run("sample.py", "--checkpoint", checkpoint, "--out", tmp_path / "taken"), "is a file, not a folder")
    ok(run("evaluate.py", "--checkpoint", checkpoint, "--classifier", judge, "--dataset", "fake", "--n", "20",
           "--limit", "20", "--out", tmp_path / "new2" / "e.json"))
    assert json.loads((tmp_path / "new2" / "e.json").read_text())["n_fake"] == 20
    done = refused(run("evaluate.py", "--checkpoint", checkpoint, "--classifier", judge, "--dataset", "fake",
                       "--n", "20", "--limit", "20", "--out", tmp_path), "is a folder")
    assert "FCD" not in done.stdout                                  # refused before scoring


def test_a_classifier_of_the_other_dataset_is_a_user_error_in_training(tmp_path, judge):
    refused(run("dcgan_cifar.py", "--dataset", "fake", "--limit", "16", "--batch-size", "16", "--epochs", "1",
                "--no-progress", "--classifier", judge, "--out", tmp_path / "run"),
            "was trained on fashion-mnist", "pass a cifar10 classifier")


# ----------------------------------------------------------------------------------------------------
# 8. Absurd, contradictory and ineffective values
# ----------------------------------------------------------------------------------------------------
def test_a_huge_learning_rate_stops_the_run_as_diverged(tmp_path):
    done = refused(run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--lr", "1e6", "--out", tmp_path / "r"),
                     "note: --lr 1e+06 is far above", "larger than 1e+06", "No checkpoint had been written", code=1)
    assert "lower --lr" in done.stderr


def test_a_batch_norm_critic_for_wgan_gp_is_refused(tmp_path):
    refused(run("dcgan_cifar.py", *TINY, "--loss", "wgan-gp", "--d-norm", "batch", "--out", tmp_path / "r"),
            "--loss wgan-gp with --d-norm batch", "layer norm")


def test_ineffective_options_are_noted(tmp_path):
    done = ok(run("gan_fashion_mnist.py", *TINY, "--epochs", "1", "--gp-lambda", "5", "--eval-n", "10",
                  "--strict-images", "--no-cache", "--keep-every", "3", "--out", tmp_path / "r"))
    for fragment in ("--gp-lambda weighs WGAN-GP's gradient penalty", "without --classifier nothing is scored",
                     "--strict-images and --no-cache are about --dataset folder",
                     "--keep-every 3 with --epochs 1"):
        assert fragment in done.stderr, done.stderr


def test_a_limit_beyond_the_folder_is_noted(tmp_path):
    folder = png_folder(tmp_path / "images", ["a", "b"])             # 32 images
    done = ok(run("gan_fashion_mnist.py", *SMALL, "--dataset", "folder", "--data-dir", folder, "--limit", "1000",
                  "--no-cache", "--epochs", "1", "--out", tmp_path / "r"))
    assert "--limit 1000 is more than the 32 images" in done.stderr, done.stderr


def test_export_image_folder_refuses_n_0(tmp_path):
    refused(run("export_image_folder.py", "--n", "0", "--out", tmp_path), "--n: expected an integer >= 1")


# ----------------------------------------------------------------------------------------------------
# 9. PyTorch habits
# ----------------------------------------------------------------------------------------------------
def test_dataset_names_and_dataroot_as_pytorch_spells_them(tmp_path):
    parser = cli.training_parser("t", epochs=1, batch_size=8, out="o", losses=True, dataset="cifar10")
    for spelling in ("cifar10", "CIFAR10", "cifar-10"):
        assert parser.parse_args(["--dataset", spelling]).dataset == "real"
    assert parser.parse_args(["--dataroot", str(tmp_path)]).data_dir == str(tmp_path)
    refused(run("gan_fashion_mnist.py", "--dataset", "cifar10"), "this script trains on fashion-mnist",
            "examples/dcgan_cifar.py")
    refused(run("dcgan_cifar.py", "--dataroot", tmp_path / "missing"), "missing does not exist")


@pytest.mark.skipif(not (SHARED / "cifar10").is_dir(), reason="needs the real CIFAR-10 files")
def test_dcgan_trains_with_pytorchs_dataset_and_dataroot(tmp_path):
    done = ok(run("dcgan_cifar.py", "--dataset", "cifar10", "--dataroot", SHARED, "--limit", "16", "--batch-size",
                  "16", "--epochs", "1", "--sample-every", "0", "--no-progress", "--out", tmp_path / "r"))
    assert "cifar10 (real, train): 16 images" in done.stdout


def test_sum_and_mean_take_pytorchs_dim():
    t = mg.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(t.sum(dim=1).numpy(), t.sum(axis=1).numpy())
    np.testing.assert_array_equal(t.mean(dim=0).numpy(), [1.5, 2.5, 3.5])
    with pytest.raises(TypeError, match="not both"):
        t.sum(axis=0, dim=1)


def test_int64_times_float32_follows_numpy_as_documented():
    """The decision (docs/reliability.md, section 6): NumPy's rule, int64 x float32 -> float64, not
    PyTorch's float32. If the rule changes, this test and the page change together."""
    labels, x = mg.tensor(np.array([1, 2])), mg.tensor([0.5, 0.5])
    assert (labels.dtype, x.dtype, (labels * x).dtype) == (np.int64, np.float32, np.float64)
    assert "int64 times float32 gives float64" in (ROOT / "docs" / "reliability.md").read_text()
