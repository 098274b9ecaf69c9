"""data/folder.py: your own images. Folders are made in tmp_path with Pillow: nested class folders, a
corrupt file, a non-image file, mixed sizes and modes (RGB, RGBA, palette, grayscale, 16-bit)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

from minigan.data import folder  # noqa: E402
from minigan.data.folder import ImageFolderError, decode_image, list_image_folder, load_image_folder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def solid(path, size, color, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)
    return path


@pytest.fixture
def zoo(tmp_path):
    """zoo/cat: 3 images (one in a deeper folder), zoo/dog: 2 images + a corrupt .png + notes.txt."""
    root = tmp_path / "zoo"
    solid(root / "cat" / "a.png", (32, 32), (255, 0, 0))
    solid(root / "cat" / "b.jpg", (64, 48), (0, 255, 0))                      # JPEG, wider than tall
    solid(root / "cat" / "more" / "c.webp", (20, 20), (0, 0, 255))           # deeper folder, smaller
    solid(root / "dog" / "d.png", (32, 32), (10, 20, 30, 0), mode="RGBA")    # fully transparent
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([200, 100, 50] + [0] * 765)
    palette.save(root / "dog" / "e.png")                                     # palette image
    (root / "dog" / "broken.png").write_bytes(Image.new("RGB", (8, 8)).tobytes()[:50])   # not a PNG
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    solid(root / ".hidden" / "x.png", (8, 8), (0, 0, 0))                     # hidden: ignored
    return root


def test_listing_sorted_classes_nested_files_ignored_non_images(zoo):
    files, labels, names, ignored = list_image_folder(zoo)
    assert names == ["cat", "dog"]
    assert [f.relative_to(zoo).as_posix() for f in files] == [
        "cat/a.png", "cat/b.jpg", "cat/more/c.webp", "dog/broken.png", "dog/d.png", "dog/e.png"]
    assert labels == [0, 0, 0, 1, 1, 1]
    assert [p.name for p in ignored] == ["notes.txt"]


def test_load_skips_and_counts_the_corrupt_file_and_says_what_it_converted(zoo, capsys):
    images, labels, names = load_image_folder(zoo, 24, progress=False)
    out = capsys.readouterr().out
    assert images.shape == (5, 24, 24, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1] and names == ["cat", "dog"]
    assert "SKIPPED 1 file(s)" in out and "dog/broken.png" in out
    assert "ignored 1 file(s)" in out and "notes.txt" in out
    assert "converted to RGB: 1 P, 1 RGBA (transparency over white)" in out
    assert "4 different sizes: centre-cropped to a square and resized to 24x24 (1 of them scaled up)" in out
    # colours survive crop and resize (solid images); transparent -> white; palette -> its colour
    assert images[0, 8, 8].tolist() == [255, 0, 0]
    assert np.abs(images[2].astype(int) - [0, 0, 255]).max() <= 4         # WebP is lossy too
    assert images[3].min() == 255
    assert images[4, 8, 8].tolist() == [200, 100, 50]
    assert np.abs(images[1].astype(int) - [0, 255, 0]).max() <= 2         # JPEG is lossy


def test_strict_refuses_the_folder_at_the_corrupt_file(zoo):
    with pytest.raises(ImageFolderError, match=r"cannot decode .*broken\.png.*strict"):
        load_image_folder(zoo, 16, strict=True, progress=False, verbose=False)


def test_centre_crop_keeps_the_middle_and_grayscale_uses_pillows_weights(tmp_path):
    img = Image.new("RGB", (30, 10), (255, 0, 0))                           # red | green | blue thirds
    img.paste((0, 255, 0), (10, 0, 20, 10))
    img.paste((0, 0, 255), (20, 0, 30, 10))
    img.save(tmp_path / "stripes.png")
    pixels, mode, original = decode_image(tmp_path / "stripes.png", 10)
    assert (mode, original, pixels.shape) == ("RGB", (30, 10), (10, 10, 3))
    assert (pixels == [0, 255, 0]).all()                                     # only the green middle
    gray, _, _ = decode_image(tmp_path / "stripes.png", 10, channels=1)
    assert gray.shape == (10, 10) and (gray == 150).all()                    # L = 0.299 R + 0.587 G + 0.114 B


def test_16_bit_grayscale_is_scaled_to_8_bits(tmp_path):
    Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16)).save(tmp_path / "deep.png")
    pixels, _, _ = decode_image(tmp_path / "deep.png", 8, channels=1)
    assert (pixels == 255).all()


def test_flat_folder_is_one_class(tmp_path):
    for i in range(3):
        solid(tmp_path / f"{i}.png", (12, 12), (i, i, i))
    images, labels, names = load_image_folder(tmp_path, 12, progress=False, verbose=False)
    assert images.shape == (3, 12, 12, 3) and labels.tolist() == [0, 0, 0] and names == [""]


@pytest.mark.parametrize("make, message", [
    (lambda root: None, r"no images in .*found nothing"),
    (lambda root: (root / "readme.txt").write_text("hi"), r"no images .*found only 1 other file\(s\), e\.g\. readme\.txt"),
    (lambda root: (solid(root / "top.png", (4, 4), 0), solid(root / "cls" / "x.png", (4, 4), 0)),
     r"1 image\(s\) at the top level .* 1 sub-folder\(s\).*Move the top-level images"),
])
def test_clear_errors_for_unusable_folders(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(ImageFolderError, match=message):
        load_image_folder(tmp_path, 8, progress=False, verbose=False)


def test_missing_folder_and_nothing_decodable(tmp_path):
    with pytest.raises(ImageFolderError, match="does not exist"):
        load_image_folder(tmp_path / "nope", 8)
    (tmp_path / "a.png").write_text("not a png")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ImageFolderError, match=r"none of the 2 image file\(s\) .* could be decoded"):
        load_image_folder(tmp_path, 8, progress=False, verbose=False)
    assert issubclass(ImageFolderError, ValueError)


def test_cache_is_used_then_invalidated_by_a_changed_or_added_file(zoo, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    first = load_image_folder(zoo, 16, cache_dir=cache, progress=False)
    [cache_path] = list(cache.glob("*.npz"))
    assert cache_path.name.startswith("zoo-") and cache_path.name.endswith("-16x16x3.npz")
    with np.load(cache_path, allow_pickle=False) as archive:                 # plain arrays, no pickle
        assert sorted(archive.files) == ["images", "labels", "meta"]

    def no_decoding(*args):
        raise AssertionError("decoded although the cache is up to date")

    real_decode = folder.decode_image
    monkeypatch.setattr(folder, "decode_image", no_decoding)
    capsys.readouterr()
    second = load_image_folder(zoo, 16, cache_dir=cache, progress=False)
    out = capsys.readouterr().out
    assert "from the cache" in out and "(1 file(s) were skipped when it was made)" in out
    for a, b in zip(first[:2], second[:2]):
        assert np.array_equal(a, b)
    assert second[2] == ["cat", "dog"]

    monkeypatch.setattr(folder, "decode_image", real_decode)
    stat = (zoo / "cat" / "a.png").stat()
    os.utime(zoo / "cat" / "a.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))   # touched
    load_image_folder(zoo, 16, cache_dir=cache, progress=False)
    assert "out of date" in capsys.readouterr().out
    solid(zoo / "cat" / "z.png", (16, 16), (1, 2, 3))                        # a new file
    images, _, _ = load_image_folder(zoo, 16, cache_dir=cache, progress=False)
    assert "out of date" in capsys.readouterr().out and len(images) == 6
    assert load_image_folder(zoo, 16, cache_dir=cache, progress=False, verbose=False)[0].shape[0] == 6


def test_a_damaged_cache_is_rebuilt_and_strict_mode_does_not_trust_a_cache_with_skips(zoo, tmp_path, capsys):
    cache = tmp_path / "cache"
    load_image_folder(zoo, 16, cache_dir=cache, progress=False, verbose=False)
    [cache_path] = list(cache.glob("*.npz"))
    cache_path.write_bytes(cache_path.read_bytes()[:100])                    # truncated
    images, _, _ = load_image_folder(zoo, 16, cache_dir=cache, progress=False)
    assert "unreadable" in capsys.readouterr().out and len(images) == 5
    with pytest.raises(ImageFolderError, match="broken.png"):               # skipped when cached
        load_image_folder(zoo, 16, cache_dir=cache, strict=True, progress=False, verbose=False)


def _run(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MINIGAN_BACKEND": "numpy"}
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def _colour_folder(root, classes=3, per_class=6):
    rng = np.random.default_rng(0)
    for c in range(classes):
        for i in range(per_class):
            size = (int(rng.integers(20, 50)), int(rng.integers(20, 50)))  # mixed sizes
            solid(root / f"class{c}" / f"{i}.png", size, tuple(int(v) for v in rng.integers(0, 256, 3)))


@pytest.mark.parametrize("script, extra, spec", [
    ("dcgan_cifar.py", [], {"name": "dcgan", "latent_dim": 128, "kernel_size": 4}),
    ("dcgan_cifar.py", ["--image-size", "64", "--latent-dim", "16"],
     {"name": "dcgan", "latent_dim": 16, "kernel_size": 4, "image_size": 64}),
    ("cgan_fashion_mnist.py", [], {"name": "cgan", "latent_dim": 100, "num_classes": 3}),
    ("gan_fashion_mnist.py", [], {"name": "gan", "latent_dim": 100}),
])
def test_examples_train_on_a_folder_and_sample_py_rebuilds_the_model(tmp_path, script, extra, spec):
    from minigan.run.checkpoint import load_checkpoint

    _colour_folder(tmp_path / "imgs")
    out = tmp_path / "run"
    result = _run(f"examples/{script}", "--dataset", "folder", "--data-dir", tmp_path / "imgs", "--epochs", "1",
                  "--batch-size", "6", "--out", out, "--no-progress", "--no-cache", "--sample-every", "0", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "18 images" in result.stdout and "3 classes" in result.stdout
    _, meta = load_checkpoint(out / "checkpoint.npz")
    assert meta["model"] == spec
    result = _run("examples/sample.py", "--checkpoint", out / "checkpoint.npz", "--out", tmp_path / "s",
                  "--n", "4", "--steps", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    side = {"dcgan": spec.get("image_size", 32), "cgan": 28, "gan": 28}[spec["name"]]
    assert Image.open(tmp_path / "s" / "grid.png").size[0] >= side
    if spec.get("image_size") == 64:  # evaluate.py's scores are 32x32: refused in words, not a traceback
        result = _run("examples/evaluate.py", "--checkpoint", out / "checkpoint.npz",   # any existing file:
                      "--classifier", out / "checkpoint.npz")                     # refused before it is read
        assert result.returncode != 0 and "only 32x32 generators can be scored" in result.stderr


def test_cgan_refuses_a_folder_without_class_folders(tmp_path):
    for i in range(4):
        solid(tmp_path / "imgs" / f"{i}.png", (28, 28), (i, i, i))
    result = _run("examples/cgan_fashion_mnist.py", "--dataset", "folder", "--data-dir", tmp_path / "imgs",
                  "--epochs", "1", "--out", tmp_path / "run", "--no-cache")
    assert result.returncode != 0
    assert "one class per sub-folder" in result.stderr and "no sub-folders" in result.stderr


def test_cifar10_at_64_is_refused_with_a_hint(tmp_path):
    result = _run("examples/dcgan_cifar.py", "--image-size", "64", "--out", tmp_path / "run")
    assert result.returncode != 0 and "--dataset folder" in result.stderr
