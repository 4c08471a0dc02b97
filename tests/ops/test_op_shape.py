"""Shape and indexing ops against PyTorch: views, joins, splits, gathers, getitem."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import HYP
from hypothesis import given
from hypothesis import strategies as st
from op_harness import T, check, seeds, shapes

import nerve


def _t(a):
    return torch.from_numpy(np.asarray(a))


# --- views --------------------------------------------------------------------------------

@given(shape=shapes(), data=st.data(), seed=seeds)
@HYP
def test_reshape_view_flatten(shape, data, seed):
    n = int(np.prod(shape))
    target = data.draw(st.sampled_from([(n,), (-1,), (1, n), (n, 1, -1)]))
    check(lambda x: x.reshape(target), T(shape), seed=seed, double=True)
    check(lambda x: x.view(*target), T(shape), seed=seed)
    check(lambda x: x.flatten(), T(shape), seed=seed)
    if len(shape) >= 2:
        check(lambda x: x.flatten(1), T(shape), seed=seed)
        check(lambda x: x.flatten(0, -2), T(shape), seed=seed)


@given(shape=shapes(), data=st.data(), seed=seeds)
@HYP
def test_squeeze_unsqueeze(shape, data, seed):
    nd = len(shape)
    check(lambda x: x.squeeze(), T(shape), seed=seed)
    if nd:
        d = data.draw(st.integers(-nd, nd - 1))
        check(lambda x: x.squeeze(d), T(shape), seed=seed)
    u = data.draw(st.integers(-nd - 1, nd))
    check(lambda x: x.unsqueeze(u), T(shape), seed=seed, double=True)


@given(shape=shapes(min_dims=2), data=st.data(), seed=seeds)
@HYP
def test_transpose_permute(shape, data, seed):
    nd = len(shape)
    d0, d1 = data.draw(st.integers(-nd, nd - 1)), data.draw(st.integers(-nd, nd - 1))
    perm = tuple(data.draw(st.permutations(range(nd))))
    check(lambda x: x.transpose(d0, d1), T(shape), seed=seed, double=True)
    check(lambda x: x.permute(*perm), T(shape), seed=seed, double=True)
    check(lambda x: x.permute(perm) * 2.0, T(shape), seed=seed)
    check(lambda x: x.t() if x.ndim == 2 else x.mT, T(shape), seed=seed)


@given(shape=shapes(max_dims=3), data=st.data(), seed=seeds)
@HYP
def test_expand(shape, data, seed):
    lead = data.draw(st.lists(st.integers(1, 3), max_size=2))
    target = tuple(lead) + tuple(data.draw(st.integers(1, 3)) if s == 1 else s for s in shape)
    check(lambda x: x.expand(target), T(shape), seed=seed, double=True)
    with_minus = tuple(lead) + (-1,) * len(shape)
    check(lambda x: x.expand(with_minus), T(shape), seed=seed)


@given(shape=shapes(max_dims=3), data=st.data(), seed=seeds)
@HYP
def test_repeat(shape, data, seed):
    reps = tuple(data.draw(st.lists(st.integers(1, 3), min_size=len(shape),
                                    max_size=len(shape) + 2)))
    check(lambda x: x.repeat(reps), T(shape), seed=seed, double=True)


def test_flip_tile_movedim():
    check(lambda lib, x: lib.flip(x, (0, 2)), (2, 3, 4), double=True)
    check(lambda lib, x: lib.tile(x, (2, 1)), (2, 3), double=True)
    check(lambda lib, x: lib.movedim(x, 0, 2), (2, 3, 4))


# --- joins and splits -----------------------------------------------------------------------

@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
@HYP
def test_cat_stack(shape, data, seed):
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    specs = [T(shape[:d % nd] + (s,) + shape[d % nd + 1:]) for s in sizes]
    check(lambda lib, *xs: lib.cat(xs, dim=d), *specs, seed=seed, double=True)
    sd = data.draw(st.integers(-nd - 1, nd))
    check(lambda lib, *xs: lib.stack(xs, dim=sd), *[T(shape)] * len(sizes), seed=seed,
          double=True)


def test_cat_mixed_requires_grad_and_dtypes():
    check(lambda lib, x, y: lib.cat([x, y], 1), (2, 3), T((2, 2), grad=False))
    a = nerve.tensor([[1, 2]])
    b = nerve.tensor([[0.5, 1.5]])
    out = nerve.cat([a, b])
    assert out.dtype == torch.cat([_t(a.data), _t(b.data)]).dtype.__str__().replace(
        "torch.", "") or out.dtype == nerve.float32
    assert out.dtype == nerve.float32
    with pytest.raises(RuntimeError, match=r"\(2, 3\).*\(2, 4, 1\)|\(2, 4, 1\)"):
        nerve.cat([nerve.zeros(2, 3), nerve.zeros(2, 4, 1)])


@given(shape=shapes(min_dims=1, max_side=6), data=st.data(), seed=seeds)
@HYP
def test_split_chunk(shape, data, seed):
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    n = shape[d]
    size = data.draw(st.integers(1, n))
    check(lambda x: x.split(size, d), T(shape), seed=seed, double=True)
    chunks = data.draw(st.integers(1, n + 1))
    check(lambda x: x.chunk(chunks, d), T(shape), seed=seed)
    cuts = sorted(data.draw(st.lists(st.integers(0, n), min_size=1, max_size=2)))
    sections = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    check(lambda x: x.split(sections, d), T(shape), seed=seed)


def test_split_partial_use():
    # only some outputs reach the loss: the rest contribute zeros
    check(lambda x: x.split(2, 1)[1] * 3.0, (3, 5), double=True)
    check(lambda x: x.chunk(3)[0].exp(), (6, 2), double=True)
    check(lambda lib, x: lib.unbind(x, 1)[2], (3, 4))


@pytest.mark.parametrize("pad", [(1, 2), (0, 1, 2, 0), (1, 1, 1, 1, 1, 1), (-1, 2), (2, -1, 0, 1)])
def test_pad_constant(pad):
    check(lambda x: F.pad(x, pad) if isinstance(x, torch.Tensor) else nerve.pad(x, pad),
          (2, 3, 4), double=True)
    check(lambda x: F.pad(x, pad, value=1.5) if isinstance(x, torch.Tensor)
          else nerve.pad(x, pad, value=1.5), (2, 3, 4))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes(mode):
    check(lambda x: nerve.pad(x, (1, 2), mode=mode), (2, 3, 4),
          torch_fn=lambda x: F.pad(x, (1, 2), mode=mode))
    check(lambda x: nerve.pad(x, (1, 1, 2, 0), mode=mode), (1, 2, 3, 4),
          torch_fn=lambda x: F.pad(x, (1, 1, 2, 0), mode=mode))


# --- gathers and indexing ------------------------------------------------------------------

@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
@HYP
def test_gather(shape, data, seed):
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    ishape = tuple(data.draw(st.integers(1, s)) if i != d % nd else data.draw(st.integers(1, 5))
                   for i, s in enumerate(shape))
    idx = np.random.default_rng(seed).integers(0, shape[d], size=ishape)
    check(lambda x: nerve.gather(x, d, nerve.tensor(idx)), T(shape), seed=seed,
          torch_fn=lambda x: torch.gather(x, d, _t(idx)), double=True)


@given(shape=shapes(min_dims=1), data=st.data(), seed=seeds)
@HYP
def test_index_select(shape, data, seed):
    nd = len(shape)
    d = data.draw(st.integers(-nd, nd - 1))
    idx = np.random.default_rng(seed).integers(0, shape[d], size=data.draw(st.integers(0, 6)))
    check(lambda x: x.index_select(d, nerve.tensor(idx)), T(shape), seed=seed,
          torch_fn=lambda x: x.index_select(d, _t(idx)), double=True)


@given(shape=shapes(min_dims=1), seed=seeds)
@HYP
def test_masked_fill(shape, seed):
    rng = np.random.default_rng(seed)
    m = rng.random(shape[1:]) < 0.5
    check(lambda x: x.masked_fill(nerve.tensor(m), -1.5), T(shape), seed=seed,
          torch_fn=lambda x: x.masked_fill(_t(m), -1.5), double=True)
    full = rng.random(shape) < 0.5
    check(lambda x: x.masked_fill(nerve.tensor(full), 0.0), T(shape), seed=seed,
          torch_fn=lambda x: x.masked_fill(_t(full), 0.0))


def test_masked_fill_tensor_value():
    m = np.array([[True, False, True], [False, False, True]])
    check(lambda x, v: x.masked_fill(nerve.tensor(m), v), (2, 3), (),
          torch_fn=lambda x, v: x.masked_fill(_t(m), v))


BASIC_KEYS = [
    (0,), (-1,), (slice(1, None),), (slice(None, None, 2),), (slice(None, None, -1),),
    (Ellipsis, 0), (None, slice(None), 1), (1, slice(0, 2)), (slice(None), None, -1),
    (slice(-3, -1), Ellipsis), (slice(5, 10),),
]


@pytest.mark.parametrize("key", BASIC_KEYS, ids=repr)
def test_getitem_basic(key):
    if any(isinstance(k, slice) and k.step is not None and k.step < 0 for k in key):
        # torch has no negative steps: compare against flip
        check(lambda x: x[key], (3, 4, 2),
              torch_fn=lambda x: x.flip(0) if key[0] == slice(None, None, -1) else x[
                  :, None].flip(-1), double=True)
        return
    check(lambda x: x[key], (3, 4, 2), double=True)


def test_getitem_integer_arrays_accumulate():
    rows = np.array([0, 2, 0, 0, 1])
    check(lambda x: x[nerve.tensor(rows)], (3, 4), torch_fn=lambda x: x[_t(rows)], double=True)
    check(lambda x: x[nerve.tensor(rows), 1:3], (3, 4),
          torch_fn=lambda x: x[_t(rows), 1:3], double=True)
    cols = np.array([[1, 1], [3, 0]])
    check(lambda x: x[:, nerve.tensor(cols)], (3, 4), torch_fn=lambda x: x[:, _t(cols)],
          double=True)
    r2 = np.array([0, 0, 2])
    c2 = np.array([1, 1, 3])
    check(lambda x: x[nerve.tensor(r2), nerve.tensor(c2)], (3, 4),
          torch_fn=lambda x: x[_t(r2), _t(c2)], double=True)
    check(lambda x: x[[0, 0, -1]], (3, 4), torch_fn=lambda x: x[[0, 0, -1]])
    check(lambda x: x[nerve.tensor(1)], (3, 4), torch_fn=lambda x: x[torch.tensor(1)])
    check(lambda x: x[..., nerve.tensor(rows)], (2, 3), torch_fn=lambda x: x[..., _t(rows)])


def test_getitem_repeated_index_gradient_is_count():
    x = nerve.ones(3, requires_grad=True)
    x[nerve.tensor([1, 1, 1, 0])].sum().backward()
    assert x.grad.tolist() == [1.0, 3.0, 0.0]


def test_getitem_boolean_masks():
    rng = np.random.default_rng(0)
    full = rng.random((3, 4)) < 0.5
    rows = np.array([True, False, True])
    check(lambda x: x[nerve.tensor(full)], (3, 4), torch_fn=lambda x: x[_t(full)], double=True)
    check(lambda x: x[nerve.tensor(rows)], (3, 4), torch_fn=lambda x: x[_t(rows)])
    check(lambda x: x[nerve.tensor(rows), 1:], (3, 4), torch_fn=lambda x: x[_t(rows), 1:])
    check(lambda x: x[x > 0], (3, 4), double=True)
    empty = np.zeros((3, 4), dtype=bool)
    check(lambda x: x[nerve.tensor(empty)], (3, 4), torch_fn=lambda x: x[_t(empty)])
    with pytest.raises(IndexError, match=r"\(2,\).*\(3, 4\)"):
        nerve.zeros(3, 4)[nerve.tensor([True, False])]


def test_getitem_out_of_range_names_shape():
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        nerve.zeros(3, 4, requires_grad=True)[5]
    with pytest.raises(IndexError, match=r"\(3, 4\)"):
        nerve.zeros(3, 4)[5]


def test_scatter_add_narrow_select():
    idx = np.array([[0, 1, 0], [2, 2, 1]])
    check(lambda x, s: x.scatter_add(1, nerve.tensor(idx), s), (2, 4), (2, 3),
          torch_fn=lambda x, s: x.scatter_add(1, _t(idx), s), double=True)
    check(lambda x: x.narrow(1, 1, 2), (2, 4), double=True)
    check(lambda x: x.select(1, -1), (2, 4))


def test_masked_fill_mask_must_broadcast_to_input():
    with pytest.raises(RuntimeError, match=r"masked_fill.*\(2, 3\).*\(3,\)"):
        nerve.ones(3).masked_fill(nerve.ones(2, 3).bool(), 0.0)
