"""Keras losses: per-sample values averaged over the last axis, then over the batch.

Probabilistic losses clip probabilities to [ε, 1-ε] (ε = 1e-7) as Keras does. When the
prediction came out of a softmax/sigmoid activation, the logits it was computed from
are used instead (``_keras_logits``), which is what TensorFlow's Keras does too: the
same loss, computed stably and with a direct gradient.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..tensor import Tensor

EPSILON = 1e-7


def _t(x, ref: Tensor | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f" and ref is not None:
        arr = arr.astype(ref.data.dtype, copy=False)
    return Tensor._wrap(arr)


def _logits(y_pred: Tensor, kind: str):
    d = getattr(y_pred, "__dict__", None)
    if d:
        lg = d.get("_keras_logits")
        if lg is not None and lg[0] == kind:
            return lg[1]
    return None


def _check_same_shape(name, y_true, y_pred):
    if tuple(y_true.shape) != tuple(y_pred.shape):
        if y_true.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1 and \
                tuple(y_true.shape) == tuple(y_pred.shape[:-1]):
            return y_true.reshape(tuple(y_pred.shape))
        raise ValueError(f"{name}: y_true has shape {tuple(y_true.shape)} but y_pred has shape "
                         f"{tuple(y_pred.shape)}; they must match"
                         + (" (integer class labels need sparse_categorical_crossentropy, or "
                            "one-hot encode them with keras.utils.to_categorical)"
                            if name == "categorical_crossentropy" and y_true.ndim < y_pred.ndim
                            else ""))
    return y_true


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """-Σ y_true · log(y_pred) over the class axis (one-hot or soft targets)."""
    y_pred = _t(y_pred)
    y_true = _check_same_shape("categorical_crossentropy", _t(y_true, y_pred), y_pred)
    y_true = y_true.to(y_pred.data.dtype)
    if label_smoothing:
        n = y_pred.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / n
    logits = y_pred if from_logits else _logits(y_pred, "softmax")
    if logits is not None:
        return -(y_true * ops.log_softmax(logits, axis)).sum(axis)
    p = y_pred / y_pred.sum(axis, keepdim=True)
    p = p.clamp(EPSILON, 1.0 - EPSILON)
    return -(y_true * p.log()).sum(axis)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                                    ignore_class=None, axis: int = -1) -> Tensor:
    """-log y_pred[label] with integer labels."""
    y_pred = _t(y_pred)
    y_true = _t(y_true)
    lab = y_true.data
    if lab.ndim == y_pred.ndim and lab.shape[-1] == 1:
        lab = lab[..., 0]
    if lab.dtype.kind == "f":
        if not np.all(lab == np.round(lab)):
            raise ValueError("sparse_categorical_crossentropy: y_true must hold integer class "
                             "labels; for one-hot targets use categorical_crossentropy")
        lab = lab.astype(np.int64)
    if tuple(lab.shape) != tuple(y_pred.shape[:-1]):
        raise ValueError(f"sparse_categorical_crossentropy: labels of shape {tuple(y_true.shape)} "
                         f"don't fit predictions of shape {tuple(y_pred.shape)} (expected "
                         f"{tuple(y_pred.shape[:-1])}); for one-hot targets use "
                         f"categorical_crossentropy")
    lab = lab.astype(np.int64, copy=False)
    logits = y_pred if from_logits else _logits(y_pred, "softmax")
    c = y_pred.shape[-1]
    if logits is None:
        p = y_pred / y_pred.sum(-1, keepdim=True)
        logits = p.clamp(EPSILON, 1.0 - EPSILON).log()
    flat = logits.reshape(-1, c)
    ign = -100 if ignore_class is None else ignore_class
    loss = ops.cross_entropy(flat, Tensor._wrap(lab.reshape(-1)), reduction="none",
                             ignore_index=ign)
    return loss.reshape(lab.shape)


def binary_crossentropy(y_true, y_pred, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """-(y log p + (1-y) log(1-p)), averaged over the last axis."""
    y_pred = _t(y_pred)
    y_true = _check_same_shape("binary_crossentropy", _t(y_true, y_pred), y_pred)
    y_true = y_true.to(y_pred.data.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    logits = y_pred if from_logits else _logits(y_pred, "sigmoid")
    if logits is not None:
        x = logits
        loss = ops.relu(x) - x * y_true + ops.log1p(ops.exp(-x.abs()))
    else:
        p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
        loss = -(y_true * p.log() + (1.0 - y_true) * (1.0 - p).log())
    return loss.mean(axis)


def mean_squared_error(y_true, y_pred) -> Tensor:
    y_pred = _t(y_pred)
    y_true = _check_same_shape("mean_squared_error", _t(y_true, y_pred), y_pred)
    d = y_pred - y_true
    return (d * d).mean(-1)


def mean_absolute_error(y_true, y_pred) -> Tensor:
    y_pred = _t(y_pred)
    y_true = _check_same_shape("mean_absolute_error", _t(y_true, y_pred), y_pred)
    return (y_pred - y_true).abs().mean(-1)


def huber(y_true, y_pred, delta: float = 1.0) -> Tensor:
    """½d² where |d| ≤ δ, else δ(|d| - ½δ); averaged over the last axis."""
    y_pred = _t(y_pred)
    y_true = _check_same_shape("huber", _t(y_true, y_pred), y_pred)
    a = (y_pred - y_true).abs()
    q = a.clamp(max=delta)
    return (0.5 * q * q + delta * (a - q)).mean(-1)


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
huber_loss = huber


class Loss:
    """A loss object: ``__call__(y_true, y_pred, sample_weight)`` reduces to a scalar."""

    fn = None

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None,
                 **kwargs) -> None:
        self.reduction = reduction
        self.name = name or _snake(type(self).__name__)
        self.kwargs = kwargs

    def call(self, y_true, y_pred) -> Tensor:
        return type(self).fn(y_true, y_pred, **self.kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None) -> Tensor:
        return reduce_loss(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction, **self.kwargs}


def reduce_loss(values: Tensor, sample_weight=None, reduction="sum_over_batch_size") -> Tensor:
    if sample_weight is not None:
        sw = _t(sample_weight, values)
        while sw.ndim < values.ndim:
            sw = sw.unsqueeze(-1)
        values = values * sw.to(values.data.dtype)
    if reduction in ("none", None):
        return values
    if reduction == "sum":
        return values.sum()
    return values.mean() if values.data.size else values.sum()


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


class CategoricalCrossentropy(Loss):
    fn = staticmethod(categorical_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, **kw) -> None:
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
                         **kw)


class SparseCategoricalCrossentropy(Loss):
    fn = staticmethod(sparse_categorical_crossentropy)

    def __init__(self, from_logits=False, ignore_class=None, **kw) -> None:
        super().__init__(from_logits=from_logits, ignore_class=ignore_class, **kw)


class BinaryCrossentropy(Loss):
    fn = staticmethod(binary_crossentropy)

    def __init__(self, from_logits=False, label_smoothing=0.0, **kw) -> None:
        super().__init__(from_logits=from_logits, label_smoothing=label_smoothing, **kw)


class MeanSquaredError(Loss):
    fn = staticmethod(mean_squared_error)


class MeanAbsoluteError(Loss):
    fn = staticmethod(mean_absolute_error)


class Huber(Loss):
    fn = staticmethod(huber)

    def __init__(self, delta=1.0, **kw) -> None:
        super().__init__(delta=delta, **kw)


_BY_NAME = {
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "binary_crossentropy": binary_crossentropy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "huber": huber, "huber_loss": huber,
}


def get(identifier):
    """A loss callable from a name, a function or a Loss object."""
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(f"unknown loss {identifier!r}; known: {sorted(_BY_NAME)}")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret loss {identifier!r}")


def loss_name(fn) -> str:
    if isinstance(fn, Loss):
        return _snake(type(fn).__name__)
    return getattr(fn, "__name__", str(fn))
