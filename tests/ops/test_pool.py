"""Pooling (max/avg/adaptive) and interpolation against PyTorch, both layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import nerve
from nerve.autograd import gradcheck
from nerve.ops import pool as P
from nerve.ops.upsample import interpolate

TOL = 1e-5


def _perm(nd):
    return (0,) + tuple(range(2, 2 + nd)) + (1,)


def _check(nfn, tfn, shape, channels_last=False, ties=False, dtype=np.float32, seed=0):
    """Output (and indices) and input gradient equal torch's; dtypes are kept."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if ties:
        x = np.round(x * 1.5)  # many equal values: the first maximum must win
    x = x.astype(dtype)
    nd = len(shape) - 2
    perm = _perm(nd)
    inv = tuple(np.argsort(perm))
    tx = torch.tensor(x, requires_grad=True)
    tres = tfn(tx)
    ty = tres[0] if isinstance(tres, tuple) else tres
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(g))
    xn = nerve.tensor(np.ascontiguousarray(x.transpose(perm)) if channels_last else x,
                      requires_grad=True)
    res = nfn(xn, "channels_last" if channels_last else "channels_first")
    y = res[0] if isinstance(res, tuple) else res
    y.backward(nerve.tensor(np.ascontiguousarray(g.transpose(perm)) if channels_last else g))
    back = (lambda a: a.transpose(inv)) if channels_last else (lambda a: a)
    np.testing.assert_allclose(back(y.data), ty.detach().numpy(), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(back(xn.grad.data), tx.grad.numpy(), rtol=TOL, atol=TOL)
    assert y.data.dtype == dtype and xn.grad.data.dtype == dtype
    if isinstance(res, tuple):
        assert res[1].data.dtype == np.int64
        np.testing.assert_array_equal(back(res[1].data), tres[1].numpy())


MAX2D = [  # kernel, stride, padding, dilation, ceil_mode
    (2, None, 0, 1, False),
    (3, 2, 1, 1, False),
    ((3, 2), (2, 1), (1, 0), (2, 1), True),
    (3, 3, 0, 1, True),
    (2, 1, 0, 1, False),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("case", MAX2D)
@pytest.mark.parametrize("shape", [(2, 3, 8, 8), (1, 2, 7, 9)])
def test_max_pool2d(case, shape, ties, channels_last):
    k, s, p, d, c = case
    _check(lambda x, f: P.max_pool2d(x, k, s, p, d, c, True, data_format=f),
           lambda x: TF.max_pool2d(x, k, s, p, d, c, True), shape, channels_last, ties)


@pytest.mark.parametrize("channels_last", [False, True])
def test_max_pool1d(channels_last):
    _check(lambda x, f: P.max_pool1d(x, 3, 2, 1, ceil_mode=True, return_indices=True,
                                     data_format=f),
           lambda x: TF.max_pool1d(x, 3, 2, 1, ceil_mode=True, return_indices=True),
           (2, 3, 10), channels_last, ties=True)
    _check(lambda x, f: P.max_pool1d(x, 2, data_format=f), lambda x: TF.max_pool1d(x, 2),
           (2, 3, 9), channels_last)


AVG2D = [  # kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
    (2, None, 0, False, True, None),
    (3, 2, 1, True, False, None),
    (3, 2, 1, True, True, None),
    ((2, 3), (1, 2), (1, 1), False, True, 5),
    (3, 1, 1, False, False, None),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", AVG2D)
def test_avg_pool2d(case, channels_last):
    k, s, p, c, cip, dov = case
    _check(lambda x, f: P.avg_pool2d(x, k, s, p, c, cip, dov, data_format=f),
           lambda x: TF.avg_pool2d(x, k, s, p, c, cip, dov), (2, 3, 8, 9), channels_last)


@pytest.mark.parametrize("channels_last", [False, True])
def test_avg_pool1d(channels_last):
    _check(lambda x, f: P.avg_pool1d(x, 3, 2, 1, True, False, data_format=f),
           lambda x: TF.avg_pool1d(x, 3, 2, 1, True, False), (2, 3, 10), channels_last)


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("out", [1, (3, 2), (5, 7), (4, 3), (None, 3), (8, 9)])
def test_adaptive_pool2d(out, channels_last):
    _check(lambda x, f: P.adaptive_avg_pool2d(x, out, data_format=f),
           lambda x: TF.adaptive_avg_pool2d(x, out), (2, 3, 8, 9), channels_last)
    _check(lambda x, f: P.adaptive_max_pool2d(x, out, True, data_format=f),
           lambda x: TF.adaptive_max_pool2d(x, out, True), (2, 3, 8, 9), channels_last, ties=True)


def test_adaptive_pool1d():
    _check(lambda x, f: P.adaptive_avg_pool1d(x, 4, data_format=f),
           lambda x: TF.adaptive_avg_pool1d(x, 4), (2, 3, 10))
    _check(lambda x, f: P.adaptive_max_pool1d(x, 4, True, data_format=f),
           lambda x: TF.adaptive_max_pool1d(x, 4, True), (2, 3, 10))


INTERP = [
    dict(scale_factor=2),
    dict(scale_factor=3),
    dict(size=(9, 13)),
    dict(size=(3, 2)),
    dict(scale_factor=1.7),
    dict(scale_factor=(2.5, 0.6)),
    dict(scale_factor=2, mode="bilinear"),
    dict(scale_factor=2, mode="bilinear", align_corners=True),
    dict(size=(11, 6), mode="bilinear"),
    dict(size=(1, 1), mode="bilinear", align_corners=True),
    dict(scale_factor=1.5, mode="bilinear", recompute_scale_factor=True),
    dict(size=(7, 9), mode="nearest-exact"),
    dict(size=(3, 4), mode="area"),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("kw", INTERP)
def test_interpolate2d(kw, channels_last):
    _check(lambda x, f: interpolate(x, **kw, data_format=f), lambda x: TF.interpolate(x, **kw),
           (2, 3, 5, 7), channels_last)


@pytest.mark.parametrize("kw", [dict(scale_factor=2), dict(size=7, mode="linear"),
                                dict(scale_factor=1.5, mode="linear", align_corners=True)])
def test_interpolate1d(kw):
    _check(lambda x, f: interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), (2, 3, 5))


def test_float64_and_gradcheck():
    _check(lambda x, f: P.max_pool2d(x, 2, data_format=f), lambda x: TF.max_pool2d(x, 2),
           (2, 2, 4, 4), dtype=np.float64)
    rng = np.random.default_rng(0)
    x = nerve.tensor(rng.standard_normal((1, 2, 5, 6)), requires_grad=True)
    assert gradcheck(lambda x: P.max_pool2d(x, 3, 2, 1), [x])
    assert gradcheck(lambda x: P.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [x])
    assert gradcheck(lambda x: P.adaptive_avg_pool2d(x, (2, 4)), [x])
    assert gradcheck(lambda x: P.adaptive_max_pool2d(x, (2, 4)), [x])
    assert gradcheck(lambda x: interpolate(x, scale_factor=1.5, mode="bilinear"), [x])
    xl = nerve.tensor(rng.standard_normal((1, 5, 6, 2)), requires_grad=True)
    assert gradcheck(lambda x: P.avg_pool2d(x, 2, 1, data_format="channels_last"), [xl])


def test_errors():
    with pytest.raises(RuntimeError, match="batch dimension is missing"):
        P.max_pool2d(nerve.ones(3, 8, 8), 2)
    with pytest.raises(RuntimeError, match="smaller than the kernel"):
        P.max_pool2d(nerve.ones(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match="at most half"):
        P.max_pool2d(nerve.ones(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match="exactly one"):
        interpolate(nerve.ones(1, 1, 4, 4))
    with pytest.raises(NotImplementedError, match="bicubic"):
        interpolate(nerve.ones(1, 1, 4, 4), scale_factor=2, mode="bicubic")
    with pytest.raises(RuntimeError, match="4-D"):
        interpolate(nerve.ones(1, 1, 4), scale_factor=2, mode="bilinear")
