"""Differentiable primitives, grouped by kind, and their binding as Tensor methods."""
from __future__ import annotations

from ..autograd import _Mode
from ..tensor import Tensor
from . import conv, elementwise, linalg, nn, norm, pool, reduce, shape, upsample
from .conv import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .elementwise import (  # noqa: A004
    abs,
    add,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    div,
    eq,
    floordiv,
    ge,
    gt,
    invert,
    le,
    lt,
    mul,
    ne,
    neg,
    pow,
    rdiv,
    remainder,
    rpow,
    rsub,
    sub,
)
from .linalg import *  # noqa: F401,F403
from .linalg import matmul
from .nn import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .shape import getitem
from .upsample import *  # noqa: F401,F403

_METHODS = {
    # elementwise
    "exp": elementwise.exp, "log": elementwise.log, "log1p": elementwise.log1p,
    "expm1": elementwise.expm1, "sqrt": elementwise.sqrt, "rsqrt": elementwise.rsqrt,
    "abs": elementwise.abs, "sign": elementwise.sign, "sin": elementwise.sin,
    "cos": elementwise.cos, "tanh": elementwise.tanh, "sigmoid": elementwise.sigmoid,
    "relu": elementwise.relu, "square": elementwise.square, "reciprocal": elementwise.reciprocal,
    "clamp": elementwise.clamp, "clip": elementwise.clamp, "pow": elementwise.pow,
    "add": elementwise.add, "sub": elementwise.sub, "mul": elementwise.mul,
    "div": elementwise.div, "neg": elementwise.neg, "maximum": elementwise.maximum,
    "minimum": elementwise.minimum, "eq": elementwise.eq, "ne": elementwise.ne,
    "lt": elementwise.lt, "le": elementwise.le, "gt": elementwise.gt, "ge": elementwise.ge,
    "floor": elementwise.floor, "ceil": elementwise.ceil, "round": elementwise.round,
    "isnan": elementwise.isnan, "isinf": elementwise.isinf, "isfinite": elementwise.isfinite,
    "logical_not": elementwise.logical_not, "logical_and": elementwise.logical_and,
    "logical_or": elementwise.logical_or, "equal": elementwise.equal,
    "allclose": elementwise.allclose, "erf": elementwise.erf, "lerp": elementwise.lerp,
    "where": lambda self, cond, other: elementwise.where(cond, self, other),
    "multiply": elementwise.mul, "subtract": elementwise.sub, "divide": elementwise.div,
    "true_divide": elementwise.div,
    # reductions
    "sum": reduce.sum, "mean": reduce.mean, "max": reduce.max, "min": reduce.min,
    "amax": reduce.amax, "amin": reduce.amin, "var": reduce.var, "std": reduce.std,
    "logsumexp": reduce.logsumexp, "prod": reduce.prod, "argmax": reduce.argmax,
    "argmin": reduce.argmin, "cumsum": reduce.cumsum, "all": reduce.all, "any": reduce.any,
    "norm": reduce.norm, "argsort": reduce.argsort, "sort": reduce.sort, "topk": reduce.topk,
    "count_nonzero": reduce.count_nonzero,
    # linear algebra
    "matmul": linalg.matmul, "mm": linalg.mm, "bmm": linalg.bmm, "dot": linalg.dot,
    # shape
    "reshape": shape.reshape, "view": shape.view, "view_as": shape.view_as,
    "flatten": shape.flatten, "unflatten": shape.unflatten, "squeeze": shape.squeeze,
    "unsqueeze": shape.unsqueeze, "transpose": shape.transpose, "swapaxes": shape.swapaxes,
    "permute": shape.permute, "t": shape.t, "expand": shape.expand,
    "expand_as": shape.expand_as, "broadcast_to": shape.broadcast_to, "repeat": shape.repeat,
    "tile": shape.tile, "flip": shape.flip, "split": shape.split, "chunk": shape.chunk,
    "unbind": shape.unbind, "gather": shape.gather, "index_select": shape.index_select,
    "masked_fill": shape.masked_fill, "narrow": shape.narrow, "select": shape.select,
    "movedim": shape.movedim, "scatter_add": shape.scatter_add,
    # nn
    "softmax": nn.softmax, "log_softmax": nn.log_softmax,
}

for _name, _fn in _METHODS.items():
    setattr(Tensor, _name, _fn)

Tensor.T = property(shape.T)
Tensor.mT = property(shape.mT)
Tensor.__getitem__ = getitem
Tensor.__add__ = Tensor.__radd__ = add
Tensor.__sub__ = sub
Tensor.__rsub__ = rsub
Tensor.__mul__ = Tensor.__rmul__ = mul
Tensor.__truediv__ = div
Tensor.__rtruediv__ = rdiv
Tensor.__floordiv__ = floordiv
Tensor.__rfloordiv__ = lambda self, other: floordiv(other, self)
Tensor.__mod__ = remainder
Tensor.__rmod__ = lambda self, other: remainder(other, self)
Tensor.__pow__ = pow
Tensor.__rpow__ = rpow
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__neg__ = neg
Tensor.__pos__ = lambda self: self
Tensor.__abs__ = abs
Tensor.__eq__ = eq
Tensor.__ne__ = ne
Tensor.__lt__ = lt
Tensor.__le__ = le
Tensor.__gt__ = gt
Tensor.__ge__ = ge
Tensor.__and__ = Tensor.__rand__ = bitwise_and
Tensor.__or__ = Tensor.__ror__ = bitwise_or
Tensor.__xor__ = Tensor.__rxor__ = bitwise_xor
Tensor.__invert__ = invert
Tensor.__hash__ = lambda self: id(self)


def _iop(fn):
    def op(self, other):
        if self.requires_grad and _Mode.enabled:
            if self.grad_fn is None:
                raise RuntimeError("a leaf tensor that requires grad is being modified in place; "
                                   "wrap the update in `with nerve.no_grad():`")
            return fn(self, other)  # non-leaf: out of place keeps the graph correct
        out = fn(self, other)
        if out.data.dtype != self.data.dtype and out.data.dtype.kind != self.data.dtype.kind:
            # like torch: float32 += float64 casts back, int += float is an error
            raise RuntimeError(f"in-place op: result dtype {out.dtype} can't be cast to the "
                               f"tensor's dtype {self.dtype}")
        self.data[...] = out.data
        return self

    return op


Tensor.__iadd__ = _iop(add)
Tensor.__isub__ = _iop(sub)
Tensor.__imul__ = _iop(mul)
Tensor.__itruediv__ = _iop(div)
