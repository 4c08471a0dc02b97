"""Datasets: map-style (``len`` + ``__getitem__``) and iterable, with PyTorch's semantics.

A map-style dataset answers ``dataset[i]`` for ``0 <= i < len(dataset)``. The
DataLoader asks a sampler for indices and fetches the samples.

Batch fetching (nerve's fast path). A dataset may define ``_fetch_batch(indices)``,
taking a 1-D int64 NumPy array of indices and returning the batch *already collated*
-- exactly what ``default_collate([dataset[i] for i in indices])`` would give -- or
``NotImplemented`` to decline. The DataLoader uses it when ``collate_fn`` is the
default. :class:`TensorDataset` and :class:`Subset` (of such a dataset) implement it
with one fancy index per tensor instead of a Python loop over samples and a stack.
"""
from __future__ import annotations

import bisect
import math
import warnings
from collections.abc import Sequence

import numpy as np

from ..random import Generator, _rng
from ..tensor import Tensor

W = Tensor._wrap


class Dataset:
    """A map-style dataset: subclasses implement ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses implement ``__iter__`` (no indexing)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __add__(self, other):
        raise TypeError("IterableDataset does not support '+' (ConcatDataset needs map-style "
                        "datasets)")


class TensorDataset(Dataset):
    """Samples are rows of equally long tensors: ``dataset[i] = (t0[i], t1[i], ...)``.

    NumPy arrays are accepted and wrapped without a copy (an extension over PyTorch).
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        ts = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = W(t)
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} must be a Tensor, got "
                                f"{type(t).__name__}")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: tensor {i} is 0-d; every tensor needs a first "
                                 "(sample) dimension")
            ts.append(t)
        n = ts[0].shape[0]
        bad = [(i, tuple(t.shape)) for i, t in enumerate(ts) if t.shape[0] != n]
        if bad:
            shapes = ", ".join(f"tensor {i}: {tuple(t.shape)}" for i, t in enumerate(ts))
            raise ValueError(f"TensorDataset: size mismatch between tensors: all must have the "
                             f"same first dimension ({n} samples in tensor 0), got {shapes}")
        self.tensors = tuple(ts)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _fetch_batch(self, indices: np.ndarray):
        if type(self).__getitem__ is not TensorDataset.__getitem__:
            return NotImplemented  # a subclass changed what a sample is
        n = len(self)
        if indices.size and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"TensorDataset: index out of range for a dataset of {n} samples")
        # one gather per tensor; same result as stacking the samples (a fresh array)
        return [t[indices] if t.requires_grad else W(t.data[_to_xp(t, indices)])
                for t in self.tensors]


def _to_xp(t: Tensor, indices: np.ndarray):
    xp = t.xp
    return indices if xp is np else xp.asarray(indices)


class ConcatDataset(Dataset):
    """Several map-style datasets one after the other."""

    def __init__(self, datasets) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    @staticmethod
    def cumsum(sequence) -> list:
        out, s = [], 0
        for e in sequence:
            s += len(e)
            out.append(s)
        return out

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx = len(self) + idx
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        if d == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {len(self)}")
        sample_idx = idx if d == 0 else idx - self.cumulative_sizes[d - 1]
        return self.datasets[d][sample_idx]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices
        self._index_array = None
        self._index_key = None

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list) -> list:
        inner = getattr(self.dataset, "__getitems__", None)
        if callable(inner):
            return inner([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    def _fetch_batch(self, indices: np.ndarray):
        inner = getattr(self.dataset, "_fetch_batch", None)
        if inner is None or type(self).__getitem__ is not Subset.__getitem__:
            return NotImplemented
        key = (id(self.indices), len(self.indices))
        if self._index_key != key:  # converted once, not per batch
            arr = self.indices.data if isinstance(self.indices, Tensor) else self.indices
            self._index_array = np.asarray(arr, dtype=np.int64).reshape(-1)
            self._index_key = key
        return inner(self._index_array[indices])


def _np_rng(generator) -> np.random.Generator:
    """The NumPy generator behind ``generator`` (a nerve.Generator, a NumPy one, or None)."""
    if isinstance(generator, np.random.Generator):
        return generator
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"generator must be a nerve.Generator, got {type(generator).__name__}")
    return _rng(generator)


def random_split(dataset: Dataset, lengths: Sequence, generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    ``lengths`` are sample counts summing to ``len(dataset)``, or fractions summing to 1;
    then each split gets ``floor(n * frac)`` samples and the remainder is dealt out one
    by one, round-robin from the first split (PyTorch's rule).
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, length in enumerate(sizes):
            if length == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=2)
        lengths = sizes
    if any(int(x) != x or x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions "
                         f"summing to 1, got {lengths}")
    lengths = [int(x) for x in lengths]
    if sum(lengths) != n:
        raise ValueError(f"Sum of input lengths does not equal the length of the input dataset! "
                         f"(lengths sum to {sum(lengths)}, dataset has {n} samples)")
    perm = _np_rng(generator).permutation(n).tolist()
    out, offset = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[offset:offset + length]))
        offset += length
    return out


__all__ = ["Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset",
           "random_split"]
