"""conv1d / conv2d / conv_transpose1d / conv_transpose2d against PyTorch (both layouts)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from conftest import HYP
from hypothesis import given
from hypothesis import strategies as st

import nerve
from nerve.autograd import gradcheck
from nerve.ops.conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d

RTOL, ATOL = 1e-4, 1e-5


def _close(a, b, what=""):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    a = np.asarray(a)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    scale = max(1.0, float(np.abs(b).max())) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL * scale, err_msg=what)


def _to_last(a):  # (N, C, *sp) -> (N, *sp, C)
    return np.ascontiguousarray(np.moveaxis(a, 1, -1))


def _to_first(a):
    return np.moveaxis(a, -1, 1)


def _run(nfn, tfn, x, w, b, channels_last, dtype=np.float32, **kw):
    """Forward + backward in nerve and torch; compare output and every gradient."""
    rng = np.random.default_rng(1)
    x, w = x.astype(dtype), w.astype(dtype)
    b = None if b is None else b.astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    ty = tfn(tx, tw, tb, **kw)
    g = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.tensor(g))
    xn = nerve.tensor(_to_last(x) if channels_last else x, requires_grad=True)
    wn = nerve.tensor(w, requires_grad=True)
    bn = None if b is None else nerve.tensor(b, requires_grad=True)
    fmt = "channels_last" if channels_last else "channels_first"
    y = nfn(xn, wn, bn, data_format=fmt, **kw)
    y.backward(nerve.tensor(_to_last(g) if channels_last else g))
    back = _to_first if channels_last else (lambda a: a)
    _close(back(y.data), ty, "output")
    _close(back(xn.grad.data), tx.grad, "input grad")
    _close(wn.grad.data, tw.grad, "weight grad")
    if b is not None:
        _close(bn.grad.data, tb.grad, "bias grad")
    for t in [y, xn.grad, wn.grad] + ([bn.grad] if b is not None else []):
        assert t.data.dtype == dtype, f"dtype leak: {t.data.dtype}"


def _data(rng, xshape, wshape, bias):
    fan_in = int(np.prod(wshape[1:]))
    x = rng.standard_normal(xshape)
    w = rng.standard_normal(wshape) / np.sqrt(fan_in)
    b = rng.standard_normal(wshape[0]) if bias else None
    return x, w, b


CONV2D = [
    # (N, C, H, W), (O, kh, kw), stride, padding, dilation, groups
    ((2, 3, 8, 8), (4, 3, 3), 1, 0, 1, 1),
    ((1, 3, 7, 9), (5, 3, 2), 1, 1, 1, 1),          # batch 1, odd sizes, rect kernel
    ((2, 4, 9, 8), (6, 3, 3), 2, 1, 1, 2),          # stride 2, groups
    ((2, 4, 10, 11), (4, 3, 3), (2, 1), (1, 2), (2, 1), 1),
    ((3, 6, 8, 8), (6, 3, 3), 1, 1, 1, 6),          # depthwise
    ((2, 4, 8, 8), (8, 3, 3), 1, "same", 1, 4),     # depthwise multiplier 2, 'same'
    ((2, 3, 7, 8), (4, 4, 3), 1, "same", (2, 1), 1),  # even kernel 'same' (pad at the end)
    ((2, 3, 7, 7), (4, 3, 3), 1, "valid", 1, 1),
    ((2, 2, 6, 5), (3, 1, 1), 1, 0, 1, 1),          # 1x1
    ((2, 3, 12, 12), (8, 5, 5), 2, 2, 1, 1),        # 5x5 stride 2
    ((1, 2, 5, 5), (2, 5, 5), 1, 0, 1, 1),          # kernel == input
    ((2, 16, 6, 7), (8, 3, 3), 2, 1, 1, 2),         # large K per group (channel-major dW)
    ((2, 8, 7, 6), (4, 3, 3), 1, (2, 1), (1, 2), 1),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV2D)
def test_conv2d_matches_torch(case, bias, channels_last):
    xs, (o, kh, kw), s, p, d, g = case
    rng = np.random.default_rng(0)
    x, w, b = _data(rng, xs, (o, xs[1] // g, kh, kw), bias)
    _run(conv2d, TF.conv2d, x, w, b, channels_last, stride=s, padding=p, dilation=d, groups=g)


CONV1D = [
    ((2, 3, 11), (4, 3), 1, 0, 1, 1),
    ((1, 4, 10), (6, 3), 2, 1, 2, 2),
    ((2, 4, 9), (4, 5), 1, "same", 1, 4),
    ((3, 2, 7), (5, 2), 3, 1, 1, 1),
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", CONV1D)
def test_conv1d_matches_torch(case, channels_last):
    xs, (o, k), s, p, d, g = case
    rng = np.random.default_rng(0)
    x, w, b = _data(rng, xs, (o, xs[1] // g, k), True)
    _run(conv1d, TF.conv1d, x, w, b, channels_last, stride=s, padding=p, dilation=d, groups=g)


CONVT2D = [
    # (N, Cin, H, W), (Cout, kh, kw), stride, padding, output_padding, groups, dilation
    ((2, 4, 5, 6), (3, 3, 3), 1, 0, 0, 1, 1),
    ((2, 4, 5, 5), (6, 4, 4), 2, 1, 0, 1, 1),       # DCGAN-style upsampling
    ((1, 4, 4, 5), (6, 3, 3), 2, 1, 1, 2, 1),       # output_padding, groups, batch 1
    ((2, 3, 4, 4), (2, 3, 2), (2, 3), (0, 1), (1, 2), 1, 1),
    ((2, 4, 3, 3), (4, 3, 3), 2, 1, 0, 4, (2, 1)),  # depthwise, dilation
]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONVT2D)
def test_conv_transpose2d_matches_torch(case, bias, channels_last):
    xs, (co, kh, kw), s, p, op, g, d = case
    rng = np.random.default_rng(0)
    x, w, b = _data(rng, xs, (xs[1], co // g, kh, kw), bias)
    if bias:
        b = rng.standard_normal(co)
    _run(conv_transpose2d, TF.conv_transpose2d, x, w, b, channels_last, stride=s, padding=p,
         output_padding=op, groups=g, dilation=d)


@pytest.mark.parametrize("channels_last", [False, True])
def test_conv_transpose1d_matches_torch(channels_last):
    rng = np.random.default_rng(0)
    x, w, _ = _data(rng, (2, 4, 7), (4, 3, 3), False)
    b = rng.standard_normal(3)
    _run(conv_transpose1d, TF.conv_transpose1d, x, w, b, channels_last, stride=2, padding=1,
         output_padding=1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_weight_grad_paths_agree(monkeypatch, channels_last):
    """Both weight-gradient orientations (per image / channel-major) and tiny chunks."""
    import nerve.ops.conv as conv_mod

    rng = np.random.default_rng(3)
    x, w, b = _data(rng, (3, 4, 7, 6), (6, 2, 3, 2), True)
    for cm_min, chunk in ((0, 1), (10 ** 9, 1), (0, 12000), (10 ** 9, 16000), (0, 1 << 22)):
        monkeypatch.setattr(conv_mod, "_CM_MIN_K", cm_min)
        monkeypatch.setattr(conv_mod, "_CHUNK_BYTES", chunk)
        _run(conv2d, TF.conv2d, x, w, b, channels_last, stride=1, padding=1, groups=2)
        _run(conv2d, TF.conv2d, x, w, b, channels_last, stride=(2, 1), padding=(0, 1), groups=2)


@given(n=st.integers(1, 3), c=st.integers(1, 4), o=st.integers(1, 4), h=st.integers(3, 9),
       w=st.integers(3, 9), k=st.integers(1, 3), s=st.integers(1, 3), p=st.integers(0, 2),
       d=st.integers(1, 2), last=st.booleans())
@HYP
def test_conv2d_random_shapes(n, c, o, h, w, k, s, p, d, last):
    if h + 2 * p < d * (k - 1) + 1 or w + 2 * p < d * (k - 1) + 1:
        return
    rng = np.random.default_rng(n * 1000 + c * 100 + h)
    x, wt, b = _data(rng, (n, c, h, w), (o, c, k, k), True)
    _run(conv2d, TF.conv2d, x, wt, b, last, stride=s, padding=p, dilation=d)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_relu(channels_last):
    rng = np.random.default_rng(0)
    x, w, b = _data(rng, (2, 3, 7, 6), (4, 3, 3, 3), True)

    def ref(x, w, b, **kw):
        return torch.relu(TF.conv2d(x, w, b, **kw))

    _run(lambda *a, **kw: conv2d(*a, activation="relu", **kw), ref, x, w, b, channels_last,
         padding=1)
    x1, w1, b1 = _data(rng, (2, 3, 9), (4, 3, 3), True)
    _run(lambda *a, **kw: conv1d(*a, activation="relu", **kw),
         lambda x, w, b, **kw: torch.relu(TF.conv1d(x, w, b, **kw)), x1, w1, b1, channels_last,
         stride=2)


def test_float64_stays_float64():
    rng = np.random.default_rng(0)
    x, w, b = _data(rng, (2, 3, 6, 6), (4, 3, 3, 3), True)
    _run(conv2d, TF.conv2d, x, w, b, False, dtype=np.float64, stride=1, padding=1)


@pytest.mark.parametrize("channels_last", [False, True])
def test_gradcheck_conv2d(channels_last):
    rng = np.random.default_rng(0)
    xs = (2, 4, 5, 4) if not channels_last else (2, 5, 4, 4)
    x = nerve.tensor(rng.standard_normal(xs), requires_grad=True)
    w = nerve.tensor(rng.standard_normal((4, 2, 3, 2)), requires_grad=True)
    b = nerve.tensor(rng.standard_normal(4), requires_grad=True)
    fmt = "channels_last" if channels_last else "channels_first"
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, (2, 1), 1, (1, 2), 2, data_format=fmt),
                     [x, w, b])


def test_gradcheck_conv1d_and_transposed():
    rng = np.random.default_rng(0)
    x = nerve.tensor(rng.standard_normal((2, 3, 6)), requires_grad=True)
    w = nerve.tensor(rng.standard_normal((2, 3, 3)), requires_grad=True)
    b = nerve.tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: conv1d(x, w, b, 2, 1), [x, w, b])
    x = nerve.tensor(rng.standard_normal((2, 4, 3, 3)), requires_grad=True)
    w = nerve.tensor(rng.standard_normal((4, 1, 3, 3)), requires_grad=True)
    b = nerve.tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, 2, 1, 1, groups=2), [x, w, b])


def test_only_requested_gradients():
    """A first layer (input without grad) and frozen weights work and give None."""
    rng = np.random.default_rng(0)
    x = nerve.tensor(rng.standard_normal((2, 1, 6, 6)).astype(np.float32))
    w = nerve.tensor(rng.standard_normal((3, 1, 3, 3)).astype(np.float32), requires_grad=True)
    b = nerve.tensor(np.zeros(3, np.float32))
    conv2d(x, w, b).sum().backward()
    assert x.grad is None and b.grad is None and w.grad.shape == (3, 1, 3, 3)
    w2 = nerve.tensor(w.data)
    b2 = nerve.tensor(np.zeros(3, np.float32), requires_grad=True)
    conv2d(x, w2, b2).sum().backward()
    np.testing.assert_allclose(b2.grad.data, np.full(3, 32.0))


def test_uint8_input_is_cast_to_weight_dtype():
    x = nerve.tensor(np.arange(2 * 1 * 5 * 5, dtype=np.uint8).reshape(2, 1, 5, 5))
    w = nerve.tensor(np.ones((2, 1, 3, 3), np.float32))
    y = conv2d(x, w)
    assert y.dtype == nerve.float32 and y.shape == (2, 2, 3, 3)


def test_once_differentiable():
    x = nerve.tensor(np.ones((1, 1, 4, 4)), requires_grad=True)
    w = nerve.tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    y = conv2d(x, w).sum()
    with pytest.raises(RuntimeError, match="once-differentiable"):
        nerve.autograd.grad(y, [x], create_graph=True)


def test_empty_batch():
    x = nerve.tensor(np.zeros((0, 3, 6, 6), np.float32), requires_grad=True)
    w = nerve.tensor(np.ones((4, 3, 3, 3), np.float32), requires_grad=True)
    y = conv2d(x, w, padding=1)
    assert y.shape == (0, 4, 6, 6)


def test_errors():
    w = nerve.ones(4, 3, 3, 3)
    with pytest.raises(RuntimeError, match="batch dimension is missing"):
        conv2d(nerve.ones(3, 8, 8), w)
    with pytest.raises(RuntimeError, match=r"in_channels=3.*\(2, 2, 8, 8\)"):
        conv2d(nerve.ones(2, 2, 8, 8), w)
    with pytest.raises(RuntimeError, match=r"smaller than the kernel.*\(2, 2\).*\(3, 3\)"):
        conv2d(nerve.ones(1, 3, 2, 2), w)
    with pytest.raises(ValueError, match="padding"):
        conv2d(nerve.ones(1, 3, 8, 8), w, padding="full")
    with pytest.raises(RuntimeError, match="groups"):
        conv2d(nerve.ones(1, 3, 8, 8), nerve.ones(3, 3, 3, 3), groups=2)
    with pytest.raises(ValueError, match="data_format"):
        conv2d(nerve.ones(1, 3, 8, 8), w, data_format="NCWH")
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose2d(nerve.ones(1, 4, 3, 3), w, stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match="bias"):
        conv2d(nerve.ones(1, 3, 8, 8), w, nerve.ones(3))
    with pytest.raises(ValueError, match="activation"):
        conv2d(nerve.ones(1, 3, 8, 8), w, activation="tanh")
