"""Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum."""
from __future__ import annotations

from ... import ops
from ..engine import Layer


class _Merge(Layer):
    def _check(self, inputs) -> list:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) must be called on a "
                             f"list of at least 2 inputs")
        return list(inputs)

    def _same_shapes(self, xs) -> None:
        shapes = {tuple(x.shape[1:]) for x in xs}
        if len(shapes) > 1:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) needs inputs of the "
                             f"same shape, got {[tuple(x.shape) for x in xs]}")


class Concatenate(_Merge):
    def __init__(self, axis: int = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        return ops.cat(self._check(inputs), self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Add(_Merge):
    def call(self, inputs):
        xs = self._check(inputs)
        self._same_shapes(xs)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Subtract(_Merge):
    def call(self, inputs):
        xs = self._check(inputs)
        if len(xs) != 2:
            raise ValueError(f"layer {self.name!r} (Subtract) takes exactly 2 inputs")
        return xs[0] - xs[1]


class Multiply(_Merge):
    def call(self, inputs):
        xs = self._check(inputs)
        self._same_shapes(xs)
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Average(Add):
    def call(self, inputs):
        return super().call(inputs) * (1.0 / len(inputs))


class Maximum(_Merge):
    def call(self, inputs):
        xs = self._check(inputs)
        out = xs[0]
        for x in xs[1:]:
            out = ops.maximum(out, x)
        return out


class Minimum(_Merge):
    def call(self, inputs):
        xs = self._check(inputs)
        out = xs[0]
        for x in xs[1:]:
            out = ops.minimum(out, x)
        return out


def concatenate(inputs, axis=-1, **kwargs):
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs, **kwargs):
    return Add(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    return Average(**kwargs)(inputs)
