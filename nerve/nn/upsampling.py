"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d (wrappers of ``interpolate``)."""
from __future__ import annotations

from ..ops.upsample import interpolate
from ..tensor import Tensor
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) inputs to ``size`` or by ``scale_factor``.

    Args:
        size: output spatial size; or
        scale_factor: multiplier(s) of the spatial size.
        mode: 'nearest' (default), 'nearest-exact', 'linear', 'bilinear' or 'area'.
        align_corners: for the linear modes (see ``nerve.nn.functional.interpolate``).

    Example::

        >>> up = nn.Upsample(scale_factor=2)
        >>> up(nerve.randn(1, 3, 4, 4)).shape
        nerve.Size([1, 3, 8, 8])
    """

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):
            self.scale_factor = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        try:
            return interpolate(input, self.size, self.scale_factor, self.mode,
                               self.align_corners,
                               recompute_scale_factor=self.recompute_scale_factor)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{type(self).__name__}({self.extra_repr()}): {e}") from None

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = "scale_factor=" + repr(self.scale_factor)
        else:
            info = "size=" + repr(self.size)
        return info + ", mode=" + repr(self.mode)


class UpsamplingNearest2d(Upsample):
    """Nearest-neighbour upsampling of (N, C, H, W)."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """Bilinear upsampling of (N, C, H, W) with ``align_corners=True``."""

    def __init__(self, size=None, scale_factor=None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)
