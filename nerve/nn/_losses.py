"""Loss functions (``torch.nn.functional`` names), composed from differentiable ops.

Each loss is written with nerve's own ops, so it is twice differentiable (gradient
penalties through a loss work). The elementwise loss ℓᵢ is reduced by ``reduction``:
'mean' (average), 'sum' or 'none' (the elementwise tensor). Input and target must have
the same shape; a mismatch raises an error naming both shapes instead of broadcasting
silently (PyTorch only warns for some losses and gets the wrong answer).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..ops import elementwise as E
from ..ops import reduce as R
from ..tensor import Tensor

__all__ = ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div"]

W = Tensor._wrap


def _legacy_reduction(size_average, reduce) -> str:
    """PyTorch's old (size_average, reduce) flags as a reduction string."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if size_average and reduce:
        return "mean"
    return "sum" if reduce else "none"


def _resolve_reduction(name: str, reduction: str, size_average=None, reduce=None) -> str:
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return reduction


def _as_input(name: str, x) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: input must be a nerve Tensor, got {type(x).__name__}")
    if x.data.dtype.kind != "f":
        raise TypeError(f"{name}: input must be a floating-point tensor, got {x.dtype}")
    return x


def _as_target(name: str, x: Tensor, t) -> Tensor:
    """The target as a tensor of the input's dtype and shape (error naming both shapes)."""
    if not isinstance(t, Tensor):
        t = W(x.xp.asarray(t, dtype=x.data.dtype))
    if tuple(t.shape) != tuple(x.shape):
        raise ValueError(f"{name}: target shape {tuple(t.shape)} differs from input shape "
                         f"{tuple(x.shape)}; they must be equal (reshape or squeeze one of "
                         "them instead of relying on broadcasting)")
    if t.data.dtype != x.data.dtype:
        t = E.cast(t, x.data.dtype)
    return t


def _as_weight(name: str, x: Tensor, w, what: str = "weight") -> Tensor | None:
    if w is None:
        return None
    if not isinstance(w, Tensor):
        w = W(x.xp.asarray(w, dtype=x.data.dtype))
    try:
        np.broadcast_shapes(tuple(w.shape), tuple(x.shape))
    except ValueError:
        raise ValueError(f"{name}: {what} of shape {tuple(w.shape)} can't be broadcast to the "
                         f"input's shape {tuple(x.shape)}") from None
    if w.data.dtype != x.data.dtype:
        w = E.cast(w, x.data.dtype)
    return w


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return R.mean(loss)
    if reduction == "sum":
        return R.sum(loss)
    return loss


def _weighted(name: str, loss: Tensor, x: Tensor, weight, reduction: str,
              mean_by_weight: bool) -> Tensor:
    """Apply an elementwise weight of the input's shape (PyTorch's weighted mse/l1/huber)."""
    if weight is None:
        return _reduce(loss, reduction)
    w = _as_weight(name, x, weight)
    if tuple(w.shape) != tuple(x.shape):
        raise ValueError(f"{name}: weight shape {tuple(w.shape)} must equal the input's shape "
                         f"{tuple(x.shape)}")
    loss = E.mul(loss, w)
    if reduction == "mean" and mean_by_weight:
        return E.div(R.sum(loss), R.sum(w))
    return _reduce(loss, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error: ℓᵢ = (xᵢ - yᵢ)²."""
    name = "mse_loss"
    reduction = _resolve_reduction(name, reduction, size_average, reduce)
    x = _as_input(name, input)
    d = E.sub(x, _as_target(name, x, target))
    return _weighted(name, E.mul(d, d), x, weight, reduction, True)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean absolute error: ℓᵢ = |xᵢ - yᵢ|."""
    name = "l1_loss"
    reduction = _resolve_reduction(name, reduction, size_average, reduce)
    x = _as_input(name, input)
    d = E.sub(x, _as_target(name, x, target))
    return _weighted(name, E.Abs.apply(d), x, weight, reduction, True)


def _quadratic_linear(d: Tensor, delta: float) -> Tensor:
    """½d² where |d| < delta, else delta·(|d| - ½delta) (the Huber function)."""
    a = E.Abs.apply(d)
    quad = E.mul(E.mul(d, d), 0.5)
    lin = E.mul(E.sub(a, 0.5 * delta), delta)
    return E.where(W(a.data < a.data.dtype.type(delta)), quad, lin)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """Huber loss: ℓᵢ = ½(xᵢ-yᵢ)² if |xᵢ-yᵢ| < δ, else δ(|xᵢ-yᵢ| - ½δ)."""
    name = "huber_loss"
    reduction = _resolve_reduction(name, reduction)
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x = _as_input(name, input)
    d = E.sub(x, _as_target(name, x, target))
    return _weighted(name, _quadratic_linear(d, float(delta)), x, weight, reduction, False)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1: ℓᵢ = ½(xᵢ-yᵢ)²/β if |xᵢ-yᵢ| < β, else |xᵢ-yᵢ| - ½β (Huber / β)."""
    name = "smooth_l1_loss"
    reduction = _resolve_reduction(name, reduction, size_average, reduce)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    x = _as_input(name, input)
    d = E.sub(x, _as_target(name, x, target))
    if beta == 0.0:
        return _reduce(E.Abs.apply(d), reduction)
    return _reduce(E.mul(_quadratic_linear(d, float(beta)), 1.0 / beta), reduction)


def _clamped_log(p: Tensor) -> Tensor:
    """max(log p, -100), differentiable, never evaluating log 0 (-100 where p = 0)."""
    pos = W(p.data > 0)
    return E.where(pos, E.clamp(E.log(E.where(pos, p, 1.0)), min=-100.0), -100.0)


def _clamped_log1m(p: Tensor) -> Tensor:
    """max(log(1 - p), -100) via log1p, differentiable (-100 where p = 1)."""
    lt1 = W(p.data < 1)
    return E.where(lt1, E.clamp(E.log1p(E.neg(E.where(lt1, p, 0.0))), min=-100.0), -100.0)


class _BinaryCrossEntropy(Function):
    """ℓ = -[y·max(log x, -100) + (1-y)·max(log(1-x), -100)], PyTorch's gradient.

    ∂ℓ/∂x = (x - y) / max(x(1 - x), 1e-12) (bounded where x reaches 0 or 1, exactly as
    PyTorch), ∂ℓ/∂y = max(log(1-x), -100) - max(log x, -100). Both are written with
    nerve ops, so the loss is twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        xd, yd = x.data, y.data
        xp = x.xp
        one, floor = xd.dtype.type(1), xd.dtype.type(-100)
        lx = xp.where(xd > 0, xp.maximum(xp.log(xp.where(xd > 0, xd, one)), floor), floor)
        l1x = xp.where(xd < 1, xp.maximum(xp.log1p(-xp.where(xd < 1, xd, 0)), floor), floor)
        return xp.asarray(-(yd * lx + (one - yd) * l1x))

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        nx, ny = ctx.needs_input_grad
        gx = gy = None
        if nx:
            gx = E.mul(g, E.div(E.sub(x, y), E.clamp(E.mul(x, E.rsub(x, 1.0)), min=1e-12)))
        if ny:
            gy = E.mul(g, E.sub(_clamped_log1m(x), _clamped_log(x)))
        return gx, gy


def binary_cross_entropy(input: Tensor, target: Tensor,  # noqa: A002
                         weight: Tensor | None = None, size_average=None, reduce=None,
                         reduction: str = "mean") -> Tensor:
    """BCE of probabilities: ℓᵢ = -wᵢ [yᵢ log xᵢ + (1 - yᵢ) log(1 - xᵢ)], logs clamped ≥ -100.

    ``input`` must hold probabilities in [0, 1] (apply a sigmoid first, or use
    ``binary_cross_entropy_with_logits``, which is more stable).
    """
    name = "binary_cross_entropy"
    reduction = _resolve_reduction(name, reduction, size_average, reduce)
    x = _as_input(name, input)
    y = _as_target(name, x, target)
    for what, d in (("input", x.data), ("target", y.data)):
        ok = (d >= 0) & (d <= 1)
        if d.size and not bool(ok.all()):
            bad = float(d[~ok].reshape(-1)[0])
            hint = (" (pass probabilities, e.g. sigmoid(logits), or use "
                    "binary_cross_entropy_with_logits on the logits)" if what == "input" else "")
            raise ValueError(f"{name}: all elements of {what} should be between 0 and 1, got "
                             f"{bad:g}{hint}")
    loss = _BinaryCrossEntropy.apply(x, y)
    w = _as_weight(name, x, weight)
    if w is not None:
        loss = E.mul(loss, w)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """BCE of logits, computed stably.

    ℓᵢ = wᵢ [(1 - yᵢ) xᵢ + (1 + (p - 1) yᵢ) (log(1 + e^{-|xᵢ|}) + max(-xᵢ, 0))]; without
    ``pos_weight`` (p = 1) this is max(x, 0) - x·y + log(1 + e^{-|x|}). ``pos_weight``
    (one value per class, broadcast over the last dim) weighs the positive term.
    """
    name = "binary_cross_entropy_with_logits"
    reduction = _resolve_reduction(name, reduction, size_average, reduce)
    x = _as_input(name, input)
    y = _as_target(name, x, target)
    softplus_neg = E.add(E.log1p(E.exp(E.neg(E.Abs.apply(x)))), E.relu(E.neg(x)))  # -log σ(x)
    pw = _as_weight(name, x, pos_weight, "pos_weight")
    if pw is None:
        loss = E.add(E.mul(E.rsub(y, 1.0), x), softplus_neg)
    else:
        log_weight = E.add(E.mul(E.sub(pw, 1.0), y), 1.0)
        loss = E.add(E.mul(E.rsub(y, 1.0), x), E.mul(log_weight, softplus_neg))
    w = _as_weight(name, x, weight)
    if w is not None:
        loss = E.mul(loss, w)
    return _reduce(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,  # noqa: A002
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence with log-probabilities as input: ℓᵢ = yᵢ (log yᵢ - xᵢ) (0 where yᵢ = 0).

    With ``log_target=True`` the target is log-probabilities too: ℓᵢ = e^{yᵢ}(yᵢ - xᵢ).
    ``reduction='batchmean'`` divides the sum by the batch size (the true KL divergence).
    """
    name = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    if reduction not in ("mean", "sum", "none", "batchmean"):
        raise ValueError(f"{name}: reduction must be 'mean', 'batchmean', 'sum' or 'none', got "
                         f"{reduction!r}")
    x = _as_input(name, input)
    y = _as_target(name, x, target)
    if log_target:
        loss = E.mul(E.exp(y), E.sub(y, x))
    else:
        pos = W(y.data > 0)
        safe_y = E.where(pos, y, 1.0)  # log is never evaluated at 0
        loss = E.where(pos, E.mul(y, E.sub(E.log(safe_y), x)), 0.0)
    if reduction == "batchmean":
        n = x.shape[0] if x.ndim else 1
        return E.div(R.sum(loss), float(n))
    return _reduce(loss, reduction)

