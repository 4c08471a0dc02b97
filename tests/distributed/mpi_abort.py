"""Run under ``mpiexec -n 2``: rank 1 raises while rank 0 waits in a collective.

``python mpi_abort.py [where]``: ``where`` is ``main`` (the exception reaches the top of
the main thread) or ``thread`` (it is raised in a worker thread). The job must end
quickly with a non-zero status and rank 1's traceback, instead of leaving rank 0
blocked in ``all_reduce`` for ever.
"""
from __future__ import annotations

import sys
import threading
import time

import nerve
import nerve.distributed as dist


def fail() -> None:
    raise ValueError("rank 1 failed on purpose: bad batch shape (3, 5)")


def main() -> None:
    where = sys.argv[1] if len(sys.argv) > 1 else "main"
    dist.init()
    if dist.rank() == 1:
        time.sleep(0.2)  # let rank 0 enter the collective first
        if where == "thread":
            t = threading.Thread(target=fail, name="loader")
            t.start()
            t.join()
            time.sleep(30)  # the abort must come from the thread's hook
        fail()
    dist.all_reduce(nerve.ones(4))  # rank 0 blocks here: rank 1 never joins
    print("rank 0 returned from all_reduce: the abort path did not work", flush=True)


if __name__ == "__main__":
    main()
