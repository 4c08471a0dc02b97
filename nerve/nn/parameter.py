"""Parameter: a Tensor that a Module registers as one of its learnable weights.

Assigning ``self.weight = Parameter(t)`` inside a Module adds it to ``parameters()``,
``state_dict()`` and the optimizer's reach. A Parameter is an ordinary nerve Tensor in
every other respect (all ops accept it and return plain Tensors).
"""
from __future__ import annotations

import copy

import numpy as np

from .. import _backend as B
from ..tensor import Tensor, _infer_array


def _array_of(data):
    """The array behind ``data`` without copying (Tensor or ndarray), else a new array."""
    if data is None:
        return np.empty((0,), dtype=B.default_np_dtype())
    if isinstance(data, Tensor):
        return data.data
    if isinstance(data, np.ndarray) or type(data).__module__.split(".")[0] == "cupy":
        return data
    return _infer_array(data)


class Parameter(Tensor):
    """A learnable tensor: ``requires_grad=True`` by default, shares ``data``'s memory.

    Args:
        data: a Tensor or array (shared, not copied) or Python data (copied into a new
            array of the default float dtype).
        requires_grad: whether gradients are accumulated into ``.grad`` (default True).
    """

    def __init__(self, data=None, requires_grad: bool = True) -> None:
        self.data = _array_of(data)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self.data.copy(), self.requires_grad)
        memo[id(self)] = out
        if self.grad is not None:
            out.grad = copy.deepcopy(self.grad, memo)
        return out


class Buffer(Tensor):
    """Marks a tensor to be registered as a buffer when assigned to a Module attribute.

    ``self.running_mean = Buffer(nerve.zeros(3))`` is ``self.register_buffer(
    "running_mean", nerve.zeros(3))``; ``persistent=False`` keeps it out of ``state_dict``.
    """

    def __init__(self, data=None, *, persistent: bool = True) -> None:
        self.data = _array_of(data)
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._hooks = None
        self.requires_grad = False
        self.persistent = persistent
