"""Run under ``mpiexec -n 2``: data-parallel Keras ``fit`` equals one process.

``python mpi_keras_fit.py OUTDIR``. With SGD and the global ``batch_size`` 2B, two
ranks (B samples each per step) must end with the weights and History (loss,
accuracy, val_loss, val_accuracy) of one process training on the full batch.
ModelCheckpoint must write on rank 0 only; a BatchNormalization model must keep
identical moving statistics on both ranks. Prints ``OK ...`` lines; failures abort.
"""
from __future__ import annotations

import os
import sys

import numpy as np

import nerve
import nerve.distributed as dist
from nerve import keras
from nerve.keras import layers

N, GLOBAL_BATCH, EPOCHS = 96, 16, 2


def build(seed: int, bn: bool = False):
    nerve.manual_seed(seed)
    model = keras.Sequential([keras.Input((10,)), layers.Dense(16, activation="relu")] +
                             ([layers.BatchNormalization()] if bn else []) +
                             [layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def data():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def fit_kwargs(cbs=()):
    return dict(batch_size=GLOBAL_BATCH, epochs=EPOCHS, shuffle=False, verbose=2,
                validation_split=0.25, callbacks=list(cbs))


def main() -> None:
    outdir = sys.argv[1]
    r = dist.rank()
    assert dist.world_size() == 2
    x, y = data()

    # one-process reference (every rank computes it, silently, without communication)
    ref = build(0)
    ref_hist = type(ref).fit(ref, x, y, **{**fit_kwargs(), "verbose": 0}).history

    model = build(0 if r == 0 else 11)  # rank 1 starts elsewhere: fit broadcasts rank 0's
    dist.keras_data_parallel(model)
    ckpt = keras.callbacks.ModelCheckpoint(os.path.join(outdir, f"r{r}.weights.h5"),
                                           monitor="loss", save_weights_only=True)
    calls = []

    class MainOnly(keras.callbacks.Callback):
        main_process_only = True

        def on_epoch_end(self, epoch, logs=None):
            calls.append(epoch)

    hist = model.fit(x, y, **fit_kwargs([ckpt, MainOnly()])).history
    sys.stdout.flush()
    for w, wr in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(w, wr, rtol=1e-5, atol=1e-6)
    assert sorted(hist) == sorted(ref_hist), (sorted(hist), sorted(ref_hist))
    for k in ref_hist:
        np.testing.assert_allclose(hist[k], ref_hist[k], rtol=1e-5, atol=1e-6, err_msg=k)
    mine = np.concatenate([w.ravel() for w in model.get_weights()])
    assert np.array_equal(mine, dist.broadcast(mine.copy(), src=1)), "ranks differ"
    dist.barrier()  # the ranks share the file system: rank 0 wrote, rank 1 did not
    assert os.path.exists(os.path.join(outdir, "r0.weights.h5"))
    assert not os.path.exists(os.path.join(outdir, "r1.weights.h5"))
    assert calls == (list(range(EPOCHS)) if r == 0 else []), calls
    # fit is restored afterwards: evaluate on each rank is local again
    loss_local = model.evaluate(x[:8], y[:8], verbose=0)
    assert isinstance(loss_local, list) and len(loss_local) == 2
    dist.barrier()
    if r == 0:
        print(f"OK keras_fit history={ {k: [round(v, 5) for v in hist[k]] for k in hist} }",
              flush=True)

    # BatchNormalization: moving statistics stay identical on both ranks
    bn = build(3 if r == 0 else 4, bn=True)
    dist.keras_data_parallel(bn)
    bn.fit(x, y, batch_size=GLOBAL_BATCH, epochs=1, verbose=0)
    mine = np.concatenate([w.ravel() for w in bn.get_weights()])
    assert np.array_equal(mine, dist.broadcast(mine.copy(), src=1)), "BN ranks differ"
    if r == 0:
        print("OK keras_bn_consistent", flush=True)


if __name__ == "__main__":
    main()
