"""nerve.nn.init: gains and fans equal PyTorch's; sample statistics match the formulas."""
import math
import warnings

import numpy as np
import pytest
import torch
from nn_testutil import nn_seed  # noqa: F401

import nerve
import nerve.nn
from nerve import nn
from nerve.nn import init

GAINS = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)]


@pytest.mark.parametrize("name,param", GAINS)
def test_calculate_gain_equals_torch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param), rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "x")


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5), (8, 3, 5, 5), (2, 3, 4, 5, 6), (1, 7)])
def test_fans_equal_torch(shape):
    ours = init._calculate_fan_in_and_fan_out(nerve.empty(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))


def test_fans_need_two_dims():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(nerve.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(nerve.empty(3, 3), mode="fan_avg")


BIG = (400, 500)  # 200k samples: sample std within ~0.5% of the true std


def _stats(t):
    a = t.numpy().astype(np.float64)
    return a.mean(), a.std()


def test_uniform_normal_constant():
    t = init.uniform_(nerve.empty(*BIG), -2.0, 4.0)
    m, s = _stats(t)
    assert t.numpy().min() >= -2 and t.numpy().max() < 4
    assert abs(m - 1.0) < 0.02 and abs(s - 6 / math.sqrt(12)) < 0.01
    m, s = _stats(init.normal_(nerve.empty(*BIG), 3.0, 0.5))
    assert abs(m - 3.0) < 0.005 and abs(s - 0.5) < 0.005
    assert (init.constant_(nerve.empty(3, 2), 0.25).numpy() == 0.25).all()
    assert (init.ones_(nerve.empty(3)).numpy() == 1).all()
    assert (init.zeros_(nerve.empty(3)).numpy() == 0).all()


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier(gain):
    shape = (200, 100, 3, 3)
    fan_in, fan_out = 100 * 9, 200 * 9
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    t = init.xavier_uniform_(nerve.empty(*shape), gain)
    assert np.abs(t.numpy()).max() <= math.sqrt(3) * std
    assert abs(_stats(t)[1] / std - 1) < 0.01
    assert abs(_stats(init.xavier_normal_(nerve.empty(*shape), gain))[1] / std - 1) < 0.01
    assert init.glorot_uniform_ is init.xavier_uniform_


@pytest.mark.parametrize("a,mode,nl", [(0, "fan_in", "leaky_relu"), (math.sqrt(5), "fan_in",
                                                                      "leaky_relu"),
                                       (0, "fan_out", "relu"), (0.1, "fan_in", "tanh")])
def test_kaiming(a, mode, nl):
    shape = BIG
    fan = shape[1] if mode == "fan_in" else shape[0]
    std = torch.nn.init.calculate_gain(nl, a) / math.sqrt(fan)
    t = init.kaiming_uniform_(nerve.empty(*shape), a, mode, nl)
    assert np.abs(t.numpy()).max() <= math.sqrt(3) * std
    assert abs(_stats(t)[1] / std - 1) < 0.01
    assert abs(_stats(init.kaiming_normal_(nerve.empty(*shape), a, mode, nl))[1] / std - 1) < 0.01


def test_he_aliases():
    std = math.sqrt(2.0 / BIG[1])
    assert abs(_stats(init.he_normal_(nerve.empty(*BIG)))[1] / std - 1) < 0.01
    t = init.he_uniform_(nerve.empty(*BIG))
    assert np.abs(t.numpy()).max() <= math.sqrt(6.0 / BIG[1])


def test_trunc_normal():
    t = init.trunc_normal_(nerve.empty(*BIG), mean=1.0, std=2.0, a=-1.0, b=2.0)
    arr = t.numpy().astype(np.float64)
    assert arr.min() >= -1.0 and arr.max() <= 2.0
    # moments of N(1, 2²) truncated to [-1, 2] (alpha=-1, beta=0.5 in standard units)
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    al, be = -1.0, 0.5
    z = cdf(be) - cdf(al)
    mean = 1.0 + 2.0 * (phi(al) - phi(be)) / z
    var = 4.0 * (1 + (al * phi(al) - be * phi(be)) / z - ((phi(al) - phi(be)) / z) ** 2)
    assert abs(arr.mean() - mean) < 0.01 and abs(arr.std() - math.sqrt(var)) < 0.01
    t = init.trunc_normal_(nerve.empty(1000), std=0.02)  # the common ViT-style call
    assert np.abs(t.numpy()).max() <= 2.0 and abs(t.numpy().std() - 0.02) < 0.002


@pytest.mark.parametrize("shape", [(5, 8), (8, 5), (6, 2, 3, 3)])
@pytest.mark.parametrize("gain", [1.0, 0.5])
def test_orthogonal(shape, gain):
    t = init.orthogonal_(nerve.empty(*shape), gain)
    q = t.numpy().reshape(shape[0], -1).astype(np.float64) / gain
    small = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more"):
        init.orthogonal_(nerve.empty(3))


def test_eye_dirac_sparse_equal_torch():
    np.testing.assert_array_equal(init.eye_(nerve.empty(3, 5)).numpy(),
                                  torch.nn.init.eye_(torch.empty(3, 5)).numpy())
    for shape, groups in [((4, 4, 3, 3), 1), ((6, 3, 3), 2), ((4, 2, 3, 3, 3), 2)]:
        np.testing.assert_array_equal(init.dirac_(nerve.empty(*shape), groups).numpy(),
                                      torch.nn.init.dirac_(torch.empty(*shape), groups).numpy())
    t = init.sparse_(nerve.empty(10, 40), sparsity=0.3, std=0.5).numpy()
    assert ((t == 0).sum(0) >= 3).all()
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(nerve.empty(2, 2, 2))


@pytest.mark.parametrize("fn", [init.uniform_, init.normal_, init.xavier_uniform_,
                                init.xavier_normal_, init.kaiming_uniform_, init.kaiming_normal_,
                                init.trunc_normal_, init.orthogonal_, init.eye_,
                                lambda t: init.constant_(t, 0.3)])
@pytest.mark.parametrize("dtype", [nerve.float32, nerve.float64])
def test_init_keeps_dtype_and_identity_and_works_on_parameters(fn, dtype):
    p = nn.Parameter(nerve.empty(6, 4, dtype=dtype))
    arr = p.data
    out = fn(p)  # on a Parameter that requires grad, outside no_grad: allowed
    assert out is p and p.data is arr and p.dtype == dtype and p.requires_grad


def test_init_is_reproducible_with_seed_and_generator():
    nerve.manual_seed(7)
    a = init.kaiming_uniform_(nerve.empty(4, 4)).numpy().copy()
    nerve.manual_seed(7)
    b = init.kaiming_uniform_(nerve.empty(4, 4)).numpy()
    np.testing.assert_array_equal(a, b)
    g1, g2 = nerve.Generator().manual_seed(3), nerve.Generator().manual_seed(3)
    np.testing.assert_array_equal(init.normal_(nerve.empty(5), generator=g1).numpy(),
                                  init.normal_(nerve.empty(5), generator=g2).numpy())
    nerve.manual_seed(1)
    l1 = nn.Linear(5, 3)
    nerve.manual_seed(1)
    l2 = nn.Linear(5, 3)
    np.testing.assert_array_equal(l1.weight.numpy(), l2.weight.numpy())


def test_zero_element_tensor_warns():
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        init.kaiming_uniform_(nerve.empty(0, 3))
    assert any("zero-element" in str(x.message) for x in w)
    with pytest.warns(UserWarning, match="zero-element"):
        nn.Linear(0, 3)  # like torch, a zero-size layer constructs (and warns)
