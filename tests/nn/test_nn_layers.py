"""Layers and activations of nerve.nn against PyTorch with identical weights."""
import math

import numpy as np
import pytest
import torch
from nn_testutil import close, compare_module, nn_seed, randn, to_torch  # noqa: F401

import nerve
import nerve.nn
import nerve.nn.functional as F
from nerve import nn
from nerve.autograd import gradcheck

# --- Linear -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    compare_module(nn.Linear(4, 3, bias=bias), torch.nn.Linear(4, 3, bias=bias), randn(*shape))


def test_linear_float64_gradcheck_and_dtype():
    m = nn.Linear(3, 2, dtype=nerve.float64)
    assert m.weight.dtype == nerve.float64 and m.bias.dtype == nerve.float64
    x = nerve.tensor(randn(4, 3, dtype=np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), [x, m.weight, m.bias])
    assert gradcheck(lambda x: m(x), [x])


def test_linear_default_dtype_and_params():
    m = nn.Linear(784, 512)
    assert m.weight.shape == (512, 784) and m.bias.shape == (512,)
    assert m.weight.dtype == nerve.float32
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert repr(m) == repr(torch.nn.Linear(784, 512))
    assert repr(nn.Linear(3, 2, bias=False)) == repr(torch.nn.Linear(3, 2, bias=False))
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_init_bounds_like_torch():
    m = nn.Linear(300, 200)
    bound = 1 / math.sqrt(300)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.02 * bound  # U(-b, b) has std b/√3
    assert abs(w.mean()) < 0.01 * bound


def test_linear_wrong_features_error_names_layer_and_shape():
    m = nn.Linear(784, 512)
    with pytest.raises(RuntimeError) as e:
        m(nerve.randn(32, 100))
    msg = str(e.value)
    assert "Linear(in_features=784, out_features=512)" in msg
    assert "in_features=784" in msg and "(32, 100)" in msg
    with pytest.raises(RuntimeError, match=r"\(\)"):
        m(nerve.tensor(1.0))


def test_identity_and_bilinear():
    x = nerve.randn(3, 4)
    assert nn.Identity(54, unused="x")(x) is x
    compare_module(nn.Bilinear(3, 4, 5), torch.nn.Bilinear(3, 4, 5), randn(6, 3),
                   randn(6, 4, seed=1))
    compare_module(nn.Bilinear(2, 3, 2, bias=False), torch.nn.Bilinear(2, 3, 2, bias=False),
                   randn(2, 4, 2), randn(2, 4, 3, seed=1))
    assert repr(nn.Bilinear(2, 3, 4)) == repr(torch.nn.Bilinear(2, 3, 4))


# --- Flatten / Unflatten ------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), (0,), (1, 2), (2, -1), (-3, -2)])
def test_flatten_matches_torch(args):
    compare_module(nn.Flatten(*args), torch.nn.Flatten(*args), randn(2, 3, 4, 5))
    assert repr(nn.Flatten(*args)) == repr(torch.nn.Flatten(*args))


def test_unflatten_matches_torch():
    compare_module(nn.Unflatten(1, (2, 5)), torch.nn.Unflatten(1, (2, 5)), randn(3, 10, 2))
    compare_module(nn.Unflatten(-1, (2, -1)), torch.nn.Unflatten(-1, (2, -1)), randn(3, 10))
    assert repr(nn.Unflatten(1, (2, 5))) == repr(torch.nn.Unflatten(1, (2, 5)))
    with pytest.raises(RuntimeError, match=r"size 10.*\(3, 4\)"):
        nn.Unflatten(1, (3, 4))(nerve.randn(2, 10))


# --- Dropout ------------------------------------------------------------------------------


def test_dropout_train_eval_and_scaling():
    d = nn.Dropout(0.3)
    assert repr(d) == repr(torch.nn.Dropout(0.3))
    x = nerve.ones(200, 500, requires_grad=True)
    y = d(x)
    assert y.dtype == nerve.float32
    kept = y.numpy() != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy(), rtol=1e-6)  # grad = mask / (1-p)
    d.eval()
    assert d(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert (nn.Dropout(1.0)(x).numpy() == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        nn.Dropout(1.5)


@pytest.mark.parametrize("cls,shape", [(nn.Dropout1d, (4, 50, 7)),
                                       (nn.Dropout2d, (4, 50, 3, 3)),
                                       (nn.Dropout3d, (4, 50, 2, 2, 2)),
                                       (nn.Dropout2d, (50, 3, 3))])
def test_channel_dropout_zeroes_whole_channels(cls, shape):
    x = nerve.ones(*shape)
    y = cls(0.5)(x).numpy()
    lead = 2 if len(shape) == {nn.Dropout1d: 3, nn.Dropout2d: 4, nn.Dropout3d: 5}[cls] else 1
    per_channel = y.reshape(shape[:lead] + (-1,))
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # each channel all-zero or all-kept
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    assert cls(0.5).eval()(x) is x


def test_alpha_dropout_keeps_mean_and_variance():
    x = nerve.randn(400, 500)
    y = nn.AlphaDropout(0.2)(x).numpy()
    assert y.dtype == np.float32
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    assert nn.AlphaDropout(0.2).eval()(x) is x


# --- activations --------------------------------------------------------------------------

ACTIVATIONS = [
    (lambda: nn.ReLU(), lambda: torch.nn.ReLU()),
    (lambda: nn.ReLU6(), lambda: torch.nn.ReLU6()),
    (lambda: nn.LeakyReLU(), lambda: torch.nn.LeakyReLU()),
    (lambda: nn.LeakyReLU(0.2), lambda: torch.nn.LeakyReLU(0.2)),
    (lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid()),
    (lambda: nn.Tanh(), lambda: torch.nn.Tanh()),
    (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU("tanh")),
    (lambda: nn.ELU(), lambda: torch.nn.ELU()),
    (lambda: nn.ELU(0.5), lambda: torch.nn.ELU(0.5)),
    (lambda: nn.SELU(), lambda: torch.nn.SELU()),
    (lambda: nn.CELU(0.7), lambda: torch.nn.CELU(0.7)),
    (lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
    (lambda: nn.Mish(), lambda: torch.nn.Mish()),
    (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    (lambda: nn.Softplus(2.0, 3.0), lambda: torch.nn.Softplus(2.0, 3.0)),
    (lambda: nn.Softsign(), lambda: torch.nn.Softsign()),
    (lambda: nn.Hardtanh(), lambda: torch.nn.Hardtanh()),
    (lambda: nn.Hardtanh(-0.5, 2.0), lambda: torch.nn.Hardtanh(-0.5, 2.0)),
    (lambda: nn.Hardsigmoid(), lambda: torch.nn.Hardsigmoid()),
    (lambda: nn.Hardswish(), lambda: torch.nn.Hardswish()),
    (lambda: nn.LogSigmoid(), lambda: torch.nn.LogSigmoid()),
    (lambda: nn.Tanhshrink(), lambda: torch.nn.Tanhshrink()),
    (lambda: nn.Threshold(0.1, 20.0), lambda: torch.nn.Threshold(0.1, 20.0)),
    (lambda: nn.GLU(), lambda: torch.nn.GLU()),
    (lambda: nn.GLU(1), lambda: torch.nn.GLU(1)),
    (lambda: nn.PReLU(), lambda: torch.nn.PReLU()),
    (lambda: nn.PReLU(4), lambda: torch.nn.PReLU(4)),
    (lambda: nn.Softmax(1), lambda: torch.nn.Softmax(1)),
    (lambda: nn.Softmax(-1), lambda: torch.nn.Softmax(-1)),
    (lambda: nn.Softmin(0), lambda: torch.nn.Softmin(0)),
    (lambda: nn.LogSoftmax(1), lambda: torch.nn.LogSoftmax(1)),
    (lambda: nn.LogSoftmax(2), lambda: torch.nn.LogSoftmax(2)),
]
IDS = [repr(t()) for _, t in ACTIVATIONS]


def _act_input(dtype=np.float32):
    # spread over the interesting ranges (saturation, thresholds) but away from kinks
    x = randn(3, 4, 6, dtype=np.float64, scale=3.0)
    x[np.abs(x) < 1e-3] = 0.5
    x[np.abs(np.abs(x) - 3) < 1e-3] = 1.0
    return x.astype(dtype)


@pytest.mark.parametrize("factories", ACTIVATIONS, ids=IDS)
def test_activation_matches_torch(factories):
    nf, tf = factories
    m, t = nf(), tf()
    assert repr(m) == repr(t)
    compare_module(m, t, _act_input())


@pytest.mark.parametrize("factories", ACTIVATIONS, ids=IDS)
def test_activation_gradcheck_float64(factories):
    m = factories[0]().double()
    x = nerve.tensor(_act_input(np.float64)[:2], requires_grad=True)
    y = m(x)
    assert y.dtype == nerve.float64
    assert gradcheck(lambda x: m(x), [x])
    params = list(m.parameters())
    if params:
        assert gradcheck(lambda w: F.prelu(x, w), params)


def test_inplace_reprs_match_torch():
    # nerve computes out of place but keeps the flag and the printout
    for name, args in [("ReLU", (True,)), ("LeakyReLU", (0.2, True)), ("ELU", (1.0, True)),
                       ("SiLU", (True,)), ("ReLU6", (True,)), ("Hardtanh", (-1.0, 1.0, True)),
                       ("SELU", (True,)), ("Threshold", (0.1, 20, True)), ("Mish", (True,))]:
        assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_softmax_default_dim_and_functional_names():
    x = randn(2, 3, 4)
    for name in ("softmax", "log_softmax", "softmin"):
        close(getattr(F, name)(nerve.tensor(x), dim=1), getattr(torch.nn.functional, name)(
            to_torch(x), dim=1), what=name)
    close(F.softmax(nerve.tensor(x), dim=-1, dtype=nerve.float64),
          torch.softmax(to_torch(x), -1, dtype=torch.float64), what="softmax dtype")
    with pytest.warns(UserWarning, match="Implicit dimension"):
        t = torch.nn.Softmax()(to_torch(x))
    close(nn.Softmax()(nerve.tensor(x)), t, what="implicit dim")
    close(F.pad(nerve.tensor(x), (1, 2)), torch.nn.functional.pad(to_torch(x), (1, 2)))
    close(F.one_hot(nerve.tensor([0, 2, 1]), 4),
          torch.nn.functional.one_hot(torch.tensor([0, 2, 1]), 4))
    close(F.normalize(nerve.tensor(x)), torch.nn.functional.normalize(to_torch(x)))
    close(F.normalize(nerve.tensor(x), p=1, dim=-1),
          torch.nn.functional.normalize(to_torch(x), p=1, dim=-1))


def test_functional_activations_keep_float32():
    x = nerve.randn(4, 6, requires_grad=True)
    names = ["relu", "relu6", "leaky_relu", "sigmoid", "tanh", "gelu", "elu", "selu", "celu",
             "silu", "mish", "softplus", "softsign", "hardtanh", "hardsigmoid", "hardswish",
             "logsigmoid", "tanhshrink", "glu"]
    for name in names:
        y = getattr(F, name)(x)
        assert y.dtype == nerve.float32, name
        y.sum().backward()
        assert x.grad.dtype == nerve.float32, name
        x.grad = None


def test_prelu_errors_and_functional_dropout():
    with pytest.raises(RuntimeError, match="3 weights.*shape \\(2, 4\\)"):
        nn.PReLU(3)(nerve.randn(2, 4))
    with pytest.raises(RuntimeError, match="even"):
        F.glu(nerve.randn(2, 3))
    x = nerve.ones(10, 10)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.5).dtype == nerve.float32
