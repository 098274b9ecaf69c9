"""minigan.data: readers on tiny official-format files, their errors, transforms, batching, real data."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_formats import (CIFAR_ARCHIVE, FMNIST_FILES, cifar_batch_bytes, cifar_batches, expected_cifar,
                          idx_bytes, random_fmnist, write_bytes, write_cifar_folder, write_cifar_tar,
                          write_fmnist)
from minigan.data import (CIFAR10_CLASSES, FASHION_MNIST_CLASSES, DatasetError, batches, fake_dataset,
                          load_cifar10, load_fashion_mnist, num_batches, to_float_images, to_uint8_images)

SHARED_DATA = Path(os.environ.get("MINIGAN_SHARED_DATA")
                   or Path(__file__).resolve().parents[1].parent / "shared" / "data")


# --- Fashion-MNIST: IDX files --------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("split", ["train", "test"])
def test_fmnist_reads_idx_files_exactly(tmp_path, split, compress):
    images, labels = write_fmnist(tmp_path, split, n=5, seed=1, compress=compress)
    x, y = load_fashion_mnist(tmp_path, split=split, download=False)
    assert x.dtype == np.uint8 and x.shape == (5, 28, 28) and x.flags.writeable
    assert y.dtype == np.int64 and y.shape == (5,)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_fmnist_mixed_gzip_and_raw(tmp_path):
    images, labels = random_fmnist(4, seed=2)
    write_bytes(tmp_path / FMNIST_FILES["train"][0], idx_bytes(images), compress=True)
    # a decompressed file is found under the name without .gz
    write_bytes(tmp_path / FMNIST_FILES["train"][1], idx_bytes(labels), compress=False)
    x, y = load_fashion_mnist(tmp_path, download=False)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def _fmnist_error(tmp_path, image_bytes=None, label_bytes=None):
    """Write a train split with optionally replaced file contents; return the DatasetError message."""
    images, labels = random_fmnist(3, seed=3)
    image_bytes = idx_bytes(images) if image_bytes is None else image_bytes
    label_bytes = idx_bytes(labels) if label_bytes is None else label_bytes
    write_bytes(tmp_path / FMNIST_FILES["train"][0], image_bytes, compress=True)
    write_bytes(tmp_path / FMNIST_FILES["train"][1], label_bytes, compress=True)
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist(tmp_path, download=False)
    return str(info.value)


def test_fmnist_wrong_magic(tmp_path):
    images, _ = random_fmnist(3, seed=3)
    message = _fmnist_error(tmp_path, image_bytes=idx_bytes(images, magic=2049))
    assert "magic number 2049" in message and "expected 2051" in message
    assert "train-images-idx3-ubyte.gz" in message and "Delete it" in message


def test_fmnist_truncated_and_oversized_payload(tmp_path):
    images, labels = random_fmnist(3, seed=3)
    message = _fmnist_error(tmp_path, image_bytes=idx_bytes(images)[:-10])
    assert "is truncated" in message and "(3, 28, 28)" in message
    message = _fmnist_error(tmp_path, label_bytes=idx_bytes(labels) + b"\0")
    assert "extra bytes" in message
    assert "truncated" in _fmnist_error(tmp_path, label_bytes=b"\0\0")


def test_fmnist_truncated_and_corrupt_gzip(tmp_path):
    images, _ = random_fmnist(3, seed=3)
    path = write_bytes(tmp_path / FMNIST_FILES["train"][0], idx_bytes(images), compress=True)
    write_bytes(tmp_path / FMNIST_FILES["train"][1], idx_bytes(np.zeros(3)), compress=True)
    whole = path.read_bytes()
    # the gzip stream cut in half; garbage inside the deflate stream
    for damaged in (whole[: len(whole) // 2], whole[:10] + b"\xff" * 30 + whole[40:]):
        path.write_bytes(damaged)
        with pytest.raises(DatasetError, match="damaged gzip file"):
            load_fashion_mnist(tmp_path, download=False)


def test_fmnist_count_mismatch_bad_label_and_size(tmp_path):
    images, labels = random_fmnist(3, seed=3)
    message = _fmnist_error(tmp_path, label_bytes=idx_bytes(labels[:2]))
    assert "3 images" in message and "2 labels" in message
    assert "label 10" in _fmnist_error(tmp_path, label_bytes=idx_bytes(np.array([0, 10, 1])))
    assert "(32, 32)" in _fmnist_error(tmp_path, image_bytes=idx_bytes(np.zeros((3, 32, 32))))
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load_fashion_mnist(tmp_path, split="valid", download=False)


# --- CIFAR-10: binary batches -----------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["tar", "folder", "flat-folder"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_reads_binary_batches_exactly(tmp_path, split, layout):
    data = cifar_batches(per_batch=3, seed=5)
    if layout == "tar":
        write_cifar_tar(tmp_path / CIFAR_ARCHIVE, data)
    else:
        write_cifar_folder(tmp_path, data)
    # "flat-folder": --data-dir pointing straight at cifar-10-batches-bin/
    root = tmp_path / "cifar-10-batches-bin" if layout == "flat-folder" else tmp_path
    x, y = load_cifar10(root, split=split, download=False)
    images, labels = expected_cifar(data, split)
    assert x.shape == (len(labels), 32, 32, 3) and x.dtype == np.uint8 and x.flags.c_contiguous
    assert y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_cifar_record_layout_is_label_then_rgb_planes():
    from minigan.data.cifar10 import parse_batch

    record = bytes([7]) + bytes([10]) * 1024 + bytes([20]) * 1024 + bytes([30]) * 1024
    images, labels = parse_batch(record)
    assert labels.tolist() == [7]
    assert images.shape == (1, 32, 32, 3) and images[0, 5, 9].tolist() == [10, 20, 30]


def _cifar_tar_error(tmp_path, extra_members=(), batches=None):
    write_cifar_tar(tmp_path / CIFAR_ARCHIVE, batches or cifar_batches(1), extra_members)
    with pytest.raises(DatasetError) as info:
        load_cifar10(tmp_path, split="test", download=False)
    return str(info.value)


@pytest.mark.parametrize("member, reason", [
    (("../evil.bin", b"x"), "'..'"),
    (("cifar-10-batches-bin/../../evil.bin", b"x"), "'..'"),
    (("/etc/evil.bin", b"x"), "absolute path"),
    (("cifar-10-batches-bin/link.bin", "symlink", "/etc/passwd"), "is a link"),
])
def test_cifar_refuses_unsafe_tar_members(tmp_path, member, reason):
    message = _cifar_tar_error(tmp_path, [member])
    assert "refusing" in message and reason in message and member[0] in message
    assert "cifar-10-binary.tar.gz" in message and "--data-dir" in message


def test_cifar_refuses_needed_member_that_is_a_link(tmp_path):
    data = cifar_batches(1)
    del data["test_batch.bin"]
    link = ("cifar-10-batches-bin/test_batch.bin", "symlink", "data_batch_1.bin")
    assert "is a link" in _cifar_tar_error(tmp_path, [link], data)


def test_cifar_truncated_or_foreign_archive(tmp_path):
    path = write_cifar_tar(tmp_path / CIFAR_ARCHIVE, cifar_batches(2))
    whole = path.read_bytes()
    for damaged in (whole[: len(whole) // 2], b"<html>404 not found</html>"):
        path.write_bytes(damaged)
        with pytest.raises(DatasetError, match="not a readable tar.gz"):
            load_cifar10(tmp_path, split="test", download=False)
    data = cifar_batches(1)
    del data["test_batch.bin"]
    assert "lacks the members" in _cifar_tar_error(tmp_path, batches=data)


def test_cifar_bad_batch_sizes_and_labels(tmp_path):
    data = cifar_batches(2)
    write_cifar_folder(tmp_path, data)
    test_file = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    images, _ = data["test_batch.bin"]
    for damaged, problem in [(test_file.read_bytes()[:-1], "not a whole number of 3073-byte records"),
                             (b"", "truncated"), (cifar_batch_bytes(images, [3, 12]), "label 12")]:
        test_file.write_bytes(damaged)
        with pytest.raises(DatasetError, match=problem):
            load_cifar10(tmp_path, split="test", download=False)


# --- pixel transforms -------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 5), st.integers(1, 5), st.sampled_from([None, 1, 3]),
       st.integers(0, 2**32 - 1))
def test_float_uint8_round_trip(n, h, w, c, seed):
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if c is None else (n, h, w, c)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    x = to_float_images(images)
    assert x.dtype == np.float32 and x.shape == (n, c or 1, h, w) and x.flags.c_contiguous
    assert x.min() >= -1.0 and x.max() <= 1.0
    back = to_uint8_images(x)
    assert back.shape == (n, h, w, c or 1) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, images.reshape(n, h, w, c or 1))


def test_transform_end_points_clipping_and_errors():
    x = to_float_images(np.array([[[0, 255]]], dtype=np.uint8))
    assert x.tolist() == [[[[-1.0, 1.0]]]]
    out = to_uint8_images(np.array([-3.0, -1.0, 0.0, 0.999, 1.0, 7.0, np.nan]).reshape(1, 1, 1, 7))
    assert out.ravel().tolist() == [0, 0, 128, 255, 255, 255, 128]
    with pytest.raises(ValueError, match="uint8"):
        to_float_images(np.zeros((2, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        to_uint8_images(np.zeros((3, 3)))


# --- batching ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(st.integers(0, 50), st.integers(1, 12), st.booleans())
def test_num_batches(n, batch_size, drop_last):
    sizes = [len(range(n)[i : i + batch_size]) for i in range(0, n, batch_size)]
    if drop_last:
        sizes = [s for s in sizes if s == batch_size]
    assert num_batches(n, batch_size, drop_last) == len(sizes)


def _batch_arrays(result):
    return [tuple(t.data for t in batch) for batch in result]


def test_batches_cover_every_example_once_and_keep_pairs_aligned():
    x = np.arange(23, dtype=np.float32).reshape(23, 1) * 10
    y = np.arange(23)
    got = _batch_arrays(batches((x, y), 5, shuffle=True, drop_last=False, seed=3))
    assert [len(b[0]) for b in got] == [5, 5, 5, 5, 3]
    all_y = np.concatenate([b[1] for b in got])
    assert sorted(all_y.tolist()) == list(range(23)) and all_y.tolist() != list(range(23))
    for xb, yb in got:
        np.testing.assert_array_equal(xb[:, 0], yb * 10)
        assert xb.dtype == np.float32 and yb.dtype == y.dtype


def test_batches_deterministic_per_seed_and_independent_of_global_rng():
    x = np.arange(40)
    np.random.seed(0)
    first = _batch_arrays(batches((x,), 8, seed=11))
    np.random.seed(1)
    again = _batch_arrays(batches((x,), 8, seed=11))
    other = _batch_arrays(batches((x,), 8, seed=12))
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, again))
    assert not all(np.array_equal(a[0], b[0]) for a, b in zip(first, other))
    rng = np.random.default_rng(5)  # a Generator continues its stream: a new order each epoch
    epoch1, epoch2 = _batch_arrays(batches(x, 40, seed=rng)), _batch_arrays(batches(x, 40, seed=rng))
    assert not np.array_equal(epoch1[0][0], epoch2[0][0])


def test_batches_unshuffled_and_drop_last():
    x = np.arange(10)
    got = _batch_arrays(batches((x,), 4, shuffle=False))
    assert [b[0].tolist() for b in got] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert _batch_arrays(batches((x,), 11)) == []


def test_batches_yield_tensors_on_the_active_backend():
    from minigan.tensor import Tensor

    (xb, yb), = list(batches((np.zeros((4, 1, 2, 2), np.float32), np.arange(4)), 4))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.data.shape == (4, 1, 2, 2) and yb.data.shape == (4,)


def test_batches_validate_at_the_call():
    with pytest.raises(ValueError, match=r"arrays\[0\] has 3 .* arrays\[1\] has 2"):
        batches((np.zeros(3), np.zeros(2)), 2)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch_size"):
            batches((np.zeros(3),), bad)


# --- fake datasets ----------------------------------------------------------------------------------------
def test_fake_datasets_and_class_names():
    x, y = fake_dataset("fashion-mnist", 6, seed=1)
    assert x.shape == (6, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    x2, _ = fake_dataset("cifar10", 4)
    assert x2.shape == (4, 32, 32, 3) and x2.dtype == np.uint8
    np.testing.assert_array_equal(fake_dataset("fashion-mnist", 6, seed=1)[0], x)
    assert y.min() >= 0 and y.max() < 10
    with pytest.raises(ValueError, match="unknown dataset"):
        fake_dataset("mnist", 3)
    assert len(FASHION_MNIST_CLASSES) == len(CIFAR10_CLASSES) == 10
    assert FASHION_MNIST_CLASSES[9] == "Ankle boot" and CIFAR10_CLASSES[0] == "airplane"


# --- the real datasets, if this machine has them ----------------------------------------------------------
@pytest.mark.skipif(not (SHARED_DATA / "fashion-mnist").is_dir(), reason="no shared Fashion-MNIST")
@pytest.mark.parametrize("split, n", [("train", 60000), ("test", 10000)])
def test_real_fashion_mnist(split, n):
    x, y = load_fashion_mnist(SHARED_DATA / "fashion-mnist", split=split, download=False)
    assert x.shape == (n, 28, 28) and y.shape == (n,)
    assert np.bincount(y, minlength=10).tolist() == [n // 10] * 10
    if split == "train":
        pixels = x / 255.0
        assert abs(pixels.mean() - 0.2860) < 0.002 and abs(pixels.std() - 0.3530) < 0.002


@pytest.mark.skipif(not (SHARED_DATA / "cifar10" / CIFAR_ARCHIVE).is_file(), reason="no shared CIFAR-10")
def test_real_cifar10_full_read_is_fast():
    start = time.perf_counter()
    x, y = load_cifar10(SHARED_DATA / "cifar10", split="train", download=False)
    xt, yt = load_cifar10(SHARED_DATA / "cifar10", split="test", download=False)
    seconds = time.perf_counter() - start
    assert x.shape == (50000, 32, 32, 3) and xt.shape == (10000, 32, 32, 3)
    assert np.bincount(y, minlength=10).tolist() == [5000] * 10
    assert np.bincount(yt, minlength=10).tolist() == [1000] * 10
    means = x.reshape(-1, 3).mean(axis=0) / 255.0
    np.testing.assert_allclose(means, [0.4913, 0.4821, 0.4465], atol=0.002)
    assert seconds < 15, f"reading all 60,000 CIFAR-10 images took {seconds:.1f} s"
