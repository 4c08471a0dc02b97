"""Real datasets: read from a local directory or downloaded with checksums into a cache.

Each loader's ``load_data(path=None, download=True)`` returns uint8 NumPy arrays shaped
like the originals. Files are looked up in ``path``, then ``$NERVE_DATA/<name>/``, then
the cache (``$NERVE_CACHE`` or ``~/.cache/nerve``), and downloaded only when missing.
See ``_download.py`` for the rules (mirrors, retries, atomic writes, no pickle).
"""
from . import cifar10, fashion_mnist, mnist
from ._download import (
                        DatasetError,
                        DatasetNotFoundError,
                        DownloadError,
                        Resource,
                        cache_dir,
                        search_dirs,
)
from ._idx import parse_idx
from ._preprocess import CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD, normalize, to_float

__all__ = ["mnist", "fashion_mnist", "cifar10", "normalize", "to_float", "parse_idx",
           "DatasetError", "DatasetNotFoundError", "DownloadError", "Resource", "cache_dir",
           "search_dirs", "MNIST_MEAN", "MNIST_STD", "CIFAR10_MEAN", "CIFAR10_STD"]
