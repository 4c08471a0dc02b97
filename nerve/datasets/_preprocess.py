"""Turning the uint8 images of a loader into network inputs.

``to_float(x) = x / 255`` as float32 in [0, 1]; ``normalize(x, mean, std) =
(to_float(x) - mean) / std`` with mean/std a scalar or one value per channel (the last
axis: the loaders' arrays are channels-last). Both stay float32: a float64 array would
double memory and slow every layer after it.
"""
from __future__ import annotations

import numpy as np

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def to_float(x) -> np.ndarray:
    """uint8 -> float32 in [0, 1] (x / 255); float input is returned as float32 unchanged."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        out = x.astype(np.float32)
        out /= np.float32(255.0)
        return out
    if x.dtype.kind != "f":
        raise TypeError(f"nerve.datasets.to_float: expected uint8 or float images, got {x.dtype}")
    return x.astype(np.float32, copy=False)


def normalize(x, mean, std) -> np.ndarray:
    """``(to_float(x) - mean) / std`` in float32; mean/std scalars or per last-axis channel.

    Example:
        >>> normalize(np.array([[0, 255]], np.uint8), 0.5, 0.5)
        array([[-1.,  1.]], dtype=float32)
    """
    out = to_float(x)
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    for nm, v in (("mean", mean), ("std", std)):
        if v.ndim > 1 or (v.ndim == 1 and v.shape[0] not in (1, out.shape[-1] if out.ndim else 1)):
            raise ValueError(f"nerve.datasets.normalize: {nm} has shape {v.shape}, expected a "
                             f"scalar or one value per channel (last axis of {out.shape})")
    if np.any(std == 0):
        raise ValueError("nerve.datasets.normalize: std contains 0, division by zero")
    if out is x:
        out = out.copy()
    out -= mean
    out /= std
    return out
