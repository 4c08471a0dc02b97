"""nerve: a readable, fast deep-learning framework on NumPy.

PyTorch-style API at the top level (``nerve.tensor``, ``nerve.nn``, ``nerve.optim``,
``nerve.utils.data``); see the README for the tour.
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import _backend
from . import _memory

_memory.keep_freed_memory()  # reuse big freed arrays instead of refaulting them (_memory.py)
from ._backend import (bool_ as bool, device, double, dtype, float, float16, float32,  # noqa: A004
                       float64, get_default_dtype, half, int, int8, int16, int32, int64,
                       long, set_default_dtype, short, uint8)
from . import autograd
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import Size, Tensor
from . import ops
from .ops import *  # noqa: F401,F403

# the star import above also copies the ops submodules; drop them (nerve.nn is the package)
for _m in ("nn", "elementwise", "linalg", "reduce", "shape", "conv", "norm", "pool", "upsample"):
    globals().pop(_m, None)
del _m
from .ops.elementwise import (abs, add, cast, clamp, clip, div, eq, exp, ge, gt, le, log,  # noqa: A004
                              lt, maximum, minimum, mul, ne, neg, pow, sigmoid, sqrt, sub, tanh,
                              where)
from .ops.reduce import all, any, max, min, sum  # noqa: A004
from .creation import (arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full,
                       full_like, linspace, logspace, multinomial, normal, ones, ones_like, rand,
                       rand_like, randint, randint_like, randn, randn_like, randperm, tensor,
                       zeros, zeros_like)
from .random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state

FloatTensor = Tensor
LongTensor = Tensor


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    return x.numel()


def is_floating_point(x: Tensor) -> bool:
    return x.is_floating_point()


def get_num_threads() -> int:
    """Threads nerve uses: for BLAS and for the passes it splits across cores itself."""
    from . import _parallel

    return _parallel.get_threads()


def set_num_threads(n: int) -> None:
    """Use ``n`` threads: NumPy's OpenBLAS and nerve's own split passes (as
    ``torch.set_num_threads``); ``nerve.set_num_threads(1)`` makes a run single-threaded."""
    from . import _parallel

    _parallel.set_threads(n)
    if not _parallel.set_blas_threads(n):
        try:
            from threadpoolctl import threadpool_limits  # type: ignore

            threadpool_limits(n)
        except ImportError:
            pass


class cuda:  # noqa: N801  (mirrors torch.cuda)
    """``nerve.cuda.is_available()`` is True when CuPy sees a GPU."""

    @staticmethod
    def is_available() -> bool:
        return _backend.cuda_is_available()

    @staticmethod
    def device_count() -> int:
        return 1 if _backend.cuda_is_available() else 0

    @staticmethod
    def manual_seed(seed_value: int) -> None:
        pass

    manual_seed_all = manual_seed


def _lazy(name):
    import importlib

    return importlib.import_module(f"nerve.{name}")


def __getattr__(name):
    if name in ("nn", "optim", "utils", "data", "io", "datasets", "keras", "vision", "distributed",
                "plot", "gallery"):
        mod = _lazy(name)
        globals()[name] = mod
        return mod
    if name in ("save", "load"):
        from . import io

        return getattr(io, name)
    raise AttributeError(f"module 'nerve' has no attribute {name!r}")


# Under an MPI launcher (mpiexec, srun) join the job right away, so that an uncaught
# exception in any rank aborts the whole job instead of leaving the others waiting in
# a collective. Without a launcher this imports nothing more (no mpi4py).
from .distributed import env as _dist_env  # noqa: E402

if _dist_env.launched():
    _dist_env.init()
