"""Keras recurrent layers: the fused kernel equals the step-by-step gate equations."""
import numpy as np
import pytest

import nerve
from nerve.keras import Input, Model, Sequential, layers


def _x(b=3, t=5, f=4, seed=0):
    rng = np.random.default_rng(seed)
    return nerve.from_numpy(rng.standard_normal((b, t, f)).astype(np.float32))


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU, layers.SimpleRNN])
@pytest.mark.parametrize("seq", [False, True])
@pytest.mark.parametrize("backwards", [False, True])
def test_fused_equals_step_path(cls, seq, backwards):
    x = _x()
    lay = cls(6, return_sequences=seq, return_state=True, go_backwards=backwards)
    fused_out = lay(x)
    mode, lay.fused_mode = lay.fused_mode, None
    ref = lay(x)
    lay.fused_mode = mode
    assert mode is not None
    for a, b in zip(fused_out, ref):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        assert a.dtype == nerve.float32


def test_masks_from_embedding_keep_state_at_padding():
    ids = np.array([[3, 4, 5, 0, 0], [1, 2, 0, 0, 0]])
    emb = layers.Embedding(10, 4, mask_zero=True)
    lstm = layers.LSTM(3)
    out = lstm(emb(ids))
    # the same sequences without padding give the same final state
    short = lstm(emb(np.array([[3, 4, 5]])))
    np.testing.assert_allclose(out.numpy()[0], short.numpy()[0], rtol=1e-5, atol=1e-6)
    # pre-padding (Keras' default) takes the step-by-step path and skips the zeros too
    pre = lstm(emb(np.array([[0, 0, 3, 4, 5]])))
    np.testing.assert_allclose(pre.numpy()[0], short.numpy()[0], rtol=1e-5, atol=1e-6)


def test_param_counts_match_keras():
    m = Sequential([layers.LSTM(50, activation="relu", input_shape=(10, 1)), layers.Dense(1)])
    assert [lay.count_params() for lay in m.layers] == [10400, 51]
    g = Sequential([layers.GRU(8, input_shape=(5, 3))])
    assert g.count_params() == 3 * (3 * 8 + 8 * 8 + 2 * 8)
    s = Sequential([layers.SimpleRNN(7, input_shape=(5, 3))])
    assert s.count_params() == 3 * 7 + 7 * 7 + 7


def test_bidirectional_and_gradients_flow():
    inp = Input(shape=(5, 4))
    h = layers.Bidirectional(layers.GRU(3, return_sequences=True))(inp)
    out = layers.Dense(1)(layers.GlobalAveragePooling1D()(h))
    model = Model(inp, out)
    assert model.output_shape if hasattr(model, "output_shape") else True
    model.compile("adam", "mse")
    x = _x(8).numpy()
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, np.ones((8, 1), np.float32), epochs=2, verbose=0)
    changed = [not np.array_equal(a, b) for a, b in zip(before, model.get_weights())]
    assert all(changed)
