"""Training visuals saved as PNG: loss/metric curves, confusion matrices, image grids.

matplotlib is an optional extra (``pip install nerve[plot]``); it is imported only when
a figure is drawn, and its absence gives an ImportError that says how to install it.
Figures are drawn on a bare ``matplotlib.figure.Figure`` with the Agg canvas, never
through ``pyplot``: no global state, no window, works on a headless machine.

    from nerve import plot
    plot.plot_curves({"loss": losses, "val_loss": val_losses}, "runs/curves.png")
    cm = plot.confusion_matrix(y_true, y_pred, 10)          # rows: true, columns: predicted
    plot.plot_confusion_matrix(cm, "runs/cm.png", labels=list("0123456789"))
    plot.image_grid(fake_images, "runs/samples.png", nrow=8, value_range=(-1, 1))

Inputs may be NumPy arrays, nerve Tensors, or anything ``np.asarray`` understands.
"""
from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_curves", "confusion_matrix", "plot_confusion_matrix", "image_grid"]

_PREFIXES = ("val_", "train_", "test_", "validation_")
_SPLITS = ("train", "val", "validation", "test")


def _figure(figsize):
    """A new matplotlib Figure on the Agg canvas (matplotlib imported here, lazily)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("nerve.plot needs matplotlib, an optional extra: "
                          "pip install matplotlib  (or pip install nerve[plot])") from e
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> str:
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    fig.savefig(path, format="png", dpi=fig.dpi)
    return path


def _to_numpy(a) -> np.ndarray:
    """A NumPy array from an array, a nerve Tensor (on any device) or a nested list."""
    if hasattr(a, "detach"):
        a = a.detach()
    if hasattr(a, "numpy") and not isinstance(a, np.ndarray):
        a = a.numpy()
    return np.asarray(a)


# ----------------------------------------------------------------------------- curves

def _series(history) -> dict:
    """Normalise a history into {name: (xs, ys)}."""
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history                       # a Keras History object
    if hasattr(history, "numpy") and not isinstance(history, np.ndarray):
        history = _to_numpy(history)                    # a Tensor of values
    if isinstance(history, Mapping):
        items = list(history.items())
    elif isinstance(history, np.ndarray) or (
            isinstance(history, Sequence) and history and np.isscalar(history[0])):
        items = [("loss", history)]                     # one plain list of numbers
    elif isinstance(history, Sequence):
        items = [(f"series {i}", h) for i, h in enumerate(history)]
    else:
        raise TypeError("plot_curves: history must be a dict {name: values}, a Keras History, "
                        f"a list of numbers or a list of lists, got {type(history).__name__}")
    out = {}
    for name, v in items:
        if isinstance(v, tuple) and len(v) == 2:        # (xs, ys)
            xs, ys = _to_numpy(v[0]).astype(float), _to_numpy(v[1]).astype(float)
        else:
            ys = _to_numpy([float(t) for t in v] if isinstance(v, (list, tuple)) else v)
            ys = ys.astype(float).ravel()
            xs = np.arange(1, len(ys) + 1, dtype=float)
        if xs.shape != ys.shape:
            raise ValueError(f"plot_curves: series {name!r} has {xs.size} x values for "
                             f"{ys.size} y values")
        out[str(name)] = (xs, ys)
    if not out:
        raise ValueError("plot_curves: the history is empty")
    return out


def _group_of(name: str) -> str:
    """'val_loss' and 'loss' share a panel; so do 'train' and 'test' (the main metric)."""
    if name in _SPLITS:
        return "loss"
    for p in _PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    """Trailing moving average over k points (the first points average what exists)."""
    if k <= 1 or y.size < 2:
        return y
    c = np.cumsum(np.insert(y, 0, 0.0))
    n = np.minimum(np.arange(1, y.size + 1), k)
    return (c[1:] - c[np.arange(1, y.size + 1) - n]) / n


def plot_curves(history, path, title: str | None = None, xlabel: str = "epoch",
                ylabel: str | None = None, groups: Sequence[Sequence[str]] | None = None,
                smooth: int = 0, logy: bool = False) -> str:
    """Plot training curves and save them as a PNG; returns the path written.

    Args:
        history: ``{name: values}`` (values a list/array, or an ``(xs, ys)`` pair), a Keras
            ``History``, one list of numbers (plotted as "loss"), or a list of lists.
        path: the PNG file to write (folders are created).
        title: figure title.
        xlabel: label of the x axis ("epoch", "step", ...).
        ylabel: label of the y axes (default: the metric's name when panels are automatic).
        groups: which series share a panel, e.g. ``[["D loss", "G loss"]]`` (the panel is
            titled by the names' common prefix). By default ``x`` and ``val_x`` (also
            ``train_``/``test_``) share a panel, one panel per metric.
        smooth: window of a trailing moving average drawn over the raw curve (noisy
            per-step losses); 0 draws the raw values only.
        logy: logarithmic y axis.
    """
    series = _series(history)
    if groups is None:
        panels: dict[str, list[str]] = {}
        for name in series:
            panels.setdefault(_group_of(name), []).append(name)
        layout = [("", ylabel or metric, names) for metric, names in panels.items()]
    else:
        missing = [n for g in groups for n in g if n not in series]
        if missing:
            raise KeyError(f"plot_curves: groups name {missing}, not in the history "
                           f"(it has {list(series)})")
        layout = [(os.path.commonprefix(list(g)).strip(" _-:") if len(g) > 1 else "",
                   ylabel or "", list(g)) for g in groups]
    fig = _figure((4.2 * len(layout) + 0.6, 3.4))
    axes = fig.subplots(1, len(layout), squeeze=False)[0]
    for ax, (panel_title, label, names) in zip(axes, layout):
        for name in names:
            xs, ys = series[name]
            if smooth > 1:
                line, = ax.plot(xs, ys, alpha=0.25, linewidth=0.8)
                ax.plot(xs, _smooth(ys, smooth), color=line.get_color(), label=name)
            else:
                ax.plot(xs, ys, marker="o" if ys.size <= 30 else None, markersize=3, label=name)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        if all(np.all(np.mod(series[n][0], 1) == 0) for n in names):
            ax.xaxis.get_major_locator().set_params(integer=True)   # epochs, steps
        if panel_title:
            ax.set_title(panel_title, fontsize="medium")
        if logy:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# ----------------------------------------------------------------------- confusion matrix

def confusion_matrix(y_true, y_pred, n: int | None = None) -> np.ndarray:
    """Counts ``cm[i, j]`` = number of samples of true class i predicted as class j.

    Args:
        y_true, y_pred: integer class labels of the same length (arrays, Tensors, lists).
        n: number of classes; default ``max(label) + 1``.

    Returns:
        an int64 array of shape (n, n).
    """
    t = _to_numpy(y_true).ravel()
    p = _to_numpy(y_pred).ravel()
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: y_true has {t.size} labels, y_pred {p.size}")
    for name, a in (("y_true", t), ("y_pred", p)):
        if a.size and not np.issubdtype(a.dtype, np.integer):
            if not np.all(np.equal(np.mod(a, 1), 0)):
                raise ValueError(f"confusion_matrix: {name} must hold integer class labels, "
                                 f"got dtype {a.dtype}")
    t, p = t.astype(np.int64), p.astype(np.int64)
    if n is None:
        n = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
    n = int(n)
    lo, hi = min(t.min(initial=0), p.min(initial=0)), max(t.max(initial=0), p.max(initial=0))
    if t.size and (lo < 0 or hi >= n):
        raise ValueError(f"confusion_matrix: labels must lie in 0..{n - 1}, got {lo}..{hi}")
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n).astype(np.int64)


def plot_confusion_matrix(cm, path, labels: Sequence[str] | None = None,
                          normalize: bool = False, title: str | None = None) -> str:
    """Draw a confusion matrix (rows: true class, columns: predicted) as a PNG.

    Args:
        cm: (n, n) counts, e.g. from :func:`confusion_matrix`.
        path: the PNG file to write.
        labels: n class names (default 0..n-1).
        normalize: colour and print each row as fractions of its true class.
        title: figure title (default: the accuracy, trace / total).
    """
    cm = _to_numpy(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: cm must be square (n, n), got {cm.shape}")
    n = cm.shape[0]
    labels = [str(i) for i in range(n)] if labels is None else [str(s) for s in labels]
    if len(labels) != n:
        raise ValueError(f"plot_confusion_matrix: {len(labels)} labels for a {n}x{n} matrix")
    total = cm.sum()
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    size = max(3.5, 0.45 * n + 1.5)
    fig = _figure((size + 0.8, size))
    ax = fig.subplots()
    im = ax.imshow(shown, cmap="Blues", interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_xticks(range(n), labels, rotation=45 if max(map(len, labels)) > 2 else 0)
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:
        peak = float(shown.max()) if shown.size else 0.0
        for i in range(n):
            for j in range(n):
                v = shown[i, j]
                text = f"{v:.2f}" if normalize else f"{int(v)}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7 if n > 12 else 8,
                        color="white" if peak and v > 0.6 * peak else "black")
    if title is None and total:
        title = f"accuracy {np.trace(cm) / total:.4f} ({int(np.trace(cm))}/{int(total)})"
    if title:
        ax.set_title(title)
    return _save(fig, path)


# ---------------------------------------------------------------------------- image grid

def _as_nhwc(images, channels_first: bool | None) -> np.ndarray:
    a = _to_numpy(images)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        return a[..., None]
    if a.ndim != 4:
        raise ValueError("image_grid: images must be (N, H, W), (N, H, W, C) or (N, C, H, W), "
                         f"got shape {a.shape}")
    if channels_first is None:  # channels-last wins when both readings are possible
        channels_first = a.shape[-1] not in (1, 3, 4) and a.shape[1] in (1, 3, 4)
    if channels_first:
        a = a.transpose(0, 2, 3, 1)
    if a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"image_grid: images must have 1, 3 or 4 channels, got shape {a.shape}")
    return a


def _to_unit(a: np.ndarray, value_range) -> np.ndarray:
    """Map pixel values to [0, 1]: uint8 as 0..255, else [0,1] or [-1,1] if they fit,
    else the batch's min..max. ``value_range=(lo, hi)`` overrides."""
    if value_range is None:
        if _looks_8bit(a):
            lo, hi = 0.0, 255.0
        else:
            mn, mx = float(a.min(initial=0.0)), float(a.max(initial=0.0))
            if mn >= 0.0 and mx <= 1.0:
                lo, hi = 0.0, 1.0
            elif mn >= -1.0 and mx <= 1.0:
                lo, hi = -1.0, 1.0
            else:
                lo, hi = mn, mx
    else:
        lo, hi = (float(v) for v in value_range)
    a = a.astype(np.float32)
    return np.clip((a - lo) / max(hi - lo, 1e-12), 0.0, 1.0)


def _looks_8bit(a: np.ndarray) -> bool:
    """uint8, or integer values above 1 (a float copy of 8-bit pixels)."""
    return a.dtype == np.uint8 or (a.size > 0 and float(a.max()) > 1.5
                                   and np.all(a >= 0) and np.all(np.mod(a, 1) == 0))


def image_grid(images, path, nrow: int = 8, titles: Sequence[str] | None = None,
               value_range: tuple | None = None, padding: int = 2,
               channels_first: bool | None = None, scale: float = 1.0,
               title: str | None = None) -> np.ndarray:
    """Tile images into one grid and save it as a PNG; returns the grid as a float array
    in [0, 1] of shape (rows·(H+p)+p, nrow·(W+p)+p[, C]).

    Args:
        images: (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4 (the layout is
            guessed from where a 1/3/4 axis sits; ``channels_first`` forces it).
        path: the PNG file to write.
        nrow: images per row (as torchvision's ``make_grid``).
        titles: one short caption per image (e.g. "7 (pred 1)"): each image is then drawn
            in its own panel with the caption above it.
        value_range: (lo, hi) of the pixel values, e.g. (-1, 1) for a tanh generator;
            default: 0..255 for integers, [0, 1] or [-1, 1] when the values fit, else the
            batch's min..max.
        padding: pixels between images (the grid background is mid-grey).
        scale: figure size multiplier.
        title: figure title.
    """
    a = _to_unit(_as_nhwc(images, channels_first), value_range)
    n, h, w, c = a.shape
    if n == 0:
        raise ValueError("image_grid: no images to draw")
    if titles is not None and len(titles) != n:
        raise ValueError(f"image_grid: {len(titles)} titles for {n} images")
    nrow = max(1, min(int(nrow), n))
    rows = math.ceil(n / nrow)
    p = max(0, int(padding))
    grid = np.full((rows * (h + p) + p, nrow * (w + p) + p, c), 0.5, dtype=np.float32)
    for k in range(n):
        i, j = divmod(k, nrow)
        grid[p + i * (h + p): p + i * (h + p) + h, p + j * (w + p): p + j * (w + p) + w] = a[k]
    grid = grid[..., 0] if c == 1 else grid
    gray = dict(cmap="gray", vmin=0.0, vmax=1.0) if c == 1 else {}
    if titles is None:
        inch = max(h, w) / 28.0 * 0.75 * scale
        fig = _figure((max(2.0, nrow * inch), max(2.0, rows * inch) + (0.3 if title else 0)))
        ax = fig.subplots()
        ax.imshow(grid, interpolation="nearest", **gray)
        ax.axis("off")
    else:
        fig = _figure((1.3 * nrow * scale, 1.5 * rows * scale + (0.3 if title else 0)))
        axes = fig.subplots(rows, nrow, squeeze=False)
        for k, ax in enumerate(axes.ravel()):
            ax.axis("off")
            if k < n:
                ax.imshow(a[k, ..., 0] if c == 1 else a[k], interpolation="nearest", **gray)
                ax.set_title(str(titles[k]), fontsize=8)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return grid
