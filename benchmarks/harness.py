"""Side-by-side timing: nerve and PyTorch on the same workload, in one process, alternating.

Each round runs a block of nerve steps then a block of torch steps (order alternating
between rounds), so drifts in clock speed or background load hit both alike. Reported:
median milliseconds per step and the ratio nerve / torch (< 1 means nerve is faster).

Both libraries keep worker threads that spin for a while after each parallel call
(OpenBLAS for ~0.1 s, PyTorch's OpenMP pool too). Run back to back, one library's
spinning workers steal the cores the other needs (measured: PyTorch's MLP step 2.5 ms
after an idle pause, 3.5-6.7 ms right after nerve's GEMMs). So every block starts after
a pause long enough for the other side's workers to go to sleep, and its first step
(which wakes its own workers) is not timed: each side is measured in the steady state
of a training loop that runs alone.
"""
from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np


def machine() -> str:
    import nerve
    from nerve import _backend

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    return (f"{cpu}, {os.cpu_count()} cores; numpy {np.__version__} ({_backend.blas_name()}, "
            f"{_backend.threads()} threads); torch {torch.__version__} "
            f"({torch.get_num_threads()} threads); nerve {nerve.__version__}; "
            f"python {platform.python_version()}")


def _memory_mode(nerve_side: bool) -> None:
    from nerve import _memory

    if nerve_side:
        _memory.keep_freed_memory(force=True)
    else:
        _memory.glibc_defaults()


PAUSE_S = 0.3  # > OpenBLAS's 2^28-cycle spin and PyTorch's OpenMP spin


def _one_side(name: str, side: str, step: Callable[[], object], rounds: int, per_round: int,
              warmup: int) -> dict:
    """``BENCH_SIDE`` set (by ``separate_processes.py``): time one library only."""
    for _ in range(warmup):
        step()
    ts = []
    for _ in range(rounds * per_round):
        t0 = time.perf_counter()
        step()
        ts.append(time.perf_counter() - t0)
    ms = statistics.median(ts) * 1e3
    print(f"SIDE\t{side}\t{name}\t{ms:.4f}", flush=True)
    return {"workload": name, f"{side}_ms": ms}


def compare(name: str, nerve_step: Callable[[], object], torch_step: Callable[[], object],
            rounds: int = 15, per_round: int = 5, warmup: int = 5) -> dict:
    """Median ms/step of both callables and their ratio."""
    side = os.environ.get("BENCH_SIDE")
    if side in ("nerve", "torch"):
        return _one_side(name, side, nerve_step if side == "nerve" else torch_step, rounds,
                         per_round, warmup)
    for _ in range(warmup):
        nerve_step()
        torch_step()
    tn, tt = [], []
    for r in range(rounds):
        order = [(nerve_step, tn), (torch_step, tt)]
        if r % 2:
            order.reverse()
        for fn, acc in order:
            _memory_mode(fn is nerve_step)
            time.sleep(PAUSE_S)  # let the other library's spinning workers go to sleep
            fn()  # wakes this library's workers; not timed
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t0)
    _memory_mode(True)
    mn, mt = statistics.median(tn) * 1e3, statistics.median(tt) * 1e3
    res = {"workload": name, "nerve_ms": mn, "torch_ms": mt, "ratio": mn / mt}
    print(f"| {name} | {mn:.2f} | {mt:.2f} | {mn / mt:.2f} |", flush=True)
    return res


def header() -> None:
    print("| workload | nerve ms | torch ms | nerve / torch |")
    print("|---|---:|---:|---:|")


def torch_adam(params, lr: float = 1e-3):
    """PyTorch's fastest Adam on this build: fused if supported on the CPU, else foreach."""
    import torch

    try:
        opt = torch.optim.Adam(params, lr=lr, fused=True)
        return opt, "fused"
    except (RuntimeError, TypeError, ValueError):
        params = list(params)
        return torch.optim.Adam(params, lr=lr, foreach=True), "foreach"


def classifier_steps(model, tmodel, x: np.ndarray, y: np.ndarray, lr: float = 1e-3):
    """The four timed callables of a classifier benchmark — nerve and torch training steps
    (cross-entropy, Adam; torch's fastest variant) and inference passes — plus the name
    of the torch Adam variant used."""
    import torch

    import nerve

    opt = nerve.optim.Adam(model.parameters(), lr=lr)
    topt, kind = torch_adam(tmodel.parameters(), lr)
    loss_fn, tloss_fn = nerve.nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    xn, yn = nerve.from_numpy(x), nerve.from_numpy(y)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def n_train():
        loss = loss_fn(model(xn), yn)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def t_train():
        loss = tloss_fn(tmodel(xt), yt)
        topt.zero_grad()
        loss.backward()
        topt.step()

    def n_infer():
        with nerve.no_grad():
            model(xn)

    def t_infer():
        with torch.no_grad():
            tmodel(xt)

    return n_train, t_train, n_infer, t_infer, kind
