"""Keras initializers: callables ``init(shape, dtype) -> array`` with Keras' fan rules.

Fans: a (in, out) kernel has fan_in = in, fan_out = out; a conv kernel
(k..., in, out) multiplies both by the receptive field size.
"""
from __future__ import annotations

import math

import numpy as np

from ..random import _rng


def _fans(shape) -> tuple[float, float]:
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    rf = float(np.prod(shape[:-2]))
    return shape[-2] * rf, shape[-1] * rf


def _truncated_normal(shape, std, dtype, mean=0.0):
    rng = _rng()
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # redraw beyond two standard deviations, as Keras does
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return (out * std + mean).astype(dtype)


class Initializer:
    def __call__(self, shape, dtype=np.float32):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return dict(vars(self))


class Zeros(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    def __call__(self, shape, dtype=np.float32):
        return np.ones(shape, dtype=dtype)


class Constant(Initializer):
    def __init__(self, value=0.0) -> None:
        self.value = value

    def __call__(self, shape, dtype=np.float32):
        return np.full(shape, self.value, dtype=dtype)


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None) -> None:
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape, dtype=np.float32):
        return _rng().uniform(self.minval, self.maxval, shape).astype(dtype)


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None) -> None:
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=np.float32):
        return (_rng().standard_normal(shape) * self.stddev + self.mean).astype(dtype)


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None) -> None:
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape, dtype=np.float32):
        return _truncated_normal(shape, self.stddev, dtype, self.mean)


class VarianceScaling(Initializer):
    """scale / fan (fan_in, fan_out or their mean), drawn uniform, normal or truncated normal."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal",
                 seed=None) -> None:
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def __call__(self, shape, dtype=np.float32):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        var = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            lim = math.sqrt(3.0 * var)
            return _rng().uniform(-lim, lim, shape).astype(dtype)
        if self.distribution in ("truncated_normal", "normal") and self.distribution != "normal":
            return _truncated_normal(shape, math.sqrt(var) / 0.87962566103423978, dtype)
        return (_rng().standard_normal(shape) * math.sqrt(var)).astype(dtype)


class _Fixed(VarianceScaling):
    """A named variance-scaling rule: its config holds no arguments."""

    def get_config(self) -> dict:
        return {}


class GlorotUniform(_Fixed):
    def __init__(self, seed=None) -> None:
        super().__init__(1.0, "fan_avg", "uniform")


class GlorotNormal(_Fixed):
    def __init__(self, seed=None) -> None:
        super().__init__(1.0, "fan_avg", "truncated_normal")


class HeUniform(_Fixed):
    def __init__(self, seed=None) -> None:
        super().__init__(2.0, "fan_in", "uniform")


class HeNormal(_Fixed):
    def __init__(self, seed=None) -> None:
        super().__init__(2.0, "fan_in", "truncated_normal")


class LecunUniform(_Fixed):
    def __init__(self, seed=None) -> None:
        super().__init__(1.0, "fan_in", "uniform")


class LecunNormal(_Fixed):
    def __init__(self, seed=None) -> None:
        super().__init__(1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    def __init__(self, gain=1.0, seed=None) -> None:
        self.gain = gain

    def __call__(self, shape, dtype=np.float32):
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        cols = shape[-1]
        a = _rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q[:rows, :cols]).reshape(shape).astype(dtype)


class Identity(Initializer):
    def __init__(self, gain=1.0) -> None:
        self.gain = gain

    def __call__(self, shape, dtype=np.float32):
        return (self.gain * np.eye(*shape)).astype(dtype)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant, "random_uniform": RandomUniform,
    "random_normal": RandomNormal, "truncated_normal": TruncatedNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
    "orthogonal": Orthogonal, "identity": Identity, "variance_scaling": VarianceScaling,
}

zeros, ones = Zeros, Ones
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal = HeUniform, HeNormal


def get(identifier):
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown initializer {identifier!r}; known: {sorted(_BY_NAME)}")
        return cls()
    if isinstance(identifier, dict):
        return _BY_NAME[_snake(identifier["class_name"])](**identifier.get("config", {}))
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret initializer {identifier!r}")


def _snake(name: str) -> str:
    out = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    return out


def serialize(init) -> dict | None:
    if init is None:
        return None
    return {"class_name": type(init).__name__, "config": init.get_config()}
