"""The strict IDX parser: good files parse, every kind of damage is named."""
from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from nerve.datasets import DatasetError, mnist, normalize, parse_idx, to_float
from nerve.datasets._download import Resource


def idx(arr: np.ndarray) -> bytes:
    arr = np.asarray(arr, np.uint8)
    head = struct.pack(">I", 0x800 + arr.ndim) + b"".join(struct.pack(">I", d)
                                                           for d in arr.shape)
    return head + arr.tobytes()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("NERVE_DATA", raising=False)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))


def test_roundtrip():
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = parse_idx(idx(a), "x", ndim=3)
    np.testing.assert_array_equal(out, a)
    assert out.dtype == np.uint8 and out.flags.writeable
    np.testing.assert_array_equal(parse_idx(idx(np.array([3, 1])), "y", ndim=1), [3, 1])
    assert parse_idx(idx(np.zeros((0, 28, 28))), "e", ndim=3).shape == (0, 28, 28)


@pytest.mark.parametrize("mutate,pattern", [
    (lambda b: b[:-1], r"f\.idx: truncated IDX file: the header says 2x3x4 = 24 data bytes, "
                       r"the file has 23 \(1 missing\)"),
    (lambda b: b + b"\0\0", r"f\.idx: malformed IDX file: 2 extra bytes after the 24"),
    (lambda b: b[:10], r"f\.idx: truncated IDX header: 10 bytes.*needs 16"),
    (lambda b: b[:2], r"f\.idx: truncated IDX file: 2 bytes, too short"),
    (lambda b: b"\x00\x00\x08\x01" + b[4:], r"f\.idx: bad IDX magic number 0x00000801, "
                                            r"expected 0x00000803 \(images"),
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], r"bad IDX magic number 0x00000d03"),
    (lambda b: b"\x12\x34\x08\x03" + b[4:], r"bad IDX magic number 0x12340803"),
    (lambda b: b"", r"truncated IDX file: 0 bytes"),
])
def test_rejects_damage(mutate, pattern):
    good = idx(np.ones((2, 3, 4)))
    with pytest.raises(DatasetError, match=pattern):
        parse_idx(mutate(good), "f.idx", ndim=3)


def _write_split(d, n=5, images=None, labels=None, gz=True):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if images is None else images
    labels = rng.integers(0, 10, n, dtype=np.uint8) if labels is None else labels
    d.mkdir(parents=True, exist_ok=True)
    for name, blob in (("t10k-images-idx3-ubyte", idx(images)),
                       ("t10k-labels-idx1-ubyte", idx(labels))):
        if isinstance(blob, bytes) and gz:
            (d / (name + ".gz")).write_bytes(gzip.compress(blob))
        else:
            (d / name).write_bytes(blob)
    return images, labels


@pytest.fixture
def nochecksum(monkeypatch):
    res = {k: Resource(r.filename) for k, r in mnist.RESOURCES.items()}
    monkeypatch.setattr(mnist, "RESOURCES", res)


def test_loader_reads_small_files(tmp_path, nochecksum):
    images, labels = _write_split(tmp_path)
    x, y = mnist.load_split(mnist, False, tmp_path, download=False)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    _write_split(tmp_path / "plain", gz=False)
    assert mnist.load_split(mnist, False, tmp_path / "plain", download=False)[0].shape == (5, 28,
                                                                                           28)


def test_truncated_gzip_names_file(tmp_path, nochecksum):
    _write_split(tmp_path)
    p = tmp_path / "t10k-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-20])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: corrupt or truncated "
                                           r"gzip"):
        mnist.load_split(mnist, False, tmp_path, download=False)


def test_truncated_idx_names_file(tmp_path, nochecksum):
    _write_split(tmp_path, gz=False)
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: truncated IDX file.*100 "
                                           r"missing"):
        mnist.load_split(mnist, False, tmp_path, download=False)


def test_wrong_magic_names_file(tmp_path, nochecksum):
    _write_split(tmp_path, gz=False)
    # images and labels swapped
    a, b = tmp_path / "t10k-images-idx3-ubyte", tmp_path / "t10k-labels-idx1-ubyte"
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte: bad IDX magic number "
                                           r"0x00000801"):
        mnist.load_split(mnist, False, tmp_path, download=False)


def test_inconsistent_files(tmp_path, nochecksum):
    _write_split(tmp_path / "a", labels=np.zeros(4, np.uint8))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz: 4 labels for the 5 "
                                           r"images"):
        mnist.load_split(mnist, False, tmp_path / "a", download=False)
    _write_split(tmp_path / "b", labels=np.array([0, 1, 2, 3, 10], np.uint8))
    with pytest.raises(DatasetError, match=r"label 10 out of range 0\.\.9"):
        mnist.load_split(mnist, False, tmp_path / "b", download=False)
    _write_split(tmp_path / "c", images=np.zeros((5, 27, 28), np.uint8))
    with pytest.raises(DatasetError, match=r"images are \(27, 28\), expected \(28, 28\)"):
        mnist.load_split(mnist, False, tmp_path / "c", download=False)


def test_to_float_and_normalize():
    x = np.array([[0, 51, 255]], np.uint8)
    f = to_float(x)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, np.float32([[0, 51, 255]]) / np.float32(255))
    n = normalize(x, 0.5, 0.25)
    assert n.dtype == np.float32
    np.testing.assert_allclose(n, (f - 0.5) / 0.25, rtol=1e-6)
    rgb = np.full((2, 2, 2, 3), 255, np.uint8)
    out = normalize(rgb, (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))
    assert out.shape == rgb.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, 0], (1 - np.float32([0.4914, 0.4822, 0.4465]))
                               / np.float32([0.247, 0.243, 0.261]), rtol=1e-6)
    f32 = np.ones(3, np.float32)
    out = normalize(f32, 1.0, 2.0)
    assert out.dtype == np.float32 and f32[0] == 1.0  # input untouched
    with pytest.raises(ValueError, match="std contains 0"):
        normalize(x, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"mean has shape \(2,\)"):
        normalize(rgb, (0.1, 0.2), 1.0)
    with pytest.raises(TypeError, match="expected uint8 or float"):
        to_float(np.array(["a"]))
