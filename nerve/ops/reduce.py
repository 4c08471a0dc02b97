"""Reductions: sum, mean, max/min, var/std, logsumexp, prod, cumsum, argmax/argmin."""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..autograd import Function, _Mode, once_differentiable
from ..tensor import Tensor
from .elementwise import _float, div, exp, mul, sub, where
from .shape import _flat_positions, _norm_dim, expand, reshape, take_flat

W = Tensor._wrap
values_indices = namedtuple("values_indices", ["values", "indices"])


def _dims(dim, ndim):
    if dim is None:
        return None
    if ndim == 0:  # a 0-d tensor reduces over dim 0 / -1 to itself, as in torch
        for d in (dim if isinstance(dim, (tuple, list)) else (dim,)):
            _norm_dim(d, 0)
        return None
    if isinstance(dim, (tuple, list)):
        return tuple(sorted(_norm_dim(d, ndim) for d in dim))
    return (_norm_dim(dim, ndim),)


def _keep_shape(shape, dims):
    return tuple(1 if (dims is None or i in dims) else s for i, s in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.in_shape = x.data.shape
        ctx.dims = dims
        return x.data.sum(axis=dims, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):  # d sum = broadcast of g
        g = reshape(g, _keep_shape(ctx.in_shape, ctx.dims))
        return expand(g, ctx.in_shape), None, None


def sum(x: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:  # noqa: A001
    if dtype is not None:
        x = x.to(dtype)
    elif x.data.dtype.kind in "bi" and x.data.dtype != np.int64:
        x = x.to(np.int64)
    return Sum.apply(x, _dims(dim, x.ndim), keepdim)


def mean(x: Tensor, dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    if dtype is not None:
        x = x.to(dtype)
    if x.data.dtype.kind != "f":
        raise RuntimeError(f"mean(): expected a floating-point tensor, got {x.dtype}; "
                           "convert it with .float()")
    dims = _dims(dim, x.ndim)
    n = x.data.size if dims is None else int(np.prod([x.data.shape[d] for d in dims]))
    return mul(Sum.apply(x, dims, keepdim), 1.0 / n if n else float("nan"))


def var(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False,
        correction: int | None = None) -> Tensor:
    """Σ(x - mean)² / (N - correction); correction=1 (unbiased) by default, as in PyTorch."""
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dims = _dims(dim, x.ndim)
    n = x.data.size if dims is None else int(np.prod([x.data.shape[d] for d in dims]))
    d = sub(x, mean(x, dim=dims, keepdim=True))
    with np.errstate(divide="ignore", invalid="ignore"):  # N <= correction: inf/nan, as torch
        return div(Sum.apply(mul(d, d), dims, keepdim),
                   float(n - correction if n > correction else 0))


class SafeSqrt(Function):
    """√v for std and the 2-norm: like torch, the gradient is 0 (not inf·0) where √v = 0."""

    @staticmethod
    def forward(ctx, v):
        out = v.xp.sqrt(v.data)
        ctx.save_for_backward(v)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):  # d√v = dv / (2√v), masked where √v = 0
        (v,) = ctx.saved_tensors
        out = SafeSqrt.apply(v) if _Mode.enabled else W(ctx.out)
        with np.errstate(divide="ignore", invalid="ignore"):
            return where(W(out.data == 0), 0.0, div(g, mul(out, 2.0)))


def std(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False,
        correction: int | None = None) -> Tensor:
    """√var(x): the square root of :func:`var` with the same arguments."""
    return SafeSqrt.apply(var(x, dim, unbiased, keepdim, correction))


def var_mean(x: Tensor, dim=None, unbiased=None, keepdim=False, correction=None):
    return var(x, dim, unbiased, keepdim, correction), mean(x, dim, keepdim)


class AMax(Function):
    """max/min over dims; ties share the gradient evenly (as torch.amax)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, is_max):
        out = (x.data.max if is_max else x.data.min)(axis=dims, keepdims=True)
        ctx.save_for_backward(x)
        ctx.mask = x.data == out
        ctx.dims = dims
        return out if keepdim else out.reshape(
            tuple(s for i, s in enumerate(out.shape) if dims is not None and i not in dims))

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        m = ctx.mask
        w = m / m.sum(axis=ctx.dims, keepdims=True)
        g = reshape(g, _keep_shape(x.data.shape, ctx.dims))
        return mul(g, W(w.astype(g.data.dtype))), None, None, None


def amax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return AMax.apply(x, _dims(dim, x.ndim), keepdim, True)


def amin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return AMax.apply(x, _dims(dim, x.ndim), keepdim, False)


def _max_min(x, dim, keepdim, is_max, other=None):
    from .elementwise import maximum, minimum

    if isinstance(dim, Tensor):  # torch.max(a, b)
        return (maximum if is_max else minimum)(x, dim)
    if dim is None:
        return AMax.apply(x, None, False, is_max)
    d = _norm_dim(dim, x.ndim)
    idx = (np.argmax if is_max else np.argmin)(x.data, axis=d) if x.xp is np else \
        (x.xp.argmax if is_max else x.xp.argmin)(x.data, axis=d)
    idx_k = x.xp.expand_dims(idx, d)
    vals = take_flat(x, _flat_positions(x.data.shape, d, idx_k))
    if not keepdim:
        vals = reshape(vals, idx.shape)
        return values_indices(vals, W(idx.astype(np.int64)))
    return values_indices(vals, W(idx_k.astype(np.int64)))


def max(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    """Largest value; with ``dim``, a (values, indices) pair."""
    return _max_min(x, dim, keepdim, True)


def min(x: Tensor, dim=None, keepdim: bool = False):  # noqa: A001
    return _max_min(x, dim, keepdim, False)


def argmax(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    if dim is None:
        return W(np.asarray(x.data.argmax(), dtype=np.int64))
    d = _norm_dim(dim, x.ndim)
    out = x.data.argmax(axis=d)
    return W((x.xp.expand_dims(out, d) if keepdim else out).astype(np.int64))


def argmin(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    if dim is None:
        return W(np.asarray(x.data.argmin(), dtype=np.int64))
    d = _norm_dim(dim, x.ndim)
    out = x.data.argmin(axis=d)
    return W((x.xp.expand_dims(out, d) if keepdim else out).astype(np.int64))


def argsort(x: Tensor, dim: int = -1, descending: bool = False) -> Tensor:
    a = x.data
    if descending:  # negate where that's exact; bools and unsigned ints sort on their order
        a = -a if a.dtype.kind in "fi" else -a.astype(np.int64)
    return W(x.xp.argsort(a, axis=dim, kind="stable").astype(np.int64))


def sort(x: Tensor, dim: int = -1, descending: bool = False):
    idx = argsort(x, dim, descending)
    from .shape import gather

    return values_indices(gather(x, dim, idx), idx)


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    vals, idx = sort(x, dim, descending=largest)
    from .shape import narrow

    return values_indices(narrow(vals, dim, 0, k), narrow(idx, dim, 0, k))


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        d = x.data
        xp = x.xp
        m = d.max(axis=dims, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)
        with np.errstate(divide="ignore"):  # all -inf: log 0 = -inf, as torch
            out = xp.log(xp.exp(d - m).sum(axis=dims, keepdims=True)) + m
        ctx.save_for_backward(x)
        ctx.out = out
        ctx.dims = dims
        if not keepdim:
            out = out.reshape(tuple(s for i, s in enumerate(out.shape) if i not in dims))
        return out

    @staticmethod
    def backward(ctx, g):  # d lse = softmax(x) dx
        (x,) = ctx.saved_tensors
        out = logsumexp(x, ctx.dims, True) if _Mode.enabled else W(ctx.out)
        g = reshape(g, _keep_shape(x.data.shape, ctx.dims))
        return mul(g, exp(sub(x, out))), None, None


def logsumexp(x: Tensor, dim, keepdim: bool = False) -> Tensor:
    return LogSumExp.apply(_float(x), _dims(dim, x.ndim), keepdim)


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim):
        d = x.data
        ctx.save_for_backward(x)
        ctx.dim = dim
        if dim is None:
            return d.prod().reshape(()) if not keepdim else d.prod(keepdims=True)
        return d.prod(axis=dim, keepdims=keepdim)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # d Πx / dxᵢ = Π_{j≠i} xⱼ (exclusive cumulative products)
        (x,) = ctx.saved_tensors
        d = x.data
        dim = ctx.dim
        flat = dim is None
        if flat:
            d = d.reshape(-1)
            dim = 0
        xp = x.xp
        ones_shape = list(d.shape)
        ones_shape[dim] = 1
        one = xp.ones(ones_shape, dtype=d.dtype)
        left = xp.cumprod(xp.concatenate([one, d], axis=dim), axis=dim)
        left = xp.take(left, range(d.shape[dim]), axis=dim)
        rev = xp.flip(d, axis=dim)
        right = xp.cumprod(xp.concatenate([one, rev], axis=dim), axis=dim)
        right = xp.flip(xp.take(right, range(d.shape[dim]), axis=dim), axis=dim)
        others = left * right
        gd = g.data
        if flat:
            return (gd.reshape(()) * others).reshape(x.data.shape), None, None
        gd = gd if gd.ndim == d.ndim else xp.expand_dims(gd, dim)
        return gd * others, None, None


def prod(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    return Prod.apply(x, None if dim is None else _norm_dim(dim, x.ndim), keepdim)


class CumSum(Function):
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return x.xp.cumsum(x.data, axis=dim)

    @staticmethod
    def backward(ctx, g):  # reverse cumulative sum
        from .shape import flip

        return flip(cumsum(flip(g, ctx.dim), ctx.dim), ctx.dim), None


def cumsum(x: Tensor, dim: int) -> Tensor:
    return CumSum.apply(x, _norm_dim(dim, x.ndim))


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return W(x.xp.asarray(x.data.all(axis=_dims(dim, x.ndim), keepdims=keepdim)))


def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return W(x.xp.asarray(x.data.any(axis=_dims(dim, x.ndim), keepdims=keepdim)))


def count_nonzero(x: Tensor, dim=None) -> Tensor:
    return W(x.xp.asarray(x.xp.count_nonzero(x.data, axis=_dims(dim, x.ndim)), dtype=np.int64))


def norm(x: Tensor, p=2, dim=None, keepdim: bool = False) -> Tensor:
    from .elementwise import abs as _abs
    from .elementwise import pow as _pow

    if p in ("fro", 2):
        return SafeSqrt.apply(sum(mul(x, x), dim, keepdim))
    if p == 1:
        return sum(_abs(x), dim, keepdim)
    if p == float("inf"):
        return amax(_abs(x), dim, keepdim)
    return _pow(sum(_pow(_abs(x), p), dim, keepdim), 1.0 / p)
