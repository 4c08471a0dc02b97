"""Keras models: Sequential/functional build, summary counts, fit/evaluate/predict, errors."""
import numpy as np
import pytest

import nerve
from nerve.keras import Input, Model, Sequential, layers
from nerve.keras.layers import Dense, Dropout
from nerve.keras.utils import to_categorical


def _data(n=200, d=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def test_summary_counts_match_keras(capsys):
    model = Sequential([Dense(64, activation="relu", input_shape=(10,)),
                        Dense(64, activation="relu"), Dense(1, activation="sigmoid")])
    model.summary()
    out = capsys.readouterr().out
    for s in ("704", "4,160", "65", "Total params: 4,929", "Trainable params: 4,929",
              "Non-trainable params: 0"):
        assert s in out
    assert "(None, 64)" in out and "(None, 1)" in out


def test_sequential_add_pop_and_lazy_build():
    model = Sequential()
    model.add(Dense(8, input_dim=4))
    model.add(Dense(3))
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    model.pop()
    assert len(model.layers) == 1
    lazy = Sequential([Dense(5), Dense(2)])
    out = lazy.predict(np.zeros((3, 7), np.float32))
    assert out.shape == (3, 2) and out.dtype == np.float32
    assert lazy.count_params() == 7 * 5 + 5 + 5 * 2 + 2


def test_fit_learns_and_history():
    x, y = _data()
    nerve.manual_seed(0)
    model = Sequential([Dense(16, activation="relu", input_shape=(10,)), Dropout(0.1),
                        Dense(2, activation="softmax")])
    model.compile(optimizer=nerve.keras.optimizers.Adam(0.01), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    hist = model.fit(x, to_categorical(y), epochs=15, batch_size=32, validation_split=0.25,
                     verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(hist.history["loss"]) == 15
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    loss, acc = model.evaluate(x, to_categorical(y), verbose=0)
    assert acc > 0.85
    pred = model.predict(x, verbose=0)
    assert pred.shape == (200, 2) and np.allclose(pred.sum(1), 1, atol=1e-5)


def test_functional_multi_input_shared_layer_and_nested_model():
    a, b = Input(shape=(4,)), Input(shape=(4,))
    shared = Dense(3, activation="tanh")
    merged = layers.Concatenate()([shared(a), shared(b)])
    out = Dense(1)(merged)
    model = Model([a, b], out)
    assert model.count_params() == (4 * 3 + 3) + (6 + 1)
    xa = np.ones((5, 4), np.float32)
    assert model.predict([xa, xa]).shape == (5, 1)
    # a model used as a layer inside another
    inner = Sequential([Dense(2, input_shape=(3,))])
    z = Input(shape=(3,))
    outer = Model(z, Dense(1)(inner(z)))
    assert outer.predict(np.zeros((2, 3), np.float32)).shape == (2, 1)
    assert outer.count_params() == 3 * 2 + 2 + 2 + 1


def test_subclassed_model():
    class Net(Model):
        def __init__(self):
            super().__init__()
            self.d1 = Dense(4, activation="relu")
            self.d2 = Dense(1)

        def call(self, x):
            return self.d2(self.d1(x))

    net = Net()
    net.compile("sgd", "mse")
    x, y = _data(64, 3)
    net.fit(x, y.astype(np.float32), epochs=2, verbose=0)
    assert net.count_params() == 3 * 4 + 4 + 4 + 1


def test_gan_trainable_taken_at_compile_and_shared_optimizer():
    """Keras 2 semantics: D frozen in the combined model only; one Adam serves both."""
    nerve.manual_seed(0)
    opt = nerve.keras.optimizers.Adam(0.0002, 0.5)
    disc = Sequential([Dense(8, input_shape=(4,)), layers.LeakyReLU(alpha=0.2),
                       Dense(1, activation="sigmoid")])
    disc.compile(loss="binary_crossentropy", optimizer=opt, metrics=["accuracy"])
    gen = Sequential([Dense(4, input_dim=3)])
    z = Input(shape=(3,))
    disc.trainable = False
    combined = Model(z, disc(gen(z)))
    combined.compile(loss="binary_crossentropy", optimizer=opt)
    d0 = [w.copy() for w in disc.get_weights()]
    g0 = [w.copy() for w in gen.get_weights()]
    noise = np.random.default_rng(0).standard_normal((16, 3))
    g_loss = combined.train_on_batch(noise, np.ones((16, 1)))
    assert np.isfinite(g_loss)
    assert all(np.array_equal(a, b) for a, b in zip(d0, disc.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(g0, gen.get_weights()))
    d_loss = disc.train_on_batch(np.ones((16, 4)), np.zeros((16, 1)))
    assert len(d_loss) == 2  # [loss, accuracy]
    assert not all(np.array_equal(a, b) for a, b in zip(d0, disc.get_weights()))
    assert opt.iterations == 2


def test_errors_before_training():
    x, y = _data()
    model = Sequential([Dense(2, activation="softmax", input_shape=(10,))])
    model.compile("adam", "categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(ValueError, match="x has 200, y has 100"):
        model.fit(x, y[:100], verbose=0)
    with pytest.raises(ValueError, match="one-hot"):
        model.fit(x, y, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    with pytest.raises(ValueError, match="unknown optimizer 'adamm'"):
        model.compile("adamm", "mse")
    with pytest.raises(ValueError, match="unknown loss 'msee'"):
        model.compile("adam", "msee")
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        model.compile("adam", "mse", metrics=["acuracy"])
        model.fit(x, to_categorical(y), verbose=0)
    with pytest.raises(ValueError, match=r"expects shape \(None, 10\)"):
        model.predict(np.zeros((3, 7), np.float32))
    with pytest.raises(ValueError, match="Reshape"):
        Sequential([layers.Reshape((3, 3), input_shape=(10,))])


def test_sample_and_class_weight_and_generators():
    x, y = _data(64)
    model = Sequential([Dense(1, activation="sigmoid", input_shape=(10,))])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, sample_weight=np.ones(64), class_weight={0: 1.0, 1: 2.0}, epochs=1,
              verbose=0)

    def gen():
        while True:
            yield x[:16], y[:16]

    hist = model.fit(gen(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2

    class Seq(nerve.keras.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]

    model.fit(Seq(), epochs=1, verbose=0)
    assert model.evaluate(Seq(), verbose=0)[1] >= 0


def test_regularizer_penalty_counted_in_loss():
    x = np.ones((4, 3), np.float32)
    y = np.zeros((4, 1), np.float32)
    reg = Sequential([Dense(1, input_shape=(3,), kernel_initializer="ones",
                            kernel_regularizer=nerve.keras.regularizers.l2(0.5))])
    reg.compile("sgd", "mse")
    plain = Sequential([Dense(1, input_shape=(3,), kernel_initializer="ones")])
    plain.compile("sgd", "mse")
    assert reg.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0) + 1.5)


def test_dense_equals_nn_linear_with_layout_change():
    from nerve import nn

    nerve.manual_seed(1)
    dense = Dense(5)
    x = nerve.randn(4, 3)
    y = dense(x)
    lin = nn.Linear(3, 5)
    with nerve.no_grad():
        lin.weight.copy_(dense.kernel.data.T)
        lin.bias.copy_(dense.bias.data)
    np.testing.assert_allclose(y.numpy(), lin(x).numpy(), rtol=1e-6)


def test_utils():
    assert to_categorical([0, 2], 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    from nerve.keras.utils import pad_sequences

    out = pad_sequences([[1, 2, 3], [4]], maxlen=2)
    assert out.tolist() == [[2, 3], [0, 4]]
    out = pad_sequences([[1, 2, 3], [4]], maxlen=2, padding="post", truncating="post")
    assert out.tolist() == [[1, 2], [4, 0]]
    import nerve as tf

    assert tf.keras.utils.to_categorical([1], 2).shape == (1, 2)
