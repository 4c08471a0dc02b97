"""Recurrent layers: RNN, LSTM, GRU (whole sequences) and RNNCell, LSTMCell, GRUCell (one step).

Each layer runs the fused kernels of ``nerve.ops.rnn`` (one GEMM for the inputs of all
time steps or one per step, back-propagation through time by hand). Weight names, shapes,
gate order and initialisation are PyTorch's, so ``state_dict``s load either way::

    weight_ih_l{k}{_reverse}: (G·H, I or D·H)   weight_hh_l{k}{_reverse}: (G·H, H)
    bias_ih_l{k}{_reverse}:   (G·H,)            bias_hh_l{k}{_reverse}:   (G·H,)

with G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n), all drawn from
U(-1/√H, 1/√H).

Example::

    >>> lstm = nn.LSTM(input_size=10, hidden_size=20, num_layers=2, batch_first=True)
    >>> out, (h_n, c_n) = lstm(nerve.randn(3, 5, 10))      # out: (3, 5, 20)
"""
from __future__ import annotations

import math

import numpy as np

from .. import _backend as B
from ..ops.nn import dropout as _dropout
from ..ops.rnn import GATES, recurrent_layer
from ..ops.shape import cat, index_select, squeeze, unsqueeze
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter
from .utils.rnn import PackedSequence, _put_rows, _rows

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

W = Tensor._wrap


def _empty(shape, device, dtype):
    xp = B.get_xp(device if device is not None else "cpu")
    return xp.empty(shape, dtype=B.as_np_dtype(dtype))


def _check_dtype(name, x, w):
    if x.data.dtype != w.data.dtype:
        raise TypeError(f"{name}: input dtype {x.dtype} does not match the weights' dtype "
                        f"{w.dtype} (convert one: x.float() / module.double())")


class RNNBase(Module):
    """Common machinery of RNN, LSTM and GRU (parameters, checks, layers, packing)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__()
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError(f"{mode}: hidden_size must be a positive int, got {hidden_size!r}")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(f"{mode}: num_layers must be a positive int, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{mode}: dropout must be a number in [0, 1] (the probability of "
                             f"zeroing an element between layers), got {dropout!r}")
        if proj_size:
            raise NotImplementedError(f"{mode}: proj_size is not supported")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        D = 2 if bidirectional else 1
        G = GATES[mode] * hidden_size
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                lin = input_size if layer == 0 else hidden_size * D
                names = [("weight_ih" + sfx, (G, lin)), ("weight_hh" + sfx, (G, hidden_size))]
                if bias:
                    names += [("bias_ih" + sfx, (G,)), ("bias_hh" + sfx, (G,))]
                for n, shape in names:
                    setattr(self, n, Parameter(_empty(shape, device, dtype)))
                    self._flat_weights_names.append(n)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -k, k)

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list:
        """Per layer and direction, [weight_ih, weight_hh(, bias_ih, bias_hh)]."""
        k = 4 if self.bias else 2
        w = self._flat_weights
        return [w[i:i + k] for i in range(0, len(w), k)]

    def flatten_parameters(self) -> None:
        """No-op (PyTorch compacts cuDNN weights here); kept for compatibility."""

    def _layer_weights(self, layer: int) -> list:
        D = 2 if self.bidirectional else 1
        out = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            out += [getattr(self, "weight_ih" + sfx), getattr(self, "weight_hh" + sfx)]
            if self.bias:
                out += [getattr(self, "bias_ih" + sfx), getattr(self, "bias_hh" + sfx)]
            else:
                out += [None, None]
        return out

    # --- checks -----------------------------------------------------------------------
    def _name(self) -> str:
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size})")

    def _check_input(self, x: Tensor, batched_ndim: int = 3) -> None:
        if x.ndim not in (2, 3):
            layout = "(batch, seq, feature)" if self.batch_first else "(seq, batch, feature)"
            raise ValueError(f"{self._name()}: expected input of 3 dims {layout} or 2 dims "
                             f"(seq, feature) for an unbatched sequence, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: expected input with feature size (last dim) "
                             f"{self.input_size}, got input of shape {tuple(x.shape)}")
        if x.data.dtype.kind != "f":
            raise TypeError(f"{self._name()}: input must be floating point, got {x.dtype} "
                            f"(token ids go through an nn.Embedding first)")
        _check_dtype(self._name(), x, self.weight_ih_l0)

    def _check_hidden(self, h: Tensor, batch: int, what: str) -> None:
        D = 2 if self.bidirectional else 1
        want = (self.num_layers * D, batch, self.hidden_size)
        if tuple(h.shape) != want:
            raise ValueError(f"{self._name()}: expected {what} of shape {want} "
                             f"(num_layers * num_directions, batch, hidden_size), got "
                             f"{tuple(h.shape)}")
        _check_dtype(self._name(), h, self.weight_ih_l0)

    # --- the stack of layers ----------------------------------------------------------
    def _run(self, x: Tensor, states, batch_first: bool, lengths):
        """Run every layer; ``states`` is (h0,) or (h0, c0), entries may be None."""
        D = 2 if self.bidirectional else 1
        lstm = self.mode == "LSTM"
        finals = [[] for _ in states]
        p = self.dropout if self.training else 0.0
        for layer in range(self.num_layers):
            sl = slice(layer * D, (layer + 1) * D)
            st = [None if s is None else s[sl] for s in states]
            h0 = st[0]
            c0 = st[1] if lstm else None
            outs = recurrent_layer(self.mode, x, h0, c0, self._layer_weights(layer),
                                   batch_first=batch_first, lengths=lengths)
            x = outs[0]
            for acc, o in zip(finals, outs[1:]):
                acc.append(o)
            if p > 0 and layer < self.num_layers - 1:
                x = _dropout(x, p, True)
        finals = [f[0] if len(f) == 1 else cat(f, 0) for f in finals]
        return x, finals

    def forward(self, input, hx=None):  # noqa: A002
        lstm = self.mode == "LSTM"
        if isinstance(input, PackedSequence):
            return self._forward_packed(input, hx)
        x = input
        self._check_input(x)
        unbatched = x.ndim == 2
        if unbatched:
            x = unsqueeze(x, 1)
        Bn = x.shape[0] if self.batch_first and not unbatched else x.shape[1]
        states = self._states(hx, Bn, unbatched)
        bf = self.batch_first and not unbatched
        y, finals = self._run(x, states, bf, None)
        if unbatched:
            y = squeeze(y, 1)
            finals = [squeeze(f, 1) for f in finals]
        if lstm:
            return y, (finals[0], finals[1])
        return y, finals[0]

    def _states(self, hx, Bn: int, unbatched: bool):
        lstm = self.mode == "LSTM"
        if hx is None:
            return (None, None) if lstm else (None,)
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{self._name()}: hx must be a tuple (h_0, c_0) for an LSTM")
            hs = tuple(hx)
        else:
            if isinstance(hx, (tuple, list)):
                raise TypeError(f"{self._name()}: hx must be a tensor h_0, not a "
                                f"{type(hx).__name__}")
            hs = (hx,)
        out = []
        for h, what in zip(hs, ("h_0", "c_0")):
            if unbatched:
                if h.ndim != 2:
                    raise ValueError(f"{self._name()}: for an unbatched (2-D) input, {what} must "
                                     f"be 2-D (num_layers * num_directions, hidden_size), got "
                                     f"shape {tuple(h.shape)}")
                h = unsqueeze(h, 1)
            self._check_hidden(h, Bn, what)
            out.append(h)
        return tuple(out)

    def _forward_packed(self, packed: PackedSequence, hx):
        data = packed.data
        if data.ndim != 2 or data.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: expected PackedSequence data of shape (N, "
                             f"{self.input_size}), got {tuple(data.shape)}")
        _check_dtype(self._name(), data, self.weight_ih_l0)
        lens = packed._lengths_sorted()
        T, Bn = int(packed.batch_sizes.data.size), int(lens.size)
        states = self._states(hx, Bn, False)
        if packed.sorted_indices is not None:  # hidden states follow the sorted batch
            states = tuple(None if s is None else index_select(s, 1, packed.sorted_indices)
                           for s in states)
        # packed rows -> padded (T, B, I) in sorted order, run, and pack the outputs back
        bs = packed.batch_sizes.data
        idx = np.repeat(np.arange(T), bs) * Bn + np.concatenate([np.arange(b) for b in bs])
        x = _put_rows(data, idx, T * Bn).reshape(T, Bn, self.input_size)
        y, finals = self._run(x, states, False, lens)
        out = _rows(y, idx, 2)
        if packed.unsorted_indices is not None:
            finals = [index_select(f, 1, packed.unsorted_indices) for f in finals]
        out = packed._replace(data=out)
        if self.mode == "LSTM":
            return out, (finals[0], finals[1])
        return out, finals[0]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: hₜ = act(Wᵢₕ xₜ + bᵢₕ + Wₕₕ h_{t-1} + bₕₕ), act = tanh or relu.

    Args:
        input_size, hidden_size, num_layers=1, nonlinearity='tanh' (or 'relu'), bias=True,
        batch_first=False, dropout=0 (between layers), bidirectional=False.
    Shape: input (T, B, I) (or (B, T, I), or unbatched (T, I)); h_0 (L·D, B, H).
    Returns: output (T, B, D·H) and h_n (L·D, B, H); a PackedSequence in gives one out.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype)


class LSTM(RNNBase):
    """Long short-term memory over whole sequences (PyTorch's gate order i, f, g, o)::

        i, f, o = σ(Wᵢₕx + bᵢₕ + Wₕₕh + bₕₕ) (their rows)   g = tanh(same, its rows)
        c' = f ⊙ c + i ⊙ g                                  h' = o ⊙ tanh(c')

    Args as :class:`RNN` (no nonlinearity). ``forward(input, (h_0, c_0))`` returns
    ``output, (h_n, c_n)``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None,
                 dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device=device, dtype=dtype)


class GRU(RNNBase):
    """Gated recurrent unit (PyTorch's gate order r, z, n)::

        r = σ(Wᵢᵣx + bᵢᵣ + Wₕᵣh + bₕᵣ)     z = σ(Wᵢ𝓏x + bᵢ𝓏 + Wₕ𝓏h + bₕ𝓏)
        n = tanh(Wᵢₙx + bᵢₙ + r ⊙ (Wₕₙh + bₕₙ))     h' = (1 - z) ⊙ n + z ⊙ h

    Args as :class:`RNN` (no nonlinearity).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)


# --- cells: one time step ----------------------------------------------------------------------

class RNNCellBase(Module):
    """One step of a recurrent layer: weight_ih (G·H, I), weight_hh (G·H, H), biases (G·H,)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        G = GATES[mode] * hidden_size
        self.weight_ih = Parameter(_empty((G, input_size), device, dtype))
        self.weight_hh = Parameter(_empty((G, hidden_size), device, dtype))
        if bias:
            self.bias_ih = Parameter(_empty((G,), device, dtype))
            self.bias_hh = Parameter(_empty((G,), device, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -k, k)

    def _name(self) -> str:
        return (f"{type(self).__name__}(input_size={self.input_size}, "
                f"hidden_size={self.hidden_size})")

    def _prepare(self, x: Tensor, states):
        if x.ndim not in (1, 2):
            raise ValueError(f"{self._name()}: expected input of shape (batch, {self.input_size})"
                             f" or ({self.input_size},), got {tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"{self._name()}: expected input with feature size (last dim) "
                             f"{self.input_size}, got input of shape {tuple(x.shape)}")
        _check_dtype(self._name(), x, self.weight_ih)
        unbatched = x.ndim == 1
        if unbatched:
            x = unsqueeze(x, 0)
        Bn = x.shape[0]
        out = []
        for h, what in states:
            if h is None:
                out.append(None)
                continue
            want = (self.hidden_size,) if unbatched else (Bn, self.hidden_size)
            if tuple(h.shape) != want:
                raise ValueError(f"{self._name()}: expected {what} of shape {want}, got "
                                 f"{tuple(h.shape)}")
            _check_dtype(self._name(), h, self.weight_ih)
            out.append(unsqueeze(h if not unbatched else unsqueeze(h, 0), 0))
        w = [self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh]
        return unsqueeze(x, 0), out, w, unbatched

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s


def _step_out(t: Tensor, unbatched: bool) -> Tensor:
    t = squeeze(t, 0)
    return squeeze(t, 0) if unbatched else t


class RNNCell(RNNCellBase):
    """h' = act(Wᵢₕ x + bᵢₕ + Wₕₕ h + bₕₕ), act = tanh or relu. ``forward(input, hx=None)``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, (h,), w, unb = self._prepare(input, [(hx, "hx")])
        _, hn = recurrent_layer(self.mode, x, h, None, w)
        return _step_out(hn, unb)


class LSTMCell(RNNCellBase):
    """One LSTM step: ``forward(input, (h, c)) -> (h', c')`` (gates i, f, g, o)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx=None):  # noqa: A002
        h, c = (None, None) if hx is None else hx
        x, (h, c), w, unb = self._prepare(input, [(h, "h"), (c, "c")])
        _, hn, cn = recurrent_layer("LSTM", x, h, c, w)
        return _step_out(hn, unb), _step_out(cn, unb)


class GRUCell(RNNCellBase):
    """One GRU step: ``forward(input, hx=None) -> h'`` (gates r, z, n)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__("GRU", input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:  # noqa: A002
        x, (h,), w, unb = self._prepare(input, [(hx, "hx")])
        _, hn = recurrent_layer("GRU", x, h, None, w)
        return _step_out(hn, unb)
