"""Tensor creation: from data, constant fills, ranges and random draws (float32 default)."""
from __future__ import annotations

import numpy as np

from . import _backend as B
from .random import _rng
from .tensor import Tensor, _infer_array

W = Tensor._wrap


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _finish(arr, requires_grad: bool, device) -> Tensor:
    if device is not None and B.device(device).type != "cpu":
        arr = B.get_xp(device).asarray(arr)
    t = W(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dt(dtype):
    return B.default_np_dtype() if dtype is None else B.as_np_dtype(dtype)


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor copying ``data`` (Python floats become float32, ints int64)."""
    arr = _infer_array(data, dtype)
    if isinstance(data, (np.ndarray, Tensor)) or arr is data:
        arr = arr.copy()
    return _finish(arr, requires_grad, device)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    if isinstance(data, Tensor) and dtype is None:
        return data
    return _finish(_infer_array(data, dtype), False, device)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with a NumPy array (dtype kept)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(arr).__name__}")
    return W(arr)


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.zeros(_size(size), dtype=_float_dt(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.ones(_size(size), dtype=_float_dt(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(np.empty(_size(size), dtype=_float_dt(dtype)), requires_grad, device)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if dtype is None:
        dtype = _infer_array(fill_value).dtype
    return _finish(np.full(_size((size,)), fill_value, dtype=B.as_np_dtype(dtype)),
                   requires_grad, device)


def _like(x: Tensor, dtype):
    return x.data.dtype if dtype is None else B.as_np_dtype(dtype)


def zeros_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(x.xp.zeros(x.data.shape, dtype=_like(x, dtype)), requires_grad, device)


def ones_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(x.xp.ones(x.data.shape, dtype=_like(x, dtype)), requires_grad, device)


def empty_like(x: Tensor, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _finish(x.xp.empty(x.data.shape, dtype=_like(x, dtype)), requires_grad, device)


def full_like(x: Tensor, fill_value, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    return _finish(x.xp.full(x.data.shape, fill_value, dtype=_like(x, dtype)), requires_grad,
                   device)


def arange(start, end=None, step=1, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values in [start, end) spaced by step; int64 for integer arguments, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if is_int else B.default_np_dtype()
    return _finish(np.arange(start, end, step, dtype=B.as_np_dtype(dtype)), requires_grad, device)


def linspace(start, end, steps: int, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    return _finish(np.linspace(start, end, int(steps)).astype(_float_dt(dtype)), requires_grad,
                   device)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None) -> Tensor:
    return _finish(np.logspace(start, end, int(steps), base=base).astype(_float_dt(dtype)), False,
                   device)


def eye(n: int, m: int | None = None, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    return _finish(np.eye(n, m, dtype=_float_dt(dtype)), requires_grad, device)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    dt = _float_dt(dtype)
    arr = _rng(generator).random(_size(size), dtype=dt if dt != np.float16 else np.float32)
    return _finish(arr.astype(dt, copy=False), requires_grad, device)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    dt = _float_dt(dtype)
    arr = _rng(generator).standard_normal(_size(size), dtype=dt if dt != np.float16
                                          else np.float32)
    return _finish(arr.astype(dt, copy=False), requires_grad, device)


def randint(low, high=None, size=(), generator=None, dtype=None, device=None) -> Tensor:
    """Integers in [low, high) (int64)."""
    if high is None:
        low, high = 0, low
    dt = np.int64 if dtype is None else B.as_np_dtype(dtype)
    size = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    return _finish(_rng(generator).integers(low, high, size=size).astype(dt), False, device)


def randperm(n: int, generator=None, dtype=None, device=None) -> Tensor:
    return _finish(_rng(generator).permutation(n).astype(np.int64), False, device)


def rand_like(x: Tensor, dtype=None) -> Tensor:
    return rand(x.shape, dtype=_like(x, dtype))


def randn_like(x: Tensor, dtype=None) -> Tensor:
    return randn(x.shape, dtype=_like(x, dtype))


def randint_like(x: Tensor, low, high=None) -> Tensor:
    return randint(low, high, tuple(x.shape))


def bernoulli(p: Tensor, generator=None) -> Tensor:
    u = _rng(generator).random(p.data.shape)
    return W((u < p.data).astype(p.data.dtype))


def multinomial(probs: Tensor, num_samples: int, replacement: bool = False,
                generator=None) -> Tensor:
    """Draw category indices from (rows of) non-negative weights."""
    p = np.asarray(probs.numpy(), dtype=np.float64)
    rows = p.reshape(-1, p.shape[-1])
    rng = _rng(generator)
    out = np.stack([rng.choice(rows.shape[1], size=num_samples, replace=replacement,
                               p=r / r.sum()) for r in rows])
    return W(out.reshape(p.shape[:-1] + (num_samples,)).astype(np.int64))


def normal(mean=0.0, std=1.0, size=None, generator=None) -> Tensor:
    if size is None:
        shape = np.broadcast_shapes(np.shape(getattr(mean, "data", mean)),
                                    np.shape(getattr(std, "data", std)))
    else:
        shape = tuple(size)
    m = mean.data if isinstance(mean, Tensor) else mean
    s = std.data if isinstance(std, Tensor) else std
    z = _rng(generator).standard_normal(shape, dtype=np.float32)
    return W((z * s + m).astype(np.float32))
