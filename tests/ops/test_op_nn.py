"""NN primitives against PyTorch: softmax, log_softmax, cross_entropy, nll_loss, one_hot,
dropout (statistics, reproducibility, gradient)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import HYP, assert_close
from hypothesis import given
from hypothesis import strategies as st
from op_harness import T, check, seeds, shapes

import nerve


def _t(a):
    return torch.from_numpy(np.asarray(a))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
@HYP
def test_softmax(op, shape, data, seed):
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda x: getattr(x, op)(d), T(shape, -5, 5), seed=seed, double=True)
    check(lambda x: getattr(nerve, op)(x, dim=d), T(shape, -5, 5), seed=seed,
          torch_fn=lambda x: getattr(F, op)(x, dim=d))


def test_softmax_extreme_logits():
    v = T(values=np.array([[1000.0, 0.0, -1000.0], [-50.0, -50.0, -50.0]]))
    check(lambda x: x.softmax(1), v, gradcheck=False)
    check(lambda x: x.log_softmax(1), v, gradcheck=False)


@st.composite
def ce_case(draw):
    n = draw(st.integers(1, 4))
    c = draw(st.integers(2, 5))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    return n, c, extra


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=ce_case(), smoothing=st.sampled_from([0.0, 0.1]), weighted=st.booleans(),
       ignore=st.booleans(), seed=seeds)
@HYP
def test_cross_entropy_indices(reduction, case, smoothing, weighted, ignore, seed):
    n, c, extra = case
    rng = np.random.default_rng(seed)
    tgt = rng.integers(0, c, size=(n,) + extra)
    if ignore:
        tgt.reshape(-1)[0] = -100 if tgt.size > 1 else tgt.reshape(-1)[0]
    w = rng.uniform(0.5, 2.0, size=c).astype(np.float32) if weighted else None

    def nfn(x):
        ww = None if w is None else nerve.tensor(w.astype(x.data.dtype))
        return nerve.cross_entropy(x, nerve.tensor(tgt), weight=ww, reduction=reduction,
                                   label_smoothing=smoothing)

    def tfn(x):
        ww = None if w is None else _t(w.astype(x.detach().numpy().dtype))
        return F.cross_entropy(x, _t(tgt), weight=ww, reduction=reduction,
                               label_smoothing=smoothing)

    check(nfn, T((n, c) + extra, -3, 3), torch_fn=tfn, seed=seed)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=ce_case(), smoothing=st.sampled_from([0.0, 0.2]), weighted=st.booleans(), seed=seeds)
@HYP
def test_cross_entropy_probabilities(reduction, case, smoothing, weighted, seed):
    n, c, extra = case
    rng = np.random.default_rng(seed)
    p = rng.random((n, c) + extra)
    p /= p.sum(1, keepdims=True)
    w = rng.uniform(0.5, 2.0, size=c) if weighted else None

    def nfn(x):
        dt = x.data.dtype
        return nerve.cross_entropy(x, nerve.tensor(p.astype(dt)),
                                   weight=None if w is None else nerve.tensor(w.astype(dt)),
                                   reduction=reduction, label_smoothing=smoothing)

    def tfn(x):
        dt = x.detach().numpy().dtype
        return F.cross_entropy(x, _t(p.astype(dt)),
                               weight=None if w is None else _t(w.astype(dt)),
                               reduction=reduction, label_smoothing=smoothing)

    check(nfn, T((n, c) + extra, -3, 3), torch_fn=tfn, seed=seed)


def test_cross_entropy_1d_input_and_errors():
    check(lambda x: nerve.cross_entropy(x, nerve.tensor(2)), (4,),
          torch_fn=lambda x: F.cross_entropy(x, torch.tensor(2)))
    with pytest.raises(IndexError, match="out of range"):
        nerve.cross_entropy(nerve.randn(2, 3), nerve.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"\(2,\).*\(2, 3\)|\(2, 3\).*\(3,\)"):
        nerve.cross_entropy(nerve.randn(2, 3), nerve.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        nerve.cross_entropy(nerve.randn(2, 3), nerve.tensor([0, 1]), reduction="avg")


def test_cross_entropy_all_ignored_is_nan_like_torch():
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    t = np.array([-100, -100])
    got = nerve.cross_entropy(nerve.tensor(x), nerve.tensor(t))
    assert_close(got, F.cross_entropy(_t(x), _t(t)))


def test_cross_entropy_once_differentiable():
    x = nerve.randn(3, 4, requires_grad=True)
    loss = nerve.cross_entropy(x, nerve.tensor([0, 1, 2]))
    (g,) = nerve.autograd.grad(loss, [x], create_graph=False)
    assert g.shape == x.shape
    with pytest.raises(RuntimeError, match="once-differentiable"):
        loss = nerve.cross_entropy(x, nerve.tensor([0, 1, 2]))
        nerve.autograd.grad(loss, [x], create_graph=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=ce_case(), weighted=st.booleans(), ignore=st.booleans(), seed=seeds)
@HYP
def test_nll_loss(reduction, case, weighted, ignore, seed):
    n, c, extra = case
    rng = np.random.default_rng(seed)
    tgt = rng.integers(0, c, size=(n,) + extra)
    if ignore and tgt.size > 1:
        tgt.reshape(-1)[-1] = 1 if c > 1 else 0
        tgt.reshape(-1)[0] = -100
    w = rng.uniform(0.5, 2.0, size=c) if weighted else None

    def nfn(x):
        ww = None if w is None else nerve.tensor(w.astype(x.data.dtype))
        return nerve.nll_loss(x.log_softmax(1), nerve.tensor(tgt), weight=ww, reduction=reduction)

    def tfn(x):
        ww = None if w is None else _t(w.astype(x.detach().numpy().dtype))
        return F.nll_loss(x.log_softmax(1), _t(tgt), weight=ww, reduction=reduction)

    check(nfn, T((n, c) + extra, -3, 3), torch_fn=tfn, seed=seed, double=True)


def test_one_hot():
    a = np.array([[0, 2], [1, 1]])
    assert_close(nerve.one_hot(nerve.tensor(a)), F.one_hot(_t(a)))
    assert_close(nerve.one_hot(nerve.tensor(a), 5), F.one_hot(_t(a), 5))
    assert_close(nerve.one_hot(nerve.tensor(3), 4), F.one_hot(torch.tensor(3), 4))
    with pytest.raises(ValueError, match="one_hot"):
        nerve.one_hot(nerve.tensor([0, 5]), 3)
    with pytest.raises(TypeError, match="one_hot"):
        nerve.one_hot(nerve.tensor([0.0, 1.0]), 3)


# --- dropout --------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [nerve.float32, nerve.float64])
def test_dropout_statistics(p, dtype):
    nerve.manual_seed(0)
    x = nerve.ones(200_000, dtype=dtype)
    y = nerve.dropout(x, p)
    assert y.dtype == dtype
    zero_frac = float((y == 0).float().mean())
    assert abs(zero_frac - p) < 0.01
    assert abs(float(y.mean()) - 1.0) < 0.03  # E[y] = x
    kept = y.data[y.data != 0]
    np.testing.assert_allclose(kept, 1.0 / (1.0 - p), rtol=1e-6)


def test_dropout_eval_and_edge_probabilities():
    x = nerve.randn(10, requires_grad=True)
    assert nerve.dropout(x, 0.5, training=False) is x
    assert nerve.dropout(x, 0.0) is x
    y = nerve.dropout(x, 1.0)
    assert not y.data.any()
    y.sum().backward()
    assert not x.grad.data.any()
    with pytest.raises(ValueError, match="dropout"):
        nerve.dropout(x, 1.5)


def test_dropout_gradient_is_mask_over_keep():
    nerve.manual_seed(3)
    x = nerve.randn(1000, requires_grad=True)
    y = nerve.dropout(x, 0.3)
    y.backward(nerve.ones(1000))
    mask = (y.data != 0)
    np.testing.assert_allclose(x.grad.data, mask / 0.7, rtol=1e-6)
    assert x.grad.dtype == nerve.float32
    nerve.autograd.gradcheck(lambda t: nerve.dropout(t, 0.3, generator=nerve.Generator(1)),
                             [nerve.randn(6, dtype=nerve.float64, requires_grad=True)])


def test_dropout_reproducible():
    nerve.manual_seed(7)
    a = nerve.dropout(nerve.ones(100), 0.5)
    nerve.manual_seed(7)
    b = nerve.dropout(nerve.ones(100), 0.5)
    assert nerve.equal(a, b)
    g1 = nerve.dropout(nerve.ones(100), 0.5, generator=nerve.Generator(1))
    g2 = nerve.dropout(nerve.ones(100), 0.5, generator=nerve.Generator(1))
    assert nerve.equal(g1, g2)
