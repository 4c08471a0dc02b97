"""Keep freed memory in the process, so big arrays are reused instead of refaulted.

A training step allocates the same big arrays every time (activations, saved gates,
gradients). By default glibc hands every allocation over 128 KiB-32 MiB straight back to
the kernel when it is freed, and the next step's identical allocation page-faults and has
the kernel zero it again, megabytes at a time. Raising glibc's thresholds keeps that
memory in the heap for reuse (measured: LSTM classifier training step 117 -> 103 ms,
its forward 38 -> 31 ms). The cost is that the process keeps its peak heap instead of
shrinking after it. ``NERVE_KEEP_MEMORY=0`` turns this off; it only applies on glibc.
"""
from __future__ import annotations

import ctypes
import os
import platform

import numpy as np

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20  # glibc's maximum: blocks up to 32 MiB come from the heap
TRIM_THRESHOLD = 1 << 30  # give memory back only when 1 GiB lies free at the heap's top
TOP_PAD = 64 << 20  # grow the heap 64 MiB at a time

# glibc by default moves its mmap threshold up to the largest block freed (<= 32 MiB) and
# trims the heap past twice that: what a long-running process converges to
CONVERGED_DEFAULT = (32 << 20, 64 << 20, 128 << 10)  # (mmap, trim, top pad)

applied = False


def _libc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
        libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
        return libc
    except (OSError, AttributeError):
        return None


def _set(libc, mmap: int, trim: int, pad: int) -> bool:
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap) and libc.mallopt(_M_TRIM_THRESHOLD, trim)
                and libc.mallopt(_M_TOP_PAD, pad))


def keep_freed_memory(force: bool = False) -> bool:
    """Apply the thresholds above (once, unless ``force``); True when they are in force."""
    global applied
    if applied and not force:
        return True
    if os.environ.get("NERVE_KEEP_MEMORY", "1").strip() == "0":
        return False
    libc = _libc()
    applied = libc is not None and _set(libc, MMAP_THRESHOLD, TRIM_THRESHOLD, TOP_PAD)
    return applied


def glibc_defaults() -> bool:
    """Put back the thresholds glibc's defaults converge to and hand free heap memory to
    the kernel. The benchmarks do this before timing PyTorch, which shares the process
    with nerve: measured, PyTorch's LSTM step is 80.2 ms in a process of its own, 82.0 ms
    with these values, 84.2 ms with nerve's and 114.8 ms with glibc's initial 128 KiB (the
    dynamic adjustment can't be switched back on once set)."""
    global applied
    libc = _libc()
    if libc is None:
        return False
    applied = False
    ok = _set(libc, *CONVERGED_DEFAULT)
    libc.malloc_trim(0)
    return ok


CACHE_LINE = 64


def aligned_empty(shape: tuple, dtype) -> np.ndarray:
    """``np.empty(shape, dtype)`` starting on a cache-line (64-byte) boundary.

    NumPy only guarantees 16 bytes. OpenBLAS's small-matrix kernels read their operands
    in place, and a 32-column block of a row whose start sits 16 or 32 bytes into a line
    spans three lines instead of two: the LSTM's per-step GEMM 60 -> 73-75 µs."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape)) * dt.itemsize
    raw = np.empty(n + CACHE_LINE, np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    return raw[start:start + n].view(dt).reshape(shape)


def aligned_copy(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` starting on a cache line (see aligned_empty)."""
    out = aligned_empty(a.shape, a.dtype)
    out[...] = a
    return out
