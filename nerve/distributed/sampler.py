"""DistributedSampler: each rank's disjoint shard of a dataset, reshuffled every epoch.

For an epoch e the whole index list is permuted with a generator seeded by
``seed + e`` — the same permutation on every rank, with no communication — then made
a multiple of the number of replicas R (padded by repeating its first indices, or cut
with ``drop_last``), and rank r takes every R-th index starting at r::

    perm = permutation(len(dataset), seed + epoch)      # identical on all ranks
    perm = pad_or_cut(perm, R)                          # len(perm) = R·num_samples
    shard_r = perm[r::R]                                # disjoint, equal sizes

Call ``set_epoch(epoch)`` at the start of every epoch, or every epoch reuses epoch 0's
order. Equal shard sizes matter: every rank then runs the same number of steps, and
no rank waits forever in a collective the others never reach.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..data.sampler import Sampler
from .env import rank as _rank
from .env import world_size as _world_size

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Restrict data loading to one rank's shard (PyTorch's DistributedSampler).

    Args:
        dataset: a map-style dataset (only ``len(dataset)`` is used).
        num_replicas: number of shards (default: ``world_size()``).
        rank: this shard (default: ``rank()``).
        shuffle: permute the indices (by ``seed + epoch``) before sharding.
        seed: the base seed; must be the same on every rank.
        drop_last: cut the tail so that the shards divide evenly, instead of padding
            with repeated indices.

    Example::

        sampler = DistributedSampler(train_set)
        loader = DataLoader(train_set, batch_size=64, sampler=sampler)
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            for x, y in loader: ...
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None:
            num_replicas = _world_size()
        if rank is None:
            rank = _rank()
        if not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got "
                             f"{num_replicas!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank!r}, rank should be in the "
                             f"interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s permutation (call it at the start of every epoch)."""
        self.epoch = int(epoch)

    def _index_array(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n).astype(np.int64)
        else:
            idx = np.arange(n, dtype=np.int64)
        if self.total_size > n:
            if n == 0:
                raise ValueError("DistributedSampler: the dataset is empty")
            reps = math.ceil((self.total_size - n) / n)
            idx = np.concatenate([idx] + [idx] * reps)[:self.total_size]
        else:
            idx = idx[:self.total_size]
        return idx[self.rank:self.total_size:self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples
