"""The real MNIST files of shared/data: shapes, dtypes and the README's checks."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from nerve.datasets import DatasetNotFoundError, cifar10, fashion_mnist, mnist

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
if not (DATA / "mnist").is_dir():
    DATA = Path("/work/shared/data")
MNIST_DIR = DATA / "mnist"
pytestmark = pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="shared/data/mnist not present")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("NERVE_DATA", raising=False)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist, "MIRRORS", ["http://127.0.0.1:9/never/"])  # never the internet


@pytest.fixture(scope="module")
def mnist_data():
    return mnist.load_data(MNIST_DIR, download=False)


def test_shapes_dtypes(mnist_data):
    (x, y), (xt, yt) = mnist_data
    assert x.shape == (60000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (60000,) and y.dtype == np.uint8
    assert xt.shape == (10000, 28, 28) and xt.dtype == np.uint8
    assert yt.shape == (10000,) and yt.dtype == np.uint8
    assert x.flags.writeable and x.flags.c_contiguous


def test_readme_checks(mnist_data):
    (x, y), (_, yt) = mnist_data
    assert y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert yt[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert round(float(x.mean(dtype=np.float64)), 3) == 33.318
    assert np.bincount(y, minlength=10).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                     6265, 5851, 5949]
    assert int(x.max()) == 255 and int(x.min()) == 0


def test_nerve_data_env(monkeypatch, mnist_data):
    monkeypatch.setenv("NERVE_DATA", str(DATA))
    xt, yt = mnist.load_split(mnist, False)  # no path: $NERVE_DATA/mnist
    np.testing.assert_array_equal(xt, mnist_data[1][0])
    np.testing.assert_array_equal(yt, mnist_data[1][1])


def test_loads_fast():
    mnist.load_data(MNIST_DIR, download=False)  # warm the page cache
    t = time.perf_counter()
    mnist.load_data(MNIST_DIR, download=False)
    assert time.perf_counter() - t < 2.0  # < 1 s on an idle machine; slack for shared CI cores


def test_unzipped_and_renamed_copies_verify(tmp_path, mnist_data):
    """raw md5s are of the uncompressed bytes: an unzipped copy, or one named the way some
    unzip tools name it (train-images.idx3-ubyte), passes the checksum."""
    import gzip

    for f in MNIST_DIR.glob("t10k-*.gz"):
        name = f.name[:-3]
        if "images" in name:
            name = name.replace("-idx", ".idx")
        (tmp_path / name).write_bytes(gzip.decompress(f.read_bytes()))
    xt, yt = mnist.load_split(mnist, False, tmp_path, download=False)
    np.testing.assert_array_equal(xt, mnist_data[1][0])
    np.testing.assert_array_equal(yt, mnist_data[1][1])


def test_corrupted_pixel_fails_checksum(tmp_path):
    import gzip

    for f in MNIST_DIR.glob("t10k-*.gz"):
        shutil.copy(f, tmp_path / f.name)
    raw = bytearray(gzip.decompress((MNIST_DIR / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[5000] ^= 0xFF  # a pixel the parser cannot notice
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw), 1))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz.*checksum mismatch"):
        mnist.load_split(mnist, False, tmp_path, download=False)
    x, _ = mnist.load_split(mnist, False, tmp_path, download=False, verify=False)
    assert x.shape == (10000, 28, 28)


def test_not_found_says_where(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        fashion_mnist.load_data(tmp_path / "nothing", download=False)
    msg = str(e.value)
    assert "train-images-idx3-ubyte.gz" in msg and str(tmp_path / "nothing") in msg
    assert "NERVE_DATA" in msg
    with pytest.raises(DatasetNotFoundError, match="cifar-10-binary.tar.gz"):
        cifar10.load_data(tmp_path / "nothing", download=False)


def test_never_mixes_directories(tmp_path, monkeypatch):
    """Half the files in `path`, the rest elsewhere: not silently combined."""
    shutil.copy(MNIST_DIR / "t10k-images-idx3-ubyte.gz", tmp_path)
    monkeypatch.setenv("NERVE_DATA", str(DATA))
    # path has only the images; NERVE_DATA/mnist has both -> that directory is used whole
    x, y = mnist.load_split(mnist, False, tmp_path, download=False)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
