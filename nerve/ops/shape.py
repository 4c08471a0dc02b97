"""Shape and indexing ops: views, broadcasting, joins, splits, gathers and scatters.

Index backward never uses ``np.add.at``: repeated indices are accumulated by sorting
the flat target positions once and summing segments (``_scatter_add_flat``).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..tensor import Tensor

W = Tensor._wrap


def _norm_dim(dim: int, ndim: int, name: str = "dim") -> int:
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name} {dim} is out of range for a tensor with {ndim} dimensions")
    return dim % max(ndim, 1)


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


# --- broadcasting -----------------------------------------------------------------------

class SumTo(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.data.shape
        return _sum_to_array(x.data, shape)

    @staticmethod
    def backward(ctx, g):
        return expand(g, ctx.in_shape), None


def _sum_to_array(a, shape):
    lead = a.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, s in enumerate(shape)
                                      if s == 1 and a.shape[i + lead] != 1)
    out = a.sum(axis=axes, keepdims=True) if axes else a
    if lead:
        out = out.reshape(out.shape[lead:])
    return out.reshape(shape)


def sum_to(x: Tensor, shape) -> Tensor:
    """Sum ``x`` down to a shape it was broadcast from (the adjoint of expand)."""
    shape = tuple(shape)
    if tuple(x.data.shape) == shape:
        return x
    return SumTo.apply(x, shape)


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.data.shape
        return x.xp.broadcast_to(x.data, shape)

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.in_shape), None


def expand(x: Tensor, *shape) -> Tensor:
    shape = list(_shape_arg(shape))
    lead = len(shape) - x.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the target shape {tuple(shape)} has fewer dimensions than the "
                           f"tensor's shape {tuple(x.shape)}")
    for i, s in enumerate(shape):
        if s == -1:
            if i < lead:
                raise RuntimeError("expand: -1 is not allowed in a new leading dimension")
            shape[i] = x.data.shape[i - lead]
    shape = tuple(shape)
    if shape == tuple(x.data.shape):
        return x
    for i, s in enumerate(x.data.shape):
        if s != 1 and s != shape[i + lead]:
            raise RuntimeError(f"expand: the tensor's shape {tuple(x.shape)} can't be expanded to "
                               f"{shape} (size {s} at dim {i} is not 1)")
    return Expand.apply(x, shape)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, other.shape)


def broadcast_to(x: Tensor, shape) -> Tensor:
    return expand(x, shape)


def broadcast_tensors(*tensors: Tensor) -> list:
    shape = np.broadcast_shapes(*(t.shape for t in tensors))
    return [expand(t, shape) for t in tensors]


# --- views ------------------------------------------------------------------------------

class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.data.shape
        return x.data.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return reshape(g, ctx.in_shape), None


def _resolve_shape(shape: tuple, size: int, src_shape) -> tuple:
    if shape.count(-1) > 1:
        raise RuntimeError(f"reshape: only one dimension can be -1, got {shape}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if -1 in shape:
        if known == 0 or size % known:
            raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape "
                               f"{tuple(src_shape)} ({size} elements)")
        shape = tuple(size // known if s == -1 else s for s in shape)
    elif known != size:
        raise RuntimeError(f"reshape: shape {shape} is invalid for a tensor of shape "
                           f"{tuple(src_shape)} ({size} elements)")
    return shape


def reshape(x: Tensor, *shape) -> Tensor:
    shape = _shape_arg(shape)
    if shape == x.data.shape:
        return x
    shape = _resolve_shape(shape, x.data.size, x.data.shape)
    if shape == x.data.shape:
        return x
    return Reshape.apply(x, shape)


view = reshape


def view_as(x: Tensor, other: Tensor) -> Tensor:
    return reshape(x, other.shape)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, (1,))
    s = _norm_dim(start_dim, x.ndim)
    e = _norm_dim(end_dim, x.ndim)
    shape = x.data.shape
    n = 1
    for d in shape[s:e + 1]:
        n *= d
    return reshape(x, shape[:s] + (n,) + shape[e + 1:])


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    dim = _norm_dim(dim, x.ndim)
    shape = x.data.shape
    return reshape(x, shape[:dim] + tuple(sizes) + shape[dim + 1:])


def squeeze(x: Tensor, dim=None) -> Tensor:
    shape = x.data.shape
    if dim is None:
        new = tuple(s for s in shape if s != 1)
    else:
        dims = {_norm_dim(d, x.ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        new = tuple(s for i, s in enumerate(shape) if not (i in dims and s == 1))
    return reshape(x, new)


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    dim = _norm_dim(dim, x.ndim + 1)
    shape = x.data.shape
    return reshape(x, shape[:dim] + (1,) + shape[dim:])


class Permute(Function):
    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return x.data.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return permute(g, tuple(np.argsort(ctx.axes))), None


def permute(x: Tensor, *dims) -> Tensor:
    dims = _shape_arg(dims)
    if sorted(d % max(x.ndim, 1) for d in dims) != list(range(x.ndim)):
        raise RuntimeError(f"permute: dims {dims} are not a permutation of the {x.ndim} "
                           f"dimensions of a tensor of shape {tuple(x.shape)}")
    dims = tuple(d % x.ndim for d in dims)
    if dims == tuple(range(x.ndim)):
        return x
    return Permute.apply(x, dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    if x.ndim < 2 and dim0 in (0, -1) and dim1 in (0, -1):
        return x
    d0, d1 = _norm_dim(dim0, x.ndim), _norm_dim(dim1, x.ndim)
    axes = list(range(x.ndim))
    axes[d0], axes[d1] = axes[d1], axes[d0]
    return permute(x, tuple(axes))


swapaxes = transpose


def t(x: Tensor) -> Tensor:
    if x.ndim > 2:
        raise RuntimeError(f"t(): expects a tensor with <= 2 dimensions, got {x.ndim}")
    return transpose(x, 0, 1) if x.ndim == 2 else x


def mT(x: Tensor) -> Tensor:  # noqa: N802
    return transpose(x, -2, -1)


def T(x: Tensor) -> Tensor:  # noqa: N802
    return permute(x, tuple(range(x.ndim))[::-1])


def movedim(x: Tensor, source: int, destination: int) -> Tensor:
    axes = list(range(x.ndim))
    s = _norm_dim(source, x.ndim)
    d = _norm_dim(destination, x.ndim)
    axes.pop(s)
    axes.insert(d, s)
    return permute(x, tuple(axes))


class Repeat(Function):
    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape = x.data.shape
        ctx.reps = reps
        return x.xp.tile(x.data, reps)

    @staticmethod
    def backward(ctx, g):
        # view (r0, s0, r1, s1, ...) and sum over the repeat axes
        shape = (1,) * (len(ctx.reps) - len(ctx.in_shape)) + tuple(ctx.in_shape)
        inter = []
        for r, s in zip(ctx.reps, shape):
            inter += [r, s]
        gs = reshape(g, tuple(inter))
        from .reduce import sum as _sum

        out = _sum(gs, dim=tuple(range(0, len(inter), 2)))
        return reshape(out, ctx.in_shape), None


def repeat(x: Tensor, *reps) -> Tensor:
    reps = _shape_arg(reps)
    if len(reps) < x.ndim:
        raise RuntimeError(f"repeat: number of repeat dims ({len(reps)}) can't be smaller than the "
                           f"tensor's dimensions ({x.ndim})")
    return Repeat.apply(x, reps)


def tile(x: Tensor, *reps) -> Tensor:
    reps = _shape_arg(reps)
    reps = (1,) * (x.ndim - len(reps)) + reps
    return repeat(x, reps)


def flip(x: Tensor, dims) -> Tensor:
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    key = [slice(None)] * x.ndim
    for d in dims:
        key[_norm_dim(d, x.ndim)] = slice(None, None, -1)
    return getitem(x, tuple(key))


# --- joins and splits -------------------------------------------------------------------

class Cat(Function):
    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        ctx.sizes = [x.data.shape[dim] for x in xs]
        return xs[0].xp.concatenate([x.data for x in xs], axis=dim)

    @staticmethod
    def backward(ctx, g):
        parts = split(g, ctx.sizes, ctx.dim)
        return (None,) + tuple(p if need else None
                               for p, need in zip(parts, ctx.needs_input_grad[1:]))


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = [x for x in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    from .elementwise import promote

    ref = tensors[0]
    for x in tensors[1:]:
        if x.data.dtype != ref.data.dtype:
            tensors = _common_dtype(tensors, promote)
            break
    nd = tensors[0].ndim
    for i, x in enumerate(tensors):
        if x.ndim == 0:
            raise RuntimeError(f"cat: zero-dimensional tensor (at position {i}) cannot be "
                               "concatenated; use stack")
    d = _norm_dim(dim, nd)
    shape0 = tensors[0].data.shape
    for i, x in enumerate(tensors):
        s = x.data.shape
        if len(s) != nd or s[:d] + s[d + 1:] != shape0[:d] + shape0[d + 1:]:
            raise RuntimeError(f"cat: sizes of tensors must match except in dimension {d}: "
                               f"tensor 0 has shape {tuple(shape0)}, tensor {i} has {tuple(s)}")
    if len(tensors) == 1:
        return tensors[0]
    return Cat.apply(d, *tensors)


concat = concatenate = cat


def _common_dtype(tensors, promote):
    out = list(tensors)
    acc = out[0]
    for x in out[1:]:
        acc, _ = promote(acc, x)
    dt = acc.data.dtype
    from .elementwise import cast

    return [cast(x, dt) for x in out]


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    s0 = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != s0:
            raise RuntimeError(f"stack: all tensors must have the same shape: tensor 0 is "
                               f"{tuple(s0)}, tensor {i} is {tuple(x.shape)}")
    d = _norm_dim(dim, tensors[0].ndim + 1)
    return cat([unsqueeze(x, d) for x in tensors], d)


def hstack(tensors) -> Tensor:
    tensors = list(tensors)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    return cat([x if x.ndim > 1 else unsqueeze(x, 0) for x in tensors], 0)


class Split(Function):
    @staticmethod
    def forward(ctx, x, sizes, dim):
        ctx.dim = dim
        idx = np.cumsum(sizes)[:-1]
        return tuple(x.xp.split(x.data, idx, axis=dim))

    @staticmethod
    def backward(ctx, *gs):
        return cat(list(gs), ctx.dim), None, None


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    d = _norm_dim(dim, x.ndim)
    n = x.data.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0:
            raise ValueError(f"split: split_size must be positive, got {s}")
        sizes = [s] * (n // s) + ([n % s] if n % s else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {d} has "
                               f"size {n}")
    if len(sizes) == 1:
        return (x,)
    out = Split.apply(x, sizes, d)
    return out if isinstance(out, tuple) else (out,)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    n = x.data.shape[_norm_dim(dim, x.ndim)]
    size = -(-n // chunks)
    return split(x, max(size, 1), dim)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    d = _norm_dim(dim, x.ndim)
    return tuple(squeeze(p, d) for p in split(x, 1, d))


class Pad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.key = tuple(slice(lo, lo + s) for (lo, _), s in zip(widths, x.data.shape))
        return x.xp.pad(x.data, widths, constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return getitem(g, ctx.key), None, None


def pad(x: Tensor, pad, mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad the last dims: ``pad=(left, right, top, bottom, ...)`` as in PyTorch."""
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: expected an even-length pad of at most {2 * x.ndim} values for a "
                         f"tensor of shape {tuple(x.shape)}, got {tuple(pad)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        key = tuple(slice(max(-lo, 0), s - max(-hi, 0)) for (lo, hi), s in zip(widths, x.shape))
        x = getitem(x, key)
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode != "constant":
        if mode not in ("reflect", "replicate", "circular"):
            raise ValueError(f"pad: unknown mode {mode!r}")
        np_mode = {"replicate": "edge", "circular": "wrap", "reflect": "reflect"}[mode]
        return _pad_mode(x, tuple(widths), np_mode)
    return Pad.apply(x, tuple(widths), value)


def _pad_mode(x, widths, np_mode):
    # non-constant padding as a gather of source positions, so backward is a scatter-add
    idx = np.arange(x.data.size).reshape(x.data.shape)
    src = np.pad(idx, widths, mode=np_mode)
    return take_flat(x, src)


# --- indexing ---------------------------------------------------------------------------

def _unwrap_key(key):
    if isinstance(key, Tensor):
        return key.data
    if isinstance(key, tuple):
        return tuple(k.data if isinstance(k, Tensor) else k for k in key)
    if isinstance(key, list):
        return np.asarray([k.item() if isinstance(k, Tensor) else k for k in key])
    return key


def _is_basic(key) -> bool:
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (int, np.integer, slice)) for k in items)


def _scatter_add_flat(xp, size: int, flat_idx, values, dtype):
    """out[flat_idx[i]] += values[i] for all i, repeated indices accumulating."""
    flat_idx = flat_idx.reshape(-1)
    values = values.reshape(-1)
    out = xp.zeros(size, dtype=dtype)
    if flat_idx.size == 0:
        return out
    order = xp.argsort(flat_idx, kind="stable")
    si = flat_idx[order]
    sv = values[order]
    starts = xp.flatnonzero(xp.concatenate((xp.ones(1, bool), si[1:] != si[:-1])))
    out[si[starts]] = xp.add.reduceat(sv, starts)
    return out


def _scatter_add_rows(xp, n_rows: int, idx, values, width: int):
    """out[idx[i], :] += values[i, :] (rows of length ``width``), by sort + segment sum."""
    idx = idx.reshape(-1)
    vals = values.reshape(idx.size, width)
    out = xp.zeros((n_rows, width), dtype=values.dtype)
    if idx.size == 0:
        return out
    order = xp.argsort(idx, kind="stable")
    si = idx[order]
    starts = xp.flatnonzero(xp.concatenate((xp.ones(1, bool), si[1:] != si[:-1])))
    out[si[starts]] = xp.add.reduceat(vals[order], starts, axis=0)
    return out


def _index(a, key):
    """``a[key]``, always an array: a scalar result becomes a 0-d view (so writes go through)."""
    out = a[key]
    if not isinstance(out, np.ndarray) and hasattr(a, "ndim"):
        out = a[(key if isinstance(key, tuple) else (key,)) + (Ellipsis,)]
    return out


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, key):
        ctx.key = key
        ctx.in_shape = x.data.shape
        return _index(x.data, key)

    @staticmethod
    def backward(ctx, g):
        return index_put_add(g, ctx.key, ctx.in_shape), None


class IndexPutAdd(Function):
    """zeros(shape)[key] += g — the adjoint of ``x[key]`` (repeated indices accumulate)."""

    @staticmethod
    def forward(ctx, g, key, shape):
        ctx.key = key
        xp = g.xp
        gd = g.data
        if _is_basic(key):
            out = xp.zeros(shape, dtype=gd.dtype)
            out[key] = gd
            return out
        k = key if isinstance(key, tuple) else (key,)
        if (len(k) >= 1 and not isinstance(k[0], (slice, type(None), type(Ellipsis)))
                and getattr(k[0], "dtype", None) is not None and k[0].dtype.kind in "iu"
                and all(isinstance(s, slice) and s == slice(None) for s in k[1:])):
            # rows gathered along axis 0 (embedding-style): sorted segment sum
            idx = k[0].reshape(-1) % shape[0]
            width = int(np.prod(shape[1:], dtype=np.int64))
            return _scatter_add_rows(xp, shape[0], idx, gd, width).reshape(shape)
        size = int(np.prod(shape))
        pos = xp.arange(size).reshape(shape)[key]
        return _scatter_add_flat(xp, size, pos, xp.broadcast_to(gd, pos.shape), gd.dtype) \
            .reshape(shape)

    @staticmethod
    def backward(ctx, gg):
        return getitem(gg, ctx.key), None, None


def index_put_add(g: Tensor, key, shape) -> Tensor:
    return IndexPutAdd.apply(g, key, tuple(shape))


def getitem(x: Tensor, key) -> Tensor:
    """``x[key]``: NumPy basic and advanced indexing; repeated indices accumulate in backward."""
    key = _unwrap_key(key)
    if isinstance(key, np.ndarray) and key.dtype == np.bool_ and key.shape != x.data.shape[
            :key.ndim]:
        raise IndexError(f"boolean mask of shape {key.shape} does not match the indexed tensor's "
                         f"shape {tuple(x.shape)}")
    try:
        if not x.requires_grad:
            return W(_index(x.data, key))
        if isinstance(key, tuple) and any(isinstance(k, np.ndarray) and k.dtype == np.bool_
                                          for k in key) or (isinstance(key, np.ndarray)
                                                            and key.dtype == np.bool_):
            # boolean masks -> integer indices, so backward can scatter them
            key = _bool_to_int_key(key)
        return GetItem.apply(x, key)
    except IndexError as e:
        raise IndexError(f"index {key!r} is invalid for a tensor of shape {tuple(x.shape)}: {e}") \
            from None


class SetItem(Function):
    """``x[key] = v`` in place, recorded: x keeps g outside ``key``, v gets ``g[key]``."""

    @staticmethod
    def forward(ctx, x, key, v):
        ctx.key = key
        x.data[key] = v.data
        return x.data

    @staticmethod
    def backward(ctx, g):
        nx, _, nv = ctx.needs_input_grad
        gx = gv = None
        if nx:  # the overwritten positions no longer depend on the old x
            keep = g.xp.ones(g.data.shape, dtype=g.data.dtype)
            keep[ctx.key] = 0
            from .elementwise import mul

            gx = mul(g, W(keep))
        if nv:
            gv = getitem(g, ctx.key)
        return gx, None, gv


def setitem_(x: Tensor, key, value) -> None:
    """Record ``x[key] = value`` and make ``x`` the result (see ``Tensor.__setitem__``)."""
    if not isinstance(value, Tensor):
        value = W(x.xp.asarray(value, dtype=x.data.dtype))
    elif value.data.dtype != x.data.dtype:
        value = value.to(x.data.dtype)
    target_ndim = x.data[key].ndim
    if value.ndim > target_ndim:  # NumPy drops leading 1-dims of the value
        value = reshape(value, value.data.shape[value.ndim - target_ndim:])
    out = SetItem.apply(x, key, value)
    x.grad_fn, x._output_nr, x.requires_grad = out.grad_fn, 0, out.requires_grad


def _bool_to_int_key(key):
    items = key if isinstance(key, tuple) else (key,)
    out = []
    for k in items:
        if isinstance(k, np.ndarray) and k.dtype == np.bool_:
            out.extend(np.nonzero(k))
        else:
            out.append(k)
    return tuple(out)


class TakeFlat(Function):
    @staticmethod
    def forward(ctx, x, pos):
        ctx.pos = pos
        ctx.size = x.data.size
        ctx.in_shape = x.data.shape
        return x.data.reshape(-1)[pos]

    @staticmethod
    def backward(ctx, g):
        return reshape(put_flat_add(g, ctx.pos, ctx.size), ctx.in_shape), None


class PutFlatAdd(Function):
    @staticmethod
    def forward(ctx, g, pos, size):
        ctx.pos = pos
        return _scatter_add_flat(g.xp, size, pos, g.data, g.data.dtype)

    @staticmethod
    def backward(ctx, gg):
        return TakeFlat.apply(gg, ctx.pos), None, None


def take_flat(x: Tensor, pos) -> Tensor:
    """``x.reshape(-1)[pos]`` with an accumulating backward."""
    return TakeFlat.apply(x, pos)


def put_flat_add(g: Tensor, pos, size: int) -> Tensor:
    return PutFlatAdd.apply(g, pos, size)


def _flat_positions(shape, dim: int, index):
    """Flat positions of ``x.gather(dim, index)`` in a C-contiguous tensor of ``shape``."""
    grids = np.indices(index.shape, sparse=True)
    strides = np.cumprod((1,) + tuple(shape[::-1]))[:-1][::-1]
    pos = 0
    for d, gi in enumerate(grids):
        pos = pos + (index if d == dim else gi) * int(strides[d])
    return pos


def gather(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """``out[i][j] = x[i][index[i][j]]`` along ``dim``."""
    d = _norm_dim(dim, x.ndim)
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim != x.ndim:
        raise RuntimeError(f"gather: index has {idx.ndim} dims but the input has {x.ndim} "
                           f"(shape {tuple(x.shape)})")
    if idx.size and (idx.max() >= x.shape[d] or idx.min() < -x.shape[d]):
        raise IndexError(f"gather: index {int(idx.max())} is out of bounds for dim {d} with "
                         f"size {x.shape[d]}")
    idx = idx % x.shape[d]
    return take_flat(x, _flat_positions(x.data.shape, d, idx))


def scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``out = x.clone(); out[..., index[i][j], ...] += src[i][j]`` along ``dim``."""
    from .elementwise import add

    d = _norm_dim(dim, x.ndim)
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    pos = _flat_positions(x.data.shape, d, idx)
    return add(x, reshape(put_flat_add(src, pos, x.data.size), x.data.shape))


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    d = _norm_dim(dim, x.ndim)
    idx = index.data if isinstance(index, Tensor) else np.asarray(index)
    if idx.ndim != 1:
        raise IndexError(f"index_select: index must be 1-D, got shape {idx.shape}")
    return getitem(x, (slice(None),) * d + (idx,))


def masked_fill(x: Tensor, mask, value) -> Tensor:
    from .elementwise import where

    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    try:
        ok = np.broadcast_shapes(m.shape, x.data.shape) == x.data.shape
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"masked_fill: mask of shape {m.shape} can't be broadcast to the "
                           f"tensor's shape {tuple(x.shape)}")
    if not isinstance(value, Tensor):
        value = W(x.xp.asarray(value, dtype=x.data.dtype))
    return where(W(m), value, x)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    d = _norm_dim(dim, x.ndim)
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def select(x: Tensor, dim: int, index: int) -> Tensor:
    d = _norm_dim(dim, x.ndim)
    return getitem(x, (slice(None),) * d + (index,))
