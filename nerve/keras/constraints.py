"""Weight constraints applied after each update: max_norm, non_neg, unit_norm, min_max_norm."""
from __future__ import annotations

import numpy as np


class Constraint:
    def __call__(self, w):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))


class MaxNorm(Constraint):
    """Rescale so the norm along ``axis`` (the input axis of a kernel) is at most max_value."""

    def __init__(self, max_value: float = 2.0, axis: int = 0) -> None:
        self.max_value, self.axis = max_value, axis

    def __call__(self, w):
        n = np.sqrt((w * w).sum(axis=self.axis, keepdims=True))
        d = np.clip(n, 0, self.max_value)
        return (w * (d / (1e-7 + n))).astype(w.dtype)


class NonNeg(Constraint):
    def __call__(self, w):
        return w * (w >= 0)


class UnitNorm(Constraint):
    def __init__(self, axis: int = 0) -> None:
        self.axis = axis

    def __call__(self, w):
        return (w / (1e-7 + np.sqrt((w * w).sum(axis=self.axis, keepdims=True)))).astype(w.dtype)


class MinMaxNorm(Constraint):
    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0) -> None:
        self.min_value, self.max_value, self.rate, self.axis = min_value, max_value, rate, axis

    def __call__(self, w):
        n = np.sqrt((w * w).sum(axis=self.axis, keepdims=True))
        d = self.rate * np.clip(n, self.min_value, self.max_value) + (1 - self.rate) * n
        return (w * (d / (1e-7 + n))).astype(w.dtype)


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm


def get(identifier):
    if identifier is None or isinstance(identifier, Constraint) or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        return {"max_norm": MaxNorm, "non_neg": NonNeg, "unit_norm": UnitNorm,
                "min_max_norm": MinMaxNorm}[identifier.lower()]()
    if isinstance(identifier, dict):
        cls = {"MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm,
               "MinMaxNorm": MinMaxNorm}[identifier["class_name"]]
        return cls(**identifier.get("config", {}))
    raise ValueError(f"could not interpret constraint {identifier!r}")


def serialize(c) -> dict | None:
    return None if c is None else {"class_name": type(c).__name__, "config": c.get_config()}
