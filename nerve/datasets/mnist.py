"""MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 + 10,000 images 28x28 uint8.

``load_data()`` reads the four original IDX files from a local directory (the ``path``
argument, ``$NERVE_DATA/mnist``, the cache) or downloads them from the mirrors below,
verifies them, and returns ``((x_train, y_train), (x_test, y_test))`` as uint8 arrays
of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,) -- as Keras does.

Checksums: ``md5`` is the digest of the .gz as the mirrors serve it (torchvision's
``MNIST.resources``); ``raw_md5`` that of the uncompressed original (the MNIST README of
the shared data), which is what a local file is checked against, so a re-gzipped or
unzipped copy passes.
"""
from __future__ import annotations

import sys
from types import ModuleType

from ._download import DatasetError, Resource, cache_dir, fetch, read_file, search_dirs
from ._idx import parse_idx

NAME = "mnist"
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
RESOURCES = {
    "train_images": Resource("train-images-idx3-ubyte.gz", md5="f68b3c2dcbeaaa9fbdd348bbdeb94873",
                             raw_md5="6bbc9ace898e44ae57da46a324031adb"),
    "train_labels": Resource("train-labels-idx1-ubyte.gz", md5="d53e105ee54ea40749a09fcbcd1e9432",
                             raw_md5="a25bea736e30d166cdddb491f175f624"),
    "test_images": Resource("t10k-images-idx3-ubyte.gz", md5="9fb629c4189551a2d022fa330f9573f3",
                            raw_md5="2646ac647ad5339dbf082846283269ea"),
    "test_labels": Resource("t10k-labels-idx1-ubyte.gz", md5="ec29112dd5afa0611ce80d1b7f02629c",
                            raw_md5="27ae3e4e09519cfbb04c329615203637"),
}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
CLASSES = [str(i) for i in range(10)]


def load_split(spec: ModuleType, train: bool, path=None, download: bool = True,
               verify: bool = True, dirs=None, download_dir=None):
    """``(images, labels)`` of one split of an IDX dataset described by module ``spec``
    (its ``NAME``, ``MIRRORS``, ``RESOURCES``, ``IMAGE_SHAPE``, ``NUM_CLASSES``)."""
    split = "train" if train else "test"
    res = [spec.RESOURCES[f"{split}_images"], spec.RESOURCES[f"{split}_labels"]]
    if dirs is None:
        dirs = search_dirs(spec.NAME, path)
    if download_dir is None:
        download_dir = dirs[0] if path is not None else cache_dir(spec.NAME)
    paths = fetch(spec.NAME, res, spec.MIRRORS, dirs, download_dir, download)
    pi, pl = paths[res[0].filename], paths[res[1].filename]
    images = parse_idx(read_file(pi, res[0], verify), str(pi), ndim=3)
    labels = parse_idx(read_file(pl, res[1], verify), str(pl), ndim=1)
    if images.shape[1:] != tuple(spec.IMAGE_SHAPE):
        raise _bad(pi, f"images are {images.shape[1:]}, expected {tuple(spec.IMAGE_SHAPE)}")
    if images.shape[0] != labels.shape[0]:
        raise _bad(pl, f"{labels.shape[0]} labels for the {images.shape[0]} images of {pi}")
    if labels.size and int(labels.max()) >= spec.NUM_CLASSES:
        raise _bad(pl, f"label {int(labels.max())} out of range 0..{spec.NUM_CLASSES - 1}")
    return images, labels


def _bad(path, what) -> DatasetError:
    return DatasetError(f"{path}: {what}")


def load_data(path=None, download: bool = True, verify: bool = True):
    """``((x_train, y_train), (x_test, y_test))``, uint8 arrays like the originals.

    Args:
        path: directory holding the four IDX files (gzipped or not); default:
            ``$NERVE_DATA/mnist``, then the cache ``~/.cache/nerve/mnist``.
        download: fetch missing files from the official mirrors into ``path`` (or the cache).
        verify: check the md5 of the uncompressed files.

    Example:
        >>> (x, y), (xt, yt) = load_data()            # doctest: +SKIP
        >>> x.shape, x.dtype, y[:3]                   # doctest: +SKIP
        ((60000, 28, 28), dtype('uint8'), array([5, 0, 4], dtype=uint8))
    """
    spec = sys.modules[__name__]
    train = load_split(spec, True, path, download, verify)
    test = load_split(spec, False, path, download, verify)
    return train, test


__all__ = ["load_data", "load_split", "MIRRORS", "RESOURCES", "CLASSES"]
