"""``model.summary()``: Keras' table of layers, output shapes and parameter counts."""
from __future__ import annotations


def _shape_str(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape_str(s) for s in shape)
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def _bytes(n: int) -> str:
    b = n * 4
    if b < 1024:
        return f"{b:.2f} B"
    if b < 1024 ** 2:
        return f"{b / 1024:.2f} KB"
    return f"{b / 1024 ** 2:.2f} MB"


def _rows(model) -> list:
    from .models import Sequential

    rows = []
    if isinstance(model, Sequential):
        for layer in model.layers:
            shape = model._out_shapes.get(layer.name)
            rows.append((f"{layer.name} ({type(layer).__name__})",
                         _shape_str(shape) if shape is not None else "?",
                         layer.count_params() if layer.built else 0))
        return rows
    for layer in model.layers:
        try:
            shape = _shape_str(layer.output_tensor.shape if hasattr(layer, "output_tensor")
                               else layer.output_shape)
        except AttributeError:
            shape = "?"
        rows.append((f"{layer.name} ({type(layer).__name__})", shape, layer.count_params()))
    return rows


def print_summary(model, print_fn=None) -> None:
    out = print_fn or print
    rows = _rows(model)
    w0 = max([31] + [len(r[0]) + 2 for r in rows])
    w1, w2 = 24, 15
    out(f'Model: "{model.name}"')
    out("┏" + "━" * w0 + "┳" + "━" * w1 + "┳" + "━" * w2 + "┓")
    out("┃ " + "Layer (type)".ljust(w0 - 1) + "┃ " + "Output Shape".ljust(w1 - 1) + "┃ "
        + "Param #".rjust(w2 - 2) + " ┃")
    out("┡" + "━" * w0 + "╇" + "━" * w1 + "╇" + "━" * w2 + "┩")
    for i, (name, shape, n) in enumerate(rows):
        out("│ " + name.ljust(w0 - 1) + "│ " + shape.ljust(w1 - 1) + "│ "
            + f"{n:,}".rjust(w2 - 2) + " │")
        if i < len(rows) - 1:
            out("├" + "─" * w0 + "┼" + "─" * w1 + "┼" + "─" * w2 + "┤")
    out("└" + "─" * w0 + "┴" + "─" * w1 + "┴" + "─" * w2 + "┘")
    total = model.count_params()
    trainable = sum(int(w.data.size) for w in model.trainable_weights)
    out(f" Total params: {total:,} ({_bytes(total)})")
    out(f" Trainable params: {trainable:,} ({_bytes(trainable)})")
    out(f" Non-trainable params: {total - trainable:,} ({_bytes(total - trainable)})")
