"""Pooling: max/avg pooling (1-D, 2-D) and adaptive avg/max pooling, as fused Functions.

Pooling reads the input through the kernel's taps: for tap (i, j) the strided view
``x[:, :, i·dh :: sh, j·dw :: sw]`` (cut to H_out × W_out) lines up with the output, so

    max_pool(x) = max over taps t of view_t        avg_pool(x) = Σ_t view_t / divisor

costs one elementwise pass per tap. Channels-first taps are strided in their last axis,
which defeats SIMD, so they are first gathered by one copy into a tap-major
(N, C, kh·kw, Ho, Wo) buffer; every pass then reads contiguous slabs. Channels-last
taps are used as views (their inner runs are the C contiguous channels).

Max pooling remembers which tap won (the first maximum, as PyTorch) in a uint8 array
when a gradient is needed, with a branch-free update idx += [tap > max]·(t - idx)
(masked copies with random masks mispredict badly); the backward pass writes
``g · [idx = t]`` back through the tap views of dx (assigning when windows don't
overlap, adding when they do).

Adaptive average pooling is a separable linear map, y = A_h · x · A_wᵀ, computed with
two GEMMs (and its adjoint for the gradient); adaptive max pooling loops over the
(few) output cells.
"""
from __future__ import annotations

import numpy as np

from .. import _parallel
from ..autograd import Function, once_differentiable
from ..tensor import Tensor
from .conv import _as_strided, _channels_last, _ntuple, _xp
from .elementwise import _float


class _PGeom:
    """Geometry of one 2-D pooling (1-D pooling uses a unit height)."""

    __slots__ = ("kh", "kw", "sh", "sw", "ph", "pw", "dh", "dw", "h", "w", "ho", "wo", "hpad",
                 "wpad", "cl")

    def tap_views(self, a):
        """(tap index, view of ``a`` lined up with the output) for every kernel tap."""
        he, we = self.sh * (self.ho - 1) + 1, self.sw * (self.wo - 1) + 1
        t = 0
        for i in range(self.kh):
            for j in range(self.kw):
                r, c = i * self.dh, j * self.dw
                if self.cl:
                    yield t, a[:, r:r + he:self.sh, c:c + we:self.sw, :]
                else:
                    yield t, a[:, :, r:r + he:self.sh, c:c + we:self.sw]
                t += 1

    @property
    def needs_pad(self) -> bool:
        return bool(self.ph or self.pw or self.hpad > self.h or self.wpad > self.w)

    @property
    def disjoint(self) -> bool:
        """No input element is seen by two (window, tap) pairs."""
        return (self.sh >= self.dh * (self.kh - 1) + 1 or self.ho == 1) and \
            (self.sw >= self.dw * (self.kw - 1) + 1 or self.wo == 1)

    @property
    def covers(self) -> bool:
        """The taps together see every element of the (unpadded) input exactly once."""
        return not self.needs_pad and self.dh == self.dw == 1 and self.sh == self.kh and \
            self.sw == self.kw and self.ho * self.sh == self.h and self.wo * self.sw == self.w


def _pool_out(size, k, s, p, d, ceil_mode):
    eff = d * (k - 1) + 1
    num = size + 2 * p - eff
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def _pool_geometry(fn, shape, kernel_size, stride, padding, dilation, ceil_mode, cl, nd):
    layout = ("(N, L, C)" if cl else "(N, C, L)") if nd == 1 else \
        ("(N, H, W, C)" if cl else "(N, C, H, W)")
    if len(shape) != nd + 2:
        if len(shape) == nd + 1:
            raise RuntimeError(f"{fn}: expected a {nd + 2}-D input {layout}, got a "
                               f"{len(shape)}-D input of shape {tuple(shape)}: the batch "
                               f"dimension is missing (use x.unsqueeze(0) for a single sample)")
        raise RuntimeError(f"{fn}: expected a {nd + 2}-D input {layout}, got shape "
                           f"{tuple(shape)}")
    k = _ntuple(kernel_size, nd, "kernel_size", fn)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) \
        else _ntuple(stride, nd, "stride", fn)
    p = _ntuple(padding, nd, "padding", fn)
    d = _ntuple(dilation, nd, "dilation", fn)
    if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise ValueError(f"{fn}: kernel_size, stride and dilation must be >= 1 and padding >= 0,"
                         f" got kernel_size={k}, stride={s}, padding={p}, dilation={d}")
    spatial = tuple(shape[1:-1]) if cl else tuple(shape[2:])
    for i in range(nd):
        if p[i] * 2 > d[i] * (k[i] - 1) + 1:
            raise ValueError(f"{fn}: padding {p} should be at most half of the (effective) "
                             f"kernel size {k}")
    out = tuple(_pool_out(spatial[i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(nd))
    if min(out) < 1:
        raise RuntimeError(f"{fn}: the input is smaller than the kernel: input size "
                           f"{spatial} (padding {p}) with kernel_size {k}, dilation {d} gives "
                           f"output size {out}; input shape {tuple(shape)}")
    if nd == 1:
        spatial, out, k, s, p, d = (1,) + spatial, (1,) + out, (1,) + k, (1,) + s, (0,) + p, \
            (1,) + d
    gm = _PGeom()
    gm.kh, gm.kw = k
    gm.sh, gm.sw = s
    gm.ph, gm.pw = p
    gm.dh, gm.dw = d
    gm.h, gm.w = spatial
    gm.ho, gm.wo = out
    gm.cl = cl
    # the padded extent the windows read (ceil mode may read past the right padding)
    gm.hpad = max(gm.h + gm.ph, (gm.ho - 1) * gm.sh + gm.dh * (gm.kh - 1) + 1 - gm.ph)
    gm.wpad = max(gm.w + gm.pw, (gm.wo - 1) * gm.sw + gm.dw * (gm.kw - 1) + 1 - gm.pw)
    return gm


def _padded(a, gm: _PGeom, fill):
    """``a`` placed in a buffer filled with ``fill`` (or ``a`` itself when no padding)."""
    if not gm.needs_pad:
        return a
    xp = _xp(a)
    hp, wp = gm.ph + gm.hpad, gm.pw + gm.wpad
    if gm.cl:
        buf = xp.full((a.shape[0], hp, wp, a.shape[3]), fill, dtype=a.dtype)
    else:
        buf = xp.full((a.shape[0], a.shape[1], hp, wp), fill, dtype=a.dtype)
    _interior(buf, gm)[...] = a
    return buf


def _interior(buf, gm: _PGeom):
    if gm.cl:
        return buf[:, gm.ph:gm.ph + gm.h, gm.pw:gm.pw + gm.w, :]
    return buf[:, :, gm.ph:gm.ph + gm.h, gm.pw:gm.pw + gm.w]


def _scatter_taps(xp, x_shape, dtype, gm: _PGeom, contrib, out=None):
    """dx from per-tap contributions: ``contrib(t, view, add)`` writes tap t's gradient
    (into ``out`` when given)."""
    if gm.covers:  # disjoint taps tiling the input: plain assignment, no zeroing
        dx = xp.empty(x_shape, dtype=dtype) if out is None else out
        for t, v in gm.tap_views(dx):
            contrib(t, v, False)
        return dx
    if gm.needs_pad:
        shape = (x_shape[0], gm.ph + gm.hpad, gm.pw + gm.wpad, x_shape[3]) if gm.cl else \
            (x_shape[0], x_shape[1], gm.ph + gm.hpad, gm.pw + gm.wpad)
    else:
        shape = x_shape
    buf = xp.zeros(shape, dtype=dtype)
    add = not gm.disjoint
    for t, v in gm.tap_views(buf):
        contrib(t, v, add)
    res = _interior(buf, gm) if gm.needs_pad else buf
    if out is not None:
        out[...] = res
        return out
    return xp.ascontiguousarray(res)


def _lift(a, nd, cl):
    if nd == 2:
        return a
    s = a.shape
    return a.reshape(s[0], 1, s[1], s[2]) if cl else a.reshape(s[0], s[1], 1, s[2])


def _drop(a, nd, cl):
    if nd == 2:
        return a
    s = a.shape
    return a.reshape(s[0], s[2], s[3]) if cl else a.reshape(s[0], s[1], s[3])


# --- max pooling ------------------------------------------------------------------------

def _flat_indices(idx, gm: _PGeom):
    """Tap index -> PyTorch's flat index into the (unpadded) H·W plane, int64."""
    xp = _xp(idx)
    i, j = np.divmod(idx.astype(np.int64), gm.kw)
    rows = xp.arange(gm.ho, dtype=np.int64) * gm.sh - gm.ph
    cols = xp.arange(gm.wo, dtype=np.int64) * gm.sw - gm.pw
    if gm.cl:
        r = rows[:, None, None] + i * gm.dh
        c = cols[None, :, None] + j * gm.dw
    else:
        r = rows[:, None] + i * gm.dh
        c = cols[None, :] + j * gm.dw
    return r * gm.w + c


def _taps(a, gm: _PGeom):
    """The kernel taps as arrays lined up with the output, in PyTorch's window order.

    channels-first: one gather copy into a tap-major (N, C, kh·kw, Ho, Wo) buffer, so
    every later pass reads contiguous slabs (a stride-``s`` view defeats SIMD: the
    copy pays for itself on the second pass). channels-last: the strided views
    themselves, whose inner runs are the C contiguous channels.
    """
    if gm.cl:
        return [v for _, v in gm.tap_views(a)]
    xp = _xp(a)
    s0, s1, s2, s3 = a.strides
    n, c = a.shape[:2]
    win = _as_strided(xp, a, (n, c, gm.kh, gm.kw, gm.ho, gm.wo),
                      (s0, s1, gm.dh * s2, gm.dw * s3, gm.sh * s2, gm.sw * s3))
    buf = xp.empty((n, c, gm.kh, gm.kw, gm.ho, gm.wo), dtype=a.dtype)
    xp.copyto(buf, win)
    buf = buf.reshape(n, c, gm.kh * gm.kw, gm.ho, gm.wo)
    return [buf[:, :, t] for t in range(gm.kh * gm.kw)]


def _max_rows(xd, gm: _PGeom, out, idx) -> None:
    """Max pooling of a block of rows into ``out`` (and the winning tap into ``idx``)."""
    taps = _taps(_padded(xd, gm, -np.inf), gm)
    xp = _xp(xd)
    xp.copyto(out, taps[0])
    if idx is None:
        for v in taps[1:]:
            xp.maximum(out, v, out=out)
        return
    # branch-free running argmax: idx += [tap > max]·(t - idx); ties keep the first
    idx[...] = 0
    gt = xp.empty(out.shape, dtype=bool)
    tmp = xp.empty(out.shape, dtype=idx.dtype)
    for t in range(1, len(taps)):
        xp.greater(taps[t], out, out=gt)
        xp.maximum(out, taps[t], out=out)
        xp.subtract(t, idx, out=tmp)
        xp.multiply(tmp, gt, out=tmp)
        xp.add(idx, tmp, out=idx)


def _max_grad_rows(gd, idx, gm: _PGeom, dx) -> None:
    """dx (a block of rows) from the output gradient ``gd`` and the winning taps."""
    xp = _xp(gd)
    mask = xp.empty(idx.shape, dtype=bool)

    def contrib(t, v, add):
        xp.equal(idx, t, out=mask)
        if add:
            v += gd * mask
        else:
            xp.multiply(gd, mask, out=v)

    _scatter_taps(xp, dx.shape, dx.dtype, gm, contrib, out=dx)


class MaxPool(Function):
    @staticmethod
    def forward(ctx, x, gm, nd, want_indices):
        xd = _lift(x.data, nd, gm.cl)
        xp = _xp(xd)
        n = xd.shape[0]
        oshape = (n, gm.ho, gm.wo, xd.shape[3]) if gm.cl else (n, xd.shape[1], gm.ho, gm.wo)
        out = xp.empty(oshape, dtype=xd.dtype)
        idx = None
        if ctx.needs_input_grad[0] or want_indices:
            idx = xp.empty(oshape, dtype=np.int32 if gm.kh * gm.kw >= 256 else np.uint8)
        # rows are independent: big batches run in parallel threads
        _parallel.split_rows(lambda lo, hi: _max_rows(
            xd[lo:hi], gm, out[lo:hi], None if idx is None else idx[lo:hi]), n,
            xd.size if xp is np else 0)
        ctx.gm, ctx.nd, ctx.idx, ctx.x_shape = gm, nd, idx, xd.shape
        y = _drop(out, nd, gm.cl)
        if not want_indices:
            return y
        ctx.mark_non_differentiable(1)
        return y, _drop(_flat_indices(idx, gm), nd, gm.cl)

    @staticmethod
    @once_differentiable
    def backward(ctx, g, *_):  # dx[argmax of each window] += g
        gm, idx = ctx.gm, ctx.idx
        gd = _lift(g.data, ctx.nd, gm.cl)
        xp = _xp(gd)
        dx = xp.empty(ctx.x_shape, dtype=gd.dtype)
        _parallel.split_rows(lambda lo, hi: _max_grad_rows(gd[lo:hi], idx[lo:hi], gm,
                                                           dx[lo:hi]), dx.shape[0],
                             dx.size if xp is np else 0)
        return _drop(dx, ctx.nd, gm.cl), None, None, None


def _max_pool(fn, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              data_format):
    cl = _channels_last(data_format, fn)
    x = _float(x)
    gm = _pool_geometry(fn, x.data.shape, kernel_size, stride, padding, dilation, ceil_mode, cl,
                        nd)
    return MaxPool.apply(x, gm, nd, bool(return_indices))


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False,
               data_format: str = "channels_first"):
    """2-D max pooling over (N, C, H, W) (or (N, H, W, C) with ``channels_last``).

    y[n, c, i, j] = max_{p,q} x[n, c, i·sh + p·dh - ph, j·sw + q·dw - pw] (padding is -inf).
    ``stride`` defaults to ``kernel_size``. ``return_indices=True`` also returns the flat
    index (into each H·W plane) of every maximum, as PyTorch. Ties go to the first tap.
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, data_format)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False,
               data_format: str = "channels_first"):
    """1-D max pooling over (N, C, L) (or (N, L, C)); see :func:`max_pool2d`."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, data_format)


# --- average pooling --------------------------------------------------------------------

def _avg_divisor(gm: _PGeom, count_include_pad, divisor_override, dtype):
    """The divisor per output cell: a Python number, or an (Ho, Wo[, 1]) array."""
    if divisor_override:
        return float(divisor_override)

    def counts(n_out, size, k, s, p):
        c = []
        for o in range(n_out):
            start = o * s - p
            end = min(start + k, size + p)
            if count_include_pad:
                c.append(end - start)
            else:
                c.append(min(end, size) - max(start, 0))
        return np.array(c, dtype=np.float64)

    ch = counts(gm.ho, gm.h, gm.kh, gm.sh, gm.ph)
    cw = counts(gm.wo, gm.w, gm.kw, gm.sw, gm.pw)
    div = ch[:, None] * cw[None, :]
    if (div == div.flat[0]).all():
        return float(div.flat[0])
    div = div.astype(dtype)
    return div[:, :, None] if gm.cl else div


class AvgPool(Function):
    @staticmethod
    def forward(ctx, x, gm, nd, div):
        xd = _lift(x.data, nd, gm.cl)
        taps = _taps(_padded(xd, gm, 0), gm)
        xp = _xp(xd)
        out = taps[0].copy()
        for v in taps[1:]:
            xp.add(out, v, out=out)
        if isinstance(div, float):
            out *= out.dtype.type(1.0 / div)
        else:
            out /= div
        ctx.gm, ctx.nd, ctx.div, ctx.x_shape = gm, nd, div, xd.shape
        return _drop(out, nd, gm.cl)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # every input in a window receives g / divisor
        gm, div = ctx.gm, ctx.div
        gd = _lift(g.data, ctx.nd, gm.cl)
        gs = gd * gd.dtype.type(1.0 / div) if isinstance(div, float) else gd / div
        xp = _xp(gd)

        def contrib(t, v, add):
            if add:
                v += gs
            else:
                v[...] = gs

        dx = _scatter_taps(xp, ctx.x_shape, gd.dtype, gm, contrib)
        return _drop(dx, ctx.nd, gm.cl), None, None, None


def _avg_pool(fn, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, data_format):
    cl = _channels_last(data_format, fn)
    x = _float(x)
    gm = _pool_geometry(fn, x.data.shape, kernel_size, stride, padding, 1, ceil_mode, cl, nd)
    div = _avg_divisor(gm, count_include_pad, divisor_override, x.data.dtype)
    return AvgPool.apply(x, gm, nd, div)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None,
               data_format: str = "channels_first") -> Tensor:
    """2-D average pooling: the mean of each kh × kw window (padding counts as zeros
    when ``count_include_pad``, else only real elements are counted)."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override, data_format)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               data_format: str = "channels_first") -> Tensor:
    """1-D average pooling over (N, C, L) (or (N, L, C)); see :func:`avg_pool2d`."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None, data_format)


# --- adaptive pooling -------------------------------------------------------------------

def _adaptive_bounds(size: int, out: int):
    """PyTorch's windows: [⌊i·size/out⌋, ⌈(i+1)·size/out⌉) for i < out."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


def _avg_matrix(size: int, out: int, dtype):
    a = np.zeros((out, size), dtype=np.float64)
    for i, (s, e) in enumerate(_adaptive_bounds(size, out)):
        a[i, s:e] = 1.0 / (e - s)
    return a.astype(dtype)


def separable_apply(x, ah, aw, cl: bool):
    """y[n, c, i, j] = Σ_{h,w} ah[i, h] · x[n, c, h, w] · aw[j, w] with two GEMMs."""
    xp = _xp(x)
    if cl:  # (N, H, W, C)
        t = xp.tensordot(x, aw, axes=([2], [1]))   # (N, H, C, Wo)
        t = xp.tensordot(t, ah, axes=([1], [1]))   # (N, C, Wo, Ho)
        return xp.ascontiguousarray(t.transpose(0, 3, 2, 1))
    t = xp.tensordot(x, aw, axes=([3], [1]))       # (N, C, H, Wo)
    t = xp.tensordot(t, ah, axes=([2], [1]))       # (N, C, Wo, Ho)
    return xp.ascontiguousarray(t.transpose(0, 1, 3, 2))


class Separable(Function):
    """y = A_h x A_wᵀ over the spatial dims (adaptive avg pooling, interpolation)."""

    @staticmethod
    def forward(ctx, x, ah, aw, cl):
        ctx.ah, ctx.aw, ctx.cl = ah, aw, cl
        return separable_apply(x.data, ah, aw, cl)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # dx = A_hᵀ g A_w
        return separable_apply(g.data, ctx.ah.T, ctx.aw.T, ctx.cl), None, None, None


def _spatial_check(fn, x, nd, cl):
    layout = ("(N, L, C)" if cl else "(N, C, L)") if nd == 1 else \
        ("(N, H, W, C)" if cl else "(N, C, H, W)")
    if x.ndim != nd + 2:
        if x.ndim == nd + 1:
            raise RuntimeError(f"{fn}: expected a {nd + 2}-D input {layout}, got a {x.ndim}-D "
                               f"input of shape {tuple(x.shape)}: the batch dimension is missing "
                               f"(use x.unsqueeze(0) for a single sample)")
        raise RuntimeError(f"{fn}: expected a {nd + 2}-D input {layout}, got shape "
                           f"{tuple(x.shape)}")
    sp = tuple(x.data.shape[1:-1]) if cl else tuple(x.data.shape[2:])
    if min(sp) < 1:
        raise RuntimeError(f"{fn}: the input has an empty spatial dim: shape {tuple(x.shape)}")
    return sp


def _out_size(fn, output_size, sp):
    nd = len(sp)
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise ValueError(f"{fn}: output_size must be an int or a tuple of {nd}, got "
                         f"{output_size!r}")
    out = tuple(sp[i] if o is None else int(o) for i, o in enumerate(output_size))
    if min(out) < 1:
        raise ValueError(f"{fn}: output_size must be positive, got {output_size!r}")
    return out


def adaptive_avg_pool2d(input: Tensor, output_size,  # noqa: A002
                        data_format: str = "channels_first") -> Tensor:
    """Average over PyTorch's adaptive windows so the output is ``output_size`` (Ho, Wo)
    (an int, a pair, None keeps that size): y = A_h x A_wᵀ with averaging matrices."""
    fn = "adaptive_avg_pool2d"
    cl = _channels_last(data_format, fn)
    x = _float(input)
    h, w = _spatial_check(fn, x, 2, cl)
    ho, wo = _out_size(fn, output_size, (h, w))
    dt = x.data.dtype
    if ho == h and wo == w:
        return x * 1
    return Separable.apply(x, _avg_matrix(h, ho, dt), _avg_matrix(w, wo, dt), cl)


def adaptive_avg_pool1d(input: Tensor, output_size: int,  # noqa: A002
                        data_format: str = "channels_first") -> Tensor:
    """1-D adaptive average pooling over (N, C, L) (or (N, L, C))."""
    fn = "adaptive_avg_pool1d"
    cl = _channels_last(data_format, fn)
    x = _float(input)
    (n,) = _spatial_check(fn, x, 1, cl)
    (lo,) = _out_size(fn, output_size, (n,))
    dt = x.data.dtype
    x4 = x.unsqueeze(1 if cl else 2)
    y = Separable.apply(x4, np.ones((1, 1), dtype=dt), _avg_matrix(n, lo, dt), cl)
    return y.squeeze(1 if cl else 2)


class AdaptiveMaxPool(Function):
    @staticmethod
    def forward(ctx, x, ho, wo, cl, want_indices):
        xd = x.data
        xp = _xp(xd)
        n = xd.shape[0]
        c = xd.shape[3] if cl else xd.shape[1]
        h, w = (xd.shape[1], xd.shape[2]) if cl else (xd.shape[2], xd.shape[3])
        hb, wb = _adaptive_bounds(h, ho), _adaptive_bounds(w, wo)
        out = xp.empty((n, ho, wo, c) if cl else (n, c, ho, wo), dtype=xd.dtype)
        idx = xp.empty(out.shape, dtype=np.int64)
        for i, (hs, he) in enumerate(hb):
            for j, (ws, we) in enumerate(wb):
                if cl:
                    win = xd[:, hs:he, ws:we, :].reshape(n, -1, c)
                    loc = win.argmax(axis=1)
                    out[:, i, j, :] = xp.take_along_axis(win, loc[:, None, :], 1)[:, 0]
                else:
                    win = xd[:, :, hs:he, ws:we].reshape(n, c, -1)
                    loc = win.argmax(axis=2)
                    out[:, :, i, j] = xp.take_along_axis(win, loc[:, :, None], 2)[..., 0]
                r, q = np.divmod(loc, we - ws)
                (idx[:, i, j, :] if cl else idx[:, :, i, j])[...] = (r + hs) * w + q + ws
        ctx.idx, ctx.cl, ctx.x_shape, ctx.w = idx, cl, xd.shape, w
        if not want_indices:
            return out
        ctx.mark_non_differentiable(1)
        return out, idx

    @staticmethod
    @once_differentiable
    def backward(ctx, g, *_):  # each window's gradient goes to its argmax
        gd, idx, cl = g.data, ctx.idx, ctx.cl
        xp = _xp(gd)
        shape = ctx.x_shape
        if cl:  # scatter in channels-first planes, then transpose back
            gd = gd.transpose(0, 3, 1, 2)
            idx = idx.transpose(0, 3, 1, 2)
            n, h, w, c = shape
        else:
            n, c, h, w = shape
        dx = xp.zeros((n * c, h * w), dtype=gd.dtype)
        flat = idx.reshape(n * c, -1)
        gf = gd.reshape(n * c, -1)
        rows = xp.arange(n * c)[:, None]
        # windows may overlap (non-divisible sizes): accumulate one output cell at a time
        for k in range(flat.shape[1]):
            dx[rows[:, 0], flat[:, k]] += gf[:, k]
        dx = dx.reshape(n, c, h, w)
        if cl:
            dx = xp.ascontiguousarray(dx.transpose(0, 2, 3, 1))
        return dx, None, None, None, None


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False,  # noqa: A002
                        data_format: str = "channels_first"):
    """Max over PyTorch's adaptive windows so the output is ``output_size`` (Ho, Wo)."""
    fn = "adaptive_max_pool2d"
    cl = _channels_last(data_format, fn)
    x = _float(input)
    h, w = _spatial_check(fn, x, 2, cl)
    ho, wo = _out_size(fn, output_size, (h, w))
    if h % ho == 0 and w % wo == 0:  # regular windows: the fast strided kernel
        return _max_pool(fn, 2, x, (h // ho, w // wo), None, 0, 1, False, return_indices,
                         data_format)
    return AdaptiveMaxPool.apply(x, ho, wo, cl, bool(return_indices))


def adaptive_max_pool1d(input: Tensor, output_size: int, return_indices: bool = False,  # noqa: A002
                        data_format: str = "channels_first"):
    """1-D adaptive max pooling over (N, C, L) (or (N, L, C))."""
    fn = "adaptive_max_pool1d"
    cl = _channels_last(data_format, fn)
    x = _float(input)
    _spatial_check(fn, x, 1, cl)
    ax = 1 if cl else 2
    res = adaptive_max_pool2d(x.unsqueeze(ax), (1, output_size), return_indices, data_format)
    if return_indices:
        return res[0].squeeze(ax), res[1].squeeze(ax)
    return res.squeeze(ax)


__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]
