"""Keras activation functions by name, on nerve tensors."""
from __future__ import annotations

from .. import ops
from ..tensor import Tensor


def linear(x: Tensor) -> Tensor:
    return x


def relu(x: Tensor, negative_slope: float = 0.0, max_value=None, threshold: float = 0.0):
    if negative_slope:
        out = ops.leaky_relu(x, negative_slope)
    else:
        out = ops.relu(x)
    if max_value is not None:
        out = out.clamp(max=max_value)
    return out


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    out = ops.softmax(x, axis)
    out.__dict__["_keras_logits"] = ("softmax", x)
    return out


def sigmoid(x: Tensor) -> Tensor:
    out = ops.sigmoid(x)
    out.__dict__["_keras_logits"] = ("sigmoid", x)
    return out


def tanh(x: Tensor) -> Tensor:
    return ops.tanh(x)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    return ops.elu(x, alpha)


def selu(x: Tensor) -> Tensor:
    return ops.elu(x, 1.6732632423543772) * 1.0507009873554805


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    return ops.gelu(x, "tanh" if approximate else "none")


def silu(x: Tensor) -> Tensor:
    return ops.silu(x)


swish = silu


def softplus(x: Tensor) -> Tensor:
    return ops.softplus(x)


def softsign(x: Tensor) -> Tensor:
    return x / (x.abs() + 1.0)


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    return ops.leaky_relu(x, negative_slope)


def hard_sigmoid(x: Tensor) -> Tensor:
    return (x * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0)


def exponential(x: Tensor) -> Tensor:
    return x.exp()


_BY_NAME = {f.__name__: f for f in (linear, relu, softmax, sigmoid, tanh, elu, selu, gelu, silu,
                                     softplus, softsign, leaky_relu, hard_sigmoid, exponential)}
_BY_NAME["swish"] = silu


def get(identifier):
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = _BY_NAME.get(identifier.lower())
        if fn is None:
            raise ValueError(f"unknown activation {identifier!r}; known: {sorted(_BY_NAME)}")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret activation {identifier!r}")


def serialize(fn) -> str:
    name = getattr(fn, "__name__", None)
    if name not in _BY_NAME:
        raise ValueError(f"activation {fn!r} is not a named Keras activation and can't be saved")
    return name
