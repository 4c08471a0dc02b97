"""Image transforms with torchvision's names and semantics, without PIL.

An *image* is what a dataset hands out: a uint8 NumPy array ``HxW`` or ``HxWxC`` (the
stand-in for a PIL image). :class:`ToTensor` turns it into a ``CxHxW`` float32 Tensor in
[0, 1]. The geometric transforms accept either form and return the same form: on an
array they act on axes 0 and 1, on a Tensor on the last two axes (``(..., H, W)``).
Transforms are data-pipeline steps, not differentiable ops (they work on ``.data``).
Randomness comes from nerve's generator, so ``nerve.manual_seed`` makes it repeatable.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..random import _rng
from ..tensor import Tensor

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda", "Pad", "RandomCrop", "CenterCrop",
           "RandomHorizontalFlip", "RandomVerticalFlip", "Resize", "InterpolationMode"]

W = Tensor._wrap


def _unpack(img, who: str):
    """(array, is_tensor, h_axis, w_axis) for an image array or a (..., H, W) Tensor."""
    if isinstance(img, Tensor):
        a = img.data
        if a.ndim < 2:
            raise ValueError(f"{who}: expected a tensor (..., H, W), got shape {tuple(a.shape)}")
        return a, True, a.ndim - 2, a.ndim - 1
    a = np.asarray(img)
    if a.ndim not in (2, 3):
        raise ValueError(f"{who}: expected an image array HxW or HxWxC, got shape {a.shape}")
    return a, False, 0, 1


def _pair(size, who: str) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    size = tuple(int(s) for s in size)
    if len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(f"{who}: size must be an int or (h, w), got {size}")
    return size


class Compose:
    """Apply ``transforms`` one after the other."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class ToTensor:
    """``HxW`` / ``HxWxC`` array -> ``CxHxW`` Tensor; uint8 is scaled to float32 in [0, 1]
    (``x / 255``); other dtypes are kept unscaled, as torchvision does for arrays."""

    def __call__(self, pic) -> Tensor:
        if isinstance(pic, Tensor):
            raise TypeError("ToTensor: expected an image array (HxW or HxWxC), got a Tensor "
                            "(it is already converted)")
        a = np.asarray(pic)
        if a.ndim not in (2, 3):
            raise ValueError(f"ToTensor: expected an image array HxW or HxWxC, got shape "
                             f"{a.shape}")
        return self._batch(a[None])[0]

    @staticmethod
    def _batch(a: np.ndarray) -> Tensor:
        """(B, H, W[, C]) arrays -> (B, C, H, W) Tensor, elementwise as ``__call__``."""
        a = a[..., None] if a.ndim == 3 else a
        a = a.transpose(0, 3, 1, 2)
        if a.dtype == np.uint8:
            out = a.astype(np.float32, order="C")
            out /= np.float32(255.0)
            return W(out)
        return W(np.ascontiguousarray(a))

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``out[c] = (x[c] - mean[c]) / std[c]`` on a float ``(..., C, H, W)`` Tensor."""

    def __init__(self, mean, std, inplace: bool = False) -> None:
        self.mean = tuple(np.atleast_1d(np.asarray(mean, np.float64)).tolist())
        self.std = tuple(np.atleast_1d(np.asarray(std, np.float64)).tolist())
        self.inplace = inplace
        if any(s == 0 for s in self.std):
            raise ValueError(f"Normalize: std evaluated to zero ({self.std}), division by zero")

    def __call__(self, tensor: Tensor) -> Tensor:
        return self._batch(tensor)

    def _batch(self, tensor: Tensor) -> Tensor:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"Normalize: expected a Tensor, got {type(tensor).__name__} "
                            "(apply ToTensor first)")
        a = tensor.data
        if a.dtype.kind != "f":
            raise TypeError(f"Normalize: expected a float tensor, got {a.dtype} (apply ToTensor "
                            "first)")
        if a.ndim < 3:
            raise ValueError(f"Normalize: expected a tensor (..., C, H, W), got shape "
                             f"{tuple(a.shape)}")
        c = a.shape[-3]
        for nm, v in (("mean", self.mean), ("std", self.std)):
            if len(v) not in (1, c):
                raise ValueError(f"Normalize: {len(v)} {nm} values for a tensor with {c} "
                                 f"channels (shape {tuple(a.shape)})")
        mean = np.asarray(self.mean, a.dtype).reshape(-1, 1, 1)
        std = np.asarray(self.std, a.dtype).reshape(-1, 1, 1)
        if self.inplace:
            a -= mean
            a /= std
            return tensor
        out = a - mean
        out /= std
        return W(out)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user function: ``Lambda(lambda x: x * 2)``."""

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Lambda: argument should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"


# --- padding and cropping ------------------------------------------------------------------

_PAD_MODES = {"constant": "constant", "edge": "edge", "reflect": "reflect",
              "symmetric": "symmetric"}


def _ltrb(padding, who: str) -> tuple[int, int, int, int]:
    """torchvision's padding spec -> (left, top, right, bottom)."""
    if isinstance(padding, (int, np.integer)):
        p = int(padding)
        return p, p, p, p
    p = tuple(int(v) for v in padding)
    if len(p) == 1:
        return p * 4
    if len(p) == 2:
        return p[0], p[1], p[0], p[1]
    if len(p) == 4:
        return p
    raise ValueError(f"{who}: padding must be an int or a sequence of 1, 2 or 4 ints, got {p}")


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad an image array or (..., H, W) Tensor; padding as in torchvision (l, t, r, b)."""
    a, is_t, ha, wa = _unpack(img, "Pad")
    left, top, right, bottom = _ltrb(padding, "Pad")
    if min(left, top, right, bottom) < 0:
        raise ValueError(f"Pad: negative padding {(left, top, right, bottom)} is not supported")
    mode = _PAD_MODES.get(padding_mode)
    if mode is None:
        raise ValueError(f"Pad: padding_mode must be one of {list(_PAD_MODES)}, got "
                         f"{padding_mode!r}")
    widths = [(0, 0)] * a.ndim
    widths[ha], widths[wa] = (top, bottom), (left, right)
    if mode == "reflect" and (max(top, bottom) >= a.shape[ha] or max(left, right) >= a.shape[wa]):
        raise ValueError(f"Pad: reflect padding {(left, top, right, bottom)} must be smaller "
                         f"than the image {a.shape[ha]}x{a.shape[wa]}")
    if mode == "constant":
        out = np.pad(a, widths, mode="constant", constant_values=np.asarray(fill, a.dtype))
    else:
        out = np.pad(a, widths, mode=mode)
    return W(out) if is_t else out


def crop(img, top: int, left: int, height: int, width: int):
    """The region [top:top+height, left:left+width] (a copy) of an array or Tensor."""
    a, is_t, ha, wa = _unpack(img, "crop")
    idx = [slice(None)] * a.ndim
    idx[ha], idx[wa] = slice(top, top + height), slice(left, left + width)
    out = np.ascontiguousarray(a[tuple(idx)])
    return W(out) if is_t else out


def _size_hw(img, who: str) -> tuple[int, int]:
    a, _, ha, wa = _unpack(img, who)
    return a.shape[ha], a.shape[wa]


class Pad:
    """Pad the borders: ``padding`` int (all sides), (lr, tb) or (l, t, r, b);
    ``padding_mode`` constant (with ``fill``), edge, reflect or symmetric."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant") -> None:
        _ltrb(padding, "Pad")
        if padding_mode not in _PAD_MODES:
            raise ValueError(f"Pad: padding_mode must be one of {list(_PAD_MODES)}, got "
                             f"{padding_mode!r}")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        return pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return (f"Pad(padding={self.padding}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


class RandomCrop:
    """Crop a random ``size`` region, after optional ``padding`` (the usual CIFAR
    augmentation is ``RandomCrop(32, padding=4)``). Offsets are uniform over all
    positions: ``top ~ U{0..H-h}``, ``left ~ U{0..W-w}``."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant") -> None:
        self.size = _pair(size, "RandomCrop")
        if padding is not None:
            _ltrb(padding, "RandomCrop")
        self.padding, self.pad_if_needed = padding, pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def __call__(self, img):
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        th, tw = self.size
        h, w = _size_hw(img, "RandomCrop")
        if self.pad_if_needed and w < tw:
            img = pad(img, (tw - w, 0), self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            img = pad(img, (0, th - h), self.fill, self.padding_mode)
        h, w = _size_hw(img, "RandomCrop")
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than the "
                             f"(padded) image size {(h, w)}")
        rng = _rng()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return crop(img, i, j, th, tw)

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class CenterCrop:
    """Crop the central ``size`` region (zero-padding first when the image is smaller),
    with torchvision's rounding: ``top = round((H - h) / 2)``."""

    def __init__(self, size) -> None:
        self.size = _pair(size, "CenterCrop")

    def __call__(self, img):
        th, tw = self.size
        h, w = _size_hw(img, "CenterCrop")
        if th > h or tw > w:
            ltrb = ((tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                    (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0)
            img = pad(img, ltrb, 0)
            h, w = _size_hw(img, "CenterCrop")
            if h == th and w == tw:
                return img
        top = int(round((h - th) / 2.0))
        left = int(round((w - tw) / 2.0))
        return crop(img, top, left, th, tw)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


def _flip(img, axis_from_end: int):
    a, is_t, ha, wa = _unpack(img, "flip")
    out = np.ascontiguousarray(np.flip(a, axis=wa if axis_from_end == 1 else ha))
    return W(out) if is_t else out


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img):
        return _flip(img, 1) if _rng().random() < self.p else img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class RandomVerticalFlip:
    """Mirror top-bottom with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img):
        return _flip(img, 0) if _rng().random() < self.p else img

    def __repr__(self) -> str:
        return f"RandomVerticalFlip(p={self.p})"


# --- resizing ------------------------------------------------------------------------------

class InterpolationMode:
    """torchvision's interpolation names (plain strings here)."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"


def _interp_matrix(n_in: int, n_out: int, mode: str, antialias: bool) -> np.ndarray:
    """The (n_out, n_in) matrix M with ``out = M @ in`` along one axis.

    Bilinear, half-pixel centres (``align_corners=False``): output pixel i samples the
    input at ``c = (i + 0.5) * s`` with ``s = n_in / n_out``, weighting input pixel j by
    the triangle ``max(0, 1 - |j + 0.5 - c| / f)``, normalised to sum 1 (which is the
    same as clamping at the borders). ``f = 1`` is plain bilinear; with ``antialias``
    and shrinking (s > 1), ``f = s`` widens the triangle so every input pixel
    contributes -- PyTorch's ``antialias=True`` and PIL's filter.
    """
    s = n_in / n_out
    m = np.zeros((n_out, n_in), np.float64)
    if mode == "nearest":  # PyTorch's legacy 'nearest': src = floor(i * s)
        src = np.minimum(np.floor(np.arange(n_out) * s).astype(np.int64), n_in - 1)
        m[np.arange(n_out), src] = 1.0
        return m
    f = s if (antialias and s > 1.0) else 1.0
    for i in range(n_out):
        c = (i + 0.5) * s
        lo = max(int(c - f + 0.5), 0)
        hi = min(int(c + f + 0.5), n_in)
        j = np.arange(lo, hi)
        w = np.maximum(0.0, 1.0 - np.abs((j - c + 0.5) / f))
        m[i, lo:hi] = w / w.sum()
    return m


def _output_size(h: int, w: int, size, max_size) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) or (isinstance(size, Sequence) and len(size) == 1):
        size = int(size if isinstance(size, (int, np.integer)) else size[0])
        short, long = (h, w) if h <= w else (w, h)
        new_short, new_long = size, int(size * long / short)
        if max_size is not None:
            if max_size <= size:
                raise ValueError(f"Resize: max_size {max_size} must be larger than size {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_short, new_long) if h <= w else (new_long, new_short)
    return _pair(size, "Resize")


class Resize:
    """Resize to ``size``: an int matches the shorter side (keeping the aspect ratio,
    ``long = int(size * long / short)``), ``(h, w)`` is exact. Bilinear by default, with
    ``antialias=True`` like torchvision's tensors; computed as two small matrix products
    (``M_h @ img @ M_w^T``); uint8 images are rounded back to uint8."""

    def __init__(self, size, interpolation: str = "bilinear", max_size: int | None = None,
                 antialias: bool | None = True) -> None:
        mode = getattr(interpolation, "value", interpolation)
        if mode not in ("bilinear", "nearest"):
            raise ValueError(f"Resize: interpolation must be 'bilinear' or 'nearest', got "
                             f"{interpolation!r}")
        if not isinstance(size, (int, np.integer)) and len(size) not in (1, 2):
            raise ValueError(f"Resize: size must be an int or (h, w), got {size}")
        self.size, self.interpolation, self.max_size = size, mode, max_size
        self.antialias = True if antialias is None else bool(antialias)

    def __call__(self, img):
        a, is_t, ha, wa = _unpack(img, "Resize")
        h, w = a.shape[ha], a.shape[wa]
        oh, ow = _output_size(h, w, self.size, self.max_size)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"Resize: output size {(oh, ow)} from a {h}x{w} image is empty")
        if (oh, ow) == (h, w):
            return img
        ct = np.float64 if a.dtype == np.float64 else np.float32
        mh = _interp_matrix(h, oh, self.interpolation, self.antialias).astype(ct)
        mw = _interp_matrix(w, ow, self.interpolation, self.antialias).astype(ct)
        x = a.astype(ct, copy=False)
        if not is_t and a.ndim == 3:  # HWC: contract H and W around the channel axis
            out = np.einsum("ih,hwc,jw->ijc", mh, x, mw, optimize=True)
        else:
            out = np.matmul(np.matmul(mh, x), mw.T)
        if a.dtype == np.uint8:
            out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        elif a.dtype.kind != "f":
            out = np.rint(out).astype(a.dtype)
        else:
            out = out.astype(a.dtype, copy=False)
        return W(np.ascontiguousarray(out)) if is_t else np.ascontiguousarray(out)

    def __repr__(self) -> str:
        return (f"Resize(size={self.size}, interpolation={self.interpolation}, "
                f"max_size={self.max_size}, antialias={self.antialias})")


def _batchable(transform) -> list | None:
    """The flat list of steps when every one can run on a whole batch, else None."""
    steps = transform.transforms if isinstance(transform, Compose) else [transform]
    flat = []
    for t in steps:
        if isinstance(t, Compose):
            inner = _batchable(t)
            if inner is None:
                return None
            flat += inner
        elif type(t) in (ToTensor, Normalize):
            flat.append(t)
        else:
            return None
    return flat

