"""Transformer layers (Vaswani et al., 2017) and positional encodings, PyTorch's API.

Encoder layer, post-norm (default) and pre-norm (``norm_first=True``)::

    post:  x = LN₁(x + SA(x));          x = LN₂(x + FF(x))
    pre:   x = x + SA(LN₁(x));          x = x + FF(LN₂(x))
    SA(x) = dropout(MHA(x, x, x)),      FF(x) = dropout(W₂ dropout(act(W₁x + b₁)) + b₂)

The decoder layer adds cross-attention to the encoder's output (``memory``) between the
two. Submodule names (``self_attn``, ``linear1``, ``norm1``, …) match PyTorch's, so
state dicts load either way. ``TransformerEncoder(layer, num_layers)`` deep-copies the
layer, as PyTorch does.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable

import numpy as np

from .. import _backend as B
from .. import _parallel
from ..autograd import is_grad_enabled
from ..ops.elementwise import gelu, relu
from ..ops.nn import dropout as _dropout
from ..tensor import Tensor
from . import init
from .attention import MultiheadAttention
from .containers import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm
from .parameter import Buffer, Parameter

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
           "TransformerDecoder", "Transformer", "PositionalEncoding",
           "LearnedPositionalEncoding", "generate_square_subsequent_mask"]


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """(sz, sz) float mask: 0 on and below the diagonal, -inf above (no peeking ahead)."""
    dt = B.as_np_dtype(dtype)
    m = np.triu(np.full((sz, sz), -np.inf, dtype=dt), 1)
    return Tensor._wrap(m)


def _activation(act) -> Callable:
    if callable(act):
        return act
    if act == "relu":
        return relu
    if act == "gelu":
        return gelu
    raise RuntimeError(f"activation should be relu/gelu (or a callable), not {act!r}")


def _causal_mask(mask, is_causal, n, dtype):
    """An explicit causal mask when only the is_causal flag was given."""
    if is_causal and mask is None:
        return generate_square_subsequent_mask(n, dtype=dtype)
    return mask


def _inference_split(layer: Module, fn: Callable, x: Tensor, batch_first: bool, nhead: int,
                     attn_mask, key_padding_mask, flops: float) -> Tensor | None:
    """Inference (eval mode, no graph): run ``fn(x, attn_mask, key_padding_mask)`` on
    blocks of the batch in parallel threads, one BLAS thread each, and join the results;
    None when that doesn't apply or pay. Each sample's output depends on that sample
    alone, so every op of the layer (GEMMs, attention, layer norms, activations) runs on
    all cores with one hand-off, instead of only the GEMMs."""
    if layer.training or is_grad_enabled() or not isinstance(x.data, np.ndarray) or \
            x.ndim != 3:
        return None
    if any(m._forward_hooks or m._forward_pre_hooks for m in layer.modules()):
        return None  # a hook sees each call: keep it one call
    axis = 0 if batch_first else 1
    n = x.data.shape[axis]
    if n < 2:
        return None

    def run(lo: int, hi: int):
        xs = x[lo:hi] if axis == 0 else x[:, lo:hi]
        am = attn_mask
        if am is not None and am.ndim == 3:  # (N·heads, L, S)
            am = am[lo * nhead:hi * nhead]
        kp = None if key_padding_mask is None else key_padding_mask[lo:hi]
        return fn(xs, am, kp).data

    parts = _parallel.batch_split(run, n, flops)
    return None if parts is None else Tensor._wrap(np.concatenate(parts, axis=axis))


def _check_seq(name: str, x: Tensor, d_model: int, what: str, batch_first: bool) -> None:
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        layout = "(N, S, E)" if batch_first else "(S, N, E)"
        raise RuntimeError(f"{name}: expected {what} of shape {layout} or (S, E) with E = "
                           f"d_model = {d_model}, got shape {tuple(x.shape)}")


def _seq_len(x: Tensor, batch_first: bool) -> int:
    return x.shape[1] if (batch_first and x.ndim == 3) else x.shape[0]


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual and LayerNorm.

    Args:
        d_model: model width E. nhead: attention heads. dim_feedforward: FF width (2048).
        dropout: 0.1. activation: "relu", "gelu" or a callable. layer_norm_eps: 1e-5.
        batch_first: (N, S, E) instead of (S, N, E). norm_first: pre-norm. bias: True.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``.

    Example::

        >>> layer = nn.TransformerEncoderLayer(d_model=128, nhead=4, batch_first=True)
        >>> layer(nerve.randn(32, 64, 128)).shape
        nerve.Size([32, 64, 128])
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)
        self.batch_first = batch_first
        self.d_model = d_model

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        _check_seq("TransformerEncoderLayer", src, self.d_model, "src", self.batch_first)
        src_mask = _causal_mask(src_mask, is_causal, _seq_len(src, self.batch_first),
                                src.data.dtype)
        y = _inference_split(self, self._layer, src, self.batch_first, self.self_attn.num_heads,
                             src_mask, src_key_padding_mask, self._flops(src))
        return y if y is not None else self._layer(src, src_mask, src_key_padding_mask)

    def _flops(self, src: Tensor) -> float:
        """Multiply-adds x 2 of the layer's GEMMs and attention products."""
        d, ff = self.d_model, self.linear1.out_features
        L = _seq_len(src, self.batch_first)
        tokens = src.data.size // d
        return 2.0 * tokens * (4 * d * d + 2 * d * ff + 2 * L * d)

    def _layer(self, src: Tensor, src_mask, src_key_padding_mask) -> Tensor:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention over ``memory``, and a feed-forward block.

    Args as :class:`TransformerEncoderLayer`. ``forward(tgt, memory, tgt_mask=None,
    memory_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    tgt_is_causal=False, memory_is_causal=False)``.
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)
        self.batch_first = batch_first
        self.d_model = d_model

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        name = "TransformerDecoderLayer"
        _check_seq(name, tgt, self.d_model, "tgt", self.batch_first)
        _check_seq(name, memory, self.d_model, "memory", self.batch_first)
        if tgt.ndim != memory.ndim:
            raise RuntimeError(f"{name}: tgt {tuple(tgt.shape)} and memory {tuple(memory.shape)} "
                               f"must both be batched (3-D) or both unbatched (2-D)")
        tgt_mask = _causal_mask(tgt_mask, tgt_is_causal, _seq_len(tgt, self.batch_first),
                                tgt.data.dtype)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False)[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask,
                                key_padding_mask=key_padding_mask, need_weights=False)[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


def _clones(module: Module, n: int) -> ModuleList:
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer``, then ``norm`` if given.

    ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        x = src
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal) and mask is None)
        return self.norm(x) if self.norm is not None else x


class TransformerDecoder(Module):
    """A stack of ``num_layers`` deep copies of ``decoder_layer``, then ``norm`` if given.

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False)``.
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None, tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        x = tgt
        for layer in self.layers:
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal) and tgt_mask is None)
        return self.norm(x) if self.norm is not None else x


class Transformer(Module):
    """Encoder-decoder Transformer: ``forward(src, tgt, ...)`` -> (T, N, E) (or batch-first).

    Weights with more than one dim are re-drawn Xavier-uniform, as PyTorch does.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", custom_encoder: Module | None = None,
                 custom_decoder: Module | None = None, layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                            layer_norm_eps, batch_first, norm_first, bias, **kw)
            norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm)
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        return generate_square_subsequent_mask(sz, device, dtype)


# --- positional encodings ----------------------------------------------------------------------

class PositionalEncoding(Module):
    """Adds the fixed sinusoids of "Attention Is All You Need", then dropout::

        PE[pos, 2i] = sin(pos / 10000^(2i/d)),   PE[pos, 2i+1] = cos(pos / 10000^(2i/d))

    Args:
        d_model: feature size d. max_len: longest sequence (5000). dropout: 0.1.
        batch_first: input (N, S, d) instead of (S, N, d).

    The table is a non-persistent buffer (not in ``state_dict``).
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.1,
                 batch_first: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        dt = B.as_np_dtype(dtype)
        pos = np.arange(max_len, dtype=np.float64)[:, None]
        div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-math.log(10000.0) / d_model))
        pe = np.zeros((max_len, d_model), dtype=np.float64)
        pe[:, 0::2] = np.sin(pos * div)
        pe[:, 1::2] = np.cos(pos * div)[:, :d_model // 2]
        self.pe = Buffer(pe.astype(dt), persistent=False)
        self.p = dropout
        self.d_model = d_model
        self.max_len = max_len
        self.batch_first = batch_first

    def forward(self, x: Tensor) -> Tensor:
        return _dropout(x + _positions(self, x, self.pe), self.p, self.training)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, dropout={self.p}"


class LearnedPositionalEncoding(Module):
    """Adds a learned vector per position (GPT/BERT style), then dropout.

    Args:
        max_len: number of positions. d_model: feature size. dropout: 0.0.
        batch_first: input (N, S, d) instead of (S, N, d).

    Attributes:
        weight: (max_len, d_model), drawn from N(0, 0.02²).
    """

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0,
                 batch_first: bool = False, device=None, dtype=None) -> None:
        super().__init__()
        xp = B.get_xp(device if device is not None else "cpu")
        self.weight = Parameter(xp.empty((max_len, d_model), dtype=B.as_np_dtype(dtype)))
        self.p = dropout
        self.d_model = d_model
        self.max_len = max_len
        self.batch_first = batch_first
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x: Tensor) -> Tensor:
        return _dropout(x + _positions(self, x, self.weight), self.p, self.training)

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}, dropout={self.p}"


def _positions(mod, x: Tensor, table: Tensor) -> Tensor:
    """The first S rows of ``table``, shaped to broadcast against ``x``."""
    name = type(mod).__name__
    if x.ndim not in (2, 3) or x.shape[-1] != mod.d_model:
        layout = "(N, S, d)" if mod.batch_first else "(S, N, d)"
        raise RuntimeError(f"{name}(d_model={mod.d_model}): expected input of shape {layout} or "
                           f"(S, d) with d = {mod.d_model}, got {tuple(x.shape)}")
    S = _seq_len(x, mod.batch_first)
    if S > mod.max_len:
        raise RuntimeError(f"{name}: sequence length {S} exceeds max_len={mod.max_len} "
                           f"(input shape {tuple(x.shape)})")
    rows = table[:S]
    if x.ndim == 3 and not mod.batch_first:
        rows = rows.unsqueeze(1)
    return rows
