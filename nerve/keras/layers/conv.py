"""Keras convolution and pooling layers (channels-last by default) on nerve's conv kernels.

Keras kernels are stored in Keras' layout — Conv: (k..., in/groups, filters);
Conv2DTranspose: (kh, kw, filters, in) — and viewed as PyTorch's (out, in, k...) layout
for the shared kernel, so one implementation serves both APIs.
"""
from __future__ import annotations

import math

from ...ops import conv as C
from ...ops import pool as P
from .. import activations as A
from .. import constraints as Cn
from .. import initializers as I
from .. import regularizers as R
from ..engine import Layer


def _tuple(v, n: int) -> tuple:
    return (int(v),) * n if isinstance(v, int) else tuple(int(x) for x in v)


def _fmt(data_format) -> str:
    return "channels_last" if data_format in (None, "channels_last") else "channels_first"


class _Conv(Layer):
    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid",
                 data_format=None, dilation_rate=1, groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs) -> None:
        super().__init__(activity_regularizer=R.get(activity_regularizer), **kwargs)
        n = self.rank
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, n)
        self.strides = _tuple(strides, n)
        self.padding = padding.lower()
        if self.padding not in ("valid", "same", "causal"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', got "
                             f"{padding!r}")
        self.data_format = _fmt(data_format)
        self.dilation_rate = _tuple(dilation_rate, n)
        self.groups = int(groups)
        self.activation = A.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = I.get(kernel_initializer), \
            I.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = R.get(kernel_regularizer), \
            R.get(bias_regularizer)
        self.kernel_constraint, self.bias_constraint = Cn.get(kernel_constraint), \
            Cn.get(bias_constraint)

    def _channels(self, input_shape) -> int:
        return int(input_shape[-1] if self.data_format == "channels_last" else input_shape[1])

    def build(self, input_shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects "
                             f"{self.rank + 2}-D inputs (batch, {'spatial, ' * self.rank}"
                             f"channels), got shape {tuple(input_shape)}")
        self.in_channels = self._channels(input_shape)
        if self.in_channels % self.groups:
            raise ValueError(f"layer {self.name!r}: input channels {self.in_channels} are not "
                             f"divisible by groups={self.groups}")
        self.add_weight("kernel", self.kernel_size + (self.in_channels // self.groups,
                                                      self.filters),
                        self.kernel_initializer, self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer,
                            self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def _torch_weight(self):
        n = self.rank
        return self.kernel.permute((n + 1, n) + tuple(range(n)))

    def call(self, inputs):
        if inputs.ndim != self.rank + 2 or self._channels(inputs.shape) != self.in_channels:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects inputs with "
                             f"{self.in_channels} channels ({self.data_format}), got shape "
                             f"{tuple(inputs.shape)}")
        x = inputs
        pad = self.padding
        if pad == "causal":
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            pad = [(left, 0)]
        fn = C.conv2d if self.rank == 2 else C.conv1d
        out = fn(x, self._torch_weight(), self.bias if self.use_bias else None, self.strides,
                 pad, self.dilation_rate, self.groups, data_format=self.data_format)
        return self.activation(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups,
                "activation": A.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": I.serialize(self.kernel_initializer),
                "bias_initializer": I.serialize(self.bias_initializer),
                "kernel_regularizer": R.serialize(self.kernel_regularizer),
                "bias_regularizer": R.serialize(self.bias_regularizer)}


class Conv2D(_Conv):
    """2-D convolution: (batch, rows, cols, channels) -> (batch, rows', cols', filters)."""

    rank = 2


class Conv1D(_Conv):
    """1-D convolution over (batch, steps, channels); padding may also be 'causal'."""

    rank = 1


class Conv2DTranspose(_Conv):
    """Transposed 2-D convolution; 'same' gives rows·stride outputs, 'valid' (rows-1)·s + k."""

    rank = 2

    def build(self, input_shape) -> None:
        if len(input_shape) != 4:
            raise ValueError(f"layer {self.name!r} (Conv2DTranspose) expects 4-D inputs, got "
                             f"shape {tuple(input_shape)}")
        self.in_channels = self._channels(input_shape)
        self.add_weight("kernel", self.kernel_size + (self.filters, self.in_channels),
                        self.kernel_initializer, self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.filters,), self.bias_initializer,
                            self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        if inputs.ndim != 4 or self._channels(inputs.shape) != self.in_channels:
            raise ValueError(f"layer {self.name!r} (Conv2DTranspose) expects inputs with "
                             f"{self.in_channels} channels, got shape {tuple(inputs.shape)}")
        w = self.kernel.permute(3, 2, 0, 1)  # (in, out, kh, kw): PyTorch's layout
        pads, extra = [], []
        for k, s, d in zip(self.kernel_size, self.strides, self.dilation_rate):
            ek = d * (k - 1) + 1
            if self.padding == "valid":
                pads.append(0)
                extra.append(max(s - ek, 0))
            else:  # out = in·s: crop (ek - s) in total, the odd one at the end (TensorFlow)
                total = ek - s
                if total >= 0:
                    pads.append(math.ceil(total / 2))
                    extra.append(total % 2)
                else:
                    pads.append(0)
                    extra.append(-total)
        out = C.conv_transpose2d(inputs, w, self.bias if self.use_bias else None, self.strides,
                                 tuple(pads), tuple(extra), 1, self.dilation_rate,
                                 data_format=self.data_format)
        return self.activation(out)


class _Pool(Layer):
    rank = 2
    kind = "max"

    def __init__(self, pool_size=2, strides=None, padding: str = "valid", data_format=None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        n = self.rank
        self.pool_size = _tuple(pool_size, n)
        self.strides = _tuple(strides, n) if strides is not None else self.pool_size
        self.padding = padding.lower()
        self.data_format = _fmt(data_format)

    def call(self, inputs):
        if inputs.ndim != self.rank + 2:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects "
                             f"{self.rank + 2}-D inputs, got shape {tuple(inputs.shape)}")
        ceil = self.padding == "same"
        if self.kind == "max":
            fn = P.max_pool2d if self.rank == 2 else P.max_pool1d
            return fn(inputs, self.pool_size, self.strides, 0, ceil_mode=ceil,
                      data_format=self.data_format)
        fn = P.avg_pool2d if self.rank == 2 else P.avg_pool1d
        return fn(inputs, self.pool_size, self.strides, 0, ceil_mode=ceil,
                  count_include_pad=False, data_format=self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size),
                "strides": list(self.strides), "padding": self.padding,
                "data_format": self.data_format}


class MaxPooling2D(_Pool):
    rank, kind = 2, "max"


class MaxPooling1D(_Pool):
    rank, kind = 1, "max"


class AveragePooling2D(_Pool):
    rank, kind = 2, "avg"


class AveragePooling1D(_Pool):
    rank, kind = 1, "avg"


MaxPool2D, MaxPool1D = MaxPooling2D, MaxPooling1D
AvgPool2D, AvgPool1D = AveragePooling2D, AveragePooling1D
Convolution2D, Convolution1D = Conv2D, Conv1D

__all__ = ["Conv1D", "Conv2D", "Conv2DTranspose", "MaxPooling1D", "MaxPooling2D",
           "AveragePooling1D", "AveragePooling2D", "MaxPool1D", "MaxPool2D", "AvgPool1D",
           "AvgPool2D", "Convolution1D", "Convolution2D"]
