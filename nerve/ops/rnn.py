"""Fused recurrent kernels: Elman RNN (tanh/relu), LSTM and GRU over a whole sequence.

One Function runs one layer (one or both directions) over all time steps and
back-propagates through time by hand, with one GEMM per step each way:

- Elman RNN and GRU (:class:`Recurrent`): the input projection of every step is ONE GEMM,
  ``X Wᵢₕᵀ`` over (T·B) rows; each step adds one GEMM ``h_{t-1} Wₕₕᵀ``; after the backward
  loop, one GEMM each gives ``∂X``, ``∂Wᵢₕ`` and ``∂Wₕₕ`` over all steps.
- LSTM (:class:`LSTMLayer`): each step multiplies ``[xₜ | h_{t-1} | 1]`` by
  ``[Wᵢₕ | Wₕₕ | b]ᵀ`` — input, recurrence and bias in ONE GEMM, with no projection array
  to add back step by step (measured faster). Inference computes the gates transposed
  (``_lstm_infer``). Backward's per-step GEMM yields ``∂h_{t-1}`` only; ``∂x`` and
  ``[∂Wᵢₕ | ∂Wₕₕ | ∂b]`` are one GEMM each per chunk of steps, on a second thread
  while the recurrence goes on (``_lstm_bwd_chunked``). Where NumPy's OpenBLAS has
  AVX-512 small-matrix kernels, the per-step GEMMs run in blocks small enough for them
  ("small GEMMs" below).

Gate equations (PyTorch's, with its gate order and weight layout)::

    Elman:  h' = act(Wᵢₕx + bᵢₕ + Wₕₕh + bₕₕ),  act = tanh or relu
    LSTM:   i, f, g, o = σ(·), σ(·), tanh(·), σ(·)  of  Wᵢₕx + bᵢₕ + Wₕₕh + bₕₕ  (rows i|f|g|o)
            c' = f⊙c + i⊙g,   h' = o⊙tanh(c')
    GRU:    r, z = σ(Wᵢᵣx + bᵢᵣ + Wₕᵣh + bₕᵣ), σ(Wᵢ𝓏x + bᵢ𝓏 + Wₕ𝓏h + bₕ𝓏)   (rows r|z|n)
            n = tanh(Wᵢₙx + bᵢₙ + r⊙(Wₕₙh + bₕₙ)),   h' = (1-z)⊙n + z⊙h

Tricks that keep it fast in NumPy: σ(a) = ½·tanh(a/2) + ½, with the ½ folded into the
weights, so one ``tanh`` call serves all LSTM gates; the LSTM gates are reordered
internally to (i, f, o, g) so the sigmoid gates are one contiguous block; the ¼ of
σ' = ¼(1 - tanh²(a/2)) is folded into the backward weights.

Variable lengths: ``lengths`` (one per sequence, sorted in decreasing order) makes
step t work on the first ``batch_sizes[t]`` rows only, as PyTorch's packed sequences do.
Padded steps output zeros and leave the states alone; final states are taken at each
sequence's last valid step (the first step, for the reverse direction).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from .. import _backend as B
from .. import _parallel
from .._memory import CACHE_LINE, aligned_copy, aligned_empty
from ..autograd import Function, once_differentiable
from ..tensor import Tensor

W = Tensor._wrap

_MODES = ("RNN_TANH", "RNN_RELU", "LSTM", "GRU")
_NO_LOCK = contextlib.nullcontext()
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# --- denormal guard ------------------------------------------------------------------------------
#
# Going back through time, ∂h and ∂c shrink geometrically; after ~100 steps they reach the
# denormal range (< 1.2e-38 in float32), where every multiply takes a microcode assist
# on Intel CPUs: one LSTM backward of 200 steps went from 0.16 s to 2 s. Entries of the
# carried ∂h, ∂c below FLUSH[dtype] are set to zero (every step, every 4th for the LSTM),
# so they vanish instead of crawling through the denormals (and Adam, squaring the
# gradients, stays clear of them too).
# In float32 that is 2⁻⁵⁰ ≈ 8.9e-16, far below any gradient that moves a weight (Adam's
# ε is 1e-8); in float64 the bound only guards against denormals.

FLUSH = {np.dtype(np.float32): 2.0 ** -50, np.dtype(np.float64): 2.0 ** -900}


class _Flush:
    """Zero the entries of small arrays whose magnitude is below the dtype's bound."""

    def __init__(self, shape, dt, xp=np):
        self.thr = dt.type(FLUSH.get(np.dtype(dt), 0.0))
        self.tmp = xp.empty(shape, dt)
        self.mask = xp.empty(shape, bool)
        self.xp = xp

    def __call__(self, a):
        n = a.shape[0]
        t, m = self.tmp[:n], self.mask[:n]
        self.xp.abs(a, out=t)
        self.xp.less(t, self.thr, out=m)
        self.xp.copyto(a, 0, where=m)


# --- weight preparation: PyTorch layout -> internal layout ------------------------------------

def _cat_rows(xp, blocks):
    return xp.concatenate(blocks, axis=0)


class _Weights:
    """One direction's weights in the kernel's layout (forward and backward variants).

    ``wih`` (G, I) and ``bias`` (G,) produce the input projection; ``whhT`` (H, G) the
    recurrence; ``wih_b`` / ``whh_b`` are what backward multiplies the gate gradients by.
    """

    __slots__ = ("wih", "bias", "whhT", "bhn", "wih_b", "whh_b")

    def __init__(self, mode, w_ih, w_hh, b_ih, b_hh):
        xp = B.xp_of(w_ih)
        dt = w_ih.dtype
        H = w_hh.shape[1]
        half = dt.type(0.5)
        nb = b_ih is None
        self.bhn = None
        if mode == "GRU":
            r, z, n = (slice(k * H, (k + 1) * H) for k in range(3))
            wih = _cat_rows(xp, [w_ih[n], w_ih[r], w_ih[z]])  # internal order n | r | z
            sc = xp.ones((3 * H, 1), dt)
            sc[H:] = half
            self.wih = wih * sc
            sch = xp.ones((3 * H, 1), dt)
            sch[:2 * H] = half
            self.whhT = (w_hh * sch).T  # PyTorch's order r | z | n
            if nb:
                self.bias = None
            else:
                b = _cat_rows(xp, [b_ih[n], b_ih[r] + b_hh[r], b_ih[z] + b_hh[z]])
                self.bias = b * sc[:, 0]
                self.bhn = b_hh[n]
            self.wih_b = wih
            self.whh_b = w_hh
        else:
            self.wih = w_ih
            self.whhT = w_hh.T
            self.bias = None if nb else b_ih + b_hh
            self.wih_b = w_ih
            self.whh_b = w_hh


def _unpermute_grads(mode, H, dwih_int, dwhh_int, db_int, dbhn):
    """Internal-layout gradients -> PyTorch's (w_ih, w_hh, b_ih, b_hh) gradients."""
    if mode == "GRU":
        n, r, z = (slice(k * H, (k + 1) * H) for k in range(3))
        dwih = None if dwih_int is None else \
            _cat_rows(B.xp_of(dwih_int), [dwih_int[r], dwih_int[z], dwih_int[n]])
        if db_int is None:
            return dwih, dwhh_int, None, None
        xp = B.xp_of(db_int)
        dbih = _cat_rows(xp, [db_int[r], db_int[z], db_int[n]])
        dbhh = _cat_rows(xp, [db_int[r], db_int[z], dbhn])
        return dwih, dwhh_int, dbih, dbhh
    return dwih_int, dwhh_int, db_int, db_int


# --- one direction, forward --------------------------------------------------------------------

def _prev_h(y, h0, t, T, reverse, bs, b):
    """h_{t-1} for the active rows (the next step's output for the reverse direction)."""
    if reverse:
        if t == T - 1:
            return h0[:b]
        if bs is not None and bs[t + 1] < b:  # rows starting here begin from h0
            r0 = bs[t + 1]
            y[t + 1, r0:b] = h0[r0:b]
        return y[t + 1, :b]
    return h0[:b] if t == 0 else y[t - 1, :b]


def _unfill(y, t, T, reverse, bs, b):
    """Undo _prev_h's borrowing of padded output rows (they must stay zero)."""
    if reverse and bs is not None and t < T - 1 and bs[t + 1] < b:
        y[t + 1, bs[t + 1]:b] = 0


def _elman_fwd(mode, xw, w, h0, y, bs, reverse):
    xp = B.xp_of(xw)
    T, Bn, H = xw.shape
    tmp = xp.empty((Bn, H), xw.dtype)
    bias = w.bias
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        b = Bn if bs is None else bs[t]
        hp = _prev_h(y, h0, t, T, reverse, bs, b)
        a = xw[t, :b]
        np.matmul(hp, w.whhT, out=tmp[:b])
        a += tmp[:b]
        if bias is not None:
            a += bias
        _unfill(y, t, T, reverse, bs, b)
        if mode == "RNN_TANH":
            np.tanh(a, out=y[t, :b])
        else:
            np.maximum(a, 0, out=y[t, :b])
    return {}


def _gru_fwd(xw, w, h0, y, bs, reverse, train):
    xp = B.xp_of(xw)
    T, Bn, G = xw.shape
    H = G // 3
    dt = xw.dtype
    half = dt.type(0.5)
    gh = xp.empty((Bn, G), dt)
    tmp = xp.empty((Bn, H), dt)
    bias, bhn = w.bias, w.bhn
    if train:
        S = xp.empty((T, Bn, 2 * H), dt)
        GHN = xp.empty((T, Bn, H), dt)
        DHN = xp.empty((T, Bn, H), dt)
    else:
        s_buf = xp.empty((Bn, 2 * H), dt)
        dhn_buf = xp.empty((Bn, H), dt)
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        b = Bn if bs is None else bs[t]
        hp = _prev_h(y, h0, t, T, reverse, bs, b)
        a = xw[t, :b]  # internal columns n | r | z
        g = gh[:b]  # columns r | z | n
        np.matmul(hp, w.whhT, out=g)
        if bias is not None:
            a += bias
        ghn = g[:, 2 * H:]
        if bhn is not None:
            ghn += bhn
        rz = a[:, H:]
        rz += g[:, :2 * H]
        np.tanh(rz, out=rz)
        s = S[t, :b] if train else s_buf[:b]
        np.multiply(rz, half, out=s)
        s += half  # r | z
        n = a[:, :H]
        np.multiply(s[:, :H], ghn, out=tmp[:b])
        n += tmp[:b]
        np.tanh(n, out=n)
        if train:
            GHN[t, :b] = ghn
        d = DHN[t, :b] if train else dhn_buf[:b]
        np.subtract(hp, n, out=d)  # h - n
        _unfill(y, t, T, reverse, bs, b)
        np.multiply(s[:, H:], d, out=tmp[:b])
        np.add(n, tmp[:b], out=y[t, :b])  # h' = n + z⊙(h - n)
    if train:
        return {"S": S, "GHN": GHN, "DHN": DHN}
    return {}


# --- one direction, backward -------------------------------------------------------------------

def _elman_bwd(mode, y, dy, dh, dG, w, bs, reverse):
    xp = B.xp_of(dG)
    T, Bn, H = dG.shape
    one = dG.dtype.type(1)
    flush = _Flush((Bn, H), dG.dtype, xp)
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        b = Bn if bs is None else bs[t]
        dhb = dh[:b]
        dhb += dy[t, :b]
        hb = y[t, :b]
        dg = dG[t, :b]
        if mode == "RNN_TANH":
            np.multiply(hb, hb, out=dg)
            np.subtract(one, dg, out=dg)
            dg *= dhb  # (1 - h²) ∂h
        else:
            np.greater(hb, 0, out=dg, casting="unsafe")
            dg *= dhb  # [h > 0] ∂h
        np.matmul(dg, w.whh_b, out=dhb)
        flush(dhb)


def _gru_bwd(sv, xw, dy, dh, dG, w, bs, reverse):
    xp = B.xp_of(dG)
    T, Bn, G4 = dG.shape
    H = G4 // 4
    H2, H3 = 2 * H, 3 * H
    dt = dG.dtype
    one = dt.type(1)
    S, GHN, DHN = sv["S"], sv["GHN"], sv["DHN"]
    flush = _Flush((Bn, H), dt, xp)
    dz_h = xp.empty((Bn, H), dt)
    t2 = xp.empty((Bn, H2), dt)
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        b = Bn if bs is None else bs[t]
        dhb = dh[:b]
        dhb += dy[t, :b]
        s, n = S[t, :b], xw[t, :b, :H]
        dg = dG[t, :b]  # columns ∂n_pre | ∂r_pre | ∂z_pre | ∂(Wₕₙh + bₕₙ)
        np.multiply(dhb, DHN[t, :b], out=dg[:, H2:H3])  # ∂z = ∂h ⊙ (h - n)
        zd = dz_h[:b]
        np.multiply(dhb, s[:, H:], out=zd)  # ∂h ⊙ z: the direct path to h_prev
        dn = dg[:, :H]
        np.subtract(dhb, zd, out=dn)  # ∂n = ∂h ⊙ (1 - z)
        x2 = t2[:b, :H]
        np.multiply(n, n, out=x2)
        np.subtract(one, x2, out=x2)
        dn *= x2  # through tanh
        np.multiply(dn, GHN[t, :b], out=dg[:, H:H2])  # ∂r = ∂n_pre ⊙ (Wₕₙh + bₕₙ)
        np.multiply(dn, s[:, :H], out=dg[:, H3:])  # ∂(Wₕₙh + bₕₙ) = ∂n_pre ⊙ r
        x2 = t2[:b]
        np.multiply(s, s, out=x2)
        np.subtract(s, x2, out=x2)
        dg[:, H:H3] *= x2  # σ' = σ(1 - σ)
        np.matmul(dg[:, H:], w.whh_b, out=dhb)
        dhb += zd
        flush(dhb)


# --- the Function ------------------------------------------------------------------------------

def _batch_sizes(lengths, T):
    """batch_sizes[t] = number of sequences longer than t (lengths sorted decreasing)."""
    return [int(v) for v in (np.asarray(lengths)[None, :] > np.arange(T)[:, None]).sum(1)]


class Recurrent(Function):
    """One Elman-RNN or GRU layer (``mode`` RNN_TANH, RNN_RELU or GRU), one or two directions.

    Positional inputs: ``x`` (T, B, I) or (B, T, I) with ``batch_first``, ``h0`` (D, B, H)
    or None, then per direction ``w_ih, w_hh, b_ih, b_hh`` (biases may be None).
    Outputs: ``y`` (T, B, D·H) (or (B, T, D·H)) and ``h_n`` (D, B, H).
    """

    @staticmethod
    def forward(ctx, x, h0, *weights, mode, batch_first=False, lengths=None):
        xd = x.data
        xp = B.xp_of(xd)
        dt = xd.dtype
        D = len(weights) // 4
        ws = [[None if t is None else t.data for t in weights[4 * d:4 * d + 4]] for d in range(D)]
        H = ws[0][1].shape[1]
        Bn, T, I = xd.shape if batch_first else (xd.shape[1], xd.shape[0], xd.shape[2])
        train = any(ctx.needs_input_grad)
        bs = None if lengths is None else _batch_sizes(lengths, T)
        h0d = xp.zeros((D, Bn, H), dt) if h0 is None else h0.data
        y = (xp.empty if bs is None else xp.zeros)((T, Bn, D * H), dt)
        if xd.flags.c_contiguous:  # project in the input's own layout: no copy of x
            x2 = xd.reshape(-1, I)
        else:
            x2 = xd.transpose(1, 0, 2) if batch_first else xd
            x2 = xp.ascontiguousarray(x2).reshape(-1, I)  # time-major rows
        hn = xp.empty((D, Bn, H), dt)
        saved = []
        for d in range(D):
            w = _Weights(mode, *ws[d])
            xw = x2 @ w.wih.T  # one GEMM for every time step's input projection
            if xd.flags.c_contiguous and batch_first:
                xw_t = xw.reshape(Bn, T, -1).transpose(1, 0, 2)
            else:
                xw_t = xw.reshape(T, Bn, -1)
            yd = y[:, :, d * H:(d + 1) * H]
            rev = d == 1
            if mode == "GRU":
                sv = _gru_fwd(xw_t, w, h0d[d], yd, bs, rev, train)
            else:
                sv = _elman_fwd(mode, xw_t, w, h0d[d], yd, bs, rev)
            # final state: the last valid step (the first step for the reverse direction)
            if rev or bs is None:
                hn[d] = yd[0] if rev else yd[T - 1]
            else:
                hn[d] = yd[np.asarray(lengths) - 1, np.arange(Bn)]
            saved.append((w, xw_t, sv))
        if train:
            ctx.mode, ctx.bs, ctx.lengths, ctx.batch_first = mode, bs, lengths, batch_first
            ctx.x, ctx.h0, ctx.y, ctx.dirs, ctx.H = xd, h0d, y, saved, H
            ctx.has_bias = weights[2] is not None
        return (y.transpose(1, 0, 2) if batch_first else y), hn

    @staticmethod
    @once_differentiable
    def backward(ctx, gy, ghn):
        mode, bs, H, y, x = ctx.mode, ctx.bs, ctx.H, ctx.y, ctx.x
        xp = B.xp_of(y)
        dt = y.dtype
        T, Bn = y.shape[:2]
        gyd = gy.data
        dy_t = gyd.transpose(1, 0, 2) if ctx.batch_first else gyd
        D = len(ctx.dirs)
        needs = ctx.needs_input_grad
        gru = mode == "GRU"
        Gs = 4 * H if gru else H  # GRU keeps one extra column block, ∂(Wₕₙh + bₕₙ)
        alloc = xp.empty if bs is None else xp.zeros
        gx = None
        gh0 = xp.empty((D, Bn, H), dt)
        wgrads = []
        xt = None
        for d, (w, xw_t, sv) in enumerate(ctx.dirs):
            rev = d == 1
            dG = alloc((T, Bn, Gs), dt)
            dh = ghn.data[d].copy()
            dyd = dy_t[:, :, d * H:(d + 1) * H]
            yd = y[:, :, d * H:(d + 1) * H]
            if gru:
                _gru_bwd(sv, xw_t, dyd, dh, dG, w, bs, rev)
            else:
                _elman_bwd(mode, yd, dyd, dh, dG, w, bs, rev)
            gh0[d] = dh
            dG2 = dG.reshape(T * Bn, Gs)
            dGx = dG2[:, :3 * H] if gru else dG2  # columns that multiply x
            dGh = dG2[:, H:] if gru else dG2  # columns that multiply h
            if needs[0]:  # ∂X = ∂G Wᵢₕ (one GEMM over every step)
                g = (dGx @ w.wih_b).reshape(T, Bn, -1)
                if gx is None:
                    gx = g
                else:
                    gx += g
            i0 = 2 + 4 * d
            dwih = dwhh = db = dbhn = None
            if needs[i0]:  # ∂Wᵢₕ = ∂Gᵀ X
                if xt is None:
                    xt = x.transpose(1, 0, 2) if ctx.batch_first else x
                    xt = xp.ascontiguousarray(xt).reshape(T * Bn, -1)
                dwih = dGx.T @ xt
            if needs[i0 + 1]:
                dwhh = _dw_hh(dGh, yd, ctx.h0[d], rev, ctx.lengths)
            if ctx.has_bias and (needs[i0 + 2] or needs[i0 + 3]):
                db = dGx.sum(0)
                if gru:
                    dbhn = dG2[:, 3 * H:].sum(0)
            wgrads.extend(_unpermute_grads(mode, H, dwih, dwhh, db, dbhn))
        if gx is not None and ctx.batch_first:
            gx = gx.transpose(1, 0, 2)
        return (gx if needs[0] else None, gh0 if needs[1] else None, *wgrads)


def _dw_hh(dGh, yd, h0, rev, lengths):
    """∂Wₕₕ = Σₜ ∂Gₜᵀ h_{t-1}: h_{t-1} is the neighbouring output step, or h0 at the start."""
    T, Bn, H = yd.shape
    Gh = dGh.shape[1]
    dGh3 = dGh.reshape(T, Bn, Gh)
    if rev:
        dwhh = dGh3[:-1].reshape(-1, Gh).T @ yd[1:].reshape(-1, H)
        first = dGh3[T - 1] if lengths is None else dGh3[np.asarray(lengths) - 1, np.arange(Bn)]
    else:
        dwhh = dGh3[1:].reshape(-1, Gh).T @ yd[:-1].reshape(-1, H)
        first = dGh3[0]
    dwhh += first.T @ h0
    return dwhh


# --- small GEMMs ---------------------------------------------------------------------------------
#
# OpenBLAS's AVX-512 kernels (SkylakeX and later) multiply a small product (M·N·K <= 1e6)
# straight from its operands; a bigger one is first packed into blocks — all of W again
# on every step of a recurrence. Cut into blocks (one batched ``matmul``: NumPy loops over
# them in C), the LSTM's per-step GEMMs take the small path (1 thread, float32):
#   inference  Gᵀ = W Zₖ    512x257 @ 257x32 in row blocks of 64:      74.5 -> 53-59 µs
#   training   G = Zₖ Wᵀ    32x257 @ 257x512 in column blocks of 64:   77 -> 59 µs
#   backward   ∂h = ∂G Wₕₕ  64x512 @ 512x128 in row blocks of 8:       71 -> 57 µs
# LSTM classifier (B=64, split in two threads): inference 26.1 -> 23.6 ms, training step
# 87.3 -> 80.8 ms. Only when the operand read in place (the right-hand one) starts each
# row on a cache line: 16 or 32 bytes off, the blocked GEMM took 73-75 µs
# (``aligned_empty``). Measured over 4H 256-1024, K 129-513 and 8-256 batch rows: the
# blocks pay for a batch of 8, 16 or 32 (0.47-0.77x) and lose or tie at 24 or 48, when a
# block of the weights' side is at most ~0.6e6; a batch of 64 or 96 pays in groups of 32
# (inference: 512x257 @ 257x64 136.8 -> 120.7 µs; 0.79-0.96x) but not one of 128 or 256.
SMALL_GEMM_CORES = ("skylakex", "cooperlake", "sapphirerapids")
SMALL_GEMM_LIMIT = 1e6  # OpenBLAS's bound on M·N·K for its small-matrix path
SMALL_GEMM_BLOCK = 6e5  # M·N·K of one block


def _small_gemm_pays(mnk: float, xp, operand) -> bool:
    """Is a product of M·N·K = ``mnk``, whose right-hand side ``operand`` the small kernels
    would read in place, worth cutting into blocks on this BLAS? (``operand`` None: judge
    the shape alone.)"""
    if xp is not np or mnk <= SMALL_GEMM_LIMIT or _parallel.blas_core() not in SMALL_GEMM_CORES:
        return False
    if operand is None:
        return True
    return operand.dtype.char in "fd" and not (  # BLAS types, rows on cache lines
        operand.ctypes.data % CACHE_LINE or operand.strides[0] % CACHE_LINE or
        operand.strides[1] != operand.itemsize)


def _gemm_blocks(rows: int, n: int, k: int, xp, operand=None) -> tuple[int, int]:
    """(m, c): the weights' side (``rows`` gates, k inputs) of a step's product with ``n``
    batch rows cut into blocks of m rows, the batch into groups of c (inference only);
    (rows, n) = one GEMM (see above)."""
    c = n if n in (8, 16, 32) else 32 if n in (64, 96) else 0
    if not c or not _small_gemm_pays(rows * n * k, xp, operand):
        return rows, n
    for m in (128, 64, 32):
        if rows % m == 0 and m * c * k <= SMALL_GEMM_BLOCK:
            return m, c
    return rows, n


def _gemm_batch_blocks(b: int, n: int, k: int, xp, operand=None) -> int:
    """Batch rows per block of (b, k) @ (k, n) with a narrow right-hand side (n <= 128, the
    backward's ∂G Wₕₕ); ``b`` = one GEMM (see above)."""
    if n > 128 or not _small_gemm_pays(b * n * k, xp, operand):
        return b
    for m in (32, 16, 8):
        if b % m == 0 and m * n * k <= SMALL_GEMM_BLOCK:
            return m
    return b


# --- LSTM: input and recurrence in one GEMM per step ----------------------------------------------
#
# Each direction keeps a buffer Z of T+1 slots, slot k = [x | h | 1] (B, I+H+1): the input
# of a step, the state it reads and a column of ones for the bias. Step t multiplies its
# slot by Wᵀ = [Wᵢₕ | Wₕₕ | b]ᵀ (one GEMM: no separate input projection to add) and writes
# h_t into the h-part of the next slot. The outputs are then a strided view of Z, the
# weight gradient is ONE GEMM ∂Gᵀ Z = [∂Wᵢₕ | ∂Wₕₕ | ∂b], and backward's per-step GEMM
# ∂Gₜ [Wᵢₕ | Wₕₕ] yields ∂xₜ and ∂h_{t-1} together.

def _slots(t, rev):
    """(slot read by step t, slot its output h_t goes to)."""
    return (t + 1, t) if rev else (t, t + 1)


class _LSTMWeights:
    """One direction's weights, gates reordered to i|f|o|g (sigmoid gates contiguous).

    ``wT`` (I+H[+1], 4H) is the forward operand with the sigmoid rows halved (σ(a) =
    ½ tanh(a/2) + ½); ``wbx`` (4H, I) and ``wbh`` (4H, H), the backward ones for ∂x and
    ∂h, have them quartered (σ' = ¼(1 - tanh²(a/2))), so neither factor costs an
    elementwise pass.
    """

    __slots__ = ("wT", "wbx", "wbh", "H", "I")

    def __init__(self, w_ih, w_hh, b_ih, b_hh, backward=True):
        xp = B.xp_of(w_ih)
        dt = w_ih.dtype
        H = w_hh.shape[1]
        blocks = [w_ih, w_hh] + ([] if b_ih is None else [(b_ih + b_hh)[:, None]])
        w = xp.concatenate(blocks, axis=1)
        w = xp.concatenate([w[:2 * H], w[3 * H:], w[2 * H:3 * H]], axis=0)  # i f g o -> i f o g
        sc = xp.ones((4 * H, 1), dt)
        sc[:3 * H] = 0.5
        wT = (w * sc).T  # on a cache line: the blocked GEMM reads it in place
        self.wT = aligned_copy(wT) if xp is np else xp.ascontiguousarray(wT)
        sc[:3 * H] = 0.25
        I = w_ih.shape[1]
        # ∂x = ∂G Wᵢₕ (per chunk of steps) and ∂h_prev = ∂G Wₕₕ (per step) separately;
        # not needed for inference
        self.wbx = xp.ascontiguousarray(w[:, :I] * sc) if backward else None
        self.wbh = None
        if backward:  # on a cache line too (the backward's blocks read it in place)
            wbh = aligned_empty((4 * H, H), dt) if xp is np else xp.empty((4 * H, H), dt)
            self.wbh = xp.multiply(w[:, I:I + H], sc, out=wbh)
        self.H, self.I = H, I


def _lstm_fwd(Z, w, c0, bs, rev, train, out=None, lock=_NO_LOCK):
    """Run one direction over Z (see above); returns (gates R, tanh(c) TC, cells C) or c_n.

    ``out``: the (R, TC, C) arrays to fill when training (views of bigger ones, as when
    the batch is split across threads). ``lock``: held around each step's elementwise
    passes (see ``_by_rows``).
    """
    xp = B.xp_of(Z)
    T1, Bn, K = Z.shape
    T = T1 - 1
    H = w.H
    I = w.I
    hs = slice(I, I + H)
    H3 = 3 * H
    dt = Z.dtype
    half = dt.type(0.5)
    s_buf = xp.empty((Bn, H3), dt)
    ig = xp.empty((Bn, H), dt)
    if train:
        R, TC, C = out
        C[T if rev else 0] = c0
    else:
        r_buf = xp.empty((Bn, 4 * H), dt)
        tc_buf = xp.empty((Bn, H), dt)
        c_run = c0.copy()
    h0 = Z[T if rev else 0, :, hs].copy() if (rev and bs is not None) else None
    G = 4 * H
    m, nc = (G, Bn) if bs is not None else _gemm_blocks(G, Bn, K, xp, w.wT)
    m = m if nc == Bn else G  # no batch groups here (rows of 64 in groups: 0.96x)
    wTb = w.wT.reshape(K, -1, m).transpose(1, 0, 2) if m < G else None  # column blocks of Wᵀ
    for t in (range(T - 1, -1, -1) if rev else range(T)):
        b = Bn if bs is None else bs[t]
        p, q = _slots(t, rev)
        r0 = bs[t + 1] if (h0 is not None and t < T - 1) else b
        if r0 < b:  # reverse direction: these rows start here, from h0 (and c0)
            Z[p, r0:b, hs] = h0[r0:b]
            if train:
                C[p, r0:b] = c0[r0:b]
        a = R[t, :b] if train else r_buf[:b]
        if m < G:  # [x | h | 1] [Wᵢₕ | Wₕₕ | b]ᵀ, block by block
            np.matmul(Z[p, :b], wTb, out=a.reshape(b, -1, m).transpose(1, 0, 2))
        else:
            np.matmul(Z[p, :b], w.wT, out=a)
        if r0 < b:
            Z[p, r0:b, hs] = 0  # padded outputs stay zero
        if train:
            tc, cp, cn = TC[t, :b], C[p, :b], C[q, :b]
        else:
            tc = tc_buf[:b]
            cp = cn = c_run[:b]
        s = s_buf[:b]
        with lock:
            np.tanh(a, out=a)  # all gates at once (sigmoid ones at a/2: weights pre-halved)
            np.multiply(a[:, :H3], half, out=s)
            s += half  # i | f | o = ½ tanh + ½
            np.multiply(s[:, :H], a[:, H3:], out=ig[:b])  # i⊙g
            np.multiply(s[:, H:2 * H], cp, out=cn)  # f⊙c
            cn += ig[:b]
            np.tanh(cn, out=tc)
            np.multiply(s[:, 2 * H:], tc, out=Z[q, :b, hs])  # h = o⊙tanh(c)
    return (R, TC, C) if train else c_run


# Inference (no graph to keep, full-length batch) runs on transposed slots: slot k of
# Zᵀ (T+1, K, B) is the column block [x; h; 1] and each step computes Gᵀ = W Zₖ (4H, B).
# Every gate is then a block of whole rows, so the elementwise passes run on contiguous
# memory; on (B, 4H) they walk B strided rows and take 1.5x as long (a 32-row block:
# 20.5 vs 22.1 ms over 200 steps, of which the GEMMs are 16.5). The gate buffer holds
# rows c | g | f | i | o: f⊙c and i⊙g are ONE product of the adjacent blocks [f; i] and
# [c; g]. The inputs are transposed into their slots 8 steps at a time as the loop goes:
# up front, both threads' transposing copies of the whole input fought over memory
# (~2 ms instead of 0.5); a [x | h | 1] row layout with a transposed GEMM operand and a
# transposed h write measured 1% slower.

def _lstm_w_fm(w_ih, w_hh, b_ih, b_hh):
    """Forward operand W (4H, K) of the feature-major kernel: rows g|f|i|o, sigmoid rows
    halved, columns [Wᵢₕ | Wₕₕ | b]."""
    xp = B.xp_of(w_ih)
    H = w_hh.shape[1]
    blocks = [w_ih, w_hh] + ([] if b_ih is None else [(b_ih + b_hh)[:, None]])
    w = xp.concatenate(blocks, axis=1)
    half = w_ih.dtype.type(0.5)
    # PyTorch's rows i f g o -> g | f | i | o
    return xp.concatenate([w[2 * H:3 * H], w[H:2 * H] * half, w[:H] * half,
                           w[3 * H:] * half], axis=0)


FILL_CHUNK = 8  # inference: steps whose inputs are transposed into their slots at once


def _lstm_infer(Zt, W, c0, rev, x, lock=_NO_LOCK):
    """One direction over the transposed slots Zt (T+1, K, B) (see above); returns c_n
    (B, H). Every ``FILL_CHUNK`` steps it first copies the next steps' inputs from
    x (T, B, I) into their slots (a small transposing copy that stays in cache).
    ``lock``: held around each step's elementwise passes (see ``_by_rows``)."""
    xp = B.xp_of(Zt)
    T, I = x.shape[0], x.shape[2]
    Bn = Zt.shape[2]
    H = W.shape[0] // 4
    dt = Zt.dtype
    half = dt.type(0.5)
    buf = xp.empty((5 * H, Bn), dt)  # rows c | g | f | i | o
    buf[:H] = c0.T
    gates, sig = buf[H:], buf[2 * H:]
    fi, cg, c, o = buf[2 * H:4 * H], buf[:2 * H], buf[:H], buf[4 * H:]
    P = xp.empty((2 * H, Bn), dt)
    Pf, Pi = P[:H], P[H:]
    tc = xp.empty((H, Bn), dt)
    hs = slice(I, I + H)
    K = W.shape[1]
    m, nc = _gemm_blocks(4 * H, Bn, K, xp, Zt[0])  # W: blocks of m rows; batch: groups of nc
    Wb = W.reshape(-1, 1, m, K)
    gb = gates.reshape(-1, m, Bn // nc, nc).transpose(0, 2, 1, 3)  # (4H/m, B/nc, m, nc)
    Zg = Zt.reshape(T + 1, K, Bn // nc, nc).transpose(0, 2, 1, 3)
    for n, t in enumerate(range(T - 1, -1, -1) if rev else range(T)):
        p, q = _slots(t, rev)
        if n % FILL_CHUNK == 0:  # inputs of the next steps into their slots
            k = min(FILL_CHUNK, T - n)
            t0 = t - k + 1 if rev else t
            s0 = t0 + 1 if rev else t0
            Zt[s0:s0 + k, :I] = x[t0:t0 + k].transpose(0, 2, 1)
        np.matmul(Wb, Zg[p], out=gb)  # [Wᵢₕ | Wₕₕ | b] [x; h; 1], block by block
        with lock:
            np.tanh(gates, out=gates)  # all gates (sigmoid ones at a/2: weights pre-halved)
            np.multiply(sig, half, out=sig)
            sig += half  # f | i | o = ½ tanh + ½
            np.multiply(fi, cg, out=P)  # f⊙c | i⊙g
            np.add(Pf, Pi, out=c)
            np.tanh(c, out=tc)
            np.multiply(o, tc, out=Zt[q, hs])  # h = o⊙tanh(c)
    return c.T.copy()


def _lstm_bwd(R, TC, C, w, dy, dh_n, dc, bs, rev, dG, DXH, ends, release):
    """Back-propagate one direction through time: fills ∂G (T, B, 4H) into ``dG`` and ∂h
    into the h-part of ``DXH`` (T+1, B, I+H) (slot p(t): ∂h of the state step t read);
    the x-part (∂xₜ = ∂Gₜ Wᵢₕ) is the caller's, one GEMM per chunk of steps.

    ``dy`` may be None (no gradient reaches the outputs y, only the final states).
    ``dc`` (B, H) carries ∂c and is updated in place (it ends as ∂c₀). After its
    ``ends[k]``-th step (counted in loop order) it calls ``release(k)``.
    """
    xp = B.xp_of(R)
    T, Bn, G = R.shape
    H = G // 4
    H2, H3 = 2 * H, 3 * H
    I = w.I
    dt = R.dtype
    one, half = dt.type(1), dt.type(0.5)
    DXH[0 if rev else T, :, I:] = dh_n
    s_buf = xp.empty((Bn, H3), dt)
    t1 = xp.empty((Bn, H), dt)
    t2 = xp.empty((Bn, H), dt)
    D = xp.empty((Bn, G), dt)
    flush = _Flush((Bn, H), dt, xp)
    m = _gemm_batch_blocks(Bn, H, G, xp, w.wbh)  # ∂G Wₕₕ in blocks of m rows
    k = 0
    for n, t in enumerate(range(T) if rev else range(T - 1, -1, -1)):
        b = Bn if bs is None else bs[t]
        p, q = _slots(t, rev)
        dhb = DXH[q, :b, I:]
        if not rev and bs is not None and t < T - 1 and bs[t + 1] < b:
            dhb[bs[t + 1]:] = dh_n[bs[t + 1]:b]  # rows whose last step is t
        if dy is not None:
            dhb += dy[t, :b]
        a, tc, cp, dcb = R[t, :b], TC[t, :b], C[p, :b], dc[:b]
        s = s_buf[:b]
        np.multiply(a[:, :H3], half, out=s)
        s += half
        dg = dG[t, :b]
        x1, x2 = t1[:b], t2[:b]
        np.multiply(dhb, tc, out=dg[:, H2:H3])  # ∂o = ∂h ⊙ tanh(c)
        np.multiply(tc, tc, out=x2)
        np.subtract(one, x2, out=x2)
        np.multiply(dhb, s[:, H2:], out=x1)
        x1 *= x2
        dcb += x1  # ∂c += ∂h ⊙ o ⊙ (1 - tanh²c)
        np.multiply(dcb, a[:, H3:], out=dg[:, :H])  # ∂i = ∂c ⊙ g
        np.multiply(dcb, cp, out=dg[:, H:H2])  # ∂f = ∂c ⊙ c_prev
        np.multiply(dcb, s[:, :H], out=dg[:, H3:])  # ∂g = ∂c ⊙ i
        d = D[:b]
        np.multiply(a, a, out=d)
        np.subtract(one, d, out=d)
        dg *= d  # through tanh; σ's ¼ lives in the weights
        dcb *= s[:, H:H2]  # ∂c_prev = ∂c ⊙ f
        if m < b == Bn:  # ∂h_prev = ∂G Wₕₕ
            np.matmul(dg.reshape(-1, m, G), w.wbh, out=DXH[p, :, I:].reshape(-1, m, H))
        else:
            np.matmul(dg, w.wbh, out=DXH[p, :b, I:])
        if t % 4 == 0:  # every 4th step is enough to stay clear of the denormals
            flush(dcb)
            flush(DXH[p, :b, I:])
        if n + 1 == ends[k]:
            release(k)
            k += 1


# On a machine with several cores, the batch is split into row blocks that run the whole
# recurrence side by side on Python threads, one BLAS thread each (nerve._parallel): the
# rows of an LSTM are independent, and NumPy releases the GIL in its GEMMs and ufuncs, so
# the per-step elementwise passes (one core only otherwise) run on every core as well as
# the GEMMs. Only without ``lengths`` (a packed batch works on shrinking row prefixes).

MIN_SPLIT_ROWS = 8  # rows per thread below which the per-step GEMMs get too thin
# Only the forward is split by rows. Split the same way, the backward recurrence was
# slower (its elementwise passes are memory-bound: 32 rows cost nearly what 64 do); with
# a lock around them it tied with one thread (39.5 vs 39 ms). Its second core runs the
# input and weight gradients instead (``_lstm_bwd_chunked``).


def _own(w, lo, hi, Bn):
    """A thread's own copy of the per-step GEMM's weights when the batch is split: two
    threads reading one copy ran their GEMMs 8% slower than with a copy each (GEMM-only
    loops, 512x257 @ 257x32: 17.9 vs 16.9 ms; LSTM inference 2% faster in-model, the
    training forward unchanged, so only inference uses it)."""
    return w if (lo == 0 and hi == Bn) else w.copy()


def _by_rows(fn, Bn, flops, bs, xp):
    """[fn(lo, hi, lock) for row blocks]: split across threads when that pays, else
    [fn(0, Bn, no lock)]. NumPy arrays only (a GPU runs each step whole).

    The threads share one lock, held around each step's elementwise passes: each pass
    releases and retakes the GIL, and two threads interleaving their 8 passes hand the
    GIL back and forth, each hand-off waking a sleeping thread. Under the lock one
    thread's passes run while the other's GEMM does (LSTM inference at B=64: 24.4 vs
    24.6-25.7 ms; an uncontended lock costs 0.17 µs a step).
    """
    if xp is np and bs is None and Bn >= MIN_SPLIT_ROWS * min(_parallel.get_threads(), Bn):
        lock = threading.Lock()
        res = _parallel.batch_split(lambda lo, hi: fn(lo, hi, lock), Bn, flops)
        if res is not None:
            return res
    return [fn(0, Bn, _NO_LOCK)]


def _by_direction(runs, Bn, flops, bs, xp):
    """[results of run(lo, hi, lock) for each direction]: the two directions of a
    bidirectional layer side by side on two threads, each on the whole batch, when that
    pays; else one after the other, each split by rows (``_by_rows``).

    The directions are independent recurrences, so nothing is shared but the lock; a
    64-row GEMM on one thread does 23% more work per µs than two 32-row ones (130 vs 2 x
    80 µs at 64x257 @ 257x512), and a packed batch (``lengths``), which can't be split by
    rows, gets both cores too.
    """
    if len(runs) == 2 and xp is np:
        lock = threading.Lock()
        res = _parallel.batch_split(lambda k, _: [runs[k](0, Bn, lock)], 2, 2 * flops)
        if res is not None:
            return res
    return [_by_rows(run, Bn, flops, bs, xp) for run in runs]


def _lstm_unpermute(a, H):
    """Rows i|f|o|g (internal) -> i|f|g|o (PyTorch)."""
    return B.xp_of(a).concatenate([a[:2 * H], a[3 * H:], a[2 * H:3 * H]], axis=0)


def _fill_slots(Z, lo, hi, xt, h0, rev, has_bias):
    """Rows lo:hi of the slots Z (T+1, B, I+H[+1]): inputs xt (T, B, I) in their slots,
    zeros in the spare one, h0 where the first step reads it, ones in the bias column.
    Each thread of a split batch fills its own rows (so the copy runs on every core)."""
    T, I = xt.shape[0], xt.shape[2]
    H = h0.shape[1]
    z = Z[:, lo:hi]
    if rev:
        z[1:, :, :I] = xt[:, lo:hi]
        z[0, :, :I] = 0
    else:
        z[:T, :, :I] = xt[:, lo:hi]
        z[T, :, :I] = 0
    if has_bias:
        z[:, :, I + H] = 1
    z[T if rev else 0, :, I:I + H] = h0[lo:hi]
    return z


def _lstm_inference(xt, h0d, c0d, ws, batch_first, hn, cn):
    """LSTMLayer's forward without a graph or lengths: gates computed transposed."""
    xp = B.xp_of(xt)
    T, Bn, I = xt.shape
    H = h0d.shape[2]
    has_bias = ws[0][2] is not None
    K = I + H + has_bias
    hs = slice(I, I + H)
    ys, runs, slots = [], [], []
    for d, wd in enumerate(ws):
        rev = d == 1
        Wd = _lstm_w_fm(*wd)
        shape = (T + 1, K, Bn)  # on a cache line: the blocked GEMM reads the slots in place
        Zt = aligned_empty(shape, xt.dtype) if xp is np else xp.empty(shape, xt.dtype)

        def run(lo, hi, lock, Zt=Zt, Wd=Wd, rev=rev, d=d):
            z = Zt[:, :, lo:hi]  # each thread fills its own columns
            z[0 if rev else T, :I] = 0
            if has_bias:
                z[:, I + H] = 1
            z[T if rev else 0, hs] = h0d[d, lo:hi].T
            return _lstm_infer(z, _own(Wd, lo, hi, Bn), c0d[d, lo:hi], rev, xt[:, lo:hi],
                               lock)

        runs.append(run)
        slots.append(Zt)
    results = _by_direction(runs, Bn, 8.0 * T * Bn * K * H, None, xp)
    for d, (parts, Zt) in enumerate(zip(results, slots)):
        rev = d == 1
        cn[d] = parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=0)
        y = (Zt[:T] if rev else Zt[1:])[:, hs].transpose(0, 2, 1)  # (T, B, H) view
        hn[d] = y[0] if rev else y[T - 1]
        ys.append(y)
    y = ys[0] if len(ys) == 1 else xp.concatenate(ys, axis=2)
    return (y.transpose(1, 0, 2) if batch_first else y), hn, cn


BWD_CHUNKS = 12  # chunks of steps whose ∂x and ∂W GEMMs run beside the recurrence


def _lstm_bwd_chunked(R, TC, C, w, dy, dh_n, dc, bs, rev, dG, DXH, Z, want_x, want_w):
    """``_lstm_bwd``, plus ∂x (into DXH's x-part) and [∂Wᵢₕ | ∂Wₕₕ | ∂b] = Σₜ ∂Gₜᵀ [xₜ |
    h_{t-1} | 1] (returned; None unless ``want_w``), one GEMM each per chunk of steps.

    The recurrence itself needs only ∂h_{t-1} = ∂Gₜ Wₕₕ; each chunk's ∂x and ∂W wait for
    nothing but that chunk's ∂G. With two threads, one runs them while the recurrence
    goes on (nerve._parallel.Jobs; the recurrence takes what is left at its end), each
    with one BLAS thread: the recurrence's per-step GEMM is then half as big, and 2/3 of
    the backward's flops leave its critical path (LSTM classifier, T=200, B=64: the
    backward's recurrence and weight GEMM 55 -> 46 ms). With one thread they run after
    the recurrence.
    """
    xp = B.xp_of(R)
    T, Bn, G = R.shape
    I = w.I
    K = Z.shape[2]
    n = min(BWD_CHUNKS, T)
    ends = [T * (k + 1) // n for k in range(n)]  # steps done (loop order) at each chunk's end
    dxh2, dg2, z2 = DXH.reshape(-1, DXH.shape[2]), dG.reshape(-1, G), Z.reshape(-1, K)
    acc = [None, None]  # ∂W partial sums of the caller and of the helper

    def job(k, slot):
        s0, s1 = (ends[k - 1] if k else 0), ends[k]
        t0, t1 = (s0, s1) if rev else (T - s1, T - s0)
        r0, r1 = t0 * Bn, t1 * Bn  # rows of ∂G; the slots they read are one step on (rev)
        p0, p1 = (r0 + Bn, r1 + Bn) if rev else (r0, r1)
        g = dg2[r0:r1]
        if want_x:
            np.matmul(g, w.wbx, out=dxh2[p0:p1, :I])  # ∂xₜ = ∂Gₜ Wᵢₕ
        if want_w:
            part = g.T @ z2[p0:p1]
            if acc[slot] is None:
                acc[slot] = part
            else:
                acc[slot] += part

    flops = 2.0 * T * Bn * G * (I * want_x + K * want_w)
    work = _parallel.Jobs(job, n, overlap=xp is np and flops >= _parallel.MIN_FLOPS)
    try:
        with _parallel.single_blas(work.overlapping):
            _lstm_bwd(R, TC, C, w, dy, dh_n, dc, bs, rev, dG, DXH, ends, work.release)
            work.finish()
    except BaseException:
        work.abort()
        raise
    parts = [a for a in acc if a is not None]
    return None if not parts else parts[0] if len(parts) == 1 else parts[0] + parts[1]


class LSTMLayer(Function):
    """One LSTM layer, one or two directions, over a whole sequence.

    Positional inputs: ``x`` (T, B, I) or (B, T, I) with ``batch_first``; ``h0``, ``c0``
    (D, B, H) or None; then per direction ``w_ih, w_hh, b_ih, b_hh`` (biases may be None).
    Outputs: ``y`` (T, B, D·H) (or (B, T, D·H)), ``h_n`` and ``c_n`` (D, B, H).
    """

    @staticmethod
    def forward(ctx, x, h0, c0, *weights, batch_first=False, lengths=None):
        xd = x.data
        xp = B.xp_of(xd)
        dt = xd.dtype
        D = len(weights) // 4
        ws = [[None if t is None else t.data for t in weights[4 * d:4 * d + 4]] for d in range(D)]
        H = ws[0][1].shape[1]
        has_bias = ws[0][2] is not None
        Bn, T, I = xd.shape if batch_first else (xd.shape[1], xd.shape[0], xd.shape[2])
        xt = xd.transpose(1, 0, 2) if batch_first else xd  # time-major view
        train = any(ctx.needs_input_grad)
        bs = None if lengths is None else _batch_sizes(lengths, T)
        h0d = xp.zeros((D, Bn, H), dt) if h0 is None else h0.data
        c0d = xp.zeros((D, Bn, H), dt) if c0 is None else c0.data
        K = I + H + has_bias
        hs = slice(I, I + H)
        hn = xp.empty((D, Bn, H), dt)
        cn = xp.empty((D, Bn, H), dt)
        ys, saved = [], []
        if not train and bs is None:
            return _lstm_inference(xt, h0d, c0d, ws, batch_first, hn, cn)
        runs, dirs = [], []
        for d in range(D):
            rev = d == 1
            w = _LSTMWeights(*ws[d], backward=train)
            Z = (xp.empty if bs is None else xp.zeros)((T + 1, Bn, K), dt)
            c0 = c0d[d]
            out = None
            if train:
                out = (xp.empty((T, Bn, 4 * H), dt), xp.empty((T, Bn, H), dt),
                       xp.empty((T + 1, Bn, H), dt))

            def run(lo, hi, lock, Z=Z, w=w, c0=c0, rev=rev, out=out, h0=h0d[d]):
                z = _fill_slots(Z, lo, hi, xt, h0, rev, has_bias)
                o = None if out is None else tuple(a[:, lo:hi] for a in out)
                return _lstm_fwd(z, w, c0[lo:hi], bs, rev, train, o, lock)

            runs.append(run)
            dirs.append((w, Z, out))
        results = _by_direction(runs, Bn, 8.0 * T * Bn * K * H, bs, xp)
        for d, (parts, (w, Z, out)) in enumerate(zip(results, dirs)):
            rev = d == 1
            if train:
                res = out
            else:
                res = parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=0)
            y = Z[:T, :, hs] if rev else Z[1:, :, hs]
            ys.append(y)
            # final states: the last valid step (the first step for the reverse direction)
            if rev:
                hn[d] = y[0]
            elif bs is None:
                hn[d] = y[T - 1]
            else:
                hn[d] = y[np.asarray(lengths) - 1, np.arange(Bn)]
            if not train:
                cn[d] = res
            else:
                C = res[2]
                if rev:
                    cn[d] = C[0]
                elif bs is None:
                    cn[d] = C[T]
                else:
                    cn[d] = C[np.asarray(lengths), np.arange(Bn)]
                saved.append((w, Z, res))
        y = ys[0] if D == 1 else xp.concatenate(ys, axis=2)
        if train:
            ctx.bs, ctx.lengths, ctx.batch_first, ctx.dirs = bs, lengths, batch_first, saved
            ctx.h0, ctx.I, ctx.H, ctx.has_bias = h0d, I, H, has_bias
        return (y.transpose(1, 0, 2) if batch_first else y), hn, cn

    @staticmethod
    @once_differentiable
    def backward(ctx, gy, ghn, gcn):
        bs, I, H = ctx.bs, ctx.I, ctx.H
        needs = ctx.needs_input_grad
        gyd = gy.data
        dy_t = gyd.transpose(1, 0, 2) if ctx.batch_first else gyd
        # only the final state used (a classifier): ∂y is autograd's zeros, and skipping
        # 200 strided adds saves 1.4 ms at T=200, B=64
        zero_dy = 0 in ctx.zero_grads
        D = len(ctx.dirs)
        T, Bn = dy_t.shape[:2]
        dt = dy_t.dtype
        xp = B.xp_of(dy_t)
        q = dt.type(0.25)
        gx = None
        gh0 = xp.empty((D, Bn, H), dt)
        gc0 = xp.empty((D, Bn, H), dt)
        wgrads = []
        for d, (w, Z, (R, TC, C)) in enumerate(ctx.dirs):
            rev = d == 1
            dc = gcn.data[d].copy()
            dy = None if zero_dy else dy_t[:, :, d * H:(d + 1) * H]
            i0 = 3 + 4 * d
            want_w = any(needs[i0:i0 + 4])
            alloc = xp.empty if bs is None else xp.zeros
            dG = alloc((T, Bn, 4 * H), dt)
            DXH = alloc((T + 1, Bn, I + H), dt)  # slot p(t) = [∂x_t | ∂h of the state it read]
            dW = _lstm_bwd_chunked(R, TC, C, w, dy, ghn.data[d], dc, bs, rev, dG, DXH, Z,
                                   needs[0], want_w)
            gc0[d] = dc
            if rev and bs is not None:  # each row's backward ends at its own first step
                gh0[d] = DXH[np.asarray(ctx.lengths), np.arange(Bn), I:]
            else:
                gh0[d] = DXH[T if rev else 0, :, I:]
            if needs[0]:
                g = DXH[1:, :, :I] if rev else DXH[:T, :, :I]
                gx = g if gx is None else gx + g
            if not want_w:
                wgrads.extend([None] * 4)
                continue
            if rev and bs is not None:  # rows starting before T-1 read h0, not the zeroed slot
                late = np.flatnonzero(np.asarray(ctx.lengths) < T)
                first = dG[np.asarray(ctx.lengths)[late] - 1, late]
                dW[:, I:I + H] += first.T @ ctx.h0[d][late]
            dW[:3 * H] *= q  # σ' = ¼ (1 - tanh²(a/2))
            dW = _lstm_unpermute(dW, H)
            db = dW[:, I + H] if ctx.has_bias else None
            wgrads.extend([dW[:, :I], dW[:, I:I + H], db, db])
        if gx is not None and ctx.batch_first:
            gx = gx.transpose(1, 0, 2)
        return (gx if needs[0] else None, gh0 if needs[1] else None, gc0 if needs[2] else None,
                *wgrads)


# --- checked entry points ----------------------------------------------------------------------

def _check_lengths(lengths, T, Bn, name):
    lens = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths).astype(np.int64)
    if lens.shape != (Bn,):
        raise ValueError(f"{name}: lengths must have one entry per sequence, shape ({Bn},), got "
                         f"shape {tuple(lens.shape)}")
    if Bn and (lens.min() < 1 or lens.max() > T):
        raise ValueError(f"{name}: lengths must be in [1, {T}] (the padded length), got "
                         f"min {int(lens.min())}, max {int(lens.max())}")
    return lens


def recurrent_layer(mode: str, x: Tensor, h0: Tensor | None, c0: Tensor | None, weights,
                    batch_first: bool = False, lengths=None) -> tuple:
    """Run one layer of ``mode`` over a sequence (both directions when 8 weights are given).

    ``lengths`` (one per sequence, any order) turns on the variable-length path; the
    batch is sorted internally so that each step works on a prefix of the rows.
    """
    if mode not in _MODES:
        raise ValueError(f"recurrent_layer: mode must be one of {_MODES}, got {mode!r}")
    lstm = mode == "LSTM"
    states = (h0, c0) if lstm else (h0,)

    def call(x, states, lens):
        if lstm:
            return LSTMLayer.apply(x, *states, *weights, batch_first=batch_first, lengths=lens)
        return Recurrent.apply(x, *states, *weights, mode=mode, batch_first=batch_first,
                               lengths=lens)

    if lengths is None:
        return call(x, states, None)
    T, Bn = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    lens = _check_lengths(lengths, T, Bn, mode)
    order = np.argsort(-lens, kind="stable")
    if np.array_equal(order, np.arange(Bn)):
        return call(x, states, lens)
    from .shape import index_select

    idx = W(order)
    inv = W(np.argsort(order))
    bdim = 0 if batch_first else 1
    states = tuple(None if s is None else index_select(s, 1, idx) for s in states)
    outs = call(index_select(x, bdim, idx), states, lens[order])
    return (index_select(outs[0], bdim, inv),) + tuple(index_select(o, 1, inv) for o in outs[1:])
