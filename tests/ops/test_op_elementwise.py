"""Elementwise ops against PyTorch: forward, gradients, dtypes, gradcheck, double backward."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import HYP, assert_close
from hypothesis import given
from op_harness import T, broadcast_pair, broadcast_triple, check, seeds, shapes

import nerve

# --- binary arithmetic with broadcasting ---------------------------------------------------

BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "radd": lambda x, y: x.add(y, alpha=2) if isinstance(x, nerve.Tensor) else x.add(y, alpha=2),
    "maximum": lambda lib, x, y: lib.maximum(x, y),
    "minimum": lambda lib, x, y: lib.minimum(x, y),
}


@pytest.mark.parametrize("name", list(BINARY))
@given(pair=broadcast_pair(), seed=seeds)
@HYP
def test_binary(name, pair, seed):
    check(BINARY[name], T(pair[0]), T(pair[1]), seed=seed, double=True)


@given(pair=broadcast_pair(), seed=seeds)
@HYP
def test_div(pair, seed):
    check(lambda x, y: x / y, T(pair[0]), T(pair[1], away=0.5), seed=seed, double=True)


@given(pair=broadcast_pair(), seed=seeds)
@HYP
def test_remainder(pair, seed):
    # torch has no derivative w.r.t. the divisor: compare the dividend's, gradcheck both
    check(lambda x, y: x % y, T(pair[0], -5, 5), T(pair[1], away=0.5, grad=False), seed=seed,
          double=True)
    rng = np.random.default_rng(seed)
    a = nerve.tensor(rng.uniform(-5, 5, pair[0]), requires_grad=True)
    b = nerve.tensor(rng.uniform(0.5, 2, pair[1]), requires_grad=True)
    nerve.autograd.gradcheck(lambda x, y: x % y, [a, b])
    check(lambda x: x % 1.5, T(pair[0], -5, 5), seed=seed)
    check(lambda x: 7.0 % x, T(pair[0], away=0.5, grad=False), seed=seed)


@given(shape=shapes(), seed=seeds)
@HYP
def test_scalar_operands(shape, seed):
    check(lambda x: (2.5 * x - 1.5) / 3.0 + 1 - x * 2, T(shape), seed=seed, double=True)
    check(lambda x: 1.0 / x + 2 / x - (3 - x), T(shape, away=0.5), seed=seed, double=True)


def test_binary_ties_and_size1():
    # maximum/minimum split the gradient evenly on ties, as torch does
    x = T(values=np.array([1.0, 2.0, 3.0, 3.0]))
    y = T(values=np.array([1.0, 0.0, 3.0, 4.0]))
    check(lambda lib, a, b: lib.maximum(a, b), x, y, gradcheck=False)
    check(lambda lib, a, b: lib.minimum(a, b), x, y, gradcheck=False)
    check(lambda x, y: x * y, (1, 1), (3, 1, 4), double=True)
    check(lambda x, y: x + y, (), (2, 3), double=True)


# --- pow ------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [2, 3, 0.5, -1, -2.5, 0, 1])
@given(shape=shapes(), seed=seeds)
@HYP
def test_pow_scalar(p, shape, seed):
    check(lambda x: x ** p, T(shape, 0.5, 2.0), seed=seed, double=True)


def test_pow_negative_base_integer_exponent():
    check(lambda x: x ** 3, T((4,), -2, 2), double=True)
    check(lambda x: x ** -2, T((4,), away=0.5), double=True)


@given(pair=broadcast_pair(), seed=seeds)
@HYP
def test_pow_tensor(pair, seed):
    check(lambda x, y: x ** y, T(pair[0], 0.5, 2.0), T(pair[1], -2, 2), seed=seed, double=True)


@given(shape=shapes(), seed=seeds)
@HYP
def test_rpow(shape, seed):
    check(lambda x: 2.0 ** x, T(shape), seed=seed, double=True)
    check(lambda x: 3 ** x, T(shape), seed=seed, double=True)


def test_pow_zero_base_exponent_grad():
    # d(0^y)/dy is 0 for y >= 0 in torch (no NaN from 0·log 0)
    check(lambda x, y: x ** y, T(values=np.array([0.0, 0.0, 1.5])),
          T(values=np.array([2.0, 0.0, 1.0])), gradcheck=False)


def test_pow_int():
    x = nerve.tensor([1, 2, 3])
    assert (x ** 2).dtype == nerve.int64 and (x ** 2).tolist() == [1, 4, 9]
    assert (x ** 0.5).dtype == nerve.float32
    assert (x ** -1).dtype == nerve.float32
    assert (x ** np.float64(2.0)).dtype == nerve.float32
    f = nerve.tensor([1.0, 2.0])
    assert (f ** np.float64(3.0)).dtype == nerve.float32
    assert (f ** np.int64(3)).dtype == nerve.float32
    assert (2 ** x).dtype == nerve.int64 and (2.0 ** x).dtype == nerve.float32


# --- unary math and activations -------------------------------------------------------------

UNARY = {
    "neg": (lambda x: -x, T()),
    "exp": (lambda x: x.exp(), T()),
    "log": (lambda x: x.log(), T(low=0.2, high=3.0)),
    "sqrt": (lambda x: x.sqrt(), T(low=0.2, high=3.0)),
    "abs": (lambda x: x.abs(), T(away=0.05)),
    "sin": (lambda x: x.sin(), T()),
    "cos": (lambda x: x.cos(), T()),
    "tanh": (lambda x: x.tanh(), T()),
    "sigmoid": (lambda x: x.sigmoid(), T(low=-5, high=5)),
    "relu": (lambda x: x.relu(), T(away=0.05)),
    "square": (lambda x: x.square(), T()),
    "rsqrt": (lambda x: x.rsqrt(), T(low=0.2, high=3.0)),
    "log1p": (lambda x: x.log1p(), T(low=-0.5, high=3.0)),
    "expm1": (lambda lib, x: lib.expm1(x), T()),
    "reciprocal": (lambda x: x.reciprocal(), T(away=0.5)),
    "erf": (lambda x: x.erf(), T(low=-3, high=3)),
}
ACTIVATIONS = {
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: nerve.leaky_relu(x, 0.1)),
    "leaky_relu_default": (lambda x: F.leaky_relu(x), lambda x: nerve.leaky_relu(x)),
    "elu": (lambda x: F.elu(x), lambda x: nerve.elu(x)),
    "elu_alpha": (lambda x: F.elu(x, alpha=0.7), lambda x: nerve.elu(x, alpha=0.7)),
    "gelu": (lambda x: F.gelu(x), lambda x: nerve.gelu(x)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: nerve.gelu(x, approximate="tanh")),
    "silu": (lambda x: F.silu(x), lambda x: nerve.silu(x)),
    "softplus": (lambda x: F.softplus(x), lambda x: nerve.softplus(x)),
    "softplus_beta": (lambda x: F.softplus(x, beta=2.0, threshold=3.0),
                      lambda x: nerve.softplus(x, beta=2.0, threshold=3.0)),
}


@pytest.mark.parametrize("name", list(UNARY))
@given(shape=shapes(), seed=seeds)
@HYP
def test_unary(name, shape, seed):
    fn, spec = UNARY[name]
    spec = T(shape, spec.low, spec.high, away=spec.away)
    check(fn, spec, seed=seed, double=True)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(shape=shapes(), seed=seeds)
@HYP
def test_activation(name, shape, seed):
    tfn, nfn = ACTIVATIONS[name]
    check(nfn, T(shape, -4, 4, away=0.01), torch_fn=tfn, seed=seed, double=True)


def test_activation_extremes():
    big = T(values=np.array([-100.0, -30.0, -5.0, 0.5, 5.0, 30.0, 100.0]))
    for tfn, nfn in ACTIVATIONS.values():
        check(nfn, big, torch_fn=tfn, gradcheck=False)
    check(lambda x: x.sigmoid(), big, gradcheck=False)
    check(lambda x: x.tanh(), big, gradcheck=False)


# --- clamp, where ------------------------------------------------------------------------

@pytest.mark.parametrize("lo,hi", [(-0.5, 0.7), (None, 0.3), (-0.2, None), (1.0, -1.0)])
@given(shape=shapes(), seed=seeds)
@HYP
def test_clamp(lo, hi, shape, seed):
    check(lambda x: x.clamp(lo, hi), T(shape), seed=seed, double=True)


def test_clamp_tensor_bounds_and_dtypes():
    check(lambda lib, x, lo, hi: lib.clamp(x, lo, hi), (3, 4), T((4,), -2, -0.5),
          T((3, 1), 0.5, 2), double=True)
    x = nerve.randn(4)
    assert nerve.clamp(x, min=np.float64(0.1)).dtype == nerve.float32
    assert nerve.clamp(nerve.tensor([1, 2, 3]), 2).dtype == nerve.int64
    i = nerve.tensor([1, 2, 3])
    assert_close(nerve.clamp(i, min=1.5), torch.clamp(torch.tensor([1, 2, 3]), min=1.5))
    with pytest.raises(ValueError, match="clamp"):
        nerve.clamp(x)


@given(shapes3=broadcast_triple(), seed=seeds)
@HYP
def test_where(shapes3, seed):
    c, a, b = shapes3
    check(lambda lib, cond, x, y: lib.where(cond, x, y), T(c, dtype=bool), T(a), T(b),
          seed=seed, double=True)


def test_where_scalars_and_dtypes():
    cond = nerve.tensor([True, False, True])
    tcond = torch.tensor([True, False, True])
    x = nerve.tensor([1.0, 2.0, 3.0])
    tx = torch.tensor([1.0, 2.0, 3.0])
    assert_close(nerve.where(cond, x, 0.0), torch.where(tcond, tx, 0.0))
    assert_close(nerve.where(cond, 0.0, x), torch.where(tcond, 0.0, tx))
    assert_close(nerve.where(cond, 1.0, 0.0), torch.where(tcond, 1.0, 0.0))
    i = nerve.tensor([1, 2, 3])
    assert_close(nerve.where(cond, i, 0.5), torch.where(tcond, torch.tensor([1, 2, 3]), 0.5))
    assert_close(nerve.where(cond, i, 0), torch.where(tcond, torch.tensor([1, 2, 3]), 0))


# --- comparisons, logic --------------------------------------------------------------------

@pytest.mark.parametrize("op", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_comparisons_are_bool(op):
    a = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)
    b = np.array([[2.0], [2.0]], dtype=np.float32)
    na, ta = nerve.tensor(a, requires_grad=True), torch.tensor(a)
    out = getattr(na, op)(nerve.tensor(b))
    assert out.dtype == nerve.bool and not out.requires_grad
    assert_close(out, getattr(ta, op)(torch.tensor(b)))
    assert_close(getattr(na, op)(2.0), getattr(ta, op)(2.0))
    assert_close(getattr(na, op)(2), getattr(ta, op)(2))
    ops = {"eq": "__eq__", "ne": "__ne__", "lt": "__lt__", "le": "__le__", "gt": "__gt__",
           "ge": "__ge__"}
    assert_close(getattr(na, ops[op])(2.0), getattr(ta, ops[op])(2.0))
    ni = nerve.tensor([1, 2, 3])
    assert_close(getattr(ni, op)(2.5), getattr(torch.tensor([1, 2, 3]), op)(2.5))


def test_logic_and_predicates():
    a = nerve.tensor([1.0, float("nan"), float("inf"), 0.0])
    t = torch.tensor([1.0, float("nan"), float("inf"), 0.0])
    for name in ["isnan", "isinf", "isfinite"]:
        assert_close(getattr(a, name)(), getattr(t, name)())
    m = nerve.tensor([True, False]), torch.tensor([True, False])
    k = nerve.tensor([True, True]), torch.tensor([True, True])
    assert_close(m[0] & k[0], m[1] & k[1])
    assert_close(m[0] | ~k[0], m[1] | ~k[1])
    assert_close(m[0].logical_not(), m[1].logical_not())


# --- dtype promotion ----------------------------------------------------------------------

def _pairs():
    i64 = np.array([1, 2, 3], dtype=np.int64)
    i32 = np.array([1, 2, 3], dtype=np.int32)
    f32 = np.array([0.5, 1.5, 2.5], dtype=np.float32)
    f64 = np.array([0.5, 1.5, 2.5], dtype=np.float64)
    b = np.array([True, False, True])
    u8 = np.array([1, 2, 3], dtype=np.uint8)
    s_f64 = np.array(2.5, dtype=np.float64)
    s_i64 = np.array(2, dtype=np.int64)
    s_f32 = np.array(2.5, dtype=np.float32)
    arrays = [i64, i32, f32, f64, b, u8, s_f64, s_i64, s_f32]
    scalars = [2, 2.5, True, -3]
    pairs = [(x, y) for x in arrays for y in arrays]
    pairs += [(x, s) for x in arrays for s in scalars]
    pairs += [(s, x) for x in arrays for s in scalars]
    return pairs


def _wrap(v, lib):
    if isinstance(v, np.ndarray):
        return nerve.tensor(v) if lib is nerve else torch.tensor(v)
    return v


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv", "maximum", "eq", "lt", "where"])
def test_type_promotion_matches_torch(op):
    fns = {
        "add": lambda a, b, lib: a + b, "sub": lambda a, b, lib: a - b,
        "mul": lambda a, b, lib: a * b, "truediv": lambda a, b, lib: a / b,
        "maximum": lambda a, b, lib: lib.maximum(a, b), "eq": lambda a, b, lib: a == b,
        "lt": lambda a, b, lib: a < b,
        "where": lambda a, b, lib: lib.where(
            lib.tensor([True, False, True]) if lib is nerve else torch.tensor([True, False, True]),
            a, b),
    }
    fn = fns[op]
    checked = 0
    for x, y in _pairs():
        if not (isinstance(x, np.ndarray) or isinstance(y, np.ndarray)):
            continue
        if op == "sub" and (np.asarray(x).dtype == bool or np.asarray(y).dtype == bool):
            continue  # torch forbids subtracting bools
        if op == "maximum" and not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
            continue
        if op == "where" and not (isinstance(x, np.ndarray) or isinstance(y, np.ndarray)):
            continue
        try:
            expected = fn(_wrap(x, torch), _wrap(y, torch), torch)
        except (RuntimeError, TypeError):
            continue
        with np.errstate(divide="ignore", invalid="ignore"):  # x / False is inf, as in torch
            got = fn(_wrap(x, nerve), _wrap(y, nerve), nerve)
        assert_close(got, expected, msg=f"{op}({x!r}, {y!r})")
        checked += 1
    assert checked > 40


def test_type_promotion_named_cases():
    i = nerve.tensor([1, 2, 3])
    f = nerve.tensor([1.0, 2.0, 3.0])
    assert (i + f).dtype == nerve.float32
    assert (i * 2.5).dtype == nerve.float32
    assert (f + 1.5).dtype == nerve.float32
    assert (f + np.float64(1.5)).dtype == nerve.float32
    assert (f * np.float64(1.5)).dtype == nerve.float32
    assert (f + f.double()).dtype == nerve.float64
    assert (i / i).dtype == nerve.float32 and (i / 2).dtype == nerve.float32
    assert (f + nerve.tensor(1.5, dtype=nerve.float64)).dtype == nerve.float32  # 0-d loses


def test_float32_gradients_stay_float32():
    x = nerve.randn(3, 4, requires_grad=True)
    y = nerve.randn(4, requires_grad=True)
    out = ((x * 1.5 + y / 3.0) ** 2).sum() + (x * np.float64(2.0)).mean() + (2.0 ** y).sum()
    assert out.dtype == nerve.float32
    out.backward()
    assert x.grad.dtype == nerve.float32 and y.grad.dtype == nerve.float32


def test_compare_with_none_and_bad_operands():
    x = nerve.ones(2)
    assert (x == None) is False and (x != None) is True  # noqa: E711  (torch semantics)
    with pytest.raises(TypeError, match="unsupported operand"):
        x + "a"


def test_integer_floor_div_and_remainder():
    a = np.array([-7, -3, 4, 9])
    for fn in (lambda x: x // 2, lambda x: x % 3, lambda x: 7 % x[2:], lambda x: 7 // x[2:]):
        assert_close(fn(nerve.tensor(a)), fn(torch.tensor(a)))
