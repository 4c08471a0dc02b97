"""Global pooling, TimeDistributed and image-augmentation layers (channels-last)."""
from __future__ import annotations

import math

import numpy as np

from ...random import _rng
from ...tensor import Tensor
from ..engine import Layer


class _GlobalPool(Layer):
    axes: tuple = ()
    is_max = False

    def __init__(self, data_format=None, keepdims: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data_format = data_format or "channels_last"
        self.keepdims = keepdims

    def call(self, inputs, mask=None):
        want = len(self.axes) + 2
        if inputs.ndim != want:
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) expects {want}-D "
                             f"inputs, got shape {tuple(inputs.shape)}")
        axes = self.axes if self.data_format == "channels_last" else \
            tuple(a + 1 for a in self.axes)
        if self.is_max:
            return inputs.amax(dim=axes, keepdim=self.keepdims)
        if mask is not None and len(self.axes) == 1:
            m = mask.to(inputs.data.dtype).unsqueeze(-1)
            return (inputs * m).sum(1, keepdim=self.keepdims) / m.sum(1, keepdim=self.keepdims)
        return inputs.mean(dim=axes, keepdim=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPool):
    axes = (1,)


class GlobalAveragePooling2D(_GlobalPool):
    axes = (1, 2)


class GlobalMaxPooling1D(_GlobalPool):
    axes = (1,)
    is_max = True


class GlobalMaxPooling2D(_GlobalPool):
    axes = (1, 2)
    is_max = True


GlobalAvgPool1D, GlobalAvgPool2D = GlobalAveragePooling1D, GlobalAveragePooling2D
GlobalMaxPool1D, GlobalMaxPool2D = GlobalMaxPooling1D, GlobalMaxPooling2D


class TimeDistributed(Layer):
    """Apply ``layer`` to every time step: (batch, steps, ...) -> (batch, steps, ...)."""

    def __init__(self, layer: Layer, **kwargs) -> None:
        super().__init__(**kwargs)
        self.layer = layer

    def call(self, inputs, training=None):
        if inputs.ndim < 3:
            raise ValueError(f"layer {self.name!r} (TimeDistributed) expects inputs of rank >= 3 "
                             f"(batch, steps, ...), got shape {tuple(inputs.shape)}")
        b, t = inputs.shape[0], inputs.shape[1]
        flat = inputs.reshape((b * t,) + tuple(inputs.shape[2:]))
        out = self.layer(flat, training=training) if training is not None else self.layer(flat)
        return out.reshape((b, t) + tuple(out.shape[1:]))

    def get_config(self) -> dict:
        from .. import saving

        return {**super().get_config(), "layer": saving._layer_entry(self.layer)}


# --- augmentation (active in training only) ---------------------------------------------

class _Augment(Layer):
    def call(self, inputs, training=None):
        if not training:
            return inputs
        return Tensor._wrap(self.augment(inputs.numpy()).astype(inputs.data.dtype))

    def augment(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class RandomFlip(_Augment):
    """Flip images left-right and/or up-down with probability ½ each (per image)."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed=None, **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip: unknown mode {mode!r}")
        self.mode = mode

    def augment(self, x):
        x = x.copy()
        rng = _rng()
        if "horizontal" in self.mode:
            sel = rng.random(len(x)) < 0.5
            x[sel] = x[sel][:, :, ::-1]
        if "vertical" in self.mode:
            sel = rng.random(len(x)) < 0.5
            x[sel] = x[sel][:, ::-1]
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def _factor_range(f):
    return (-f, f) if np.isscalar(f) else (f[0], f[1])


def _affine_sample(x: np.ndarray, mats: np.ndarray, fill_value: float = 0.0) -> np.ndarray:
    """Bilinear resampling of (N, H, W, C) images by per-image 2x3 output->input maps."""
    n, h, w, c = x.shape
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                         indexing="ij")
    out = np.empty_like(x)
    for i in range(n):
        a = mats[i]
        sx = a[0, 0] * xx + a[0, 1] * yy + a[0, 2]
        sy = a[1, 0] * xx + a[1, 1] * yy + a[1, 2]
        x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
        fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
        acc = np.zeros((h, w, c), dtype=np.float32)
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                xi, yi = x0 + dx, y0 + dy
                ok = ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h))[..., None]
                v = x[i, np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
                acc += np.where(ok, v, fill_value) * (wx * wy)
        out[i] = acc
    return out


class _Geometric(_Augment):
    def augment(self, x):
        n, h, w = x.shape[:3]
        mats = np.stack([self.matrix(h, w) for _ in range(n)])
        return _affine_sample(x.astype(np.float32), mats)

    @staticmethod
    def _around_center(m: np.ndarray, h: int, w: int) -> np.ndarray:
        cx, cy = (w - 1) / 2, (h - 1) / 2
        t = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1]], dtype=np.float32)
        ti = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float32)
        return (t @ m @ ti)[:2]


class RandomRotation(_Geometric):
    """Rotate by a random angle in factor·2π (factor a fraction of a full turn)."""

    def __init__(self, factor, fill_mode="constant", interpolation="bilinear", seed=None,
                 fill_value=0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.factor = factor

    def matrix(self, h, w):
        lo, hi = _factor_range(self.factor)
        a = _rng().uniform(lo, hi) * 2 * math.pi
        m = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]],
                     dtype=np.float32)
        return self._around_center(m, h, w)


class RandomZoom(_Geometric):
    """Zoom by a random factor in [1+lo, 1+hi] (negative = zoom in, as Keras' height_factor)."""

    def __init__(self, height_factor, width_factor=None, fill_mode="constant", seed=None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor

    def matrix(self, h, w):
        lo, hi = _factor_range(self.height_factor)
        zy = 1 + _rng().uniform(lo, hi)
        if self.width_factor is None:
            zx = zy
        else:
            lo, hi = _factor_range(self.width_factor)
            zx = 1 + _rng().uniform(lo, hi)
        m = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]], dtype=np.float32)
        return self._around_center(m, h, w)


class RandomTranslation(_Geometric):
    """Shift by random fractions of the height and width."""

    def __init__(self, height_factor, width_factor, fill_mode="constant", seed=None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.height_factor, self.width_factor = height_factor, width_factor

    def matrix(self, h, w):
        lo, hi = _factor_range(self.height_factor)
        dy = _rng().uniform(lo, hi) * h
        lo, hi = _factor_range(self.width_factor)
        dx = _rng().uniform(lo, hi) * w
        return np.array([[1, 0, -dx], [0, 1, -dy]], dtype=np.float32)


class Rescaling(Layer):
    def __init__(self, scale, offset=0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale, self.offset = scale, offset

    def call(self, inputs):
        return inputs * float(self.scale) + float(self.offset)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
