"""The download path, against an HTTP server on 127.0.0.1 (never the internet)."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import struct
import tarfile
import threading

import numpy as np
import pytest

from nerve.datasets import DatasetError, DownloadError, cifar10, mnist
from nerve.datasets import _download as D
from nerve.datasets._download import Resource, download_file


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "test"

    def do_GET(self):  # noqa: N802
        srv = self.server
        srv.log.append(self.path)
        fails = srv.fail.get(self.path, 0)
        if fails:
            srv.fail[self.path] = fails - 1
            self.send_error(503)
            return
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        cut = srv.short.pop(self.path, None)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, tmp_path):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.delenv("NERVE_DATA", raising=False)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "BACKOFF", 0.01)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.fail, srv.short, srv.log = {}, {}, {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def idx(arr) -> bytes:
    arr = np.asarray(arr, np.uint8)
    return struct.pack(">I", 0x800 + arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape) + arr.tobytes()


def test_download_verify_and_cache_hit(server, tmp_path):
    body = gzip.compress(idx(np.arange(10)))
    server.files["/m/f.gz"] = body
    r = Resource("f.gz", md5=md5(body), sha256=hashlib.sha256(body).hexdigest())
    p = download_file(r, [server.url + "/m/"], tmp_path / "d", quiet=True)
    assert p == tmp_path / "d" / "f.gz" and p.read_bytes() == body
    assert [f.name for f in (tmp_path / "d").iterdir()] == ["f.gz"]  # no temp file left


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server, tmp_path):
    server.files["/m/f.gz"] = b"not what was promised"
    r = Resource("f.gz", md5="0" * 32)
    with pytest.raises(DownloadError) as e:
        download_file(r, [server.url + "/m/"], tmp_path / "d", quiet=True)
    msg = str(e.value)
    assert "checksum mismatch: md5 " + md5(b"not what was promised") in msg
    assert "expected " + "0" * 32 in msg
    assert "To work offline, put f.gz" in msg and str(tmp_path / "d") in msg
    assert list((tmp_path / "d").iterdir()) == []
    assert len(server.log) == 1  # a wrong file is not fetched again from the same mirror


def test_retry_after_failing_request(server, tmp_path):
    body = b"payload" * 100
    server.files["/m/f.bin"] = body
    server.fail["/m/f.bin"] = 1  # first request: 503
    p = download_file(Resource("f.bin", md5=md5(body)), [server.url + "/m/"], tmp_path,
                      quiet=True)
    assert p.read_bytes() == body
    assert server.log == ["/m/f.bin", "/m/f.bin"]


def test_short_read_is_retried(server, tmp_path):
    body = b"0123456789" * 50
    server.files["/m/f.bin"] = body
    server.short["/m/f.bin"] = 100  # connection closes after 100 of 500 bytes
    p = download_file(Resource("f.bin", md5=md5(body)), [server.url + "/m/"], tmp_path,
                      quiet=True)
    assert p.read_bytes() == body and len(server.log) == 2


def test_next_mirror_after_404_and_retries_exhausted(server, tmp_path):
    body = b"ok"
    server.files["/good/f.bin"] = body
    server.fail["/flaky/f.bin"] = 99
    mirrors = [server.url + "/missing/", server.url + "/flaky/", server.url + "/good/"]
    p = download_file(Resource("f.bin", md5=md5(body)), mirrors, tmp_path, retries=2,
                      quiet=True)
    assert p.read_bytes() == body
    assert server.log == ["/missing/f.bin", "/flaky/f.bin", "/flaky/f.bin", "/good/f.bin"]


def test_offline_message(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "BACKOFF", 0.0)
    with pytest.raises(DownloadError) as e:  # port 9 (discard) on localhost: refused
        download_file(Resource("x.gz"), ["http://127.0.0.1:9/"], tmp_path, retries=2,
                      timeout=2, quiet=True)
    msg = str(e.value)
    assert "could not download x.gz" in msg and "http://127.0.0.1:9/x.gz" in msg
    assert "NERVE_DATA" in msg and str(tmp_path) in msg


def _serve_mnist(server, n=7):
    rng = np.random.default_rng(1)
    x = {s: rng.integers(0, 256, (n + i, 28, 28), dtype=np.uint8) for i, s in
         enumerate(("train", "test"))}
    y = {s: rng.integers(0, 10, n + i, dtype=np.uint8) for i, s in enumerate(("train", "test"))}
    res = {}
    for key, fname, arr in (("train_images", "train-images-idx3-ubyte.gz", x["train"]),
                            ("train_labels", "train-labels-idx1-ubyte.gz", y["train"]),
                            ("test_images", "t10k-images-idx3-ubyte.gz", x["test"]),
                            ("test_labels", "t10k-labels-idx1-ubyte.gz", y["test"])):
        raw = idx(arr)
        body = gzip.compress(raw)
        server.files["/mnist/" + fname] = body
        res[key] = Resource(fname, md5=md5(body), raw_md5=md5(raw))
    return res, x, y


def test_mnist_load_data_downloads_then_hits_cache(server, monkeypatch, tmp_path):
    res, x, y = _serve_mnist(server)
    monkeypatch.setattr(mnist, "RESOURCES", res)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url + "/mnist/"])
    (xtr, ytr), (xte, yte) = mnist.load_data()
    np.testing.assert_array_equal(xtr, x["train"])
    np.testing.assert_array_equal(yte, y["test"])
    assert len(server.log) == 4
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(
        r.filename for r in res.values())
    mnist.load_data()  # cache hit: no request
    assert len(server.log) == 4
    # an explicit path downloads there, and only what is missing (empty cache: else the
    # cache, searched after the path, would serve the files)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache2"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        server.files["/mnist/t10k-labels-idx1-ubyte.gz"])
    mnist.load_split(mnist, False, tmp_path / "mine")
    assert server.log[4:] == ["/mnist/t10k-images-idx3-ubyte.gz"]


def test_mnist_download_checksum_mismatch(server, monkeypatch):
    res, _, _ = _serve_mnist(server)
    res["test_images"] = Resource("t10k-images-idx3-ubyte.gz", md5="f" * 32)
    monkeypatch.setattr(mnist, "RESOURCES", res)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url + "/mnist/"])
    with pytest.raises(DownloadError, match=r"t10k-images-idx3-ubyte\.gz.*checksum mismatch"):
        mnist.load_split(mnist, False)


def test_cifar_download_extracts_safely_then_hits_cache(server, monkeypatch, tmp_path):
    rng = np.random.default_rng(2)
    buf, truth = io.BytesIO(), {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in cifar10.TRAIN_FILES + cifar10.TEST_FILES:
            labels = rng.integers(0, 10, 3, dtype=np.uint8)
            images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
            rec = np.concatenate([labels[:, None],
                                  images.transpose(0, 3, 1, 2).reshape(3, -1)], 1)
            data = rec.astype(np.uint8).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            truth[name] = images, labels
        evil = tarfile.TarInfo("../../evil.txt")  # present but never extracted
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    body = buf.getvalue()
    server.files["/kriz/cifar-10-binary.tar.gz"] = body
    monkeypatch.setattr(cifar10, "ARCHIVE", Resource("cifar-10-binary.tar.gz", md5=md5(body),
                                                     size=len(body)))
    monkeypatch.setattr(cifar10, "MIRRORS", [server.url + "/kriz/"])
    monkeypatch.setattr(cifar10, "RECORDS_PER_BATCH", 3)
    (x, y), (xt, yt) = cifar10.load_data(tmp_path / "c")
    assert x.shape == (15, 32, 32, 3) and yt.shape == (3,)
    np.testing.assert_array_equal(xt, truth["test_batch.bin"][0])
    np.testing.assert_array_equal(y[3:6], truth["data_batch_2.bin"][1])
    assert (tmp_path / "c" / "cifar-10-batches-bin" / "test_batch.bin").is_file()
    assert not list(tmp_path.rglob("evil.txt")) and not (tmp_path.parent / "evil.txt").exists()
    assert len(server.log) == 1
    cifar10.load_data(tmp_path / "c")
    assert len(server.log) == 1


def test_corrupt_cached_file_says_delete(server, monkeypatch, tmp_path):
    res, _, _ = _serve_mnist(server)
    monkeypatch.setattr(mnist, "RESOURCES", res)
    monkeypatch.setattr(mnist, "MIRRORS", [server.url + "/mnist/"])
    mnist.load_split(mnist, False)
    p = tmp_path / "cache" / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(p.read_bytes()))
    raw[-1] ^= 1
    p.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DatasetError, match=r"checksum mismatch.*delete it"):
        mnist.load_split(mnist, False)
