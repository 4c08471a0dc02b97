"""MultiheadAttention: h attention heads over learned projections of query, key and value.

    headᵢ = softmax((Q Wᵢᵠ)(K Wᵢᵏ)ᵀ / √d + mask) (V Wᵢᵛ),   out = [head₁ … head_h] Wᵒ

Parameter names and initialisation are PyTorch's (``in_proj_weight`` (3E, E) packing
W^Q, W^K, W^V, ``in_proj_bias``, ``out_proj.weight``/``bias``), so state dicts load
either way. Self-attention (query is key is value) projects with ONE GEMM; the heads are
split and merged inside one fused attention op.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from ..ops.attention import _mha
from ..tensor import Tensor
from . import init
from .linear import Linear
from .module import Module
from .parameter import Parameter

__all__ = ["MultiheadAttention"]


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017).

    Args:
        embed_dim: model width E (query features and output size).
        num_heads: number of heads h (E must divide by h).
        dropout: dropout on the attention weights (training only).
        bias: biases in the input and output projections.
        kdim, vdim: feature sizes of key and value (default E).
        batch_first: inputs and output are (N, L, E) instead of (L, N, E).

    ``forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False)`` returns ``(output, weights)``:
    ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or (N·h, L, S) block a position
    where True (bool) or add their values (float); ``weights`` are (N, L, S) averaged over
    heads, (N, h, L, S) otherwise, or None when ``need_weights=False``.

    Example::

        >>> mha = nn.MultiheadAttention(64, 4, batch_first=True)
        >>> x = nerve.randn(2, 10, 64)
        >>> out, w = mha(x, x, x)        # (2, 10, 64), (2, 10, 10)
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be positive, got "
                             f"{embed_dim} and {num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                             f"num_heads ({num_heads})")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention: add_bias_kv and add_zero_attn are not "
                                      "supported")
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        xp = B.get_xp(device if device is not None else "cpu")
        dt = B.as_np_dtype(dtype)
        E = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(xp.empty((3 * E, E), dtype=dt))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(xp.empty((E, E), dtype=dt))
            self.k_proj_weight = Parameter(xp.empty((E, self.kdim), dtype=dt))
            self.v_proj_weight = Parameter(xp.empty((E, self.vdim), dtype=dt))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(xp.empty((3 * E,), dtype=dt))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(E, E, bias=bias, device=device, dtype=dtype)
        self.bias_k = self.bias_v = None
        self.add_zero_attn = False
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def _check(self, t: Tensor, what: str, feat: int, batched: bool) -> None:
        want = 3 if batched else 2
        if t.ndim != want or t.shape[-1] != feat:
            layout = "(N, L, E)" if self.batch_first else "(L, N, E)"
            raise RuntimeError(f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads="
                               f"{self.num_heads}): expected {what} of {want} dims "
                               f"{layout if batched else '(L, E)'} with feature size {feat}, got "
                               f"shape {tuple(t.shape)}")
        if t.data.dtype != self.out_proj.weight.data.dtype:
            raise TypeError(f"MultiheadAttention: {what} dtype {t.dtype} does not match the "
                            f"weights' dtype {self.out_proj.weight.dtype}")

    def forward(self, query: Tensor, key: Tensor, value: Tensor,
                key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple:
        batched = query.ndim == 3
        self._check(query, "query", self.embed_dim, batched)
        self._check(key, "key", self.kdim, batched)
        self._check(value, "value", self.vdim, batched)
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: need attn_mask if specifying the is_causal "
                               "hint (make one with nn.Transformer."
                               "generate_square_subsequent_mask)")
        same_kv = key is value
        same = query is key and same_kv
        if not batched:
            q, k, v = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                kp = key_padding_mask
                key_padding_mask = kp.unsqueeze(0) if isinstance(kp, Tensor) \
                    else np.asarray(kp)[None]
        elif self.batch_first:
            q, k, v = query, key, value
        else:
            q, k, v = (t.transpose(0, 1) for t in (query, key, value))
        if same:
            k = v = q
        elif same_kv:
            v = k
        out, w = _mha(q, k, v, self.num_heads, self.in_proj_weight, self.in_proj_bias,
                      self.out_proj.weight, self.out_proj.bias, key_padding_mask, need_weights,
                      attn_mask, average_attn_weights, self.dropout if self.training else 0.0,
                      self.q_proj_weight, self.k_proj_weight, self.v_proj_weight,
                      "MultiheadAttention")
        if not batched:
            out = out.squeeze(0)
            w = None if w is None else w.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, w

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        if self.batch_first:
            s += ", batch_first=True"
        return s
