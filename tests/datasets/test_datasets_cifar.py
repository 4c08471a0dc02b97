"""CIFAR-10 binary batches and archives: strict parsing, safe tar handling, layouts."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile

import numpy as np
import pytest

from nerve.datasets import DatasetError, DatasetNotFoundError, cifar10
from nerve.datasets._download import Resource, read_tar_members, safe_extract

N = 4  # records per generated batch


def batch(seed: int, n: int = N):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    rec = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(n, -1)], 1)
    return rec.astype(np.uint8).tobytes(), images, labels


def make_tarball(path, members: dict[str, bytes], extra=()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def cifar_members():
    out, truth = {}, {}
    for i, name in enumerate(cifar10.TRAIN_FILES + cifar10.TEST_FILES):
        blob, images, labels = batch(i)
        out[f"cifar-10-batches-bin/{name}"] = blob
        truth[name] = (images, labels)
    out["cifar-10-batches-bin/batches.meta.txt"] = b"airplane\n"
    return out, truth


@pytest.fixture(autouse=True)
def _small(monkeypatch, tmp_path):
    monkeypatch.delenv("NERVE_DATA", raising=False)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cifar10, "RECORDS_PER_BATCH", N)
    monkeypatch.setattr(cifar10, "MIRRORS", ["http://127.0.0.1:9/never/"])


def test_parse_batch_layout():
    blob, images, labels = batch(0)
    x, y = cifar10.parse_batch(blob, "b.bin")
    assert x.shape == (N, 32, 32, 3) and x.dtype == np.uint8 and x.flags.c_contiguous
    assert y.shape == (N,) and y.dtype == np.uint8
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    # record layout: byte 1 is red (0,0), byte 1025 green (0,0), byte 2049 blue (0,0)
    raw = np.frombuffer(blob, np.uint8)
    assert x[0, 0, 0].tolist() == [raw[1], raw[1025], raw[2049]]
    assert x[0, 0, 1, 0] == raw[2] and x[0, 1, 0, 0] == raw[33]


def test_parse_batch_rejects():
    blob = batch(0)[0]
    with pytest.raises(DatasetError, match=r"b\.bin: malformed or truncated CIFAR-10 batch: "
                                           r"12291 bytes .* \(3 records \+ 3072 bytes\)"):
        cifar10.parse_batch(blob[:-1], "b.bin")
    with pytest.raises(DatasetError, match=r"\+ 1 bytes"):
        cifar10.parse_batch(blob + b"\0", "b.bin")
    with pytest.raises(DatasetError, match=r"0 records"):
        cifar10.parse_batch(b"", "b.bin")
    with pytest.raises(DatasetError, match=r"b\.bin: CIFAR-10 batch has 4 records, expected "
                                           r"10000"):
        cifar10.parse_batch(blob, "b.bin", records=10000)
    bad = bytearray(blob)
    bad[2 * 3073] = 10
    with pytest.raises(DatasetError, match=r"b\.bin: record 2 has label 10, expected 0\.\.9"):
        cifar10.parse_batch(bytes(bad), "b.bin")


def test_load_from_archive_and_from_extracted(tmp_path, monkeypatch):
    members, truth = cifar_members()
    blob = make_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    monkeypatch.setattr(cifar10, "ARCHIVE", Resource("cifar-10-binary.tar.gz",
                                                     md5=hashlib.md5(blob).hexdigest()))
    (x, y), (xt, yt) = cifar10.load_data(tmp_path, download=False)
    assert x.shape == (5 * N, 32, 32, 3) and y.shape == (5 * N,)
    assert xt.shape == (N, 32, 32, 3) and yt.dtype == np.uint8
    np.testing.assert_array_equal(x[N:2 * N], truth["data_batch_2.bin"][0])
    np.testing.assert_array_equal(yt, truth["test_batch.bin"][1])
    assert not (tmp_path / "cifar-10-batches-bin").exists()  # read in memory, nothing written

    ext = tmp_path / "ext"
    safe_extract(tmp_path / "cifar-10-binary.tar.gz", ext)
    (x2, _), (xt2, yt2) = cifar10.load_data(ext, download=False)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(yt2, yt)
    # bins directly in the directory, one of them gzipped
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in cifar10.TRAIN_FILES:
        (flat / name).write_bytes(members[f"cifar-10-batches-bin/{name}"])
    (flat / "test_batch.bin.gz").write_bytes(
        gzip.compress(members["cifar-10-batches-bin/test_batch.bin"]))
    (_, _), (xt3, _) = cifar10.load_data(flat, download=False)
    np.testing.assert_array_equal(xt3, xt)


def test_archive_checksum_and_damage(tmp_path):
    members, _ = cifar_members()
    make_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(DatasetError, match=r"cifar-10-binary\.tar\.gz: checksum mismatch: md5"):
        cifar10.load_data(tmp_path, download=False)  # the real md5 of the real archive
    assert cifar10.load_split(False, tmp_path, download=False, verify=False)[0].shape[0] == N
    members["cifar-10-batches-bin/test_batch.bin"] = members[
        "cifar-10-batches-bin/test_batch.bin"][:-7]
    make_tarball(tmp_path / "cifar-10-binary.tar.gz", members)
    with pytest.raises(DatasetError, match=r"cifar-10-binary\.tar\.gz:cifar-10-batches-bin/"
                                           r"test_batch\.bin: malformed or truncated"):
        cifar10.load_split(False, tmp_path, download=False, verify=False)
    p = tmp_path / "cifar-10-binary.tar.gz"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"cifar-10-binary\.tar\.gz: corrupt or truncated "
                                           r"archive"):
        cifar10.load_split(False, tmp_path, download=False, verify=False)


def test_pickle_version_is_refused_with_a_hint(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"pickled 'python version'.*never loads"):
        cifar10.load_data(tmp_path, download=False)


def _info(name, kind=tarfile.REGTYPE, size=0, link=""):
    i = tarfile.TarInfo(name)
    i.type, i.size, i.linkname = kind, size, link
    return i


@pytest.mark.parametrize("bad,pattern", [
    (_info("../evil.bin", size=3), r"unsafe member name '\.\./evil\.bin'"),
    (_info("a/../../evil.bin", size=3), r"unsafe member name"),
    (_info("/etc/evil.bin", size=3), r"unsafe member name '/etc/evil\.bin'"),
    (_info("link.bin", tarfile.SYMTYPE, link="/etc/passwd"), r"'link\.bin' is not a regular "
                                                             r"file"),
    (_info("hard.bin", tarfile.LNKTYPE, link="ok.bin"), r"not a regular file"),
    (_info("dev", tarfile.CHRTYPE), r"not a regular file"),
])
def test_safe_extract_refuses(tmp_path, bad, pattern):
    tar = tmp_path / "t.tar.gz"
    make_tarball(tar, {"ok.bin": b"fine"}, extra=[bad])
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match=pattern):
        safe_extract(tar, out)
    assert not out.exists()  # all headers are checked before anything is written
    assert not (tmp_path / "evil.bin").exists() and not (tmp_path.parent / "evil.bin").exists()
    # asking only for the good member never touches the bad one
    assert [p.name for p in safe_extract(tar, out, ["ok.bin"])] == ["ok.bin"]
    assert (out / "ok.bin").read_bytes() == b"fine"


def test_tar_members_strict(tmp_path):
    tar = tmp_path / "t.tar.gz"
    make_tarball(tar, {"a/x.bin": b"1"}, extra=[_info("a/y.bin", tarfile.SYMTYPE, link="x.bin")])
    assert read_tar_members(tar, ["a/x.bin"]) == {"a/x.bin": b"1"}
    with pytest.raises(DatasetError, match=r"not a regular file"):
        read_tar_members(tar, ["a/y.bin"])
    with pytest.raises(DatasetError, match=r"archive lacks \['a/z\.bin'\]"):
        read_tar_members(tar, ["a/x.bin", "a/z.bin"])
    make_tarball(tar, {"a/x.bin": b"1"}, extra=[_info("a/x.bin", size=2)])
    with pytest.raises(DatasetError, match=r"'a/x\.bin' appears twice"):
        read_tar_members(tar, ["a/x.bin"])
    make_tarball(tar, {"a/x.bin": b"12345"})
    with pytest.raises(DatasetError, match=r"5 bytes, more than the 4 expected"):
        read_tar_members(tar, ["a/x.bin"], max_bytes=4)
