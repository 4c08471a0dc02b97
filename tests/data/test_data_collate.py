"""default_collate / default_convert against PyTorch's (the oracle): structure, dtype, values."""
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate as torch_collate
from torch.utils.data import default_convert as torch_convert

import nerve
from nerve.data import default_collate, default_convert

Point = namedtuple("Point", "x y")


def to_torch(obj):
    """A nerve sample -> the same sample for PyTorch (Tensors converted, rest kept)."""
    if isinstance(obj, nerve.Tensor):
        return torch.from_numpy(np.array(obj.numpy()))
    if isinstance(obj, Point):
        return Point(*(to_torch(o) for o in obj))
    if isinstance(obj, dict):
        return type(obj)((k, to_torch(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_torch(o) for o in obj)
    return obj


def assert_same(ours, ref):
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, nerve.Tensor), type(ours)
        assert str(ref.dtype).replace("torch.", "") == ours.dtype.name
        np.testing.assert_array_equal(ours.numpy(), ref.numpy())
        return
    assert type(ours) is type(ref), (type(ours), type(ref))
    if isinstance(ref, dict):
        assert list(ours) == list(ref)
        for k in ref:
            assert_same(ours[k], ref[k])
    elif isinstance(ref, (list, tuple)):
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            assert_same(a, b)
    elif isinstance(ref, np.ndarray):
        assert ours.dtype == ref.dtype
        np.testing.assert_array_equal(ours, ref)
    else:
        assert ours == ref


def r(*shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


BATCHES = {
    "tensors_f32": [nerve.tensor(r(2, 3, seed=i)) for i in range(4)],
    "tensors_i64": [nerve.tensor([i, i + 1]) for i in range(3)],
    "tensors_0d": [nerve.tensor(float(i)) for i in range(3)],
    "arrays_f64_stay_f64": [r(3, dtype=np.float64, seed=i) for i in range(3)],
    "arrays_f32": [r(2, 2, seed=i) for i in range(3)],
    "arrays_u8": [np.full((2,), i, np.uint8) for i in range(3)],
    "arrays_i32": [np.arange(3, dtype=np.int32) + i for i in range(2)],
    "np_scalars_f32": [np.float32(i) / 3 for i in range(4)],
    "np_scalars_i32": [np.int32(i) for i in range(4)],
    "np_bool": [np.bool_(i % 2) for i in range(4)],
    "py_floats_f64": [0.5, 1.25, 2.0],
    "py_ints_i64": [1, 2, 3],
    "py_bools": [True, False, True],
    "ints_then_floats": [1, 2.5],
    "floats_then_ints": [1.5, 2],
    "strings": ["a", "bb", "ccc"],
    "tuples_become_lists": [(nerve.tensor(r(2, seed=i)), i, 0.5 * i) for i in range(3)],
    "lists": [[i, float(i)] for i in range(3)],
    "dicts": [{"x": r(2, seed=i), "y": i, "name": f"s{i}"} for i in range(3)],
    "ordered_dicts": [OrderedDict(b=i, a=float(i)) for i in range(2)],
    "namedtuples": [Point(nerve.tensor([float(i)]), i) for i in range(3)],
    "nested": [{"pair": (i, [float(i), np.int64(i)]), "t": nerve.tensor([i])} for i in range(2)],
}


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_default_collate_matches_torch(name):
    batch = BATCHES[name]
    assert_same(default_collate(batch), torch_collate(to_torch(batch)))


def test_float32_tensors_stay_float32_and_stack_copies():
    samples = [nerve.tensor(r(4, seed=i)) for i in range(3)]
    out = default_collate(samples)
    assert out.dtype == nerve.float32 and tuple(out.shape) == (3, 4)
    out.data[...] = 0  # a fresh array: the samples are untouched
    assert samples[0].numpy().any()


def test_collate_keeps_graph_when_samples_require_grad():
    a = nerve.tensor([1.0, 2.0], requires_grad=True)
    b = nerve.tensor([3.0, 4.0], requires_grad=True)
    default_collate([a, b]).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 1])


def test_collate_errors():
    with pytest.raises(RuntimeError, match=r"equal size.*\(2,\) at entry 0 and \(3,\) at entry 1"):
        default_collate([nerve.zeros(2), nerve.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="found <class 'NoneType'>"):
        default_collate([None, None])
    with pytest.raises(TypeError, match="<U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(TypeError, match="found"):
        default_collate([object(), object()])


@pytest.mark.parametrize("data", [
    np.arange(3, dtype=np.float64), np.float32(2.0), (np.arange(2), 1), [np.int32(3), "s"],
    {"a": np.ones(2, np.float32), "b": (1, 2)}, "text", 5, Point(np.zeros(1), 2),
])
def test_default_convert_matches_torch(data):
    assert_same(default_convert(data), torch_convert(data))


def test_default_convert_shares_memory_like_as_tensor():
    a = np.arange(4.0)
    t = default_convert(a)
    a[0] = 9
    assert t.numpy()[0] == 9
