"""Optimizer: parameter groups, per-parameter state, and the in-place update engine.

An optimizer holds ``param_groups`` (a list of dicts: ``{"params": [...], "lr": ..., ...}``)
and ``state`` (a dict from parameter to its buffers). ``step()`` reads each parameter's
``.grad`` and moves the parameter, in place, on ``p.data``.

The update engine (:meth:`Optimizer._update`) is what makes the step fast on NumPy. An
optimizer writes its update as a *kernel*: a short sequence of in-place ufunc calls with
``out=`` on the parameter, its gradient, its state buffers and a few scratch buffers.
On CPU the engine runs the kernel over slices of ``_CHUNK`` elements, so the ten-odd
passes of e.g. Adam over one slice all hit the L2 cache instead of main memory, and
the scratch buffers are a few chunk-sized arrays shared by all parameters. On CuPy the
kernel runs once on the whole arrays. Gradients are only read, never written: grad
arrays may be shared between leaves.

``state_dict()`` has PyTorch's layout::

    {"state": {0: {"step": tensor(3.), "exp_avg": tensor(...), ...}, ...},
     "param_groups": [{"lr": 0.001, ..., "params": [0, 1, 2]}, ...]}

Per-parameter ``step`` counters are 0-d float32 tensors on the CPU (as in PyTorch);
buffers are nerve tensors with the parameter's shape and dtype.
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from .._backend import xp_of
from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]

# Elements per slice in the CPU engine: an Adam slice touches 5 float32 arrays of
# 256 KiB (param, grad, two moments, scratch), which stay in L2 across its passes.
_CHUNK = 1 << 16


class _RequiredParameter:
    """Marker for a hyperparameter that every parameter group must give."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _is_arraylike(value) -> bool:
    return isinstance(value, (Tensor, np.ndarray)) or hasattr(value, "__array__")


def _host_array(value):
    """The array behind a Tensor / ndarray / CuPy array / anything with ``__array__``."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray) or xp_of(value) is not np:
        return value
    return np.asarray(value)


def _step_tensor(value) -> Tensor:
    """A per-parameter step counter as a 0-d float32 CPU tensor."""
    if _is_arraylike(value):
        arr = _host_array(value)
        if xp_of(arr) is not np:
            arr = arr.get()
        value = float(np.asarray(arr).reshape(()))
    return Tensor._wrap(np.array(float(value), dtype=np.float32))


class Optimizer:
    r"""Base class for all optimizers.

    Args:
        params (iterable): an iterable of :class:`nerve.Tensor` s, of ``(name, tensor)``
            pairs, or of dicts (parameter groups: ``{"params": [...], "lr": ...}``).
            Use ordered collections (lists), never sets.
        defaults (dict): default values of the hyperparameters, used by every group
            that does not give its own.

    Subclasses implement :meth:`step`; the base class gives ``param_groups``, ``state``,
    :meth:`add_param_group`, :meth:`zero_grad`, :meth:`state_dict` and
    :meth:`load_state_dict` with PyTorch's semantics.
    """

    _nscratch = 1  # scratch buffers a kernel needs (per chunk, shared by all parameters)

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {type(params).__name__}")
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        self._scratch: dict[Any, list] = {}

        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # --- groups -------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones take the
        optimizer's defaults). Useful to unfreeze layers while training."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        else:
            params = list(params)

        tensors, names = [], []
        for item in params:
            if isinstance(item, tuple):
                names.append(item[0])
                tensors.append(item[1])
            else:
                tensors.append(item)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. "
                                 "Some param names are missing")
            param_group["param_names"] = names

        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")

        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            param_group.setdefault(name, default)

        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "in future, this will cause an error", stacklevel=3)

        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {txt} to the optimizer")
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # --- gradients ----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized tensors.

        ``set_to_none=True`` (default) sets ``.grad`` to None, so the next ``step`` skips
        parameters that get no gradient. ``set_to_none=False`` gives each parameter a
        fresh zero gradient; the old gradient array is left untouched, because in nerve
        gradient arrays may be shared between tensors.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    g = p.grad.data
                    p.grad = Tensor._wrap(xp_of(g).zeros(g.shape, dtype=g.dtype))

    def step(self, closure: Callable[[], Any] | None = None):
        """Perform one optimization step; ``closure`` re-evaluates the model and returns
        the loss (it runs with gradient recording on)."""
        raise NotImplementedError

    @staticmethod
    def _eval_closure(closure):
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def _params_with_grad(self, group: dict[str, Any]):
        """(param, grad array) for the group's parameters that have a gradient."""
        out = []
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            ga = g.data
            if ga.shape != p.data.shape:
                raise ValueError(f"{type(self).__name__}.step: a parameter of shape "
                                 f"{tuple(p.data.shape)} has a .grad of shape {tuple(ga.shape)}")
            out.append((p, ga))
        return out

    # --- the in-place update engine -----------------------------------------------------
    def _scratch_bufs(self, dtype, n: int) -> list:
        bufs = self._scratch.get(dtype)
        if bufs is None:
            bufs = self._scratch[dtype] = []
        while len(bufs) < n:
            bufs.append(np.empty(_CHUNK, dtype=dtype))
        return bufs

    def _update(self, kernel: Callable, p, g, bufs: tuple, *args) -> None:
        """Run ``kernel(xp, p, g, *bufs, *scratch, *args)`` in place over the whole array.

        ``p`` and ``bufs`` (state arrays or None) are written in place; ``g`` is read only.
        On NumPy with C-contiguous arrays the kernel runs slice by slice (``_CHUNK``
        elements); elsewhere (CuPy, strided parameters) it runs once on the whole arrays.
        """
        xp = xp_of(p)
        ns = self._nscratch
        if xp is np and p.flags.c_contiguous and all(
                b is None or b.flags.c_contiguous for b in bufs):
            n = p.size
            scr = self._scratch_bufs(p.dtype, ns)
            if n <= _CHUNK:
                shape = p.shape
                kernel(np, p, g, *bufs, *[s[:n].reshape(shape) for s in scr[:ns]], *args)
                return
            pf = p.reshape(-1)
            gf = g.reshape(-1)
            bf = [None if b is None else b.reshape(-1) for b in bufs]
            for i in range(0, n, _CHUNK):
                j = min(i + _CHUNK, n)
                k = j - i
                kernel(np, pf[i:j], gf[i:j], *[None if b is None else b[i:j] for b in bf],
                       *[s[:k] for s in scr[:ns]], *args)
        else:
            scr = [xp.empty(p.shape, dtype=p.dtype) for _ in range(ns)]
            kernel(xp, p, g, *bufs, *scr, *args)

    @staticmethod
    def _zeros_like(p: Tensor, fill: float = 0.0) -> Tensor:
        """A C-contiguous state buffer with the parameter's shape, dtype and device."""
        a = p.data
        xp = xp_of(a)
        buf = xp.zeros(a.shape, dtype=a.dtype) if fill == 0 else xp.full(a.shape, fill, a.dtype)
        return Tensor._wrap(buf)

    # --- state dicts --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state as ``{"state": {index: {...}}, "param_groups": [...]}``.

        Parameters are replaced by their index (counting through the groups in order).
        As in PyTorch, the state tensors are the live buffers, not copies: serialise the
        dict (``nerve.save``) or ``copy.deepcopy`` it to keep a snapshot.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (nerve's or PyTorch's layout).

        The groups and their sizes must match this optimizer's; hyperparameters come from
        the saved groups, parameters stay this optimizer's. State arrays are copied to the
        parameter's device, and floating ones cast to its dtype; ``step`` becomes a 0-d
        float32 tensor.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or "state" not in state_dict \
                or "param_groups" not in state_dict:
            keys = list(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                             f"'param_groups', got {keys}")
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError(f"{name}.load_state_dict: loaded state dict has a different number "
                             f"of parameter groups ({len(saved_groups)}) than the optimizer "
                             f"({len(groups)})")
        for i, (g, sg) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(sg["params"]):
                raise ValueError(f"{name}.load_state_dict: loaded state dict contains a parameter "
                                 f"group that doesn't match the size of optimizer's group: group "
                                 f"{i} has {len(sg['params'])} parameters in the state dict and "
                                 f"{len(g['params'])} in the optimizer")
        id_map = {}
        for g, sg in zip(groups, saved_groups):
            for saved_id, p in zip(sg["params"], g["params"]):
                id_map[saved_id] = p

        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                p = id_map[k]
                state[p] = self._cast_state(p, k, v)
            elif isinstance(k, str) and k.isdigit() and int(k) in id_map:  # keys from JSON
                p = id_map[int(k)]
                state[p] = self._cast_state(p, int(k), v)
            else:
                state[k] = v

        new_groups = []
        for g, sg in zip(groups, saved_groups):
            sg["params"] = g["params"]
            if "param_names" in g and "param_names" not in sg:
                sg["param_names"] = g["param_names"]
            for key, default in self.defaults.items():
                sg.setdefault(key, default)
            new_groups.append(sg)
        self.state = state
        self.param_groups = new_groups
        self._after_load()

    def _after_load(self) -> None:
        """Hook for subclasses to fix up groups after :meth:`load_state_dict`."""

    def _cast_state(self, p: Tensor, index, value, key=None):
        name = type(self).__name__
        if isinstance(value, dict):
            return {k: self._cast_state(p, index, v, k) for k, v in value.items()}
        if key == "step" and (isinstance(value, (int, float)) or _is_arraylike(value)):
            return _step_tensor(value)
        if _is_arraylike(value):
            src = _host_array(value)
            pa = p.data
            xp = xp_of(pa)
            if xp is np and xp_of(src) is not np:
                src = src.get()
            dtype = pa.dtype if (np.dtype(src.dtype).kind == "f" and pa.dtype.kind == "f") \
                else src.dtype
            arr = xp.array(src, dtype=dtype, copy=True, order="C")
            if key is not None and arr.shape != pa.shape:
                raise ValueError(f"{name}.load_state_dict: state {key!r} of parameter {index} "
                                 f"has shape {tuple(arr.shape)}, but the parameter has shape "
                                 f"{tuple(pa.shape)}")
            return Tensor._wrap(arr)
        if isinstance(value, (list, tuple)):
            return type(value)(self._cast_state(p, index, v) for v in value)
        return value

    # --- printing -----------------------------------------------------------------------
    def __repr__(self) -> str:
        s = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    s += f"    {key}: {group[key]}\n"
        return s + ")"


def _check_common(lr, eps=None, weight_decay=None) -> None:
    """PyTorch's argument checks shared by the optimizers."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    if not 0.0 <= float(lr):
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps is not None and not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if weight_decay is not None and not 0.0 <= float(weight_decay):
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _check_flags(name: str, differentiable: bool, fused=None, foreach=None) -> None:
    if differentiable:
        raise NotImplementedError(f"{name}: differentiable=True is not supported in nerve "
                                  "(the update runs in place on the arrays)")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")


def _effective_grad(xp, p, g, s, weight_decay: float, maximize: bool):
    """The gradient the update uses, ``(-g if maximize else g) + weight_decay * p``.

    Returns ``(array, sign)``: with no weight decay the gradient array itself and the sign
    to apply to it (folded into a later scalar, saving a pass); otherwise the scratch
    ``s`` holding the full expression and sign 1.
    """
    if weight_decay != 0:
        xp.multiply(p, weight_decay, out=s)
        if maximize:
            xp.subtract(s, g, out=s)
        else:
            xp.add(s, g, out=s)
        return s, 1.0
    return g, (-1.0 if maximize else 1.0)


def _bump_step(state: dict[str, Any]) -> float:
    """Increment the 0-d float32 ``state["step"]`` in place and return it as a float."""
    st = state["step"]
    if not isinstance(st, Tensor):
        st = state["step"] = _step_tensor(st)
    st.data += 1
    return float(st.data)

