"""Data-parallel Keras ``fit`` over the MPI job.

``keras_data_parallel(model)`` makes ``model.fit`` data-parallel when the job has more
than one rank (and leaves it untouched otherwise). During such a ``fit``:

- ``batch_size`` is the *global* batch, as with ``tf.distribute``: each of the N ranks
  trains on ``batch_size // N`` samples per step, so a script gives the same training
  whatever N it is launched with (N ranks reproduce one process with the full batch);
- each rank trains on its own shard of ``x``/``y``/``sample_weight``: samples
  r, r+N, r+2N, ... (padded by repeating the first samples so that the shards have
  equal sizes and every rank runs the same number of steps); ``validation_split`` is
  taken from the whole data first, as Keras does, and validation data is sharded too;
- rank 0's weights are copied to every rank before the first step; at every step the
  gradients are averaged over the ranks (bucketed all-reduce) before the optimizer
  applies them, and BatchNormalization moving statistics are averaged too (each rank
  normalises with its shard's batch statistics: Keras' default, unsynchronised BN);
- the loss and the metrics in the logs, the progress bar and the History are those of
  the global batch/epoch (metric totals and counts are summed over the ranks, exact);
- the progress bar and callback messages appear on rank 0 only, and ModelCheckpoint,
  CSVLogger and callbacks with ``main_process_only = True`` run on rank 0 only; the
  others (EarlyStopping, ReduceLROnPlateau, ...) run on every rank on the same global
  logs, so every rank takes the same decisions.

A generator / PyDataset ``x`` is taken to be already this rank's shard (make it yield
different data per rank, e.g. with ``nerve.distributed.rank()``); every rank runs the
smallest number of steps among the ranks.
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np

from ..tensor import Tensor
from .buckets import Bucketer
from .collectives import all_gather, all_reduce
from .ddp import _check_same_structure
from .env import is_main, rank, world_size

__all__ = ["keras_data_parallel"]

_PATCHED = ("_train_batch", "_metric_logs", "evaluate")


def keras_data_parallel(model):
    """Make ``model.fit`` data-parallel over the MPI job; returns ``model``.

    Patches the instance only (``model.fit``); with one process ``fit`` runs unchanged.
    """
    if model.__dict__.get("_nerve_data_parallel"):
        return model
    cls_fit = type(model).fit
    sig = inspect.signature(cls_fit)

    def fit(*args, **kwargs):
        if world_size() == 1:
            return cls_fit(model, *args, **kwargs)
        bound = sig.bind(model, *args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        a.pop(next(iter(sig.parameters)))  # self
        extra = a.pop("kwargs", {})
        return _DataParallelFit(model).run(cls_fit, a, extra)

    fit.__doc__ = cls_fit.__doc__
    model.fit = fit
    model._nerve_data_parallel = True
    return model


# --- sharding -----------------------------------------------------------------------------

def _shard(n: int, world: int, r: int, pad: bool) -> np.ndarray:
    """Indices r, r+world, ... of 0..n-1; with ``pad`` the list is first extended by
    repeating its start up to a multiple of ``world`` (equal shard sizes)."""
    idx = np.arange(n, dtype=np.int64)
    if pad and n % world:
        total = -(-n // world) * world
        idx = np.resize(idx, total) if n else idx
    return idx[r::world]


class _DataParallelFit:
    def __init__(self, model) -> None:
        self.model = model
        self.world, self.rank = world_size(), rank()
        self.phase = "train"
        self.synced = False
        self.bucketer = Bucketer()

    # --- fit ------------------------------------------------------------------------------
    def run(self, cls_fit, a: dict, extra: dict):
        from ..keras import training as T

        model, n, r = self.model, self.world, self.rank
        x, y = a["x"], a["y"]
        if T._is_batch_source(x):
            steps = a["steps_per_epoch"] or (len(x) if hasattr(x, "__len__") else None)
            counts = all_gather(steps)
            if any(c is None for c in counts):
                raise ValueError("fit under MPI: a generator without len() needs "
                                 "steps_per_epoch, so that every rank runs the same number of "
                                 "steps")
            a["steps_per_epoch"] = min(counts)
        else:
            x, y = T._as_arrays(x), T._as_arrays(y)
            sw = a["sample_weight"]
            sw = None if sw is None else np.asarray(sw)
            total = T._length(x)
            vs = a["validation_split"]
            if vs and a["validation_data"] is None:
                if not 0 < vs < 1:
                    raise ValueError(f"fit: validation_split must be in (0, 1), got {vs}")
                cut = int(total * (1 - vs))
                iv = np.arange(cut, total)
                a["validation_data"] = (T._take(x, iv), T._take(y, iv))
                it = np.arange(cut)
                x, y = T._take(x, it), T._take(y, it)
                sw = None if sw is None else sw[:cut]
                total = cut
            a["validation_split"] = 0.0
            idx = _shard(total, n, r, pad=True)
            a["x"], a["y"] = T._take(x, idx), T._take(y, idx)
            a["sample_weight"] = None if sw is None else sw[idx]
        bs = a["batch_size"] or 32
        if bs < n:
            raise ValueError(f"fit under MPI: batch_size={bs} is the global batch and must be "
                             f"at least the number of ranks ({n})")
        if bs % n and is_main():
            warnings.warn(f"fit under MPI: the global batch_size={bs} is not a multiple of the "
                          f"{n} ranks; each rank uses {bs // n} samples per step", stacklevel=3)
        a["batch_size"] = bs // n
        if a["validation_batch_size"]:
            a["validation_batch_size"] = max(1, a["validation_batch_size"] // n)
        cbs = list(a["callbacks"] or [])
        restore_verbose = []
        if not is_main():
            a["verbose"] = 0
            cbs = [cb for cb in cbs if not _main_only(cb)]
            for cb in cbs:
                if getattr(cb, "verbose", 0):
                    restore_verbose.append((cb, cb.verbose))
                    cb.verbose = 0
        a["callbacks"] = cbs
        opt = model.optimizer
        saved_apply = opt.__dict__.get("apply_gradients")
        orig_apply = opt.apply_gradients
        orig = {name: getattr(model, name) for name in _PATCHED}
        opt.apply_gradients = self._apply_gradients(orig_apply)
        model._train_batch = self._train_batch(orig["_train_batch"])
        model._metric_logs = self._metric_logs(orig["_metric_logs"])
        model.evaluate = self._evaluate(orig["evaluate"])
        try:
            return cls_fit(model, **a, **extra)
        finally:
            for name in _PATCHED:
                model.__dict__.pop(name, None)
            if saved_apply is None:
                opt.__dict__.pop("apply_gradients", None)
            else:
                opt.apply_gradients = saved_apply
            for cb, v in restore_verbose:
                cb.verbose = v

    # --- weights ------------------------------------------------------------------------
    def _sync_weights(self, xb) -> None:
        """Build the model if needed (inference-mode forward on the first batch), check
        that all ranks built the same model, then copy rank 0's weights everywhere."""
        from ..autograd import no_grad

        model = self.model
        if not model.weights or not getattr(model, "built", True):
            with no_grad():
                model._forward(xb, False)
        ws = model.weights
        _check_same_structure([(w.__dict__.get("_keras_name", str(i)), tuple(w.shape),
                                w.data.dtype.str) for i, w in enumerate(ws)],
                              f"fit under MPI ({model.name})")
        Bucketer().broadcast([w.data for w in ws], 0)
        self.synced = True

    def _moving_stats(self) -> list:
        return [w for w in self.model.non_trainable_weights
                if str(w.__dict__.get("_keras_name", "")).startswith("moving_")
                and w.data.dtype.kind == "f"]

    # --- the patched methods ------------------------------------------------------------
    def _apply_gradients(self, orig_apply):
        def apply_gradients(grads_and_vars):
            pairs = list(grads_and_vars)
            stats = self._moving_stats()
            arrays = [g.data if isinstance(g, Tensor) else g for g, _ in pairs] + \
                [w.data for w in stats]
            metas = [(tuple(w.shape), w.data.dtype) for _, w in pairs] + \
                [(tuple(w.shape), w.data.dtype) for w in stats]
            out = self.bucketer.all_reduce_mean(arrays, metas)
            k = len(pairs)
            for w, v in zip(stats, out[k:]):
                w.data[...] = v
            return orig_apply([(None if g is None else Tensor._wrap(g), w)
                               for g, (_, w) in zip(out[:k], pairs)])

        return apply_gradients

    def _train_batch(self, orig):
        def train_batch(xb, yb, swb):
            if not self.synced:
                self._sync_weights(xb)
            loss, per, ys, preds = orig(xb, yb, swb)
            mean = all_reduce(float(loss.item()), "mean")
            return Tensor._wrap(np.asarray(mean, dtype=loss.data.dtype)), per, ys, preds

        return train_batch

    def _metric_logs(self, orig):
        def metric_logs():
            objs = [m for group in (self.model._metrics or []) for m in group]
            if self.phase != "train" or not objs:
                return orig()
            if all(hasattr(m, "total") and hasattr(m, "count") for m in objs):
                sums = all_reduce([v for m in objs for v in (float(m.total), float(m.count))],
                                  "sum")
                return {m.name: (t / c if c else 0.0)
                        for m, t, c in zip(objs, sums[0::2], sums[1::2])}
            return all_reduce(orig(), "mean")

        return metric_logs

    def _evaluate(self, orig):
        from ..keras import training as T

        def evaluate(x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                     steps=None, callbacks=None, return_dict=False, **kwargs):
            n, r = self.world, self.rank
            if not T._is_batch_source(x):
                x, y = T._as_arrays(x), T._as_arrays(y)
                idx = _shard(T._length(x), n, r, pad=False)
                x, y = T._take(x, idx), T._take(y, idx)
                if sample_weight is not None:
                    sample_weight = np.asarray(sample_weight)[idx]
                weight = float(len(idx))
            else:
                weight = 1.0
            self.phase = "eval"
            try:
                logs = orig(x, y, batch_size=batch_size, verbose=0, sample_weight=sample_weight,
                            steps=steps, return_dict=True)
            finally:
                self.phase = "train"
            objs = [m for group in (self.model._metrics or []) for m in group]
            exact = all(hasattr(m, "total") and hasattr(m, "count") for m in objs)
            vec = [float(logs["loss"]) * weight, weight]
            if exact:
                vec += [v for m in objs for v in (float(m.total), float(m.count))]
            else:
                vec += [float(logs[m.name]) * weight for m in objs]
            sums = all_reduce(vec, "sum")
            w = sums[1] or 1.0
            out = {"loss": sums[0] / w}
            for i, m in enumerate(objs):
                if exact:
                    t, c = sums[2 + 2 * i], sums[3 + 2 * i]
                    out[m.name] = t / c if c else 0.0
                else:
                    out[m.name] = sums[2 + i] / w
            if return_dict:
                return out
            return out["loss"] if len(out) == 1 else list(out.values())

        return evaluate


def _main_only(cb) -> bool:
    """Callbacks that write files (or say so) run on rank 0 only."""
    if getattr(cb, "main_process_only", False):
        return True
    from ..keras import callbacks as C

    kinds = tuple(getattr(C, k) for k in ("ModelCheckpoint", "CSVLogger", "ProgbarLogger",
                                          "TensorBoard", "BackupAndRestore") if hasattr(C, k))
    return isinstance(cb, kinds)
