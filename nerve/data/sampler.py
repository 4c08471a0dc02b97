"""Samplers: the order in which a DataLoader visits a dataset's indices (PyTorch semantics).

Randomness comes from the ``generator`` argument (a ``nerve.Generator``) when given,
else from nerve's global generator, so ``nerve.manual_seed(s)`` makes an epoch's order
reproducible. nerve's own samplers also expose ``_index_array()``: the whole epoch's
indices as one int64 array, drawn with exactly the random numbers ``__iter__`` uses, so
the DataLoader can batch without a Python loop over samples.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..tensor import Tensor
from .dataset import _np_rng


class Sampler:
    """Base class: subclasses implement ``__iter__`` (and ``__len__`` when it is known)."""

    def __init__(self, data_source=None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


def _fast_indices(sampler):
    """``sampler._index_array`` when the sampler's ``__iter__`` is the one that matches it."""
    for klass in type(sampler).__mro__:
        if "_index_array" in klass.__dict__:
            if type(sampler).__iter__ is klass.__dict__.get("__iter__"):
                return sampler._index_array
            return None
    return None


def _positive_int(name: str, value) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer value, but got {name}={value}")


def _boolean(name: str, value, error: type = ValueError) -> None:
    if not isinstance(value, bool):
        raise error(f"{name} should be a boolean value, but got {name}={value}")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order."""

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def _index_array(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order: a fresh permutation each epoch, or ``num_samples`` draws with
    replacement. ``num_samples`` larger than the dataset (without replacement) chains
    several permutations, the last one cut short."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        _boolean("replacement", replacement, TypeError)  # TypeError here, as in PyTorch
        _positive_int("num_samples", self.num_samples)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _index_array(self) -> np.ndarray:
        n, k = len(self.data_source), int(self.num_samples)
        rng = _np_rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=k, dtype=np.int64)
        full, rest = divmod(k, n)
        parts = [rng.permutation(n) for _ in range(full)]
        if rest:
            parts.append(rng.permutation(n)[:rest])
        return np.concatenate(parts).astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a fresh random order each epoch."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def _perm(self) -> np.ndarray:
        return _np_rng(self.generator).permutation(len(self.indices))

    def _index_array(self) -> np.ndarray:
        idx = self.indices.data if isinstance(self.indices, Tensor) else self.indices
        return np.asarray(idx, dtype=np.int64).reshape(-1)[self._perm()]

    def __iter__(self) -> Iterator:
        return (self.indices[i] for i in self._perm().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability ``weights[i] / sum(weights)``."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        _positive_int("num_samples", num_samples)
        _boolean("replacement", replacement)
        w = weights.numpy() if isinstance(weights, Tensor) else weights
        w = np.asarray(w, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("WeightedRandomSampler: weights must be finite, non-negative and "
                             "not all zero")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without "
                             f"replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights = Tensor._wrap(w)
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _index_array(self) -> np.ndarray:
        w = self.weights.data
        return _np_rng(self.generator).choice(len(w), size=self.num_samples,
                                              replace=self.replacement,
                                              p=w / w.sum()).astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index_array().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group another sampler's indices into lists of ``batch_size``; the last, shorter
    list is kept unless ``drop_last``."""

    def __init__(self, sampler, batch_size: int, drop_last: bool) -> None:
        _positive_int("batch_size", batch_size)
        _boolean("drop_last", drop_last)
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list]:
        batch, bs = [], self.batch_size
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == bs:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def _index_batches(self) -> Iterator[np.ndarray]:
        """The same batches as ``__iter__``, as int64 arrays (sliced from one array when the
        sampler can draw the whole epoch at once)."""
        draw = _fast_indices(self.sampler)
        if draw is None:
            for b in self:
                yield np.asarray(b, dtype=np.int64).reshape(-1)
            return
        idx = draw()
        bs = self.batch_size
        stop = len(idx) - len(idx) % bs if self.drop_last else len(idx)
        for start in range(0, stop, bs):
            yield idx[start:start + bs]

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]
