"""The MNIST CNN (conv32-conv64-maxpool-dropout-dense128-dropout-dense10), batch 128,
float32: training step (cross-entropy, Adam) and inference, nerve vs PyTorch.

Run: python benchmarks/bench_cnn.py
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch

import nerve

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
from mnist_cnn import MnistCNN  # noqa: E402

try:
    from harness import classifier_steps, compare, header, machine
except ImportError:  # run as a module
    from benchmarks.harness import classifier_steps, compare, header, machine

B = 128


def torch_model() -> torch.nn.Module:
    tn = torch.nn
    return tn.Sequential(tn.Conv2d(1, 32, 3), tn.ReLU(), tn.Conv2d(32, 64, 3), tn.ReLU(),
                         tn.MaxPool2d(2), tn.Dropout(0.25), tn.Flatten(),
                         tn.Linear(9216, 128), tn.ReLU(), tn.Dropout(0.5), tn.Linear(128, 10))


def main(rounds: int = 8) -> list:
    torch.set_num_threads(nerve.get_num_threads())
    nerve.manual_seed(0)
    model, tmodel = MnistCNN(), torch_model()
    with torch.no_grad():
        for p, q in zip(model.parameters(), tmodel.parameters()):
            q.copy_(torch.from_numpy(p.data.copy()))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, B)
    n_train, t_train, n_infer, t_infer, kind = classifier_steps(model, tmodel, x, y)
    print(machine())
    print(f"torch Adam: {kind}")
    header()
    return [compare("MNIST CNN B128 train step", n_train, t_train, rounds=rounds, per_round=2,
                    warmup=2),
            compare("MNIST CNN B128 inference", n_infer, t_infer, rounds=rounds, per_round=3,
                    warmup=2)]


if __name__ == "__main__":
    main()
