"""torchvision-compatible names: ``nerve.vision.datasets.MNIST``, ``nerve.vision.transforms``.

``import nerve.vision as torchvision`` lets torchvision code run unchanged for the
datasets (MNIST, FashionMNIST, CIFAR10) and transforms nerve provides.
"""
from . import datasets, transforms

__all__ = ["datasets", "transforms"]
