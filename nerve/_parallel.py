"""Split big memory-bound NumPy passes across the machine's cores.

NumPy's ufuncs and copies run on one core (BLAS alone uses them all), but they release
the GIL, so Python threads that each take a block of rows do run side by side. Measured
on a 2-core machine: a ReLU over 4.7 M floats 1.31 ms on one thread, 0.80 ms split in
two; a 4.7 M-float copy 1.25 -> 0.77 ms. PyTorch threads these passes; nerve does it
here, for the few passes big enough to pay for a hand-off to a thread (~85 µs on these
virtual machines, measured: a no-op split; a ReLU over 1 M floats gains only 0.29 -> 0.25
ms, one over 256 K loses 0.06 -> 0.14 ms, and Adam's in-cache passes lose outright).

``split_rows(fn, n, size)`` calls ``fn(lo, hi)`` on about equal row ranges of
``range(n)``, one in the calling thread and the rest in a small persistent pool, and
returns when all are done. Work below ``MIN_ELEMS`` elements, a call made from inside a
worker, or a single-thread setting runs ``fn(0, n)`` directly. ``ufunc`` does that for
one NumPy ufunc call. ``batch_split`` runs whole per-sample computations (a convolution,
attention, an LSTM forward) on blocks of the batch with one BLAS thread each, and
returns their results; see its docstring and ``shorten_blas_spin`` for why OpenBLAS's
idle workers must not spin meanwhile. ``Jobs`` runs work that becomes ready piece by
piece on a helper thread while the caller goes on (the LSTM backward's input and weight
gradients beside its recurrence).

The thread count follows, in order: :func:`set_threads` (``nerve.set_num_threads``),
``NERVE_NUM_THREADS``, ``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` and the CPUs this
process may run on (so ``taskset -c 0`` means one thread).
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

MIN_ELEMS = 1 << 20  # a hand-off costs ~85 µs (waking an idle vCPU): smaller passes don't pay
MIN_FLOPS = 3e7  # batch_split: work under this runs whole (MNIST conv1 forward: 5e7)

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_local = threading.local()
_lock = threading.Lock()


def _default_threads() -> int:
    for var in ("NERVE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        v = os.environ.get(var, "").strip()
        if v.isdigit() and int(v) > 0:
            return int(v)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_threads = _default_threads()


def set_threads(n: int) -> None:
    """Use ``n`` threads (>= 1) for split passes."""
    global _threads
    if int(n) < 1:
        raise ValueError(f"set_threads: need at least 1 thread, got {n}")
    _threads = int(n)


def get_threads() -> int:
    return _threads


def _get_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(workers, thread_name_prefix="nerve-split",
                                       initializer=_mark_worker)
            _pool_size = workers
        return _pool


def _mark_worker() -> None:
    _local.worker = True


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: drop the pools (and a lock a
    parent thread may have held), so the child's first split starts fresh ones instead
    of queueing work for threads that do not exist."""
    global _pool, _pool_size, _helper_pool, _lock
    _pool, _pool_size, _helper_pool = None, 0, None
    _lock = threading.Lock()
    _local.worker = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def split_rows(fn: Callable[[int, int], object], n: int, size: int) -> None:
    """Run ``fn(lo, hi)`` over row blocks of ``range(n)`` in parallel; ``size`` is the
    number of elements the whole call touches (decides whether splitting pays)."""
    parts = min(_threads, n)
    if parts < 2 or size < MIN_ELEMS or getattr(_local, "worker", False):
        fn(0, n)
        return
    pool = _get_pool(parts - 1)
    bounds = [n * i // parts for i in range(parts + 1)]
    futs = [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, parts)]
    try:
        fn(bounds[0], bounds[1])
    finally:
        for f in futs:
            f.result()


# --- BLAS thread control (NumPy's bundled OpenBLAS, through its exported C API) ----------

_blas_api: tuple | None = None


def _blas() -> tuple:
    """(set_num_threads, get_num_threads, library) of the OpenBLAS NumPy loaded, or Nones."""
    global _blas_api
    if _blas_api is None:
        _blas_api = (None, None, None)
        libdir = os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs")
        names = [("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                 ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
                 ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
                 ("openblas_set_num_threads", "openblas_get_num_threads")]
        for path in sorted(glob.glob(os.path.join(libdir, "*openblas*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for set_name, get_name in names:
                if hasattr(lib, set_name) and hasattr(lib, get_name):
                    setter, getter = getattr(lib, set_name), getattr(lib, get_name)
                    setter.argtypes, setter.restype = [ctypes.c_int], None
                    getter.argtypes, getter.restype = [], ctypes.c_int
                    _blas_api = (setter, getter, lib)
                    return _blas_api
    return _blas_api


SPIN_TIMEOUT_LOG2 = 22  # OpenBLAS workers spin 2^22 cycles (~1.5 ms) before sleeping
_spin_done = False


def shorten_blas_spin() -> bool:
    """Make OpenBLAS's idle workers sleep after ~1.5 ms instead of ~0.1 s.

    After each multi-threaded call OpenBLAS's workers spin for 2^28 cycles waiting for
    more work. A spinning worker holds a core, so whatever nerve runs next on its own
    threads gets half a core there (measured: a split conv forward 18.8 ms alone, 39.1
    ms right after a 2-thread GEMM). OpenBLAS reads ``OPENBLAS_THREAD_TIMEOUT`` when it
    starts its threads; nerve sets it (unless the user did), re-reads the environment
    and lets OpenBLAS restart its threads on the next call. Done once, before nerve's
    first split. Returns whether OpenBLAS's timeout is now short.
    """
    global _spin_done
    if _spin_done:
        return True
    _spin_done = True
    lib = _blas()[2]
    if lib is None or not hasattr(lib, "openblas_read_env") or \
            not hasattr(lib, "blas_thread_shutdown_"):
        return False
    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = str(SPIN_TIMEOUT_LOG2)
    lib.openblas_read_env()
    lib.blas_thread_shutdown_()  # restarted lazily, with the new timeout
    return True


def blas_threads() -> int | None:
    """OpenBLAS's thread count, or None when nerve can't reach the BLAS library."""
    getter = _blas()[1]
    return int(getter()) if getter is not None else None


def set_blas_threads(n: int) -> bool:
    """Set OpenBLAS's thread count; False when the BLAS library can't be reached."""
    setter = _blas()[0]
    if setter is None:
        return False
    setter(int(n))
    return True


_core: list = []  # [name or None], filled on first use


def blas_core() -> str | None:
    """The CPU kernel family NumPy's OpenBLAS picked (``"skylakex"``, ``"haswell"``, ...,
    lower-case), or None when nerve can't reach the BLAS library."""
    if not _core:
        lib, name = _blas()[2], None
        for fn in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                   "openblas_get_corename64_", "openblas_get_corename"):
            f = getattr(lib, fn, None) if lib is not None else None
            if f is not None:
                f.argtypes, f.restype = [], ctypes.c_char_p
                raw = f()
                name = raw.decode("ascii", "replace").strip().lower() if raw else None
                break
        _core.append(name)
    return _core[0]


@contextlib.contextmanager
def _blas_single() -> Iterator[None]:
    """One BLAS thread per call inside the block (each of our threads runs its own GEMMs)."""
    before = blas_threads()
    if before is None or before == 1:
        yield
        return
    set_blas_threads(1)
    try:
        yield
    finally:
        set_blas_threads(before)


def batch_split(fn: Callable[[int, int], object], n: int, work: float) -> list | None:
    """Run ``fn(lo, hi)`` on row blocks of a batch of ``n`` in parallel threads, each with
    one BLAS thread, and return the results in row order; None (nothing run) when it
    doesn't pay: fewer than 2 threads or rows, ``work`` (FLOPs) under ``MIN_FLOPS``, a
    call from inside a worker, or no control over the BLAS threads.

    Convolutions use it: each thread runs im2col, GEMM and the passes around it on its
    own images, so the copies and elementwise passes run on all cores, not just the GEMM
    (measured, MNIST conv2 at B=128 on 2 cores: forward 27.0 -> 19.4 ms, weight gradient
    26.4 -> 17.1 ms, input gradient 25.4 -> 19.3 ms).
    """
    parts = min(_threads, n)
    if parts < 2 or work < MIN_FLOPS or getattr(_local, "worker", False) or \
            blas_threads() is None:
        return None
    shorten_blas_spin()
    pool = _get_pool(parts - 1)
    bounds = [n * i // parts for i in range(parts + 1)]
    with _blas_single():
        futs = [pool.submit(fn, bounds[i], bounds[i + 1]) for i in range(1, parts)]
        _local.worker = True  # the caller's own share must not split again
        try:
            first = fn(bounds[0], bounds[1])
        finally:
            _local.worker = False
            rest = [f.result() for f in futs]
    return [first] + rest


def _splits(a, n: int, nd: int) -> bool:
    """Does argument ``a`` run along the split axis of an ``nd``-dim output of ``n`` rows?
    (Scalars and arrays of lower rank or a leading 1 broadcast whole.)"""
    return isinstance(a, np.ndarray) and a.ndim == nd and a.shape[0] == n and n > 1


def ufunc(f: np.ufunc, *args, out: np.ndarray) -> np.ndarray:
    """``f(*args, out=out)`` split over the first axis of ``out``; NumPy arrays only
    (anything else runs as is)."""
    if not isinstance(out, np.ndarray) or out.ndim == 0:
        f(*args, out=out)
        return out
    n, nd = out.shape[0], out.ndim
    split = [_splits(a, n, nd) for a in args]

    def run(lo: int, hi: int) -> None:
        f(*(a[lo:hi] if s else a for a, s in zip(args, split)), out=out[lo:hi])

    split_rows(run, n, out.size)
    return out


_helper_pool: ThreadPoolExecutor | None = None


def _get_helper() -> ThreadPoolExecutor:
    """The thread behind ``Jobs``: a pool of its own, so that a split pass the caller runs
    meanwhile never queues behind a helper that waits for the caller."""
    global _helper_pool
    with _lock:
        if _helper_pool is None:
            _helper_pool = ThreadPoolExecutor(1, thread_name_prefix="nerve-jobs",
                                              initializer=_mark_worker)
        return _helper_pool


class Jobs:
    """Jobs ``0..n-1`` whose inputs the caller completes in order while it works on: a
    pool thread runs each one as soon as the caller ``release``-s it, and ``finish`` (the
    caller, its own work done) runs the remaining ones from the end, then waits for the
    helper. ``fn(k, slot)`` runs job ``k``; ``slot`` is 0 in the caller and 1 in the
    helper (e.g. to pick a private accumulator).

    With ``overlap=False`` (or no second thread) nothing runs in the background and
    ``finish`` runs every job in the caller. Both threads use one BLAS thread each while
    the helper is alive: the caller must run its own work inside :func:`single_blas`.
    Always call ``finish`` or, on an error, ``abort`` (which stops the helper).
    """

    def __init__(self, fn: Callable[[int, int], None], n: int, overlap: bool) -> None:
        self.fn, self.n = fn, n
        self._lock = threading.Lock()
        self._front, self._back = 0, n  # the helper takes from the front, the caller the back
        self._aborted = False
        self._fut = None
        self._ready = None
        if overlap and n > 1 and _threads >= 2 and not getattr(_local, "worker", False) \
                and blas_threads() is not None:  # (else the two threads' BLAS would compete)
            shorten_blas_spin()
            self._ready = [threading.Event() for _ in range(n)]
            self._fut = _get_helper().submit(self._helper)

    def _take(self, front: bool) -> int | None:
        with self._lock:
            if self._aborted or self._front >= self._back:
                return None
            if front:
                self._front += 1
                return self._front - 1
            self._back -= 1
            return self._back

    def _helper(self) -> None:
        while (k := self._take(True)) is not None:
            self._ready[k].wait()
            if self._aborted:
                return
            self.fn(k, 1)

    @property
    def overlapping(self) -> bool:
        return self._fut is not None

    def release(self, k: int) -> None:
        """Job ``k``'s inputs are complete."""
        if self._ready is not None:
            self._ready[k].set()

    def finish(self) -> None:
        while (k := self._take(False)) is not None:
            self.fn(k, 0)
        if self._fut is not None:
            self._fut.result()

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
        if self._ready is not None:
            for e in self._ready:
                e.set()
            with contextlib.suppress(Exception):
                self._fut.result()


def single_blas(active: bool) -> contextlib.AbstractContextManager:
    """One BLAS thread per call inside the block when ``active`` (else a no-op)."""
    return _blas_single() if active else contextlib.nullcontext()
