"""Gradient clipping: rescale or clamp ``.grad`` of parameters after ``backward()``.

Gradient arrays are replaced, never modified in place (the engine may share a gradient
array between tensors), so ``p.grad.data = p.grad.data * coef``.
"""
from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable

import numpy as np

from ... import _backend as B
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]


def _as_list(tensors) -> list:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _distinct_grads(params) -> list:
    """Each parameter's ``.grad`` Tensor once, even if two parameters hold the same one."""
    seen, out = set(), []
    for p in params:
        if id(p.grad) not in seen:
            seen.add(id(p.grad))
            out.append(p.grad)
    return out


def _norm_pow_sum(xp, g, p: float) -> float:
    """Σ|g|ᵖ accumulated in float64 (so float32 gradients lose no precision)."""
    if p == 2.0:
        return float(xp.sum(xp.square(g), dtype=np.float64))
    if p == 1.0:
        return float(xp.sum(xp.abs(g), dtype=np.float64))
    return float(xp.sum(xp.abs(g).astype(np.float64) ** p))


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """‖(t₁, t₂, ...)‖_p: the p-norm of all tensors' entries seen as one vector."""
    tensors = [t.data if isinstance(t, Tensor) else t for t in _as_list(tensors)]
    p = float(norm_type)
    if not tensors:
        return Tensor._wrap(np.asarray(0.0, dtype=np.float32))
    dt = tensors[0].dtype
    xps = [B.xp_of(t) for t in tensors]
    if p == math.inf:
        total = max((float(xp.abs(t).max()) if t.size else 0.0) for xp, t in zip(xps, tensors))
    elif p == 0.0:
        total = float(sum(int(xp.count_nonzero(t)) for xp, t in zip(xps, tensors)))
    else:
        total = sum(_norm_pow_sum(xp, t, p) for xp, t in zip(xps, tensors)) ** (1.0 / p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale "
                           "the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return Tensor._wrap(np.asarray(total, dtype=dt))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6))."""
    grads_of = [p for p in _as_list(parameters) if p.grad is not None]
    if not grads_of:
        return
    total = float(total_norm.item() if isinstance(total_norm, Tensor) else total_norm)
    coef = float(max_norm) / (total + 1e-6)
    if coef >= 1.0:  # the clamped coefficient is 1: nothing to do
        return
    for g in _distinct_grads(grads_of):
        g.data = g.data * g.data.dtype.type(coef)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Rescale gradients so their joint p-norm is at most ``max_norm``; return that norm.

    total = ‖(g₁, g₂, ...)‖_p over all parameters' gradients; each gᵢ is multiplied by
    min(1, max_norm / (total + 1e-6)). Returns ``total`` (before clipping) as a Tensor.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                          stacklevel=2)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total_norm)
    return total_norm


def clip_grad_norm(parameters, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Deprecated alias of :func:`clip_grad_norm_`."""
    warnings.warn("`nerve.nn.utils.clip_grad_norm` is deprecated in favor of "
                  "`nerve.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach=None) -> None:
    """Clamp every gradient entry to [-clip_value, clip_value]."""
    v = float(clip_value)
    for g in _distinct_grads(p for p in _as_list(parameters) if p.grad is not None):
        d = g.data
        g.data = g.xp.clip(d, d.dtype.type(-v), d.dtype.type(v))
