"""Per-op overhead of the autograd engine against plain NumPy on tiny tensors.

A chain of ``N`` small elementwise ops, ``x = x * 1.0001 + 0.0001`` on a (16,) float32
tensor, is timed: NumPy alone, nerve forward under ``no_grad``, nerve forward recording
the graph, the backward pass alone, and forward + backward in one go (which also pays
for Python's cyclic GC walking the fresh graph objects). With 16 elements the arithmetic
is negligible, so the difference is the framework's Python overhead per op. Each figure
is the best of ``--repeat`` runs; on a shared machine, rerun and compare the best.

Run: ``python benchmarks/bench_overhead.py [--steps 1000] [--repeat 15]``
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import nerve


def _best(fn, repeat: int) -> float:
    fn()  # warm up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1000, help="links in the chain (2 ops each)")
    ap.add_argument("--repeat", type=int, default=15, help="timing repeats (best is kept)")
    args = ap.parse_args()
    n_ops = 2 * args.steps
    a0 = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    m, c = np.float32(1.0001), np.float32(0.0001)

    def numpy_chain():
        x = a0
        for _ in range(args.steps):
            x = x * m + c
        return x

    def nerve_chain(x):
        for _ in range(args.steps):
            x = x * 1.0001 + 0.0001
        return x

    def nerve_nograd():
        with nerve.no_grad():
            return nerve_chain(nerve.tensor(a0))

    def nerve_record():
        return nerve_chain(nerve.tensor(a0, requires_grad=True))

    def nerve_fwd_bwd():
        x = nerve.tensor(a0, requires_grad=True)
        nerve_chain(x).sum().backward()
        return x.grad

    def backward_only() -> float:  # best time of the backward pass alone
        best = float("inf")
        for _ in range(args.repeat):
            loss = nerve_chain(nerve.tensor(a0, requires_grad=True)).sum()
            t0 = time.perf_counter()
            loss.backward()
            best = min(best, time.perf_counter() - t0)
        return best

    t_np = _best(numpy_chain, args.repeat)
    t_ng = _best(nerve_nograd, args.repeat)
    t_rec = _best(nerve_record, args.repeat)
    t_bwd = backward_only()
    t_fb = _best(nerve_fwd_bwd, args.repeat)
    us = 1e6 / n_ops
    print(f"chain of {n_ops} ops on a (16,) float32 tensor, best of {args.repeat}")
    print(f"{'':34s}{'us/op':>8s}{'x numpy':>9s}")
    for name, t in [("numpy", t_np), ("nerve forward, no_grad", t_ng),
                    ("nerve forward, recording graph", t_rec),
                    ("nerve backward alone", t_bwd),
                    ("nerve forward + backward", t_fb)]:
        print(f"{name:34s}{t * us:8.2f}{t / t_np:9.1f}")


if __name__ == "__main__":
    main()
