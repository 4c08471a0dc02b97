"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d (PyTorch's API).

Each layer stores its configuration and its Parameters; ``forward`` is one call of the
fused op in ``nerve.ops.conv`` (im2col + one GEMM per chunk of images).
"""
from __future__ import annotations

import math

from .. import _backend as B
from ..ops import conv as C
from ..ops.shape import pad as _pad
from ..tensor import Tensor
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _empty(shape, device, dtype):
    xp = B.get_xp(device if device is not None else "cpu")
    return xp.empty(shape, dtype=B.as_np_dtype(dtype))


def _tuple(v, n: int) -> tuple:
    if isinstance(v, int):
        return (v,) * n
    t = tuple(int(a) for a in v)
    return t * n if len(t) == 1 else t


class _ConvNd(Module):
    _nd = 2
    _transposed = False
    _layout = "(N, C, H, W)"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 output_padding=0, device=None, dtype=None) -> None:
        super().__init__()
        nd, name = self._nd, type(self).__name__
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} must be divisible by "
                             f"groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels={out_channels} must be divisible by "
                             f"groups={groups}")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, nd)
        self.stride = _tuple(stride, nd)
        self.dilation = _tuple(dilation, nd)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be an int, a tuple, 'same' or 'valid', "
                                 f"got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 f"convolutions")
            if self._transposed:
                raise ValueError(f"{name}: padding must be an int or a tuple")
            self.padding = padding
        else:
            self.padding = _tuple(padding, nd)
        self.output_padding = _tuple(output_padding, nd)
        self.groups = groups
        self.padding_mode = padding_mode
        if self._transposed:
            wshape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            wshape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(_empty(wshape, device, dtype))
        if bias:
            self.bias = Parameter(_empty((out_channels,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # PyTorch: kaiming_uniform_(a=√5) = U(±1/√fan_in); bias U(±1/√fan_in)
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _check(self, x: Tensor) -> None:
        nd, shape = self._nd, tuple(x.shape)
        if len(shape) != nd + 2:
            if len(shape) == nd + 1:
                raise RuntimeError(f"{self._short()}: expected a {nd + 2}-D input "
                                   f"{self._layout}, got a {len(shape)}-D input of shape {shape}: "
                                   f"the batch dimension is missing (use x.unsqueeze(0) for a "
                                   f"single sample)")
            raise RuntimeError(f"{self._short()}: expected a {nd + 2}-D input {self._layout}, "
                               f"got shape {shape}")
        if shape[1] != self.in_channels:
            raise RuntimeError(f"{self._short()}: expected input with in_channels="
                               f"{self.in_channels} channels (dim 1 of {self._layout}), got input "
                               f"of shape {shape} ({shape[1]} channels)")

    def _short(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def _pad_input(self, x: Tensor):
        """Non-zero padding modes: pad explicitly, then convolve without padding."""
        if self.padding_mode == "zeros":
            return x, self.padding
        spatial = tuple(x.shape[2:])
        pads = C._pads(self.padding, self.kernel_size, self.stride, self.dilation, spatial,
                       type(self).__name__)
        flat = []
        for lo, hi in reversed(pads):
            flat += [lo, hi]
        return _pad(x, flat, mode=self.padding_mode), 0

    def extra_repr(self) -> str:
        nd = self._nd
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, " \
            f"stride={self.stride}"
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution: y[n, o] = b[o] + Σ_c w[o, c] ⋆ x[n, c] (cross-correlation).

    Args:
        in_channels, out_channels: channels of the input and output.
        kernel_size, stride, dilation: int or (h, w).
        padding: int, (h, w), 'valid' or 'same' (stride 1).
        groups: independent channel groups (``groups=in_channels`` is depthwise).
        bias: learn an additive bias (default True).
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.

    Shape: (N, C_in, H, W) -> (N, C_out, H_out, W_out),
    H_out = ⌊(H + 2·padding - dilation·(kernel_size - 1) - 1) / stride⌋ + 1.

    Attributes:
        weight: (C_out, C_in/groups, kh, kw), U(±1/√fan_in) with fan_in = C_in/groups·kh·kw
            (PyTorch's ``kaiming_uniform_(a=√5)``).
        bias: (C_out,), U(±1/√fan_in).

    Example::

        >>> conv = nn.Conv2d(1, 32, 3)
        >>> conv(nerve.randn(8, 1, 28, 28)).shape
        nerve.Size([8, 32, 26, 26])
    """

    _nd = 2
    _layout = "(N, C, H, W)"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check(input)
        x, padding = self._pad_input(input)
        try:
            return C.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                            self.groups)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{self._short()}: {e}") from None


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) -> (N, C_out, L_out); see :class:`Conv2d`.

    weight: (C_out, C_in/groups, k), bias: (C_out,), both U(±1/√(C_in/groups·k)).
    """

    _nd = 1
    _layout = "(N, C, L)"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, 0, device, dtype)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        self._check(input)
        x, padding = self._pad_input(input)
        try:
            return C.conv1d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                            self.groups)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{self._short()}: {e}") from None


class _ConvTransposeNd(_ConvNd):
    _transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f"Only 'zeros' padding mode is supported for "
                             f"{type(self).__name__}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, device, dtype)

    def _output_padding(self, x: Tensor, output_size) -> tuple:
        """output_padding, or the one that makes the output ``output_size`` (as PyTorch)."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        out = tuple(int(s) for s in output_size)[-nd:]
        res = []
        for i in range(nd):
            base = (x.shape[2 + i] - 1) * self.stride[i] - 2 * self.padding[i] + \
                self.dilation[i] * (self.kernel_size[i] - 1) + 1
            extra = out[i] - base
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise ValueError(f"{self._short()}: requested an output size of {out}, but "
                                 f"valid sizes range from {base} to "
                                 f"{base + max(self.stride[i], self.dilation[i]) - 1} in dim "
                                 f"{i} (for an input of shape {tuple(x.shape)})")
            res.append(extra)
        return tuple(res)

    def _run(self, op, input, output_size):
        self._check(input)
        op_pad = self._output_padding(input, output_size)
        try:
            return op(input, self.weight, self.bias, self.stride, self.padding, op_pad,
                      self.groups, self.dilation)
        except (RuntimeError, ValueError) as e:
            raise type(e)(f"{self._short()}: {e}") from None


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution (the gradient of Conv2d with respect to its input).

    Shape: (N, C_in, H, W) -> (N, C_out, H_out, W_out),
    H_out = (H - 1)·stride - 2·padding + dilation·(kernel_size - 1) + output_padding + 1.

    Attributes:
        weight: (C_in, C_out/groups, kh, kw), U(±1/√fan_in) with fan_in computed from
            the weight's shape as PyTorch does (C_out/groups·kh·kw).
        bias: (C_out,).
    """

    _nd = 2
    _layout = "(N, C, H, W)"

    def forward(self, input: Tensor, output_size=None) -> Tensor:  # noqa: A002
        return self._run(C.conv_transpose2d, input, output_size)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C_in, L); see :class:`ConvTranspose2d`."""

    _nd = 1
    _layout = "(N, C, L)"

    def forward(self, input: Tensor, output_size=None) -> Tensor:  # noqa: A002
        return self._run(C.conv_transpose1d, input, output_size)
