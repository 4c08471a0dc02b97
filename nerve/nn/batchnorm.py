"""Batch normalisation layers: BatchNorm1d, BatchNorm2d (PyTorch's API and state names).

In training mode each batch is normalised with its own statistics and the running
estimates move towards them: r ← (1 - momentum)·r + momentum·stat (``momentum=None``
gives the cumulative average, momentum = 1/num_batches_tracked). In eval mode the
running estimates are used. Buffers ``running_mean``, ``running_var`` and
``num_batches_tracked`` carry PyTorch's names, so state dicts load either way.
"""
from __future__ import annotations

import numpy as np

from .. import _backend as B
from ..autograd import no_grad
from ..ops.norm import batch_norm
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    _dims: tuple = (2,)
    _layout = "(N, C, H, W)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        xp = B.get_xp(device if device is not None else "cpu")
        dt = B.as_np_dtype(dtype)
        if affine:
            self.weight = Parameter(xp.empty((num_features,), dtype=dt))
            if bias:
                self.bias = Parameter(xp.empty((num_features,), dtype=dt))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._wrap(xp.zeros(num_features, dtype=dt)))
            self.register_buffer("running_var", Tensor._wrap(xp.ones(num_features, dtype=dt)))
            self.register_buffer("num_batches_tracked",
                                 Tensor._wrap(xp.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, x: Tensor) -> None:
        if x.ndim not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"{type(self).__name__}({self.extra_repr()}): expected {want} "
                             f"input {self._layout}, got {x.ndim}D input of shape "
                             f"{tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}({self.extra_repr()}): expected input with "
                             f"num_features={self.num_features} channels (dim 1 of "
                             f"{self._layout}), got input of shape {tuple(x.shape)}")

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        try:
            return batch_norm(input, self.running_mean if track else None,
                              self.running_var if track else None, self.weight, self.bias,
                              use_batch, factor, self.eps)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{type(self).__name__}({self.extra_repr()}): {e}") from None

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L): y = γ·(x - μ)/√(σ² + ε) + β per channel.

    Args:
        num_features: C.
        eps: added to the variance (1e-5).
        momentum: weight of the new batch in the running estimates (0.1); None for a
            cumulative average.
        affine: learn γ (ones) and β (zeros).
        bias: with ``affine``, whether β is learned (keyword-only, default True).
        track_running_stats: keep running estimates (else batch statistics in eval too).
    """

    _dims = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W), per channel C; see :class:`BatchNorm1d`."""

    _dims = (4,)
    _layout = "(N, C, H, W)"
