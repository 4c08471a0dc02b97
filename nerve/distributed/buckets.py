"""Bucketed collectives: many arrays moved with a few large MPI calls.

A model has tens to hundreds of parameter arrays, many of them small (biases, norms).
One ``Allreduce`` per array would pay the network latency α that many times; instead
the arrays are packed into flat buckets of at most ``cap_bytes`` (25 MiB by default, as
in PyTorch's DDP) per dtype, each bucket is reduced with one call, and the results are
handed back as views into the bucket (no copy on the way out). Large messages also run
at the network's full bandwidth, where small ones do not.

Per-array presence flags ride in the same bucket: an array that is ``None`` on this
rank (a parameter that got no gradient) is sent as zeros with flag 0, and comes back as
``None`` only if it was ``None`` on every rank — so unused parameters keep PyTorch's
"no gradient, no update" behaviour and all ranks still make identical calls.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .._backend import xp_of
from .env import get_comm, world_size

__all__ = ["Bucketer", "DEFAULT_CAP_BYTES"]

DEFAULT_CAP_BYTES = 25 * 2**20


def _to_host(a):
    return a if xp_of(a) is np else a.get()


class _Bucket:
    __slots__ = ("dtype", "slots", "size")

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.slots: list[tuple[int, int, int, tuple]] = []  # (index, offset, size, shape)
        self.size = 0


class Bucketer:
    """Packs a list of arrays (fixed shapes and dtypes) into flat buckets.

    Args:
        cap_bytes: the largest bucket; an array bigger than that gets a bucket of its own.

    ``comm_seconds`` and ``calls`` accumulate the time spent inside MPI calls and their
    number (for benchmarks); ``reset_stats()`` clears them.
    """

    def __init__(self, cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        if cap_bytes <= 0:
            raise ValueError(f"Bucketer: cap_bytes must be positive, got {cap_bytes}")
        self.cap_bytes = int(cap_bytes)
        self._key = None
        self._buckets: list[_Bucket] = []
        self.comm_seconds = 0.0
        self.calls = 0

    def reset_stats(self) -> None:
        self.comm_seconds = 0.0
        self.calls = 0

    def _plan(self, metas: list[tuple[tuple, np.dtype]]) -> list[_Bucket]:
        key = tuple((tuple(s), np.dtype(d).str) for s, d in metas)
        if key == self._key:
            return self._buckets
        open_by_dtype: dict[np.dtype, _Bucket] = {}
        buckets: list[_Bucket] = []
        for i, (shape, dt) in enumerate(metas):
            dt = np.dtype(dt)
            n = math.prod(shape)
            b = open_by_dtype.get(dt)
            if b is None or (b.size > 0 and (b.size + n) * dt.itemsize > self.cap_bytes):
                b = open_by_dtype[dt] = _Bucket(dt)
                buckets.append(b)
            b.slots.append((i, b.size, n, tuple(shape)))
            b.size += n
        self._key, self._buckets = key, buckets
        return buckets

    @property
    def num_buckets(self) -> int:
        return len(self._buckets)

    def all_reduce_mean(self, arrays: list, metas: list[tuple[tuple, np.dtype]]) -> list:
        """The elementwise mean over ranks of each array (None = absent on this rank).

        Returns a new list: views into fresh buckets (the input arrays are only read),
        or None where the array was absent on every rank. Floating-point dtypes only.
        """
        n = world_size()
        if n == 1:
            return list(arrays)
        comm = get_comm()
        from mpi4py import MPI

        out: list = [None] * len(arrays)
        for b in self._plan(metas):
            if b.dtype.kind not in "fc":
                raise TypeError(f"all_reduce_mean: floating-point arrays only, got {b.dtype}")
            k = len(b.slots)
            buf = np.empty(b.size + k, dtype=b.dtype)
            flags = buf[b.size:]
            for j, (i, off, size, _shape) in enumerate(b.slots):
                a = arrays[i]
                if a is None:
                    buf[off:off + size] = 0
                    flags[j] = 0
                else:
                    np.copyto(buf[off:off + size], _to_host(a).reshape(-1), casting="same_kind")
                    flags[j] = 1
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            self.comm_seconds += time.perf_counter() - t0
            self.calls += 1
            np.divide(buf[:b.size], n, out=buf[:b.size])
            for j, (i, off, size, shape) in enumerate(b.slots):
                if flags[j] > 0:
                    res = buf[off:off + size].reshape(shape)
                    a = arrays[i]
                    if a is not None and xp_of(a) is not np:
                        res = xp_of(a).asarray(res)
                    out[i] = res
        return out

    def broadcast(self, arrays: list, src: int = 0) -> None:
        """Overwrite every array in place with rank ``src``'s values (any dtype)."""
        if world_size() == 1:
            return
        comm = get_comm()
        metas = [(tuple(a.shape), a.dtype) for a in arrays]
        for b in self._plan(metas):
            dt = np.dtype(np.uint8) if b.dtype == np.bool_ else b.dtype
            buf = np.empty(b.size, dtype=dt)
            for i, off, size, _shape in b.slots:
                buf[off:off + size] = _to_host(arrays[i]).reshape(-1).view(dt) \
                    if b.dtype == np.bool_ else _to_host(arrays[i]).reshape(-1)
            t0 = time.perf_counter()
            comm.Bcast(buf, root=src)
            self.comm_seconds += time.perf_counter() - t0
            self.calls += 1
            for i, off, size, shape in b.slots:
                a = arrays[i]
                part = buf[off:off + size].reshape(shape)
                if b.dtype == np.bool_:
                    part = part.view(np.bool_)
                if xp_of(a) is np:
                    np.copyto(a, part)
                else:
                    a[...] = xp_of(a).asarray(part)
