"""Layer normalisation as one fused op with a hand-written backward.

Over the last ``len(normalized_shape)`` dims (D values per row)::

    μ = mean(x),  σ² = mean((x - μ)²),  r = 1/√(σ² + ε),  x̂ = (x - μ)·r,  y = x̂·w + b

Backward, with ĝ = ∂y·w::

    ∂x = r · (ĝ - mean(ĝ) - x̂ · mean(ĝ·x̂)),   ∂w = Σ_rows ∂y·x̂,   ∂b = Σ_rows ∂y

When a graph of the backward is requested (``create_graph=True``) the same formula is
built from differentiable ops, so second derivatives (gradient penalties) work.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, _Mode
from ..tensor import Tensor

W = Tensor._wrap


def _moments(x2, eps):
    """(x - μ, 1/√(σ² + ε)) per row of a 2-D array."""
    d = x2.shape[1]
    mu = x2.mean(axis=1, keepdims=True)
    xc = x2 - mu
    var = np.einsum("ij,ij->i", xc, xc)[:, None]
    var *= x2.dtype.type(1.0 / d)
    var += x2.dtype.type(eps)
    rstd = np.sqrt(var, out=var)
    np.reciprocal(rstd, out=rstd)
    return xc, rstd


class LayerNormFn(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, ns, eps):
        xd = x.data
        d = math.prod(ns)
        x2 = xd.reshape(-1, d)
        xhat, rstd = _moments(x2, eps)
        xhat *= rstd
        train = any(ctx.needs_input_grad)
        if weight is not None:
            # inference: scale x̂ in place (it is not kept for backward)
            y = xhat * weight.data.reshape(-1) if train else \
                np.multiply(xhat, weight.data.reshape(-1), out=xhat)
            if bias is not None:
                y += bias.data.reshape(-1)
        elif bias is not None:
            y = xhat + bias.data.reshape(-1)
        else:
            y = xhat.copy() if train else xhat
        if not train:
            return y.reshape(xd.shape)
        ctx.save_for_backward(x, weight)
        ctx.xhat, ctx.rstd, ctx.d, ctx.ns, ctx.eps = xhat, rstd, d, ns, eps
        return y.reshape(xd.shape)

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        if _Mode.enabled:
            return _layer_norm_backward_graph(ctx, g, x, weight)
        nx, nw, nb = ctx.needs_input_grad[:3]
        d = ctx.d
        g2 = g.data.reshape(-1, d)
        xhat, rstd = ctx.xhat, ctx.rstd
        gx = gw = gb = None
        if nw:
            gw = np.einsum("ij,ij->j", g2, xhat).reshape(ctx.ns)
        if nb:
            gb = g2.sum(axis=0).reshape(ctx.ns)
        if nx:
            gh = g2 * weight.data.reshape(-1) if weight is not None else g2.copy()
            inv_d = g2.dtype.type(1.0 / d)
            m1 = gh.sum(axis=1, keepdims=True)
            m1 *= inv_d
            m2 = np.einsum("ij,ij->i", gh, xhat)[:, None]
            m2 *= inv_d
            gh -= m1
            gh -= xhat * m2
            gh *= rstd
            gx = gh.reshape(x.data.shape)
        return gx, gw, gb, None, None


def _layer_norm_backward_graph(ctx, g, x, weight):
    """The backward formula with differentiable ops (for create_graph=True)."""
    from .reduce import mean

    d = ctx.d
    shape = x.data.shape
    x2 = x.reshape(-1, d)
    g2 = g.reshape(-1, d)
    mu = mean(x2, 1, keepdim=True)
    xc = x2 - mu
    rstd = (mean(xc * xc, 1, keepdim=True) + ctx.eps) ** -0.5
    xhat = xc * rstd
    gh = g2 * weight.reshape(-1) if weight is not None else g2
    gx = (gh - mean(gh, 1, keepdim=True) - xhat * mean(gh * xhat, 1, keepdim=True)) * rstd
    nx, nw, nb = ctx.needs_input_grad[:3]
    gw = (g2 * xhat).sum(0).reshape(ctx.ns) if nw else None
    gb = g2.sum(0).reshape(ctx.ns) if nb else None
    return (gx.reshape(shape) if nx else None), gw, gb, None, None


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,  # noqa: A002
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims, then scale and shift."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    ns = tuple(int(s) for s in normalized_shape)
    shape = tuple(input.shape)
    if len(ns) == 0 or shape[len(shape) - len(ns):] != ns or len(ns) > len(shape):
        raise RuntimeError(f"layer_norm: expected input with shape [*, {', '.join(map(str, ns))}]"
                           f" (normalized_shape={list(ns)}), got input of shape {shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != ns:
            raise RuntimeError(f"layer_norm: {name} must have shape {ns} (normalized_shape), "
                               f"got {tuple(p.shape)}")
    if input.data.dtype.kind != "f":
        raise TypeError(f"layer_norm: expected a floating-point input, got {input.dtype}")
    if weight is not None and weight.data.dtype != input.data.dtype:
        raise TypeError(f"layer_norm: input dtype {input.dtype} does not match weight dtype "
                        f"{weight.dtype}")
    return LayerNormFn.apply(input, weight, bias, ns, float(eps))


__all__ = ["layer_norm"]
