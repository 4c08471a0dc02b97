"""Tensor: an array, its gradient, and its place in the autograd graph.

Operators and most methods are thin calls into ``nerve.ops`` (bound at the end of
``nerve/ops/__init__.py``); this file holds the state, conversions and in-place helpers.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import _backend as B
from .autograd import _Mode
from .autograd import backward as _backward


def _infer_array(data, dtype=None, xp=np):
    """Array from Python data with PyTorch's dtype inference (floats -> default float)."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return xp.asarray(data, dtype=B.as_np_dtype(dtype))
    arr = xp.asarray(data)
    if arr.dtype == np.float64 and not isinstance(data, (np.ndarray, np.generic)) \
            and type(data).__module__.split(".")[0] != "cupy":
        arr = arr.astype(B.default_np_dtype())  # Python floats -> float32 by default
    elif arr.dtype.kind == "i" and arr.dtype != np.int64 and not isinstance(
            data, (np.ndarray, np.generic)):
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fiub":
        raise TypeError(f"nerve.tensor: can't make a tensor from data of dtype {arr.dtype}")
    return arr


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``requires_grad=True`` makes it a leaf whose ``.grad`` receives d(loss)/d(self)
    when ``loss.backward()`` runs. ``data`` is the underlying NumPy (or CuPy) array.
    """

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_output_nr", "_hooks",
                 "__weakref__", "__dict__")
    __array_priority__ = 1000  # make ndarray + Tensor return Tensor

    def __init__(self, data=None, requires_grad: bool = False, dtype=None) -> None:
        arr = _infer_array([] if data is None else data, dtype)
        self.data = arr
        self.grad = None
        self.grad_fn = None
        self._output_nr = 0
        self._hooks = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, arr, requires_grad: bool = False) -> Tensor:
        """Fast constructor around an existing array (no copy, no checks)."""
        t = object.__new__(Tensor)
        t.data = arr
        t.grad = None
        t.grad_fn = None
        t._output_nr = 0
        t._hooks = None
        t.requires_grad = requires_grad
        return t

    # --- metadata -------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self.data.shape)

    def size(self, dim: int | None = None):
        return Size(self.data.shape) if dim is None else self.data.shape[dim]

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    ndimension = dim

    def numel(self) -> int:
        return int(self.data.size)

    nelement = numel

    @property
    def dtype(self) -> B.dtype:
        return B.from_np_dtype(self.data.dtype)

    @property
    def xp(self):
        return B.xp_of(self.data)

    @property
    def device(self) -> B.device:
        return B.device_of(self.data)

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    def element_size(self) -> int:
        return self.data.itemsize

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    # --- conversions ----------------------------------------------------------------
    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item(): only one-element tensors can be converted to Python "
                             f"scalars, this one has shape {tuple(self.data.shape)}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared memory on the CPU)."""
        if self.xp is np:
            return self.data
        return self.data.get()

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"the truth value of a tensor with {self.data.size} elements is "
                               "ambiguous; use .any() or .all()")
        return bool(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.data.shape[0]):
            yield self[i]

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", precision=4)
        extras = []
        if self.data.dtype not in (np.float32, np.int64, np.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __format__(self, spec: str) -> str:
        if self.data.size == 1 and spec:
            return format(self.item(), spec)
        return repr(self)

    # --- autograd -------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(f"only floating-point tensors can require gradients, this one is "
                               f"{self.dtype}")
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use detach()")
        self.requires_grad = requires_grad
        return self

    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``."""
        _backward(self, gradient, retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data)

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward."""
        if self.grad_fn is None:
            return
        node = self.grad_fn
        if node.retained is None:
            node.retained = {}
        node.retained[self._output_nr] = weakref.ref(self)

    def register_hook(self, hook):
        """Call ``hook(grad)`` when this tensor's gradient is computed; a returned tensor
        replaces the gradient. Works on leaves and on intermediate results."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("register_hook: the tensor doesn't require grad, so no "
                                   "gradient will reach the hook")
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self.grad_fn
            if node.hooks is None:
                node.hooks = {}
            hooks = node.hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    # --- device / dtype -------------------------------------------------------------
    def to(self, *args, **kwargs) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or ``to(other_tensor)``."""
        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        kwargs.pop("copy", None)
        for a in args:
            if isinstance(a, Tensor):
                dtype, dev = a.dtype, a.device
            elif isinstance(a, (B.dtype, np.dtype)) or a in (float, int, bool) or (
                    isinstance(a, type) and issubclass(a, np.generic)):
                dtype = a
            elif isinstance(a, (str, B.device)):
                dev = a
            elif a is not None:
                raise TypeError(f"Tensor.to(): unexpected argument {a!r}")
        out = self
        if dev is not None and B.device(dev).type != self.device.type:
            from .ops.elementwise import to_device

            out = to_device(out, B.device(dev))
        if dtype is not None and B.as_np_dtype(dtype) != out.data.dtype:
            from .ops.elementwise import cast

            out = cast(out, B.as_np_dtype(dtype))
        return out

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, device=None) -> Tensor:
        return self.to("cuda")

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def type(self, dtype=None):
        if dtype is None:  # torch's legacy names: nerve.FloatTensor, nerve.LongTensor, ...
            return "nerve." + _TYPE_NAMES.get(self.dtype.name, "Tensor")
        return self.to(dtype)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.data.dtype)

    def contiguous(self) -> Tensor:
        """This tensor if its data is C-contiguous, else a C-contiguous copy (with grad)."""
        if self.is_contiguous():
            return self
        from .ops.elementwise import clone

        return clone(self)

    def is_contiguous(self) -> bool:
        return bool(self.data.flags["C_CONTIGUOUS"])

    def clone(self) -> Tensor:
        from .ops.elementwise import clone

        return clone(self)

    # --- in-place (outside autograd) ------------------------------------------------
    def _check_inplace(self, name: str) -> None:
        if _Mode.enabled and self.requires_grad:
            raise RuntimeError(f"{name}: a tensor that requires grad is being modified in place; "
                               "wrap the update in `with nerve.no_grad():`")

    def _other(self, other):
        return other.data if isinstance(other, Tensor) else other

    def zero_(self) -> Tensor:
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value) -> Tensor:
        self._check_inplace("fill_")
        self.data[...] = self._other(value)
        return self

    def copy_(self, src) -> Tensor:
        self._check_inplace("copy_")
        self.data[...] = self._other(src)
        return self

    def add_(self, other, alpha=1) -> Tensor:
        self._check_inplace("add_")
        o = self._other(other)
        self.data += o if alpha == 1 else o * alpha
        return self

    def sub_(self, other, alpha=1) -> Tensor:
        self._check_inplace("sub_")
        o = self._other(other)
        self.data -= o if alpha == 1 else o * alpha
        return self

    def mul_(self, other) -> Tensor:
        self._check_inplace("mul_")
        self.data *= self._other(other)
        return self

    def div_(self, other) -> Tensor:
        self._check_inplace("div_")
        self.data /= self._other(other)
        return self

    def clamp_(self, min=None, max=None) -> Tensor:  # noqa: A002
        self._check_inplace("clamp_")
        self.xp.clip(self.data, min, max, out=self.data)
        return self

    def masked_fill_(self, mask, value) -> Tensor:
        self._check_inplace("masked_fill_")
        self.data[self._other(mask)] = self._other(value)
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0) -> Tensor:
        from .random import _rng

        self._check_inplace("uniform_")
        self.data[...] = _rng().uniform(a, b, self.data.shape).astype(self.data.dtype)
        return self

    def normal_(self, mean: float = 0.0, std: float = 1.0) -> Tensor:
        from .random import _rng

        self._check_inplace("normal_")
        z = _rng().standard_normal(self.data.shape, dtype=np.float64)
        self.data[...] = (z * std + mean).astype(self.data.dtype)
        return self

    def __setitem__(self, key, value) -> None:
        """``x[key] = value``. With grad mode on and ``value`` (or a non-leaf ``x``) requiring
        grad, the assignment is recorded: gradients flow to ``value`` and to the kept part
        of ``x``. Like every in-place op, it must not overwrite values that an earlier op
        saved for its backward."""
        if isinstance(key, Tensor):
            key = key.data
        elif isinstance(key, tuple):
            key = tuple(k.data if isinstance(k, Tensor) else k for k in key)
        if _Mode.enabled and (self.requires_grad or (isinstance(value, Tensor)
                                                     and value.requires_grad)):
            if self.requires_grad and self.grad_fn is None:
                raise RuntimeError("__setitem__: a leaf tensor that requires grad is being "
                                   "modified in place; wrap the update in "
                                   "`with nerve.no_grad():`")
            from .ops.shape import setitem_

            setitem_(self, key, value)
            return
        self.data[key] = self._other(value)


class _HookHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook) -> None:
        self.hooks, self.hook = hooks, hook

    def remove(self) -> None:
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}


class Size(tuple):
    """A shape: a tuple that prints like ``nerve.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"nerve.Size({list(self)})"

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n


def _bind() -> None:
    from . import autograd

    autograd.Tensor = Tensor  # the engine builds Tensors without importing this module


_bind()
