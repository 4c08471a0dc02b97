"""Conv, pooling, batch-norm and upsampling layers against torch.nn with the same weights."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nn_testutil import compare_module, randn

import nerve
from nerve.nn.batchnorm import BatchNorm1d, BatchNorm2d
from nerve.nn.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from nerve.nn.pooling import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
)
from nerve.nn.upsampling import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d

R, A = 1e-4, 1e-5
TNN = torch.nn

CONV_LAYERS = [
    ("Conv2d", (3, 8, 3), dict(padding=1), (2, 3, 9, 9)),
    ("Conv2d", (4, 8, 3), dict(stride=2, groups=2, bias=False), (2, 4, 9, 8)),
    ("Conv2d", (4, 4, 3), dict(padding="same", dilation=2), (1, 4, 9, 9)),
    ("Conv2d", (4, 4, 3), dict(padding=1, groups=4), (2, 4, 6, 6)),
    ("Conv2d", (3, 6, (3, 5)), dict(padding=(1, 2), padding_mode="reflect"), (2, 3, 7, 8)),
    ("Conv2d", (2, 4, 3), dict(padding=1, padding_mode="replicate"), (2, 2, 6, 6)),
    ("Conv2d", (2, 4, 3), dict(padding=2, padding_mode="circular"), (2, 2, 6, 6)),
    ("Conv1d", (3, 5, 3), dict(stride=2, padding=1), (2, 3, 11)),
    ("Conv1d", (4, 4, 5), dict(padding="same", groups=2), (2, 4, 9)),
    ("ConvTranspose2d", (4, 6, 3), dict(stride=2, padding=1, output_padding=1), (2, 4, 5, 5)),
    ("ConvTranspose2d", (4, 4, 4), dict(stride=2, padding=1, groups=2, bias=False),
     (1, 4, 3, 4)),
    ("ConvTranspose1d", (3, 2, 3), dict(stride=2), (2, 3, 6)),
]


@pytest.mark.parametrize("name,args,kw,shape", CONV_LAYERS)
def test_conv_layers_match_torch(name, args, kw, shape):
    mods = {"Conv2d": Conv2d, "Conv1d": Conv1d, "ConvTranspose2d": ConvTranspose2d,
            "ConvTranspose1d": ConvTranspose1d}
    n, t = mods[name](*args, **kw), getattr(TNN, name)(*args, **kw)
    assert repr(n) == repr(t)
    compare_module(n, t, randn(*shape), rtol=R, atol=A)


def test_conv_transpose_output_size():
    n, t = ConvTranspose2d(3, 2, 3, stride=2, padding=1), TNN.ConvTranspose2d(3, 2, 3, 2, 1)
    x = randn(1, 3, 4, 4)
    y = n(nerve.tensor(x), output_size=(8, 8))
    assert y.shape == t(torch.tensor(x), output_size=(8, 8)).shape == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="output size"):
        n(nerve.tensor(x), output_size=(10, 10))


def test_init_matches_pytorch_bounds():
    nerve.manual_seed(0)
    c = Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)
    for p in (c.weight, c.bias):
        assert p.dtype == nerve.float32
        assert np.abs(p.data).max() <= bound + 1e-7
        assert np.abs(p.data).max() > 0.9 * bound  # spread over the whole range
    assert abs(float(c.weight.data.std()) - bound / math.sqrt(3)) < 0.1 * bound
    t = ConvTranspose2d(8, 4, 3, groups=2)
    assert t.weight.shape == (8, 2, 3, 3)
    assert np.abs(t.bias.data).max() <= 1 / math.sqrt(2 * 9) + 1e-7
    assert list(dict(c.named_parameters())) == ["weight", "bias"]
    assert Conv2d(1, 2, 3, bias=False).bias is None


POOL_LAYERS = [
    ("MaxPool2d", (2,), {}, (2, 3, 8, 8)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 9, 8)),
    ("MaxPool1d", (2,), {}, (2, 3, 9)),
    ("AvgPool2d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 3, 8, 9)),
    ("AvgPool2d", (2,), {}, (2, 3, 8, 8)),
    ("AvgPool1d", (3,), dict(stride=1, padding=1), (2, 3, 9)),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 8, 9)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 7, 7)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10)),
    ("AdaptiveMaxPool2d", ((3, 2),), {}, (2, 3, 8, 9)),
    ("AdaptiveMaxPool1d", (3,), {}, (2, 3, 10)),
    ("Upsample", (), dict(scale_factor=2), (2, 3, 4, 5)),
    ("Upsample", (), dict(size=(7, 9), mode="bilinear"), (2, 3, 4, 5)),
    ("Upsample", (), dict(scale_factor=1.5, mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    ("UpsamplingNearest2d", (), dict(scale_factor=3), (1, 2, 3, 3)),
    ("UpsamplingBilinear2d", (), dict(size=(5, 6)), (1, 2, 3, 3)),
]

_NERVE = {c.__name__: c for c in (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool1d,
                                  AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                                  Upsample, UpsamplingNearest2d, UpsamplingBilinear2d)}


@pytest.mark.parametrize("name,args,kw,shape", POOL_LAYERS)
def test_pool_and_upsample_layers_match_torch(name, args, kw, shape):
    n, t = _NERVE[name](*args, **kw), getattr(TNN, name)(*args, **kw)
    assert repr(n) == repr(t)
    compare_module(n, t, randn(*shape), rtol=R, atol=A)


def test_max_pool_return_indices():
    x = np.round(randn(2, 3, 6, 6) * 2)
    y, i = MaxPool2d(2, return_indices=True)(nerve.tensor(x))
    ty, ti = TNN.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(i.data, ti.numpy())
    np.testing.assert_array_equal(y.data, ty.numpy())


@pytest.mark.parametrize("cls,shape", [(BatchNorm2d, (4, 3, 5, 5)), (BatchNorm1d, (6, 3)),
                                       (BatchNorm1d, (4, 3, 7))])
@pytest.mark.parametrize("kw", [{}, dict(momentum=None), dict(affine=False),
                                dict(track_running_stats=False), dict(bias=False),
                                dict(momentum=0.3, eps=1e-3)])
def test_batchnorm_matches_torch_over_steps(cls, shape, kw):
    n, t = cls(3, **kw), getattr(TNN, cls.__name__)(3, **kw)
    assert repr(n) == repr(t)
    assert list(n.state_dict()) == list(t.state_dict())
    for step in range(3):
        compare_module(n, t, randn(*shape, seed=step, scale=2.0) + 1, rtol=R, atol=A)
        for name, buf in t.named_buffers():
            got = dict(n.named_buffers())[name]
            np.testing.assert_allclose(got.data, buf.numpy(), rtol=R, atol=A, err_msg=name)
            assert got.data.dtype == buf.numpy().dtype, name
    n.eval()
    t.eval()
    compare_module(n, t, randn(*shape, seed=9), rtol=R, atol=A)


def test_batchnorm_state_dict_roundtrip():
    t = TNN.BatchNorm2d(4)
    t.train()
    t(torch.randn(8, 4, 3, 3))
    n = BatchNorm2d(4)
    n.load_state_dict({k: nerve.tensor(v.numpy()) for k, v in t.state_dict().items()})
    n.eval()
    t.eval()
    x = randn(2, 4, 3, 3)
    np.testing.assert_allclose(n(nerve.tensor(x)).data, t(torch.tensor(x)).detach().numpy(),
                               rtol=R, atol=A)
    assert int(n.num_batches_tracked.item()) == 1


def test_errors_name_the_layer():
    conv = Conv2d(1, 32, 3)
    with pytest.raises(RuntimeError, match=r"Conv2d\(1, 32.*in_channels=1.*\(8, 3, 28, 28\)"):
        conv(nerve.ones(8, 3, 28, 28))
    with pytest.raises(RuntimeError, match=r"Conv2d\(1, 32.*batch dimension is missing"):
        conv(nerve.ones(1, 28, 28))
    with pytest.raises(RuntimeError, match=r"Conv2d\(1, 32.*smaller than the kernel.*\(2, 2\)"):
        conv(nerve.ones(8, 1, 2, 2))
    with pytest.raises(ValueError, match="strided"):
        Conv2d(1, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="divisible"):
        Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3.*expected 4D input.*\(2, 3\)"):
        BatchNorm2d(3)(nerve.ones(2, 3))
    with pytest.raises(ValueError, match=r"num_features=3.*\(2, 4, 5, 5\)"):
        BatchNorm2d(3)(nerve.ones(2, 4, 5, 5))
    with pytest.raises(RuntimeError, match=r"MaxPool2d\(kernel_size=3.*smaller than the kernel"):
        MaxPool2d(3)(nerve.ones(1, 1, 2, 2))


def test_mnist_cnn_shapes_and_dtypes():
    """The documents' CNN: shapes, float32 outputs and gradients end to end."""
    from nerve.ops.elementwise import relu
    from nerve.ops.shape import flatten

    c1, c2, pool = Conv2d(1, 32, 3), Conv2d(32, 64, 3), MaxPool2d(2)
    x = nerve.tensor(randn(4, 1, 28, 28))
    h = pool(relu(c2(relu(c1(x)))))
    assert h.shape == (4, 64, 12, 12) and h.dtype == nerve.float32
    flatten(h, 1).sum().backward()
    for p in (c1.weight, c1.bias, c2.weight, c2.bias):
        assert p.grad.dtype == nerve.float32
