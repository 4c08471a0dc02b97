"""Each Keras layer equals the matching nerve.nn computation after the layout change
(channels-last vs channels-first, Keras vs PyTorch weight layouts): outputs and gradients."""
import numpy as np
import pytest

import nerve
from nerve import nn
from nerve.keras import layers

RTOL, ATOL = 1e-4, 1e-5


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _both(keras_fn, nn_fn, x_keras: np.ndarray, x_nn: np.ndarray, back=None):
    """Outputs and input gradients (under the same random upstream gradient)."""
    xk = nerve.tensor(x_keras, requires_grad=True)
    xn = nerve.tensor(x_nn, requires_grad=True)
    yk, yn = keras_fn(xk), nn_fn(xn)
    g = _rand(*yk.shape, seed=1)
    yk.backward(nerve.from_numpy(g))
    yn.backward(nerve.from_numpy(back(g) if back else g))
    return yk, yn, xk.grad, xn.grad


def _nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def _nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("padding,stride", [("valid", 1), ("same", 1), ("valid", 2)])
def test_conv2d(padding, stride):
    x = _rand(2, 7, 9, 3)
    k = layers.Conv2D(4, 3, strides=stride, padding=padding)
    k(nerve.from_numpy(x))
    c = nn.Conv2d(3, 4, 3, stride=stride, padding=1 if padding == "same" else 0)
    with nerve.no_grad():
        c.weight.copy_(k.kernel.numpy().transpose(3, 2, 0, 1))
        c.bias.copy_(k.bias.numpy())
    yk, yn, gk, gn = _both(k, c, x, _nchw(x), back=_nchw)
    np.testing.assert_allclose(_nchw(yk.numpy()), yn.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gk.numpy(), _nhwc(gn.numpy()), rtol=RTOL, atol=ATOL)
    assert yk.dtype == nerve.float32 and gk.dtype == nerve.float32


def test_conv1d():
    x = _rand(2, 8, 3)
    k = layers.Conv1D(5, 3)
    k(nerve.from_numpy(x))
    c = nn.Conv1d(3, 5, 3)
    with nerve.no_grad():
        c.weight.copy_(k.kernel.numpy().transpose(2, 1, 0))
        c.bias.copy_(k.bias.numpy())
    yk, yn, gk, gn = _both(k, c, x, np.ascontiguousarray(x.transpose(0, 2, 1)),
                           back=lambda g: np.ascontiguousarray(g.transpose(0, 2, 1)))
    np.testing.assert_allclose(yk.numpy().transpose(0, 2, 1), yn.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gk.numpy(), gn.numpy().transpose(0, 2, 1), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("padding,k,s,out", [("valid", 3, 2, 11), ("same", 4, 2, 10),
                                             ("same", 5, 2, 10)])
def test_conv2d_transpose(padding, k, s, out):
    x = _rand(2, 5, 5, 3)
    lay = layers.Conv2DTranspose(4, k, strides=s, padding=padding)
    y = lay(nerve.from_numpy(x))
    assert tuple(y.shape) == (2, out, out, 4)
    if padding == "valid":
        c = nn.ConvTranspose2d(3, 4, k, stride=s)
        with nerve.no_grad():
            c.weight.copy_(lay.kernel.numpy().transpose(3, 2, 0, 1))
            c.bias.copy_(lay.bias.numpy())
        yk, yn, gk, gn = _both(lay, c, x, _nchw(x), back=_nchw)
        np.testing.assert_allclose(_nchw(yk.numpy()), yn.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(gk.numpy(), _nhwc(gn.numpy()), rtol=RTOL, atol=ATOL)


def test_pooling():
    x = _rand(2, 6, 6, 3)
    for klay, nlay in ((layers.MaxPooling2D(2), nn.MaxPool2d(2)),
                       (layers.AveragePooling2D(2), nn.AvgPool2d(2))):
        yk, yn, gk, gn = _both(klay, nlay, x, _nchw(x), back=_nchw)
        np.testing.assert_allclose(_nchw(yk.numpy()), yn.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(gk.numpy(), _nhwc(gn.numpy()), rtol=RTOL, atol=ATOL)


def test_batchnorm_keras_momentum_and_inference():
    x = _rand(8, 4, 4, 3)
    bn = layers.BatchNormalization(momentum=0.8)
    bn(nerve.from_numpy(x), training=True)
    mean = x.mean((0, 1, 2))
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.2 * mean, rtol=1e-5, atol=1e-6)
    var = x.var((0, 1, 2))  # Keras: biased batch variance into the moving variance
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.8 + 0.2 * var, rtol=1e-5)
    ref = nn.BatchNorm2d(3, eps=1e-3)
    ref.eval()
    with nerve.no_grad():
        ref.running_mean.copy_(bn.moving_mean.numpy())
        ref.running_var.copy_(bn.moving_variance.numpy())
    yk, yn, gk, gn = _both(bn, ref, x, _nchw(x), back=_nchw)
    np.testing.assert_allclose(_nchw(yk.numpy()), yn.numpy(), rtol=RTOL, atol=ATOL)
    assert [w.shape for w in bn.get_weights()] == [(3,)] * 4
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2


def test_layernorm_and_embedding():
    x = _rand(2, 5, 6)
    ln = layers.LayerNormalization(epsilon=1e-5)
    yk, yn, gk, gn = _both(ln, nn.LayerNorm(6), x, x)
    np.testing.assert_allclose(yk.numpy(), yn.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gk.numpy(), gn.numpy(), rtol=RTOL, atol=ATOL)
    ids = np.array([[1, 2, 2], [0, 4, 1]])
    ke = layers.Embedding(5, 3)
    out = ke(ids)
    ne = nn.Embedding(5, 3)
    with nerve.no_grad():
        ne.weight.copy_(ke.embeddings.numpy())
    np.testing.assert_allclose(out.numpy(), ne(nerve.from_numpy(ids)).numpy())
    with pytest.raises(IndexError, match="token id 7 .* 5 rows"):
        ke(np.array([[7]]))


def _copy_rnn(klay, torch_like, gates_perm=None):
    u = klay.units

    def reorder(w):
        if gates_perm is None:
            return w
        return np.concatenate([w[..., p * u:(p + 1) * u] for p in gates_perm], -1)

    with nerve.no_grad():
        torch_like.weight_ih_l0.copy_(reorder(klay.kernel.numpy()).T)
        torch_like.weight_hh_l0.copy_(reorder(klay.recurrent_kernel.numpy()).T)
        b = klay.bias.numpy()
        if b.ndim == 2:  # GRU (reset_after): input and recurrent biases
            torch_like.bias_ih_l0.copy_(reorder(b[0]))
            torch_like.bias_hh_l0.copy_(reorder(b[1]))
        else:
            torch_like.bias_ih_l0.copy_(b)
            torch_like.bias_hh_l0.zero_()


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_recurrent_vs_nn(kind):
    x = _rand(3, 6, 4)
    klay = getattr(layers, kind)(5, return_sequences=True)
    klay(nerve.from_numpy(x))
    ref = {"LSTM": nn.LSTM, "GRU": nn.GRU, "SimpleRNN": nn.RNN}[kind](4, 5, batch_first=True)
    _copy_rnn(klay, ref, [1, 0, 2] if kind == "GRU" else None)
    for step_path in (False, True):
        mode = klay.fused_mode
        if step_path:
            klay.fused_mode = None
        yk, yn, gk, gn = _both(klay, lambda t: ref(t)[0], x, x)
        klay.fused_mode = mode
        np.testing.assert_allclose(yk.numpy(), yn.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(gk.numpy(), gn.numpy(), rtol=RTOL, atol=ATOL)


def test_multihead_attention_vs_nn():
    x = _rand(2, 5, 8)
    k = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    k(nerve.from_numpy(x), nerve.from_numpy(x))
    ref = nn.MultiheadAttention(8, 2, batch_first=True)
    with nerve.no_grad():
        w = [getattr(k, f"{n}_kernel").numpy().reshape(8, 8).T for n in ("query", "key", "value")]
        b = [getattr(k, f"{n}_bias").numpy().reshape(8) for n in ("query", "key", "value")]
        ref.in_proj_weight.copy_(np.concatenate(w, 0))
        ref.in_proj_bias.copy_(np.concatenate(b))
        ref.out_proj.weight.copy_(k.output_kernel.numpy().reshape(8, 8).T)
        ref.out_proj.bias.copy_(k.output_bias.numpy())
    yk, yn, gk, gn = _both(lambda t: k(t, t), lambda t: ref(t, t, t, need_weights=False)[0], x, x)
    np.testing.assert_allclose(yk.numpy(), yn.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(gk.numpy(), gn.numpy(), rtol=RTOL, atol=ATOL)
