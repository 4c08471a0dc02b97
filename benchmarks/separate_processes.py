"""Cross-check of the in-process harness: each library timed in a process of its own.

Runs a benchmark script several times with ``BENCH_SIDE=nerve`` and ``BENCH_SIDE=torch``
(alternating), so neither library's worker threads or memory settings touch the other's
measurement (the PyTorch process gets ``NERVE_KEEP_MEMORY=0``: glibc's own defaults, as
in a program that never imports nerve). Reports the median over runs of each side's
median step time, and the ratio.

Run: python benchmarks/separate_processes.py bench_lstm.py [--runs 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))


def run_side(script: str, side: str) -> dict:
    env = dict(os.environ, BENCH_SIDE=side)
    if side == "torch":
        env["NERVE_KEEP_MEMORY"] = "0"
    out = subprocess.run([sys.executable, os.path.join(HERE, script)], env=env, check=True,
                         capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == "SIDE":
            res[parts[2]] = float(parts[3])
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("script", help="a benchmark in benchmarks/, e.g. bench_lstm.py")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    times: dict = defaultdict(lambda: defaultdict(list))
    for r in range(args.runs):
        for side in (("nerve", "torch") if r % 2 == 0 else ("torch", "nerve")):
            for name, ms in run_side(args.script, side).items():
                times[name][side].append(ms)
    print("| workload (separate processes) | nerve ms | torch ms | nerve / torch |")
    print("|---|---:|---:|---:|")
    out = {}
    for name, sides in times.items():
        n, t = statistics.median(sides["nerve"]), statistics.median(sides["torch"])
        out[name] = n / t
        print(f"| {name} | {n:.2f} | {t:.2f} | {n / t:.2f} |", flush=True)
    return out


if __name__ == "__main__":
    main()
