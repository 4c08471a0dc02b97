"""``nerve.distributed``: data-parallel training over MPI (mpi4py).

The same script runs alone or as N processes, on one machine or many::

    python train.py                      # one process: everything here is a no-op
    mpiexec -n 4 python train.py         # 4 ranks, one machine
    mpiexec -f hosts -n 16 python train.py
    srun -n 16 python train.py           # Slurm

It is inert unless started by an MPI launcher: then ``rank() == 0``,
``world_size() == 1``, collectives return their input, and mpi4py is not imported.
Under a launcher the first call that needs MPI joins the job (``init()``), and an
uncaught exception in any rank aborts the whole job instead of hanging it.

PyTorch-style training::

    import nerve.distributed as dist
    model = dist.DistributedDataParallel(net)                 # SyncBatchNorm, rank 0's weights
    opt = dist.DistributedOptimizer(nerve.optim.Adam(model.parameters()), model)
    sampler = dist.DistributedSampler(train_set, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=64, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad(); F.cross_entropy(model(x), y).backward(); opt.step()
        if dist.is_main():
            nerve.save(model.state_dict(), "ckpt.safetensors")

Keras-style: ``dist.keras_data_parallel(model)`` makes ``model.fit`` data-parallel
(global ``batch_size``, sharded data, averaged gradients and metrics, rank-0 output).

See ``docs/distributed.md`` for installation, launching and the performance model.
"""
import importlib

from .env import (
    abort,
    barrier,
    destroy_process_group,
    get_comm,
    init,
    init_process_group,
    is_available,
    is_initialized,
    is_main,
    launched,
    local_rank,
    rank,
    world_size,
)

get_rank = rank
get_world_size = world_size

# the rest is imported on first use, so that ``import nerve.distributed`` (and its
# abort-on-error setup, below) stays cheap: it needs neither nn nor data
_LAZY = {
    "Bucketer": "buckets", "ReduceOp": "collectives", "broadcast": "collectives",
    "all_reduce": "collectives", "all_gather": "collectives",
    "DistributedDataParallel": "ddp", "DistributedOptimizer": "ddp",
    "broadcast_module": "ddp", "DistributedSampler": "sampler",
    "SyncBatchNorm": "sync_batchnorm", "convert_sync_batchnorm": "sync_batchnorm",
    "keras_data_parallel": "keras_dp",
}


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'nerve.distributed' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["init", "init_process_group", "destroy_process_group", "launched", "is_available",
           "is_initialized", "rank", "world_size", "get_rank", "get_world_size", "local_rank",
           "is_main", "barrier", "abort", "get_comm", *_LAZY]

# under an MPI launcher, join the job now: from here on an uncaught exception in this
# rank aborts the whole job instead of leaving the other ranks waiting
if launched():
    init()
