"""nerve.vision.datasets: torchvision's constructor, local files first, batched fetching."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve.datasets import DatasetNotFoundError, cifar10, fashion_mnist, mnist
from nerve.datasets._download import Resource
from nerve.vision import datasets
from nerve.vision import transforms as T

DATA = Path("/work/shared/data")
for cand in (Path(__file__).resolve().parents[3] / "shared" / "data", DATA):
    if (cand / "mnist").is_dir():
        DATA = cand
        break
needs_mnist = pytest.mark.skipif(not (DATA / "mnist").is_dir(), reason="no shared MNIST")
DEAD = ["http://127.0.0.1:9/never/"]  # a download attempt would fail loudly


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.delenv("NERVE_DATA", raising=False)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))
    for mod in (mnist, fashion_mnist, cifar10):
        monkeypatch.setattr(mod, "MIRRORS", DEAD)


def idx(arr) -> bytes:
    arr = np.asarray(arr, np.uint8)
    return struct.pack(">I", 0x800 + arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape) + arr.tobytes()


@needs_mnist
def test_mnist_from_nerve_data_with_totensor_normalize(monkeypatch, tmp_path):
    monkeypatch.setenv("NERVE_DATA", str(DATA))
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(tmp_path / "data", train=False, transform=tf, download=True)
    assert len(ds) == 10000 and isinstance(ds, nerve.data.Dataset)
    x, y = ds[0]
    assert isinstance(x, nerve.Tensor) and tuple(x.shape) == (1, 28, 28)
    assert x.dtype == nerve.float32 and y == 7 and type(y) is int
    raw = ds.data.data[0].astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(x.data[0], (raw - np.float32(0.1307)) / np.float32(0.3081),
                               rtol=1e-6)
    assert ds.data.dtype == nerve.uint8 and tuple(ds.data.shape) == (10000, 28, 28)
    assert ds.targets.dtype == nerve.int64 and ds.targets[:3].tolist() == [7, 2, 1]
    assert "Dataset MNIST" in repr(ds) and "Split: Test" in repr(ds)
    assert not (tmp_path / "data").exists()  # found locally: nothing downloaded or created


@needs_mnist
def test_mnist_torchvision_layout(tmp_path):
    raw = tmp_path / "root" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (DATA / "mnist").glob("t10k-*.gz"):
        (raw / f.name).symlink_to(f)
    ds = datasets.MNIST(str(tmp_path / "root"), train=False, download=True)
    img, label = ds[1]
    assert isinstance(img, np.ndarray) and img.shape == (28, 28) and img.dtype == np.uint8
    assert label == 2
    assert ds.raw_folder == str(raw)


@needs_mnist
def test_dataloader_batches_equal_per_sample(monkeypatch):
    from nerve.data.collate import default_collate
    from nerve.utils.data import DataLoader

    monkeypatch.setenv("NERVE_DATA", str(DATA))
    tf = T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(None, train=False, transform=tf)
    idx_ = np.array([5, 0, 9999, 17])
    fast = ds._fetch_batch(idx_)
    slow = default_collate([ds[int(i)] for i in idx_])
    np.testing.assert_array_equal(fast[0].data, slow[0].data)
    assert fast[0].dtype == slow[0].dtype == nerve.float32
    np.testing.assert_array_equal(fast[1].data, slow[1].data)
    assert fast[1].dtype == slow[1].dtype == nerve.int64
    xb, yb = next(iter(DataLoader(ds, batch_size=64, shuffle=False)))
    assert tuple(xb.shape) == (64, 1, 28, 28) and tuple(yb.shape) == (64,)
    np.testing.assert_array_equal(yb.data, ds.targets.data[:64])
    raw_ds = datasets.MNIST(None, train=False)  # no transform: uint8 arrays, collated
    np.testing.assert_array_equal(raw_ds._fetch_batch(idx_)[0].data,
                                  default_collate([raw_ds[int(i)] for i in idx_])[0].data)
    ds.transform = T.Compose([T.RandomCrop(28, padding=2), T.ToTensor()])
    assert ds._fetch_batch(idx_) is NotImplemented  # random: sample by sample
    xb, yb = next(iter(DataLoader(ds, batch_size=8)))
    assert tuple(xb.shape) == (8, 1, 28, 28)


def test_not_found_without_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        datasets.MNIST(tmp_path / "r", train=True, download=False)
    assert str(tmp_path / "r" / "MNIST" / "raw") in str(e.value)


def test_fashion_mnist_small_files(tmp_path, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "RESOURCES",
                        {k: Resource(r.filename) for k, r in fashion_mnist.RESOURCES.items()})
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    y = np.array([9, 0, 0, 3, 0, 2], np.uint8)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(x)))
    (raw / "train-labels-idx1-ubyte").write_bytes(idx(y))
    ds = datasets.FashionMNIST(tmp_path, transform=T.ToTensor(), target_transform=lambda t: -t)
    img, label = ds[0]
    assert tuple(img.shape) == (1, 28, 28) and label == -9
    assert ds.classes[9] == "Ankle boot" and ds.class_to_idx["Bag"] == 8
    assert ds._fetch_batch(np.array([0])) is NotImplemented  # target_transform: per sample


def test_cifar10_small_files(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "RECORDS_PER_BATCH", 2)
    d = tmp_path / "cifar-10-batches-bin"
    d.mkdir()
    rng = np.random.default_rng(0)
    truth = {}
    for name in cifar10.TRAIN_FILES + cifar10.TEST_FILES:
        labels = rng.integers(0, 10, 2, dtype=np.uint8)
        images = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
        rec = np.concatenate([labels[:, None], images.transpose(0, 3, 1, 2).reshape(2, -1)], 1)
        (d / name).write_bytes(rec.astype(np.uint8).tobytes())
        truth[name] = images, labels
    tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize((0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261))])
    ds = datasets.CIFAR10(tmp_path, train=True, transform=tf)
    assert len(ds) == 10 and ds.data.shape == (10, 32, 32, 3) and ds.data.dtype == np.uint8
    assert ds.targets.dtype == np.int64
    x, y = ds[3]
    assert tuple(x.shape) == (3, 32, 32) and x.dtype == nerve.float32
    assert y == int(truth["data_batch_2.bin"][1][1])
    test = datasets.CIFAR10(tmp_path, train=False, transform=T.ToTensor())
    want = truth["test_batch.bin"][0][0].transpose(2, 0, 1) / np.float32(255)
    np.testing.assert_array_equal(test[0][0].data, want)
    batch = test._fetch_batch(np.array([1, 0]))
    assert tuple(batch[0].shape) == (2, 3, 32, 32)
    assert batch[1].tolist() == truth["test_batch.bin"][1][::-1].tolist()
