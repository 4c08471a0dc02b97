"""Saving Keras models: one file, JSON architecture + safetensors weights, no pickle.

The architecture names layer classes from ``nerve.keras.layers`` only, so loading can
never run code from the file; ``custom_objects`` lets the caller add classes by name.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .engine import InputLayer, KerasTensor, Layer, flatten, map_structure

FORMAT = "nerve-keras"


def _layer_entry(layer: Layer) -> dict:
    from .models import Model

    if isinstance(layer, Model):
        return layer.get_config()
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def sequential_config(model) -> dict:
    layers = [_layer_entry(lay) for lay in model.layers]
    cfg = {"name": model.name, "layers": layers}
    if model._input_kt is not None:
        cfg["batch_shape"] = list(model._input_kt.shape)
        cfg["input_dtype"] = model._input_kt.dtype
    return {"class_name": "Sequential", "config": cfg}


def functional_config(model) -> dict:
    if not model._functional:
        raise NotImplementedError(f"{type(model).__name__}: subclassed models have no "
                                  "architecture config; use save_weights/load_weights")
    node_ids = {}
    for layer in model.layers:
        for i, node in enumerate(layer._inbound_nodes):
            node_ids[id(node)] = (layer.name, i)

    def ref(t: KerasTensor):
        layer, node, idx = t._keras_history
        if node is None:
            return [layer.name, 0, 0]
        return [node_ids[id(node)][0], node_ids[id(node)][1], idx]

    layers = []
    for layer in model.layers:
        entry = _layer_entry(layer)
        entry["name"] = layer.name
        entry["inbound_nodes"] = []
        for node in layer._inbound_nodes:
            if id(node) not in {id(n) for n in model._nodes}:
                entry["inbound_nodes"].append(None)
                continue
            def as_ref(struct):
                return map_structure(
                    lambda t: {"ref": ref(t)} if isinstance(t, KerasTensor) else t, struct)

            item = as_ref(node.inputs)
            if node.args or node.kwargs:
                item = {"__call__": [item, as_ref(list(node.args)), as_ref(dict(node.kwargs))]}
            entry["inbound_nodes"].append(item)
        layers.append(entry)
    return {"class_name": "Functional", "config": {
        "name": model.name, "layers": layers,
        "input_layers": map_structure(ref, model._nested_inputs),
        "output_layers": map_structure(ref, model._nested_outputs)}}


def _registry(custom_objects=None) -> dict:
    from . import layers as L
    from .models import Model, Sequential

    reg = {name: obj for name, obj in vars(L).items()
           if isinstance(obj, type) and issubclass(obj, Layer)}
    reg["Sequential"], reg["Functional"], reg["Model"] = Sequential, Model, Model
    reg.update(custom_objects or {})
    return reg


def _deserialize_config(cfg: dict) -> dict:
    from . import activations as A
    from . import constraints as C
    from . import initializers as I
    from . import regularizers as R

    out = dict(cfg)
    for k, v in cfg.items():
        if k.endswith("_initializer") and isinstance(v, dict):
            out[k] = I.get(v)
        elif k.endswith("_regularizer") and isinstance(v, dict):
            out[k] = R.get(v)
        elif k.endswith("_constraint") and isinstance(v, dict):
            out[k] = C.get(v)
        elif k in ("activation", "recurrent_activation") and isinstance(v, str):
            out[k] = A.get(v)
        elif k in ("layer", "backward_layer", "forward_layer") and isinstance(v, dict):
            out[k] = model_from_config(v)
    return out


def model_from_config(config: dict, custom_objects=None):
    from .models import Model, Sequential

    reg = _registry(custom_objects)
    cls_name = config.get("class_name")
    cfg = config.get("config", {})
    if cls_name == "Sequential":
        model = Sequential(name=cfg.get("name"))
        if "batch_shape" in cfg:
            model.add(InputLayer(batch_shape=tuple(cfg["batch_shape"]),
                                 dtype=cfg.get("input_dtype")))
        for entry in cfg["layers"]:
            model.add(model_from_config(entry, custom_objects))
        return model
    if cls_name in ("Functional", "Model"):
        made = {}
        outputs = {}
        pending = list(cfg["layers"])
        for entry in pending:
            if entry["class_name"] == "InputLayer":
                lay = InputLayer.from_config(entry["config"])
                made[entry["name"]] = lay
                outputs[(entry["name"], 0)] = [lay.output_tensor]
            else:
                made[entry["name"]] = model_from_config(entry, custom_objects)
        progress = True
        remaining = [e for e in pending if e["class_name"] != "InputLayer"]
        while remaining and progress:
            progress = False
            for entry in list(remaining):
                lay = made[entry["name"]]
                ok = True
                for i, inb in enumerate(entry["inbound_nodes"]):
                    if (entry["name"], i) in outputs or inb is None:
                        continue
                    refs = _collect_refs(inb)
                    if not all((r[0], r[1]) in outputs for r in refs):
                        ok = False
                        break
                    if isinstance(inb, dict) and "__call__" in inb:
                        a, pos, kw = _resolve_refs(inb["__call__"], outputs)
                        outputs[(entry["name"], i)] = flatten(lay(a, *pos, **kw))
                    else:
                        outputs[(entry["name"], i)] = flatten(lay(_resolve_refs(inb, outputs)))
                if ok:
                    remaining.remove(entry)
                    progress = True
        if remaining:
            raise ValueError(f"load: could not rebuild the graph; unresolved layers "
                             f"{[e['name'] for e in remaining]}")
        ins = _resolve_triples(cfg["input_layers"], outputs)
        outs = _resolve_triples(cfg["output_layers"], outputs)
        return Model(ins, outs, name=cfg.get("name"))
    cls = reg.get(cls_name)
    if cls is None:
        raise ValueError(f"load: unknown layer class {cls_name!r} in the file (known: "
                         f"{sorted(reg)}); pass custom_objects={{'{cls_name}': cls}}")
    c = _deserialize_config(cfg)
    if "batch_input_shape" in c and c["batch_input_shape"] is not None:
        c["batch_input_shape"] = tuple(c["batch_input_shape"])
    return cls.from_config(c)


def _collect_refs(struct) -> list:
    if isinstance(struct, dict) and "ref" in struct:
        return [struct["ref"]]
    if isinstance(struct, (list, tuple)):
        return [r for s in struct for r in _collect_refs(s)]
    if isinstance(struct, dict):
        return [r for v in struct.values() for r in _collect_refs(v)]
    return []


def _resolve_refs(struct, outputs):
    """Replace {"ref": [layer, node, index]} leaves by the tensors already rebuilt."""
    if isinstance(struct, dict) and "ref" in struct:
        r = struct["ref"]
        return outputs[(r[0], r[1])][r[2]]
    if isinstance(struct, list):
        return [_resolve_refs(s, outputs) for s in struct]
    if isinstance(struct, dict):
        return {k: _resolve_refs(v, outputs) for k, v in struct.items()}
    return struct


def _resolve_triples(struct, outputs):
    """Nested lists whose leaves are [layer, node, index] triples -> the rebuilt tensors."""
    if isinstance(struct, list) and len(struct) == 3 and isinstance(struct[0], str):
        return outputs[(struct[0], struct[1])][struct[2]]
    if isinstance(struct, list):
        return [_resolve_triples(s, outputs) for s in struct]
    if isinstance(struct, dict):
        return {k: _resolve_triples(v, outputs) for k, v in struct.items()}
    return struct


def _weights_dict(model) -> dict:
    out = {}
    for i, w in enumerate(model.weights):
        out[f"{i:05d}"] = np.ascontiguousarray(w.numpy())
    return out


def _atomic_write(path: str, tensors: dict, metadata: dict) -> None:
    from safetensors.numpy import save_file

    d = os.path.dirname(os.path.abspath(path)) or "."
    fd, tmp = tempfile.mkstemp(prefix=".nerve-", dir=d)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model, filepath, overwrite: bool = True, include_optimizer: bool = True) -> None:
    filepath = str(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(filepath)
    meta = {"format": FORMAT, "version": "1", "config": json.dumps(model.get_config()),
            "shapes": json.dumps([list(w.shape) for w in model.weights])}
    if model.compiled:
        from . import losses as Ls
        from . import optimizers as O

        comp = {"optimizer": O.serialize(model.optimizer)}
        loss = model._loss_spec
        comp["loss"] = loss if isinstance(loss, (str, list, dict)) else Ls.loss_name(loss)
        comp["metrics"] = [m for m in (model._metric_spec or []) if isinstance(m, str)]
        meta["compile"] = json.dumps(comp)
    _atomic_write(filepath, _weights_dict(model), meta)


def _read(filepath):
    from safetensors import safe_open

    filepath = str(filepath)
    try:
        with safe_open(filepath, framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise
    except Exception as e:
        raise ValueError(f"{filepath}: not a readable nerve model file (safetensors expected): "
                         f"{e}") from None
    return meta, arrays


def load_model(filepath, custom_objects=None, compile: bool = True):
    meta, arrays = _read(filepath)
    if meta.get("format") != FORMAT or "config" not in meta:
        raise ValueError(f"{filepath}: not a nerve Keras model file (no architecture inside); "
                         f"for weights only use model.load_weights")
    model = model_from_config(json.loads(meta["config"]), custom_objects)
    _assign(model, arrays, filepath)
    if compile and "compile" in meta:
        from . import optimizers as O

        comp = json.loads(meta["compile"])
        model.compile(optimizer=O.get(comp["optimizer"]), loss=comp["loss"],
                      metrics=comp.get("metrics") or None)
    return model


def _assign(model, arrays: dict, filepath) -> None:
    ws = model.weights
    keys = sorted(arrays)
    if len(keys) != len(ws):
        raise ValueError(f"{filepath}: holds {len(keys)} weight arrays but the model has "
                         f"{len(ws)}")
    for k, w in zip(keys, ws):
        a = arrays[k]
        if tuple(a.shape) != tuple(w.shape):
            raise ValueError(f"{filepath}: weight {k} has shape {a.shape}, the model's is "
                             f"{tuple(w.shape)}")
        w.data[...] = a.astype(w.data.dtype)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    meta = {"format": FORMAT + "-weights", "version": "1"}
    _atomic_write(str(filepath), _weights_dict(model), meta)


def load_weights(model, filepath) -> None:
    _meta, arrays = _read(filepath)
    _assign(model, arrays, filepath)
