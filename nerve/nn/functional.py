"""``nerve.nn.functional`` (``import nerve.nn.functional as F``): stateless layers and losses.

Activations, softmax, dropout, linear, padding and cross-entropy come straight from
``nerve.ops``; the composite activations and the losses are built from those ops, so
everything here is differentiable (and, except the fused cross-entropy, twice).
"""
from __future__ import annotations

import numpy as np

from ..ops import elementwise as E
from ..ops import reduce as R
from ..ops import shape as S
from ..ops.elementwise import elu, gelu, leaky_relu, relu, sigmoid, silu, softplus, tanh
from ..ops.linalg import linear
from ..ops.nn import DropoutMask, dropout, one_hot
from ..ops.nn import cross_entropy as _cross_entropy
from ..ops.nn import log_softmax as _log_softmax
from ..ops.nn import nll_loss as _nll_loss
from ..ops.nn import softmax as _softmax
from ..random import _rng
from ..tensor import Tensor
from ._losses import (
    _legacy_reduction,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)

__all__ = ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "elu", "selu", "celu",
           "silu", "mish", "softplus", "softsign", "hardtanh", "hardsigmoid", "hardswish",
           "logsigmoid", "tanhshrink", "threshold", "glu", "prelu", "softmax", "softmin",
           "log_softmax", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "linear", "bilinear", "one_hot", "pad", "normalize", "cross_entropy", "nll_loss",
           "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div"]

W = Tensor._wrap

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# --- activations -----------------------------------------------------------------------

def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val)."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) cannot be greater than max_val "
                         f"({max_val})")
    return E.clamp(input, float(min_val), float(max_val))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """min(max(x, 0), 6)."""
    return E.clamp(input, 0.0, 6.0)


def selu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """scale · elu(x, α) with the self-normalising constants α ≈ 1.6733, scale ≈ 1.0507."""
    return E.mul(elu(input, _SELU_ALPHA), _SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(0, x) + min(0, α(e^{x/α} - 1))."""
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    if alpha == 1.0:
        return elu(input, 1.0)
    return E.mul(elu(E.mul(input, 1.0 / alpha), 1.0), float(alpha))


def mish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x · tanh(softplus(x))."""
    return E.mul(input, tanh(softplus(input)))


def softsign(input: Tensor) -> Tensor:  # noqa: A002
    """x / (1 + |x|)."""
    return E.div(input, E.add(E.Abs.apply(input), 1.0))


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """relu6(x + 3) / 6."""
    return E.mul(E.clamp(E.add(input, 3.0), 0.0, 6.0), 1.0 / 6.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x · relu6(x + 3) / 6."""
    return E.mul(input, hardsigmoid(input))


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """log σ(x) = -softplus(-x), stable for large |x|."""
    return E.neg(softplus(E.neg(input)))


def tanhshrink(input: Tensor) -> Tensor:  # noqa: A002
    """x - tanh(x)."""
    return E.sub(input, tanh(input))


def threshold(input: Tensor, threshold: float, value: float,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """x where x > threshold, else value."""
    return E.where(W(input.data > threshold), input, float(value))


def glu(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """Gated linear unit: a ⊙ σ(b), where a, b are the halves of ``input`` along ``dim``."""
    n = input.shape[dim]
    if n % 2:
        raise RuntimeError(f"glu: halving dimension must be even, but dimension {dim} is size "
                           f"{n}")
    a, b = S.chunk(input, 2, dim)
    return E.mul(a, sigmoid(b))


def prelu(input: Tensor, weight: Tensor) -> Tensor:  # noqa: A002
    """max(0, x) + w · min(0, x), one w per channel (dim 1) or a single shared w."""
    w = weight
    if w.numel() != 1:
        if input.ndim < 2 or input.shape[1] != w.numel():
            raise RuntimeError(f"prelu: {w.numel()} weights need an input with {w.numel()} "
                               f"channels in dim 1, got input of shape {tuple(input.shape)}")
        w = S.reshape(w, (w.numel(),) + (1,) * (input.ndim - 2))
    return E.where(W(input.data > 0), input, E.mul(w, input))


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype=None) -> Tensor:
    """softmax(x)ᵢ = exp(xᵢ) / Σⱼ exp(xⱼ) along ``dim``."""
    return _softmax(input, dim, dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
            dtype=None) -> Tensor:
    """softmax(-x) along ``dim``."""
    if dtype is not None:
        input = input.to(dtype)  # noqa: A001
    return _softmax(E.neg(input), dim)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,  # noqa: A002
                dtype=None) -> Tensor:
    """xᵢ - log Σⱼ exp(xⱼ) along ``dim``, computed stably."""
    return _log_softmax(input, dim, dtype)


# --- dropout variants -------------------------------------------------------------------

def _check_p(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def _feature_dropout(input: Tensor, p: float, training: bool, mask_shape: tuple) -> Tensor:  # noqa: A002
    """Zero whole channels: one Bernoulli draw per ``mask_shape`` entry, broadcast over the rest."""
    if not training or p == 0.0:
        return input
    dt = input.data.dtype
    if p == 1.0:
        return E.mul(input, 0.0)
    u = _rng().random(mask_shape, dtype=dt if dt in (np.float32, np.float64) else np.float64)
    mask = ((u >= p) * (1.0 / (1.0 - p))).astype(dt, copy=False)
    if input.xp is not np:
        mask = input.xp.asarray(mask)
    return DropoutMask.apply(input, mask)


def _channel_mask_shape(x: Tensor, spatial: int, name: str) -> tuple:
    batched_ndim = spatial + 2
    if x.ndim not in (batched_ndim - 1, batched_ndim):
        raise RuntimeError(f"{name}: expected a {batched_ndim - 1}-D (unbatched) or "
                           f"{batched_ndim}-D (batched) input, got shape {tuple(x.shape)}")
    lead = 2 if x.ndim == batched_ndim else 1
    return tuple(x.shape[:lead]) + (1,) * (x.ndim - lead)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero entire channels of (N, C, L) or (C, L) inputs with probability p."""
    _check_p("dropout1d", p)
    return _feature_dropout(input, p, training, _channel_mask_shape(input, 1, "dropout1d"))


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero entire channels of (N, C, H, W) or (C, H, W) inputs with probability p."""
    _check_p("dropout2d", p)
    return _feature_dropout(input, p, training, _channel_mask_shape(input, 2, "dropout2d"))


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Zero entire channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p."""
    _check_p("dropout3d", p)
    return _feature_dropout(input, p, training, _channel_mask_shape(input, 3, "dropout3d"))


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,  # noqa: A002
                  inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: dropped units are set to SELU's negative saturation α' and
    the result is affinely rescaled so the mean and variance are kept.

    out = a·(x·m + α'(1 - m)) + b, α' = -scale·α, a = ((1-p)(1 + p α'²))^{-½}, b = -a α' p.
    """
    _check_p("alpha_dropout", p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return E.mul(input, 0.0)
    dt = input.data.dtype
    alpha_p = -_SELU_ALPHA * _SELU_SCALE
    a = ((1 - p) * (1 + p * alpha_p**2)) ** -0.5
    b = -a * alpha_p * p
    keep = _rng().random(tuple(input.shape)) >= p
    scale = (keep * a).astype(dt)
    shift = (np.where(keep, 0.0, a * alpha_p) + b).astype(dt)
    if input.xp is not np:
        scale, shift = input.xp.asarray(scale), input.xp.asarray(shift)
    return E.add(DropoutMask.apply(input, scale), W(shift))


# --- linear maps, padding, normalisation ------------------------------------------------

def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """yₖ = x₁ᵀ Wₖ x₂ + bₖ for weight (out, in1, in2); any leading dims."""
    out_f, in1, in2 = weight.shape
    if input1.shape[-1] != in1 or input2.shape[-1] != in2 or \
            tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise RuntimeError(f"bilinear: inputs of shapes {tuple(input1.shape)} and "
                           f"{tuple(input2.shape)} don't match weight of shape "
                           f"{tuple(weight.shape)} (expected (..., {in1}) and (..., {in2}))")
    lead = tuple(input1.shape[:-1])
    x1 = S.reshape(input1, (-1, in1))
    x2 = S.reshape(input2, (-1, in2))
    # t[n, k·in1 + i] = Σⱼ W[k, i, j] x₂[n, j]  (one GEMM), then contract i with x₁
    t = S.reshape(linear(x2, S.reshape(weight, (out_f * in1, in2))), (-1, out_f, in1))
    y = R.sum(E.mul(t, S.unsqueeze(x1, 1)), -1)
    if bias is not None:
        y = E.add(y, bias)
    return S.reshape(y, lead + (out_f,))


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:  # noqa: A002
    """Pad the last dims: ``pad=(left, right, top, bottom, ...)``."""
    return S.pad(input, pad, mode, 0.0 if value is None else value)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,  # noqa: A002
              out=None) -> Tensor:
    """x / max(‖x‖_p, eps) along ``dim``."""
    if p == 2:  # clamp the squared norm, so zero vectors get a zero (not NaN) gradient
        norm = E.sqrt(E.clamp(R.sum(E.mul(input, input), dim, keepdim=True), min=eps * eps))
    else:
        norm = E.clamp(R.norm(input, p, dim, keepdim=True), min=eps)
    return E.div(input, norm)



# --- classification losses (PyTorch's positional signatures over the fused ops) ---------

def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from logits (N, C) or (N, C, d1, ...).

    Per sample: ℓ = -Σ_c q_c · w_c · log softmax(x)_c, where q is the one-hot target
    (class indices) or the given class probabilities, mixed with the uniform
    distribution by ``label_smoothing``; targets equal to ``ignore_index`` are skipped
    and the 'mean' divides by the total weight of the counted targets.
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities: ℓ = -w[y] · x[y] (after log_softmax)."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    return _nll_loss(input, target, weight, ignore_index, reduction)

# --- convolution, pooling, normalisation, embedding and attention kernels -----------------
from ..ops.attention import multi_head_attention_forward, scaled_dot_product_attention  # noqa: E402,F401
from ..ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d  # noqa: E402,F401
from ..ops.embedding import embedding  # noqa: E402,F401
from ..ops.layernorm import layer_norm  # noqa: E402,F401
from ..ops.norm import batch_norm  # noqa: E402,F401
from ..ops.pool import (  # noqa: E402,F401
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from ..ops.upsample import interpolate, upsample, upsample_bilinear, upsample_nearest  # noqa: E402,F401

__all__ += [
    "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "max_pool1d", "max_pool2d",
    "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "batch_norm", "layer_norm", "embedding",
    "scaled_dot_product_attention", "multi_head_attention_forward", "interpolate", "upsample",
    "upsample_nearest", "upsample_bilinear"
]
