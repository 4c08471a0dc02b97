"""DistributedDataParallel and DistributedOptimizer: synchronous data parallelism.

Every rank holds a full replica of the model and runs forward and backward on its own
shard of the batch; before each optimizer step the gradients are averaged over the
ranks, so every replica takes the same step and the replicas stay identical::

    import nerve.distributed as dist

    model = dist.DistributedDataParallel(net)           # rank 0's weights everywhere
    opt = dist.DistributedOptimizer(nerve.optim.SGD(model.parameters(), lr=0.1), model)
    for x, y in loader:                                 # DistributedSampler shards
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()                                      # averages gradients, then steps

With mean-reduced losses and equal per-rank batches B, the averaged gradient is the
gradient of the mean loss over the global batch of N·B samples: N ranks take exactly
the steps one process would take with batch N·B.

Why the averaging runs at ``optimizer.step()`` and not inside ``backward()``: nerve's
autograd engine has no end-of-backward callback, and a parameter's hook cannot know
whether more gradient contributions are still to come. Averaging just before the
update is exact, also covers gradient accumulation over several backward passes
(one all-reduce per step instead of per backward), and ``model.sync_gradients()`` is
there for hand-written loops. It is the Horovod recipe (``hvd.DistributedOptimizer``).
"""
from __future__ import annotations

import types
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..autograd import enable_grad, no_grad
from ..nn.module import Module
from ..tensor import Tensor
from .buckets import DEFAULT_CAP_BYTES, Bucketer
from .collectives import all_reduce
from .env import get_comm, world_size
from .sync_batchnorm import convert_sync_batchnorm

__all__ = ["DistributedDataParallel", "DistributedOptimizer", "broadcast_module"]

# number of gradient synchronisations so far (DDP's or DistributedOptimizer's): a DDP
# whose last backward came after the last of them warns that nothing averaged it
_SYNCS = [0]

_TORCH_ONLY = ("device_ids", "output_device", "dim", "process_group", "find_unused_parameters",
               "check_reduction", "gradient_as_bucket_view", "static_graph",
               "broadcast_buffers")


def _check_same_structure(entries: list[tuple[str, tuple, str]], what: str) -> None:
    """Raise (on every rank) if the ranks' models differ in names, shapes or dtypes."""
    allv = get_comm().allgather(entries)
    ref = allv[0]
    for r, ent in enumerate(allv[1:], start=1):
        if ent == ref:
            continue
        if len(ent) != len(ref):
            raise ValueError(f"{what}: rank {r}'s model has {len(ent)} parameters and buffers, "
                             f"rank 0's has {len(ref)}; every rank must build the same model")
        for (n0, s0, d0), (n1, s1, d1) in zip(ref, ent):
            if (n0, s0, d0) != (n1, s1, d1):
                raise ValueError(f"{what}: rank {r} has {n1!r} with shape {s1} and dtype "
                                 f"{np.dtype(d1)}, rank 0 has {n0!r} with shape {s0} and "
                                 f"dtype {np.dtype(d0)}; every rank must build the same model")


def broadcast_module(module: Module, src: int = 0, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
    """Overwrite ``module``'s parameters and buffers with rank ``src``'s, in place.

    Checks first that every rank has the same names, shapes and dtypes.
    """
    if world_size() == 1:
        return
    items = [(n, t) for n, t in module.named_parameters()] + \
            [(n, t) for n, t in module.named_buffers()]
    _check_same_structure([(n, tuple(t.shape), t.data.dtype.str) for n, t in items],
                          type(module).__name__)
    with no_grad():
        Bucketer(cap_bytes).broadcast([t.data for _, t in items], src)


class DistributedDataParallel(Module):
    """Wrap ``module`` for synchronous data-parallel training over the MPI job.

    On construction: BatchNorm layers become :class:`SyncBatchNorm` (unless
    ``sync_batchnorm=False``), and rank 0's parameters and buffers are copied to every
    rank. ``forward`` runs the wrapped module. ``sync_gradients()`` replaces every
    parameter's ``.grad`` by its mean over the ranks, with one all-reduce per bucket of
    at most ``bucket_cap_mb`` MiB; wrap the optimizer with :func:`DistributedOptimizer`
    to have ``optimizer.step()`` call it.

    BatchNorm, the documented choice: with ``sync_batchnorm=True`` (default) batch
    statistics are those of the global batch, so training is identical to one process
    with the concatenated batch, and running statistics are identical on every rank.
    With ``sync_batchnorm=False`` each rank normalises with its own shard's statistics
    (cheaper: no per-layer communication) and ``sync_gradients()`` also averages the
    floating-point buffers (running mean/var) over the ranks, which keeps the replicas
    identical.

    ``state_dict()`` / ``load_state_dict()`` are the wrapped module's: keys carry no
    ``"module."`` prefix, so a checkpoint loads into the bare model on one process; a
    state dict whose keys all start with ``"module."`` (saved from a PyTorch DDP) loads
    too. ``named_parameters()`` keeps the prefix, as in PyTorch.

    Args:
        module: the model (the same architecture on every rank).
        sync_batchnorm: convert BatchNorm layers to SyncBatchNorm (see above).
        bucket_cap_mb: the largest gradient bucket, in MiB (25, as PyTorch).
        **kwargs: PyTorch's ``device_ids``, ``output_device``, ``broadcast_buffers``,
            ``find_unused_parameters``, ... are accepted and ignored (parameters without
            a gradient on every rank are always handled, see ``Bucketer``).

    Without MPI (a job of one) this is a transparent wrapper: no conversion, no copies,
    ``sync_gradients()`` does nothing.
    """

    def __init__(self, module: Module, sync_batchnorm: bool = True,
                 bucket_cap_mb: float = 25, **kwargs: Any) -> None:
        super().__init__()
        bad = sorted(k for k in kwargs if k not in _TORCH_ONLY)
        if bad:
            raise TypeError(f"DistributedDataParallel: unexpected arguments {bad}")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a nerve.nn.Module, got "
                            f"{type(module).__name__}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got "
                             f"{bucket_cap_mb}")
        n = world_size()
        if n > 1 and sync_batchnorm:
            module = convert_sync_batchnorm(module)
        self.module = module
        self.sync_batchnorm = bool(sync_batchnorm)
        self.world_size = n
        self.bucketer = Bucketer(int(bucket_cap_mb * 2**20))
        self._buffer_bucketer = Bucketer(int(bucket_cap_mb * 2**20))
        self._grads_at = -1  # _SYNCS[0] when a backward last reached the parameters
        self._in_no_sync = False
        self._warned = False
        if n > 1:
            broadcast_module(module, 0, int(bucket_cap_mb * 2**20))
            for p in module.parameters():
                if p.requires_grad:
                    p.register_hook(self._on_grad)

    # --- forward ------------------------------------------------------------------------
    def _on_grad(self, grad):
        if not self._in_no_sync:
            self._grads_at = _SYNCS[0]

    def forward(self, *args, **kwargs):
        if self._grads_at == _SYNCS[0] and self.training and not self._in_no_sync \
                and not self._warned:
            self._warned = True
            warnings.warn("DistributedDataParallel: a backward pass ran and the gradients were "
                          "not averaged over the ranks before this forward pass; wrap the "
                          "optimizer with nerve.distributed.DistributedOptimizer(opt, model) "
                          "or call model.sync_gradients() before opt.step() (to accumulate "
                          "gradients on purpose, run those passes inside `with "
                          "model.no_sync():`)", UserWarning, stacklevel=3)
        return self.module(*args, **kwargs)

    @contextmanager
    def no_sync(self):
        """Gradient accumulation: backward passes inside the block are accumulated locally
        (the averaging happens once, at the next ``sync_gradients()`` / step)."""
        old = self._in_no_sync
        self._in_no_sync = True
        try:
            yield
        finally:
            self._in_no_sync = old

    # --- gradient averaging -------------------------------------------------------------
    def sync_gradients(self) -> None:
        """Replace each parameter's ``.grad`` by its mean over the ranks (bucketed); with
        ``sync_batchnorm=False`` also average the floating-point buffers. Every rank must
        call it the same number of times."""
        _SYNCS[0] += 1
        if self.world_size == 1:
            return
        params = [p for p in self.module.parameters() if p.requires_grad]
        metas = [(tuple(p.shape), p.data.dtype) for p in params]
        grads = [None if p.grad is None else p.grad.data for p in params]
        out = self.bucketer.all_reduce_mean(grads, metas)
        for p, g in zip(params, out):
            p.grad = None if g is None else Tensor._wrap(g)
        if not self.sync_batchnorm:
            self._average_buffers()

    def _average_buffers(self) -> None:
        bufs = [b for b in self.module.buffers() if b.data.dtype.kind == "f"]
        if not bufs:
            return
        metas = [(tuple(b.shape), b.data.dtype) for b in bufs]
        out = self._buffer_bucketer.all_reduce_mean([b.data for b in bufs], metas)
        for b, v in zip(bufs, out):
            b.data[...] = v

    # --- state dict: the wrapped module's keys ------------------------------------------
    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False):
        keys = list(state_dict)
        if keys and all(k.startswith("module.") for k in keys):
            state_dict = {k[len("module."):]: v for k, v in state_dict.items()}
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}, sync_batchnorm={self.sync_batchnorm}"


class _ParamSync:
    """Gradient averaging for an optimizer's own parameters (no DDP model given)."""

    def __init__(self, optimizer, cap_bytes: int) -> None:
        self.optimizer = optimizer
        self.bucketer = Bucketer(cap_bytes)

    def __call__(self) -> None:
        _SYNCS[0] += 1
        if world_size() == 1:
            return
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        metas = [(tuple(p.shape), p.data.dtype) for p in params]
        out = self.bucketer.all_reduce_mean(
            [None if p.grad is None else p.grad.data for p in params], metas)
        for p, g in zip(params, out):
            p.grad = None if g is None else Tensor._wrap(g)


def DistributedOptimizer(optimizer, model: DistributedDataParallel | None = None,  # noqa: N802
                         bucket_cap_mb: float = 25):
    """Make ``optimizer.step()`` average the gradients over the ranks first.

    Returns the same optimizer object (so LR schedulers, ``state_dict`` and
    ``isinstance`` checks keep working) with its ``step`` wrapped. With ``model`` (a
    :class:`DistributedDataParallel`) the step calls ``model.sync_gradients()``;
    without, it averages the gradients of the optimizer's own parameters. A ``closure``
    passed to ``step`` (LBFGS) is wrapped too: the gradients it computes are averaged
    and the loss it returns is the mean over the ranks, so every rank takes the same
    decisions. Wrap the optimizer before creating LR schedulers for it.
    """
    if getattr(optimizer, "_nerve_distributed", False):
        return optimizer
    if model is not None and not isinstance(model, DistributedDataParallel):
        raise TypeError(f"DistributedOptimizer: model must be a DistributedDataParallel (or "
                        f"None), got {type(model).__name__}")
    sync = model.sync_gradients if model is not None else \
        _ParamSync(optimizer, int(bucket_cap_mb * 2**20))
    orig = optimizer.step

    def synced(closure):
        def run():
            with enable_grad():
                loss = closure()
            sync()
            if isinstance(loss, Tensor) and world_size() > 1:
                loss = Tensor._wrap(all_reduce(np.array(loss.detach().numpy()), "mean"))
            return loss

        return run

    def step(self, closure=None):
        if closure is None:
            sync()
            return orig()
        return orig(synced(closure))

    if hasattr(orig, "_wrapped_by_lr_sched"):
        step._wrapped_by_lr_sched = True
    optimizer.step = types.MethodType(step, optimizer)
    optimizer._nerve_distributed = True
    return optimizer

