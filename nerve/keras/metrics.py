"""Keras metrics: stateful means over an epoch, and the accuracy variants.

``'accuracy'`` is resolved against the loss (categorical, sparse or binary), as Keras does.
"""
from __future__ import annotations

import numpy as np

from . import losses as L


def _np(x) -> np.ndarray:
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    return (_np(y_true).argmax(-1) == _np(y_pred).argmax(-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    t = _np(y_true)
    p = _np(y_pred)
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    return (t.astype(np.int64) == p.argmax(-1)).astype(np.float32)


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    t = _np(y_true)
    p = _np(y_pred)
    if t.shape != p.shape and t.size == p.size:
        t = t.reshape(p.shape)
    return ((p > threshold).astype(np.float32) == t).astype(np.float32).mean(-1)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    d = _np(y_pred) - _np(y_true).reshape(_np(y_pred).shape)
    return (d * d).mean(-1)


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    return np.abs(_np(y_pred) - _np(y_true).reshape(_np(y_pred).shape)).mean(-1)


class Metric:
    """A running weighted mean of per-sample values over an epoch."""

    def __init__(self, name: str, fn=None) -> None:
        self.name = name
        self.fn = fn
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    reset_states = reset_state

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        v = np.asarray(self.fn(y_true, y_pred), dtype=np.float64)
        if sample_weight is not None:
            w = np.broadcast_to(np.asarray(sample_weight, dtype=np.float64).reshape(
                v.shape[:1] + (1,) * (v.ndim - 1)), v.shape)
            self.total += float((v * w).sum())
            self.count += float(w.sum())
        else:
            self.total += float(v.sum())
            self.count += v.size

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class Mean(Metric):
    """Mean of scalar values, each weighted (e.g. batch loss weighted by batch size)."""

    def __init__(self, name: str = "mean") -> None:
        super().__init__(name)

    def update_state(self, value, sample_weight=1.0) -> None:
        self.total += float(value) * float(sample_weight)
        self.count += float(sample_weight)


class Accuracy(Metric):
    def __init__(self, name="accuracy") -> None:
        super().__init__(name, lambda t, p: (_np(t) == _np(p)).astype(np.float32))


class CategoricalAccuracy(Metric):
    def __init__(self, name="categorical_accuracy") -> None:
        super().__init__(name, categorical_accuracy)


class SparseCategoricalAccuracy(Metric):
    def __init__(self, name="sparse_categorical_accuracy") -> None:
        super().__init__(name, sparse_categorical_accuracy)


class BinaryAccuracy(Metric):
    def __init__(self, name="binary_accuracy", threshold=0.5) -> None:
        super().__init__(name, lambda t, p: binary_accuracy(t, p, threshold))


_FUNCS = {
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "binary_accuracy": binary_accuracy,
    "mse": mean_squared_error, "mean_squared_error": mean_squared_error,
    "mae": mean_absolute_error, "mean_absolute_error": mean_absolute_error,
}


def resolve(identifier, loss_fn, y_shape=None, pred_shape=None) -> Metric:
    """A Metric object for a name, function or Metric, resolving 'accuracy' against the loss."""
    if isinstance(identifier, Metric):
        return identifier
    if callable(identifier):
        return Metric(getattr(identifier, "__name__", "metric"), identifier)
    if not isinstance(identifier, str):
        raise ValueError(f"could not interpret metric {identifier!r}")
    name = identifier.lower()
    if name in ("accuracy", "acc"):
        lname = L.loss_name(loss_fn)
        if "sparse" in lname:
            fn = sparse_categorical_accuracy
        elif "binary" in lname or (pred_shape is not None and pred_shape[-1] == 1):
            fn = binary_accuracy
        elif "categorical" in lname:
            fn = categorical_accuracy
        else:
            fn = categorical_accuracy
        return Metric(identifier, fn)
    fn = _FUNCS.get(name)
    if fn is None:
        raise ValueError(f"unknown metric {identifier!r}; known: accuracy, {', '.join(_FUNCS)}")
    return Metric(identifier, fn)


def get(identifier):
    if isinstance(identifier, str) and identifier.lower() in _FUNCS:
        return _FUNCS[identifier.lower()]
    return identifier
