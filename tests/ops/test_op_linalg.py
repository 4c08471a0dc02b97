"""Matrix products against PyTorch: matmul in every rank combination, linear, errors."""
from __future__ import annotations

import pytest
import torch.nn.functional as F
from conftest import HYP
from hypothesis import given
from hypothesis import strategies as st
from op_harness import T, check, seeds

import nerve

side = st.integers(1, 4)


@st.composite
def matmul_shapes(draw):
    """Operand shapes for every rank pair (1-D vectors, matrices, broadcast batch dims)."""
    n, k, m = draw(side), draw(side), draw(side)
    ra, rb = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = tuple(draw(st.lists(side, min_size=max(ra, rb) - 2, max_size=max(ra, rb) - 2))) \
        if max(ra, rb) > 2 else ()

    def batch_for(r):
        b = batch[len(batch) - (r - 2):] if r > 2 else ()
        return tuple(1 if draw(st.booleans()) else s for s in b)  # size-1 broadcast dims

    a = (k,) if ra == 1 else batch_for(ra) + (n, k)
    b = (k,) if rb == 1 else batch_for(rb) + (k, m)
    return a, b


@given(ab=matmul_shapes(), seed=seeds)
@HYP
def test_matmul(ab, seed):
    a, b = ab
    check(lambda x, y: x @ y, T(a), T(b), seed=seed, double=True)


def test_matmul_fixed_cases():
    check(lambda x, y: x @ y, (3,), (3,), double=True)
    check(lambda x, y: x.matmul(y), (2, 3), (3,), double=True)
    check(lambda x, y: x @ y, (3,), (2, 3, 4), double=True)
    check(lambda x, y: x @ y, (5, 1, 2, 3), (4, 3, 2), double=True)
    check(lambda lib, x, y: lib.mm(x, y), (2, 3), (3, 4))
    check(lambda lib, x, y: lib.bmm(x, y), (2, 2, 3), (2, 3, 4))
    check(lambda lib, x, y: lib.dot(x, y), (4,), (4,))
    check(lambda lib, x, y: lib.outer(x, y), (4,), (3,))


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(RuntimeError, match=r"\(2, 3\).*\(4, 5\)"):
        nerve.randn(2, 3) @ nerve.randn(4, 5)
    with pytest.raises(RuntimeError, match=r"\(2, 2, 3\).*\(3, 3, 4\)"):
        nerve.randn(2, 2, 3) @ nerve.randn(3, 3, 4)
    with pytest.raises(RuntimeError, match=r"\(3,\).*\(4,\)"):
        nerve.randn(3) @ nerve.randn(4)


@pytest.mark.parametrize("xshape", [(5, 3), (3,), (2, 4, 3), (0, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias):
    specs = [T(xshape), T((4, 3))] + ([T((4,))] if bias else [])
    check(lambda x, w, *b: nerve.linear(x, w, *b), *specs,
          torch_fn=lambda x, w, *b: F.linear(x, w, *b), double=True)


def test_linear_shape_error():
    with pytest.raises(RuntimeError, match=r"linear.*\(5, 2\).*\(4, 3\)"):
        nerve.linear(nerve.randn(5, 2), nerve.randn(4, 3))
