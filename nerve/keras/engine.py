"""The Keras layer contract on nerve's engine: Layer, symbolic KerasTensor, Input.

A Keras ``Layer`` is a ``nerve.nn.Module`` that builds its weights lazily from the
first input shape (``build``), computes in ``call``, and serialises with ``get_config``.
Calling a layer on a symbolic :class:`KerasTensor` records a node of a functional graph
instead of computing; the output shape comes from running the layer once on a small
zero batch (shape inference by execution, so every layer's shape rule is its own code).
Keras conventions: channels-last, batch dimension first, layers run in inference mode
unless called with ``training=True`` (``fit`` does that).
"""
from __future__ import annotations

import inspect
import re
from collections import defaultdict

import numpy as np

from .. import _backend as B
from ..autograd import no_grad
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor
from . import initializers as I

_NAME_COUNTS: dict = defaultdict(int)


def _to_snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s).lower()
    return s.replace("2_d", "2d").replace("1_d", "1d").replace("3_d", "3d")


def unique_name(base: str) -> str:
    n = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if n == 0 else f"{base}_{n}"


def clear_session() -> None:
    """Reset automatic layer names (``dense``, ``dense_1``, ...)."""
    _NAME_COUNTS.clear()


def as_tensor(x, dtype=None) -> Tensor:
    """Inputs to layers: NumPy float64 becomes float32 (Keras' floatx), ints stay ints."""
    if isinstance(x, Tensor):
        return x
    arr = np.asarray(x)
    if arr.dtype == np.float64 or (dtype is not None and arr.dtype.kind == "f"):
        arr = arr.astype(np.float32 if dtype is None else dtype)
    elif arr.dtype.kind == "b":
        arr = arr.astype(np.float32)
    return Tensor._wrap(arr)


# --- symbolic tensors and graph nodes ---------------------------------------------------

class KerasTensor:
    """A placeholder with a shape (batch dim None) inside a functional model's graph."""

    def __init__(self, shape, dtype="float32", layer=None, node=None, index: int = 0,
                 name: str | None = None) -> None:
        self.shape = tuple(shape)
        self.dtype = dtype
        self._keras_history = (layer, node, index)
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"


class Node:
    """One call of a layer in a functional graph: its inputs, arguments and outputs."""

    def __init__(self, layer, inputs, args, kwargs, outputs) -> None:
        self.layer = layer
        self.inputs = inputs  # nested structure of KerasTensors (and constants)
        self.args, self.kwargs = args, kwargs
        self.outputs = outputs  # nested structure of KerasTensors

    def input_tensors(self) -> list:
        items = flatten(self.inputs) + flatten(list(self.args)) + flatten(self.kwargs)
        return [t for t in items if isinstance(t, KerasTensor)]


def flatten(struct) -> list:
    if isinstance(struct, (list, tuple)):
        out = []
        for s in struct:
            out.extend(flatten(s))
        return out
    if isinstance(struct, dict):
        out = []
        for k in struct:
            out.extend(flatten(struct[k]))
        return out
    return [struct]


def map_structure(fn, struct):
    if isinstance(struct, list):
        return [map_structure(fn, s) for s in struct]
    if isinstance(struct, tuple):
        return tuple(map_structure(fn, s) for s in struct)
    if isinstance(struct, dict):
        return {k: map_structure(fn, v) for k, v in struct.items()}
    return fn(struct)


def is_symbolic(struct) -> bool:
    return any(isinstance(t, KerasTensor) for t in flatten(struct))


def _dummy(kt: KerasTensor, batch: int = 2) -> Tensor:
    shape = tuple(batch if s is None else s for s in kt.shape)
    dt = np.dtype(kt.dtype)
    return Tensor._wrap(np.zeros(shape, dtype=dt) if dt.kind != "f"
                        else np.full(shape, 0.1, dtype=dt))


# --- Layer ------------------------------------------------------------------------------

class Layer(Module):
    """Base class of Keras layers: ``build(input_shape)``, ``call(inputs)``, ``get_config()``."""

    _accepts_mask = None  # computed per class: whether call() takes a `mask` argument
    supports_masking = False

    def __init__(self, trainable: bool = True, name: str | None = None, dtype=None,
                 input_shape=None, input_dim=None, batch_input_shape=None, batch_size=None,
                 activity_regularizer=None, **kwargs) -> None:
        super().__init__()
        for k in ("autocast", "dynamic", "weights", "input_length"):
            kwargs.pop(k, None)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments "
                            f"{sorted(kwargs)}")
        self.training = False  # Keras layers infer unless called with training=True
        self.name = name or unique_name(_to_snake(type(self).__name__))
        self._trainable = trainable
        self.built = False
        self._weight_specs: list = []  # (attr name, keras name, trainable, regularizer, constraint)
        self.dtype_policy = "float32" if dtype is None else str(np.dtype(B.as_np_dtype(dtype)))
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            self._batch_input_shape = (batch_size,) + tuple(input_shape)
        else:
            self._batch_input_shape = None
        self.activity_regularizer = activity_regularizer
        self._inbound_nodes: list = []
        self._activity_losses: list = []
        self.input_spec = None

    # --- weights --------------------------------------------------------------------
    def add_weight(self, name: str, shape, initializer="glorot_uniform", regularizer=None,
                   trainable: bool = True, constraint=None, dtype=None, attr: str | None = None):
        """Create a weight (a Parameter, or a buffer when not trainable) and register it."""
        dt = np.dtype(dtype or self.dtype_policy)
        init = I.get(initializer)
        arr = init(tuple(int(s) for s in shape), dt)
        attr = attr or name
        if trainable:
            w = Parameter(Tensor._wrap(arr))
            setattr(self, attr, w)
        else:
            w = Tensor._wrap(arr)
            self.register_buffer(attr, w)
        w.__dict__["_keras_name"] = name
        self._weight_specs.append((attr, name, trainable, regularizer, constraint))
        return w

    def _weights_of(self, which: str) -> list:
        out = []
        for attr, _name, trainable, _r, _c in self._weight_specs:
            w = getattr(self, attr)
            if which == "all" or (which == "trainable") == (trainable and self.trainable):
                out.append(w)
        for child in self._keras_children():
            out.extend(child._weights_of(which))
        return _unique(out)

    def _keras_children(self) -> list:
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    @property
    def weights(self) -> list:
        return self._weights_of("all")

    @property
    def trainable_weights(self) -> list:
        return self._weights_of("trainable") if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return self.weights
        return self._weights_of("non_trainable")

    trainable_variables = trainable_weights
    variables = weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self.__dict__["_trainable"] = bool(value)
        for child in self._keras_children():
            child.trainable = value

    def get_weights(self) -> list:
        """The weights as NumPy arrays, in Keras order (kernel, bias, ...)."""
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        ws = self.weights
        if len(weights) != len(ws):
            raise ValueError(f"{self.name}.set_weights: expected {len(ws)} arrays "
                             f"({[tuple(w.shape) for w in ws]}), got {len(weights)}")
        for w, v in zip(ws, weights):
            v = np.asarray(v)
            if tuple(v.shape) != tuple(w.shape):
                raise ValueError(f"{self.name}.set_weights: weight "
                                 f"{w.__dict__.get('_keras_name', '?')} has shape "
                                 f"{tuple(w.shape)}, got an array of shape {v.shape}")
            w.data[...] = v.astype(w.data.dtype)

    def count_params(self) -> int:
        return int(sum(w.data.size for w in self.weights))

    # --- losses from regularisers ---------------------------------------------------
    def regularization_losses(self) -> list:
        out = []
        for attr, _name, _t, reg, _c in self._weight_specs:
            if reg is not None:
                out.append(reg(getattr(self, attr)))
        for child in self._keras_children():
            out.extend(child.regularization_losses())
        return out

    def _all_activity_losses(self) -> list:
        out = list(self._activity_losses)
        for child in self._keras_children():
            out.extend(child._all_activity_losses())
        return out

    @property
    def losses(self) -> list:
        """Activity-regulariser losses of the last call plus the weight penalties."""
        return self._all_activity_losses() + self.regularization_losses()

    def _clear_activity_losses(self) -> None:
        self._activity_losses = []
        for child in self._keras_children():
            child._clear_activity_losses()

    def apply_constraints(self) -> None:
        for attr, _name, _t, _r, con in self._weight_specs:
            if con is not None:
                w = getattr(self, attr)
                w.data[...] = con(w.data)
        for child in self._keras_children():
            child.apply_constraints()

    # --- building and calling -------------------------------------------------------
    def build(self, input_shape) -> None:
        self.built = True

    def call(self, inputs, *args, **kwargs):  # pragma: no cover - abstract
        return inputs

    def compute_mask(self, inputs, mask=None):
        return mask if self.supports_masking else None

    def _maybe_build(self, inputs) -> None:
        if not self.built:
            shapes = map_structure(lambda t: tuple(t.shape) if hasattr(t, "shape") else None,
                                   inputs)
            self.build(shapes if not isinstance(inputs, Tensor) else tuple(inputs.shape))
            self.built = True

    autocast = True  # cast integer/bool inputs to the layer's float dtype (Embedding: False)

    def _convert_input(self, v):
        if isinstance(v, np.ndarray):
            v = as_tensor(v)
        if self.autocast and isinstance(v, Tensor) and v.data.dtype.kind in "iub":
            v = v.to(np.dtype(self.dtype_policy))
        return v

    @classmethod
    def _call_accepts(cls, name: str) -> bool:
        cache = cls.__dict__.get("_accepts_cache")
        if cache is None:
            params = inspect.signature(cls.call).parameters
            cache = {p for p in params} | ({"**"} if any(
                p.kind == p.VAR_KEYWORD for p in params.values()) else set())
            cls._accepts_cache = cache
        return name in cache

    def __call__(self, inputs, *args, **kwargs):
        if is_symbolic(inputs) or (args and is_symbolic(list(args))) or (
                kwargs and is_symbolic(kwargs)):
            return self._symbolic_call(inputs, *args, **kwargs)
        inputs = map_structure(self._convert_input, inputs)
        training = kwargs.pop("training", None)
        mask = kwargs.pop("mask", None)
        if mask is None:
            mask = _mask_of(inputs)
        self._maybe_build(inputs)
        if self._call_accepts("training"):
            kwargs["training"] = self.training if training is None else training
        if mask is not None and self._call_accepts("mask"):
            kwargs["mask"] = mask
        prev = self.training
        if training is not None and training != prev:
            self.train(bool(training))
        try:
            outputs = self.call(inputs, *args, **kwargs)
        finally:
            if training is not None and training != prev:
                self.train(prev)
        out_mask = self.compute_mask(inputs, mask)
        if out_mask is not None and isinstance(outputs, Tensor):
            outputs.__dict__["_keras_mask"] = out_mask
        if self.activity_regularizer is not None:
            for o in flatten(outputs):
                if isinstance(o, Tensor):
                    self._activity_losses.append(
                        self.activity_regularizer(o) / float(max(o.shape[0], 1)))
        return outputs

    def train(self, mode: bool = True) -> Layer:
        return super().train(mode)

    def _symbolic_call(self, inputs, *args, **kwargs):
        kwargs.pop("training", None)
        # dry run on a small zero batch to learn output shapes (no graph, inference mode)
        def dummies(struct):
            return map_structure(lambda t: _dummy(t) if isinstance(t, KerasTensor) else t, struct)

        with no_grad():
            prev = self.training
            self.train(False)
            try:
                out = self.__call__(dummies(inputs), *dummies(list(args)), **dummies(kwargs))
            finally:
                self.train(prev)
            self._clear_activity_losses()
        node = Node(self, inputs, args, kwargs, None)

        counter = [0]

        def to_kt(o):
            if not isinstance(o, Tensor):
                return o
            kt = KerasTensor((None,) + tuple(o.shape[1:]), str(o.data.dtype), self, node,
                             counter[0], name=self.name)
            counter[0] += 1
            return kt

        outputs = map_structure(to_kt, out)
        node.outputs = outputs
        self._inbound_nodes.append(node)
        return outputs

    def compute_output_shape(self, input_shape):
        kt = map_structure(lambda s: KerasTensor(s), input_shape) if isinstance(
            input_shape, list) else KerasTensor(input_shape)
        out = self._symbolic_call(kt)
        self._inbound_nodes.pop()
        return map_structure(lambda t: t.shape, out)

    @property
    def input(self):
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name} has never been called on a symbolic input")
        return self._inbound_nodes[0].inputs

    @property
    def output(self):
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name} has never been called on a symbolic input")
        return self._inbound_nodes[0].outputs

    @property
    def output_shape(self):
        return map_structure(lambda t: t.shape, self.output)

    @property
    def input_shape(self):
        return map_structure(lambda t: t.shape, self.input)

    # --- config ---------------------------------------------------------------------
    def get_config(self) -> dict:
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype_policy}
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def forward(self, *args, **kwargs):
        return self.call(*args, **kwargs)

    def extra_repr(self) -> str:
        return f"name={self.name!r}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _mask_of(inputs):
    if isinstance(inputs, Tensor):
        return inputs.__dict__.get("_keras_mask") if inputs.__dict__ else None
    return None


def _unique(items: list) -> list:
    seen, out = set(), []
    for w in items:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


class InputLayer(Layer):
    """The source of a functional graph: ``Input(shape=(28, 28, 1))``."""

    autocast = False

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, name=None,
                 input_shape=None, batch_shape=None, batch_input_shape=None, **kwargs) -> None:
        shape = shape if shape is not None else input_shape
        if batch_shape is None:
            batch_shape = batch_input_shape
        if batch_shape is None:
            if shape is None:
                raise ValueError("InputLayer: give shape=(...), e.g. Input(shape=(784,))")
            batch_shape = (batch_size,) + tuple(shape)
        super().__init__(name=name or unique_name("input_layer"), dtype=dtype,
                         batch_input_shape=batch_shape, **kwargs)
        dt = "float32" if dtype is None else str(np.dtype(B.as_np_dtype(dtype)))
        self.output_tensor = KerasTensor((None,) + tuple(batch_shape[1:]), dt, self, None, 0,
                                         name=self.name)
        self.built = True

    def call(self, inputs):
        return inputs

    def get_config(self) -> dict:
        return {"name": self.name, "batch_shape": list(self._batch_input_shape),
                "dtype": self.output_tensor.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(batch_shape=tuple(config["batch_shape"]), dtype=config.get("dtype"),
                   name=config["name"])


def Input(shape=None, batch_size=None, dtype=None, name=None, batch_shape=None,  # noqa: N802
          **kwargs) -> KerasTensor:
    """A symbolic input tensor for the functional API."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                      batch_shape=batch_shape, **kwargs).output_tensor
