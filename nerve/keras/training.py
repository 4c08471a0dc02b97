"""compile / fit / evaluate / predict and the batch-level entry points of Keras models.

The set of weights a model trains is fixed at ``compile`` (Keras 2 semantics): making a
sub-model non-trainable and compiling a combined model freezes it there only, while the
sub-model's own, earlier compiled training still updates it (the classic GAN recipe).
``NERVE_SMOKE=1`` limits fit/evaluate/predict to a few batches per call, for smoke runs.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

from .. import autograd
from ..tensor import Tensor
from . import losses as L
from . import metrics as M
from . import optimizers as O
from .engine import as_tensor, flatten

SMOKE_BATCHES = 3


def smoke() -> bool:
    return os.environ.get("NERVE_SMOKE", "") not in ("", "0")


# --- data plumbing ----------------------------------------------------------------------

def _length(x) -> int:
    flat = flatten(x)
    n = len(flat[0])
    for a in flat[1:]:
        if len(a) != n:
            raise ValueError(f"all input arrays must have the same number of samples, got "
                             f"{[len(a) for a in flat]}")
    return n


def _take(x, idx):
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: _take(v, idx) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_take(v, idx) for v in x)
    if isinstance(x, Tensor):
        return Tensor._wrap(x.data[idx])
    return x[idx]


def _as_arrays(x):
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: _as_arrays(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and x and not np.isscalar(x[0]) and \
            isinstance(x[0], (np.ndarray, Tensor, list)):
        return [_as_arrays(v) for v in x]
    if isinstance(x, Tensor):
        return x.numpy()
    arr = np.asarray(x)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return arr


def _to_tensors(x):
    if isinstance(x, dict):
        return {k: _to_tensors(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_tensors(v) for v in x]
    return as_tensor(x)


def _is_batch_source(x) -> bool:
    """A generator/iterator or a keras.utils.PyDataset-style sequence of batches."""
    if isinstance(x, (np.ndarray, Tensor, list, tuple, dict)) or x is None:
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__") or (
        hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def _split_batch(b):
    if isinstance(b, tuple):
        if len(b) == 1:
            return b[0], None, None
        if len(b) == 2:
            return b[0], b[1], None
        return b[0], b[1], b[2]
    return b, None, None


class _Progbar:
    """Keras' progress line: '469/469 ━━━━━━━━━━━━━━━━━━━━ 12s 25ms/step - loss: 0.1'."""

    def __init__(self, total: int | None, verbose: int) -> None:
        self.total, self.verbose = total, verbose
        self.start = time.perf_counter()
        self.last = 0.0
        self.tty = sys.stdout.isatty()

    @staticmethod
    def fmt_logs(logs: dict) -> str:
        parts = []
        for k in sorted(logs):
            v = logs[k]
            if isinstance(v, (float, int, np.floating)):
                v = float(v)
                parts.append(f"{k}: {v:.4e}" if 0 < abs(v) < 1e-3 else f"{k}: {v:.4f}")
        return "".join(" - " + p for p in parts)

    def update(self, step: int, logs: dict, final: bool = False) -> None:
        if self.verbose != 1:
            return
        now = time.perf_counter()
        if not final and (not self.tty or now - self.last < 0.1):
            return
        self.last = now
        elapsed = now - self.start
        total = self.total or step
        width = 20
        filled = int(width * step / max(total, 1))
        bar = "━" * filled + (" " if filled < width else "") + "━" * max(width - filled - 1, 0) \
            if not final else "━" * width
        per = elapsed / max(step, 1)
        tail = f"{int(round(elapsed))}s {per * 1e3:.0f}ms/step" if final else \
            f"{int(round(per * (total - step)))}s"
        line = f"{step}/{total} {bar} {tail}{self.fmt_logs(logs)}"
        if self.tty:
            sys.stdout.write("\r" + line + ("\n" if final else ""))
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def finish_verbose2(self, step: int, logs: dict) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"{step}/{self.total or step} - {int(round(elapsed))}s - "
              f"{elapsed / max(step, 1) * 1e3:.0f}ms/step{self.fmt_logs(logs)}", flush=True)


# --- the trainer mixin ------------------------------------------------------------------

class Trainer:
    """compile/fit/evaluate/predict for Model (mixed in; relies on Layer's weight lists)."""

    def __init__(self) -> None:
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._loss_spec = None
        self._metric_spec = None

    # --- compile --------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, **kwargs) -> None:
        self.optimizer = O.get(optimizer)
        if loss is None:
            raise ValueError("compile: a loss is required (e.g. loss='mse'), got None")
        n_out = len(getattr(self, "outputs", None) or [None])
        out_names = self._output_names()
        if isinstance(loss, dict):
            self._loss_fns = [L.get(loss[name]) if name in loss else None for name in out_names]
        elif isinstance(loss, (list, tuple)):
            if len(loss) != n_out:
                raise ValueError(f"compile: {len(loss)} losses given for {n_out} outputs")
            self._loss_fns = [L.get(x) for x in loss]
        else:
            self._loss_fns = [L.get(loss)] * n_out
        if isinstance(loss_weights, dict):
            loss_weights = [loss_weights.get(n, 1.0) for n in out_names]
        self._loss_weights = list(loss_weights) if loss_weights is not None else [1.0] * n_out
        self._loss_spec = loss
        self._metric_spec = metrics
        self._metrics = None  # resolved on the first batch (needs shapes)
        self._train_weights = list(self.trainable_weights)
        self._all_params = [w for w in self.weights if w.requires_grad or id(w) in
                            {id(t) for t in self._train_weights}]
        self.compiled = True
        self.loss = loss
        from .. import distributed  # cheap and inert (no mpi4py import) unless under mpiexec

        if distributed.launched():
            distributed.keras_data_parallel(self)

    def _output_names(self) -> list:
        outs = getattr(self, "outputs", None) or [None]
        names = []
        for t in outs:
            layer = t._keras_history[0] if t is not None else None
            names.append(layer.name if layer is not None else "output")
        return names

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"{self.name}.{what}: the model must be compiled first "
                               f"(model.compile(optimizer=..., loss=...))")

    # --- losses and metrics ---------------------------------------------------------
    def _resolve_metrics(self, ys, preds) -> None:
        if self._metrics is not None:
            return
        spec = self._metric_spec
        names = self._output_names()
        per_out = []
        for i, (fn, p) in enumerate(zip(self._loss_fns, preds)):
            if isinstance(spec, dict):
                ms = spec.get(names[i], [])
            elif isinstance(spec, (list, tuple)) and spec and isinstance(spec[0], (list, tuple)):
                ms = spec[i]
            else:
                ms = spec or []
            ms = [ms] if isinstance(ms, str) or callable(ms) else list(ms)
            objs = [M.resolve(m, fn, None, tuple(p.shape)) for m in ms]
            if len(preds) > 1:
                for o in objs:
                    o.name = f"{names[i]}_{o.name}"
            per_out.append(objs)
        self._metrics = per_out

    def _compute_loss(self, ys, preds, sw, training: bool):
        total = None
        per = []
        for fn, w, y, p in zip(self._loss_fns, self._loss_weights, ys, preds):
            if fn is None:
                per.append(None)
                continue
            if y is None:
                raise ValueError(f"{self.name}: targets (y) are required to compute the loss")
            yt = y if isinstance(y, Tensor) else as_tensor(y)
            val = L.reduce_loss(fn(yt, p) if not isinstance(fn, L.Loss) else fn.call(yt, p), sw)
            per.append(val)
            total = val * w if total is None else total + val * w
        reg = self.losses
        for r in reg:
            total = total + r
        return total, per

    # --- one batch ------------------------------------------------------------------
    def _forward(self, x, training: bool):
        self._clear_activity_losses()
        out = self(_to_tensors(x), training=training)
        return out

    def _train_batch(self, x, y, sw):
        train_ids = {id(w) for w in self._train_weights}
        params = self.weights
        saved = [p.requires_grad for p in params]
        for p in params:
            if hasattr(p, "_keras_name") or p.requires_grad:
                p.requires_grad = id(p) in train_ids
        try:
            with autograd.enable_grad():
                preds = self._forward(x, True)
                plist = flatten(preds)
                ys = self._targets(y, len(plist))
                self._check_targets(ys, plist)
                loss, per = self._compute_loss(ys, plist, sw, True)
                if loss is None:
                    raise ValueError("no loss to minimise")
                for w in self._train_weights:
                    w.grad = None
                if loss.requires_grad:
                    loss.backward()
            self.optimizer.apply_gradients([(w.grad, w) for w in self._train_weights])
            for w in self._train_weights:
                w.grad = None
            self.apply_constraints()
        finally:
            for p, s in zip(params, saved):
                p.requires_grad = s
        return loss, per, ys, plist

    def _targets(self, y, n: int) -> list:
        if n == 1:
            return [y if not isinstance(y, (list, tuple)) or len(y) != 1 else y[0]]
        if isinstance(y, dict):
            return [y.get(name) for name in self._output_names()]
        if isinstance(y, (list, tuple)) and len(y) == n:
            return list(y)
        raise ValueError(f"{self.name}: the model has {n} outputs, so y must be a list of {n} "
                         f"arrays or a dict keyed by output name")

    def _check_targets(self, ys, preds) -> None:
        for fn, y, p in zip(self._loss_fns, ys, preds):
            if y is None or fn is None:
                continue
            shape = tuple(np.shape(y.data if isinstance(y, Tensor) else y))
            if len(shape) and shape[0] != p.shape[0]:
                raise ValueError(f"{self.name}: y has {shape[0]} samples but x has {p.shape[0]}")

    def _update_metrics(self, ys, preds, sw) -> None:
        self._resolve_metrics(ys, preds)
        for objs, y, p in zip(self._metrics, ys, preds):
            for m in objs:
                m.update_state(y, p.detach(), sw)

    def _reset_metrics(self) -> None:
        if self._metrics:
            for objs in self._metrics:
                for m in objs:
                    m.reset_state()

    def _metric_logs(self) -> dict:
        out = {}
        for objs in self._metrics or []:
            for m in objs:
                out[m.name] = m.result()
        return out

    # --- batch-level API ------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       reset_metrics: bool = True, return_dict: bool = False):
        """One gradient step on one batch; returns the loss (and metrics of this batch)."""
        self._require_compiled("train_on_batch")
        x, y, sw = _as_arrays(x), _as_arrays(y), sample_weight
        if class_weight is not None:
            sw = _class_weights(y, class_weight, sw)
        if reset_metrics:
            self._reset_metrics()
        loss, _per, ys, preds = self._train_batch(x, y, sw)
        self._update_metrics(ys, preds, sw)
        return self._result(float(loss.item()), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, reset_metrics: bool = True,
                      return_dict: bool = False):
        self._require_compiled("test_on_batch")
        if reset_metrics:
            self._reset_metrics()
        with autograd.no_grad():
            preds = flatten(self._forward(_as_arrays(x), False))
            ys = self._targets(_as_arrays(y), len(preds))
            loss, _ = self._compute_loss(ys, preds, sample_weight, False)
        self._update_metrics(ys, preds, sample_weight)
        return self._result(float(loss.item()), return_dict)

    def predict_on_batch(self, x):
        with autograd.no_grad():
            out = self._forward(_as_arrays(x), False)
        return _numpy_out(out)

    def _result(self, loss: float, return_dict: bool):
        logs = {"loss": loss, **self._metric_logs()}
        if return_dict:
            return logs
        if len(logs) == 1:
            return loss
        return [loss] + [v for k, v in logs.items() if k != "loss"]

    # --- fit ------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs: int = 1, verbose="auto",
            callbacks=None, validation_split: float = 0.0, validation_data=None,
            shuffle=True, class_weight=None, sample_weight=None, initial_epoch: int = 0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq: int = 1, **kwargs):
        """Train for ``epochs`` epochs; returns a History whose ``.history`` maps names to lists."""
        from .callbacks import CallbackList, History

        self._require_compiled("fit")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = batch_size or 32
        source = _is_batch_source(x)
        if not source:
            x, y = _as_arrays(x), _as_arrays(y)
            sample_weight = None if sample_weight is None else np.asarray(sample_weight)
            n = _length(x)
            if y is not None:
                ny = _length(y)
                if ny != n:
                    raise ValueError(f"fit: x and y have different numbers of samples: x has {n}, "
                                     f"y has {ny}")
            self._precheck(x, y)
            if validation_split and validation_data is None:
                if not 0 < validation_split < 1:
                    raise ValueError(f"fit: validation_split must be in (0, 1), got "
                                     f"{validation_split}")
                cut = int(n * (1 - validation_split))
                idx_t, idx_v = np.arange(cut), np.arange(cut, n)
                validation_data = (_take(x, idx_v), _take(y, idx_v))
                x, y = _take(x, idx_t), _take(y, idx_t)
                if sample_weight is not None:
                    sample_weight = sample_weight[:cut]
                n = cut
            if class_weight is not None:
                sample_weight = _class_weights(y, class_weight, sample_weight)
            steps = steps_per_epoch or math.ceil(n / batch_size)
        else:
            n = None
            steps = steps_per_epoch or (len(x) if hasattr(x, "__len__") else None)
        if smoke():
            steps = min(steps or SMOKE_BATCHES, SMOKE_BATCHES)
        self.history = History()
        cbs = CallbackList(callbacks, model=self, history=self.history,
                           params={"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        cbs.on_train_begin()
        rng = np.random.default_rng(np.random.randint(0, 2**31))
        it = None
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            bar = _Progbar(steps, verbose)
            self._reset_metrics()
            loss_mean = M.Mean("loss")
            if not source:
                order = rng.permutation(n) if shuffle else np.arange(n)
            elif it is None or hasattr(x, "__getitem__"):
                it = iter(x) if not hasattr(x, "__getitem__") or hasattr(x, "__next__") else None
            step = 0
            while steps is None or step < steps:
                if not source:
                    if step * batch_size >= n:
                        break
                    idx = order[step * batch_size:(step + 1) * batch_size]
                    xb, yb = _take(x, idx), _take(y, idx)
                    swb = None if sample_weight is None else sample_weight[idx]
                else:
                    try:
                        b = next(it) if it is not None else x[step]
                    except (StopIteration, IndexError):
                        break
                    xb, yb, swb = _split_batch(b)
                    xb, yb = _as_arrays(xb), _as_arrays(yb)
                cbs.on_train_batch_begin(step)
                loss, _per, ys, preds = self._train_batch(xb, yb, swb)
                lv = float(loss.item())
                bs = len(flatten(xb)[0])
                loss_mean.update_state(lv, bs)
                self._update_metrics(ys, preds, swb)
                step += 1
                logs = {"loss": loss_mean.result(), **self._metric_logs()}
                cbs.on_train_batch_end(step - 1, logs)
                bar.update(step, logs)
                if self.stop_training:
                    break
            if source and hasattr(x, "on_epoch_end"):
                x.on_epoch_end()
            logs = {"loss": loss_mean.result(), **self._metric_logs()}
            if validation_data is not None and (epoch + 1) % validation_freq == 0:
                vx, vy, vsw = _split_batch(tuple(validation_data)) if isinstance(
                    validation_data, (tuple, list)) else (validation_data, None, None)
                vlogs = self.evaluate(vx, vy, batch_size=validation_batch_size or batch_size,
                                      sample_weight=vsw, verbose=0, return_dict=True,
                                      steps=validation_steps)
                logs.update({"val_" + k: v for k, v in vlogs.items()})
            if verbose == 1:
                bar.update(step, logs, final=True)
            elif verbose == 2:
                bar.finish_verbose2(step, logs)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()
        return self.history

    def _precheck(self, x, y) -> None:
        """Catch loss/target mismatches before any training step."""
        if y is None or not getattr(self, "outputs", None):
            return
        ys = self._targets(y, len(self.outputs))
        for fn, yy, out in zip(self._loss_fns, ys, self.outputs):
            if fn is None or yy is None:
                continue
            name = L.loss_name(fn)
            ys_shape = np.shape(yy)
            want = out.shape
            if name == "categorical_crossentropy" and len(ys_shape) != len(want):
                raise ValueError(f"fit: loss categorical_crossentropy expects one-hot targets of "
                                 f"shape {(None,) + tuple(want[1:])}, got y of shape {ys_shape}; "
                                 f"use keras.utils.to_categorical(y) or "
                                 f"loss='sparse_categorical_crossentropy' for integer labels")
            if name == "categorical_crossentropy" and ys_shape[-1] != want[-1]:
                raise ValueError(f"fit: loss categorical_crossentropy: y has {ys_shape[-1]} "
                                 f"classes per sample but the model outputs {want[-1]}")
            if name == "sparse_categorical_crossentropy" and len(ys_shape) == len(want) \
                    and ys_shape[-1] != 1:
                raise ValueError(f"fit: loss sparse_categorical_crossentropy expects integer "
                                 f"labels of shape {(None,) + tuple(want[1:-1])}, got y of shape "
                                 f"{ys_shape}; use loss='categorical_crossentropy' for one-hot y")

    # --- evaluate / predict ---------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict: bool = False, **kwargs):
        """Loss (and metrics) over the data, in inference mode."""
        self._require_compiled("evaluate")
        verbose = 1 if verbose == "auto" else int(verbose)
        batch_size = batch_size or 32
        self._reset_metrics()
        loss_mean = M.Mean("loss")
        batches = self._batches(x, y, sample_weight, batch_size, steps)
        bar = _Progbar(batches[1], verbose)
        step = 0
        with autograd.no_grad():
            for xb, yb, swb in batches[0]:
                preds = flatten(self._forward(xb, False))
                ys = self._targets(yb, len(preds))
                loss, _ = self._compute_loss(ys, preds, swb, False)
                loss_mean.update_state(float(loss.item()), len(flatten(xb)[0]))
                self._update_metrics(ys, preds, swb)
                step += 1
                bar.update(step, {"loss": loss_mean.result(), **self._metric_logs()})
        logs = {"loss": loss_mean.result(), **self._metric_logs()}
        if verbose == 1:
            bar.update(step, logs, final=True)
        return self._result(logs["loss"], return_dict) if not return_dict else logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for every sample, as NumPy arrays, in inference mode."""
        batch_size = batch_size or 32
        batches, total = self._batches(x, None, None, batch_size, steps)
        # 'auto' is quiet here: predict() is often called once per step inside user loops
        verbose = 0 if verbose == "auto" else int(verbose)
        bar = _Progbar(total, verbose)
        outs = []
        step = 0
        with autograd.no_grad():
            for xb, _yb, _sw in batches:
                outs.append(_numpy_out(self._forward(xb, False)))
                step += 1
                bar.update(step, {})
        if verbose == 1:
            bar.update(step, {}, final=True)
        if not outs:
            return np.zeros((0,))
        if isinstance(outs[0], list):
            return [np.concatenate([o[i] for o in outs]) for i in range(len(outs[0]))]
        return np.concatenate(outs)

    def _batches(self, x, y, sw, batch_size, steps):
        if _is_batch_source(x):
            total = steps or (len(x) if hasattr(x, "__len__") else None)
            if smoke():
                total = min(total or SMOKE_BATCHES, SMOKE_BATCHES)

            def gen():
                it = iter(x) if not (hasattr(x, "__getitem__") and not hasattr(x, "__next__")) \
                    else (x[i] for i in range(len(x)))
                for i, b in enumerate(it):
                    if total is not None and i >= total:
                        break
                    xb, yb, swb = _split_batch(b)
                    yield _as_arrays(xb), _as_arrays(yb), swb

            return gen(), total
        x, y = _as_arrays(x), _as_arrays(y)
        n = _length(x)
        if y is not None and _length(y) != n:
            raise ValueError(f"x and y have different numbers of samples: x has {n}, y has "
                             f"{_length(y)}")
        total = math.ceil(n / batch_size)
        if steps:
            total = min(total, steps)
        if smoke():
            total = min(total, SMOKE_BATCHES)

        def gen():
            for i in range(total):
                idx = slice(i * batch_size, (i + 1) * batch_size)
                yield _take(x, idx), _take(y, idx), None if sw is None else np.asarray(sw)[idx]

        return gen(), total


def _numpy_out(out):
    if isinstance(out, (list, tuple)):
        return [o.numpy() for o in out]
    if isinstance(out, dict):
        return {k: v.numpy() for k, v in out.items()}
    return out.numpy()


def _class_weights(y, class_weight: dict, sw):
    y = np.asarray(y)
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    w = np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=np.float32)
    return w if sw is None else w * np.asarray(sw, dtype=np.float32)
