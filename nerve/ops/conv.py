"""Convolutions: conv1d, conv2d, conv_transpose1d/2d as fused im2col + GEMM kernels.

A 2-D convolution with weight ``w`` of shape (O, C/G, kh, kw) computes, per group g,

    y[n, o, i, j] = b[o] + Σ_{c,p,q} w[o, c, p, q] · xp[n, g·C/G + c, i·sh + p·dh, j·sw + q·dw]

(xp: the input zero-padded by pt/pb rows and pl/pr columns).

Written as a matrix product: ``cols`` holds, for every output position, the C/G·kh·kw
input values its window sees (im2col, one strided-view copy), and ``y = W · cols``
(one GEMM per chunk of images). The bias rides in the GEMM as an extra column of ``W``
against a row of ones in ``cols``. The backward pass reuses the same pieces:

    dW = g · colsᵀ   (the bias gradient falls out of the ones row)
    dx = col2im(Wᵀ · g)   (add each kernel tap's slab back at its offset)

The batch is processed in chunks sized so that ``cols`` stays in cache (an 85 MB im2col
buffer costs more in page faults and memory traffic than its GEMM); the backward pass
rebuilds ``cols`` chunk by chunk instead of keeping it. The transposed convolution is
the adjoint: its forward is the input-gradient kernel, its backward the forward kernel.

One kernel serves both layouts: ``data_format="channels_first"`` (N, C, H, W), PyTorch's,
and ``"channels_last"`` (N, H, W, C), Keras's. Only the order of the ``cols`` axes and the
orientation of the GEMM differ. Weights are always in PyTorch's layout (O, C/G, kh, kw).
Gradients are computed in arrays (the Function is once-differentiable).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _parallel
from ..autograd import Function, once_differentiable
from ..tensor import Tensor

# Target size of one chunk's im2col buffer. Small enough to stay in cache; large enough
# that each GEMM call is big (every multi-threaded BLAS call synchronises its threads, and
# on a busy machine each of many small calls can wait for a time slice).
_CHUNK_BYTES = 1 << 22
_CM_MIN_K = 64  # channel-major (one GEMM per chunk) from this many rows of cols on

_LAYOUTS = {"channels_first": False, "nchw": False, "ncl": False, "ncw": False,
            "channels_last": True, "nhwc": True, "nlc": True, "nwc": True}


def _channels_last(data_format: str | None, fn: str) -> bool:
    if data_format is None:
        return False
    try:
        return _LAYOUTS[str(data_format).lower()]
    except KeyError:
        raise ValueError(f"{fn}: data_format must be 'channels_first' (N, C, ...) or "
                         f"'channels_last' (N, ..., C), got {data_format!r}") from None


def _ntuple(v, n: int, name: str, fn: str) -> tuple:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * n
    t = tuple(int(a) for a in v)
    if len(t) == 1:
        return t * n
    if len(t) != n:
        raise ValueError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


def _xp(a):
    return np if isinstance(a, np.ndarray) else __import__("cupy")


def _as_strided(xp, a, shape, strides):
    return xp.lib.stride_tricks.as_strided(a, shape=shape, strides=strides)


class _Geom:
    """The shape arithmetic of one 2-D convolution (1-D convs use H = kh = 1)."""

    __slots__ = ("n", "c", "o", "g", "h", "w", "kh", "kw", "sh", "sw", "dh", "dw", "pt", "pb",
                 "pl", "pr", "ho", "wo", "cl")

    @property
    def hp(self) -> int:
        return self.h + self.pt + self.pb

    @property
    def wp(self) -> int:
        return self.w + self.pl + self.pr

    @property
    def padded(self) -> bool:
        return bool(self.pt or self.pb or self.pl or self.pr)

    def x_shape(self, n: int | None = None) -> tuple:
        n = self.n if n is None else n
        return (n, self.h, self.w, self.c) if self.cl else (n, self.c, self.h, self.w)

    def y_shape(self, n: int | None = None) -> tuple:
        n = self.n if n is None else n
        return (n, self.ho, self.wo, self.o) if self.cl else (n, self.o, self.ho, self.wo)

    def with_n(self, n: int) -> _Geom:
        """The same convolution over a batch of ``n``."""
        gm = _Geom.__new__(_Geom)
        for k in _Geom.__slots__:
            setattr(gm, k, getattr(self, k))
        gm.n = n
        return gm

    @property
    def flops(self) -> int:
        """Multiply-adds x 2 of the forward GEMM (also of each gradient)."""
        return 2 * self.n * self.o * (self.c // self.g) * self.kh * self.kw * self.ho * self.wo


def _same_pad(size: int, k: int, s: int, d: int) -> tuple:
    """TensorFlow's 'same': output ceil(size / s), the odd pixel of padding at the end."""
    total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _pads(padding, k, s, d, size, fn: str) -> list:
    """Padding spec -> [(before, after)] per spatial dim."""
    n = len(k)
    if isinstance(padding, str):
        p = padding.lower()
        if p == "valid":
            return [(0, 0)] * n
        if p == "same":
            return [_same_pad(size[i], k[i], s[i], d[i]) for i in range(n)]
        raise ValueError(f"{fn}: padding must be an int, a tuple, 'same' or 'valid', "
                         f"got {padding!r}")
    if isinstance(padding, (int, np.integer)):
        return [(int(padding), int(padding))] * n
    items = list(padding)
    if len(items) == 1:
        items = items * n
    if len(items) != n:
        raise ValueError(f"{fn}: padding must be an int or a tuple of {n} values, got {padding!r}")
    out = []
    for it in items:
        lo, hi = (int(it), int(it)) if isinstance(it, (int, np.integer)) else map(int, it)
        out.append((lo, hi))
    if any(lo < 0 or hi < 0 for lo, hi in out):
        raise ValueError(f"{fn}: padding must be non-negative, got {padding!r}")
    return out


def _check_float(x: Tensor, w: Tensor, b: Tensor | None, fn: str):
    if w.data.dtype.kind != "f":
        raise TypeError(f"{fn}: weight must be a floating-point tensor, got {w.dtype}")
    if x.data.dtype != w.data.dtype:
        x = x.to(w.data.dtype)  # e.g. uint8 images or float64 data into float32 weights
    if b is not None and b.data.dtype != w.data.dtype:
        raise TypeError(f"{fn}: bias dtype {b.dtype} does not match weight dtype {w.dtype}")
    return x


def _geometry(fn, xs, ws, stride, padding, dilation, groups, cl, nd, transposed=False,
              output_padding=0, bias=None) -> _Geom:
    """Validate shapes and build the geometry of the (forward or adjoint) convolution."""
    layout = ("(N, L, C)" if cl else "(N, C, L)") if nd == 1 else \
        ("(N, H, W, C)" if cl else "(N, C, H, W)")
    if len(xs) != nd + 2:
        if len(xs) == nd + 1:
            raise RuntimeError(f"{fn}: expected a {nd + 2}-D input {layout}, got a {len(xs)}-D "
                               f"input of shape {tuple(xs)}: the batch dimension is missing "
                               f"(use x.unsqueeze(0) for a single sample)")
        raise RuntimeError(f"{fn}: expected a {nd + 2}-D input {layout}, got shape {tuple(xs)}")
    if len(ws) != nd + 2:
        raise RuntimeError(f"{fn}: expected a {nd + 2}-D weight, got shape {tuple(ws)}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"{fn}: groups must be a positive integer, got {groups}")
    n = xs[0]
    c = xs[-1] if cl else xs[1]
    spatial = tuple(xs[1:-1]) if cl else tuple(xs[2:])
    k = tuple(ws[2:])
    s = _ntuple(stride, nd, "stride", fn)
    d = _ntuple(dilation, nd, "dilation", fn)
    if any(v < 1 for v in s) or any(v < 1 for v in d):
        raise ValueError(f"{fn}: stride and dilation must be >= 1, got stride={s}, dilation={d}")
    cdim = "the last dim" if cl else "dim 1"
    if not transposed:
        o, cg = ws[0], ws[1]
        if o % groups:
            raise RuntimeError(f"{fn}: out_channels={o} (weight {tuple(ws)}) must be divisible "
                               f"by groups={groups}")
        if c != cg * groups:
            raise RuntimeError(f"{fn}: expected input with in_channels={cg * groups} channels "
                               f"({cdim} of {layout}; weight {tuple(ws)}, groups={groups}), "
                               f"got input of shape {tuple(xs)}")
        pads = _pads(padding, k, s, d, spatial, fn)
        out = []
        for i in range(nd):
            eff = d[i] * (k[i] - 1) + 1
            padded = spatial[i] + pads[i][0] + pads[i][1]
            if padded < eff:
                raise RuntimeError(
                    f"{fn}: the input is smaller than the kernel: input size "
                    f"{tuple(spatial)} (padded: "
                    f"{tuple(spatial[j] + pads[j][0] + pads[j][1] for j in range(nd))}) < "
                    f"kernel size {tuple(d[j] * (k[j] - 1) + 1 for j in range(nd))} "
                    f"(kernel_size={k}, dilation={d}); input shape {tuple(xs)}")
            out.append((padded - eff) // s[i] + 1)
        conv_in, conv_out, conv_c, conv_o = spatial, tuple(out), c, o
    else:
        # transposed conv: weight (C_in, C_out/G, k...); we build the adjoint conv's geometry
        cin, og = ws[0], ws[1]
        if c != cin:
            raise RuntimeError(f"{fn}: expected input with in_channels={cin} channels ({cdim} of "
                               f"{layout}; weight {tuple(ws)}), got input of shape {tuple(xs)}")
        if cin % groups:
            raise RuntimeError(f"{fn}: in_channels={cin} must be divisible by groups={groups}")
        if isinstance(padding, str):
            raise ValueError(f"{fn}: padding must be an int or a tuple for a transposed "
                             f"convolution, got {padding!r}")
        pads = _pads(padding, k, s, d, spatial, fn)
        op = _ntuple(output_padding, nd, "output_padding", fn)
        out = []
        for i in range(nd):
            if not 0 <= op[i] < max(s[i], d[i]):
                raise ValueError(f"{fn}: output_padding {op} must be smaller than either stride "
                                 f"{s} or dilation {d}")
            size = (spatial[i] - 1) * s[i] - pads[i][0] - pads[i][1] + d[i] * (k[i] - 1) \
                + op[i] + 1
            if size < 1:
                raise RuntimeError(f"{fn}: the output size would be {size} < 1 for input "
                                   f"{tuple(xs)}, weight {tuple(ws)}, stride {s}, padding "
                                   f"{padding}")
            out.append(size)
        conv_in, conv_out, conv_c, conv_o = tuple(out), spatial, og * groups, cin
    if bias is not None:
        nb = conv_c if transposed else conv_o
        if tuple(bias.shape) != (nb,):
            raise RuntimeError(f"{fn}: bias must have shape ({nb},), got {tuple(bias.shape)}")
    if nd == 1:  # lift to 2-D with a unit height
        conv_in, conv_out, k, s, d = (1,) + conv_in, (1,) + conv_out, (1,) + k, (1,) + s, \
            (1,) + d
        pads = [(0, 0)] + pads
    gm = _Geom()
    gm.n, gm.c, gm.o, gm.g, gm.cl = n, conv_c, conv_o, groups, cl
    gm.h, gm.w = conv_in
    gm.ho, gm.wo = conv_out
    gm.kh, gm.kw = k
    gm.sh, gm.sw = s
    gm.dh, gm.dw = d
    (gm.pt, gm.pb), (gm.pl, gm.pr) = pads
    return gm


# --- array kernels ----------------------------------------------------------------------

def _chunk(gm: _Geom, k_rows: int, itemsize: int) -> int:
    per = max(k_rows * gm.ho * gm.wo * itemsize, 1)
    return max(1, min(gm.n, _CHUNK_BYTES // per))


def _pad_buffer(xp, gm: _Geom, m: int, dtype):
    """A zeroed (m, ...) buffer of the padded input's shape (borders stay zero)."""
    shape = (m, gm.hp, gm.wp, gm.c) if gm.cl else (m, gm.c, gm.hp, gm.wp)
    return xp.zeros(shape, dtype=dtype)


def _interior(gm: _Geom, a):
    """The unpadded part of a padded (m, ...) buffer."""
    if gm.cl:
        return a[:, gm.pt:gm.pt + gm.h, gm.pl:gm.pl + gm.w, :]
    return a[:, :, gm.pt:gm.pt + gm.h, gm.pl:gm.pl + gm.w]


def _windows(xp, gm: _Geom, xpad):
    """Strided view of every window: (m, G, Cg, kh, kw, Ho, Wo) or (m, Ho, Wo, G, kh, kw, Cg)."""
    m = xpad.shape[0]
    cg = gm.c // gm.g
    if gm.cl:
        s0, s1, s2, s3 = xpad.strides
        return _as_strided(xp, xpad, (m, gm.ho, gm.wo, gm.g, gm.kh, gm.kw, cg),
                           (s0, gm.sh * s1, gm.sw * s2, cg * s3, gm.dh * s1, gm.dw * s2, s3))
    s0, s1, s2, s3 = xpad.strides
    return _as_strided(xp, xpad, (m, gm.g, cg, gm.kh, gm.kw, gm.ho, gm.wo),
                       (s0, cg * s1, s1, gm.dh * s2, gm.dw * s3, gm.sh * s2, gm.sw * s3))


def _im2col(xp, gm: _Geom, src, dst) -> None:
    """Copy every window of ``src`` into ``dst`` (laid out in ``_windows`` order)."""
    xp.copyto(dst, _windows(xp, gm, src))


class _Cols:
    """Builds the im2col matrix of one chunk into a reused buffer.

    channels_first: (m, G, Kg [+1], P) with Kg ordered (Cg, kh, kw);
    channels_last:  (m·P, G, Kg [+1]) with Kg ordered (kh, kw, Cg).
    The optional last row/column of ones carries the bias through the GEMM.
    """

    def __init__(self, xp, gm: _Geom, m: int, dtype, ones: bool) -> None:
        self.xp, self.gm, self.ones = xp, gm, ones
        self.kg = (gm.c // gm.g) * gm.kh * gm.kw
        p = gm.ho * gm.wo
        ke = self.kg + ones
        self.buf = xp.empty((m, gm.g, ke, p) if not gm.cl else (m * p, gm.g, ke), dtype=dtype)
        if ones:
            if gm.cl:
                self.buf[:, :, self.kg] = 1
            else:
                self.buf[:, :, self.kg, :] = 1
        self.pad = _pad_buffer(xp, gm, m, dtype) if gm.padded else None

    def __call__(self, xc):
        gm, xp, m = self.gm, self.xp, xc.shape[0]
        if self.pad is not None:
            src = self.pad[:m]
            _interior(gm, src)[...] = xc
        else:
            src = xc
        cg = gm.c // gm.g
        if gm.cl:
            cols = self.buf[:m * gm.ho * gm.wo]
            dst = cols[:, :, :self.kg].reshape(m, gm.ho, gm.wo, gm.g, gm.kh, gm.kw, cg)
        else:
            cols = self.buf[:m]
            dst = cols[:, :, :self.kg, :].reshape(m, gm.g, cg, gm.kh, gm.kw, gm.ho, gm.wo)
        _im2col(xp, gm, src, dst)
        return cols


def _wmat(w, b, gm: _Geom):
    """The GEMM's weight matrix: (G, Og, Kg[+1]) channels-first, (G, Kg[+1], Og) last."""
    xp = _xp(w)
    g, og = gm.g, gm.o // gm.g
    kg = (gm.c // g) * gm.kh * gm.kw
    if gm.cl:
        wm = w.reshape(g, og, gm.c // g, gm.kh, gm.kw).transpose(0, 3, 4, 2, 1).reshape(g, kg, og)
        if b is None:
            return xp.ascontiguousarray(wm)
        out = xp.empty((g, kg + 1, og), dtype=w.dtype)
        out[:, :kg] = wm
        out[:, kg] = b.reshape(g, og)
        return out
    wm = w.reshape(g, og, kg)
    if b is None:
        return wm
    out = xp.empty((g, og, kg + 1), dtype=w.dtype)
    out[:, :, :kg] = wm
    out[:, :, kg] = b.reshape(g, og)
    return out


def _gemm_fwd(cols, wm, yc, gm: _Geom) -> None:
    """yc (chunk of the output) = cols · W."""
    xp = _xp(cols)
    m = yc.shape[0]
    g, og = gm.g, gm.o // gm.g
    if gm.cl:
        r = m * gm.ho * gm.wo
        if g == 1:
            xp.matmul(cols[:, 0], wm[0], out=yc.reshape(r, og))
        else:
            xp.matmul(cols.transpose(1, 0, 2), wm, out=yc.reshape(r, g, og).transpose(1, 0, 2))
    else:
        xp.matmul(wm, cols, out=yc.reshape(m, g, og, gm.ho * gm.wo))


def _forward_cm(x, wm, y, gm: _Geom, m: int, ones: bool, relu: bool) -> None:
    """channels-first forward, one GEMM per chunk: Y (G, Og, m·P) = W · cols (G, K, m·P)."""
    xp = _xp(x)
    og, p = gm.o // gm.g, gm.ho * gm.wo
    ke = (gm.c // gm.g) * gm.kh * gm.kw + ones
    store = xp.empty(gm.g * ke * m * p, dtype=y.dtype)
    ystore = xp.empty(gm.o * m * p, dtype=y.dtype)
    pad = _pad_buffer(xp, gm, m, y.dtype) if gm.padded else None
    for n0 in range(0, gm.n, m):
        xc = x[n0:n0 + m]
        mm = xc.shape[0]
        ycm = ystore[:gm.o * mm * p].reshape(gm.g, og, mm * p)
        xp.matmul(wm, _cols_cm(xp, gm, xc, store, pad, ones), out=ycm)
        if relu:
            xp.maximum(ycm, 0, out=ycm)
        xp.copyto(y[n0:n0 + mm].reshape(mm, gm.g, og, p),
                  ycm.reshape(gm.g, og, mm, p).transpose(2, 0, 1, 3))


def conv_forward_array(x, w, b, gm: _Geom, relu: bool = False, out=None):
    """y = conv(x, w) + b on arrays (the forward kernel); ``relu`` clamps each chunk while
    it is still in cache. Big batches are split across threads (:func:`_split`)."""
    xp = _xp(x)
    y = xp.empty(gm.y_shape(), dtype=w.dtype) if out is None else out
    if out is None and _split(gm, x, lambda lo, hi: conv_forward_array(
            x[lo:hi], w, b, gm.with_n(hi - lo), relu, out=y[lo:hi])):
        return y
    if gm.n == 0:
        return y
    wm = _wmat(w, b, gm)
    kg = (gm.c // gm.g) * gm.kh * gm.kw
    m = _chunk(gm, gm.g * (kg + 1), w.dtype.itemsize)
    if not gm.cl and kg + 1 >= _CM_MIN_K:  # small K: per image, no transpose of y
        _forward_cm(x, wm, y, gm, m, b is not None, relu)
        return y
    make = _Cols(xp, gm, m, w.dtype, ones=b is not None)
    for n0 in range(0, gm.n, m):
        yc = y[n0:n0 + m]
        _gemm_fwd(make(x[n0:n0 + m]), wm, yc, gm)
        if relu:
            xp.maximum(yc, 0, out=yc)
    return y


def _col2im_add(dcols, dxp, gm: _Geom) -> None:
    """Add every tap's slab of dcols at its offset in the padded input gradient dxp."""
    m = dxp.shape[0]
    cg = gm.c // gm.g
    he, we = gm.sh * (gm.ho - 1) + 1, gm.sw * (gm.wo - 1) + 1
    if gm.cl:
        dv = dcols.reshape(m, gm.ho, gm.wo, gm.g, gm.kh, gm.kw, cg)
        for i in range(gm.kh):
            for j in range(gm.kw):
                r0, c0 = i * gm.dh, j * gm.dw
                dst = dxp[:, r0:r0 + he:gm.sh, c0:c0 + we:gm.sw, :]
                dst = dst.reshape(m, gm.ho, gm.wo, gm.g, cg)
                dst += dv[:, :, :, :, i, j, :]
    else:  # channels-first (strided: stride 1 takes the flat path)
        dv = dcols.reshape(m, gm.g, cg, gm.kh, gm.kw, gm.ho, gm.wo)
        for i in range(gm.kh):
            for j in range(gm.kw):
                r0, c0 = i * gm.dh, j * gm.dw
                dst = dxp[:, :, r0:r0 + he:gm.sh, c0:c0 + we:gm.sw]
                dst += dv[:, :, :, i, j].reshape(m, gm.c, gm.ho, gm.wo)


def _input_grad_flat_cl(g, w, gm: _Geom, dx) -> None:
    """dx for stride-1 convs: GEMMs, then one sum over a tap-aligned view (no col2im loop).

    Planes are handled flat: over the padded width Wp, output position (y, x) sits at
    y·Wp + x and tap (i, j) moves it to y·Wp + x + off, off = i·dh·Wp + j·dw. With g
    zero-extended to that grid, the GEMM gives every tap a contiguous run that belongs
    ``off`` positions further on in dx. A strided view that steps back ``off`` per tap
    lines all kh·kw runs up with dx, so col2im is a single ``sum`` over the two tap axes
    (each value read once, dx written once) instead of kh·kw read-modify-write passes
    over strided slabs. Zero margins keep the shifted reads inside the buffer.

    This is the channels-last version (groups=1): the chunk's images are laid end to
    end as (m·Hp·Wp, C) and each tap gets its own GEMM g · W_tap, so its run of
    (position, channel) values is contiguous (an interleaved (·, kh·kw·C) output would
    leave runs of only C values for the sum). See :func:`_input_grad_flat_cf`.
    """
    xp = _xp(g)
    cg, og = gm.c // gm.g, gm.o // gm.g
    kg = cg * gm.kh * gm.kw
    kk = gm.kh * gm.kw
    hp, wp = gm.hp, gm.wp
    it = w.dtype.itemsize
    margin = (gm.kh - 1) * gm.dh * wp + (gm.kw - 1) * gm.dw
    plane = hp * wp
    m = _chunk(gm, kg * plane // (gm.ho * gm.wo), it)
    mp = margin + m * plane
    buf = xp.zeros((kk, mp, cg), dtype=w.dtype)
    gp = xp.zeros((m, hp, wp, og), dtype=w.dtype)
    wt = xp.ascontiguousarray(w.transpose(2, 3, 0, 1)).reshape(kk, og, cg)  # tap, O, C
    dxp = xp.empty((m, hp, wp, cg), dtype=w.dtype) if gm.padded else None
    for n0 in range(0, gm.n, m):
        gc = g[n0:n0 + m]
        mm = gc.shape[0]
        rows = mm * plane
        gp[:mm, :gm.ho, :gm.wo] = gc
        xp.matmul(gp[:mm].reshape(rows, og), wt, out=buf[:, margin:margin + rows])
        # v[i, j, q, c] = run of tap (i, j) at flat position q - off(i, j)
        v = _as_strided(xp, buf[0, margin:], (gm.kh, gm.kw, rows, cg),
                        ((gm.kw * mp - gm.dh * wp) * cg * it, (mp - gm.dw) * cg * it,
                         cg * it, it))
        if dxp is None:
            xp.sum(v, axis=(0, 1), out=dx[n0:n0 + mm].reshape(rows, cg))
        else:
            xp.sum(v, axis=(0, 1), out=dxp[:mm].reshape(rows, cg))
            dx[n0:n0 + mm] = dxp[:mm, gm.pt:gm.pt + gm.h, gm.pl:gm.pl + gm.w]


def _input_grad_flat_cf(g, w, gm: _Geom, dx) -> None:
    """channels-first stride-1 dx: one GEMM per chunk, then one sum over a tap view.

    The chunk's images are laid end to end on the padded grid (image n, position (y, x)
    at n·Hp·Wp + y·Wp + x), so dcols (G, Cg·kh·kw, m·Hp·Wp) = Wᵀ · g_grid is one GEMM
    (channel-major: one row per channel and tap) and the tap-aligned view of
    :func:`_input_grad_flat_cl` spans the whole chunk; rows of dcols are contiguous runs
    over all the chunk's positions, so the sum streams.
    """
    xp = _xp(g)
    cg, og = gm.c // gm.g, gm.o // gm.g
    kg = cg * gm.kh * gm.kw
    kk = gm.kh * gm.kw
    hp, wp = gm.hp, gm.wp
    it = w.dtype.itemsize
    plane = hp * wp
    margin = (gm.kh - 1) * gm.dh * wp + (gm.kw - 1) * gm.dw
    m = _chunk(gm, gm.g * kg * plane // (gm.ho * gm.wo), it)
    lb = margin + m * plane
    buf = xp.zeros((gm.g, kg, lb), dtype=w.dtype)
    gp = xp.zeros((gm.g, og, m, hp, wp), dtype=w.dtype)
    wt = w.reshape(gm.g, og, kg).transpose(0, 2, 1)
    start = margin + gm.pt * wp + gm.pl
    for n0 in range(0, gm.n, m):
        gc = g[n0:n0 + m]
        mm = gc.shape[0]
        gp[:, :, :mm, :gm.ho, :gm.wo] = gc.reshape(mm, gm.g, og, gm.ho, gm.wo).transpose(
            1, 2, 0, 3, 4)
        xp.matmul(wt, gp[:, :, :mm].reshape(gm.g, og, mm * plane),
                  out=buf[:, :, margin:margin + mm * plane])
        # v[g, c, i, j, n, r, q] = dcols[g, (c, i, j), n·Hp·Wp + r·Wp + q - off(i, j)]
        v = _as_strided(xp, buf[:, :, start:], (gm.g, cg, gm.kh, gm.kw, mm, gm.h, gm.w),
                        (kg * lb * it, kk * lb * it, (gm.kw * lb - gm.dh * wp) * it,
                         (lb - gm.dw) * it, plane * it, wp * it, it))
        out = dx[n0:n0 + mm].reshape(mm, gm.g, cg, gm.h, gm.w).transpose(1, 2, 0, 3, 4)
        xp.sum(v, axis=(2, 3), out=out)


def conv_input_grad_array(g, w, gm: _Geom, bias=None, out=None):
    """dx = col2im(Wᵀ g) on arrays (also the transposed convolution's forward, + bias)."""
    xp = _xp(g)
    dx = xp.empty(gm.x_shape(), dtype=w.dtype) if out is None else out
    if gm.n == 0:
        return dx
    g = xp.ascontiguousarray(g)
    if out is None and _split(gm, g, lambda lo, hi: conv_input_grad_array(
            g[lo:hi], w, gm.with_n(hi - lo), bias, out=dx[lo:hi])):
        return dx
    badd = None
    if bias is not None:
        badd = bias.reshape(1, 1, 1, -1) if gm.cl else bias.reshape(1, -1, 1, 1)
    if gm.sh == gm.sw == 1 and not gm.cl:
        _input_grad_flat_cf(g, w, gm, dx)
        if badd is not None:
            dx += badd
        return dx
    if gm.sh == gm.sw == 1 and gm.g == 1:
        _input_grad_flat_cl(g, w, gm, dx)
        if badd is not None:
            dx += badd
        return dx
    cg, og = gm.c // gm.g, gm.o // gm.g
    kg = cg * gm.kh * gm.kw
    p = gm.ho * gm.wo
    m = _chunk(gm, gm.g * kg, w.dtype.itemsize)
    w3 = w.reshape(gm.g, og, kg)
    if gm.cl:  # (G, Og, Kg) with Kg ordered (kh, kw, Cg)
        w3 = xp.ascontiguousarray(
            w.reshape(gm.g, og, cg, gm.kh, gm.kw).transpose(0, 1, 3, 4, 2)).reshape(gm.g, og, kg)
    dcols = xp.empty((m * p, gm.g, kg) if gm.cl else (m, gm.g, kg, p), dtype=w.dtype)
    direct = not gm.padded and bias is None
    dxp = None if direct else _pad_buffer(xp, gm, m, w.dtype)
    for n0 in range(0, gm.n, m):
        gc = g[n0:n0 + m]
        mm = gc.shape[0]
        if gm.cl:
            dc = dcols[:mm * p]
            if gm.g == 1:
                xp.matmul(gc.reshape(mm * p, og), w3[0], out=dc[:, 0])
            else:
                xp.matmul(gc.reshape(mm * p, gm.g, og).transpose(1, 0, 2), w3,
                          out=dc.transpose(1, 0, 2))
        else:
            dc = dcols[:mm]
            xp.matmul(w3.transpose(0, 2, 1), gc.reshape(mm, gm.g, og, p), out=dc)
        buf = dx[n0:n0 + mm] if direct else dxp[:mm]
        buf[...] = 0
        _col2im_add(dc, buf, gm)
        if direct:
            continue
        if badd is None:
            dx[n0:n0 + mm] = _interior(gm, buf)
        else:
            xp.add(_interior(gm, buf), badd, out=dx[n0:n0 + mm])
    return dx


def _split(gm: _Geom, a, fn):
    """Run ``fn(lo, hi)`` over halves (thirds...) of the batch on parallel threads, one
    BLAS thread each, when the convolution is big enough; the list of results, or None
    when it ran nothing (then the caller does the whole batch itself)."""
    if gm.n < 2 or not isinstance(a, np.ndarray):
        return None
    return _parallel.batch_split(fn, gm.n, gm.flops)


def _cols_cm(xp, gm: _Geom, xc, store, pad, ones: bool):
    """Channel-major im2col of a chunk: (G, Kg [+1], m·P), Kg ordered (Cg, kh, kw)."""
    m = xc.shape[0]
    cg = gm.c // gm.g
    kg = cg * gm.kh * gm.kw
    p = gm.ho * gm.wo
    ke = kg + ones
    cols = store[:gm.g * ke * m * p].reshape(gm.g, ke, m, p)
    if pad is not None:
        src = pad[:m]
        _interior(gm, src)[...] = xc
    else:
        src = xc
    dst = cols[:, :kg].reshape(gm.g, cg, gm.kh, gm.kw, m, gm.ho, gm.wo)
    _im2col(xp, gm, src, dst.transpose(4, 0, 1, 2, 3, 5, 6))  # window order (m, G, ...)
    if ones:
        cols[:, kg] = 1
    return cols.reshape(gm.g, ke, m * p)


def conv_weight_grad_array(x, g, gm: _Geom, w_shape, dtype, need_w=True, need_b=False):
    """(dW, db) on arrays: dW = g · colsᵀ, db = Σ g (from the ones row of cols).

    channels-first: per chunk, dWᵀ = cols · gᵀ with both in channel-major (K, m·P) /
    (O, m·P) layout — one GEMM whose reduction runs over the whole chunk, the fastest
    orientation for this tall-skinny product.
    """
    xp = _xp(g)
    cg, og = gm.c // gm.g, gm.o // gm.g
    kg = cg * gm.kh * gm.kw
    gw = gb = None
    if not need_w:
        if need_b:
            axes = (0, 1, 2) if gm.cl else (0, 2, 3)
            gb = g.sum(axis=axes, dtype=dtype)
        return None, gb
    g = xp.ascontiguousarray(g)
    parts = _split(gm, g, lambda lo, hi: conv_weight_grad_array(
        x[lo:hi], g[lo:hi], gm.with_n(hi - lo), w_shape, dtype, need_w, need_b))
    if parts:  # partial sums over each thread's images
        gw, gb = parts[0]
        for pw, pb in parts[1:]:
            gw += pw
            if gb is not None:
                gb += pb
        return gw, gb
    ke = kg + need_b
    acc = xp.zeros((gm.g, ke, og), dtype=dtype)
    p = gm.ho * gm.wo
    if gm.n:
        m = _chunk(gm, gm.g * ke, np.dtype(dtype).itemsize)
        # channel-major pays its transpose of g only when K is large enough
        cm = not gm.cl and ke >= _CM_MIN_K
        if not cm:
            make = _Cols(xp, gm, m, dtype, ones=need_b)
        else:
            store = xp.empty(gm.g * ke * m * p, dtype=dtype)
            gstore = xp.empty(gm.o * m * p, dtype=dtype)
            pad = _pad_buffer(xp, gm, m, dtype) if gm.padded else None
        for n0 in range(0, gm.n, m):
            xc, gc = x[n0:n0 + m], g[n0:n0 + m]
            mm = gc.shape[0]
            if gm.cl:
                cols = make(xc)
                g3 = gc.reshape(mm * p, gm.g, og)
                if gm.g == 1:
                    acc[0] += cols[:, 0].T @ g3[:, 0]
                else:
                    acc += xp.matmul(cols.transpose(1, 2, 0), g3.transpose(1, 0, 2))
            elif not cm:  # per image: (m, G, K, P) · (m, G, P, Og), summed over the chunk
                cols = make(xc)
                part = xp.matmul(cols, gc.reshape(mm, gm.g, og, p).transpose(0, 1, 3, 2))
                acc += part[0] if mm == 1 else part.sum(axis=0)
            else:
                cols = _cols_cm(xp, gm, xc, store, pad, need_b)
                gcm = gstore[:gm.o * mm * p].reshape(gm.g, og, mm, p)
                xp.copyto(gcm, gc.reshape(mm, gm.g, og, p).transpose(1, 2, 0, 3))
                acc += xp.matmul(cols, gcm.reshape(gm.g, og, mm * p).transpose(0, 2, 1))
    if need_b:
        gb = xp.ascontiguousarray(acc[:, kg]).reshape(gm.o)
    if gm.cl:  # (G, kh, kw, Cg, Og) -> (O, Cg, kh, kw)
        gw = acc[:, :kg].reshape(gm.g, gm.kh, gm.kw, cg, og).transpose(0, 4, 3, 1, 2)
    else:  # (G, Cg, kh, kw, Og) -> (O, Cg, kh, kw)
        gw = acc[:, :kg].reshape(gm.g, cg, gm.kh, gm.kw, og).transpose(0, 4, 1, 2, 3)
    return xp.ascontiguousarray(gw).reshape(w_shape), gb


# --- autograd Functions -----------------------------------------------------------------

def _lift(a, gm: _Geom, nd: int):
    """View an (N, C, L) / (N, L, C) array as 2-D with unit height."""
    if nd == 2:
        return a
    s = a.shape
    return a.reshape(s[0], 1, s[1], s[2]) if gm.cl else a.reshape(s[0], s[1], 1, s[2])


def _drop(a, nd: int, cl: bool):
    if nd == 2:
        return a
    s = a.shape
    return a.reshape(s[0], s[2], s[3]) if cl else a.reshape(s[0], s[1], s[3])


def _w2d(w, nd: int):
    return w if nd == 2 else w.reshape(w.shape[0], w.shape[1], 1, w.shape[2])


class ConvNd(Function):
    """Fused convolution (forward: im2col + GEMM; backward: GEMMs + col2im)."""

    @staticmethod
    def forward(ctx, x, w, b, gm, nd, relu=False):
        ctx.save_for_backward(x, w)
        ctx.gm, ctx.nd = gm, nd
        y = conv_forward_array(_lift(x.data, gm, nd), _w2d(w.data, nd),
                               None if b is None else b.data, gm, relu)
        ctx.y = y if relu else None
        return _drop(y, nd, gm.cl)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # dx = col2im(Wᵀg), dW = g·colsᵀ, db = Σg  (g masked by y > 0)
        x, w = ctx.saved_tensors
        gm, nd = ctx.gm, ctx.nd
        nx, nw, nb = ctx.needs_input_grad[:3]
        g2 = _lift(g.data, gm, nd)
        if ctx.y is not None:
            g2 = g2 * (ctx.y > 0)
        w2 = _w2d(w.data, nd)
        dx = _drop(conv_input_grad_array(g2, w2, gm), nd, gm.cl) if nx else None
        dw = db = None
        if nw or nb:
            dw, db = conv_weight_grad_array(_lift(x.data, gm, nd), g2, gm, w2.shape,
                                            w.data.dtype, need_w=nw, need_b=nb)
            if dw is not None:
                dw = dw.reshape(w.data.shape)
        return dx, dw, db, None, None, None


class ConvTransposeNd(Function):
    """Fused transposed convolution: the adjoint of ConvNd with respect to its input."""

    @staticmethod
    def forward(ctx, x, w, b, gm, nd):
        ctx.save_for_backward(x, w)
        ctx.gm, ctx.nd = gm, nd
        y = conv_input_grad_array(_lift(x.data, gm, nd), _w2d(w.data, nd), gm,
                                  bias=None if b is None else b.data)
        return _drop(y, nd, gm.cl)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # dx = conv(g, W), dW = x·colsᵀ(g), db = Σg
        x, w = ctx.saved_tensors
        gm, nd = ctx.gm, ctx.nd
        nx, nw, nb = ctx.needs_input_grad[:3]
        g2 = _lift(g.data, gm, nd)
        w2 = _w2d(w.data, nd)
        dx = _drop(conv_forward_array(g2, w2, None, gm), nd, gm.cl) if nx else None
        dw = db = None
        if nw:
            dw, _ = conv_weight_grad_array(g2, _lift(x.data, gm, nd), gm, w2.shape, w.data.dtype)
            dw = dw.reshape(w.data.shape)
        if nb:
            db = g.data.sum(axis=tuple(i for i in range(g.data.ndim)
                                       if i != (g.data.ndim - 1 if gm.cl else 1)))
        return dx, dw, db, None, None


# --- public functions -------------------------------------------------------------------

def _conv(fn, nd, x, weight, bias, stride, padding, dilation, groups, data_format, activation):
    cl = _channels_last(data_format, fn)
    if activation not in (None, "linear", "relu"):
        raise ValueError(f"{fn}: activation must be None or 'relu' (fused), got {activation!r}")
    x = _check_float(x, weight, bias, fn)
    gm = _geometry(fn, x.data.shape, weight.data.shape, stride, padding, dilation, groups, cl,
                   nd, bias=bias)
    return ConvNd.apply(x, weight, bias, gm, nd, activation == "relu")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
           padding=0, dilation=1, groups: int = 1,
           data_format: str = "channels_first", activation: str | None = None) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) over (N, C, H, W) or (N, H, W, C).

    Args:
        input: (N, C_in, H, W), or (N, H, W, C_in) with ``data_format="channels_last"``.
        weight: (C_out, C_in/groups, kh, kw) in either layout.
        bias: (C_out,) or None.
        stride, dilation: int or (sh, sw).
        padding: int, (ph, pw), ((top, bottom), (left, right)), ``'valid'`` (no padding)
            or ``'same'`` (output size ceil(H/stride); the odd pixel goes at the end, as
            TensorFlow does; PyTorch allows 'same' only with stride 1, where both agree).
        groups: split the channels into this many independent convolutions
            (``groups = C_in = C_out`` is a depthwise convolution).
        activation: ``'relu'`` fuses max(·, 0) into the kernel (nerve extension, used by
            Keras-style layers): no separate pass over the output, forward or backward.

    Returns (N, C_out, H_out, W_out) with H_out = ⌊(H + pt + pb - dh·(kh-1) - 1)/sh⌋ + 1.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups,
                 data_format, activation)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
           padding=0, dilation=1, groups: int = 1,
           data_format: str = "channels_first", activation: str | None = None) -> Tensor:
    """1-D convolution over (N, C, L) or (N, L, C); weight (C_out, C_in/groups, k).

    Same arguments as :func:`conv2d` with one spatial dimension (it runs the 2-D kernel
    on a unit-height view, without copying).
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups,
                 data_format, activation)


def _conv_t(fn, nd, x, weight, bias, stride, padding, output_padding, groups, dilation,
            data_format):
    cl = _channels_last(data_format, fn)
    x = _check_float(x, weight, bias, fn)
    gm = _geometry(fn, x.data.shape, weight.data.shape, stride, padding, dilation, groups, cl,
                   nd, transposed=True, output_padding=output_padding, bias=bias)
    # gm is the adjoint conv's geometry: it maps our output (gm.h, gm.w) to our input
    return ConvTransposeNd.apply(x, weight, bias, gm, nd)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1,
                     data_format: str = "channels_first") -> Tensor:
    """2-D transposed convolution (the gradient of conv2d with respect to its input).

    Args:
        input: (N, C_in, H, W) (or channels-last).
        weight: (C_in, C_out/groups, kh, kw), PyTorch's layout.
        output_padding: extra rows/columns added at the bottom/right of the output
            (must be smaller than the stride or the dilation).

    H_out = (H - 1)·sh - 2·ph + dh·(kh - 1) + output_padding + 1.
    """
    return _conv_t("conv_transpose2d", 2, input, weight, bias, stride, padding, output_padding,
                   groups, dilation, data_format)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
                     stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1,
                     data_format: str = "channels_first") -> Tensor:
    """1-D transposed convolution over (N, C_in, L); weight (C_in, C_out/groups, k)."""
    return _conv_t("conv_transpose1d", 1, input, weight, bias, stride, padding, output_padding,
                   groups, dilation, data_format)


__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]
