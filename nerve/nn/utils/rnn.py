"""Variable-length sequences for the recurrent layers (``torch.nn.utils.rnn``).

A batch of sequences of different lengths is either *padded* — one (T, B, *) tensor,
shorter sequences filled after their end — or *packed*: a :class:`PackedSequence` whose
``data`` holds, time step after time step, the entries of the sequences still running
(longest first), with ``batch_sizes[t]`` of them at step t. Recurrent layers given a
PackedSequence skip the padding: the outputs at valid steps and the final states are
those of each sequence run alone.

    padded = pad_sequence([a, b, c], batch_first=True)        # (3, T_max, *)
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    out, (h, c) = lstm(packed)
    out, lengths = pad_packed_sequence(out, batch_first=True)
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ... import _backend as B
from ...autograd import Function
from ...ops.shape import pad as _pad
from ...ops.shape import stack
from ...tensor import Tensor

W = Tensor._wrap

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "pack_sequence", "unpad_sequence", "unpack_sequence", "invert_permutation"]


class _Rows(Function):
    """out = x.reshape(n, *rest)[idx]: pick rows (distinct indices, so backward is a put)."""

    @staticmethod
    def forward(ctx, x, idx, lead):
        xd = x.data
        ctx.idx, ctx.shape, ctx.lead = idx, xd.shape, lead
        return xd.reshape((-1,) + xd.shape[lead:])[idx]

    @staticmethod
    def backward(ctx, g):
        shape, lead = ctx.shape, ctx.lead
        out = B.xp_of(g.data).zeros((int(np.prod(shape[:lead])),) + shape[lead:], g.data.dtype)
        out[ctx.idx] = g.data
        return W(out.reshape(shape)), None, None


class _PutRows(Function):
    """out = zeros(n, *rest) with out[idx] = x (distinct indices); backward gathers."""

    @staticmethod
    def forward(ctx, x, idx, n):
        xd = x.data
        out = B.xp_of(xd).zeros((n,) + xd.shape[1:], xd.dtype)
        out[idx] = xd
        ctx.idx = idx
        return out

    @staticmethod
    def backward(ctx, g):
        return W(g.data[ctx.idx]), None, None


def _rows(x: Tensor, idx, lead: int) -> Tensor:
    if not x.requires_grad:
        return W(x.data.reshape((-1,) + x.data.shape[lead:])[idx])
    return _Rows.apply(x, idx, lead)


def _put_rows(x: Tensor, idx, n: int) -> Tensor:
    if not x.requires_grad:
        out = B.xp_of(x.data).zeros((n,) + x.data.shape[1:], x.data.dtype)
        out[idx] = x.data
        return W(out)
    return _PutRows.apply(x, idx, n)


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    if permutation is None:
        return None
    p = permutation.data if isinstance(permutation, Tensor) else np.asarray(permutation)
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size, dtype=p.dtype)
    return W(inv)


class PackedSequence(NamedTuple):
    """Packed variable-length batch: ``data`` (Σ lengths, *), ``batch_sizes`` (T,) int64,
    and the permutation that sorted the batch by decreasing length (``sorted_indices``)
    with its inverse (``unsorted_indices``), or None when the batch came sorted."""

    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None

    def _lengths_sorted(self) -> np.ndarray:
        """Lengths of the sequences in sorted (decreasing) order."""
        bs = self.batch_sizes.data
        return (bs[None, :] > np.arange(int(bs[0]) if bs.size else 0)[:, None]).sum(1)

    def _index(self, batch_first: bool, T: int) -> np.ndarray:
        """Flat row, in a (T, B) (or (B, T)) padded layout of the ORIGINAL batch order,
        of every packed row."""
        bs = self.batch_sizes.data
        Bn = int(bs[0]) if bs.size else 0
        t = np.repeat(np.arange(bs.size), bs)
        j = np.concatenate([np.arange(b) for b in bs]) if bs.size else np.zeros(0, np.int64)
        b = j if self.sorted_indices is None else self.sorted_indices.data[j]
        return b * T + t if batch_first else t * Bn + b

    def to(self, *args, **kwargs) -> PackedSequence:
        return self._replace(data=self.data.to(*args, **kwargs))

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    def cpu(self) -> PackedSequence:
        return self

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda


def _as_lengths(lengths) -> np.ndarray:
    if isinstance(lengths, Tensor):
        lengths = lengths.data
    lens = np.asarray(lengths)
    if lens.dtype.kind not in "iu":
        if lens.dtype.kind == "f" and np.all(lens == np.round(lens)):
            lens = lens.astype(np.int64)
        else:
            raise TypeError(f"lengths must be integers, got dtype {lens.dtype}")
    return lens.astype(np.int64).reshape(-1)


def pack_padded_sequence(input: Tensor, lengths, batch_first: bool = False,  # noqa: A002
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch (T, B, *) (or (B, T, *) with ``batch_first``) of sequences.

    ``lengths`` (one per sequence) must be decreasing when ``enforce_sorted`` (the
    default, as in PyTorch); otherwise the batch is sorted here and the permutation kept
    so that results come back in the original order.
    """
    if input.ndim < 2:
        raise ValueError(f"pack_padded_sequence: input must have at least 2 dims (T, B, *), got "
                         f"shape {tuple(input.shape)}")
    lens = _as_lengths(lengths)
    Bn, T = (input.shape[0], input.shape[1]) if batch_first else (input.shape[1], input.shape[0])
    if lens.size != Bn:
        raise ValueError(f"pack_padded_sequence: got {lens.size} lengths for a batch of {Bn} "
                         f"sequences (input shape {tuple(input.shape)}, batch_first={batch_first})")
    if Bn and (lens.min() <= 0 or lens.max() > T):
        raise ValueError(f"pack_padded_sequence: lengths must be in [1, {T}] (the padded length), "
                         f"got min {int(lens.min())}, max {int(lens.max())}")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("pack_padded_sequence: `lengths` array must be sorted in decreasing "
                               "order when `enforce_sorted` is True. You can pass "
                               "`enforce_sorted=False` to pack_padded_sequence and/or "
                               "pack_sequence to sidestep this requirement if you do not need "
                               "ONNX exportability.")
        sorted_indices = None
        slens = lens
    else:
        order = np.argsort(-lens, kind="stable")
        sorted_indices = W(order.astype(np.int64))
        slens = lens[order]
    bs = (slens[None, :] > np.arange(int(slens[0]))[:, None]).sum(1).astype(np.int64)
    packed = PackedSequence(W(np.zeros(0)), W(bs), sorted_indices,
                            invert_permutation(sorted_indices))
    idx = packed._index(batch_first, T)
    return packed._replace(data=_rows(input, idx, 2))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Inverse of :func:`pack_padded_sequence`: (padded batch, lengths in original order)."""
    bs = sequence.batch_sizes.data
    T = int(bs.size)
    if total_length is not None:
        if total_length < T:
            raise ValueError(f"pad_packed_sequence: total_length={total_length} is shorter than "
                             f"the longest sequence ({T})")
        T = int(total_length)
    Bn = int(bs[0]) if bs.size else 0
    idx = sequence._index(batch_first, T)
    data = sequence.data
    rest = tuple(data.shape[1:])
    out = _put_rows(data, idx, T * Bn)
    if padding_value != 0:
        fill = np.full((T * Bn,) + (1,) * len(rest), padding_value, dtype=data.data.dtype)
        fill[idx] = 0
        out = out + W(fill)
    out = out.reshape(((Bn, T) if batch_first else (T, Bn)) + rest)
    lens = sequence._lengths_sorted()
    if sequence.unsorted_indices is not None:
        lens = lens[sequence.unsorted_indices.data]
    return out, W(lens.astype(np.int64))


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stack tensors of shape (L_i, *) into (L_max, B, *) (or (B, L_max, *)), padding."""
    seqs = list(sequences)
    if not seqs:
        raise ValueError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    trail = tuple(seqs[0].shape[1:])
    for i, s in enumerate(seqs):
        if s.ndim < 1 or tuple(s.shape[1:]) != trail:
            raise ValueError(f"pad_sequence: every sequence must have shape (L, "
                             f"{', '.join(map(str, trail))}) like the first; sequence {i} has "
                             f"shape {tuple(s.shape)}")
    L = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        n = L - s.shape[0]
        if n:
            widths = [0, 0] * len(trail) + ([0, n] if padding_side == "right" else [n, 0])
            s = _pad(s, widths, value=padding_value)
        padded.append(s)
    return stack(padded, 0 if batch_first else 1)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of (L_i, *) tensors (decreasing lengths unless ``enforce_sorted=False``)."""
    lens = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lens, enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences: Tensor, lengths, batch_first: bool = False) -> list:
    """Split a padded batch back into a list of (L_i, *) tensors."""
    lens = _as_lengths(lengths)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    return [x[i, :int(n)] for i, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """A PackedSequence as the list of its (L_i, *) tensors, in the original order."""
    padded, lens = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lens, batch_first=True)
