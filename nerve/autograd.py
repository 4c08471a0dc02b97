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
from typing import Any, Callable, Iterable, Sequence

import numpy as np


class _Mode:
    enabled = True  # global grad mode, read on every op


def is_grad_enabled() -> bool:
    return _Mode.enabled


class set_grad_enabled:  # noqa: N801  (mirrors torch)
    """Context manager / decorator setting grad mode on or off."""

    def __init__(self, mode: bool = True) -> None:
        self.prev = _Mode.enabled
        self.mode = bool(mode)
        _Mode.enabled = self.mode

    def __enter__(self) -> None:
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


class no_grad(set_grad_enabled):  # noqa: N801
    """Disable graph recording: ``with nerve.no_grad(): ...`` or ``@nerve.no_grad()``."""

    def __init__(self) -> None:
        self.prev = _Mode.enabled
        self.mode = False


class enable_grad(set_grad_enabled):  # noqa: N801
    """Re-enable graph recording inside a ``no_grad`` block."""

    def __init__(self) -> None:
        self.prev = _Mode.enabled
        self.mode = True


inference_mode = no_grad


class Context:
    """A graph node: what one Function call's backward needs (``ctx`` in forward/backward)."""

    __slots__ = ("fn", "next", "in_shapes", "in_dtypes", "out_meta", "needs_input_grad",
                 "saved", "freed", "retained", "non_differentiable", "__dict__")

    def __init__(self) -> None:
        self.saved = ()
        self.freed = False
        self.retained = None
        self.non_differentiable = ()

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
        return f"<{self.fn.__name__}Backward>"

    @property
    def name(self) -> str:
        return self.fn.__name__ + "Backward"


_FREED_MSG = ("Trying to backward through the graph a second time (or to read saved tensors "
              "after they were freed). Pass retain_graph=True to the first backward() or "
              "autograd.grad() call if you need to backward through the graph again.")


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
        from .tensor import Tensor

        ctx = Context()
        record = False
        if _Mode.enabled:
            for a in args:
                if type(a) is not Tensor and not isinstance(a, Tensor):
                    continue
                if a.requires_grad:
                    record = True
                    break
        if record:
            ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
            prev = _Mode.enabled
            _Mode.enabled = False
            try:
                out = cls.forward(ctx, *args, **kwargs)
            finally:
                _Mode.enabled = prev
        else:
            ctx.needs_input_grad = (False,) * len(args)
            out = cls.forward(ctx, *args, **kwargs)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        if not record:
            res = tuple(Tensor._wrap(o) for o in outs)
            return res if multi else res[0]
        ctx.fn = cls
        nxt, shapes, dtypes = [], [], []
        for a in args:
            if isinstance(a, Tensor) and a.requires_grad:
                nxt.append((a.grad_fn, a._output_nr) if a.grad_fn is not None else (a, 0))
                shapes.append(a.data.shape)
                dtypes.append(a.data.dtype)
            else:
                nxt.append(None)
                shapes.append(None)
                dtypes.append(None)
        ctx.next, ctx.in_shapes, ctx.in_dtypes = tuple(nxt), tuple(shapes), tuple(dtypes)
        ctx.out_meta = tuple((o.shape, o.dtype) for o in outs)
        res = []
        for i, o in enumerate(outs):
            diff = i not in ctx.non_differentiable and o.dtype.kind in "fc"
            t = Tensor._wrap(o, requires_grad=diff)
            if diff:
                t.grad_fn = ctx
                t._output_nr = i
            res.append(t)
        return tuple(res) if multi else res[0]


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


def _accumulate(old, new):
    return new if old is None else old + new


def _run_backward(roots: Sequence, root_grads: Sequence, retain_graph: bool, create_graph: bool,
                  capture: dict | None = None) -> None:
    """Propagate ``root_grads`` from ``roots`` through the graph.

    With ``capture`` (a dict keyed by id of the wanted tensors), gradients for those
    tensors are collected there instead of being accumulated into ``.grad``.
    """
    from .tensor import Tensor

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
            if isinstance(tgt, Context):
                if tgt in deps:
                    deps[tgt] += 1
                else:
                    deps[tgt] = 1
                    stack.append(tgt)

    # capture of non-leaf tensors: map (node, nr) -> key
    cap_nodes = {}
    if capture is not None:
        for key, t in capture["tensors"].items():
            if t.grad_fn is not None:
                cap_nodes[(t.grad_fn, t._output_nr)] = key

    buffers: dict = {}
    given_leaf_arrays: set = set()

    def deliver_leaf(t, g):
        if capture is not None:
            key = id(t)
            if key in capture["tensors"]:
                capture["grads"][key] = _accumulate(capture["grads"].get(key), g)
            return
        if t._hooks:
            for h in t._hooks:
                r = h(g)
                if r is not None:
                    g = r
        if t.grad is None:
            if not create_graph:
                # never let two leaves share one grad array (in-place updates would leak)
                if id(g.data) in given_leaf_arrays:
                    g = Tensor._wrap(g.data.copy())
                given_leaf_arrays.add(id(g.data))
                g = g.detach() if g.requires_grad else g
            t.grad = g
        else:
            if create_graph:
                t.grad = t.grad + g
            else:
                t.grad.data = t.grad.data + g.data

    def push(edge, g, shape, dtype):
        if g is None:
            return
        if not isinstance(g, Tensor):
            g = Tensor._wrap(g)
        if g.data.shape != shape:
            g = _sum_to(g, shape)
        if g.data.dtype != dtype:
            g = g.to(dtype)
        tgt, nr = edge
        if isinstance(tgt, Context):
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

    prev = _Mode.enabled
    _Mode.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            grads = buffers.pop(node)
            if node.freed:
                raise RuntimeError(_FREED_MSG)
            missing = False
            for i, g in enumerate(grads):
                if g is None:
                    missing = True
                    continue
                if cap_nodes and (node, i) in cap_nodes:
                    key = cap_nodes[(node, i)]
                    capture["grads"][key] = _accumulate(capture["grads"].get(key), g)
                if node.retained and i in node.retained:
                    t = node.retained[i]()
                    if t is not None:
                        t.grad = g if create_graph else g.detach()
            if missing:  # multi-output node where some outputs got no gradient
                xp = next(g.xp for g in grads if g is not None)
                for i, g in enumerate(grads):
                    if g is None:
                        shape, dt = node.out_meta[i]
                        grads[i] = Tensor._wrap(xp.zeros(shape, dtype=dt))
            in_grads = node.fn.backward(node, *grads)
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            nxt = node.next
            if len(in_grads) < len(nxt):
                raise RuntimeError(f"{node.name} returned {len(in_grads)} gradients, "
                                   f"expected {len(nxt)}")
            for edge, g, shape, dt in zip(nxt, in_grads, node.in_shapes, node.in_dtypes):
                if edge is not None:
                    push(edge, g, shape, dt)
            if not retain_graph:
                node.saved = ()
                node.freed = True
                node.__dict__.clear()
    finally:
        _Mode.enabled = prev


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs=None) -> None:
    """Accumulate d(tensors)/d(leaves) into the leaves' ``.grad``."""
    from .tensor import Tensor

    if isinstance(tensors, Tensor):
        tensors = [tensors]
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    roots, grads = [], []
    for t, g in zip(tensors, grad_tensors):
        if not t.requires_grad:
            raise RuntimeError("backward(): the tensor does not require grad and has no grad_fn "
                               "(was it computed under no_grad, or from tensors without "
                               "requires_grad=True?)")
        if g is None:
            if t.data.size != 1:
                raise RuntimeError(f"backward(): grad can be implicitly created only for scalar "
                                   f"outputs, but the tensor has shape {tuple(t.shape)}. Reduce "
                                   f"it first (e.g. loss.sum() or loss.mean()) or pass a gradient: "
                                   f"t.backward(gradient) with a tensor of that shape.")
            g = Tensor._wrap(t.xp.ones_like(t.data))
        elif not isinstance(g, Tensor):
            g = Tensor._wrap(t.xp.asarray(g, dtype=t.data.dtype))
        if g.shape != t.shape:
            raise RuntimeError(f"backward(): gradient has shape {tuple(g.shape)} but the tensor "
                               f"has shape {tuple(t.shape)}")
        roots.append(t)
        grads.append(g)
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        got = grad(roots, inputs, grads, retain_graph=retain_graph, create_graph=create_graph,
                   allow_unused=True)
        for t, g in zip(inputs, got):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
        return
    _run_backward(roots, grads, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """Return d(outputs)/d(inputs) without touching ``.grad``.

    With ``create_graph=True`` the result is itself differentiable (second derivatives,
    gradient penalties, Hessian-vector products).
    """
    from .tensor import Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    grads = []
    for o, g in zip(outputs, grad_outputs):
        if not o.requires_grad:
            raise RuntimeError("grad(): an output does not require grad")
        if g is None:
            if o.data.size != 1:
                raise RuntimeError(f"grad(): grad_outputs must be given for the non-scalar output "
                                   f"of shape {tuple(o.shape)}")
            g = Tensor._wrap(o.xp.ones_like(o.data))
        grads.append(g)
    for t in inputs:
        if not t.requires_grad:
            raise RuntimeError("grad(): an input does not require grad")
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
    from .tensor import Tensor

    inputs = list(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    for t in checked:
        if t.data.dtype != np.float64:
            raise TypeError(f"gradcheck: inputs must be float64, got {t.data.dtype}")
    rng = np.random.default_rng(seed)
    out = fn(*inputs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    outs = [o for o in outs if isinstance(o, Tensor) and o.requires_grad]
    vs = [rng.standard_normal(o.shape) for o in outs]
    analytic = grad(outs, checked, [Tensor(v) for v in vs], allow_unused=True)

    def project(res) -> float:
        res = list(res) if isinstance(res, (tuple, list)) else [res]
        res = [o for o in res if isinstance(o, Tensor) and o.dtype.is_floating_point]
        return float(sum((o.data * v).sum() for o, v in zip(res, vs)))

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
    from .tensor import Tensor

    inputs = list(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    rng = np.random.default_rng(seed + 1)
    out0 = fn(*inputs)
    v = Tensor(rng.standard_normal(out0.shape))

    def first(*xs):
        out = fn(*xs)
        gs = grad(out, [x for x in xs if isinstance(x, Tensor) and x.requires_grad], v,
                  create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed)


__all__ = ["Function", "Context", "backward", "grad", "no_grad", "enable_grad", "set_grad_enabled",
           "is_grad_enabled", "gradcheck", "gradgradcheck", "once_differentiable", "inference_mode"]
