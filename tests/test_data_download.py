"""Tests for minigan.data.download against a local HTTP server (127.0.0.1, a random free port).

The server serves a temporary folder laid out like a mirror (``<dataset>/<file>``) and counts the
requests it answers, so a test can tell a cache hit from a download.
"""

import hashlib
import http.server
import sys
import threading
from functools import partial

import numpy as np
import pytest

from data_formats import (
    CIFAR_ARCHIVE,
    cifar_batches,
    expected_cifar,
    write_cifar_tar,
    write_fmnist,
)
from minigan.data import DatasetError, DownloadError, load_cifar10, load_fashion_mnist
from minigan.data import download as dl


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server(tmp_path):
    """A mirror folder served over HTTP: yields an object with .folder, .url, .requests."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = partial(_CountingHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.requests = []
    httpd.folder = folder
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache or the network settings of the machine running the tests."""
    monkeypatch.setenv("MINIGAN_DATA", str(tmp_path / "cache"))
    monkeypatch.delenv("MINIGAN_DATA_URL", raising=False)


def _publish(server, monkeypatch, dataset, corrupt=()):
    """Register the MD5 of every file in ``server.folder/dataset`` (wrong MD5s for ``corrupt``)."""
    for path in sorted((server.folder / dataset).iterdir()):
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        if path.name in corrupt:
            md5 = "0" * 32
        monkeypatch.setitem(dl.CHECKSUMS[dataset], path.name, md5)


def _fmnist_mirror(server, monkeypatch, corrupt=()):
    folder = server.folder / "fashion-mnist"
    expected = {split: write_fmnist(folder, split, n=4, seed=i) for i, split in enumerate(["train", "test"])}
    _publish(server, monkeypatch, "fashion-mnist", corrupt)
    return expected


def test_download_verify_then_cache_hit(tmp_path, server, monkeypatch):
    expected = _fmnist_mirror(server, monkeypatch)
    root = tmp_path / "data"
    x, y = load_fashion_mnist(root, split="test", base_url=f"{server.url}/fashion-mnist")
    np.testing.assert_array_equal(x, expected["test"][0])
    np.testing.assert_array_equal(y, expected["test"][1])
    assert sorted(server.requests) == ["/fashion-mnist/t10k-images-idx3-ubyte.gz",
                                       "/fashion-mnist/t10k-labels-idx1-ubyte.gz"]
    assert sorted(p.name for p in root.iterdir()) == ["t10k-images-idx3-ubyte.gz",
                                                      "t10k-labels-idx1-ubyte.gz"]
    x2, _ = load_fashion_mnist(root, split="test", base_url=f"{server.url}/fashion-mnist")
    np.testing.assert_array_equal(x2, x)
    assert len(server.requests) == 2  # the second load read the verified copies, no request


def test_env_mirror_url_and_default_cache_folder(tmp_path, server, monkeypatch):
    expected = _fmnist_mirror(server, monkeypatch)
    monkeypatch.setenv("MINIGAN_DATA_URL", server.url + "/")
    x, _ = load_fashion_mnist(split="train")  # root=None -> $MINIGAN_DATA/fashion-mnist
    np.testing.assert_array_equal(x, expected["train"][0])
    assert (tmp_path / "cache" / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()
    assert dl.default_root("cifar10") == tmp_path / "cache" / "cifar10"


def test_checksum_mismatch_leaves_nothing_behind(tmp_path, server, monkeypatch):
    _fmnist_mirror(server, monkeypatch, corrupt={"t10k-images-idx3-ubyte.gz"})
    root = tmp_path / "data"
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist(root, split="test", base_url=f"{server.url}/fashion-mnist")
    message = str(info.value)
    assert "checksum mismatch" in message and "t10k-images-idx3-ubyte.gz" in message
    assert str(root) in message and "--data-dir" in message and "by hand" in message
    assert not list(root.glob("t10k-images*"))  # no .part, no final file


def test_network_errors_leave_nothing_behind(tmp_path, server, monkeypatch):
    _fmnist_mirror(server, monkeypatch)
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as info:  # 404: the mirror has no such folder
        load_fashion_mnist(root, split="test", base_url=f"{server.url}/nowhere")
    assert "404" in str(info.value) and "t10k-images-idx3-ubyte.gz" in str(info.value)
    url = server.url
    server.shutdown()
    server.server_close()  # nothing listens on the port any more: connection refused
    with pytest.raises(DownloadError, match="could not download"):
        load_fashion_mnist(root, split="test", base_url=f"{url}/fashion-mnist")
    assert not root.exists() or not list(root.iterdir())


def test_truncated_download_is_rejected(tmp_path, server, monkeypatch):
    _fmnist_mirror(server, monkeypatch)
    path = server.folder / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-5])  # the server now sends fewer bytes than published
    root = tmp_path / "data"
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_fashion_mnist(root, split="test", base_url=f"{server.url}/fashion-mnist")
    assert not list(root.glob("t10k-labels*"))


def test_download_false_explains_how_to_place_files(tmp_path):
    root = tmp_path / "empty"
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(root, split="train", download=False)
    message = str(info.value)
    for needed in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", str(root),
                   "fashion-mnist.s3-website", "--data-dir", "MINIGAN_DATA"):
        assert needed in message
    with pytest.raises(FileNotFoundError, match="cifar-10-binary.tar.gz"):
        load_cifar10(root, download=False)
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="python"):
        load_cifar10(root, download=False)


def test_cifar_download_and_cache_hit(tmp_path, server, monkeypatch):
    (server.folder / "cifar10").mkdir()
    data = cifar_batches(per_batch=2, seed=9)
    write_cifar_tar(server.folder / "cifar10" / CIFAR_ARCHIVE, data)
    _publish(server, monkeypatch, "cifar10")
    monkeypatch.setenv("MINIGAN_DATA_URL", server.url)
    x, y = load_cifar10(split="train")
    np.testing.assert_array_equal(x, expected_cifar(data, "train")[0])
    xt, yt = load_cifar10(split="test")
    np.testing.assert_array_equal(yt, expected_cifar(data, "test")[1])
    assert server.requests == ["/cifar10/cifar-10-binary.tar.gz"]


def test_cifar_corrupt_download(tmp_path, server, monkeypatch):
    (server.folder / "cifar10").mkdir()
    write_cifar_tar(server.folder / "cifar10" / CIFAR_ARCHIVE, cifar_batches(1))
    _publish(server, monkeypatch, "cifar10", corrupt={CIFAR_ARCHIVE})
    root = tmp_path / "c"
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_cifar10(root, base_url=f"{server.url}/cifar10")
    assert list(root.iterdir()) == []


def test_unsafe_member_in_downloaded_archive(tmp_path, server, monkeypatch):
    (server.folder / "cifar10").mkdir()
    write_cifar_tar(server.folder / "cifar10" / CIFAR_ARCHIVE, cifar_batches(1),
                    extra_members=[("../../outside.bin", b"boo")])
    _publish(server, monkeypatch, "cifar10")
    root = tmp_path / "c"
    with pytest.raises(DatasetError, match=r"refusing .* '\.\./\.\./outside\.bin'"):
        load_cifar10(root, split="test", base_url=f"{server.url}/cifar10")
    assert not (tmp_path / "outside.bin").exists()


def test_download_file_without_checksum_and_progress_fallback(tmp_path, server, monkeypatch):
    (server.folder / "f.bin").write_bytes(b"hello")
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `from tqdm import tqdm` now raises ImportError
    dl.download_file(f"{server.url}/f.bin", tmp_path / "f.bin", md5=None, progress=True)
    assert (tmp_path / "f.bin").read_bytes() == b"hello"
    assert dl.file_md5(tmp_path / "f.bin") == hashlib.md5(b"hello").hexdigest()
