"""Pooling layers: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d.

Thin wrappers over ``nerve.ops.pool`` with PyTorch's arguments, defaults (``stride``
defaults to ``kernel_size``) and printouts.
"""
from __future__ import annotations

from ..ops import pool as P
from ..tensor import Tensor
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d"]


def _single(v):
    return (v,) if isinstance(v, int) else tuple(v)


class _Pool(Module):
    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{type(self).__name__}({self.extra_repr()}): {e}") from None


class _MaxPoolNd(_Pool):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling: the maximum of each kh × kw window (ties: the first one).

    Shape: (N, C, H, W) -> (N, C, H_out, W_out), H_out = ⌊(H + 2·padding -
    dilation·(kernel_size - 1) - 1) / stride⌋ + 1 (⌈⌉ with ``ceil_mode``).
    ``return_indices=True`` also returns the flat index of each maximum in its H·W plane.
    """

    def forward(self, input: Tensor):  # noqa: A002
        return self._call(P.max_pool2d, input, self.kernel_size, self.stride, self.padding,
                          self.dilation, self.ceil_mode, self.return_indices)


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over (N, C, L); see :class:`MaxPool2d`."""

    def forward(self, input: Tensor):  # noqa: A002
        return self._call(P.max_pool1d, input, self.kernel_size, self.stride, self.padding,
                          self.dilation, self.ceil_mode, self.return_indices)


class AvgPool2d(_Pool):
    """2-D average pooling over kh × kw windows.

    ``count_include_pad`` (default True) counts the zero padding in the divisor;
    ``divisor_override`` replaces the divisor.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return self._call(P.avg_pool2d, input, self.kernel_size, self.stride, self.padding,
                          self.ceil_mode, self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_Pool):
    """1-D average pooling over (N, C, L); see :class:`AvgPool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True) -> None:
        super().__init__()
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return self._call(P.avg_pool1d, input, self.kernel_size, self.stride, self.padding,
                          self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptivePool(_Pool):
    def __init__(self, output_size) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool):
    """Average pooling whose windows adapt so the output is ``output_size`` (Ho, Wo);
    ``AdaptiveAvgPool2d(1)`` is global average pooling. None keeps an input size."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return self._call(P.adaptive_avg_pool2d, input, self.output_size)


class AdaptiveAvgPool1d(_AdaptivePool):
    """1-D adaptive average pooling over (N, C, L)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return self._call(P.adaptive_avg_pool1d, input, self.output_size)


class AdaptiveMaxPool2d(_AdaptivePool):
    """Max pooling whose windows adapt so the output is ``output_size`` (Ho, Wo)."""

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor):  # noqa: A002
        return self._call(P.adaptive_max_pool2d, input, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptivePool):
    """1-D adaptive max pooling over (N, C, L)."""

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor):  # noqa: A002
        return self._call(P.adaptive_max_pool1d, input, self.output_size, self.return_indices)
