"""Dataset, TensorDataset, ConcatDataset, Subset, random_split (PyTorch semantics)."""
import numpy as np
import pytest
import torch

import nerve
from nerve.data import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i * i


def test_tensor_dataset_items_and_len():
    x = nerve.arange(12, dtype=nerve.float32).reshape(4, 3)
    y = nerve.tensor([0, 1, 0, 1])
    ds = TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    np.testing.assert_array_equal(xi.numpy(), [6, 7, 8])
    assert int(yi) == 0 and xi.dtype == nerve.float32 and yi.dtype == nerve.int64
    assert ds.tensors[0] is x


def test_tensor_dataset_accepts_numpy_without_copy():
    a = np.zeros((3, 2), np.float32)
    ds = TensorDataset(a)
    a[1, 0] = 5
    assert float(ds[1][0][0]) == 5


def test_tensor_dataset_size_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"same first dimension.*\(4, 3\).*\(5,\)"):
        TensorDataset(nerve.zeros(4, 3), nerve.zeros(5))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(TypeError, match="argument 1 must be a Tensor"):
        TensorDataset(nerve.zeros(2), [1, 2])
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(nerve.tensor(1.0))


def test_tensor_dataset_fetch_batch_matches_samples():
    x = nerve.randn(10, 2, 3)
    y = nerve.arange(10)
    ds = TensorDataset(x, y)
    idx = np.array([7, 2, 2, 9])
    bx, by = ds._fetch_batch(idx)
    np.testing.assert_array_equal(bx.numpy(), x.numpy()[idx])
    np.testing.assert_array_equal(by.numpy(), idx)
    assert bx.dtype == nerve.float32 and by.dtype == nerve.int64
    with pytest.raises(IndexError, match="out of range"):
        ds._fetch_batch(np.array([10]))


def test_concat_dataset():
    a, b = Squares(3), Squares(2)
    c = ConcatDataset([a, b])
    assert len(c) == 5 and c.cumulative_sizes == [3, 5]
    assert [c[i] for i in range(5)] == [0, 1, 4, 0, 1]
    assert c[-1] == 1 and c[-5] == 0
    with pytest.raises(ValueError, match="absolute value"):
        c[-6]
    with pytest.raises(IndexError):
        c[5]
    assert [(a + b)[i] for i in range(5)] == [0, 1, 4, 0, 1]
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])

    class Stream(IterableDataset):
        def __iter__(self):
            yield 1

    with pytest.raises(TypeError, match="IterableDataset"):
        ConcatDataset([a, Stream()])


def test_subset():
    s = Subset(Squares(10), [3, 1, 4])
    assert len(s) == 3 and [s[i] for i in range(3)] == [9, 1, 16]
    assert s.__getitems__([2, 0]) == [16, 9]


def test_subset_fetch_batch_composes_indices():
    x = nerve.arange(20).reshape(10, 2)
    inner = Subset(TensorDataset(x), [9, 8, 7, 6, 5])
    outer = Subset(inner, nerve.tensor([4, 0]))  # tensor indices work too
    (got,) = outer._fetch_batch(np.array([1, 0, 1]))
    np.testing.assert_array_equal(got.numpy(), x.numpy()[[9, 5, 9]])
    assert Subset(Squares(5), [1])._fetch_batch(np.array([0])) is NotImplemented


def test_random_split_counts_disjoint_and_complete():
    parts = random_split(Squares(10), [3, 7], generator=nerve.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [3, 7]
    idx = [i for p in parts for i in p.indices]
    assert sorted(idx) == list(range(10))


@pytest.mark.parametrize("n,fracs", [(10, [0.33, 0.33, 0.34]), (11, [0.5, 0.25, 0.25]),
                                     (7, [0.1, 0.2, 0.3, 0.4]), (100, [0.8, 0.2])])
def test_random_split_fractions_match_torch_sizes(n, fracs):
    ours = random_split(Squares(n), fracs)
    ref = torch.utils.data.random_split(range(n), fracs)
    assert [len(p) for p in ours] == [len(p) for p in ref]
    assert sorted(i for p in ours for i in p.indices) == list(range(n))


def test_random_split_reproducible_with_generator_and_manual_seed():
    def split(gen):
        return [p.indices for p in random_split(Squares(20), [0.5, 0.5], generator=gen)]

    assert split(nerve.Generator().manual_seed(3)) == split(nerve.Generator().manual_seed(3))
    assert split(nerve.Generator().manual_seed(3)) != split(nerve.Generator().manual_seed(4))
    nerve.manual_seed(5)
    a = split(None)
    nerve.manual_seed(5)
    assert split(None) == a


def test_random_split_errors_and_warning():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(Squares(5), [2, 2])
    with pytest.raises(ValueError, match="not between 0 and 1"):
        random_split(Squares(5), [1.5, -0.5])
    with pytest.warns(UserWarning, match="Length of split at index 2 is 0"):
        parts = random_split(Squares(2), [0.5, 0.5, 0.0])
    assert [len(p) for p in parts] == [1, 1, 0]
