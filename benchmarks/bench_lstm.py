"""LSTM text classifier, nerve vs PyTorch: Embedding(10000, 128) -> LSTM(128, 128) ->
last hidden state -> Linear(128, 2), sequence 200, batch 64, float32, Adam.

Run: python benchmarks/bench_lstm.py [--rounds N]

PyTorch gets its fastest Adam (fused, else foreach) and flush-to-zero for denormal
floats: its LSTM backward otherwise crawls once the gradient flowing back through 200
steps reaches the denormal range (seconds per step on Intel CPUs).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

import nerve
from nerve import nn
from nerve.nn.embedding import Embedding
from nerve.nn.rnn import LSTM

try:
    from harness import classifier_steps, compare, header, machine
except ImportError:  # run as a module
    from benchmarks.harness import classifier_steps, compare, header, machine

V, E, H, T, B = 10_000, 128, 128, 200, 64


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = Embedding(V, E)
        self.lstm = LSTM(E, H, batch_first=True)
        self.fc = nn.Linear(H, 2)

    def forward(self, x):
        _, (h, _) = self.lstm(self.emb(x))
        return self.fc(h[-1])


class TorchClassifier(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H, batch_first=True)
        self.fc = torch.nn.Linear(H, 2)

    def forward(self, x):
        _, (h, _) = self.lstm(self.emb(x))
        return self.fc(h[-1])


def build():
    nerve.manual_seed(0)
    model, tmodel = Classifier(), TorchClassifier()
    tmodel.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                            for k, v in model.state_dict().items()})
    return model, tmodel


def main(rounds: int = 12) -> list:
    torch.set_num_threads(nerve.get_num_threads())
    torch.set_flush_denormal(True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, V, (B, T))
    y = rng.integers(0, 2, B)
    model, tmodel = build()
    n_train, t_train, n_infer, t_infer, kind = classifier_steps(model, tmodel, x, y)

    print(machine())
    print(f"torch Adam: {kind}; torch flush-denormal on")
    header()
    return [compare(f"LSTM classifier T{T} B{B} train step", n_train, t_train, rounds=rounds,
                    per_round=3, warmup=2),
            compare(f"LSTM classifier T{T} B{B} inference", n_infer, t_infer, rounds=rounds,
                    per_round=5, warmup=2)]


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    main(ap.parse_args().rounds)
