"""Keras models: the functional ``Model(inputs, outputs)``, ``Sequential`` and subclassing.

A functional model is a graph of layer calls recorded on symbolic tensors; calling the
model replays those calls in topological order on real tensors. A model is itself a
Layer, so it can be called inside another model (shared weights included).
"""
from __future__ import annotations

from ..tensor import Tensor
from .engine import InputLayer, KerasTensor, Layer, flatten, is_symbolic, map_structure, unique_name
from .summary import print_summary
from .training import Trainer


class Model(Trainer, Layer):
    """``Model(inputs, outputs)`` (functional) or subclass with ``call`` (subclassing)."""

    autocast = False  # a model passes inputs through; its layers cast what they need

    def __init__(self, *args, **kwargs) -> None:
        inputs = kwargs.pop("inputs", None)
        outputs = kwargs.pop("outputs", None)
        if len(args) >= 1:
            inputs = args[0]
        if len(args) >= 2:
            outputs = args[1]
        name = kwargs.pop("name", None)
        if name is None:
            name = unique_name("functional" if inputs is not None else
                               _default_name(type(self).__name__))
        Layer.__init__(self, name=name, **{k: v for k, v in kwargs.items()
                                            if k in ("trainable", "dtype")})
        Trainer.__init__(self)
        self._functional = inputs is not None
        if self._functional:
            self._init_graph(inputs, outputs)

    # --- functional graph -----------------------------------------------------------
    def _init_graph(self, inputs, outputs) -> None:
        if outputs is None:
            raise ValueError("Model(inputs, outputs): outputs are missing")
        self._nested_inputs = inputs
        self._nested_outputs = outputs
        self.inputs = flatten(inputs)
        self.outputs = flatten(outputs)
        for t in self.inputs + self.outputs:
            if not isinstance(t, KerasTensor):
                raise TypeError(f"Model: inputs and outputs must be symbolic tensors from "
                                f"keras.Input / layer calls, got {type(t).__name__}")
        input_ids = {id(t) for t in self.inputs}
        # walk back from the outputs to the inputs: nodes in topological order
        order, seen = [], set()
        stack = [(t, False) for t in self.outputs]
        while stack:
            t, expanded = stack.pop()
            layer, node, _ = t._keras_history
            if id(t) in input_ids or node is None:
                if id(t) not in input_ids:
                    raise ValueError(f"Model: output depends on {t}, which is not among the "
                                     f"model's inputs")
                continue
            if expanded:
                if id(node) not in seen:
                    seen.add(id(node))
                    order.append(node)
                continue
            if id(node) in seen:
                continue
            stack.append((t, True))
            for src in node.input_tensors():
                stack.append((src, False))
        self._nodes = order
        layers = []
        for node in order:
            if node.layer not in layers:
                layers.append(node.layer)
        self._graph_layers = [t._keras_history[0] for t in self.inputs] + layers
        for layer in layers:
            self.add_module(layer.name, layer)
        self.built = True

    @property
    def layers(self) -> list:
        if self._functional:
            return list(self._graph_layers)
        return [m for m in self._modules.values() if isinstance(m, Layer)]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r} in model {self.name}; layers: "
                         f"{[lay.name for lay in self.layers]}")

    def call(self, inputs, training=None, mask=None):
        if not self._functional:
            raise NotImplementedError(f"{type(self).__name__}: subclassed models must define "
                                      f"call(self, inputs)")
        values = {}
        flat = flatten(inputs) if isinstance(inputs, (list, tuple, dict)) else [inputs]
        if isinstance(inputs, dict) and isinstance(self._nested_inputs, dict):
            flat = [inputs[k] for k in self._nested_inputs]
        if len(flat) != len(self.inputs):
            raise ValueError(f"model {self.name} expects {len(self.inputs)} input(s), got "
                             f"{len(flat)}")
        for kt, v in zip(self.inputs, flat):
            v = v if isinstance(v, Tensor) else Tensor._wrap(v)
            _check_input(self.name, kt, v)
            values[id(kt)] = v
        def real(struct):
            return map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                                 struct)

        for node in self._nodes:
            kw = real(dict(node.kwargs))
            if training is not None:
                kw["training"] = training
            out = node.layer(real(node.inputs), *real(list(node.args)), **kw)
            for kt, o in zip(flatten(node.outputs), flatten(out)):
                values[id(kt)] = o
        return map_structure(lambda t: values[id(t)], self._nested_outputs)

    def __call__(self, inputs, *args, **kwargs):
        if not self._functional and not is_symbolic(inputs) and not self.built:
            self.built = True  # subclassed: weights are built by the sub-layers' first call
        return Layer.__call__(self, inputs, *args, **kwargs)

    def build(self, input_shape) -> None:
        self.built = True

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False) -> None:
        """Print Keras' table: layer (type), output shape, parameter count, totals."""
        print_summary(self, print_fn=print_fn)

    def get_config(self) -> dict:
        from .saving import functional_config

        return functional_config(self)


def _default_name(cls_name: str) -> str:
    from .engine import _to_snake

    return _to_snake(cls_name)


def _check_input(model_name: str, kt: KerasTensor, v: Tensor) -> None:
    want = kt.shape[1:]
    got = tuple(v.shape[1:])
    if len(want) != len(got) or any(w is not None and w != g for w, g in zip(want, got)):
        raise ValueError(f"model {model_name}: input {kt.name!r} expects shape "
                         f"{(None,) + tuple(want)}, got an array of shape {tuple(v.shape)}")


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Dense(64, input_shape=(10,)), Dense(1)])``."""

    def __init__(self, layers=None, name: str | None = None, trainable: bool = True) -> None:
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable)
        Trainer.__init__(self)
        self._functional = False
        self._layers: list = []
        self._input_kt = None
        self._out_shapes: dict = {}
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list:
        return list(self._layers)

    def add(self, layer) -> None:
        if isinstance(layer, KerasTensor):  # Sequential.add(Input(...))
            layer = layer._keras_history[0]
        if isinstance(layer, InputLayer):
            self._input_kt = layer.output_tensor
            self._rebuild()
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a Keras layer, got {type(layer).__name__}")
        if not self._layers and self._input_kt is None and layer._batch_input_shape is not None:
            self._input_kt = InputLayer(batch_shape=layer._batch_input_shape,
                                        name=unique_name("input_layer")).output_tensor
        self._layers.append(layer)
        self.add_module(layer.name, layer)
        self._rebuild()

    def pop(self) -> Layer:
        if not self._layers:
            raise IndexError("Sequential.pop: there are no layers")
        layer = self._layers.pop()
        del self._modules[layer.name]
        self._rebuild()
        return layer

    def _rebuild(self) -> None:
        """With a known input shape, build every layer now (so summary() works)."""
        if self._input_kt is None:
            return
        x = self._input_kt
        self._out_shapes = {}
        for layer in self._layers:
            try:
                x = layer(x)
            except Exception as e:
                raise type(e)(f"layer {layer.name!r} ({type(layer).__name__}) can't take input of "
                              f"shape {x.shape if isinstance(x, KerasTensor) else '?'}: {e}") \
                    from None
            self._out_shapes[layer.name] = map_structure(lambda t: t.shape, x)
        self.built = True
        self.inputs = [self._input_kt]
        self.outputs = flatten(x)

    def call(self, inputs, training=None, mask=None):
        x = inputs
        if self._input_kt is not None and isinstance(x, Tensor):
            _check_input(self.name, self._input_kt, x)
        for layer in self._layers:
            x = layer(x, training=training) if training is not None else layer(x)
        return x

    def __call__(self, inputs, *args, **kwargs):
        if not self.built and not is_symbolic(inputs):
            shape = (None,) + tuple(inputs.shape[1:])
            dtype = str(getattr(inputs, "dtype", "float32"))
            dtype = "float32" if dtype.startswith(("float64", "nerve.float64")) else \
                dtype.replace("nerve.", "")
            self._input_kt = InputLayer(batch_shape=shape, dtype=dtype).output_tensor
            self._rebuild()
        if is_symbolic(inputs) and not self.built:
            self._input_kt = InputLayer(batch_shape=flatten(inputs)[0].shape).output_tensor
            self._rebuild()
        return Layer.__call__(self, inputs, *args, **kwargs)

    def get_config(self) -> dict:
        from .saving import sequential_config

        return sequential_config(self)


def clone_model(model: Model) -> Model:
    from .saving import model_from_config

    new = model_from_config(model.get_config())
    return new


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved by ``model.save`` (architecture JSON + safetensors weights)."""
    from .saving import load_model as _load

    return _load(filepath, custom_objects=custom_objects, compile=compile)


def model_from_json(json_string: str, custom_objects=None):
    import json

    from .saving import model_from_config

    return model_from_config(json.loads(json_string), custom_objects)


def _save(self, filepath, overwrite: bool = True, **kwargs) -> None:
    """Save architecture (JSON) and weights (safetensors) in one file."""
    from .saving import save_model

    save_model(self, filepath, overwrite)


def _save_weights(self, filepath, overwrite: bool = True, **kwargs) -> None:
    from .saving import save_weights

    save_weights(self, filepath, overwrite)


def _load_weights(self, filepath, **kwargs) -> None:
    from .saving import load_weights

    load_weights(self, filepath)


def _to_json(self, **kwargs) -> str:
    import json

    return json.dumps(self.get_config())


Model.save, Model.save_weights, Model.load_weights, Model.to_json = \
    _save, _save_weights, _load_weights, _to_json
