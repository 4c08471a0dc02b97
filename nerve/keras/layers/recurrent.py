"""Keras recurrent layers: SimpleRNN, LSTM, GRU, Bidirectional (Keras weight layouts).

Weights: ``kernel`` (input_dim, G·units), ``recurrent_kernel`` (units, G·units) and
``bias``, gates in Keras' order (LSTM i, f, c, o; GRU z, r, h with ``reset_after``).
The input projection of all time steps is one matrix product; each step then costs one
product with the recurrent kernel. Any activation works (e.g. ``LSTM(50,
activation='relu')``); masks from ``Embedding(mask_zero=True)`` keep the state (and
repeat the previous output) at padded steps.
"""
from __future__ import annotations

import numpy as np

from ... import ops
from ...ops.rnn import recurrent_layer
from ...tensor import Tensor
from .. import activations as A
from .. import initializers as I
from .. import regularizers as R
from ..engine import Layer


class _RNN(Layer):
    gates = 1

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid",
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, dropout: float = 0.0, recurrent_dropout: float = 0.0,
                 return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 **kwargs) -> None:
        for k in ("kernel_constraint", "recurrent_constraint", "bias_constraint",
                  "unit_forget_bias", "reset_after", "time_major", "implementation", "seed"):
            kwargs.pop(k, None)
        super().__init__(activity_regularizer=R.get(activity_regularizer), **kwargs)
        self.units = int(units)
        self.activation = A.get(activation)
        self.recurrent_activation = A.get(recurrent_activation)
        self.use_bias = use_bias
        self.inits = (I.get(kernel_initializer), I.get(recurrent_initializer),
                      I.get(bias_initializer))
        self.regs = (R.get(kernel_regularizer), R.get(recurrent_regularizer),
                     R.get(bias_regularizer))
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.return_sequences, self.return_state = return_sequences, return_state
        self.go_backwards = go_backwards
        self.supports_masking = True

    def build(self, input_shape) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects inputs of "
                             f"shape (batch, timesteps, features), got {tuple(input_shape)}")
        self.input_dim = int(input_shape[-1])
        g = self.gates * self.units
        self.add_weight("kernel", (self.input_dim, g), self.inits[0], self.regs[0])
        self.add_weight("recurrent_kernel", (self.units, g), self.inits[1], self.regs[1])
        if self.use_bias:
            self.add_weight("bias", self._bias_shape(), self._bias_init(), self.regs[2])
        self.built = True

    def _bias_shape(self) -> tuple:
        return (self.gates * self.units,)

    def _bias_init(self):
        return self.inits[2]

    def call(self, inputs, mask=None, training=None, initial_state=None):
        x = inputs
        if x.ndim != 3 or x.shape[-1] != self.input_dim:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects inputs of "
                             f"shape (batch, timesteps, {self.input_dim}), got "
                             f"{tuple(x.shape)}")
        if training and self.dropout:
            x = ops.dropout(x, self.dropout, True)
        fused = self._fused(x, mask, initial_state)
        if fused is not None:
            return fused
        b, t = x.shape[0], x.shape[1]
        proj = ops.matmul(x, self.kernel)  # all time steps in one product
        if self.use_bias:
            proj = proj + self._input_bias()
        states = self._initial_states(b, x, initial_state)
        m = None if mask is None else (mask.data if isinstance(mask, Tensor) else mask)
        steps = range(t - 1, -1, -1) if self.go_backwards else range(t)
        outputs = []
        out = states[0]
        for s in steps:
            new_out, new_states = self.step(proj[:, s], states)
            if m is not None:
                keep = Tensor._wrap(m[:, s:s + 1])
                new_out = ops.where(keep, new_out, out)
                new_states = [ops.where(keep, n, o) for n, o in zip(new_states, states)]
            out, states = new_out, new_states
            if self.return_sequences:
                outputs.append(out)
        result = ops.stack(outputs, 1) if self.return_sequences else out
        if self.return_state:
            return [result] + list(states)
        return result

    def compute_mask(self, inputs, mask=None):
        if self.return_sequences and mask is not None:
            return mask
        return None

    # --- the fused kernel (nerve.ops.rnn) for the standard activations -------------------
    fused_mode = None  # set by subclasses whose activations the fused kernel implements

    def _torch_weights(self):  # pragma: no cover - per subclass
        raise NotImplementedError

    def _fused(self, x, mask, initial_state):
        mode = self.fused_mode
        if mode is None or initial_state is not None:
            return None
        lengths = None
        if mask is not None:
            m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
            lengths = m.sum(1)
            prefix = np.arange(m.shape[1])[None, :] < lengths[:, None]
            if not np.array_equal(m, prefix) or lengths.min() < 1:
                return None  # not right-padded: the step-by-step path handles it
        if self.go_backwards:
            if lengths is not None:
                return None
            x = x.flip(1)
        outs = recurrent_layer(mode, x, None, None, self._torch_weights(), batch_first=True,
                               lengths=lengths)
        seq, finals = outs[0], [f[0] for f in outs[1:]]
        if self.return_sequences:
            result = seq
        elif lengths is None:
            result = finals[0]
        else:
            result = finals[0]
        if self.return_state:
            return [result] + finals
        return result

    def _initial_states(self, b, x, initial_state):
        if initial_state is not None:
            return list(initial_state) if isinstance(initial_state, (list, tuple)) else \
                [initial_state]
        z = Tensor._wrap(x.xp.zeros((b, self.units), dtype=x.data.dtype))
        return [z] * self.n_states

    n_states = 1

    def _input_bias(self):
        return self.bias

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "activation": A.serialize(self.activation),
                "recurrent_activation": A.serialize(self.recurrent_activation),
                "use_bias": self.use_bias, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards}


class SimpleRNN(_RNN):
    """hₜ = activation(xₜ W + hₜ₋₁ U + b)."""

    def __init__(self, units, activation="tanh", **kwargs) -> None:
        super().__init__(units, activation=activation, **kwargs)
        name = getattr(self.activation, "__name__", "")
        self.fused_mode = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}.get(name)

    def _torch_weights(self):
        b = self.bias if self.use_bias else None
        return [self.kernel.t(), self.recurrent_kernel.t(), b, _zeros_like(b)]

    def step(self, xp, states):
        h = self.activation(xp + ops.matmul(states[0], self.recurrent_kernel))
        return h, [h]


class LSTM(_RNN):
    """i, f, o = σ(·); c̃ = act(·); c = f⊙c + i⊙c̃; h = o⊙act(c) (gates i, f, c, o)."""

    gates = 4
    n_states = 2

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 unit_forget_bias: bool = True, **kwargs) -> None:
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         **kwargs)
        self.unit_forget_bias = unit_forget_bias
        if _names(self) == ("tanh", "sigmoid"):
            self.fused_mode = "LSTM"

    def _torch_weights(self):
        b = self.bias if self.use_bias else None
        return [self.kernel.t(), self.recurrent_kernel.t(), b, _zeros_like(b)]

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.inits[2]
        u, base = self.units, self.inits[2]

        def init(shape, dtype):
            b = base(shape, dtype)
            b[u:2 * u] = 1.0
            return b

        return init

    def step(self, xp, states):
        h, c = states
        z = xp + ops.matmul(h, self.recurrent_kernel)
        u = self.units
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u:2 * u])
        g = self.activation(z[:, 2 * u:3 * u])
        o = self.recurrent_activation(z[:, 3 * u:])
        c = f * c + i * g
        h = o * self.activation(c)
        return h, [h, c]


class GRU(_RNN):
    """z, r = σ(·); h̃ = act(xW_h + b_h + r⊙(hU_h + b'_h)); h = z⊙h + (1-z)⊙h̃ (reset_after)."""

    gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid",
                 reset_after: bool = True, **kwargs) -> None:
        if not reset_after:
            raise NotImplementedError("GRU(reset_after=False) is not supported; Keras' default "
                                      "(reset_after=True) is")
        super().__init__(units, activation=activation, recurrent_activation=recurrent_activation,
                         **kwargs)
        if _names(self) == ("tanh", "sigmoid"):
            self.fused_mode = "GRU"

    def _torch_weights(self):
        # Keras gates (z, r, h) -> PyTorch's (r, z, n); same candidate formula (reset_after)
        u = self.units

        def reorder(w):
            return ops.cat([w[..., u:2 * u], w[..., :u], w[..., 2 * u:]], -1)

        bi = reorder(self.bias[0]) if self.use_bias else None
        bh = reorder(self.bias[1]) if self.use_bias else None
        return [reorder(self.kernel).t(), reorder(self.recurrent_kernel).t(), bi, bh]

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units)

    def _input_bias(self):
        return self.bias[0]

    def step(self, xp, states):
        h = states[0]
        u = self.units
        hr = ops.matmul(h, self.recurrent_kernel)
        if self.use_bias:
            hr = hr + self.bias[1]
        z = self.recurrent_activation(xp[:, :u] + hr[:, :u])
        r = self.recurrent_activation(xp[:, u:2 * u] + hr[:, u:2 * u])
        hh = self.activation(xp[:, 2 * u:] + r * hr[:, 2 * u:])
        h = z * h + (1.0 - z) * hh
        return h, [h]


def _names(layer) -> tuple:
    return (getattr(layer.activation, "__name__", ""),
            getattr(layer.recurrent_activation, "__name__", ""))


def _zeros_like(b):
    return None if b is None else Tensor._wrap(b.xp.zeros(b.data.shape, dtype=b.data.dtype))


class Bidirectional(Layer):
    """Run ``layer`` forwards and a copy backwards; merge outputs ('concat', 'sum', ...)."""

    def __init__(self, layer: _RNN, merge_mode: str = "concat", backward_layer=None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.forward_layer = layer
        if backward_layer is None:
            cfg = layer.get_config()
            cfg["name"] = "backward_" + layer.name
            cfg["go_backwards"] = not layer.go_backwards
            cfg.pop("batch_input_shape", None)
            from ..saving import _deserialize_config

            backward_layer = type(layer)(**_deserialize_config(cfg))
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True

    def call(self, inputs, mask=None, training=None):
        kw = {"mask": mask} if mask is not None else {}
        f = self.forward_layer(inputs, training=training, **kw)
        b = self.backward_layer(inputs, training=training, **kw)
        fs, bs = ([], [])
        if self.return_state:
            f, fs = f[0], f[1:]
            b, bs = b[0], b[1:]
        if self.return_sequences:
            b = b.flip(1)
        out = {"concat": lambda: ops.cat([f, b], -1), "sum": lambda: f + b,
               "mul": lambda: f * b, "ave": lambda: (f + b) * 0.5,
               None: lambda: [f, b]}[self.merge_mode]()
        if self.return_state:
            return ([out] if not isinstance(out, list) else out) + list(fs) + list(bs)
        return out

    def compute_mask(self, inputs, mask=None):
        return mask if self.return_sequences else None

    def get_config(self) -> dict:
        from ..saving import _layer_entry

        return {**super().get_config(), "layer": _layer_entry(self.forward_layer),
                "merge_mode": self.merge_mode}
