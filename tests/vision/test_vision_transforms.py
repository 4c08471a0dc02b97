"""nerve.vision.transforms against torch (tensor ops) and torchvision's documented rules."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import nerve
from nerve.vision import transforms as T


def img(h=5, w=7, c=3, seed=0):
    rng = np.random.default_rng(seed)
    shape = (h, w) if c is None else (h, w, c)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def test_to_tensor_matches_torch():
    a = img()
    t = T.ToTensor()(a)
    assert isinstance(t, nerve.Tensor) and t.dtype == nerve.float32
    assert tuple(t.shape) == (3, 5, 7) and t.data.flags.c_contiguous
    ref = torch.from_numpy(a).permute(2, 0, 1).float().div(255)
    np.testing.assert_array_equal(t.data, ref.numpy())
    g = T.ToTensor()(img(c=None))
    assert tuple(g.shape) == (1, 5, 7)
    f64 = T.ToTensor()(np.ones((2, 2), np.float64) * 3)  # non-uint8: dtype kept, unscaled
    assert f64.dtype == nerve.float64 and float(f64.data.max()) == 3.0
    with pytest.raises(TypeError, match="ToTensor: .*got a Tensor"):
        T.ToTensor()(t)
    with pytest.raises(ValueError, match=r"ToTensor: .*got shape \(2, 2, 2, 2\)"):
        T.ToTensor()(np.zeros((2, 2, 2, 2), np.uint8))


def test_normalize_matches_torch():
    t = T.ToTensor()(img())
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    out = T.Normalize(mean, std)(t)
    assert out.dtype == nerve.float32
    tt = torch.from_numpy(t.data.copy())
    ref = (tt - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    np.testing.assert_array_equal(out.data, ref.numpy())
    assert out is not t and not np.shares_memory(out.data, t.data)
    same = T.Normalize(0.5, 0.5, inplace=True)(t)
    assert same is t
    batch = T.Normalize((0.1307,), (0.3081,))(nerve.zeros(4, 1, 3, 3))  # (N, C, H, W)
    np.testing.assert_allclose(batch.data, -0.1307 / 0.3081, rtol=1e-6)


def test_normalize_errors():
    with pytest.raises(TypeError, match="Normalize: expected a Tensor, got ndarray"):
        T.Normalize(0.5, 0.5)(img())
    with pytest.raises(TypeError, match="expected a float tensor, got uint8"):
        T.Normalize(0.5, 0.5)(nerve.tensor(img()).permute(2, 0, 1))
    with pytest.raises(ValueError, match="2 mean values for a tensor with 3 channels"):
        T.Normalize((0.5, 0.5), (1.0, 1.0))(T.ToTensor()(img()))
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize(0.5, (1.0, 0.0))


def test_compose_and_lambda():
    tf = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2), T.Normalize(0.0, 2.0)])
    a = img()
    np.testing.assert_allclose(tf(a).data, T.ToTensor()(a).data, rtol=1e-6)
    assert "ToTensor()" in repr(tf) and "Normalize" in repr(tf)
    with pytest.raises(TypeError, match="Lambda: argument should be callable"):
        T.Lambda(3)


@pytest.mark.parametrize("mode,torch_mode", [("constant", "constant"), ("edge", "replicate"),
                                             ("reflect", "reflect")])
@pytest.mark.parametrize("padding,ltrb", [(2, (2, 2, 2, 2)), ((1, 3), (1, 3, 1, 3)),
                                          ((1, 2, 3, 4), (1, 2, 3, 4))])
def test_pad_matches_torch(mode, torch_mode, padding, ltrb):
    a = img(6, 7)
    t = T.ToTensor()(a)
    out_t = T.Pad(padding, fill=0, padding_mode=mode)(t)
    lf, tp, rt, bt = ltrb
    ref = F.pad(torch.from_numpy(t.data)[None], (lf, rt, tp, bt), mode=torch_mode)[0]
    np.testing.assert_array_equal(out_t.data, ref.numpy())
    out_a = T.Pad(padding, fill=0, padding_mode=mode)(a)  # the array form agrees
    assert isinstance(out_a, np.ndarray) and out_a.dtype == np.uint8
    np.testing.assert_array_equal(T.ToTensor()(out_a).data, out_t.data)


def test_pad_fill_and_symmetric():
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = T.Pad(1, fill=9)(a)
    assert out.shape == (4, 5) and out[0].tolist() == [9] * 5 and out[1, 1:4].tolist() == [0, 1,
                                                                                           2]
    sym = T.Pad((2, 0), padding_mode="symmetric")(a)
    assert sym[0].tolist() == [1, 0, 0, 1, 2, 2, 1]
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="padding must be an int or a sequence of 1, 2 or 4"):
        T.Pad((1, 2, 3))


def test_random_crop_padding_is_a_window_of_the_padded_image():
    a = img(28, 28, None)
    padded = np.pad(a, 4)
    nerve.manual_seed(0)
    tops = set()
    for _ in range(200):
        out = T.RandomCrop(28, padding=4)(a)
        assert out.shape == (28, 28) and out.dtype == np.uint8
        hits = [(i, j) for i in range(9) for j in range(9)
                if np.array_equal(padded[i:i + 28, j:j + 28], out)]
        assert hits
        tops.add(hits[0][0])
    assert tops == set(range(9))  # every offset 0..8 is reachable
    nerve.manual_seed(5)
    first = T.RandomCrop(20)(a)
    nerve.manual_seed(5)
    np.testing.assert_array_equal(T.RandomCrop(20)(a), first)  # nerve's generator drives it


def test_random_crop_tensor_and_errors():
    t = T.ToTensor()(img(8, 8))
    out = T.RandomCrop((4, 6))(t)
    assert isinstance(out, nerve.Tensor) and tuple(out.shape) == (3, 4, 6)
    out = T.RandomCrop(10, pad_if_needed=True)(t)
    assert tuple(out.shape) == (3, 10, 10)
    with pytest.raises(ValueError, match=r"RandomCrop: required crop size \(9, 9\) is larger "
                                         r"than the \(padded\) image size \(8, 8\)"):
        T.RandomCrop(9)(t)


def test_flips():
    a = img()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(a), a[:, ::-1])
    assert T.RandomHorizontalFlip(0.0)(a) is a
    t = T.ToTensor()(a)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(t).data, t.data[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(1.0)(t).data, t.data[:, ::-1])
    nerve.manual_seed(1)
    flipped = sum(T.RandomHorizontalFlip(0.5)(a) is not a for _ in range(400))
    assert 150 < flipped < 250


def test_center_crop():
    a = np.arange(5 * 6, dtype=np.uint8).reshape(5, 6)
    out = T.CenterCrop(3)(a)
    # torchvision: top = round((5 - 3) / 2) = 1, left = round((6 - 3) / 2) = round(1.5) = 2
    np.testing.assert_array_equal(out, a[1:4, 2:5])
    big = T.CenterCrop((7, 6))(a)  # larger than the image: zero padded around it
    assert big.shape == (7, 6) and big[0].sum() == 0 and big[6].sum() == 0
    np.testing.assert_array_equal(big[1:6], a)
    t = T.ToTensor()(img(9, 9))
    assert tuple(T.CenterCrop(4)(t).shape) == (3, 4, 4)


@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("hw,size", [((28, 28), (32, 32)), ((28, 28), (14, 10)),
                                     ((32, 32), (17, 9)), ((5, 7), (13, 3)), ((7, 5), (1, 1))])
def test_resize_bilinear_matches_torch(antialias, hw, size):
    t = nerve.tensor(np.random.default_rng(0).random((3, *hw), dtype=np.float32))
    out = T.Resize(size, antialias=antialias)(t)
    assert out.dtype == nerve.float32 and tuple(out.shape) == (3, *size)
    ref = F.interpolate(torch.from_numpy(t.data)[None], size=size, mode="bilinear",
                        align_corners=False, antialias=antialias)[0]
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-5, atol=1e-6)


def test_resize_nearest_and_arrays():
    t = nerve.tensor(np.random.default_rng(1).random((1, 6, 9), dtype=np.float32))
    out = T.Resize((4, 13), interpolation="nearest")(t)
    ref = F.interpolate(torch.from_numpy(t.data)[None], size=(4, 13), mode="nearest")[0]
    np.testing.assert_array_equal(out.data, ref.numpy())
    a = img(10, 20)
    r = T.Resize(5)(a)  # shorter side -> 5, aspect kept
    assert isinstance(r, np.ndarray) and r.shape == (5, 10, 3) and r.dtype == np.uint8
    ft = T.Resize(5)(T.ToTensor()(a))
    ref = np.clip(np.rint(ft.data.transpose(1, 2, 0) * 255), 0, 255)
    assert np.abs(r.astype(int) - ref.astype(int)).max() <= 1
    assert T.Resize(8, max_size=12)(img(10, 20)).shape == (6, 12, 3)
    assert T.Resize(5)(img(20, 10, None)).shape == (10, 5)
    assert T.Resize((10, 20))(a) is a  # already that size
    with pytest.raises(ValueError, match="interpolation must be 'bilinear' or 'nearest'"):
        T.Resize(4, interpolation="bicubic")
