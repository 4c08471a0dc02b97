"""Callbacks and model files (JSON architecture + safetensors weights, no code on load)."""
import numpy as np
import pytest

import nerve
from nerve.keras import Input, Model, Sequential, callbacks, layers
from nerve.keras.layers import Dense
from nerve.keras.models import load_model


def _model():
    m = Sequential([Dense(4, activation="relu", input_shape=(3,)), Dense(1)])
    m.compile("adam", "mse", metrics=["mae"])
    return m


def _xy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    return x, x.sum(1, keepdims=True)


def test_early_stopping_restores_best(tmp_path):
    x, y = _xy()
    m = _model()
    cb = callbacks.EarlyStopping(monitor="loss", patience=1, restore_best_weights=True,
                                 min_delta=10.0)
    hist = m.fit(x, y, epochs=10, callbacks=[cb], verbose=0)
    assert len(hist.history["loss"]) < 10


def test_checkpoint_csv_scheduler_plateau_nan(tmp_path):
    x, y = _xy()
    m = _model()
    path = tmp_path / "best.keras"
    csv_path = tmp_path / "log.csv"
    cbs = [callbacks.ModelCheckpoint(str(path), monitor="loss", save_best_only=True),
           callbacks.CSVLogger(str(csv_path)),
           callbacks.LearningRateScheduler(lambda e, lr: 0.01 * 0.5 ** e),
           callbacks.ReduceLROnPlateau(monitor="loss", patience=100),
           callbacks.TerminateOnNaN()]
    m.fit(x, y, epochs=3, callbacks=cbs, verbose=0)
    assert path.exists()
    assert csv_path.read_text().splitlines()[0].startswith("epoch,")
    assert m.optimizer.learning_rate == pytest.approx(0.0025)
    restored = load_model(str(path))
    assert restored.predict(x[:2]).shape == (2, 1)


def test_save_load_roundtrip_functional_and_weights(tmp_path):
    x, y = _xy()
    i = Input(shape=(3,))
    h = layers.Dense(5, activation="tanh", kernel_regularizer=nerve.keras.regularizers.l2(1e-3))(i)
    o = layers.Dense(1)(layers.Dropout(0.2)(h))
    m = Model(i, o)
    m.compile("rmsprop", "mse")
    m.fit(x, y, epochs=1, verbose=0)
    f = tmp_path / "m.keras"
    m.save(f)
    m2 = load_model(f)
    np.testing.assert_allclose(m2.predict(x), m.predict(x), rtol=1e-6)
    assert m2.compiled
    wf = tmp_path / "w.weights.h5"
    m.save_weights(wf)
    m3 = load_model(f)
    for w in m3.weights:
        w.data[...] = 0
    m3.load_weights(wf)
    np.testing.assert_allclose(m3.predict(x), m.predict(x), rtol=1e-6)


def test_bad_files_rejected(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"\x80\x04not a model")
    with pytest.raises(ValueError, match="bad.keras"):
        load_model(bad)
    m = Sequential([layers.Lambda(lambda t: t * 2, input_shape=(3,))])
    with pytest.raises(ValueError, match="Lambda"):
        m.save(tmp_path / "lam.keras")
