"""Real datasets: read from a local directory or downloaded with checksums into a cache.

Each loader's ``load_data(path=None, download=True)`` returns uint8 NumPy arrays shaped
like the originals. Files are looked up in ``path``, then ``$NERVE_DATA/<name>/``, then
the cache (``$NERVE_CACHE`` or ``~/.cache/nerve``), and downloaded only when missing.
See ``_download.py`` for the rules (mirrors, retries, atomic writes, no pickle).
"""
from . import cifar10, fashion_mnist, imdb, mnist, movielens, text_corpora, timeseries
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
from .text_corpora import load_rt_polarity, load_tiny_shakespeare, load_uci_sentiment
from .timeseries import (
                        load_airline_passengers,
                        load_daily_min_temperatures,
                        load_monthly_sunspots,
                        load_series,
                        sliding_windows,
)

__all__ = ["mnist", "fashion_mnist", "cifar10", "normalize", "to_float", "parse_idx",
           "DatasetError", "DatasetNotFoundError", "DownloadError", "Resource", "cache_dir",
           "search_dirs", "MNIST_MEAN", "MNIST_STD", "CIFAR10_MEAN", "CIFAR10_STD", "imdb",
           "movielens", "text_corpora", "timeseries", "load_rt_polarity", "load_uci_sentiment",
           "load_tiny_shakespeare", "load_series", "load_airline_passengers",
           "load_daily_min_temperatures", "load_monthly_sunspots", "sliding_windows"]
