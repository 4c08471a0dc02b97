"""``keras.datasets``: MNIST, Fashion-MNIST, CIFAR-10 and IMDB with Keras' return shapes.

They read the local data directory (``NERVE_DATA``) or nerve's cache before any
download (see ``nerve.datasets``).
"""
from . import cifar10, fashion_mnist, imdb, mnist

__all__ = ["mnist", "fashion_mnist", "cifar10", "imdb"]
