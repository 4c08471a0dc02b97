"""Collation: turn a list of samples into one batch, exactly as PyTorch's default_collate.

By the type of the first sample ``elem``:

=========================  ================================================================
Tensor                     stacked along a new first dimension (dtype kept)
NumPy array                stacked into a Tensor, dtype kept (float64 stays float64)
NumPy scalar               a 1-D Tensor of that dtype
Python float               a float64 Tensor (PyTorch's rule -- not the float32 default)
Python int / bool          an int64 / bool Tensor
str, bytes                 the list unchanged
Mapping                    the same mapping type, each key collated over the batch
namedtuple                 the same namedtuple, each field collated
tuple                      a *list* with each position collated (so ``x, y = batch``)
list / other Sequence      the same sequence type, each position collated
=========================  ================================================================

Anything else (None, custom objects) raises TypeError, as in PyTorch.
"""
from __future__ import annotations

import collections.abc as abc
import copy

import numpy as np

from .. import _backend as B
from ..tensor import Tensor

W = Tensor._wrap

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def _is_str_obj(dt: np.dtype) -> bool:
    return dt.kind in "SUOV"


def _stack_tensors(batch) -> Tensor:
    s0 = batch[0].shape
    for i, t in enumerate(batch):
        if not isinstance(t, Tensor):
            raise TypeError(f"default_collate: sample 0 is a Tensor but sample {i} is "
                            f"{type(t).__name__}")
        if t.shape != s0:
            raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, "
                               f"but got {tuple(s0)} at entry 0 and {tuple(t.shape)} at entry {i}")
    if any(t.requires_grad for t in batch):
        from ..ops.shape import stack

        return stack(batch, 0)
    return W(batch[0].xp.stack([t.data for t in batch]))


def _stack_arrays(batch) -> Tensor:
    s0 = batch[0].shape
    for i, a in enumerate(batch):
        if not isinstance(a, np.ndarray) or a.shape != s0:
            got = tuple(a.shape) if isinstance(a, np.ndarray) else type(a).__name__
            raise RuntimeError(f"default_collate: stack expects each array to be equal size, "
                               f"but got {tuple(s0)} at entry 0 and {got} at entry {i}")
    return W(np.stack(batch))


def _numbers(batch) -> Tensor:
    arr = np.asarray(batch)
    if arr.dtype.kind in "iu":
        arr = arr.astype(np.int64, copy=False)
    elif arr.dtype.kind == "f":  # ints mixed with floats: torch.tensor's default float dtype
        arr = arr.astype(B.default_np_dtype(), copy=False)
    return W(arr)


def _sequence(elem, results):
    """Rebuild a sequence of ``elem``'s type from per-position results (PyTorch's rules)."""
    if isinstance(elem, tuple):
        return results  # a list, for backwards compatibility (PyTorch does the same)
    try:
        if isinstance(elem, abc.MutableSequence):
            clone = copy.copy(elem)
            for i, r in enumerate(results):
                clone[i] = r
            return clone
        return type(elem)(results)
    except TypeError:
        return results


def _mapping(elem, results: dict):
    if isinstance(elem, abc.MutableMapping):
        clone = copy.copy(elem)
        clone.update(results)
        return clone
    try:
        return type(elem)(results)
    except TypeError:
        return results


def default_collate(batch):
    """Collate a list of samples into a batch (see the module docstring for the rules)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        if _is_str_obj(elem.dtype):
            raise TypeError(_ERR.format(elem.dtype))
        return _stack_arrays(batch)
    if isinstance(elem, (np.bool_, np.number)):
        return W(np.asarray(batch))
    if isinstance(elem, float):
        return W(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):  # bool included: a list of bools gives a bool tensor
        return _numbers(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, abc.Mapping):
        return _mapping(elem, {k: default_collate([d[k] for d in batch]) for k in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, abc.Sequence):
        n = len(elem)
        if any(len(e) != n for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return _sequence(elem, [default_collate(list(s)) for s in zip(*batch)])
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """Without batching: NumPy arrays and scalars become Tensors, containers are walked."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _is_str_obj(data.dtype) else W(data)
    if isinstance(data, (np.bool_, np.number)):
        return W(np.asarray(data))
    if isinstance(data, (str, bytes)):
        return data
    if isinstance(data, abc.Mapping):
        return _mapping(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, abc.Sequence):
        return _sequence(data, [default_convert(d) for d in data])
    return data


__all__ = ["default_collate", "default_convert"]
