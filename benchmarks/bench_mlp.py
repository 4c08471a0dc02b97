"""MLP 784-512-512-10, ReLU, cross-entropy, Adam, batch 128, float32: nerve vs PyTorch.

Run: python benchmarks/bench_mlp.py
"""
from __future__ import annotations

import numpy as np
import torch

import nerve
from nerve import nn

try:
    from harness import classifier_steps, compare, header, machine
except ImportError:  # run as a module
    from benchmarks.harness import classifier_steps, compare, header, machine

B = 128


def build():
    nerve.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    tmodel = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(),
                                 torch.nn.Linear(512, 512), torch.nn.ReLU(),
                                 torch.nn.Linear(512, 10))
    with torch.no_grad():
        for p, q in zip(model.parameters(), tmodel.parameters()):
            q.copy_(torch.from_numpy(p.data.copy()))
    return model, tmodel


def main() -> list:
    torch.set_num_threads(nerve.get_num_threads())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, 784), dtype=np.float32)
    y = rng.integers(0, 10, B)
    model, tmodel = build()
    n_train, t_train, n_infer, t_infer, kind = classifier_steps(model, tmodel, x, y)

    print(machine())
    print(f"torch Adam: {kind}")
    header()
    return [compare("MLP 784-512-512-10 B128 train step", n_train, t_train, rounds=20),
            compare("MLP 784-512-512-10 B128 inference", n_infer, t_infer, rounds=20)]


if __name__ == "__main__":
    main()
