"""MovieLens 100K against the real files in shared/data/ml-100k (read in place: the licence
forbids copying them), and the zip path on a small synthetic archive."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import nerve
from nerve.datasets import movielens as ml
from nerve.datasets._download import DatasetError, DatasetNotFoundError

SHARED = Path("/work/shared/data")
pytestmark = pytest.mark.skipif(not (SHARED / "ml-100k").is_dir(), reason="no ml-100k")


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("NERVE_DATA", str(SHARED))
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def ratings():
    return ml.load_ratings(path=SHARED / "ml-100k", download=False)


def test_ratings_counts(ratings):
    r = ratings
    assert len(r) == 100000 and r.user.dtype == np.int64 and r.timestamp.dtype == np.int64
    assert np.unique(r.user).tolist() == list(range(1, 944))
    assert np.unique(r.item).tolist() == list(range(1, 1683))
    assert np.bincount(r.rating)[1:].tolist() == [6110, 11370, 27145, 34174, 21201]
    assert len(set(zip(r.user.tolist(), r.item.tolist()))) == 100000
    assert (r.user[0], r.item[0], r.rating[0], r.timestamp[0]) == (196, 242, 3, 881250949)


def _keys(r):
    return r.user * 10000 + r.item


def test_u1_split_rebuilt(ratings):
    train, test = ml.load_split("u1", path=SHARED / "ml-100k", download=False)
    assert len(train) == 80000 and len(test) == 20000  # the README's sizes
    for part in (train, test):
        assert np.all(np.diff(_keys(part)) > 0)  # sorted by (user, item)
    first = ratings.subset(slice(0, 20000)).sorted()
    for f in ("user", "item", "rating", "timestamp"):
        assert np.array_equal(getattr(test, f), getattr(first, f))
    both = np.sort(np.concatenate([_keys(train), _keys(test)]))
    assert np.array_equal(both, np.sort(_keys(ratings)))


def test_five_folds_partition(ratings):
    tests = []
    for train, test in ml.folds(ratings=ratings):
        assert len(train) == 80000 and len(test) == 20000
        assert not np.intersect1d(_keys(train), _keys(test)).size
        tests.append(_keys(test))
    allk = np.concatenate(tests)
    assert np.unique(allk).size == 100000
    assert np.array_equal(np.sort(allk), np.sort(_keys(ratings)))


def test_ua_split_items_users(env):
    base, test = ml.load_split("ua", download=False)
    assert len(base) == 90570 and len(test) == 9430
    assert np.bincount(test.user)[1:].tolist() == [10] * 943
    items = ml.load_items(download=False)
    assert len(items.titles) == 1682 and items.ids.tolist() == list(range(1, 1683))
    assert items.titles[0] == "Toy Story (1995)" and items.genres.shape == (1682, 19)
    assert "Misérables, Les (1995)" in items.titles  # Latin-1 decoded
    assert items.genres[0, ml.GENRES.index("Animation")] == 1
    users = ml.load_users(download=False)
    assert len(users.ids) == 943 and users.ages[0] == 24 and users.genders[:2] == ["M", "F"]
    assert users.occupations[0] == "technician"
    with pytest.raises(ValueError, match="u1..u5, ua or ub"):
        ml.load_split("u9")
    with pytest.raises(DatasetNotFoundError, match="ub.base"):
        ml.load_split("ub", download=False)


def test_to_dataset(ratings):
    ds = ratings.subset(slice(0, 10)).to_dataset()
    u, i, r = ds[0]
    assert u.dtype == nerve.int64 and i.dtype == nerve.int64 and r.dtype == nerve.float32
    assert (int(u.item()), int(i.item()), float(r.item())) == (195, 241, 3.0)


def _synthetic_zip(path: Path, lines: list[str]):
    """A made-up ml-100k.zip (not GroupLens data) to exercise the zip path."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ml-100k/u.data", "".join(lines))
        z.writestr("ml-100k/u.item",
                   ("1|Caf\xe9 Movie (1999)|01-Jan-1999||http://x|" + "|".join("0" * 19)
                    + "\n").encode("latin-1"))
        z.writestr("ml-100k/u.user", "1|30|F|writer|12345\n")


def test_zip_source(tmp_path, monkeypatch):
    monkeypatch.delenv("NERVE_DATA", raising=False)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))
    _synthetic_zip(tmp_path / "ml-100k.zip", ["1\t1\t5\t100\n", "2\t1\t3\t200\n"])
    r = ml.load_ratings(path=tmp_path, download=False, verify=False)
    assert r.user.tolist() == [1, 2] and r.rating.tolist() == [5, 3]
    with pytest.raises(DatasetError, match="checksum mismatch"):
        ml.load_ratings(path=tmp_path, download=False)
    assert ml.load_items(path=tmp_path, download=False, verify=False).titles == \
        ["Caf\u00e9 Movie (1999)"]
    _synthetic_zip(tmp_path / "ml-100k.zip", ["1\t1\t5\n"])
    with pytest.raises(DatasetError, match="4 tab-separated integers"):
        ml.load_ratings(path=tmp_path, download=False, verify=False)
    _synthetic_zip(tmp_path / "ml-100k.zip", ["1\t1\t9\t1\n"])
    with pytest.raises(DatasetError, match="ratings must be 1-5"):
        ml.load_ratings(path=tmp_path, download=False, verify=False)
    with pytest.raises(DatasetNotFoundError, match="download is off"):
        ml.load_ratings(path=tmp_path / "nothing", download=False)
