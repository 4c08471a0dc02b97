"""Scaled dot-product attention as one fused op, and multi-head attention built on it.

For queries Q (…, L, E), keys K (…, S, E) and values V (…, S, Ev)::

    A = softmax(s·Q Kᵀ + M),   out = dropout(A) V          (s = 1/√E unless given)

M is the mask: boolean (True = may attend) becomes 0 / -∞, a float mask is added, and
``is_causal`` masks the upper triangle. Backward, with Â = dropout(A) and m the dropout
scaling mask::

    ∂V = Âᵀ ∂out,   ∂A = (∂out Vᵀ) ⊙ m,   ∂S = A ⊙ (∂A - rowsum(∂A ⊙ A)),
    ∂Q = s·∂S K,     ∂K = ∂Sᵀ (s·Q),       ∂M = ∂S

A row whose keys are all masked attends to nothing: its weights and output are zeros
(PyTorch's scaled_dot_product_attention does the same).
"""
from __future__ import annotations

import math

import numpy as np

from .. import _backend as B
from .. import _parallel
from ..autograd import Function, once_differentiable
from ..random import _rng
from ..tensor import Tensor
from .nn import keep_mask

W = Tensor._wrap


def _swap(a):
    return a.swapaxes(-1, -2)


def _rowmax(s):
    """s.max(-1, keepdims=True) by halving: ~1.5x faster than NumPy's short-axis reduce."""
    m = s
    while m.shape[-1] > 1:
        n = m.shape[-1]
        h = n // 2
        top = np.maximum(m[..., :h], m[..., h:2 * h])
        if n % 2:
            np.maximum(top[..., :1], m[..., 2 * h:], out=top[..., :1])
        m = top
    return m if m is not s else m.copy()


def _rows_of(n: int, nd: int, a, lo: int, hi: int):
    """Rows lo:hi of ``a`` when it runs along the batch axis (else it broadcasts whole)."""
    if a is None or a.ndim != nd or a.shape[0] != n:
        return a
    return a[lo:hi]


def _cat(parts):
    """Join per-thread results along the batch axis (None stays None)."""
    return None if parts[0] is None else np.concatenate(parts)


def _splittable(q, k, v) -> bool:
    return (isinstance(q, np.ndarray) and q.ndim >= 3 and q.shape[0] >= 2
            and q.shape[:-2] == k.shape[:-2] == v.shape[:-2])


def _attn_work(q, k, v) -> float:
    """FLOPs of both products plus ~40 per attention weight (softmax, masks)."""
    L, E = q.shape[-2:]
    S, ev = v.shape[-2:]
    return math.prod(q.shape[:-2]) * L * S * (2.0 * (E + ev) + 40.0)


def _attn_forward(q, k, v, mask, dropout_p, is_causal, scale):
    """Arrays in, (out, A, Â, dropout mask, s·Q) out; shapes (…, L, E), (…, S, E), (…, S, Ev).

    Batches big enough are split across threads (the leading axis; the dropout mask is
    drawn first, whole, so the result doesn't depend on the thread count)."""
    if _splittable(q, k, v):
        n, nd = q.shape[0], q.ndim
        drop = None
        if dropout_p > 0:
            drop = keep_mask(_rng(), q.shape[:-1] + (k.shape[-2],), dropout_p, q.dtype)
        parts = _parallel.batch_split(lambda lo, hi: _attn_forward_rows(
            q[lo:hi], k[lo:hi], v[lo:hi], _rows_of(n, nd, mask, lo, hi), dropout_p, is_causal,
            scale, _rows_of(n, nd, drop, lo, hi)), n, _attn_work(q, k, v))
        if parts is not None:
            out, a, ad, drop, qs = (_cat(p) for p in zip(*parts))
            return out, a, (a if dropout_p == 0 else ad), drop, qs
        return _attn_forward_rows(q, k, v, mask, dropout_p, is_causal, scale, drop)
    return _attn_forward_rows(q, k, v, mask, dropout_p, is_causal, scale)


def _attn_forward_rows(q, k, v, mask, dropout_p, is_causal, scale, drop=None):
    """:func:`_attn_forward` on one block of rows (``drop``: a mask drawn beforehand)."""
    dt = q.dtype
    qs = q * dt.type(scale)  # scale the smaller operand (L×E, not L×S)
    s = qs @ _swap(k)
    masked = mask is not None or is_causal
    if mask is not None:
        if mask.dtype == np.bool_:
            np.copyto(s, dt.type(-np.inf), where=~mask)
        else:
            s += mask
    if is_causal:
        L, S = s.shape[-2:]
        np.copyto(s, dt.type(-np.inf), where=~B.xp_of(s).tri(L, S, dtype=bool))
    m = _rowmax(s)
    if masked:
        m[np.isneginf(m)] = 0  # fully masked rows: exp(-inf) = 0 below, not nan
    s -= m
    a = np.exp(s, out=s)
    tot = a.sum(axis=-1, keepdims=True)
    if masked:
        tot[tot == 0] = 1
    np.reciprocal(tot, out=tot)
    a *= tot
    ad = a
    if dropout_p > 0:
        if drop is None:
            drop = keep_mask(_rng(), a.shape, dropout_p, dt)
        ad = a * drop
    return ad @ v, a, ad, drop, qs


def _attn_backward(g, ga, a, ad, drop, qs, k, v, scale, nq, nk, nv, nm):
    """(∂Q, ∂K, ∂V, ∂mask) for _attn_forward, only those asked for (else None); split
    across threads like the forward."""
    if _splittable(qs, k, v):
        n, nd = qs.shape[0], qs.ndim
        parts = _parallel.batch_split(lambda lo, hi: _attn_backward_rows(
            g[lo:hi], _rows_of(n, nd, ga, lo, hi), a[lo:hi], ad[lo:hi],
            _rows_of(n, nd, drop, lo, hi), qs[lo:hi], k[lo:hi], v[lo:hi], scale, nq, nk, nv,
            nm), n, 2 * _attn_work(qs, k, v))
        if parts is not None:
            return tuple(_cat(p) for p in zip(*parts))
    return _attn_backward_rows(g, ga, a, ad, drop, qs, k, v, scale, nq, nk, nv, nm)


def _attn_backward_rows(g, ga, a, ad, drop, qs, k, v, scale, nq, nk, nv, nm):
    """:func:`_attn_backward` on one block of rows."""
    gv = _swap(ad) @ g if nv else None
    gq = gk = gm = None
    if nq or nk or nm:
        da = g @ _swap(v)
        if ga is not None:
            da += ga
        if drop is not None:
            da *= drop
        da *= a
        da -= a * da.sum(axis=-1, keepdims=True)  # ∂S = A ⊙ (∂A - rowsum(∂A ⊙ A))
        if nq:
            gq = da @ k
            gq *= gq.dtype.type(scale)
        if nk:
            gk = _swap(da) @ qs
        if nm:
            gm = da
    return gq, gk, gv, gm


class SDPAFn(Function):
    """Fused attention: out, and with ``need_weights`` also Â (the post-dropout weights)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, dropout_p, is_causal, scale, need_weights=False):
        md = None if mask is None else mask.data
        out, a, ad, drop, qs = _attn_forward(q.data, k.data, v.data, md, dropout_p, is_causal,
                                             scale)
        ctx.a, ctx.ad, ctx.drop, ctx.qs, ctx.scale = a, ad, drop, qs, scale
        ctx.save_for_backward(k, v)
        return (out, ad) if need_weights else out

    @staticmethod
    @once_differentiable
    def backward(ctx, g, ga=None):
        k, v = ctx.saved_tensors
        gq, gk, gv, gm = _attn_backward(g.data, None if ga is None else ga.data, ctx.a, ctx.ad,
                                        ctx.drop, ctx.qs, k.data, v.data, ctx.scale,
                                        *ctx.needs_input_grad[:4])
        return gq, gk, gv, gm, None, None, None, None


def _heads(a, h, split):
    """(N, L, split·E) -> ``split`` views (N, h, L, E/h), one per packed block."""
    N, L = a.shape[:2]
    parts = a.reshape(N, L, split, h, -1)
    return [parts[:, :, i].transpose(0, 2, 1, 3) for i in range(split)]


def _unheads(parts, shape):
    """Inverse of _heads: head-major gradients -> one (N, L, split·E) array."""
    N, L = shape[:2]
    h = parts[0].shape[1]
    out = B.xp_of(parts[0]).empty((N, L, len(parts), h, parts[0].shape[-1]), parts[0].dtype)
    for i, p in enumerate(parts):
        out[:, :, i] = p.transpose(0, 2, 1, 3)
    return out.reshape(shape)


class MHAFn(Function):
    """Multi-head attention core on projected, batch-first inputs (heads split inside).

    ``layout`` says how q, k, v arrive: ``"qkv"`` — all three packed in ``q`` (N, L, 3E)
    (self-attention after one in-projection GEMM); ``"q_kv"`` — k and v packed in ``k``
    (N, S, 2E); ``"q_k_v"`` — three tensors. Output (N, L, E) (heads merged) and, with
    ``need_weights``, the attention weights (N, h, L, S).
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, num_heads, dropout_p, scale, need_weights, layout):
        h = num_heads
        if layout == "qkv":
            qh, kh, vh = _heads(q.data, h, 3)
        elif layout == "q_kv":
            (qh,) = _heads(q.data, h, 1)
            kh, vh = _heads(k.data, h, 2)
        else:
            (qh,), (kh,), (vh,) = (_heads(t.data, h, 1) for t in (q, k, v))
        md = None if mask is None else mask.data
        out, a, ad, drop, qs = _attn_forward(qh, kh, vh, md, dropout_p, False, scale)
        N, _, L, dv = out.shape
        y = out.transpose(0, 2, 1, 3).reshape(N, L, h * dv)
        ctx.a, ctx.ad, ctx.drop, ctx.qs, ctx.kh, ctx.vh = a, ad, drop, qs, kh, vh
        ctx.scale, ctx.layout = scale, layout
        ctx.shapes = tuple(None if t is None else t.data.shape for t in (q, k, v))
        return (y, ad) if need_weights else y

    @staticmethod
    @once_differentiable
    def backward(ctx, g, ga=None):
        layout = ctx.layout
        nq, nk, nv, nm = ctx.needs_input_grad[:4]
        if layout == "qkv":
            nk = nv = nq
        elif layout == "q_kv":
            nv = nk
        (gh,) = _heads(g.data, ctx.a.shape[1], 1)
        gq, gk, gv, gm = _attn_backward(gh, None if ga is None else ga.data, ctx.a, ctx.ad,
                                        ctx.drop, ctx.qs, ctx.kh, ctx.vh, ctx.scale,
                                        nq, nk, nv, nm)
        sq, sk, sv = ctx.shapes
        rest = (None,) * 5
        if layout == "qkv":
            return (_unheads([gq, gk, gv], sq) if nq else None, None, None, gm) + rest
        if layout == "q_kv":
            return (_unheads([gq], sq) if nq else None, _unheads([gk, gv], sk) if nk else None,
                    None, gm) + rest
        return (_unheads([gq], sq) if nq else None, _unheads([gk], sk) if nk else None,
                _unheads([gv], sv) if nv else None, gm) + rest


def _check_mask(mask, L, S, lead, name):
    shp = tuple(mask.shape)
    target = tuple(lead) + (L, S)
    try:
        np.broadcast_shapes(shp, target)
        ok = len(shp) <= len(target) and np.broadcast_shapes(shp, target) == target
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"{name}: attn_mask of shape {shp} does not broadcast to the attention "
                           f"weights' shape {target} (batch…, L={L}, S={S})")


def _attend(q, k, v, attn_mask, dropout_p, is_causal, scale, name, need_weights=False):
    for t, n in ((q, "query"), (k, "key"), (v, "value")):
        if t.ndim < 2:
            raise RuntimeError(f"{name}: {n} must have at least 2 dims (…, seq, features), got "
                               f"shape {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f"{name}: query and key must have the same feature size, got query "
                           f"{tuple(q.shape)} and key {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(f"{name}: key and value must have the same sequence length, got key "
                           f"{tuple(k.shape)} and value {tuple(v.shape)}")
    if q.data.dtype.kind != "f" or q.data.dtype != k.data.dtype or q.data.dtype != v.data.dtype:
        raise TypeError(f"{name}: query, key and value must share one floating dtype, got "
                        f"{q.dtype}, {k.dtype}, {v.dtype}")
    try:
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except ValueError:
        raise RuntimeError(f"{name}: batch dims of query {tuple(q.shape)}, key {tuple(k.shape)} "
                           f"and value {tuple(v.shape)} don't broadcast") from None
    L, S = q.shape[-2], k.shape[-2]
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            attn_mask = W(np.asarray(attn_mask))
        if is_causal:
            raise RuntimeError(f"{name}: pass either attn_mask or is_causal=True, not both")
        _check_mask(attn_mask, L, S, lead, name)
        md = attn_mask.data
        if md.dtype != np.bool_:
            if md.dtype.kind != "f":
                raise TypeError(f"{name}: attn_mask must be bool or floating, got {md.dtype}")
            if md.dtype != q.data.dtype:
                attn_mask = attn_mask.to(q.data.dtype)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"{name}: dropout_p must be in [0, 1), got {dropout_p}")
    sc = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return SDPAFn.apply(q, k, v, attn_mask, float(dropout_p), bool(is_causal), sc,
                        need_weights=need_weights)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(QKᵀ·scale + mask) V over the last two dims, as one fused op.

    Args:
        query: (…, L, E); key: (…, S, E); value: (…, S, Ev).
        attn_mask: broadcastable to (…, L, S); bool (True = may attend) or float (added).
        dropout_p: dropout on the attention weights (pass 0 in evaluation).
        is_causal: mask out keys after each query (upper triangle of L×S).
        scale: defaults to 1/√E.
    Returns: (…, L, Ev).
    """
    if enable_gqa:
        raise NotImplementedError("scaled_dot_product_attention: enable_gqa is not supported")
    return _attend(query, key, value, attn_mask, dropout_p, is_causal, scale,
                   "scaled_dot_product_attention")


__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


# --- multi-head attention -------------------------------------------------------------------------

def _mha_mask(attn_mask, key_padding_mask, N, h, L, S, dt, name):
    """PyTorch's MHA masks (True / -inf = blocked) as one SDPA mask broadcastable to
    (N, h, L, S): a bool array (True = may attend) when both are bool, else a float one."""
    parts = []
    if attn_mask is not None:
        am = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        if am.ndim == 2:
            if am.shape != (L, S):
                raise RuntimeError(f"{name}: the 2-D attn_mask should have shape {(L, S)} "
                                   f"(target length L, source length S), but got {am.shape}")
        elif am.ndim == 3:
            if am.shape != (N * h, L, S):
                raise RuntimeError(f"{name}: the 3-D attn_mask should have shape "
                                   f"{(N * h, L, S)} (batch * num_heads, L, S), but got "
                                   f"{am.shape}")
            am = am.reshape(N, h, L, S)
        else:
            raise RuntimeError(f"{name}: attn_mask must be 2-D (L, S) or 3-D (batch * num_heads, "
                               f"L, S), got shape {am.shape}")
        parts.append(am)
    if key_padding_mask is not None:
        kp = key_padding_mask.data if isinstance(key_padding_mask, Tensor) \
            else np.asarray(key_padding_mask)
        if kp.shape != (N, S):
            raise RuntimeError(f"{name}: key_padding_mask should have shape {(N, S)} (batch, "
                               f"source length), but got {kp.shape}")
        parts.append(kp.reshape(N, 1, 1, S))
    if not parts:
        return None
    for p in parts:
        if p.dtype != np.bool_ and p.dtype.kind != "f":
            raise TypeError(f"{name}: masks must be bool or floating, got {p.dtype}")
    if all(p.dtype == np.bool_ for p in parts):
        allowed = ~parts[0]
        for p in parts[1:]:
            allowed = allowed & ~p
        return W(allowed)
    out = None
    for p in parts:
        f = np.where(p, dt.type(-np.inf), dt.type(0)) if p.dtype == np.bool_ else p.astype(dt)
        out = f if out is None else out + f
    return W(out)


def _mha(query, key, value, num_heads, in_proj_weight, in_proj_bias, out_proj_weight,
         out_proj_bias, key_padding_mask=None, need_weights=True, attn_mask=None,
         average_attn_weights=True, dropout_p=0.0, q_proj_weight=None, k_proj_weight=None,
         v_proj_weight=None, name="multi_head_attention"):
    """Batch-first multi-head attention: query (N, L, E), key (N, S, Ek), value (N, S, Ev)."""
    from .linalg import linear
    from .reduce import mean

    N, L, E = query.shape
    S = key.shape[1]
    if key.shape[0] != N or value.shape[0] != N or value.shape[1] != S:
        raise RuntimeError(f"{name}: query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                           f"{tuple(value.shape)} must share the batch size, and key and value "
                           f"the sequence length")
    h = num_heads
    b = in_proj_bias
    if in_proj_weight is not None and query is key and key is value:
        q = linear(query, in_proj_weight, b)  # one GEMM for q, k and v
        k = v = None
        layout = "qkv"
    elif in_proj_weight is not None and key is value:
        q = linear(query, in_proj_weight[:E], None if b is None else b[:E])
        k = linear(key, in_proj_weight[E:], None if b is None else b[E:])
        v = None
        layout = "q_kv"
    else:
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if in_proj_weight is not None:
            wq, wk, wv = in_proj_weight[:E], in_proj_weight[E:2 * E], in_proj_weight[2 * E:]
        else:
            wq, wk, wv = q_proj_weight, k_proj_weight, v_proj_weight
        q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)
        layout = "q_k_v"
    mask = _mha_mask(attn_mask, key_padding_mask, N, h, L, S, query.data.dtype, name)
    scale = 1.0 / math.sqrt(E // h)
    res = MHAFn.apply(q, k, v, mask, h, float(dropout_p), scale, bool(need_weights), layout)
    out, weights = res if need_weights else (res, None)
    out = linear(out, out_proj_weight, out_proj_bias)
    if weights is not None and average_attn_weights:
        weights = mean(weights, 1)
    return out, weights


def multi_head_attention_forward(query: Tensor, key: Tensor, value: Tensor,
                                 embed_dim_to_check: int, num_heads: int,
                                 in_proj_weight: Tensor | None, in_proj_bias: Tensor | None,
                                 bias_k: Tensor | None, bias_v: Tensor | None,
                                 add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
                                 out_proj_bias: Tensor | None, training: bool = True,
                                 key_padding_mask: Tensor | None = None,
                                 need_weights: bool = True, attn_mask: Tensor | None = None,
                                 use_separate_proj_weight: bool = False,
                                 q_proj_weight: Tensor | None = None,
                                 k_proj_weight: Tensor | None = None,
                                 v_proj_weight: Tensor | None = None, static_k=None,
                                 static_v=None, average_attn_weights: bool = True,
                                 is_causal: bool = False) -> tuple:
    """PyTorch's functional multi-head attention on (L, N, E) inputs (or unbatched (L, E)).

    ``attn_mask`` (L, S) or (N·h, L, S) and ``key_padding_mask`` (N, S): True (or -inf)
    blocks a position, a float mask is added. Returns (output (L, N, E), weights (N, L, S)
    averaged over heads, or (N, h, L, S), or None).
    """
    name = "multi_head_attention_forward"
    if bias_k is not None or bias_v is not None or add_zero_attn or static_k is not None \
            or static_v is not None:
        raise NotImplementedError(f"{name}: bias_k/bias_v, add_zero_attn and static_k/static_v "
                                  "are not supported")
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{name}: need attn_mask if specifying the is_causal hint (make one "
                           "with nn.Transformer.generate_square_subsequent_mask)")
    unbatched = query.ndim == 2
    if unbatched:
        query, key, value = (t.unsqueeze(1) for t in (query, key, value))
        if key_padding_mask is not None:
            kp = key_padding_mask
            key_padding_mask = kp.unsqueeze(0) if isinstance(kp, Tensor) else np.asarray(kp)[None]
    if query.ndim != 3 or query.shape[-1] != embed_dim_to_check:
        raise RuntimeError(f"{name}: expected query of shape (L, N, {embed_dim_to_check}) or (L, "
                           f"{embed_dim_to_check}), got {tuple(query.shape)}")
    if embed_dim_to_check % num_heads:
        raise RuntimeError(f"{name}: embed_dim {embed_dim_to_check} is not divisible by "
                           f"num_heads {num_heads}")
    same = query is key and key is value
    q = query.transpose(0, 1)
    k = q if same else key.transpose(0, 1)
    v = k if (same or key is value) else value.transpose(0, 1)
    out, w = _mha(q, k, v, num_heads, None if use_separate_proj_weight else in_proj_weight,
                  in_proj_bias, out_proj_weight, out_proj_bias, key_padding_mask, need_weights,
                  attn_mask, average_attn_weights, dropout_p if training else 0.0,
                  q_proj_weight, k_proj_weight, v_proj_weight, name)
    out = out.transpose(0, 1)
    if unbatched:
        out = out.squeeze(1)
        w = None if w is None else w.squeeze(0)
    return out, w
