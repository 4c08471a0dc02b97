"""Shared by the IMDB sentiment examples (sentiment_rnn.py, sentiment_transformer.py):
the --data convention, encoding reviews to id arrays, and accuracy over a sample list."""
from __future__ import annotations

import os

import numpy as np

import nerve


def data_dir(arg: str | None, name: str) -> str | None:
    """``--data`` may name the dataset's folder or the root holding ``name/``."""
    if arg is None:
        return None
    return os.path.join(arg, name) if os.path.isdir(os.path.join(arg, name)) else arg


def encode(texts, labels, vocab, tokenizer, max_len: int) -> list:
    """``[(ids int64 array of <= max_len tokens, label), ...]`` (at least one token each)."""
    unk = vocab["<unk>"]
    out = []
    for text, y in zip(texts, labels):
        ids = vocab.lookup_indices(tokenizer(text)[:max_len]) or [unk]
        out.append((np.asarray(ids, dtype=np.int64), int(y)))
    return out


def evaluate(model, samples, collate, batch_size: int = 128) -> float:
    model.eval()
    order = np.argsort([len(s[0]) for s in samples], kind="stable")
    correct = 0
    with nerve.no_grad():
        for s in range(0, len(order), batch_size):
            ids, lengths, y = collate([samples[i] for i in order[s:s + batch_size]])
            correct += int((model(ids, lengths).argmax(1).numpy() == y.numpy()).sum())
    return correct / len(samples)
