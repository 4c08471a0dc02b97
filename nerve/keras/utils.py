"""Keras utilities: to_categorical, pad_sequences, PyDataset/Sequence, plot_history."""
from __future__ import annotations

import numpy as np


def to_categorical(y, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """One-hot encode integer class labels: shape (..., num_classes)."""
    y = np.asarray(y)
    if y.dtype.kind == "f":
        if not np.all(y == np.round(y)):
            raise ValueError("to_categorical: labels must be integers")
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y[..., 0]
    n = int(y.max()) + 1 if num_classes is None else int(num_classes)
    if y.size and (y.min() < 0 or y.max() >= n):
        raise ValueError(f"to_categorical: labels must be in [0, {n - 1}], got "
                         f"[{int(y.min())}, {int(y.max())}]")
    out = np.zeros(y.shape + (n,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out


def pad_sequences(sequences, maxlen: int | None = None, dtype="int32", padding: str = "pre",
                  truncating: str = "pre", value=0.0) -> np.ndarray:
    """Pad/truncate a list of sequences to one length (Keras semantics: 'pre' by default)."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding and truncating must be 'pre' or 'post', got "
                         f"{padding!r} and {truncating!r}")
    seqs = [list(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(s) for s in seqs), default=0)
    sample_shape = ()
    for s in seqs:
        if len(s):
            sample_shape = np.asarray(s).shape[1:]
            break
    out = np.full((len(seqs), maxlen) + sample_shape, value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not len(s) or maxlen == 0:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, maxlen - len(trunc):] = trunc
    return out


class PyDataset:
    """Base for batch sources: define ``__len__`` (batches) and ``__getitem__(i)`` -> (x, y)."""

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        pass

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def on_epoch_end(self) -> None:
        pass


Sequence = PyDataset


def plot_history(history, path: str | None = None, metrics=None):
    """Plot loss/metric curves of a History (train and val) with matplotlib; save if path."""
    import matplotlib

    if path:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h = history.history if hasattr(history, "history") else dict(history)
    names = metrics or sorted({k[4:] if k.startswith("val_") else k for k in h})
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    for ax, name in zip(axes[0], names):
        if name in h:
            ax.plot(range(1, len(h[name]) + 1), h[name], label="train")
        if "val_" + name in h:
            ax.plot(range(1, len(h["val_" + name]) + 1), h["val_" + name], label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    fig.tight_layout()
    if path:
        fig.savefig(path, dpi=100)
        plt.close(fig)
    return fig


def set_random_seed(seed: int) -> None:
    import nerve

    nerve.manual_seed(seed)


def normalize(x, axis=-1, order=2):
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / np.where(n == 0, 1, n)
