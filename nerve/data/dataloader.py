"""DataLoader: iterate a dataset in (shuffled) batches, with PyTorch's arguments and rules.

Loading runs in the calling process: ``num_workers > 0`` is accepted and loads the same
batches sequentially (``worker_init_fn``, ``pin_memory``, ``persistent_workers``,
``prefetch_factor``, ``timeout`` and ``multiprocessing_context`` are validated like
PyTorch's and otherwise ignored). ``shuffle=True`` draws each epoch's order from
``generator`` (a ``nerve.Generator``) or, without one, from nerve's global generator,
so ``nerve.manual_seed(s)`` or ``generator=nerve.Generator().manual_seed(s)`` makes runs
reproducible.

Fast path: with the default ``collate_fn`` and a dataset that can fetch whole batches
(``TensorDataset``, ``Subset`` of one, or any dataset with ``_fetch_batch``, see
``nerve.data.dataset``), each batch is one fancy index per tensor with the batch's
index array -- no per-sample indexing and stacking.
"""
from __future__ import annotations

import itertools
import os

import numpy as np

from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
           "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """The sampler of an IterableDataset: the dataset's own iterator gives the order."""

    def __iter__(self):
        while True:
            yield None


def get_worker_info():
    """Always None: nerve loads in the main process (what PyTorch returns there too)."""
    return None


class DataLoader:
    """Combine a dataset and a sampler into an iterable over batches.

    Args:
        dataset: map-style (``__getitem__`` + ``__len__``) or an ``IterableDataset``.
        batch_size: samples per batch; ``None`` turns batching off (each sample is only
            converted by ``default_convert``).
        shuffle: a new random order every epoch (map-style datasets only).
        sampler: an iterable of indices (exclusive with ``shuffle``).
        batch_sampler: an iterable of index lists (exclusive with batch_size, shuffle,
            sampler, drop_last).
        collate_fn: list of samples -> batch; ``default_collate`` by default.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        generator: the ``nerve.Generator`` that shuffles.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0, collate_fn=None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in multiprocessing."
                             "let num_workers > 0 to enable multiprocessing, otherwise set "
                             "prefetch_factor to None.")
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")

        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            if shuffle not in (False, None):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")

        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and iterable:
            BatchSampler(sampler, batch_size, drop_last)  # validates batch_size and drop_last

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._is_iterable = iterable
        self._initialized = True

    def __setattr__(self, attr, val) -> None:
        if attr in _FROZEN and self.__dict__.get("_initialized"):
            raise ValueError(f"{attr} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (isinstance(self.dataset, IterableDataset)
                                                  and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        if self._is_iterable:
            try:
                n = len(self.dataset)
            except TypeError:
                raise TypeError(f"DataLoader: the IterableDataset {type(self.dataset).__name__} "
                                "has no len(), so neither has the loader") from None
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def __iter__(self) -> _DataLoaderIter:
        return _DataLoaderIter(self)

    # --- batch production -----------------------------------------------------------
    def _fetch(self, indices: list) -> list:
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(indices)
        ds = self.dataset
        return [ds[i] for i in indices]

    def _generate(self):
        if self._is_iterable:
            yield from self._generate_iterable()
            return
        collate, ds = self.collate_fn, self.dataset
        if not self._auto_collation:
            for idx in self.sampler:
                yield collate(ds[idx])
            return
        bs = self.batch_sampler
        fetch_batch = getattr(ds, "_fetch_batch", None) if collate is default_collate else None
        if fetch_batch is None:
            for indices in bs:
                yield collate(self._fetch(indices))
            return
        if isinstance(bs, BatchSampler) and type(bs).__iter__ is BatchSampler.__iter__:
            batches = bs._index_batches()
        else:
            batches = (np.asarray(b, dtype=np.int64).reshape(-1) for b in bs)
        for idx in batches:
            out = fetch_batch(idx) if fetch_batch is not None else NotImplemented
            if out is NotImplemented:  # the dataset declined: fetch sample by sample
                fetch_batch = None
                out = collate(self._fetch(idx.tolist()))
            yield out

    def _generate_iterable(self):
        it, collate = iter(self.dataset), self.collate_fn
        if not self._auto_collation:
            for sample in it:
                yield collate(sample)
            return
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield collate(batch)


SMOKE_BATCHES = 3


class _DataLoaderIter:
    """One pass over a DataLoader (``iter(loader)``); knows its length like PyTorch's."""

    def __init__(self, loader: DataLoader) -> None:
        self._loader = loader
        self._gen = loader._generate()
        self._num_yielded = 0
        self._smoke = os.environ.get("NERVE_SMOKE", "") not in ("", "0")

    def __iter__(self) -> _DataLoaderIter:
        return self

    def __next__(self):
        if self._smoke and self._num_yielded >= SMOKE_BATCHES:
            raise StopIteration  # NERVE_SMOKE=1: a few batches per pass, for smoke runs
        out = next(self._gen)
        self._num_yielded += 1
        return out

    def __len__(self) -> int:
        return len(self._loader)


__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]
