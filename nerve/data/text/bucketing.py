"""Bucketing: batches of similar-length sequences, so little of each batch is padding.

:class:`BucketBatchSampler` (the idea of torchtext's ``BucketIterator``) draws each
epoch as follows:

1. shuffle all indices (``shuffle=True``; else keep them in order);
2. cut them into buckets of ``batch_size * bucket_size_multiplier`` (default 100x)
   consecutive indices -- ``bucket_size_multiplier=None`` makes one bucket of all;
3. sort each bucket by length (stable) and cut it into batches of ``batch_size``;
4. shuffle the order of the batches (``shuffle=True``).

Batches are thus random across epochs, but inside a batch the lengths are close. With
a seeded ``generator`` the epochs are reproducible. Use it as a DataLoader's
``batch_sampler`` with a padding ``collate_fn``::

    sampler = BucketBatchSampler(dataset.lengths, batch_size=64, generator=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollate(pad_id))
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

from ..dataset import _np_rng
from ..sampler import Sampler

__all__ = ["BucketBatchSampler", "padding_fraction"]


class BucketBatchSampler(Sampler):
    """Yields lists of indices, each a batch of sequences of similar length.

    Args:
        lengths: the length of every sample -- a sequence of ints, or a dataset, whose
            ``lengths`` attribute is used, else ``sort_key(dataset[i])`` (default
            ``len(dataset[i][0])``).
        batch_size: samples per batch.
        shuffle: random buckets and batch order each epoch (see the module docstring).
        drop_last: drop the last, smaller batch.
        bucket_size_multiplier: a bucket holds ``batch_size * bucket_size_multiplier``
            samples; ``None``: the whole dataset is one bucket (sorted completely).
        generator: a ``nerve.Generator``, a NumPy Generator or an int seed (the
            sampler then owns a generator seeded with it); ``None`` uses nerve's global
            generator (``nerve.manual_seed``).
        sort_key: ``sample -> length``, when ``lengths`` is a dataset without ``lengths``.
    """

    def __init__(self, lengths, batch_size: int, shuffle: bool = True, drop_last: bool = False,
                 bucket_size_multiplier: int | None = 100, generator=None,
                 sort_key: Callable | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"BucketBatchSampler: batch_size should be a positive integer, "
                             f"got {batch_size!r}")
        if bucket_size_multiplier is not None and bucket_size_multiplier < 1:
            raise ValueError(f"BucketBatchSampler: bucket_size_multiplier must be >= 1 or "
                             f"None, got {bucket_size_multiplier}")
        self.lengths = _lengths_of(lengths, sort_key)
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.bucket_size_multiplier = bucket_size_multiplier
        self.generator = np.random.default_rng(generator) if isinstance(generator, int) \
            and not isinstance(generator, bool) else generator

    def _batches(self) -> list[np.ndarray]:
        n = len(self.lengths)
        rng = _np_rng(self.generator) if self.shuffle else None
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        bucket = n if self.bucket_size_multiplier is None else \
            self.batch_size * self.bucket_size_multiplier
        batches = []
        for s in range(0, n, max(bucket, 1)):
            chunk = order[s:s + bucket]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk),
                                                                      self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle and batches:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for b in self._batches():
            yield b.tolist()

    def __len__(self) -> int:
        n = len(self.lengths)
        if self.bucket_size_multiplier is None:
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        bucket = self.batch_size * self.bucket_size_multiplier
        # every bucket but the last is a whole number of batches
        full, rest = divmod(n, bucket)
        k = full * self.bucket_size_multiplier
        if rest:
            k += rest // self.batch_size if self.drop_last else math.ceil(rest / self.batch_size)
        return k


def _lengths_of(source, sort_key) -> np.ndarray:
    lens = getattr(source, "lengths", None)
    if lens is None and sort_key is None and isinstance(source, (list, tuple, np.ndarray)) \
            and (len(source) == 0 or isinstance(source[0], (int, np.integer))):
        lens = source
    if lens is None:
        key = sort_key if sort_key is not None else (lambda sample: len(sample[0]))
        lens = [key(source[i]) for i in range(len(source))]
    a = np.asarray(lens, dtype=np.int64)
    if a.ndim != 1:
        raise ValueError(f"BucketBatchSampler: lengths must be 1-D, got shape {a.shape}")
    return a


def padding_fraction(lengths, batches) -> float:
    """The fraction of padded positions when each batch is padded to its longest
    sequence: ``1 - sum(lengths) / sum(len(batch) * max length in batch)``."""
    lengths = np.asarray(lengths)
    total = used = 0
    for b in batches:
        lb = lengths[np.asarray(b, dtype=np.int64)]
        if lb.size:
            total += lb.size * int(lb.max())
            used += int(lb.sum())
    return 1.0 - used / total if total else 0.0
