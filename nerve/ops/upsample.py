"""Resampling: interpolate (nearest, nearest-exact, linear, bilinear, area) and upsample.

Every mode is separable and linear in the input: along each spatial axis the output is
a fixed matrix A (out × in) applied to the input, so

    y = A_h · x · A_wᵀ        and        dx = A_hᵀ · g · A_w

(two GEMMs each way, see ``pool.separable_apply``). Rows of A hold one 1 (nearest),
the two weights (1-λ, λ) of linear interpolation, or 1/len over an adaptive window
(area). Source coordinates follow PyTorch exactly (``align_corners``, the scale taken
from ``scale_factor`` when it is given, float32 index arithmetic for nearest).
Upsampling nearest by an integer factor takes a faster path: one broadcast copy
forward, one reshape-and-sum backward.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Function, once_differentiable
from ..tensor import Tensor
from .conv import _channels_last, _xp
from .elementwise import _float
from .pool import Separable, _avg_matrix, _spatial_check


def _nearest_index(out: int, size: int, scale: float | None, exact: bool):
    """PyTorch's nearest source index (computed in float32, as its CPU kernel does)."""
    dst = np.arange(out, dtype=np.float32)
    if out == size:
        return np.arange(out)
    if not exact and out == 2 * size:
        return np.arange(out) >> 1
    s = np.float32(1.0 / scale) if scale else np.float32(size) / np.float32(out)
    src = np.floor((dst + np.float32(0.5)) * s if exact else dst * s).astype(np.int64)
    return np.minimum(src, size - 1)


def _linear_weights(out: int, size: int, scale: float | None, align_corners: bool):
    """(i0, i1, λ) of linear interpolation: y = (1-λ)·x[i0] + λ·x[i1]."""
    dst = np.arange(out, dtype=np.float64)
    if align_corners:
        s = (size - 1) / (out - 1) if out > 1 else 0.0
        src = dst * s
    else:
        s = 1.0 / scale if scale else size / out
        src = np.maximum((dst + 0.5) * s - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)
    i1 = np.minimum(i0 + 1, size - 1)
    lam = src - i0
    return i0, i1, lam


def _matrix(mode: str, out: int, size: int, scale, align_corners, dtype):
    a = np.zeros((out, size), dtype=np.float64)
    rows = np.arange(out)
    if mode in ("nearest", "nearest-exact"):
        a[rows, _nearest_index(out, size, scale, mode == "nearest-exact")] = 1.0
    elif mode in ("linear", "bilinear"):
        i0, i1, lam = _linear_weights(out, size, scale, bool(align_corners))
        a[rows, i0] += 1.0 - lam
        a[rows, i1] += lam
    else:  # area
        return _avg_matrix(size, out, dtype)
    return a.astype(dtype)


class NearestRepeat(Function):
    """Nearest upsampling by integer factors: each pixel becomes an fh × fw block."""

    @staticmethod
    def forward(ctx, x, fh, fw, cl):
        d = x.data
        xp = _xp(d)
        n = d.shape[0]
        ctx.f, ctx.cl = (fh, fw), cl
        if cl:
            _, h, w, c = d.shape
            v = xp.broadcast_to(d[:, :, None, :, None, :], (n, h, fh, w, fw, c))
            return v.reshape(n, h * fh, w * fw, c)
        _, c, h, w = d.shape
        v = xp.broadcast_to(d[:, :, :, None, :, None], (n, c, h, fh, w, fw))
        return v.reshape(n, c, h * fh, w * fw)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # dx = sum of g over each block
        (fh, fw), d = ctx.f, g.data
        if ctx.cl:
            n, ho, wo, c = d.shape
            return d.reshape(n, ho // fh, fh, wo // fw, fw, c).sum(axis=(2, 4)), None, None, None
        n, c, ho, wo = d.shape
        return d.reshape(n, c, ho // fh, fh, wo // fw, fw).sum(axis=(3, 5)), None, None, None


_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "area")


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False, data_format: str = "channels_first") -> Tensor:
    """Resize (N, C, L) or (N, C, H, W) inputs (channels-last with ``data_format``).

    Args:
        size: output spatial size (int or tuple), or
        scale_factor: multiplier(s); the output size is ⌊in · scale_factor⌋.
        mode: 'nearest' (PyTorch's legacy rule src = ⌊dst · in/out⌋), 'nearest-exact',
            'linear' (3-D input), 'bilinear' (4-D input) or 'area' (adaptive average).
        align_corners: for linear modes, map the corner pixels' centres onto each other
            (src = dst · (in-1)/(out-1)) instead of the half-pixel rule.
    """
    fn = "interpolate"
    if mode not in _MODES:
        raise NotImplementedError(f"{fn}: mode {mode!r} is not supported (use one of {_MODES})")
    if antialias:
        raise NotImplementedError(f"{fn}: antialias=True is not supported")
    cl = _channels_last(data_format, fn)
    x = _float(input)
    nd = x.ndim - 2
    if nd not in (1, 2):
        raise RuntimeError(f"{fn}: expected a 3-D (N, C, L) or 4-D (N, C, H, W) input, got "
                           f"shape {tuple(x.shape)}")
    if mode == "linear" and nd != 1 or mode == "bilinear" and nd != 2:
        raise RuntimeError(f"{fn}: mode {mode!r} expects a {3 if mode == 'linear' else 4}-D "
                           f"input, got shape {tuple(x.shape)}")
    if align_corners is not None and mode not in ("linear", "bilinear"):
        raise ValueError(f"{fn}: align_corners can only be set with the linear modes, "
                         f"not {mode!r}")
    sp = _spatial_check(fn, x, nd, cl)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{fn}: give exactly one of size and scale_factor")
    scales = [None] * nd
    if size is not None:
        out = (int(size),) * nd if isinstance(size, (int, np.integer)) else \
            tuple(int(s) for s in size)
        if len(out) != nd:
            raise ValueError(f"{fn}: size must be an int or a tuple of {nd}, got {size!r}")
    else:
        sf = (float(scale_factor),) * nd if isinstance(scale_factor, (int, float)) else \
            tuple(float(s) for s in scale_factor)
        if len(sf) != nd:
            raise ValueError(f"{fn}: scale_factor must be a number or a tuple of {nd}, got "
                             f"{scale_factor!r}")
        out = tuple(math.floor(sp[i] * sf[i]) for i in range(nd))
        if not recompute_scale_factor:
            scales = list(sf)
    if min(out) < 1:
        raise ValueError(f"{fn}: the output size {out} must be positive (input {tuple(x.shape)})")
    dt = x.data.dtype
    if nd == 1:
        ax = 1 if cl else 2
        a = _matrix(mode, out[0], sp[0], scales[0], align_corners, dt)
        y = Separable.apply(x.unsqueeze(ax), np.ones((1, 1), dtype=dt), a, cl)
        return y.squeeze(ax)
    if mode == "nearest" and all(out[i] % sp[i] == 0 for i in range(2)):
        f = [out[i] // sp[i] for i in range(2)]
        if all(np.array_equal(_nearest_index(out[i], sp[i], scales[i], False),
                              np.arange(out[i]) // f[i]) for i in range(2)):
            return NearestRepeat.apply(x, f[0], f[1], cl)
    ah = _matrix(mode, out[0], sp[0], scales[0], align_corners, dt)
    aw = _matrix(mode, out[1], sp[1], scales[1], align_corners, dt)
    return Separable.apply(x, ah, aw, cl)


def upsample(input: Tensor, size=None, scale_factor=None, mode: str = "nearest",  # noqa: A002
             align_corners: bool | None = None, data_format: str = "channels_first") -> Tensor:
    """Alias of :func:`interpolate` (PyTorch's deprecated name)."""
    return interpolate(input, size, scale_factor, mode, align_corners, data_format=data_format)


def upsample_nearest(input: Tensor, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size=None, scale_factor=None) -> Tensor:  # noqa: A002
    """Bilinear upsampling with ``align_corners=True`` (PyTorch's legacy function)."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear"]
