"""Core Keras layers: Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector,
ReLU, LeakyReLU, Softmax, Embedding, Lambda, and noise/dropout variants."""
from __future__ import annotations

import numpy as np

from ... import ops
from ...random import _rng
from ...tensor import Tensor
from .. import activations as A
from .. import constraints as C
from .. import initializers as I
from .. import regularizers as R
from ..engine import Layer


def _check_last_dim(layer, x, expected: int) -> None:
    if x.ndim < 2 or x.shape[-1] != expected:
        raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) expects inputs with last "
                         f"dimension {expected}, got shape {tuple(x.shape)}")


class Dense(Layer):
    """output = activation(inputs @ kernel + bias); kernel has shape (input_dim, units)."""

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs) -> None:
        super().__init__(activity_regularizer=R.get(activity_regularizer), **kwargs)
        if int(units) <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units}")
        self.units = int(units)
        self.activation = A.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer, self.bias_initializer = I.get(kernel_initializer), \
            I.get(bias_initializer)
        self.kernel_regularizer, self.bias_regularizer = R.get(kernel_regularizer), \
            R.get(bias_regularizer)
        self.kernel_constraint, self.bias_constraint = C.get(kernel_constraint), \
            C.get(bias_constraint)

    def build(self, input_shape) -> None:
        if len(input_shape) < 2:
            raise ValueError(f"layer {self.name!r} (Dense) needs inputs of rank >= 2 (batch, "
                             f"features), got shape {tuple(input_shape)}")
        self.input_dim = int(input_shape[-1])
        self.add_weight("kernel", (self.input_dim, self.units), self.kernel_initializer,
                        self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight("bias", (self.units,), self.bias_initializer, self.bias_regularizer,
                            constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs):
        _check_last_dim(self, inputs, self.input_dim)
        x = inputs if inputs.data.dtype == self.kernel.data.dtype else \
            inputs.to(self.kernel.data.dtype)
        out = ops.matmul(x, self.kernel)
        if self.use_bias:
            out = out + self.bias
        return self.activation(out)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units,
                "activation": A.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": I.serialize(self.kernel_initializer),
                "bias_initializer": I.serialize(self.bias_initializer),
                "kernel_regularizer": R.serialize(self.kernel_regularizer),
                "bias_regularizer": R.serialize(self.bias_regularizer),
                "kernel_constraint": C.serialize(self.kernel_constraint),
                "bias_constraint": C.serialize(self.bias_constraint)}


class Activation(Layer):
    def __init__(self, activation, **kwargs) -> None:
        super().__init__(**kwargs)
        self.activation = A.get(activation)
        self.supports_masking = True

    def call(self, inputs):
        return self.activation(inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": A.serialize(self.activation)}


class ReLU(Layer):
    def __init__(self, max_value=None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def call(self, inputs):
        return A.relu(inputs, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """max(x, αx); ``alpha`` (Keras 2) and ``negative_slope`` (Keras 3, default 0.3) both work."""

    def __init__(self, negative_slope: float | None = None, alpha: float | None = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.negative_slope = float(negative_slope if negative_slope is not None else
                                    alpha if alpha is not None else 0.3)

    def call(self, inputs):
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    def __init__(self, alpha: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.alpha = alpha

    def call(self, inputs):
        return ops.elu(inputs, self.alpha)


class Softmax(Layer):
    def __init__(self, axis: int = -1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = inputs.masked_fill(~mask.bool(), -1e9)
        return A.softmax(inputs, self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Dropout(Layer):
    """Zero a fraction ``rate`` of inputs in training (scaling the rest by 1/(1-rate))."""

    def __init__(self, rate: float, noise_shape=None, seed=None, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(f"Dropout: rate must be in [0, 1], got {rate}")
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.supports_masking = True

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        if self.noise_shape is None:
            return ops.dropout(inputs, self.rate, True)
        shape = tuple(s if n is None else n for s, n in zip(inputs.shape, self.noise_shape))
        keep = (_rng().random(shape, dtype=np.float32) >= self.rate) / np.float32(1 - self.rate)
        return inputs * Tensor._wrap(keep.astype(inputs.data.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape}


class SpatialDropout1D(Dropout):
    """Drop whole channels of (batch, steps, channels) inputs."""

    def call(self, inputs, training=None):
        self.noise_shape = (None, 1, None)
        return super().call(inputs, training)


class SpatialDropout2D(Dropout):
    """Drop whole channels of (batch, rows, cols, channels) inputs."""

    def call(self, inputs, training=None):
        self.noise_shape = (None, 1, 1, None)
        return super().call(inputs, training)


class GaussianNoise(Layer):
    """Add N(0, stddev²) noise in training only."""

    def __init__(self, stddev: float, seed=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.stddev = float(stddev)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        noise = _rng().standard_normal(tuple(inputs.shape), dtype=np.float32) * self.stddev
        return inputs + Tensor._wrap(noise.astype(inputs.data.dtype))

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(Layer):
    def __init__(self, rate: float, seed=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = float(rate)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        std = (self.rate / (1 - self.rate)) ** 0.5
        noise = 1 + _rng().standard_normal(tuple(inputs.shape), dtype=np.float32) * std
        return inputs * Tensor._wrap(noise.astype(inputs.data.dtype))


class Flatten(Layer):
    def __init__(self, data_format=None, **kwargs) -> None:
        super().__init__(**kwargs)

    def call(self, inputs):
        return inputs.reshape(inputs.shape[0], -1)


class Reshape(Layer):
    def __init__(self, target_shape, **kwargs) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)

    def call(self, inputs):
        n = int(np.prod(inputs.shape[1:]))
        known = int(np.prod([s for s in self.target_shape if s != -1]))
        if (-1 not in self.target_shape and known != n) or (known and n % known):
            raise ValueError(f"layer {self.name!r} (Reshape): can't reshape inputs of shape "
                             f"{tuple(inputs.shape)} ({n} values per sample) to "
                             f"{self.target_shape}")
        return inputs.reshape((inputs.shape[0],) + self.target_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    def __init__(self, dims, **kwargs) -> None:
        super().__init__(**kwargs)
        self.dims = tuple(dims)

    def call(self, inputs):
        return inputs.permute((0,) + self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": list(self.dims)}


class RepeatVector(Layer):
    def __init__(self, n: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.n = int(n)

    def call(self, inputs):
        if inputs.ndim != 2:
            raise ValueError(f"layer {self.name!r} (RepeatVector) expects (batch, features), got "
                             f"shape {tuple(inputs.shape)}")
        return inputs.unsqueeze(1).expand(inputs.shape[0], self.n, inputs.shape[1])

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class Lambda(Layer):
    """Wrap a Python function as a layer (not saveable to a file: code is never loaded)."""

    def __init__(self, function, output_shape=None, arguments=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.function, self.arguments = function, arguments or {}

    def call(self, inputs):
        return self.function(inputs, **self.arguments)

    def get_config(self) -> dict:
        raise ValueError(f"layer {self.name!r} (Lambda) holds Python code and can't be saved; "
                         "nerve never loads code from files")


class Embedding(Layer):
    """Rows of an (input_dim, output_dim) table looked up by integer ids."""

    autocast = False

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero: bool = False,
                 **kwargs) -> None:
        kwargs.pop("input_length", None)
        super().__init__(**kwargs)
        self.input_dim, self.output_dim = int(input_dim), int(output_dim)
        init = embeddings_initializer
        self.embeddings_initializer = I.RandomUniform() if init == "uniform" else I.get(init)
        self.embeddings_regularizer = R.get(embeddings_regularizer)
        self.embeddings_constraint = C.get(embeddings_constraint)
        self.mask_zero = mask_zero

    def build(self, input_shape) -> None:
        self.add_weight("embeddings", (self.input_dim, self.output_dim),
                        self.embeddings_initializer, self.embeddings_regularizer,
                        constraint=self.embeddings_constraint)
        self.built = True

    def call(self, inputs):
        ids = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        if ids.dtype.kind == "f":
            ids = ids.astype(np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
            bad = int(ids.max() if ids.max() >= self.input_dim else ids.min())
            raise IndexError(f"layer {self.name!r} (Embedding): token id {bad} is out of range "
                             f"for a table of {self.input_dim} rows (input_dim={self.input_dim})")
        return self.embeddings[ids]

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        ids = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return Tensor._wrap(ids != 0)

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                "embeddings_initializer": I.serialize(self.embeddings_initializer)}
