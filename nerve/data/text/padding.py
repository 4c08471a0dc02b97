"""Padding and truncation of variable-length sequences.

:func:`pad_sequences` is Keras's ``keras.utils.pad_sequences`` (same arguments, same
defaults, same result): every sequence is cut to ``maxlen`` -- dropping from the start
(``truncating="pre"``) or the end (``"post"``) -- and filled up with ``value`` before
(``padding="pre"``) or after (``"post"``) it. The default dtype is int32, as in Keras.
The common case (flat numeric sequences) is done with a few vectorised NumPy passes
instead of a loop over sequences.

:class:`PadCollate` is a DataLoader ``collate_fn`` for ``(sequence, label)`` samples: it
pads each batch to its own longest sequence (post-padding) and returns
``(padded LongTensor (B, T), lengths LongTensor (B,), labels Tensor (B,))``.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ...tensor import Tensor

__all__ = ["pad_sequences", "PadCollate", "pad_collate"]

W = Tensor._wrap


def pad_sequences(sequences: Sequence, maxlen: int | None = None, dtype="int32",
                  padding: str = "pre", truncating: str = "pre", value=0.0) -> np.ndarray:
    """Pad/truncate a list of sequences into a ``(len(sequences), maxlen)`` array.

    Args:
        sequences: a list of sequences (lists, tuples or NumPy arrays; items may be
            vectors, giving a ``(n, maxlen, ...)`` result).
        maxlen: the output length; ``None``: the longest sequence's length.
        dtype: the output dtype (Keras's default: int32).
        padding: ``"pre"`` (fill before the sequence, Keras's default) or ``"post"``.
        truncating: ``"pre"`` (drop the beginning of long sequences) or ``"post"``.
        value: the fill value.

    >>> pad_sequences([[1, 2, 3], [4, 5], [6]], maxlen=2)
    array([[2, 3],
           [4, 5],
           [0, 6]], dtype=int32)
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'pad_sequences: padding type "{padding}" not understood; expected '
                         '"pre" or "post"')
    if truncating not in ("pre", "post"):
        raise ValueError(f'pad_sequences: truncating type "{truncating}" not understood; '
                         'expected "pre" or "post"')
    if not hasattr(sequences, "__len__"):
        sequences = list(sequences)
    n = len(sequences)
    lengths = np.empty(n, dtype=np.int64)
    sample_shape = ()
    flag = True
    for i, x in enumerate(sequences):
        try:
            lengths[i] = len(x)
        except TypeError:
            raise ValueError(f"pad_sequences: `sequences` must be a list of iterables; item "
                             f"{i} is not: {x!r}") from None
        if flag and lengths[i]:
            first = x[0]
            if isinstance(first, (np.ndarray, list, tuple)) or isinstance(x, np.ndarray) \
                    and x.ndim > 1:
                sample_shape = np.asarray(x).shape[1:]
            flag = False
    if maxlen is None:
        maxlen = int(lengths.max()) if n else 0
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"pad_sequences: maxlen must be a non-negative int or None, got "
                         f"{maxlen!r}")
    maxlen = int(maxlen)
    dt = np.dtype(dtype)
    if isinstance(value, str) and dt.kind not in "OUS":
        raise ValueError(f"pad_sequences: `dtype` {dt} is not compatible with `value`'s type "
                         f"{type(value).__name__}; use dtype=object for variable-length "
                         "strings")
    x = np.full((n, maxlen) + tuple(sample_shape), value, dtype=dt)
    if n == 0 or maxlen == 0:
        return x
    if not sample_shape and dt.kind in "biuf" and _pad_flat(sequences, lengths, x, maxlen,
                                                            padding, truncating):
        return x
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dt)
        if trunc.shape[1:] != tuple(sample_shape):
            raise ValueError(f"pad_sequences: shape of sample {trunc.shape[1:]} of sequence "
                             f"at position {idx} is different from expected shape "
                             f"{tuple(sample_shape)}")
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x


def _pad_flat(sequences, lengths, x, maxlen, padding, truncating) -> bool:
    """Vectorised padding of flat numeric sequences into ``x``; False if not applicable."""
    total = int(lengths.sum())
    try:
        if all(isinstance(s, np.ndarray) and s.ndim == 1 for s in sequences):
            flat = np.concatenate(sequences) if total else np.zeros(0, x.dtype)
            if flat.dtype.kind not in "biuf":
                return False
        else:
            flat = np.fromiter(itertools.chain.from_iterable(sequences), dtype=np.float64
                               if x.dtype.kind == "f" else np.int64, count=total)
    except (TypeError, ValueError, OverflowError):
        return False
    n = len(sequences)
    keep = np.minimum(lengths, maxlen)
    start = lengths - keep if truncating == "pre" else np.zeros(n, dtype=np.int64)
    col0 = maxlen - keep if padding == "pre" else np.zeros(n, dtype=np.int64)
    offsets = np.cumsum(lengths) - lengths
    row = np.repeat(np.arange(n), lengths)
    pos = np.arange(total) - np.repeat(offsets, lengths)
    lo = np.repeat(start, lengths)
    mask = (pos >= lo) & (pos < lo + np.repeat(keep, lengths))
    cols = (np.repeat(col0, lengths) - lo + pos)[mask]
    x[row[mask], cols] = flat[mask]
    return True


def _as_array(seq) -> np.ndarray:
    if isinstance(seq, Tensor):
        return seq.data
    return np.asarray(seq)


class PadCollate:
    """``collate_fn`` padding variable-length sequences to the longest of the batch.

    A sample is ``(sequence, label)`` (or ``(sequence, label, ...)``, the extras are
    collated into arrays too) or a bare sequence; a sequence is a list, NumPy array or
    Tensor of token ids.

    Returns ``(padded, lengths, labels)`` -- or ``(padded, lengths)`` for bare
    sequences -- where ``padded`` is an int64 Tensor (B, T) (``(T, B)`` when
    ``batch_first=False``), ``lengths`` the int64 Tensor of true lengths and ``labels``
    an int64 Tensor for integer labels, float32 for real-valued ones.

    Args:
        pad_value: the padding id (the vocab's ``"<pad>"`` index).
        batch_first: (B, T) when True, (T, B) when False.
        max_len: truncate longer sequences (keeping the start, ``truncating="post"``,
            or the end, ``"pre"``).
        sort_by_length: order the batch by decreasing length (what
            ``pack_padded_sequence(enforce_sorted=True)`` wants).
    """

    def __init__(self, pad_value: int = 0, batch_first: bool = True, max_len: int | None = None,
                 truncating: str = "post", sort_by_length: bool = False) -> None:
        if truncating not in ("pre", "post"):
            raise ValueError(f"PadCollate: truncating must be 'pre' or 'post', got "
                             f"{truncating!r}")
        if max_len is not None and max_len < 1:
            raise ValueError(f"PadCollate: max_len must be >= 1, got {max_len}")
        self.pad_value = pad_value
        self.batch_first = batch_first
        self.max_len = max_len
        self.truncating = truncating
        self.sort_by_length = sort_by_length

    def __call__(self, batch):
        if not batch:
            raise ValueError("PadCollate: empty batch")
        bare = not isinstance(batch[0], (tuple, list)) or (
            len(batch[0]) > 0 and not isinstance(batch[0][0], (list, tuple, np.ndarray, Tensor)))
        seqs = [_as_array(b if bare else b[0]) for b in batch]
        for i, s in enumerate(seqs):
            if s.ndim != 1:
                raise ValueError(f"PadCollate: sample {i}'s sequence must be 1-D token ids, "
                                 f"got shape {s.shape}")
        if self.max_len is not None:
            m = self.max_len
            seqs = [s[:m] if self.truncating == "post" else s[-m:] for s in seqs]
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        order = None
        if self.sort_by_length:
            order = np.argsort(-lengths, kind="stable")
            seqs = [seqs[i] for i in order]
            lengths = lengths[order]
            batch = [batch[i] for i in order]
        t = int(lengths.max())
        out = np.full((len(seqs), t), self.pad_value, dtype=np.int64)
        for i, s in enumerate(seqs):
            out[i, :len(s)] = s
        if not self.batch_first:
            out = np.ascontiguousarray(out.T)
        result = [W(out), W(lengths)]
        if not bare:
            for k in range(1, len(batch[0])):
                result.append(_collate_labels([b[k] for b in batch]))
        return tuple(result)

    def __repr__(self) -> str:
        return (f"PadCollate(pad_value={self.pad_value}, batch_first={self.batch_first}, "
                f"max_len={self.max_len}, sort_by_length={self.sort_by_length})")


def _collate_labels(labels) -> Tensor:
    if isinstance(labels[0], Tensor):
        return W(np.stack([t.data for t in labels]))
    a = np.asarray(labels)
    if a.dtype.kind == "f":
        a = a.astype(np.float32, copy=False)
    elif a.dtype.kind in "iub":
        a = a.astype(np.int64, copy=False) if a.dtype.kind != "b" else a
    else:
        raise TypeError(f"PadCollate: labels must be numbers or tensors, got {a.dtype} "
                        f"({labels[:3]!r})")
    return W(a)


pad_collate = PadCollate()
"""A :class:`PadCollate` with the defaults (pad id 0, batch first)."""
