"""Data-parallel throughput: 1 process vs 2 MPI ranks, with the communication time apart.

Run: python benchmarks/bench_distributed.py [--quick]

The driver launches, for each configuration, fresh processes with their BLAS thread
count fixed by environment variables (OMP/OPENBLAS/MKL_NUM_THREADS):

    1 process  x 2 threads      python bench_distributed.py --worker
    1 process  x 1 thread       python bench_distributed.py --worker
    2 ranks    x 1 thread each  mpiexec -n 2 python bench_distributed.py --worker

Workloads, float32, batch 128 *per rank* (so 2 ranks process 256 samples per step):
the MLP 784-512-512-10 (ReLU, Adam) and the MNIST CNN conv32-conv64-pool-dense128
(ReLU, Adam) of the project's performance notes. Reported per configuration: median step time,
throughput in samples/s, the time per step spent inside MPI calls during training
(gradient all-reduce; it includes waiting for the slower rank), and the cost of one
bare all-reduce of the model's gradient size measured after a barrier (no skew).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

B = 128


def _layer(nn, name: str):
    if hasattr(nn, name):
        return getattr(nn, name)
    import importlib

    for mod in ("conv", "pooling"):
        m = importlib.import_module(f"nerve.nn.{mod}")
        if hasattr(m, name):
            return getattr(m, name)
    return None


def workloads():
    import nerve
    from nerve import nn

    def mlp():
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                             nn.Linear(512, 10)), (784,)

    out = {"MLP 784-512-512-10": (mlp, 40)}
    conv, pool = _layer(nn, "Conv2d"), _layer(nn, "MaxPool2d")
    if conv is not None and pool is not None:
        def cnn():
            return nn.Sequential(conv(1, 32, 3), nn.ReLU(), conv(32, 64, 3), nn.ReLU(),
                                 pool(2), nn.Flatten(), nn.Linear(64 * 12 * 12, 128),
                                 nn.ReLU(), nn.Linear(128, 10)), (1, 28, 28)

        out["MNIST CNN conv32-conv64-pool-dense128"] = (cnn, 8)
    del nerve
    return out


def worker(quick: bool) -> None:
    import nerve
    import nerve.distributed as dist
    import nerve.nn.functional as F

    r, n = dist.rank(), dist.world_size()
    results = []
    for name, (build, steps) in workloads().items():
        if quick:
            steps = max(3, steps // 4)
        nerve.manual_seed(0)
        net, shape = build()
        model = dist.DistributedDataParallel(net)
        opt = dist.DistributedOptimizer(nerve.optim.Adam(model.parameters(), lr=1e-3), model)
        rng = np.random.default_rng(r)
        x = nerve.from_numpy(rng.standard_normal((B,) + shape, dtype=np.float32))
        y = nerve.from_numpy(rng.integers(0, 10, B))

        def step(model=model, opt=opt, x=x, y=y):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        for _ in range(3):
            step()
        dist.barrier()
        model.bucketer.reset_stats()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        comm = model.bucketer.comm_seconds / steps
        nparams = sum(p.data.size for p in model.parameters())
        bare = 0.0
        if n > 1:  # one all-reduce of the gradient size, ranks aligned by a barrier
            from mpi4py import MPI

            buf = np.ones(nparams, dtype=np.float32)
            reps = []
            for _ in range(10):
                dist.barrier()
                t0 = time.perf_counter()
                dist.get_comm().Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
                reps.append(time.perf_counter() - t0)
            bare = statistics.median(reps)
        med = max(dist.all_gather(statistics.median(times)))  # the slowest rank sets the pace
        results.append({"workload": name, "ranks": n, "step_ms": med * 1e3,
                        "samples_per_s": n * B / med, "comm_ms": comm * 1e3,
                        "bare_allreduce_ms": bare * 1e3, "grad_mb": nparams * 4 / 2**20,
                        "buckets": model.bucketer.num_buckets})
    if dist.is_main():
        print("RESULT " + json.dumps(results), flush=True)


def _mpiexec() -> str | None:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def launch(ranks: int, threads: int, quick: bool) -> list:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[v] = str(threads)
    cmd = [sys.executable, __file__, "--worker"] + (["--quick"] if quick else [])
    if ranks > 1:
        mpiexec = _mpiexec()
        if mpiexec is None:
            print(f"(no mpiexec: skipping {ranks} ranks; pip install -e '.[mpi]')")
            return []
        cmd = [mpiexec, "-n", str(ranks)] + cmd
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"worker failed:\n{out.stdout}\n{out.stderr}")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--worker", action="store_true")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--rounds", type=int, default=3, help="launches per configuration "
                   "(alternating order; medians are reported)")
    args = p.parse_args()
    if args.worker:
        worker(args.quick)
        return
    configs = [(1, 2, "1 process x 2 threads"), (1, 1, "1 process x 1 thread"),
               (2, 1, "2 ranks x 1 thread")]
    runs: dict = {}
    load = os.getloadavg()[0]
    for rnd in range(args.rounds):
        for ranks, threads, label in (configs if rnd % 2 == 0 else configs[::-1]):
            for res in launch(ranks, threads, args.quick):
                runs.setdefault((res["workload"], label), []).append(res)
    print(f"machine: {os.cpu_count()} cores (load average {load:.1f} at start); batch {B} per "
          f"rank; float32; Adam; median of {args.rounds} launches per configuration")
    print("| workload | configuration | step ms | samples/s | speed-up | MPI ms/step in training "
          "| bare all-reduce ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    names = list(dict.fromkeys(w for w, _ in runs))
    for name in names:
        base = None
        for _, _, label in configs:
            lst = runs.get((name, label))
            if not lst:
                continue
            med = {k: statistics.median(r[k] for r in lst) for k in
                   ("step_ms", "samples_per_s", "comm_ms", "bare_allreduce_ms")}
            base = base or med["samples_per_s"]
            multi = lst[0]["ranks"] > 1
            comm = f"{med['comm_ms']:.2f}" if multi else "-"
            bare = f"{med['bare_allreduce_ms']:.2f}" if multi else "-"
            grads = lst[0]["grad_mb"]
            print(f"| {name} ({grads:.1f} MiB of gradients) | {label} | {med['step_ms']:.1f} "
                  f"| {med['samples_per_s']:.0f} | {med['samples_per_s'] / base:.2f} | {comm} | "
                  f"{bare} |", flush=True)


if __name__ == "__main__":
    main()
