"""Fashion-MNIST (Xiao, Rasul, Vollgraf 2017, Zalando Research): 60,000 + 10,000
grayscale 28x28 images of 10 kinds of clothing, in MNIST's IDX format.

``load_data()`` works exactly like :func:`nerve.datasets.mnist.load_data` (folder
``fashion_mnist/`` under ``NERVE_DATA`` or the cache). Checksums are the md5s of the
.gz files as served, published in the Fashion-MNIST README and used by torchvision's
``FashionMNIST.resources``; no digest of the uncompressed files is published, so a
re-compressed local copy needs ``verify=False`` (the strict parser still checks it).
"""
from __future__ import annotations

import sys

from ._download import Resource
from .mnist import load_split

NAME = "fashion_mnist"
MIRRORS = [
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
]
RESOURCES = {
    "train_images": Resource("train-images-idx3-ubyte.gz", md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train_labels": Resource("train-labels-idx1-ubyte.gz", md5="25c81989df183df01b3e8a0aad5dffbe"),
    "test_images": Resource("t10k-images-idx3-ubyte.gz", md5="bef4ecab320f06d8554ea6380940ec79"),
    "test_labels": Resource("t10k-labels-idx1-ubyte.gz", md5="bb300cfdad3c16e7a12a480ee83cd310"),
}
IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


def load_data(path=None, download: bool = True, verify: bool = True):
    """``((x_train, y_train), (x_test, y_test))``: uint8 (60000, 28, 28), (60000,),
    (10000, 28, 28), (10000,). Arguments as in :func:`nerve.datasets.mnist.load_data`."""
    spec = sys.modules[__name__]
    return (load_split(spec, True, path, download, verify),
            load_split(spec, False, path, download, verify))


__all__ = ["load_data", "MIRRORS", "RESOURCES", "CLASSES"]
