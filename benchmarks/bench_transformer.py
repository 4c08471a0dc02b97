"""Transformer encoder layer classifier, nerve vs PyTorch: TransformerEncoderLayer(d_model 128,
4 heads, feed-forward 512, dropout 0.1, batch_first) -> mean over the sequence -> Linear(128,
2); sequence 64, batch 32, float32, Adam.

Run: python benchmarks/bench_transformer.py [--rounds N]

PyTorch gets its fastest Adam (fused, else foreach); in inference (eval + no_grad) it
takes its fused "fast path" encoder kernel.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import nerve
from nerve import nn
from nerve.nn.transformer import TransformerEncoderLayer

try:
    from harness import classifier_steps, compare, header, machine
except ImportError:  # run as a module
    from benchmarks.harness import classifier_steps, compare, header, machine

D, NH, FF, T, B = 128, 4, 512, 64, 32


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = TransformerEncoderLayer(D, NH, FF, batch_first=True)
        self.fc = nn.Linear(D, 2)

    def forward(self, x):
        return self.fc(self.enc(x).mean(1))


class TorchClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = torch.nn.TransformerEncoderLayer(D, NH, FF, batch_first=True)
        self.fc = torch.nn.Linear(D, 2)

    def forward(self, x):
        return self.fc(self.enc(x).mean(1))


def build():
    nerve.manual_seed(0)
    model, tmodel = Classifier(), TorchClassifier()
    tmodel.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in model.state_dict().items()})
    return model, tmodel


def main(rounds: int = 15) -> list:
    torch.set_num_threads(nerve.get_num_threads())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, D), dtype=np.float32)
    y = rng.integers(0, 2, B)
    model, tmodel = build()
    n_train, t_train, n_infer, t_infer, kind = classifier_steps(model, tmodel, x, y)

    print(machine())
    print(f"torch Adam: {kind}")
    header()
    model.train()
    tmodel.train()
    res = [compare(f"Transformer encoder layer T{T} B{B} train step", n_train, t_train,
                   rounds=rounds, per_round=5)]
    model.eval()
    tmodel.eval()
    res.append(compare(f"Transformer encoder layer T{T} B{B} inference", n_infer, t_infer,
                       rounds=rounds, per_round=10))
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    main(ap.parse_args().rounds)
