"""Reverse-mode automatic differentiation: Function, the backward engine, grad modes.

A :class:`Function` pairs a ``forward`` (computed on arrays) with a ``backward`` (one
gradient per input), as in ``torch.autograd.Function``. Calling ``Fn.apply(*args)``
runs ``forward`` and, when grad mode is on and an input requires grad, records a
:class:`Context` node in the graph. :func:`backward` walks the nodes in topological
order with an explicit stack (no recursion, so a 10,000-op chain is fine), undoes
broadcasting in one place (``_sum_to``), accumulates into leaves and frees each node
after use unless ``retain_graph=True``.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np


class _Mode:
    enabled = True  # global grad mode, read on every op


def is_grad_enabled() -> bool:
    return _Mode.enabled


class _GradMode:
    """Context manager / decorator switching grad mode; the previous mode is restored on exit."""

    mode = True

    def __enter__(self) -> None:
        self.prev = _Mode.enabled
        _Mode.enabled = self.mode

    def __exit__(self, *exc) -> None:
        _Mode.enabled = self.prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            prev = _Mode.enabled
            _Mode.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _Mode.enabled = prev

        return wrapper


class set_grad_enabled(_GradMode):  # noqa: N801  (mirrors torch)
    """Set grad mode: as a call (``set_grad_enabled(False)``), context manager or decorator."""

    def __init__(self, mode: bool = True) -> None:
        self.prev = _Mode.enabled
        self.mode = bool(mode)
        _Mode.enabled = self.mode  # a plain call takes effect at once, as in torch

    def __enter__(self) -> None:
        pass  # already set by __init__

    def __call__(self, fn: Callable) -> Callable:
        _Mode.enabled = self.prev  # used as a decorator: don't leak the mode
        return super().__call__(fn)


class no_grad(_GradMode):  # noqa: N801
    """Disable graph recording: ``with nerve.no_grad(): ...`` or ``@nerve.no_grad()``."""

    mode = False


class enable_grad(_GradMode):  # noqa: N801
    """Re-enable graph recording inside a ``no_grad`` block."""

    mode = True


inference_mode = no_grad


class Context:
    """A graph node: what one Function call's backward needs (``ctx`` in forward/backward).

    ``next`` holds one edge per positional input: ``(node_or_leaf, output_nr, shape,
    dtype)`` for inputs that require grad, else None. Per-node extras (saved tensors,
    retain_grad/hook tables, attributes set by ``forward``) live in ``__dict__``, which
    the engine clears once the node has run, unless ``retain_graph=True``.
    """

    __slots__ = ("fn", "next", "out_meta", "needs_input_grad", "__dict__")

    # defaults as class attributes: creating a node costs no __init__
    saved = ()
    freed = False
    retained = None  # {output_nr: weakref to the tensor} for retain_grad()
    hooks = None  # {output_nr: [hook, ...]} for register_hook() on non-leaves
    non_differentiable = ()
    # positions of outputs that got no gradient and were filled with zeros for backward
    # (a kernel can skip work on them instead of scanning the zeros)
    zero_grads = ()

    def save_for_backward(self, *items) -> None:
        self.saved = items

    @property
    def saved_tensors(self) -> tuple:
        if self.freed:
            raise RuntimeError(_FREED_MSG)
        return self.saved

    def mark_non_differentiable(self, *output_indices: int) -> None:
        """Outputs at these positions (e.g. argmax indices) get no gradient."""
        self.non_differentiable = output_indices

    def __repr__(self) -> str:
        return f"<{self.name}>"

    @property
    def name(self) -> str:
        fn = getattr(self, "fn", None)
        return (fn.__name__ if fn is not None else "Function") + "Backward"


_FREED_MSG = ("Trying to backward through the graph a second time (or to read saved tensors "
              "after they were freed). Pass retain_graph=True to the first backward() or "
              "autograd.grad() call if you need to backward through the graph again.")

Tensor: Any = None  # bound by nerve.tensor on import (tensor.py imports this module)
_new = object.__new__
_generic = np.generic


def _out_tensor(o, requires_grad: bool = False):
    """Wrap one forward output (a NumPy scalar from a full reduction becomes a 0-d array)."""
    if isinstance(o, _generic):
        o = np.asarray(o)
    t = _new(Tensor)
    t.data = o
    t.grad = None
    t.grad_fn = None
    t._output_nr = 0
    t._hooks = None
    t.requires_grad = requires_grad
    return t


class Function:
    """Base class of differentiable operations.

    Subclasses define ``forward(ctx, *args)`` returning an array (or a tuple of arrays)
    and ``backward(ctx, *grads)`` returning one gradient (Tensor, array or None) per
    positional argument of ``forward``. ``ctx.needs_input_grad[i]`` says which are wanted.
    Tensor arguments reach ``forward`` as Tensors; read their ``.data``.
    """

    once_differentiable = False  # True: backward works on arrays and can't build a graph

    @staticmethod
    def forward(ctx: Context, *args: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grads: Any) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any):
        """Run ``forward``; record a graph node if grad mode is on and an input needs grad."""
        ctx = _new(Context)
        if _Mode.enabled:
            for a in args:
                if isinstance(a, Tensor) and a.requires_grad:
                    return _record(cls, ctx, args, kwargs)
        ctx.needs_input_grad = (False,) * len(args)
        out = cls.forward(ctx, *args, **kwargs)
        if type(out) is tuple:
            return tuple(_out_tensor(o) for o in out)
        return _out_tensor(out)


def _record(cls, ctx: Context, args: tuple, kwargs: dict):
    """``Function.apply`` with graph recording: forward without grad mode, then link."""
    edges, needs = [], []
    for a in args:
        if isinstance(a, Tensor) and a.requires_grad:
            d = a.data
            fn = a.grad_fn
            edges.append((a, 0, d.shape, d.dtype) if fn is None
                         else (fn, a._output_nr, d.shape, d.dtype))
            needs.append(True)
        else:
            edges.append(None)
            needs.append(False)
    ctx.needs_input_grad = tuple(needs)
    _Mode.enabled = False
    try:
        out = cls.forward(ctx, *args, **kwargs)
    finally:
        _Mode.enabled = True
    ctx.fn = cls
    ctx.next = tuple(edges)
    if type(out) is not tuple:
        t = _out_tensor(out)
        o = t.data
        ctx.out_meta = ((o.shape, o.dtype),)
        if o.dtype.kind in "fc" and not ctx.non_differentiable:
            t.requires_grad = True
            t.grad_fn = ctx
        return t
    res = tuple(_out_tensor(o) for o in out)
    ctx.out_meta = tuple((t.data.shape, t.data.dtype) for t in res)
    nd = ctx.non_differentiable
    for i, t in enumerate(res):
        if t.data.dtype.kind in "fc" and i not in nd:
            t.requires_grad = True
            t.grad_fn = ctx
            t._output_nr = i
    return res


def once_differentiable(backward: Callable) -> Callable:
    """Mark an array-level backward: differentiating it again raises a clear error."""

    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        if _Mode.enabled:
            raise RuntimeError(f"{ctx.name} is once-differentiable: its backward works on raw "
                               "arrays, so create_graph=True cannot differentiate through it.")
        return backward(ctx, *grads)

    return wrapper


# --- the engine -------------------------------------------------------------------------


def _sum_to(g, shape):
    """Undo broadcasting: sum ``g`` down to ``shape`` (differentiable)."""
    from .ops.shape import sum_to

    return sum_to(g, shape)


def _base(a):
    """The array that owns ``a``'s memory (NumPy collapses view chains to the owner)."""
    b = getattr(a, "base", None)
    return a if b is None else b


def _accumulate(old, new):
    return new if old is None else old + new


def _run_backward(roots: Sequence, root_grads: Sequence, retain_graph: bool, create_graph: bool,
                  capture: dict | None = None) -> None:
    """Propagate ``root_grads`` from ``roots`` through the graph.

    With ``capture`` (a dict keyed by id of the wanted tensors), gradients for those
    tensors are collected there instead of being accumulated into ``.grad``.
    """
    # 1. count, for every node, how many edges lead into it (iterative DFS)
    deps: dict = {}
    stack = []
    for r in roots:
        node = r.grad_fn
        if node is not None and node not in deps:
            deps[node] = 0
            stack.append(node)
    while stack:
        node = stack.pop()
        if node.freed:
            raise RuntimeError(_FREED_MSG)
        for edge in node.next:
            if edge is None:
                continue
            tgt = edge[0]
            if type(tgt) is Context:
                if tgt in deps:
                    deps[tgt] += 1
                else:
                    deps[tgt] = 1
                    stack.append(tgt)

    # capture of non-leaf tensors: map (node, nr) -> key; and which edges lead to an input
    cap_nodes = {}
    wanted = None
    if capture is not None:
        for key, t in capture["tensors"].items():
            if t.grad_fn is not None:
                cap_nodes[(t.grad_fn, t._output_nr)] = key
        wanted = _wanted_edges(deps, capture["tensors"], {n for n, _ in cap_nodes})

    buffers: dict = {}
    # a leaf's new .grad must own its memory: never a read-only broadcast view, never an
    # array that another leaf, a retained grad or the caller's gradient also holds
    given: set = {id(_base(g.data)) for g in root_grads}

    def own(g):
        d = g.data
        key = id(_base(d))
        if key in given or not d.flags.writeable:
            d = d.copy()
            key = id(d)
        given.add(key)
        return Tensor._wrap(d)

    def deliver_leaf(t, g):
        if t._hooks:
            for h in t._hooks:
                r = h(g)
                if r is not None:
                    g = r
        if capture is not None:
            key = id(t)
            if key in capture["tensors"]:
                capture["grads"][key] = _accumulate(capture["grads"].get(key), g)
            return
        if create_graph:
            t.grad = g if t.grad is None else t.grad + g
        elif t.grad is None:
            t.grad = own(g)
        else:  # rebinding (not +=) keeps any array shared with others intact
            t.grad.data = t.grad.data + g.data

    def push(edge, g):
        tgt, nr, shape, dtype = edge
        if not isinstance(g, Tensor):
            g = Tensor._wrap(g)
        if g.data.shape != shape:
            g = _sum_to(g, shape)
        if g.data.dtype != dtype:
            g = g.to(dtype)
        if type(tgt) is Context:
            buf = buffers.get(tgt)
            if buf is None:
                buf = buffers[tgt] = [None] * len(tgt.out_meta)
            buf[nr] = g if buf[nr] is None else buf[nr] + g
            deps[tgt] -= 1
            if deps[tgt] == 0:
                ready.append(tgt)
        else:
            deliver_leaf(tgt, g)

    ready = []
    for r, g in zip(roots, root_grads):
        if r.grad_fn is None:
            if r.requires_grad:
                deliver_leaf(r, g)
            continue
        node, nr = r.grad_fn, r._output_nr
        buf = buffers.get(node)
        if buf is None:
            buf = buffers[node] = [None] * len(node.out_meta)
        buf[nr] = g if buf[nr] is None else buf[nr] + g
    for node in list(buffers):
        if deps[node] == 0:
            ready.append(node)

    def extras(node, grads):
        """Per-output hooks, autograd.grad captures and retain_grad() of one node."""
        for i, g in enumerate(grads):
            if g is None:
                continue
            if node.hooks and i in node.hooks:
                for h in node.hooks[i]:
                    r = h(g)
                    if r is not None:
                        grads[i] = g = r
            if cap_nodes and (node, i) in cap_nodes:
                key = cap_nodes[(node, i)]
                capture["grads"][key] = _accumulate(capture["grads"].get(key), g)
            if node.retained and i in node.retained:
                t = node.retained[i]()
                if t is not None:
                    if create_graph:
                        t.grad = g if t.grad is None else t.grad + g
                    else:
                        t.grad = own(g) if t.grad is None else Tensor._wrap(t.grad.data + g.data)

    prev = _Mode.enabled
    _Mode.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node)
            if node.freed:
                raise RuntimeError(_FREED_MSG)
            if node.hooks or node.retained or cap_nodes:
                extras(node, grads)
            needs = None
            if wanted is not None:  # autograd.grad: only what leads to the inputs
                mask = wanted.get(node)
                if mask is None:
                    continue
                needs = node.needs_input_grad
                node.needs_input_grad = tuple(a and b for a, b in zip(needs, mask))
            if len(grads) > 1:  # set on every run: a retained graph may run again
                node.zero_grads = tuple(i for i, g in enumerate(grads) if g is None)
                if node.zero_grads:
                    # a multi-output node where some outputs got no gradient: zeros
                    xp = next(g.xp for g in grads if g is not None)
                    for i in node.zero_grads:
                        shape, dt = node.out_meta[i]
                        grads[i] = Tensor._wrap(xp.zeros(shape, dtype=dt))
            in_grads = node.fn.backward(node, *grads)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            nxt = node.next
            if len(in_grads) < len(nxt):
                raise RuntimeError(f"{node.name} returned {len(in_grads)} gradients, "
                                   f"expected {len(nxt)}")
            if needs is not None:
                for edge, g, m in zip(nxt, in_grads, node.needs_input_grad):
                    if m and g is not None:
                        push(edge, g)
                node.needs_input_grad = needs
            else:
                for edge, g in zip(nxt, in_grads):
                    if edge is not None and g is not None:
                        push(edge, g)
            if not retain_graph:
                node.__dict__.clear()  # saved tensors, ctx attributes, hook tables
                node.freed = True
    finally:
        _Mode.enabled = prev


def _wanted_edges(deps: dict, targets: dict, target_nodes: set) -> dict:
    """For autograd.grad: {node: per-edge mask} of the nodes from which an input is reached.

    Nodes are visited children-first (reverse Kahn order of the graph counted in ``deps``);
    an edge is wanted if it ends at a requested leaf, a requested non-leaf's node, or a
    node that is itself wanted. Nodes left out need not run their backward at all.
    """
    left = dict(deps)
    order = []
    stack = [n for n, d in left.items() if d == 0]
    while stack:
        node = stack.pop()
        order.append(node)
        for e in node.next:
            if e is not None and type(e[0]) is Context:
                left[e[0]] -= 1
                if left[e[0]] == 0:
                    stack.append(e[0])
    wanted: dict = {}
    for node in reversed(order):
        mask = tuple(e is not None and (e[0] in wanted or e[0] in target_nodes
                                        if type(e[0]) is Context else id(e[0]) in targets)
                     for e in node.next)
        if any(mask):
            wanted[node] = mask
    return wanted


def _root_grads(name: str, outputs: list, grad_outputs) -> list:
    """Check the outputs and turn their gradients into Tensors of the outputs' shape/dtype."""
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    grad_outputs = list(grad_outputs)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"{name}: got {len(grad_outputs)} gradients for {len(outputs)} "
                           "outputs")
    grads = []
    for t, g in zip(outputs, grad_outputs):
        if not t.requires_grad:
            raise RuntimeError(f"{name}: the tensor does not require grad and has no grad_fn "
                               "(was it computed under no_grad, or from tensors without "
                               "requires_grad=True?)")
        d = t.data
        if g is None:
            if d.size != 1:
                raise RuntimeError(f"{name}: grad can be implicitly created only for scalar "
                                   f"outputs, but the tensor has shape {tuple(d.shape)}. Reduce "
                                   f"it first (e.g. loss.sum() or loss.mean()) or pass a gradient "
                                   f"of that shape: t.backward(gradient).")
            g = Tensor._wrap(t.xp.ones_like(d))
        elif not isinstance(g, Tensor):
            g = Tensor._wrap(t.xp.asarray(g, dtype=d.dtype))
        elif g.data.dtype != d.dtype:
            g = g.to(d.dtype)
        if g.data.shape != d.shape:
            raise RuntimeError(f"{name}: gradient has shape {tuple(g.data.shape)} but the tensor "
                               f"has shape {tuple(d.shape)}")
        grads.append(g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(tensors)/d(leaves) into the leaves' ``.grad``.

    ``grad_tensors`` is required for non-scalar tensors (the vector of the
    vector-Jacobian product). ``inputs`` restricts accumulation to those tensors.
    """
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = _root_grads("backward()", roots, grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        got = grad(roots, inputs, grads, retain_graph=retain_graph, create_graph=create_graph,
                   allow_unused=True)
        for t, g in zip(inputs, got):
            if g is not None:
                if not create_graph:
                    g = Tensor._wrap(g.data.copy())  # .grad owns its memory
                t.grad = g if t.grad is None else t.grad + g
        return
    _run_backward(roots, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Return d(outputs)/d(inputs) without touching ``.grad``.

    With ``create_graph=True`` the result is itself differentiable (second derivatives,
    gradient penalties, Hessian-vector products).
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    grads = _root_grads("grad()", outputs, grad_outputs)
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError(f"grad(): an input (shape {tuple(t.shape)}) does not require grad")
    capture = {"tensors": {id(t): t for t in inputs}, "grads": {}}
    _run_backward(outputs, grads, retain_graph, create_graph, capture)
    res = []
    for t in inputs:
        g = capture["grads"].get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError("grad(): one of the inputs was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it")
        if g is not None and not create_graph and g.requires_grad:
            g = g.detach()
        res.append(g)
    return tuple(res)


# --- numerical checks -------------------------------------------------------------------


def gradcheck(fn: Callable, inputs: Iterable, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0, raise_exception: bool = True) -> bool:
    """Compare autograd's vector-Jacobian product with central finite differences.

    ``inputs`` are float64 tensors (those with ``requires_grad`` are checked). A random
    cotangent ``v`` is drawn; autograd gives ``vᵀJ`` in one backward pass, finite
    differences give ``(f(x+εeᵢ) - f(x-εeᵢ))·v / 2ε`` for every input element ``i``.
    """
    inputs = list(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in checked:
        if t.data.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs must be float64, got {t.data.dtype}")
    rng = np.random.default_rng(seed)
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    outs = [o for o in outs if isinstance(o, Tensor) and o.dtype.is_floating_point]
    vs = [rng.standard_normal(o.shape) for o in outs]
    # outputs that don't depend on the inputs (no graph) contribute a zero derivative
    live = [(o, Tensor(v)) for o, v in zip(outs, vs) if o.requires_grad]
    analytic = grad([o for o, _ in live], checked, [v for _, v in live], allow_unused=True) \
        if live else [None] * len(checked)

    def project(res) -> float:
        res = list(res) if isinstance(res, (tuple, list)) else [res]
        res = [o for o in res if isinstance(o, Tensor) and o.dtype.is_floating_point]
        return float(sum((o.data * v).sum() for o, v in zip(res, vs)))

    for t in checked:  # perturbing in place needs a contiguous buffer
        if not t.data.flags.c_contiguous or not t.data.flags.writeable:
            t.data = np.ascontiguousarray(t.data).copy()
    with no_grad():
        for t, a in zip(checked, analytic):
            num = np.zeros(t.data.shape)
            flat = t.data.reshape(-1)  # a view: perturb in place
            nflat = num.reshape(-1)
            for i in range(flat.size):
                orig = flat[i]
                flat[i] = orig + eps
                fp = project(fn(*inputs))
                flat[i] = orig - eps
                fm = project(fn(*inputs))
                flat[i] = orig
                nflat[i] = (fp - fm) / (2 * eps)
            ana = np.zeros(t.data.shape) if a is None else a.data
            if not np.allclose(ana, num, atol=atol, rtol=rtol):
                if raise_exception:
                    err = np.abs(ana - num).max()
                    raise AssertionError(f"gradcheck failed for input of shape {t.data.shape}: "
                                         f"max abs error {err:.3g}\nanalytic:\n{ana}\n"
                                         f"numerical:\n{num}")
                return False
    return True


def gradgradcheck(fn: Callable, inputs: Iterable, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, seed: int = 0) -> bool:
    """gradcheck of the first derivative (built with ``create_graph=True``)."""
    inputs = list(inputs)
    rng = np.random.default_rng(seed + 1)
    out0 = fn(*inputs)
    v = Tensor(rng.standard_normal(out0.shape))

    def first(*xs):
        with enable_grad():  # gradcheck evaluates this under no_grad
            out = fn(*xs)
            if not out.requires_grad:
                return ()
            gs = grad(out, [x for x in xs if isinstance(x, Tensor) and x.requires_grad], v,
                      create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)


__all__ = ["Function", "Context", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "gradcheck", "gradgradcheck", "once_differentiable", "inference_mode"]
