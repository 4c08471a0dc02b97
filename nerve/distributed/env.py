"""The process group: is this process one rank of an MPI job, which one, of how many.

nerve.distributed is *inert* unless the program was started by an MPI launcher
(``mpiexec -n 4 python train.py``, ``srun``): then ``rank() == 0``, ``world_size() == 1``,
every collective returns its input, and mpi4py is never imported. A launcher is
recognised by the environment variables it gives each process (``PMI_RANK``/``PMI_SIZE``
from MPICH, Intel MPI and Slurm's PMI-2; ``OMPI_COMM_WORLD_SIZE`` from Open MPI;
``PMIX_RANK`` from PMIx; ``MV2_COMM_WORLD_SIZE`` from MVAPICH). ``NERVE_DISTRIBUTED=0``
turns detection off, ``NERVE_DISTRIBUTED=1`` forces MPI on (a singleton job of size 1
when started without a launcher).

:func:`init` runs implicitly on the first call that needs the communicator. It also
installs the *abort path*: an uncaught exception in any rank prints its traceback and
calls ``MPI_Abort``, which ends every rank of the job with a non-zero status, instead
of leaving the other ranks blocked for ever in their next collective.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import traceback

__all__ = ["launched", "init", "init_process_group", "destroy_process_group", "is_initialized",
           "is_available", "rank", "world_size", "local_rank", "is_main", "barrier", "get_comm",
           "abort"]

_LAUNCH_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK",
                "MV2_COMM_WORLD_SIZE")
_LOCAL_RANK_VARS = ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MV2_COMM_WORLD_LOCAL_RANK",
                    "SLURM_LOCALID")


class _State:
    comm = None        # mpi4py.MPI.Comm once initialised under MPI
    MPI = None         # the mpi4py.MPI module
    rank = 0
    size = 1
    initialized = False
    prev_excepthook = None


def launched() -> bool:
    """True when this process was started by an MPI launcher (checked without importing
    mpi4py), or when ``NERVE_DISTRIBUTED=1``."""
    flag = os.environ.get("NERVE_DISTRIBUTED", "").strip().lower()
    if flag in ("0", "false", "off", "no"):
        return False
    if flag in ("1", "true", "on", "yes"):
        return True
    return any(v in os.environ for v in _LAUNCH_VARS)


def _env_size() -> int | None:
    """The job size the launcher announced, if it did."""
    for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS"):
        try:
            return int(os.environ[v])
        except (KeyError, ValueError):
            continue
    return None


def is_available() -> bool:
    """True when mpi4py can be imported (imports nothing when it cannot be found)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def init(install_abort_handler: bool = True) -> None:
    """Join the MPI job (idempotent). Without a launcher this does nothing: the process
    stays a job of one and mpi4py is not imported.

    Args:
        install_abort_handler: make an uncaught exception in this rank abort the whole
            job (``sys.excepthook`` and ``threading.excepthook``) instead of hanging it.

    Raises:
        ImportError: launched under MPI but mpi4py is not installed.
    """
    if _State.initialized:
        return
    if not launched():
        _State.initialized = True
        return
    try:
        from mpi4py import MPI
    except ImportError as e:  # launched by mpiexec, so running alone would be silently wrong
        if _env_size() == 1:  # e.g. a plain `srun -n 1`: a job of one needs no MPI
            _State.initialized = True
            return
        raise ImportError("nerve.distributed: this process was started by an MPI launcher "
                          "but mpi4py is not installed; install it with "
                          "`pip install 'nerve[mpi]'` (mpi4py + the mpich wheel), or set "
                          "NERVE_DISTRIBUTED=0 to run each process on its own") from e
    _State.MPI = MPI
    _State.comm = MPI.COMM_WORLD
    _State.rank = _State.comm.Get_rank()
    _State.size = _State.comm.Get_size()
    _State.initialized = True
    if install_abort_handler and _State.size > 1:
        _install_abort_handler()


def init_process_group(backend: str = "mpi", **kwargs) -> None:
    """PyTorch's spelling of :func:`init` (only the MPI backend; other arguments — init
    method, world size, rank — come from the MPI launcher and are ignored)."""
    if backend not in ("mpi", None):
        raise ValueError(f"init_process_group: nerve only supports backend='mpi', got "
                         f"{backend!r}")
    init()


def destroy_process_group() -> None:
    """Accepted for PyTorch compatibility: MPI is finalised when the process exits."""


def is_initialized() -> bool:
    return _State.initialized


def _ensure() -> None:
    if not _State.initialized:
        init()


def get_comm():
    """The mpi4py communicator (``MPI.COMM_WORLD``), or None when not running under MPI."""
    _ensure()
    return _State.comm


def rank() -> int:
    """This process's rank, 0 ... world_size() - 1 (0 when not under MPI)."""
    _ensure()
    return _State.rank


def world_size() -> int:
    """The number of processes in the job (1 when not under MPI)."""
    _ensure()
    return _State.size


def local_rank() -> int:
    """The rank among the processes on this machine (from the launcher's environment)."""
    for v in _LOCAL_RANK_VARS:
        if v in os.environ:
            try:
                return int(os.environ[v])
            except ValueError:
                pass
    return 0


def is_main() -> bool:
    """True on rank 0: the process that prints, logs and writes checkpoints."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank reaches this call (no-op without MPI)."""
    _ensure()
    if _State.comm is not None and _State.size > 1:
        _State.comm.Barrier()


def abort(code: int = 1) -> None:
    """End every rank of the job now with exit status ``code`` (``MPI_Abort``)."""
    _ensure()
    sys.stdout.flush()
    sys.stderr.flush()
    if _State.comm is not None:
        _State.comm.Abort(code)
    os._exit(code)


# --- the abort path ---------------------------------------------------------------------

ABORT_FLUSH_S = 0.2  # pause between writing the failing rank's report and MPI_Abort

def _report_and_abort(exc_type, exc, tb, where: str) -> None:
    try:
        msg = "".join(traceback.format_exception(exc_type, exc, tb))
        # one write, then a moment for the launcher to forward it: output still in flight
        # when MPI_Abort kills the job can be lost (seen: the traceback arrived, the line
        # after it did not, about 1 run in 10)
        sys.stderr.write(msg + f"nerve.distributed: rank {_State.rank} of {_State.size} "
                         f"raised {exc_type.__name__}{where}; aborting all ranks "
                         "(MPI_Abort)\n")
        sys.stderr.flush()
        sys.stdout.flush()
        time.sleep(ABORT_FLUSH_S)
    finally:
        _State.comm.Abort(1)


def _excepthook(exc_type, exc, tb) -> None:
    _report_and_abort(exc_type, exc, tb, "")


def _thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    name = f" in thread {args.thread.name!r}" if args.thread is not None else " in a thread"
    _report_and_abort(args.exc_type, args.exc_value, args.exc_traceback, name)


def _install_abort_handler() -> None:
    if sys.excepthook is not _excepthook:
        _State.prev_excepthook = sys.excepthook
        sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
