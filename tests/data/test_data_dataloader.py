"""DataLoader: batching, shuffling, drop_last, len, the TensorDataset fast path, options."""
import numpy as np
import pytest
import torch

import nerve
from nerve.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    IterableDataset,
    SequentialSampler,
    Subset,
    TensorDataset,
    default_collate,
    random_split,
)


def make_ds(n=10):
    x = nerve.tensor(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
    y = nerve.arange(n)
    return TensorDataset(x, y)


def slow_collate(batch):  # same result as the default, but disables the fast path
    return default_collate(batch)


def labels(loader):
    return [b[1].numpy().tolist() for b in loader]


class Dicts(Dataset):
    def __len__(self):
        return 5

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float64), "label": i, "w": 0.5 * i, "id": f"s{i}"}


def test_batches_shapes_dtypes_and_last_batch():
    loader = DataLoader(make_ds(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    x, y = batches[-1]
    assert isinstance(batches[0], list)
    assert tuple(x.shape) == (2, 3) and x.dtype == nerve.float32 and y.dtype == nerve.int64
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), np.arange(10))


@pytest.mark.parametrize("n,bs,drop", [(10, 4, False), (10, 4, True), (8, 4, True), (3, 5, True),
                                       (3, 5, False), (7, 1, False)])
def test_len_and_drop_last_match_torch(n, bs, drop):
    ours = DataLoader(make_ds(n), batch_size=bs, drop_last=drop)
    ref = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(n)),
                                      batch_size=bs, drop_last=drop)
    assert len(ours) == len(ref)
    assert labels(ours) == [b[0].tolist() for b in ref]
    assert len(iter(ours)) == len(ref)


def test_shuffle_reproducible_with_seeded_generator():
    ds = make_ds(50)

    def epochs(seed):
        loader = DataLoader(ds, batch_size=8, shuffle=True,
                            generator=nerve.Generator().manual_seed(seed))
        return labels(loader), labels(loader)

    e1, e2 = epochs(0)
    assert epochs(0) == (e1, e2)
    assert e1 != e2  # a new order every epoch
    assert sorted(sum(e1, [])) == list(range(50))
    assert epochs(1)[0] != e1


def test_shuffle_reproducible_with_manual_seed():
    loader = DataLoader(make_ds(40), batch_size=16, shuffle=True)
    nerve.manual_seed(123)
    a = labels(loader)
    nerve.manual_seed(123)
    assert labels(loader) == a


@pytest.mark.parametrize("shuffle,drop", [(False, False), (True, False), (True, True)])
def test_fast_path_equals_per_sample_collation(shuffle, drop):
    ds = make_ds(23)
    kw = dict(batch_size=5, shuffle=shuffle, drop_last=drop)
    fast = list(DataLoader(ds, generator=nerve.Generator().manual_seed(3), **kw))
    slow = list(DataLoader(ds, generator=nerve.Generator().manual_seed(3), collate_fn=slow_collate,
                           **kw))
    assert len(fast) == len(slow)
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype


def test_fast_path_is_used_with_one_gather_per_batch(monkeypatch):
    ds = make_ds(12)
    calls = []
    orig = TensorDataset._fetch_batch

    def spy(self, idx):
        calls.append(idx.tolist())
        return orig(self, idx)

    def no_samples(self, i):
        raise AssertionError("per-sample path used")

    monkeypatch.setattr(TensorDataset, "_fetch_batch", spy)
    monkeypatch.setattr(TensorDataset, "__getitem__", no_samples)
    loader = DataLoader(ds, batch_size=5, shuffle=True, generator=nerve.Generator().manual_seed(0))
    got = labels(loader)
    assert calls == got and [len(c) for c in calls] == [5, 5, 2]


def test_fast_path_batches_are_fresh_arrays():
    ds = make_ds(6)
    x, _ = next(iter(DataLoader(ds, batch_size=3)))
    x.data[...] = -1
    assert ds.tensors[0].numpy().min() >= 0


def test_fast_path_through_random_split_subsets():
    ds = make_ds(30)
    train, val = random_split(ds, [0.8, 0.2], generator=nerve.Generator().manual_seed(0))
    got = sum(labels(DataLoader(train, batch_size=7)), [])
    assert got == list(train.indices)
    ref = sum(labels(DataLoader(train, batch_size=7, collate_fn=slow_collate)), [])
    assert got == ref


def test_tensor_dataset_subclass_with_own_getitem_is_respected():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

    (x, _), = DataLoader(Doubled(*make_ds(2).tensors), batch_size=2)
    np.testing.assert_array_equal(x.numpy(), np.arange(6).reshape(2, 3) * 2)


def test_map_dataset_of_dicts_and_getitems_protocol():
    batch = next(iter(DataLoader(Dicts(), batch_size=3)))
    assert batch["x"].dtype == nerve.float64 and tuple(batch["x"].shape) == (3, 2)
    assert batch["label"].dtype == nerve.int64 and batch["w"].dtype == nerve.float64
    assert batch["id"] == ["s0", "s1", "s2"]

    class Batched(Dicts):
        asked = []

        def __getitems__(self, idx):
            self.asked.append(list(idx))
            return [self[i] for i in idx]

    list(DataLoader(Batched(), batch_size=2))
    assert Batched.asked == [[0, 1], [2, 3], [4]]


def test_batch_size_none_converts_each_sample():
    out = list(DataLoader(Dicts(), batch_size=None))
    assert len(out) == 5 and isinstance(out[0]["x"], nerve.Tensor) and out[0]["label"] == 0
    assert len(DataLoader(Dicts(), batch_size=None)) == 5


def test_custom_sampler_batch_sampler_and_collate():
    ds = make_ds(6)
    assert labels(DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])) == \
        [[5, 4], [3, 2], [1, 0]]
    bs = BatchSampler(SequentialSampler(ds), 4, drop_last=False)
    assert labels(DataLoader(ds, batch_sampler=bs)) == [[0, 1, 2, 3], [4, 5]]
    assert labels(DataLoader(ds, batch_sampler=[[1, 3], [5]])) == [[1, 3], [5]]
    sizes = list(DataLoader(ds, batch_size=4, collate_fn=len))
    assert sizes == [4, 2]


def test_iterable_dataset():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(7))

    assert [b.numpy().tolist() for b in DataLoader(Stream(), batch_size=3)] == \
        [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(TypeError, match="no len"):
        len(DataLoader(Stream(), batch_size=3))

    class Sized(Stream):
        def __len__(self):
            return 7

    assert len(DataLoader(Sized(), batch_size=3)) == 3
    assert len(DataLoader(Sized(), batch_size=3, drop_last=True)) == 2
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_option_validation_like_torch():
    ds = make_ds(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="disables auto-batching"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="batch_size should be a positive integer"):
        DataLoader(ds, batch_size=0)
    loader = DataLoader(ds, batch_size=2)
    with pytest.raises(ValueError, match="batch_size attribute should not be set"):
        loader.batch_size = 3


def test_worker_options_are_accepted_and_load_sequentially():
    loader = DataLoader(make_ds(9), batch_size=4, num_workers=2, pin_memory=True,
                        worker_init_fn=lambda i: None, persistent_workers=True,
                        prefetch_factor=2)
    assert labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]


def test_nerve_utils_data_is_nerve_data():
    from nerve.utils.data.dataloader import default_collate as dc

    import nerve.utils.data as ud
    from nerve.utils.data import DataLoader as DL
    from nerve.utils.data import TensorDataset as TD

    assert DL is DataLoader and TD is TensorDataset and dc is default_collate
    assert nerve.utils.data is ud and nerve.data.Subset is ud.Subset is Subset


def test_fresh_interpreter_imports_torch_spellings():
    import subprocess
    import sys

    code = ("from nerve.utils.data.dataloader import default_collate\n"
            "import nerve as torch, nerve.data.dataloader as d\n"
            "assert default_collate is d.default_collate\n"
            "assert torch.utils.data.DataLoader is d.DataLoader\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
