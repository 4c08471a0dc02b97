"""Elementwise ops: arithmetic, math functions and activations.

Each backward is written with nerve's own ops, so ``create_graph=True`` yields higher
derivatives. Broadcasting is undone by the engine (``sum_to``), not here. Outputs that
backward needs (exp, tanh, sigmoid, ...) are saved as arrays and recomputed from the
input only when a graph of the backward is being built.
"""
from __future__ import annotations

import math

import numpy as np

from .. import _backend as B
from .. import _parallel
from ..autograd import Function, _Mode
from ..tensor import Tensor

W = Tensor._wrap


# --- dtype promotion (PyTorch's rules, not NumPy's) -------------------------------------

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2}  # bool < integer < floating


def _result_dtype(da: np.dtype, db: np.dtype) -> np.dtype:
    """torch.promote_types: an integer or bool meeting a float gives that float."""
    fa, fb = da.kind == "f", db.kind == "f"
    if fa and not fb:
        return da
    if fb and not fa:
        return db
    return np.promote_types(da, db)


def _tensor_result_dtype(a: Tensor, b: Tensor) -> np.dtype:
    """torch.result_type of two tensors: a 0-d tensor only decides the dtype when its
    category (bool < int < float) is higher than the dimensioned tensor's."""
    da, db = a.data.dtype, b.data.dtype
    za, zb = a.data.ndim == 0, b.data.ndim == 0
    if za != zb:
        dim, zero = (db, da) if za else (da, db)
        return _result_dtype(dim, zero) if _CATEGORY[zero.kind] > _CATEGORY[dim.kind] else dim
    return _result_dtype(da, db)


def _as_tensor_like(x, ref: Tensor) -> Tensor:
    """A Python/NumPy scalar or array as a constant tensor, typed against ``ref`` like
    PyTorch: a scalar takes ``ref``'s dtype unless its category is higher (then int64 or
    the default float). NumPy scalars count as Python scalars (no float64 upcast)."""
    if isinstance(x, Tensor):
        return x
    d = ref.data
    xp = np if type(d) is np.ndarray else B.xp_of(d)
    rd = d.dtype
    if type(x) is float or isinstance(x, np.floating):  # the common case first
        return W(xp.asarray(x, dtype=rd if rd.kind == "f" else B.default_np_dtype()))
    if isinstance(x, (bool, np.bool_)):
        return W(xp.asarray(x, dtype=rd if rd.kind != "b" else np.bool_))
    if isinstance(x, (int, np.integer)):
        if rd.kind in "iu":  # wraps like torch (uint8 tensor + -3)
            return W(xp.asarray(int(x)).astype(rd))
        return W(xp.asarray(x, dtype=rd if rd.kind == "f" else np.int64))
    arr = xp.asarray(x)
    if arr.dtype == np.float64 and not isinstance(x, (np.ndarray, np.generic)):
        arr = arr.astype(B.default_np_dtype())
    elif arr.dtype.kind not in "biuf":
        raise TypeError(f"unsupported operand for a tensor op: {type(x).__name__} {x!r:.50}")
    return W(arr)


def promote(a, b) -> tuple[Tensor, Tensor]:
    """Make both operands Tensors whose NumPy result dtype equals PyTorch's."""
    if not isinstance(a, Tensor):
        a = _as_tensor_like(a, b)
    elif not isinstance(b, Tensor):
        b = _as_tensor_like(b, a)
    da, db = a.data.dtype, b.data.dtype
    if da is db or da == db:
        return a, b
    rd = _tensor_result_dtype(a, b)
    if np.promote_types(da, db) == rd:  # NumPy already gets it right (e.g. float32 * bool)
        return a, b
    return (a if da == rd else cast(a, rd)), (b if db == rd else cast(b, rd))


def _float(x: Tensor) -> Tensor:
    return x if x.data.dtype.kind == "f" else cast(x, B.default_np_dtype())


# --- casting and copies -----------------------------------------------------------------

class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.src = x.data.dtype
        return x.data.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return cast(g, ctx.src), None


def cast(x: Tensor, dtype) -> Tensor:
    dtype = B.as_np_dtype(dtype)
    if x.data.dtype == dtype:
        return x
    return Cast.apply(x, dtype)


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, dev):
        ctx.src = x.device
        xp = B.get_xp(dev)
        return xp.asarray(x.data) if dev.type == "cuda" else x.data.get()

    @staticmethod
    def backward(ctx, g):
        return to_device(g, ctx.src), None


def to_device(x: Tensor, dev) -> Tensor:
    return ToDevice.apply(x, B.device(dev))


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.data.copy()  # C order, as torch's clone of a contiguous tensor

    @staticmethod
    def backward(ctx, g):
        return g


def clone(x: Tensor) -> Tensor:
    return Clone.apply(x)


# --- arithmetic -------------------------------------------------------------------------

def _binary(f, a, b):
    """``f(a, b)`` on arrays; big same-shape NumPy operands are split across threads."""
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and \
            a.size >= _parallel.MIN_ELEMS:
        return _parallel.ufunc(f, a, b, out=np.empty(a.shape, np.result_type(a, b)))
    return f(a, b)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return _binary(np.add, a.data, b.data) if a.xp is np else a.data + b.data

    @staticmethod
    def backward(ctx, g):  # d(a+b) = da + db
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return _binary(np.subtract, a.data, b.data) if a.xp is np else a.data - b.data

    @staticmethod
    def backward(ctx, g):  # d(a-b) = da - db
        return g, (neg(g) if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return _binary(np.multiply, a.data, b.data) if a.xp is np else a.data * b.data

    @staticmethod
    def backward(ctx, g):  # d(ab) = b da + a db
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (mul(g, b) if na else None), (mul(g, a) if nb else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.data / b.data

    @staticmethod
    def backward(ctx, g):  # d(a/b) = da/b - a db/b²
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = div(g, b) if na else None
        gb = neg(div(mul(g, a), mul(b, b))) if nb else None
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, x):
        return -x.data

    @staticmethod
    def backward(ctx, g):
        return neg(g)


class PowScalar(Function):
    @staticmethod
    def forward(ctx, x, p):
        ctx.save_for_backward(x)
        ctx.p = p
        if p == 2:
            return x.data * x.data
        return x.data ** p

    @staticmethod
    def backward(ctx, g):  # d(x^p) = p x^(p-1) dx
        (x,) = ctx.saved_tensors
        p = ctx.p
        if p == 0:
            return mul(g, 0.0), None
        if p == 2:
            return mul(g, mul(x, 2.0)), None
        return mul(g, mul(pow(x, p - 1), float(p))), None


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        with np.errstate(divide="ignore", invalid="ignore"):  # 0^-1 = inf, as in torch
            out = a.data ** b.data
        ctx.save_for_backward(a, b)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):
        # d(a^b) = b a^(b-1) da + a^b ln(a) db; like torch, the first term is 0 where b = 0
        # and the second is 0 where a = 0 and b >= 0 (no 0·inf NaNs)
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if na:
                ga = mul(g, where(W(b.data == 0), 0.0, mul(b, pow(a, sub(b, 1)))))
            if nb:
                out = pow(a, b) if _Mode.enabled else W(ctx.out)
                zero = W((a.data == 0) & (b.data >= 0))
                gb = mul(g, where(zero, 0.0, mul(out, log(a))))
        return ga, gb


def add(a, b, alpha=1) -> Tensor:
    if alpha != 1:
        b = mul(b, alpha)
    a, b = promote(a, b)
    return Add.apply(a, b)


def sub(a, b, alpha=1) -> Tensor:
    if alpha != 1:
        b = mul(b, alpha)
    a, b = promote(a, b)
    return Sub.apply(a, b)


def rsub(a, b) -> Tensor:
    return sub(b, a)


def mul(a, b) -> Tensor:
    a, b = promote(a, b)
    return Mul.apply(a, b)


def div(a, b, rounding_mode=None) -> Tensor:
    if rounding_mode is not None:
        a, b = promote(a, b)
        f = np.floor if rounding_mode == "floor" else np.trunc
        return W(f(a.data / b.data).astype(a.data.dtype))
    # true division is floating: integer tensors become float before a scalar is typed
    # against them (uint8 / -3 must not wrap -3 into uint8)
    fa = isinstance(a, Tensor) and a.data.dtype.kind == "f"
    fb = isinstance(b, Tensor) and b.data.dtype.kind == "f"
    if isinstance(a, Tensor) and not fa and not fb:
        a = _float(a)
    if isinstance(b, Tensor) and not fb and not fa:
        b = _float(b)
    a, b = promote(a, b)
    return Div.apply(a, b)


def rdiv(a, b) -> Tensor:
    return div(b, a)


def floordiv(a, b) -> Tensor:
    a, b = promote(a, b)
    return W(a.data // b.data)


class Remainder(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.data % b.data

    @staticmethod
    def backward(ctx, g):  # a mod b = a - ⌊a/b⌋ b:  da - ⌊a/b⌋ db
        a, b = ctx.saved_tensors
        nb = ctx.needs_input_grad[1]
        return g, (neg(mul(g, W(a.xp.floor(a.data / b.data)))) if nb else None)


def remainder(a, b) -> Tensor:
    """Python's modulo (the result has the divisor's sign), as torch.remainder."""
    a, b = promote(a, b)
    return Remainder.apply(a, b)


def neg(x: Tensor) -> Tensor:
    return Neg.apply(x)


def pow(x, p) -> Tensor:  # noqa: A001
    if isinstance(p, (np.integer, np.floating)) and p.ndim == 0:
        p = p.item()  # a NumPy scalar exponent must not upcast float32 (NEP 50)
    if isinstance(x, Tensor) and isinstance(p, (int, float)) and not isinstance(p, bool):
        if x.data.dtype.kind != "f" and (isinstance(p, float) or p < 0):
            x = _float(x)
        return PowScalar.apply(x, p)
    x, p = promote(x, p)
    return Pow.apply(x, p)


def rpow(x, base) -> Tensor:
    return pow(_as_tensor_like(base, x), x)


# --- unary math -------------------------------------------------------------------------

class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        out = np.exp(x.data) if x.xp is np else x.xp.exp(x.data)
        ctx.save_for_backward(x)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):  # d exp(x) = exp(x) dx
        (x,) = ctx.saved_tensors
        return mul(g, exp(x) if _Mode.enabled else W(ctx.out))


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.xp.log(x.data)

    @staticmethod
    def backward(ctx, g):  # d log x = dx / x
        (x,) = ctx.saved_tensors
        return div(g, x)


class Log1p(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.xp.log1p(x.data)

    @staticmethod
    def backward(ctx, g):  # d log(1+x) = dx / (1+x)
        (x,) = ctx.saved_tensors
        return div(g, add(x, 1.0))


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        out = x.xp.sqrt(x.data)
        ctx.save_for_backward(x)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):  # d sqrt(x) = dx / (2 sqrt(x))
        (x,) = ctx.saved_tensors
        return div(g, mul(sqrt(x) if _Mode.enabled else W(ctx.out), 2.0))


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.xp.abs(x.data)

    @staticmethod
    def backward(ctx, g):  # d|x| = sign(x) dx
        (x,) = ctx.saved_tensors
        return mul(g, W(x.xp.sign(x.data)))


class Sin(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.xp.sin(x.data)

    @staticmethod
    def backward(ctx, g):  # d sin x = cos x dx
        (x,) = ctx.saved_tensors
        return mul(g, cos(x))


class Cos(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.xp.cos(x.data)

    @staticmethod
    def backward(ctx, g):  # d cos x = -sin x dx
        (x,) = ctx.saved_tensors
        return neg(mul(g, sin(x)))


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        out = x.xp.tanh(x.data)
        ctx.save_for_backward(x)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):  # d tanh x = (1 - tanh² x) dx
        (x,) = ctx.saved_tensors
        if _Mode.enabled:
            y = tanh(x)
            return mul(g, rsub(mul(y, y), 1.0))
        y = ctx.out
        return mul(g, W(1 - y * y))


def _sigmoid_array(a):
    xp = B.xp_of(a)
    # σ(x) = ½ tanh(x/2) + ½: one transcendental call, no overflow
    out = xp.tanh(a * a.dtype.type(0.5))
    out *= 0.5
    out += 0.5
    return out


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        out = _sigmoid_array(x.data)
        ctx.save_for_backward(x)
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):  # dσ = σ (1 - σ) dx
        (x,) = ctx.saved_tensors
        if _Mode.enabled:
            y = sigmoid(x)
            return mul(g, mul(y, rsub(y, 1.0)))
        y = ctx.out
        return mul(g, W(y * (1 - y)))


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        d = x.data
        return _parallel.ufunc(np.maximum, d, d.dtype.type(0), out=np.empty_like(d)) \
            if x.xp is np else x.xp.maximum(d, 0)

    @staticmethod
    def backward(ctx, g):  # d relu = [x > 0] dx
        (x,) = ctx.saved_tensors
        xd, gd = x.data, g.data
        if _Mode.enabled or x.xp is not np or gd.shape != xd.shape or not gd.ndim:
            return mul(g, W(xd > 0))
        out = np.empty(gd.shape, np.result_type(gd, xd))

        def run(lo, hi):  # one pass per block: the mask stays in cache
            np.multiply(gd[lo:hi], xd[lo:hi] > 0, out=out[lo:hi])

        _parallel.split_rows(run, out.shape[0], out.size)
        return W(out)


class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.save_for_backward(x)
        ctx.slope = slope
        d = x.data
        return x.xp.where(d > 0, d, d * d.dtype.type(slope))

    @staticmethod
    def backward(ctx, g):  # d = 1 if x > 0 else slope
        (x,) = ctx.saved_tensors
        d = x.data
        return mul(g, W(x.xp.where(d > 0, d.dtype.type(1), d.dtype.type(ctx.slope)))), None


class Elu(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        d = x.data
        xp = x.xp
        return xp.where(d > 0, d, d.dtype.type(alpha) * xp.expm1(xp.minimum(d, 0)))

    @staticmethod
    def backward(ctx, g):  # d = 1 if x > 0 else α eˣ
        (x,) = ctx.saved_tensors
        pos = W(x.data > 0)
        neg_part = mul(exp(minimum(x, 0.0)), ctx.alpha)
        return mul(g, where(pos, 1.0, neg_part)), None


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


_erf_exact = np.frompyfunc(math.erf, 1, 1)


def _erf(a):
    """erf, dtype-preserving: exact (math.erf) for float64 NumPy arrays, else a Chebyshev
    fit with |error| < 1.2e-7 (Numerical Recipes erfc), below float32 resolution."""
    xp = B.xp_of(a)
    if xp is np and a.dtype == np.float64:
        return np.asarray(_erf_exact(a), dtype=np.float64)
    z = xp.abs(a)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (
        0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (
            1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    r = 1.0 - t * xp.exp(poly)
    return xp.where(a >= 0, r, -r).astype(a.dtype, copy=False)


class Gelu(Function):
    @staticmethod
    def forward(ctx, x, approximate):
        ctx.save_for_backward(x)
        ctx.approx = approximate
        d = x.data
        xp = x.xp
        if approximate == "tanh":
            inner = _SQRT_2_OVER_PI * (d + 0.044715 * d * d * d)
            return (0.5 * d * (1.0 + xp.tanh(inner))).astype(d.dtype, copy=False)
        return (0.5 * d * (1.0 + _erf(d * (1.0 / math.sqrt(2.0))))).astype(d.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if ctx.approx == "tanh":
            # u = √(2/π)(x + 0.044715x³);  d = ½(1+tanh u) + ½x(1-tanh²u)·√(2/π)(1+3·0.044715x²)
            u = mul(add(x, mul(pow(x, 3), 0.044715)), _SQRT_2_OVER_PI)
            t = tanh(u)
            du = mul(add(mul(pow(x, 2), 3 * 0.044715), 1.0), _SQRT_2_OVER_PI)
            d = add(mul(add(t, 1.0), 0.5), mul(mul(mul(x, 0.5), rsub(mul(t, t), 1.0)), du))
            return mul(g, d), None
        # d/dx xΦ(x) = Φ(x) + x φ(x)
        cdf = mul(add(W(_erf(x.data * (1.0 / math.sqrt(2.0)))), 1.0), 0.5) if not _Mode.enabled \
            else mul(add(erf(mul(x, 1.0 / math.sqrt(2.0))), 1.0), 0.5)
        pdf = mul(exp(mul(mul(x, x), -0.5)), _INV_SQRT_2PI)
        return mul(g, add(cdf, mul(x, pdf))), None


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf(x.data)

    @staticmethod
    def backward(ctx, g):  # d erf x = 2/√π e^(-x²) dx
        (x,) = ctx.saved_tensors
        return mul(g, mul(exp(neg(mul(x, x))), 2.0 / math.sqrt(math.pi)))


class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        s = _sigmoid_array(x.data)
        ctx.save_for_backward(x)
        ctx.s = s
        return x.data * s

    @staticmethod
    def backward(ctx, g):  # d xσ(x) = σ(1 + x(1-σ))
        (x,) = ctx.saved_tensors
        s = sigmoid(x) if _Mode.enabled else W(ctx.s)
        return mul(g, mul(s, add(mul(x, rsub(s, 1.0)), 1.0)))


class Softplus(Function):
    @staticmethod
    def forward(ctx, x, beta, threshold):
        ctx.save_for_backward(x)
        ctx.beta, ctx.threshold = beta, threshold
        d = x.data
        xp = x.xp
        bx = d * d.dtype.type(beta)
        soft = (xp.logaddexp(bx, d.dtype.type(0)) / d.dtype.type(beta))
        return xp.where(bx > threshold, d, soft).astype(d.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):  # d = σ(βx), or 1 above the threshold
        (x,) = ctx.saved_tensors
        lin = W(x.data * x.data.dtype.type(ctx.beta) > ctx.threshold)
        return mul(g, where(lin, 1.0, sigmoid(mul(x, float(ctx.beta))))), None, None


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.xp.clip(x.data, lo, hi)

    @staticmethod
    def backward(ctx, g):  # pass the gradient where lo <= x <= hi
        (x,) = ctx.saved_tensors
        d = x.data
        mask = None
        if ctx.lo is not None:
            mask = d >= ctx.lo
        if ctx.hi is not None:
            mask = (d <= ctx.hi) if mask is None else (mask & (d <= ctx.hi))
        return (g if mask is None else mul(g, W(mask))), None, None


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.cond = cond.data
        return cond.xp.where(cond.data, a.data, b.data)

    @staticmethod
    def backward(ctx, g):
        c = W(ctx.cond)
        zero = W(g.xp.zeros((), dtype=g.data.dtype))
        _, na, nb = ctx.needs_input_grad
        return None, (where(c, g, zero) if na else None), (where(c, zero, g) if nb else None)


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.xp.maximum(a.data, b.data)

    @staticmethod
    def backward(ctx, g):  # the larger input gets the gradient; ties split it evenly
        a, b = ctx.saved_tensors
        return _minmax_grads(ctx, g, a.data > b.data, a.data == b.data)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a.xp.minimum(a.data, b.data)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return _minmax_grads(ctx, g, a.data < b.data, a.data == b.data)


def _minmax_grads(ctx, g, a_wins, tie):
    dt = g.data.dtype
    wa = a_wins.astype(dt) + tie.astype(dt) * dt.type(0.5)
    na, nb = ctx.needs_input_grad
    return (mul(g, W(wa)) if na else None), (mul(g, W(1 - wa)) if nb else None)


def exp(x: Tensor) -> Tensor:
    return Exp.apply(_float(x))


def log(x: Tensor) -> Tensor:
    return Log.apply(_float(x))


def log1p(x: Tensor) -> Tensor:
    return Log1p.apply(_float(x))


def expm1(x: Tensor) -> Tensor:
    return sub(exp(x), 1.0)


def sqrt(x: Tensor) -> Tensor:
    return Sqrt.apply(_float(x))


def rsqrt(x: Tensor) -> Tensor:
    return div(1.0, sqrt(x))


def reciprocal(x: Tensor) -> Tensor:
    return div(1.0, x)


def square(x: Tensor) -> Tensor:
    return PowScalar.apply(x, 2)


def abs(x: Tensor) -> Tensor:  # noqa: A001
    return Abs.apply(x) if x.requires_grad else W(x.xp.abs(x.data))


def sign(x: Tensor) -> Tensor:
    return W(x.xp.sign(x.data))


def sin(x: Tensor) -> Tensor:
    return Sin.apply(_float(x))


def cos(x: Tensor) -> Tensor:
    return Cos.apply(_float(x))


def tanh(x: Tensor) -> Tensor:
    return Tanh.apply(_float(x))


def sigmoid(x: Tensor) -> Tensor:
    return Sigmoid.apply(_float(x))


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    return Relu.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return LeakyRelu.apply(x, float(negative_slope))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return Elu.apply(x, float(alpha))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(x, approximate)


def erf(x: Tensor) -> Tensor:
    return Erf.apply(_float(x))


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    return Silu.apply(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return Softplus.apply(x, float(beta), float(threshold))


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = x
        if min is not None:
            out = maximum(out, min)
        if max is not None:
            out = minimum(out, max)
        return out
    lo, hi = (v.item() if isinstance(v, np.generic) else v for v in (min, max))
    if x.data.dtype.kind != "f" and (isinstance(lo, float) or isinstance(hi, float)):
        x = _float(x)  # int tensor, float bound -> default float, as torch
    # bounds in x's dtype: a float64 bound must not upcast a float32 tensor
    cast_to = x.data.dtype.type
    lo = None if lo is None else cast_to(lo)
    hi = None if hi is None else cast_to(hi)
    return Clamp.apply(x, lo, hi)


clip = clamp


def where(cond, a, b) -> Tensor:
    """Elementwise ``a if cond else b`` (both branches broadcast against ``cond``)."""
    if not isinstance(cond, Tensor):
        cond = W(np.asarray(cond, dtype=bool))
    elif cond.data.dtype != np.bool_:
        cond = W(cond.data.astype(bool))
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        a = W(np.asarray(a, dtype=B.default_np_dtype() if isinstance(a, float) else None))
    a, b = promote(a, b)
    return Where.apply(cond, a, b)


def maximum(a, b) -> Tensor:
    a, b = promote(a, b)
    return Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    a, b = promote(a, b)
    return Minimum.apply(a, b)


def lerp(a, b, weight) -> Tensor:
    return add(a, mul(sub(b, a), weight))


# --- comparisons and logic (no gradient) ------------------------------------------------

def _cmp(fn):
    def op(a, b) -> Tensor:
        a, b = promote(a, b)
        return W(fn(a.data, b.data))

    op.__name__ = fn.__name__
    return op


_eq, _ne = _cmp(np.equal), _cmp(np.not_equal)


def eq(a, b) -> Tensor:
    """Elementwise ==; comparing with None is False, as in torch."""
    return False if b is None or a is None else _eq(a, b)


def ne(a, b) -> Tensor:
    return True if b is None or a is None else _ne(a, b)


lt = _cmp(np.less)
le = _cmp(np.less_equal)
gt = _cmp(np.greater)
ge = _cmp(np.greater_equal)
logical_and = _cmp(np.logical_and)
logical_or = _cmp(np.logical_or)
logical_xor = _cmp(np.logical_xor)


def logical_not(x: Tensor) -> Tensor:
    return W(~x.data.astype(bool))


def bitwise_and(a, b) -> Tensor:
    a, b = promote(a, b)
    return W(a.data & b.data)


def bitwise_or(a, b) -> Tensor:
    a, b = promote(a, b)
    return W(a.data | b.data)


def bitwise_xor(a, b) -> Tensor:
    a, b = promote(a, b)
    return W(a.data ^ b.data)


def invert(x: Tensor) -> Tensor:
    return W(~x.data)


def isnan(x: Tensor) -> Tensor:
    return W(x.xp.isnan(x.data))


def isinf(x: Tensor) -> Tensor:
    return W(x.xp.isinf(x.data))


def isfinite(x: Tensor) -> Tensor:
    return W(x.xp.isfinite(x.data))


def equal(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and bool((a.data == b.data).all())


def allclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    a, b = promote(a, b)
    return bool(a.xp.allclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def isclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> Tensor:
    a, b = promote(a, b)
    return W(a.xp.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def floor(x: Tensor) -> Tensor:
    return W(x.xp.floor(x.data))


def ceil(x: Tensor) -> Tensor:
    return W(x.xp.ceil(x.data))


def round(x: Tensor, decimals: int = 0) -> Tensor:  # noqa: A001
    return W(x.xp.round(x.data, decimals))
