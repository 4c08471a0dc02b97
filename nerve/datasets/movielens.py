"""MovieLens 100K (GroupLens): 100,000 ratings 1-5 by 943 users on 1,682 movies.

**Licence: research use only, no redistribution** -- nerve never ships these files; it
reads them from the ``path`` argument, ``$NERVE_DATA/ml-100k/`` or the cache, or
downloads ``ml-100k.zip`` from GroupLens (md5-checked) into the cache and reads the
members it needs from the zip in memory (nothing is extracted). The contents of
``u.data``, ``u.item``, ``u.user`` and ``ua.base``/``ua.test`` are checked against their
published sha256 (``verify=False`` skips it).

- :func:`load_ratings`: :class:`Ratings` -- ``user``, ``item``, ``rating``,
  ``timestamp`` int64 arrays in ``u.data`` order (ids start at 1).
- :func:`load_split`: ``(train, test)`` of the official splits. ``u1``..``u5`` are
  rebuilt from ``u.data`` exactly as GroupLens made them: ``u{i}.test`` is lines
  ``(i-1)*20000+1 .. i*20000`` of ``u.data`` and ``u{i}.base`` the other 80,000, both
  sorted by (user, item) -- byte-identical to the official files. ``ua``/``ub`` (10
  ratings per user in the test set) are read from their files.
- :func:`folds`: the five ``(train, test)`` pairs ``u1``..``u5`` (a 5-fold
  cross-validation: the test sets partition the data).
- :func:`load_items`, :func:`load_users`: titles (Latin-1 decoded), release dates,
  genres; ages, genders, occupations, zip codes.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ._download import (
    DatasetError,
    DatasetNotFoundError,
    Resource,
    download_file,
    find_file,
    read_file,
    search_dirs,
    where_message,
)
from .text_corpora import _download_dir, read_zip_members, sha256_check

__all__ = ["Ratings", "Items", "Users", "load_ratings", "load_split", "folds", "load_items",
           "load_users", "GENRES", "ZIP"]

NAME = "ml-100k"
MIRRORS = ["https://files.grouplens.org/datasets/movielens/"]
ZIP = Resource("ml-100k.zip", md5="0e33842e24a9c977be4e0107933c0723")
SHA256 = {  # of the uncompressed files (the shared data README)
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
}
N_USERS, N_ITEMS, N_RATINGS = 943, 1682, 100000
FOLD_SIZE = 20000
GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]


@dataclass(frozen=True)
class Ratings:
    """Ratings as four aligned int64 arrays; ``len(r)`` is the number of ratings."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, index) -> Ratings:
        """The ratings at ``index`` (indices or a boolean mask)."""
        return Ratings(self.user[index], self.item[index], self.rating[index],
                       self.timestamp[index])

    def sorted(self) -> Ratings:
        """Sorted by (user, item), the order of the official split files."""
        return self.subset(np.lexsort((self.item, self.user)))

    def to_dataset(self, zero_based: bool = True):
        """A ``TensorDataset`` of (user, item) int64 tensors and float32 ratings; ids
        shifted to start at 0 when ``zero_based`` (embedding rows)."""
        from ..data.dataset import TensorDataset
        off = 1 if zero_based else 0
        return TensorDataset(self.user - off, self.item - off, self.rating.astype(np.float32))


@dataclass(frozen=True)
class Items:
    """Movies: ``ids`` (int64), ``titles``, ``release_dates``, ``video_release_dates``,
    ``urls`` (lists of str) and ``genres`` ((n, 19) uint8 flags, columns ``GENRES``)."""

    ids: np.ndarray
    titles: list
    release_dates: list
    video_release_dates: list
    urls: list
    genres: np.ndarray


@dataclass(frozen=True)
class Users:
    """Users: ``ids``, ``ages`` (int64), ``genders``, ``occupations``, ``zip_codes``
    (lists of str)."""

    ids: np.ndarray
    ages: np.ndarray
    genders: list
    occupations: list
    zip_codes: list


# --- locating ------------------------------------------------------------------------------

class _Source:
    """Reads the files of the dataset from a directory or from ``ml-100k.zip``."""

    def __init__(self, path, download: bool) -> None:
        self.dirs = search_dirs(NAME, path)
        self.dir = next((d for d in self.dirs if find_file(d, "u.data") is not None), None)
        self.zip = None
        if self.dir is None:
            self.zip = next((p for d in self.dirs if (p := find_file(d, ZIP.filename))), None)
            if self.zip is None:
                if not download:
                    raise DatasetNotFoundError(
                        f"nerve.datasets.{NAME}: u.data not found and download is off; "
                        + where_message(NAME, ["u.data, u.item, u.user", "or ml-100k.zip"],
                                        self.dirs))
                self.zip = download_file(ZIP, MIRRORS, _download_dir(NAME, path), label=NAME)

    def read(self, filename: str, verify: bool) -> tuple[bytes, str]:
        if self.dir is not None:
            p = find_file(self.dir, filename)
            if p is None:
                raise DatasetNotFoundError(f"nerve.datasets.{NAME}: {self.dir} has u.data but "
                                           f"not {filename} (gzipped or not)")
            data, where = read_file(p), str(p)
        else:
            data = read_zip_members(self.zip, {"f": f"ml-100k/{filename}"})["f"]
            where = f"{self.zip}:ml-100k/{filename}"
        if verify:
            sha256_check(data, SHA256.get(filename), where)
        return data, where


def _parse_ratings(data: bytes, where: str) -> Ratings:
    try:
        a = np.array(data.split(), dtype=np.int64)
    except ValueError:
        raise DatasetError(f"{where}: a field is not an integer") from None
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if a.size != 4 * lines:
        raise DatasetError(f"{where}: expected 4 tab-separated integers per line, got "
                           f"{a.size} numbers on {lines} lines")
    a = a.reshape(-1, 4)
    r = Ratings(a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy())
    if len(r) and (r.rating.min() < 1 or r.rating.max() > 5 or r.user.min() < 1
                   or r.item.min() < 1):
        raise DatasetError(f"{where}: ratings must be 1-5 and ids start at 1")
    return r


# --- public loaders ------------------------------------------------------------------------

def load_ratings(path=None, download: bool = True, verify: bool = True) -> Ratings:
    """All 100,000 ratings of ``u.data``, in file order."""
    data, where = _Source(path, download).read("u.data", verify)
    r = _parse_ratings(data, where)
    if verify and len(r) != N_RATINGS:
        raise DatasetError(f"{where}: {len(r)} ratings, expected {N_RATINGS}")
    return r


def _fold(r: Ratings, i: int) -> tuple[Ratings, Ratings]:
    test = np.zeros(len(r), dtype=bool)
    test[(i - 1) * FOLD_SIZE:i * FOLD_SIZE] = True
    return r.subset(~test).sorted(), r.subset(test).sorted()


def load_split(name: str = "u1", path=None, download: bool = True,
               verify: bool = True) -> tuple[Ratings, Ratings]:
    """``(train, test)`` of an official split: ``"u1"``..``"u5"`` (80,000 / 20,000,
    rebuilt from ``u.data``), ``"ua"``/``"ub"`` (90,570 / 9,430, read from
    ``ua.base``/``ua.test`` or ``ub.*``)."""
    if name in ("u1", "u2", "u3", "u4", "u5"):
        return _fold(load_ratings(path, download, verify), int(name[1]))
    if name in ("ua", "ub"):
        src = _Source(path, download)
        out = []
        for part in ("base", "test"):
            data, where = src.read(f"{name}.{part}", verify)
            out.append(_parse_ratings(data, where))
        return out[0], out[1]
    raise ValueError(f"movielens.load_split: name must be u1..u5, ua or ub, got {name!r}")


def folds(path=None, download: bool = True, verify: bool = True,
          ratings: Ratings | None = None) -> Iterator[tuple[Ratings, Ratings]]:
    """The five ``(train, test)`` splits u1..u5 in order (``u.data`` is read once)."""
    r = ratings if ratings is not None else load_ratings(path, download, verify)
    for i in range(1, 6):
        yield _fold(r, i)


def _pipe_rows(data: bytes, where: str, fields: int) -> list[list[str]]:
    text = data.decode("latin-1")  # u.item is ISO-8859-1; the others are ASCII
    rows = []
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        parts = line.rstrip("\r").split("|")
        if len(parts) != fields:
            raise DatasetError(f"{where}, line {i}: expected {fields} '|'-separated fields, "
                               f"got {len(parts)}")
        rows.append(parts)
    return rows


def load_items(path=None, download: bool = True, verify: bool = True) -> Items:
    """The 1,682 movies of ``u.item`` (titles decoded from Latin-1)."""
    data, where = _Source(path, download).read("u.item", verify)
    rows = _pipe_rows(data, where, 5 + len(GENRES))
    try:
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        genres = np.array([r[5:] for r in rows], dtype=np.uint8)
    except ValueError:
        raise DatasetError(f"{where}: a movie id or genre flag is not an integer") from None
    return Items(ids, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows],
                 [r[4] for r in rows], genres)


def load_users(path=None, download: bool = True, verify: bool = True) -> Users:
    """The 943 users of ``u.user``."""
    data, where = _Source(path, download).read("u.user", verify)
    rows = _pipe_rows(data, where, 5)
    try:
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        ages = np.array([r[1] for r in rows], dtype=np.int64)
    except ValueError:
        raise DatasetError(f"{where}: a user id or age is not an integer") from None
    return Users(ids, ages, [r[2] for r in rows], [r[3] for r in rows], [r[4] for r in rows])


