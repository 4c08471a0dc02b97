"""SyncBatchNorm: batch normalisation with the statistics of the *global* batch.

With data parallelism each rank sees only its shard of the batch. Plain BatchNorm would
normalise with per-rank statistics, so N ranks with batch B would not train like one
process with batch N·B (and running statistics would drift apart between ranks). Here,
per channel c, over the M = Σ_r M_r values of all ranks:

    forward:   μ = Σ_r Σ x / M                              (all-reduce of C sums)
               σ² = Σ_r Σ (x - μ)² / M                      (all-reduce of C sums)
               x̂ = (x - μ)/√(σ² + ε),   y = γ·x̂ + β
               running ← (1 - momentum)·running + momentum·(μ, M/(M-1)·σ²)
    backward:  S₁ = Σ_r Σ g,  S₂ = Σ_r Σ g·x̂                 (one all-reduce of 2C sums)
               dx = γ/√(σ²+ε) · (g - S₁/M - x̂·S₂/M)
               dγ = Σ g·x̂,  dβ = Σ g                       (local; DDP averages them)

The numerics follow ``nerve.ops.norm.BatchNorm`` step for step (two-pass variance), so
N ranks reproduce a single process on the concatenated batch to rounding. Gradients
arriving on each rank are those of its own mean loss; because the backward is linear
in g, the ranks' dx are all N times the global-loss gradient, and DDP's mean over ranks
divides that back out.

Cost per layer and step: three all-reduces of C or 2C numbers (latency-bound).
"""
from __future__ import annotations

import numpy as np

from .._backend import xp_of
from ..autograd import Function, once_differentiable
from ..nn.batchnorm import _BatchNorm
from ..nn.module import Module
from ..ops.norm import _bshape, _canon, _cdot, _csum
from ..tensor import Tensor
from .env import get_comm, world_size

__all__ = ["SyncBatchNorm", "convert_sync_batchnorm"]


def _allreduce_sum(a: np.ndarray) -> np.ndarray:
    """Σ over ranks of a small host array (in place; returned)."""
    from mpi4py import MPI

    get_comm().Allreduce(MPI.IN_PLACE, a, op=MPI.SUM)
    return a


class _SyncBatchNormFn(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps):
        xd = x.data
        x3 = _canon(xd, False)
        dt = x3.dtype
        bs = _bshape(x3)
        c = x3.shape[1]
        local_m = x3.size // c if c else 0
        # one all-reduce carries the channel sums and the element count
        s = np.empty(c + 1, dtype=np.float64)  # float64: the count stays exact
        s[:c] = _host(_csum(x3))
        s[c] = local_m
        s = _allreduce_sum(s)
        m = int(round(float(s[c])))
        if m == 0:
            raise ValueError(f"SyncBatchNorm: the global batch is empty (input shape "
                             f"{tuple(xd.shape)} on this rank)")
        mean = _dev(s[:c].astype(dt, copy=False), x3) / dt.type(m)
        xhat = x3 - mean.reshape(bs)
        var = _dev(_allreduce_sum(np.array(_host(_cdot(xhat, xhat)))), x3) / dt.type(m)
        invstd = 1 / xp_of(x3).sqrt(var + dt.type(eps))
        xhat *= invstd.reshape(bs)
        if running_mean is not None:
            if m < 2:
                raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel in "
                                 f"training over all ranks, got {m} (input shape "
                                 f"{tuple(xd.shape)} on this rank)")
            mo = float(momentum)
            rm, rv = running_mean.data, running_var.data
            rm *= rm.dtype.type(1 - mo)
            rm += (mean * dt.type(mo)).astype(rm.dtype, copy=False)
            rv *= rv.dtype.type(1 - mo)
            rv += (var * dt.type(mo * m / (m - 1))).astype(rv.dtype, copy=False)
        w = None if weight is None else weight.data
        b = None if bias is None else bias.data
        if w is None:
            y = xhat if b is None else xhat + b.reshape(bs)
        else:
            y = xhat * w.reshape(bs)
            if b is not None:
                y += b.reshape(bs)
        ctx.xhat, ctx.invstd, ctx.w, ctx.m, ctx.shape = xhat, invstd, w, m, xd.shape
        return y.reshape(xd.shape)

    @staticmethod
    @once_differentiable
    def backward(ctx, g):  # dx = γ/σ·(g - S₁/M - x̂·S₂/M), S = global sums; dγ, dβ local
        nx, nw, nb = ctx.needs_input_grad[:3]
        g3 = _canon(g.data, False)
        bs = _bshape(g3)
        dt = g3.dtype
        xhat, invstd, w = ctx.xhat, ctx.invstd, ctx.w
        c = g3.shape[1]
        sg = _csum(g3)
        sgx = _cdot(g3, xhat)
        dx = None
        if nx:
            both = np.empty(2 * c, dtype=dt)
            both[:c] = _host(sg)
            both[c:] = _host(sgx)
            both = _dev(_allreduce_sum(both), g3)
            k = invstd if w is None else invstd * w
            dx = g3 * k.reshape(bs)
            dx -= xhat * (k * both[c:] / dt.type(ctx.m)).reshape(bs)
            dx -= (k * both[:c] / dt.type(ctx.m)).reshape(bs)
            dx = dx.reshape(ctx.shape)
        return dx, (sgx if nw else None), (sg if nb else None), None, None, None, None


def _host(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.get()


def _dev(a: np.ndarray, like):
    """``a`` on the device of ``like`` (a no-op for NumPy)."""
    return a if isinstance(like, np.ndarray) else xp_of(like).asarray(a)


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over (N, C, *) with statistics over all ranks' batches.

    Same arguments, parameters and buffers as :class:`nerve.nn.BatchNorm2d`; outside
    training, or in a job of one process, it is exactly BatchNorm. Convert a model's
    BatchNorm layers with :func:`convert_sync_batchnorm` (``DistributedDataParallel``
    does it by default).

    Args:
        num_features: C.
        eps, momentum, affine, track_running_stats: as for BatchNorm.
        process_group: accepted for PyTorch compatibility; must be None (all ranks).
    """

    _dims = (2, 3, 4, 5)
    _layout = "(N, C, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None) -> None:
        if process_group is not None:
            raise ValueError("SyncBatchNorm: only the whole job (process_group=None) is "
                             "supported")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        if not self.training or world_size() == 1:
            return super().forward(input)
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        rm = self.running_mean if self.track_running_stats else None
        rv = self.running_var if self.track_running_stats else None
        return _SyncBatchNormFn.apply(input, self.weight, self.bias, rm, rv, factor,
                                      float(self.eps))

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """PyTorch's spelling of :func:`convert_sync_batchnorm`."""
        return convert_sync_batchnorm(module, process_group)


def _to_sync(bn: _BatchNorm) -> SyncBatchNorm:
    new = SyncBatchNorm.__new__(SyncBatchNorm)
    Module.__init__(new)
    for k in ("num_features", "eps", "momentum", "affine", "track_running_stats"):
        object.__setattr__(new, k, getattr(bn, k))
    # the very same Parameter and buffer objects: optimizers built before the
    # conversion keep updating them, and state-dict names do not change
    for name, p in bn._parameters.items():
        new._parameters[name] = p
    for name, b in bn._buffers.items():
        new._buffers[name] = b
    new._non_persistent_buffers_set = set(bn._non_persistent_buffers_set)
    new.training = bn.training
    return new


def convert_sync_batchnorm(module: Module, process_group=None) -> Module:
    """Replace every BatchNorm1d/2d inside ``module`` by a :class:`SyncBatchNorm` sharing
    its parameters and buffers; returns ``module`` (or the new layer if ``module`` itself
    is a BatchNorm)."""
    if process_group is not None:
        raise ValueError("convert_sync_batchnorm: only process_group=None is supported")
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        return _to_sync(module)
    for name, child in list(module._modules.items()):
        if child is not None:
            new = convert_sync_batchnorm(child)
            if new is not child:
                module._modules[name] = new
    return module
