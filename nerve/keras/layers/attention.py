"""Keras MultiHeadAttention: ``mha(query, value, key=None, attention_mask=None)``.

Weights in Keras' layout: query/key/value kernels (dim, heads, key_dim) with biases
(heads, key_dim), output kernel (heads, value_dim, out_dim) and bias (out_dim).
``attention_mask`` (batch, T, S) is True where a query may attend to a key.
"""
from __future__ import annotations

import math

import numpy as np

from ... import ops
from ...ops.attention import scaled_dot_product_attention
from ...tensor import Tensor
from .. import initializers as I
from ..engine import Layer


class MultiHeadAttention(Layer):
    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 dropout: float = 0.0, use_bias: bool = True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", **kwargs) -> None:
        for k in ("kernel_regularizer", "bias_regularizer", "activity_regularizer",
                  "kernel_constraint", "bias_constraint", "seed", "flash_attention"):
            kwargs.pop(k, None)
        super().__init__(**kwargs)
        if attention_axes is not None:
            raise NotImplementedError("MultiHeadAttention: attention_axes is not supported; "
                                      "attention runs over the sequence axis (1)")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.value_dim = int(value_dim or key_dim)
        self.dropout, self.use_bias = float(dropout), use_bias
        self._out_dim = output_shape
        self.kinit, self.binit = I.get(kernel_initializer), I.get(bias_initializer)

    def _maybe_build(self, inputs) -> None:
        pass  # built in call(), where query, value and key shapes are all known

    def build(self, input_shape) -> None:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        q_dim = int(shapes[0][-1])
        v_dim = int(shapes[1][-1]) if len(shapes) > 1 else q_dim
        k_dim = int(shapes[2][-1]) if len(shapes) > 2 else v_dim
        h = self.num_heads
        for name, dim, width in (("query", q_dim, self.key_dim), ("key", k_dim, self.key_dim),
                                 ("value", v_dim, self.value_dim)):
            self.add_weight(f"{name}_kernel", (dim, h, width), self.kinit)
            if self.use_bias:
                self.add_weight(f"{name}_bias", (h, width), self.binit)
        out = int(self._out_dim) if self._out_dim is not None else q_dim
        self.add_weight("output_kernel", (h, self.value_dim, out), self.kinit)
        if self.use_bias:
            self.add_weight("output_bias", (out,), self.binit)
        self.built = True

    def _project(self, x: Tensor, name: str, width: int) -> Tensor:
        k = getattr(self, f"{name}_kernel")
        b, t = x.shape[0], x.shape[1]
        y = ops.matmul(x, k.reshape(k.shape[0], -1))
        if self.use_bias:
            y = y + getattr(self, f"{name}_bias").reshape(-1)
        return y.reshape(b, t, self.num_heads, width).permute(0, 2, 1, 3)  # (B, h, T, d)

    def call(self, query, value=None, key=None, attention_mask=None,
             return_attention_scores: bool = False, training=None, use_causal_mask=False):
        if isinstance(query, (list, tuple)):  # functional form mha([q, v(, k)])
            parts = list(query) + [None] * (3 - len(query))
            query, value, key = parts[0], parts[1], parts[2]
        value = query if value is None else value
        key = value if key is None else key
        if not self.built:
            self.build([tuple(query.shape), tuple(value.shape), tuple(key.shape)])
        for name, t in (("query", query), ("value", value), ("key", key)):
            if t.ndim != 3:
                raise ValueError(f"layer {self.name!r} (MultiHeadAttention): {name} must be "
                                 f"(batch, seq, features), got shape {tuple(t.shape)}")
        q = self._project(query, "query", self.key_dim)
        k = self._project(key, "key", self.key_dim)
        v = self._project(value, "value", self.value_dim)
        mask = None
        if attention_mask is not None:
            m = attention_mask.data if isinstance(attention_mask, Tensor) else \
                np.asarray(attention_mask)
            want = (query.shape[0], query.shape[1], key.shape[1])
            if tuple(m.shape[-2:]) != want[1:]:
                raise ValueError(f"layer {self.name!r} (MultiHeadAttention): attention_mask has "
                                 f"shape {tuple(m.shape)}, expected {want}")
            mask = Tensor._wrap(m.astype(bool)[:, None])
        p = self.dropout if training else 0.0
        scale = 1.0 / math.sqrt(self.key_dim)
        if return_attention_scores:
            s = ops.matmul(q, k.transpose(-1, -2)) * scale
            if mask is not None:
                s = s.masked_fill(~mask.data, -1e9)
            if use_causal_mask:
                tri = np.triu(np.ones((s.shape[-2], s.shape[-1]), bool), 1)
                s = s.masked_fill(tri, -1e9)
            w = ops.softmax(s, -1)
            ctx = ops.matmul(ops.dropout(w, p, bool(training)), v)
        else:
            ctx = scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p,
                                               is_causal=use_causal_mask, scale=scale)
        b, t = ctx.shape[0], ctx.shape[2]
        ctx = ctx.permute(0, 2, 1, 3).reshape(b, t, -1)
        ok = self.output_kernel
        out = ops.matmul(ctx, ok.reshape(-1, ok.shape[-1]))
        if self.use_bias:
            out = out + self.output_bias
        return (out, w) if return_attention_scores else out

    def get_config(self) -> dict:
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self._out_dim}
