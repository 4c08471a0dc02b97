"""Samplers: orders, lengths, validation and reproducibility (PyTorch semantics)."""
import numpy as np
import pytest
import torch

import nerve
from nerve.data import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)


def gen(seed=0):
    return nerve.Generator().manual_seed(seed)


def test_sequential():
    s = SequentialSampler(range(5))
    assert list(s) == [0, 1, 2, 3, 4] and len(s) == 5


def test_random_is_a_permutation_and_changes_each_epoch():
    s = RandomSampler(range(50), generator=gen())
    a, b = list(s), list(s)
    assert sorted(a) == list(range(50)) and sorted(b) == list(range(50))
    assert a != b and all(type(i) is int for i in a)
    assert list(RandomSampler(range(50), generator=gen())) == a  # same seed, same order


def test_random_uses_global_generator_when_none_given():
    nerve.manual_seed(11)
    a = list(RandomSampler(range(30)))
    nerve.manual_seed(11)
    assert list(RandomSampler(range(30))) == a


def test_random_num_samples_and_replacement():
    s = RandomSampler(range(4), num_samples=10, generator=gen())
    out = list(s)
    assert len(s) == 10 and len(out) == 10
    assert sorted(out[:4]) == sorted(out[4:8]) == [0, 1, 2, 3]  # chained permutations
    assert len(set(out[8:])) == 2
    w = RandomSampler(range(3), replacement=True, num_samples=200, generator=gen())
    out = list(w)
    assert len(out) == 200 and set(out) == {0, 1, 2}


def test_random_validation_messages_match_torch():
    for kwargs, err in (({"replacement": 1}, TypeError), ({"num_samples": 0}, ValueError),
                        ({"num_samples": 2.0}, ValueError)):
        with pytest.raises(err) as ours:
            RandomSampler(range(3), **kwargs)
        with pytest.raises(err) as ref:
            torch.utils.data.RandomSampler(range(3), **kwargs)
        assert str(ours.value) == str(ref.value)


def test_subset_random():
    idx = [10, 20, 30, 40]
    s = SubsetRandomSampler(idx, generator=gen(1))
    out = list(s)
    assert sorted(out) == idx and len(s) == 4
    np.testing.assert_array_equal(SubsetRandomSampler(idx, generator=gen(1))._index_array(), out)


def test_weighted():
    s = WeightedRandomSampler([0.0, 1.0, 3.0], num_samples=400, generator=gen())
    out = np.array(list(s))
    assert len(s) == 400 and 0 not in out
    assert 0.65 < np.mean(out == 2) < 0.85
    u = list(WeightedRandomSampler(nerve.tensor([1.0, 1, 1, 1, 0]), 4, replacement=False,
                                   generator=gen()))
    assert sorted(u) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="1d sequence"):
        WeightedRandomSampler([[1.0, 2.0]], 2)
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        WeightedRandomSampler([1.0], 0)


@pytest.mark.parametrize("n,bs,drop", [(10, 3, False), (10, 3, True), (9, 3, True), (2, 5, False),
                                       (2, 5, True), (0, 2, False)])
def test_batch_sampler_matches_torch(n, bs, drop):
    ours = BatchSampler(SequentialSampler(range(n)), bs, drop)
    ref = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(n)), bs, drop)
    assert list(ours) == list(ref) and len(ours) == len(ref)
    assert [b.tolist() for b in ours._index_batches()] == list(ref)


def test_batch_sampler_index_batches_use_the_same_random_draws():
    a = [b.tolist() for b in BatchSampler(RandomSampler(range(23), generator=gen(7)), 4,
                                          False)._index_batches()]
    b = list(BatchSampler(RandomSampler(range(23), generator=gen(7)), 4, False))
    assert a == b


def test_batch_sampler_accepts_any_iterable_and_validates():
    assert list(BatchSampler([5, 6, 7], 2, False)) == [[5, 6], [7]]
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ValueError, match="batch_size should be a positive integer"):
            BatchSampler(range(3), bad, False)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(3), 2, 0)


def test_custom_sampler_subclass():
    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def __iter__(self):
            return iter(range(0, self.n, 2))

        def __len__(self):
            return (self.n + 1) // 2

    assert list(BatchSampler(Evens(7), 3, False)) == [[0, 2, 4], [6]]
    with pytest.raises(NotImplementedError):
        iter(Sampler())


def test_overridden_iter_is_respected_by_the_fast_path():
    class Reversed(SequentialSampler):
        def __iter__(self):
            return iter(reversed(range(len(self.data_source))))

    b = BatchSampler(Reversed(range(5)), 2, False)
    assert [x.tolist() for x in b._index_batches()] == [[4, 3], [2, 1], [0]]
