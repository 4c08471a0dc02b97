"""The LSTM's per-step GEMMs: one NumPy GEMM against the small-kernel blocks nerve uses
(``nerve/ops/rnn.py``, "small GEMMs"), with the operand the small kernels read in place
on a cache line and 16 bytes off it, and PyTorch's time for the same product. One BLAS
thread on both sides (each thread of a split LSTM runs its own GEMMs).

OpenBLAS multiplies a product of M·N·K <= 1e6 straight from its operands on its AVX-512
cores; a bigger one is packed first, all of W again on every step of a recurrence. On
other BLAS builds the rules keep one GEMM, and this script says so.

Run: python benchmarks/bench_small_gemm.py [--repeat 7]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from nerve import _parallel
from nerve._memory import aligned_empty
from nerve.ops.rnn import _gemm_batch_blocks, _gemm_blocks

# (name, M, K, N, how the blocks cut it, row length of the array B is a column slice of)
SHAPES = [
    ("inference Gᵀ = W Zₖ, a thread's 32 columns of 64", 512, 257, 32, "rows", 64),
    ("inference Gᵀ = W Zₖ, 64 columns", 512, 257, 64, "rows", 64),
    ("training forward G = Zₖ Wᵀ, 32 rows", 32, 257, 512, "cols", 512),
    ("backward ∂G Wₕₕ, 64 rows", 64, 512, 128, "batch", 128),
]


def _time(fn, repeat: int, n: int = 200) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t0) / n)
    return best * 1e6


def _operands(M, K, N, width, offset, rng):
    """A (M, K) and B (K, N) float32; B: the first N columns of a (K, width) array that
    starts ``offset`` bytes past a cache line (as a thread's half of the LSTM's slots)."""
    a = aligned_empty((M, K), np.float32)
    a[...] = rng.standard_normal((M, K))
    raw = aligned_empty((K * width + 16,), np.float32)
    b = raw[offset // 4:offset // 4 + K * width].reshape(K, width)[:, :N]
    b[...] = rng.standard_normal((K, N))
    return a, b, aligned_empty((M, N), np.float32)


def _blocked(a, b, c, how):
    """The batched-matmul form of a @ b -> c the rules pick (None: they keep one GEMM,
    even on an aligned operand)."""
    M, K = a.shape
    N = b.shape[1]
    if how == "rows":  # blocks of W's rows, the columns in groups
        m, nc = _gemm_blocks(M, N, K, np)
        if (m, nc) == (M, N):
            return None
        A = a.reshape(-1, 1, m, K)
        Bg = b.reshape(K, N // nc, nc).transpose(1, 0, 2)
        C = c.reshape(-1, m, N // nc, nc).transpose(0, 2, 1, 3)
    elif how == "cols":  # column blocks of Wᵀ
        m, nc = _gemm_blocks(N, M, K, np)
        if m == N or nc != M:
            return None
        A, Bg = a, b.reshape(K, -1, m).transpose(1, 0, 2)
        C = c.reshape(M, -1, m).transpose(1, 0, 2)
    else:  # row blocks of ∂G
        m = _gemm_batch_blocks(M, N, K, np)
        if m == M:
            return None
        A, Bg, C = a.reshape(-1, m, K), b, c.reshape(-1, m, N)
    return lambda: np.matmul(A, Bg, out=C)


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.1f}"


def _measure(M, K, N, how, width, repeat, rng, torch) -> dict:
    a, b, c = _operands(M, K, N, width, 0, rng)
    res = {"one_us": _time(lambda: np.matmul(a, b, out=c), repeat)}
    fn = _blocked(a, b, c, how)
    res["blocks_us"] = _time(fn, repeat) if fn else None
    a2, b2, c2 = _operands(M, K, N, width, 16, rng)
    fn2 = _blocked(a2, b2, c2, how)
    res["offset_us"] = _time(fn2, repeat) if fn2 else None
    res["torch_us"] = None
    if torch is not None:
        ta, tb = torch.from_numpy(a.copy()), torch.from_numpy(np.ascontiguousarray(b))
        tc = torch.empty(M, N)
        res["torch_us"] = _time(lambda: torch.matmul(ta, tb, out=tc), repeat)
    return res


def main(repeat: int = 7) -> list:
    rng = np.random.default_rng(0)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        torch = None
    core = _parallel.blas_core()
    print(f"OpenBLAS core: {core}; 1 BLAS thread")
    print("| product | one GEMM µs | blocks µs (aligned) | blocks µs (16 bytes off) | "
          "torch µs | one / torch | blocks / torch |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    rows = []
    with _parallel.single_blas(True):
        for name, M, K, N, how, width in SHAPES:
            r = _measure(M, K, N, how, width, repeat, rng, torch)
            tt = r["torch_us"]
            ratio = ["-" if v is None or tt is None else f"{v / tt:.2f}"
                     for v in (r["one_us"], r["blocks_us"])]
            print(f"| {name}: {M}x{K} @ {K}x{N} | {r['one_us']:.1f} | {_fmt(r['blocks_us'])} | "
                  f"{_fmt(r['offset_us'])} | {_fmt(tt)} | {ratio[0]} | {ratio[1]} |")
            rows.append(dict(r, product=name))
    if core not in ("skylakex", "cooperlake", "sapphirerapids"):
        print("(no AVX-512 small-matrix kernels here: nerve keeps one GEMM)")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    main(ap.parse_args().repeat)
