"""Batch normalisation as one fused Function with a hand-written backward.

Per channel c, over the M = N·(spatial) values of the batch:

    training:  μ = mean(x),  σ² = mean((x - μ)²)   (biased; the running variance gets
               the unbiased M/(M-1)·σ², as PyTorch)
               running ← (1 - momentum)·running + momentum·batch statistic   (in place)
    eval:      μ, σ² = running_mean, running_var
    x̂ = (x - μ) / √(σ² + ε),   y = γ·x̂ + β

Backward (training; the batch statistics depend on x):

    dβ = Σ g,   dγ = Σ g·x̂,   dx = γ/√(σ²+ε) · (g - dβ/M - x̂·dγ/M)

and in eval mode dx = g·γ/√(σ²+ε). The channel axis is 1 (channels-first, PyTorch) or
the last one (channels-last, Keras); internally x is viewed as (N, C, L) or (M, C).
"""
from __future__ import annotations

import math

from ..autograd import Function, once_differentiable
from ..tensor import Tensor
from .conv import _channels_last, _xp
from .elementwise import _float


def _canon(a, cl: bool):
    """(N, C, *spatial) -> (N, C, L); channels-last or 2-D -> (M, C). No copy when possible."""
    xp = _xp(a)
    if cl or a.ndim == 2:
        return xp.ascontiguousarray(a).reshape(-1, a.shape[-1])
    return xp.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def _bshape(a3):
    """Broadcast shape of a per-channel vector against the canonical view."""
    return (1, -1, 1) if a3.ndim == 3 else (1, -1)


def _csum(a3):
    return a3.sum(axis=(0, 2)) if a3.ndim == 3 else a3.sum(axis=0)


def _cdot(a3, b3):
    """Σ a·b per channel without a temporary."""
    xp = _xp(a3)
    return xp.einsum("ncl,ncl->c", a3, b3) if a3.ndim == 3 else xp.einsum("mc,mc->c", a3, b3)


class BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps, cl):
        xd = x.data
        x3 = _canon(xd, cl)
        xp = _xp(x3)
        dt = x3.dtype
        bs = _bshape(x3)
        m = x3.size // x3.shape[1]
        w = None if weight is None else weight.data
        b = None if bias is None else bias.data
        if training:
            mean = _csum(x3) / dt.type(m)
            xhat = x3 - mean.reshape(bs)
            var = _cdot(xhat, xhat) / dt.type(m)
            invstd = 1 / xp.sqrt(var + dt.type(eps))
            xhat *= invstd.reshape(bs)
            if running_mean is not None:
                mo = float(momentum)
                rm, rv = running_mean.data, running_var.data
                rm *= rm.dtype.type(1 - mo)
                rm += (mean * dt.type(mo)).astype(rm.dtype, copy=False)
                rv *= rv.dtype.type(1 - mo)
                rv += (var * dt.type(mo * m / (m - 1))).astype(rv.dtype, copy=False)
            if w is None:
                y = xhat if b is None else xhat + b.reshape(bs)
            else:
                y = xhat * w.reshape(bs)
                if b is not None:
                    y += b.reshape(bs)
            ctx.xhat = xhat
        else:
            invstd = (1 / xp.sqrt(running_var.data + running_var.data.dtype.type(eps))).astype(dt)
            mu = running_mean.data.astype(dt, copy=False)
            scale = invstd if w is None else invstd * w
            shift = -mu * scale if b is None else b - mu * scale
            y = x3 * scale.reshape(bs)
            y += shift.reshape(bs)
            ctx.x3, ctx.mu = x3, mu
        ctx.invstd, ctx.w, ctx.training, ctx.m, ctx.shape = invstd, w, training, m, xd.shape
        ctx.cl = cl
        return y.reshape(xd.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # dx = γ/σ·(g - Σg/M - x̂·Σgx̂/M); dγ = Σgx̂; dβ = Σg
        nx, nw, nb = ctx.needs_input_grad[:3]
        g3 = _canon(g.data, ctx.cl)
        bs = _bshape(g3)
        dt = g3.dtype
        invstd, w = ctx.invstd, ctx.w
        k = invstd if w is None else invstd * w
        sg = _csum(g3)
        if ctx.training:
            xhat = ctx.xhat
            sgx = _cdot(g3, xhat)
            dx = None
            if nx:
                dx = g3 * k.reshape(bs)
                dx -= xhat * (k * sgx / dt.type(ctx.m)).reshape(bs)
                dx -= (k * sg / dt.type(ctx.m)).reshape(bs)
        else:
            sgx = (_cdot(g3, ctx.x3) - ctx.mu * sg) * invstd if nw else None
            dx = g3 * k.reshape(bs) if nx else None
        dx = None if dx is None else dx.reshape(ctx.shape)
        dw = sgx if nw else None
        db = sg if nb else None
        return dx, dw, db, None, None, None, None, None, None


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5,
               data_format: str = "channels_first") -> Tensor:
    """Batch normalisation over (N, C), (N, C, L), (N, C, H, W), ... (channel axis 1), or
    the channel axis last with ``data_format="channels_last"``.

    In training mode the batch statistics are used and ``running_mean``/``running_var``
    (if given) are updated in place: r ← (1 - momentum)·r + momentum·stat, with the
    unbiased batch variance. In eval mode the running statistics are used.
    """
    fn = "batch_norm"
    cl = _channels_last(data_format, fn)
    x = _float(input)
    if x.ndim < 2:
        raise RuntimeError(f"{fn}: expected an input with at least 2 dims (N, C, ...), got shape "
                           f"{tuple(x.shape)}")
    c = x.data.shape[-1] if cl else x.data.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            where = "last" if cl else "1"
            raise RuntimeError(f"{fn}: {name} has shape {tuple(t.shape)} but the input "
                               f"{tuple(x.shape)} has {c} channels (dim {where}); expected "
                               f"({c},)")
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: give both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise RuntimeError(f"{fn}: running_mean and running_var must be given in evaluation "
                           f"mode (training=False)")
    if training and x.data.size // max(c, 1) <= 1:
        raise ValueError(f"{fn}: expected more than 1 value per channel when training, got "
                         f"input of shape {tuple(x.shape)}")
    if weight is not None and weight.data.dtype != x.data.dtype:
        x = x.to(weight.data.dtype)
    if not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{fn}: eps must be a non-negative number, got {eps}")
    return BatchNorm.apply(x, weight, bias, running_mean, running_var, bool(training),
                           0.0 if momentum is None else float(momentum), float(eps), cl)


__all__ = ["batch_norm"]
