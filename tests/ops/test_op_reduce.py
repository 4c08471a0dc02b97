"""Reductions against PyTorch: sum, mean, max/min, var/std, logsumexp, prod, argmax/argmin."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import HYP, assert_close
from hypothesis import given
from hypothesis import strategies as st
from op_harness import T, check, seeds, shapes

import nerve


@st.composite
def shape_and_dim(draw, min_dims=1, multi=True):
    """A shape and a dim argument valid for it: an int (negative too) or a tuple of dims."""
    shape = draw(shapes(min_dims=min_dims))
    nd = len(shape)
    kind = draw(st.sampled_from(["int", "tuple"] if multi and nd > 1 else ["int"]))
    if kind == "int":
        dim = draw(st.integers(-nd, nd - 1))
    else:
        dim = tuple(draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                  unique=True)))
    return shape, dim


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(sd=shape_and_dim(), keepdim=st.booleans(), seed=seeds)
@HYP
def test_sum_mean_dim(op, sd, keepdim, seed):
    shape, dim = sd
    check(lambda x: getattr(x, op)(dim=dim, keepdim=keepdim), T(shape), seed=seed, double=True)


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(shape=shapes(), seed=seeds)
@HYP
def test_sum_mean_global(op, shape, seed):
    check(lambda x: getattr(x, op)(), T(shape), seed=seed, double=True)


def test_sum_int_and_bool():
    for a in [np.array([[1, 2], [3, 4]], dtype=np.int32), np.array([True, False, True])]:
        assert_close(nerve.tensor(a).sum(), torch.tensor(a).sum())
    a = np.array([[1, 2], [3, 4]])
    assert_close(nerve.tensor(a).sum(1), torch.tensor(a).sum(1))
    assert_close(nerve.tensor(a).sum(dtype=nerve.float32), torch.tensor(a).sum(dtype=torch.float32))
    x = nerve.tensor([1.0, 2.0]).sum()
    assert isinstance(x.data, np.ndarray) and x.data.shape == ()


@pytest.mark.parametrize("op", ["var", "std"])
@pytest.mark.parametrize("correction", [0, 1, 2])
@given(sd=shape_and_dim(), keepdim=st.booleans(), seed=seeds)
@HYP
def test_var_std(op, correction, sd, keepdim, seed):
    shape, dim = sd
    n = int(np.prod([shape[d] for d in (dim if isinstance(dim, tuple) else (dim,))]))
    if n <= correction:
        shape = tuple(s + correction for s in shape)
    # (std at a constant slice has an infinite second derivative: no double backward there)
    check(lambda x: getattr(x, op)(dim=dim, keepdim=keepdim, correction=correction),
          T(shape), seed=seed, double=n > 1)


def test_var_std_global_and_unbiased():
    check(lambda x: x.var(), (3, 4), double=True)
    check(lambda x: x.std(), (3, 4), double=True)
    check(lambda x: x.var(1, unbiased=False), (3, 4))
    check(lambda x: x.std(0, unbiased=True), (3, 4))
    check(lambda lib, x: lib.var_mean(x, 1)[0], (3, 4))


@pytest.mark.parametrize("op", ["max", "min"])
@given(sd=shape_and_dim(multi=False), keepdim=st.booleans(), seed=seeds)
@HYP
def test_max_min_dim(op, sd, keepdim, seed):
    shape, dim = sd
    check(lambda x: getattr(x, op)(dim=dim, keepdim=keepdim), T(shape), seed=seed, double=True)


@pytest.mark.parametrize("op", ["max", "min", "amax", "amin"])
@given(shape=shapes(), seed=seeds)
@HYP
def test_max_min_global(op, shape, seed):
    check(lambda x: getattr(x, op)(), T(shape), seed=seed, double=True)


@pytest.mark.parametrize("op", ["amax", "amin"])
@given(sd=shape_and_dim(), keepdim=st.booleans(), seed=seeds)
@HYP
def test_amax_amin(op, sd, keepdim, seed):
    shape, dim = sd
    check(lambda x: getattr(x, op)(dim=dim, keepdim=keepdim), T(shape), seed=seed)


def test_max_ties():
    # global max/amax share the gradient among ties; max(dim) gives it to the returned index
    v = T(values=np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]))
    check(lambda x: x.max(), v, gradcheck=False)
    check(lambda x: x.amax(1), v, gradcheck=False)
    check(lambda x: x.min(), v, gradcheck=False)
    check(lambda x: x.max(1), v, gradcheck=False)
    check(lambda x: x.min(dim=1, keepdim=True), v, gradcheck=False)


def test_max_binary_form():
    check(lambda lib, x, y: lib.max(x, y), (2, 3), (3,))


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@given(shape=shapes(min_dims=1), keepdim=st.booleans(), data=st.data(), seed=seeds)
@HYP
def test_argmax_argmin(op, shape, keepdim, data, seed):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda x: getattr(x, op)(dim=dim, keepdim=keepdim), T(shape, grad=False), seed=seed)
    check(lambda x: getattr(x, op)(), T(shape, grad=False), seed=seed)


@given(sd=shape_and_dim(), keepdim=st.booleans(), seed=seeds)
@HYP
def test_logsumexp(sd, keepdim, seed):
    shape, dim = sd
    check(lambda x: x.logsumexp(dim=dim, keepdim=keepdim), T(shape, -5, 5), seed=seed,
          double=True)


def test_logsumexp_large():
    check(lambda x: x.logsumexp(1), T(values=np.array([[1000.0, 1000.0], [-1000.0, 0.0]])))


@given(sd=shape_and_dim(multi=False), keepdim=st.booleans(), seed=seeds)
@HYP
def test_prod(sd, keepdim, seed):
    shape, dim = sd
    check(lambda x: x.prod(dim=dim, keepdim=keepdim), T(shape, 0.5, 1.5), seed=seed)
    check(lambda x: x.prod(), T(shape, 0.5, 1.5), seed=seed)


def test_prod_with_zeros():
    v = T(values=np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 1.5], [1.0, 2.0, 0.5]]))
    check(lambda x: x.prod(1), v)
    check(lambda x: x.prod(0), v)
    check(lambda x: x.prod(), v)


def test_cumsum_norm():
    check(lambda x: x.cumsum(1), (3, 4), double=True)
    check(lambda x: x.norm(), T((3, 4)), double=True)
    check(lambda x: x.norm(dim=1), T((3, 4)), double=True)


def test_norm_and_std_at_zero_have_zero_gradient():
    # torch masks d√v at v = 0 to 0 instead of inf·0 = nan
    check(lambda x: x.norm(), T(values=np.zeros(3)), gradcheck=False)
    check(lambda x: x.norm(dim=1), T(values=np.array([[0.0, 0.0], [3.0, 4.0]])),
          gradcheck=False)
    check(lambda x: x.std(1), T(values=np.array([[1.0, 1.0], [3.0, 4.0]])), gradcheck=False)


@pytest.mark.parametrize("a", [np.array([True, False, True, False]),
                               np.array([1, 0, 200, 7], dtype=np.uint8),
                               np.array([3.0, -1.0, 2.0, 5.0]), np.array([3, -1, 2, 5])])
def test_sort_descending_all_dtypes(a):
    v, i = nerve.tensor(a).sort(descending=True)
    tv, ti = torch.tensor(a).sort(descending=True, stable=True)
    assert_close(v, tv)
    assert_close(i, ti)
    assert_close(nerve.tensor(a).argsort(), torch.tensor(a).argsort(stable=True))


def test_topk():
    check(lambda x: x.topk(2, dim=1)[0], (3, 5))
