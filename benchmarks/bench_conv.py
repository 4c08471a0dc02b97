"""Convolution layer sweep and the MNIST CNN's conv/pool layers: nerve vs PyTorch.

For every case, nerve and torch run alternately in one process (order flipped every
round); the table gives median milliseconds of the forward pass (under no_grad) and of
forward + backward, the ratio nerve / torch, and nerve's achieved GFLOP/s, next to the
machine's float32 GEMM rate (a 1024³ NumPy matmul). FLOPs count the multiply-adds of
the convolution (2·N·C_out·H_out·W_out·C_in·kh·kw per pass; the backward pass does
one such product for the weight gradient and one for the input gradient when the
input needs a gradient — first layers, C_in = 1 here, do not).

Run: ``python benchmarks/bench_conv.py [--quick]``
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import nerve
from nerve.nn.conv import Conv2d
from nerve.ops.pool import max_pool2d

try:
    from harness import machine
except ImportError:  # run as a module
    from benchmarks.harness import machine


def gemm_gflops(n: int = 1024, repeat: int = 10) -> float:
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    best = min(_time(lambda: a @ b) for _ in range(repeat))
    return 2 * n ** 3 / best / 1e9


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def alternate(nerve_fn, torch_fn, budget_s: float, min_rounds: int = 5, max_rounds: int = 25):
    """Median seconds of each callable, run alternately within a time budget."""
    nerve_fn(), torch_fn()  # warm up (allocations, caches)
    tn, tt = [], []
    start = time.perf_counter()
    r = 0
    while r < min_rounds or (r < max_rounds and time.perf_counter() - start < budget_s):
        pair = [(nerve_fn, tn), (torch_fn, tt)]
        for fn, acc in (pair if r % 2 == 0 else pair[::-1]):
            acc.append(_time(fn))
        r += 1
    return statistics.median(tn), statistics.median(tt)


def conv_case(n, cin, cout, size, k, stride, padding, budget):
    """Time one Conv2d layer (forward, forward + backward) in both frameworks."""
    nerve.manual_seed(0)
    layer = Conv2d(cin, cout, k, stride=stride, padding=padding)
    tlayer = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=padding)
    with torch.no_grad():
        tlayer.weight.copy_(torch.from_numpy(layer.weight.data.copy()))
        tlayer.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
    need_dx = cin > 1  # a first layer's input needs no gradient
    x = np.random.default_rng(1).standard_normal((n, cin, size, size), dtype=np.float32)
    xn = nerve.tensor(x, requires_grad=need_dx)
    xt = torch.from_numpy(x.copy()).requires_grad_(need_dx)
    with nerve.no_grad():
        out_shape = tuple(layer(xn).shape)
    gn = nerve.tensor(np.ones(out_shape, np.float32))
    gt = torch.ones(out_shape)
    params = [layer.weight, layer.bias, xn]
    tparams = [tlayer.weight, tlayer.bias, xt]

    def n_fwd():
        with nerve.no_grad():
            layer(xn)

    def t_fwd():
        with torch.no_grad():
            tlayer(xt)

    def n_fb():
        for p in params:
            p.grad = None
        layer(xn).backward(gn)

    def t_fb():
        for p in tparams:
            p.grad = None
        tlayer(xt).backward(gt)

    f_n, f_t = alternate(n_fwd, t_fwd, budget)
    fb_n, fb_t = alternate(n_fb, t_fb, budget)
    _, _, ho, wo = out_shape
    flops = 2.0 * n * cout * ho * wo * cin * k * k
    return dict(f_n=f_n, f_t=f_t, fb_n=fb_n, fb_t=fb_t, flops=flops,
                fb_flops=flops * (3 if need_dx else 2), out=out_shape)


def pool_case(shape, budget):
    """max_pool2d(2) forward and forward + backward on an (N, C, H, W) input."""
    x = np.random.default_rng(2).standard_normal(shape, dtype=np.float32)
    xn = nerve.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    oshape = (shape[0], shape[1], shape[2] // 2, shape[3] // 2)
    gn, gt = nerve.tensor(np.ones(oshape, np.float32)), torch.ones(oshape)

    def n_fwd():
        with nerve.no_grad():
            max_pool2d(xn, 2)

    def t_fwd():
        with torch.no_grad():
            torch.nn.functional.max_pool2d(xt, 2)

    def n_fb():
        xn.grad = None
        max_pool2d(xn, 2).backward(gn)

    def t_fb():
        xt.grad = None
        torch.nn.functional.max_pool2d(xt, 2).backward(gt)

    f_n, f_t = alternate(n_fwd, t_fwd, budget)
    fb_n, fb_t = alternate(n_fb, t_fb, budget)
    return dict(f_n=f_n, f_t=f_t, fb_n=fb_n, fb_t=fb_t)


def _row(name, r, gemm):
    ms = lambda s: f"{s * 1e3:.2f}"  # noqa: E731
    cells = [name, ms(r["f_n"]), ms(r["f_t"]), f"{r['f_n'] / r['f_t']:.2f}",
             ms(r["fb_n"]), ms(r["fb_t"]), f"{r['fb_n'] / r['fb_t']:.2f}"]
    if "flops" in r:
        cells += [f"{r['flops'] / r['f_n'] / 1e9:.0f}", f"{r['fb_flops'] / r['fb_n'] / 1e9:.0f}",
                  f"{r['flops'] / r['f_t'] / 1e9:.0f}", f"{gemm:.0f}"]
    else:
        cells += ["", "", "", ""]
    print("| " + " | ".join(cells) + " |", flush=True)


def main(quick: bool = False) -> list:
    torch.set_num_threads(nerve.get_num_threads())
    budget = 0.5 if quick else 2.0
    print(machine())
    gemm = gemm_gflops()
    print(f"\nfloat32 GEMM (NumPy 1024x1024x1024): {gemm:.0f} GFLOP/s\n")
    print("| layer | fwd nerve ms | fwd torch ms | fwd ratio | fwd+bwd nerve ms | "
          "fwd+bwd torch ms | fwd+bwd ratio | nerve fwd GFLOP/s | nerve fwd+bwd GFLOP/s | "
          "torch fwd GFLOP/s | GEMM GFLOP/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    # the MNIST CNN's layers, batch 128 (no padding, as in the network)
    mnist = [("MNIST conv1 1->32 3x3, B128 28x28", (128, 1, 32, 28, 3, 1, 0)),
             ("MNIST conv2 32->64 3x3, B128 26x26", (128, 32, 64, 26, 3, 1, 0))]
    for name, args in mnist:
        r = conv_case(*args, budget)
        _row(name, r, gemm)
        results.append((name, r))
    r = pool_case((128, 64, 24, 24), budget)
    _row("MNIST maxpool 2x2, B128 64x24x24", r, gemm)
    results.append(("MNIST maxpool", r))
    # the sweep: 3x3 and 5x5 ('same'-style padding), 1->64 and 64->128, stride 1 and 2
    shapes = [(128, 1, 64, 28), (32, 64, 128, 32)]
    if quick:
        shapes = [(32, 1, 64, 28), (8, 64, 128, 32)]
    for k in (3, 5):
        for n, cin, cout, size in shapes:
            for stride in (1, 2):
                name = f"{cin}->{cout} {k}x{k} s{stride}, B{n} {size}x{size}"
                r = conv_case(n, cin, cout, size, k, stride, k // 2, budget)
                _row(name, r, gemm)
                results.append((name, r))
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches, shorter timing")
    main(ap.parse_args().quick)
