"""Collectives over the ranks of the job: broadcast, all_reduce, all_gather.

Tensors and NumPy arrays travel as raw buffers (mpi4py's upper-case ``Bcast``,
``Allreduce``, ``Allgatherv``: no serialisation, one copy at most); ``broadcast`` and
``all_reduce`` work in place on ``tensor.data`` and return the same tensor, as in
``torch.distributed``. Small Python objects (numbers, dicts and lists of numbers,
strings, tuples ...) use mpi4py's lower-case calls, which pickle them *between the
processes of this job* only (never to or from a file).

Without MPI (a job of one) every collective returns its input unchanged
(``all_gather`` returns ``[x]``).
"""
from __future__ import annotations

import math

import numpy as np

from .._backend import xp_of
from ..tensor import Tensor
from .env import get_comm, rank, world_size

__all__ = ["ReduceOp", "broadcast", "all_reduce", "all_gather"]


class ReduceOp:
    """Reduction names accepted by :func:`all_reduce` (strings work too)."""

    SUM = "sum"
    MEAN = "mean"
    AVG = "mean"
    MAX = "max"
    MIN = "min"
    PRODUCT = "prod"


_OPS = {"sum": "SUM", "mean": "SUM", "avg": "SUM", "max": "MAX", "min": "MIN", "prod": "PROD",
        "product": "PROD"}

# dtypes MPI reduces natively (mpi4py maps them from the buffer format); others are
# reduced in a wider type and cast back
_NATIVE = {np.dtype(t) for t in (np.float32, np.float64, np.int8, np.int16, np.int32, np.int64,
                                 np.uint8, np.uint16, np.uint32, np.uint64, np.complex64,
                                 np.complex128)}


def _check_op(op) -> str:
    key = str(op).lower()
    if key not in _OPS:
        raise ValueError(f"all_reduce: op must be one of 'sum', 'mean', 'max', 'min', 'prod', "
                         f"got {op!r}")
    return "mean" if key == "avg" else key


def _host_contiguous(arr) -> tuple[np.ndarray, bool]:
    """(a writeable C-contiguous host array with ``arr``'s values, whether it is a copy)."""
    if xp_of(arr) is not np:  # CuPy: stage through host memory
        return np.ascontiguousarray(arr.get()), True
    if arr.flags.c_contiguous and arr.flags.writeable:
        return arr, False
    return np.array(arr, order="C", copy=True), True


def _store(x, arr, new: np.ndarray):
    """Write ``new`` into ``arr`` (the array behind ``x``); rebind a Tensor whose array is
    read-only. Returns ``x``."""
    if new is arr:
        return x
    if xp_of(arr) is not np:
        arr[...] = xp_of(arr).asarray(new)
    elif arr.flags.writeable:
        np.copyto(arr, new, casting="unsafe")
    elif isinstance(x, Tensor):
        x.data = new.astype(arr.dtype, copy=False)
    else:
        raise ValueError("nerve.distributed: cannot write the result into a read-only array; "
                         "pass a writeable array or a Tensor")
    return x


def _work_dtype(dtype: np.dtype, op: str) -> np.dtype:
    if dtype in _NATIVE:
        return dtype
    if dtype.kind == "f":
        return np.dtype(np.float32 if dtype.itemsize < 4 else np.float64)
    if dtype.kind == "b":
        return np.dtype(np.int64 if op in ("sum", "mean") else np.uint8)
    raise TypeError(f"nerve.distributed: cannot reduce arrays of dtype {dtype}")


# --- broadcast ----------------------------------------------------------------------------

def broadcast(x, src: int = 0):
    """Rank ``src``'s value on every rank.

    A Tensor or ndarray is overwritten in place with ``src``'s values (it must have the
    same shape and dtype on every rank) and returned; any other object is returned as a
    new object (``x`` is ignored on the other ranks).
    """
    n = world_size()
    if not 0 <= src < n:
        raise ValueError(f"broadcast: src must be a rank in [0, {n}), got {src}")
    if n == 1:
        return x
    comm = get_comm()
    if isinstance(x, (Tensor, np.ndarray)):
        arr = x.data if isinstance(x, Tensor) else x
        meta = comm.bcast((tuple(arr.shape), arr.dtype.str) if rank() == src else None, root=src)
        if meta != (tuple(arr.shape), arr.dtype.str):
            # take part in the transfer anyway, so that the other ranks do not hang
            # and the collectives stay in step, then report
            sink = np.empty(meta[0], dtype=np.dtype(meta[1]))
            comm.Bcast(sink.view(np.uint8) if sink.dtype == np.bool_ else sink, root=src)
            raise ValueError(f"broadcast: rank {rank()} has an array of shape {tuple(arr.shape)} "
                             f"and dtype {arr.dtype}, but rank {src} sends shape {meta[0]} and "
                             f"dtype {np.dtype(meta[1])}")
        buf, _ = _host_contiguous(arr)
        if buf.dtype == np.bool_:
            view = buf.view(np.uint8)
            comm.Bcast(view, root=src)
        else:
            comm.Bcast(buf, root=src)
        return _store(x, arr, buf)
    return comm.bcast(x, root=src)


# --- all_reduce ---------------------------------------------------------------------------

def _reduce_array(arr: np.ndarray, op: str, n: int) -> np.ndarray:
    """Reduce a writeable C-contiguous host array in place (or into a new one); returns it."""
    comm = get_comm()
    work = arr if arr.dtype in _NATIVE else arr.astype(_work_dtype(arr.dtype, op))
    if op == "mean" and work.dtype.kind not in "fc":
        raise TypeError(f"all_reduce: op='mean' needs a floating-point tensor, got dtype "
                        f"{arr.dtype}; use op='sum' and divide")
    MPI = _mpi()
    comm.Allreduce(MPI.IN_PLACE, work, op=getattr(MPI, _OPS[op]))
    if op == "mean":
        np.divide(work, n, out=work)
    return work


def _mpi():
    from mpi4py import MPI

    return MPI


def all_reduce(x, op: str = "sum"):
    """Combine ``x`` over all ranks with ``op`` ('sum', 'mean', 'max', 'min', 'prod').

    A Tensor or ndarray is reduced in place and returned (same shape on every rank).
    A number, or a dict / list / tuple of numbers, is reduced elementwise and returned
    as a new object of the same kind (floats for 'mean').
    """
    op = _check_op(op)
    n = world_size()
    if isinstance(x, (Tensor, np.ndarray)):
        if n == 1:
            return x
        arr = x.data if isinstance(x, Tensor) else x
        buf, _ = _host_contiguous(arr)
        return _store(x, arr, _reduce_array(buf, op, n))
    if isinstance(x, dict):
        keys = list(x)
        vals = all_reduce([x[k] for k in keys], op)
        return dict(zip(keys, vals))
    if isinstance(x, (list, tuple)):
        if n == 1:
            return type(x)(x) if op != "mean" else type(x)(float(v) for v in x)
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"all_reduce: a list/tuple must hold numbers, got {arr.dtype}")
        ints = arr.dtype.kind in "biu" and op != "mean"
        arr = np.ascontiguousarray(arr, dtype=np.int64 if ints else np.float64)
        out = _reduce_array(arr, op, n)
        return type(x)(out.tolist())
    if isinstance(x, (bool, int, float, np.number)):
        (v,) = all_reduce([x], op)
        return v
    raise TypeError(f"all_reduce: expected a Tensor, ndarray, number, or dict/list of numbers, "
                    f"got {type(x).__name__}")


# --- all_gather ---------------------------------------------------------------------------

def all_gather(x) -> list:
    """Every rank's ``x``, as a list indexed by rank.

    Tensors and ndarrays may differ in their first dimension between ranks (e.g. the
    last, shorter batch); their other dimensions and dtype must agree. Any other object
    is gathered as is.
    """
    n = world_size()
    if n == 1:
        return [x]
    comm = get_comm()
    if not isinstance(x, (Tensor, np.ndarray)):
        return comm.allgather(x)
    arr = x.data if isinstance(x, Tensor) else x
    metas = comm.allgather((tuple(arr.shape), arr.dtype.str))
    for r, (shape, dt) in enumerate(metas):
        if dt != arr.dtype.str or len(shape) != arr.ndim or shape[1:] != tuple(arr.shape[1:]):
            raise ValueError(f"all_gather: rank {r} has shape {shape} and dtype {np.dtype(dt)}, "
                             f"rank {rank()} has shape {tuple(arr.shape)} and dtype {arr.dtype}; "
                             f"only the first dimension may differ")
    buf, _ = _host_contiguous(arr)
    if buf.dtype == np.bool_:
        buf = buf.view(np.uint8)
    counts = [math.prod(shape) for shape, _ in metas]
    recv = np.empty(sum(counts), dtype=buf.dtype)
    comm.Allgatherv(buf, [recv, counts])
    out, off = [], 0
    for (shape, _), c in zip(metas, counts):
        part = recv[off:off + c].reshape(shape)
        if arr.dtype == np.bool_:
            part = part.view(np.bool_)
        off += c
        if isinstance(x, Tensor):
            part = Tensor._wrap(xp_of(arr).asarray(part) if xp_of(arr) is not np else part)
        out.append(part)
    return out

