"""IMDB Large Movie Review Dataset (Maas et al., ACL 2011): 25,000 + 25,000 reviews, binary.

Where the reviews come from, in order:

1. ``train.csv.gz``/``test.csv.gz`` (gzipped or not) in the ``path`` argument,
   ``$NERVE_DATA/imdb/`` or the cache ``~/.cache/nerve/imdb/`` -- the layout of the
   shared data folder: a UTF-8 CSV with header ``id,rating,label,text``, rows sorted by
   label (neg first) then id, ``text`` byte-for-byte the original review;
2. an unpacked ``aclImdb/`` directory (``train/pos/<id>_<rating>.txt``...) there;
3. the original ``aclImdb_v1.tar.gz`` in one of those directories, or
4. downloaded from Stanford (md5- and size-checked) into the cache.

A tarball is read in streaming mode, member by member, in memory: only regular files
named ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` are read, nothing is
written from it (so no member name can reach the file system), links and odd members
are skipped, and the counts are checked (12,500 per label and split). The reviews are
then written to the cache as the two CSV files above (byte-identical to the shared
data's), so the next load is fast.

Three views:

- :func:`load_reviews`: ``((train_texts, train_labels), (test_texts, test_labels))`` --
  raw strings, int64 labels (0 = negative, 1 = positive);
- :class:`IMDB`: a Dataset of ``(text, label)`` (torchtext's ``IMDB(split=...)``);
- :func:`load_data`: Keras's ``imdb.load_data`` word-index form (below).

**The Keras form.** Keras ships the reviews pre-encoded with a pickled word index, which
cannot be loaded safely; nerve builds the index locally from the *training* reviews:
the tokens are :func:`nerve.data.text.words` (lower-cased words, inner apostrophes kept,
``<br />`` tags and other punctuation dropped) and words are ranked by frequency in the
training set, highest first, ties alphabetically, starting at 1 ("the" = 1).
:func:`get_word_index` returns that ``{word: rank}``. :func:`load_data` then follows
Keras's code step for step -- shuffle each split with ``RandomState(seed)``, prepend
``start_char``, shift ranks by ``index_from``, drop sequences not shorter than
``maxlen``, map ranks ``>= num_words`` or ``< skip_top`` to ``oov_char`` -- so with
the defaults index 0 is padding, 1 the start mark, 2 "out of vocabulary", and word
``w`` appears as ``word_index[w] + 3``, exactly as Keras's decoding recipe expects::

    (x, y), _ = load_data(num_words=10000)
    inv = {i + 3: w for w, i in get_word_index().items()}
    " ".join(inv.get(i, "?") for i in x[0][1:])

Test-set words that never occur in the training set map to ``oov_char`` (dropped when
``oov_char=None``). The ranks, hence the ids, are not Keras's own.
"""
from __future__ import annotations

import csv
import gzip
import io
import os
import re
import tarfile
import tempfile
import zlib
from itertools import chain
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..data.dataset import Dataset
from ..data.text.tokenizers import _WORD_RE
from ._download import (
    DatasetError,
    DatasetNotFoundError,
    Resource,
    cache_dir,
    download_file,
    find_file,
    locate,
    search_dirs,
    where_message,
)

__all__ = ["load_reviews", "load_split", "load_data", "get_word_index", "IMDB", "Reviews",
           "read_tarball", "read_directory", "read_csv", "write_csv", "csv_bytes", "URL", "TARBALL"]

NAME = "imdb"
URL = "https://ai.stanford.edu/~amaas/data/sentiment/"
MIRRORS = [URL, "http://ai.stanford.edu/~amaas/data/sentiment/"]
TARBALL = Resource("aclImdb_v1.tar.gz", md5="7c2ac02c03563afcf9b574c7e56c153a", size=84125825)
CSV_FILES = {"train": "train.csv.gz", "test": "test.csv.gz"}
HEADER = ["id", "rating", "label", "text"]
PER_LABEL = 12500          # reviews per (split, label); None skips the count check
_MEMBER = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\d+)_(\d+)\.txt")
_FILE = re.compile(r"(\d+)_(\d+)\.txt")
_MAX_REVIEW_BYTES = 1 << 20


class Reviews(NamedTuple):
    """One split: texts (list of str), labels (int64, 0 neg / 1 pos), ratings (int64,
    1-10) and ids (int64, the ``[id]`` of ``[id]_[rating].txt``)."""

    texts: list
    labels: np.ndarray
    ratings: np.ndarray
    ids: np.ndarray


# --- reading the two formats ---------------------------------------------------------------

def read_csv(path) -> Reviews:
    """A split from the ``id,rating,label,text`` CSV (gzipped or not)."""
    path = Path(path)
    csv.field_size_limit(1 << 24)
    try:
        with open(path, "rb") as raw:
            magic = raw.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            head = next(reader, None)
            if head != HEADER:
                raise DatasetError(f"{path}: expected the header {','.join(HEADER)}, got "
                                   f"{head!r}")
            ids, ratings, labels, texts = [], [], [], []
            for row in reader:
                if len(row) != 4:
                    raise DatasetError(f"{path}, line {reader.line_num}: expected 4 fields, got "
                                       f"{len(row)}")
                ids.append(row[0])
                ratings.append(row[1])
                labels.append(row[2])
                texts.append(row[3])
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{path}: unreadable or truncated ({type(e).__name__}: {e})") from None
    try:
        r = Reviews(texts, np.array(labels, dtype=np.int64), np.array(ratings, dtype=np.int64),
                    np.array(ids, dtype=np.int64))
    except ValueError as e:
        raise DatasetError(f"{path}: a non-integer id, rating or label ({e})") from None
    _check(r, str(path))
    return r


def _check(r: Reviews, where: str, per_label: int | None = None) -> None:
    per_label = PER_LABEL if per_label is None else per_label
    if r.labels.size and not np.isin(r.labels, (0, 1)).all():
        raise DatasetError(f"{where}: labels must be 0 or 1")
    neg, pos = r.labels == 0, r.labels == 1
    if r.ratings.size and ((r.ratings[neg] > 4).any() or (r.ratings[pos] < 7).any()
                           or (r.ratings < 1).any() or (r.ratings > 10).any()):
        raise DatasetError(f"{where}: a rating does not fit its label (neg 1-4, pos 7-10)")
    if per_label and (int(neg.sum()) != per_label or int(pos.sum()) != per_label):
        raise DatasetError(f"{where}: {int(neg.sum())} negative and {int(pos.sum())} positive "
                           f"reviews, expected {per_label} of each (truncated file?)")


def read_tarball(path) -> dict[str, Reviews]:
    """``{"train": Reviews, "test": Reviews}`` from ``aclImdb_v1.tar.gz``, streamed.

    Only regular members named ``aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt`` are
    read (the 50,000 unlabelled reviews and the other files are skipped), in memory;
    nothing is extracted. Rows come out sorted by label, then id, like the CSV files."""
    path = Path(path)
    rows: dict[str, list] = {"train": [], "test": []}
    seen = set()
    try:
        with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for m in tar:
                hit = _MEMBER.fullmatch(m.name)
                if hit is None:
                    continue
                if not m.isreg():
                    raise DatasetError(f"{path}: member {m.name!r} is not a regular file "
                                       "(links are refused)")
                if m.size > _MAX_REVIEW_BYTES:
                    raise DatasetError(f"{path}: member {m.name!r} is {m.size} bytes, not a "
                                       "review")
                if m.name in seen:
                    raise DatasetError(f"{path}: member {m.name!r} appears twice")
                seen.add(m.name)
                f = tar.extractfile(m)
                data = f.read() if f is not None else b""
                if len(data) != m.size:
                    raise DatasetError(f"{path}: member {m.name!r} is truncated")
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DatasetError(f"{path}: member {m.name!r} is not UTF-8 ({e})") from None
                split, lab, rid, rating = hit.groups()
                rows[split].append((int(lab == "pos"), int(rid), int(rating), text))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DatasetError(f"{path}: corrupt or truncated archive ({type(e).__name__}: "
                           f"{e})") from None
    out = {}
    for split, rs in rows.items():
        rs.sort(key=lambda r: (r[0], r[1]))
        rev = Reviews([r[3] for r in rs], np.array([r[0] for r in rs], dtype=np.int64),
                      np.array([r[2] for r in rs], dtype=np.int64),
                      np.array([r[1] for r in rs], dtype=np.int64))
        _check(rev, f"{path} ({split})")
        out[split] = rev
    return out


def csv_bytes(reviews: Reviews) -> bytes:
    """The uncompressed ``id,rating,label,text`` CSV of a split (Python's csv module,
    minimal quoting, ``\\n`` line ends): byte-identical to the shared data files."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    for i, r, y, t in zip(reviews.ids.tolist(), reviews.ratings.tolist(),
                          reviews.labels.tolist(), reviews.texts):
        w.writerow((i, r, y, t))
    return buf.getvalue().encode("utf-8")


def write_csv(reviews: Reviews, dest) -> Path:
    """Write a split as the ``id,rating,label,text`` CSV, gzipped like ``gzip -9 -n``,
    atomically (temp file + rename)."""
    dest = Path(dest)
    data = csv_bytes(reviews)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as g:
                g.write(data)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dest


# --- locating ------------------------------------------------------------------------------

def _is_unpacked(d: Path) -> bool:
    return all((d / s / lab).is_dir() for s in CSV_FILES for lab in ("pos", "neg"))


def read_directory(root) -> dict[str, Reviews]:
    """``{"train": Reviews, "test": Reviews}`` from an unpacked ``aclImdb/`` directory
    (``train/pos/<id>_<rating>.txt``...). Only regular files are read (no symlinks)."""
    root = Path(root)
    out = {}
    for split in CSV_FILES:
        rows = []
        for lab in ("neg", "pos"):
            with os.scandir(root / split / lab) as it:
                for e in it:
                    hit = _FILE.fullmatch(e.name)
                    if hit is None or not e.is_file(follow_symlinks=False):
                        continue
                    with open(e.path, "rb") as f:
                        data = f.read(_MAX_REVIEW_BYTES + 1)
                    if len(data) > _MAX_REVIEW_BYTES:
                        raise DatasetError(f"{e.path}: {len(data)} bytes, not a review")
                    try:
                        text = data.decode("utf-8")
                    except UnicodeDecodeError as err:
                        raise DatasetError(f"{e.path}: not UTF-8 ({err})") from None
                    rows.append((int(lab == "pos"), int(hit[1]), int(hit[2]), text))
        rows.sort(key=lambda r: (r[0], r[1]))
        rev = Reviews([r[3] for r in rows], np.array([r[0] for r in rows], dtype=np.int64),
                      np.array([r[2] for r in rows], dtype=np.int64),
                      np.array([r[1] for r in rows], dtype=np.int64))
        _check(rev, f"{root} ({split})")
        out[split] = rev
    return out


def _resolve(path, download: bool) -> dict:
    """``{split: CSV path}``, converting a found or downloaded tarball (or an unpacked
    ``aclImdb/`` directory) into CSV files in the cache first; ``{split: Reviews}`` when
    the cache can't be written."""
    dirs = search_dirs(NAME, path, extra=("aclImdb",))
    found = locate(list(CSV_FILES.values()), dirs)
    if found is not None:
        return {s: found[f] for s, f in CSV_FILES.items()}
    unpacked = next((d for d in dirs if _is_unpacked(d)), None)
    if unpacked is not None:
        return _to_cache(read_directory(unpacked))
    tar = next((p for d in dirs if (p := find_file(d, TARBALL.filename)) is not None), None)
    if tar is None:
        if not download:
            raise DatasetNotFoundError(
                f"nerve.datasets.{NAME}: reviews not found and download is off; "
                + where_message(NAME, [*CSV_FILES.values(), "or " + TARBALL.filename], dirs))
        dest = Path(path).expanduser() if path is not None else cache_dir(NAME)
        tar = download_file(TARBALL, MIRRORS, dest, label=NAME)
    return _to_cache(read_tarball(tar))


def _to_cache(splits: dict[str, Reviews]) -> dict:
    try:
        return {s: write_csv(splits[s], cache_dir(NAME) / f) for s, f in CSV_FILES.items()}
    except OSError:  # a read-only cache: serve from memory this time
        return splits


def _read(x) -> Reviews:
    return x if isinstance(x, Reviews) else read_csv(x)


def load_split(split: str = "train", path=None, download: bool = True) -> Reviews:
    """One split (``"train"`` or ``"test"``) as :class:`Reviews`."""
    if split not in CSV_FILES:
        raise ValueError(f"imdb.load_split: split must be 'train' or 'test', got {split!r}")
    return _read(_resolve(path, download)[split])


def load_reviews(path=None, download: bool = True):
    """``((train_texts, train_labels), (test_texts, test_labels))``: lists of review
    strings and int64 label arrays (0 negative, 1 positive), each split sorted by label
    then id (shuffle before training).

    Args:
        path: a directory with ``train.csv.gz``/``test.csv.gz``, ``aclImdb_v1.tar.gz``
            or an unpacked ``aclImdb/`` (default: ``$NERVE_DATA/imdb``, then the cache).
        download: fetch the tarball from Stanford (into ``path`` when given, else the
            cache) when nothing is found locally.
    """
    files = _resolve(path, download)
    tr, te = _read(files["train"]), _read(files["test"])
    return (tr.texts, tr.labels), (te.texts, te.labels)


class IMDB(Dataset):
    """The reviews of one split as a Dataset of ``(text, label)`` pairs."""

    def __init__(self, root=None, split: str = "train", download: bool = True) -> None:
        r = load_split(split, root, download)
        self.split = split
        self.texts, self.labels, self.ratings = r.texts, r.labels, r.ratings

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i):
        return self.texts[i], int(self.labels[i])


# --- the Keras word-index form -------------------------------------------------------------

_ENCODED: dict = {}
_CACHE_FILE = "keras_form_v2.npz"


class _AutoId(dict):
    """``d[key]`` is key's number, a new one for a new key (``__missing__`` only runs for
    new keys, so ``map(d.__getitem__, tokens)`` stays a C-level loop)."""

    def __missing__(self, key):
        n = self[key] = len(self)
        return n


def _encode(tr: Reviews, te: Reviews):
    """Tokenize, rank the training words, encode both splits as flat int32 ranks + lengths
    (0 marks a test word unseen in training).

    Same tokens as ``words(text)``, computed faster: texts are split on whitespace into
    chunks (a word never spans whitespace), each distinct chunk is numbered in one C-level
    pass, and the regex runs once per distinct chunk rather than once per occurrence."""
    auto = _AutoId()
    cids, n_chunks = [], []
    for texts in (tr.texts, te.texts):
        chunks = [t.lower().replace("<br />", " ").split() for t in texts]
        n = np.fromiter(map(len, chunks), dtype=np.int64, count=len(chunks))
        cids.append(np.fromiter(map(auto.__getitem__, chain.from_iterable(chunks)),
                                dtype=np.int64, count=int(n.sum())))
        n_chunks.append(n)
        del chunks
    distinct = list(auto)  # in id order
    del auto
    findall = _WORD_RE.findall
    split = [findall(c) for c in distinct]
    chunk_counts = np.bincount(cids[0], minlength=len(distinct)).tolist()
    counts: dict[str, int] = {}
    for ws, k in zip(split, chunk_counts):
        if k:
            for w in ws:
                counts[w] = counts.get(w, 0) + k
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    words = [w for w, _ in ranked]
    word_index = {w: i + 1 for i, w in enumerate(words)}
    get = word_index.get
    # each distinct chunk's word ids back to back in a table
    n_words = np.fromiter(map(len, split), dtype=np.int64, count=len(split))
    table = np.fromiter((get(w, 0) for ws in split for w in ws), dtype=np.int32,
                        count=int(n_words.sum()))
    start = np.cumsum(n_words) - n_words
    out = [words]
    for cid, n in zip(cids, n_chunks):
        per = n_words[cid]
        total = int(per.sum())
        flat = table[np.repeat(start[cid] - (np.cumsum(per) - per), per) + np.arange(total)]
        cum = np.concatenate([[0], np.cumsum(per)])
        lengths = np.diff(np.concatenate([[0], cum[np.cumsum(n)]])).astype(np.int64)
        out += [flat, lengths]
    return tuple(out)


def _encoded(path, download: bool):
    """(word_index, (flat, lengths, labels) train, (...) test), memoised in the process
    and cached as ``keras_form_v2.npz`` (plain arrays, no pickle) in the cache directory."""
    files = _resolve(path, download)
    if any(isinstance(f, Reviews) for f in files.values()):  # nothing to key a cache on
        words, *arrays = _encode(files["train"], files["test"])
        return ({w: i + 1 for i, w in enumerate(words)}, (*arrays[:2], files["train"].labels),
                (*arrays[2:], files["test"].labels))
    stamp = np.array([v for p in files.values() for v in (os.stat(p).st_size,
                                                          os.stat(p).st_mtime_ns)], np.int64)
    key = (tuple(str(Path(p).resolve()) for p in files.values()), tuple(stamp.tolist()))
    hit = _ENCODED.get(key)
    if hit is not None:
        return hit
    tr = read_csv(files["train"])
    te = read_csv(files["test"])
    cache = cache_dir(NAME) / _CACHE_FILE
    words = None
    try:
        with np.load(cache, allow_pickle=False) as z:
            if np.array_equal(z["stamp"], stamp) and str(z["sources"]) == "\n".join(key[0]):
                words = str(z["words"]).split("\n")
                flat_tr, len_tr, flat_te, len_te = (z["flat_tr"], z["len_tr"], z["flat_te"],
                                                    z["len_te"])
    except (OSError, KeyError, ValueError, zlib.error):
        words = None
    if words is None or len_tr.size != len(tr.texts) or len_te.size != len(te.texts):
        words, flat_tr, len_tr, flat_te, len_te = _encode(tr, te)
        _save_cache(cache, stamp=stamp, sources=np.array("\n".join(key[0])),
                    words=np.array("\n".join(words)), flat_tr=flat_tr, len_tr=len_tr,
                    flat_te=flat_te, len_te=len_te)
    word_index = {w: i + 1 for i, w in enumerate(words)}
    _ENCODED.clear()  # keep one dataset's encoding at most
    _ENCODED[key] = (word_index, (flat_tr, len_tr, tr.labels), (flat_te, len_te, te.labels))
    return _ENCODED[key]


def _save_cache(dest: Path, **arrays) -> None:
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError:
        return  # a read-only cache: just don't cache
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, dest)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def get_word_index(path=None, download: bool = True) -> dict[str, int]:
    """``{word: rank}`` of the training reviews (1 = most frequent; see the module
    docstring). Add ``index_from`` (3) to get the ids :func:`load_data` uses."""
    return dict(_encoded(path, download)[0])


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.cumsum(lengths) - lengths


def _gather(flat: np.ndarray, lengths: np.ndarray, order: np.ndarray):
    """The sequences ``order`` (indices) of a flat + lengths encoding, as flat + lengths."""
    lens = lengths[order]
    shift = _offsets(lengths)[order] - _offsets(lens)
    return flat[np.repeat(shift, lens) + np.arange(int(lens.sum()))], lens


def load_data(path=None, num_words: int | None = None, skip_top: int = 0,
              maxlen: int | None = None, seed: int = 113, start_char: int | None = 1,
              oov_char: int | None = 2, index_from: int = 3, download: bool = True, **kwargs):
    """Keras's ``imdb.load_data``: ``((x_train, y_train), (x_test, y_test))``.

    ``x_*`` are object arrays of Python lists of word ids, ``y_*`` int64 label arrays.
    The first call encodes the reviews (seconds) and caches the result.

    Args:
        path: where the reviews are (see :func:`load_reviews`).
        num_words: keep ids below this (the ``num_words - index_from`` commonest words);
            the others become ``oov_char``. ``None``: Keras's rule, ids below the largest.
        skip_top: also map ids below this to ``oov_char`` (the commonest words).
        maxlen: drop sequences whose length (start mark included) is not below this.
        seed: the shuffling seed (Keras: 113).
        start_char: the id prepended to each sequence (``None``: none).
        oov_char: the id of dropped words (``None``: remove them).
        index_from: added to every word rank.
    """
    if kwargs:
        raise TypeError(f"imdb.load_data: unexpected arguments {sorted(kwargs)}")
    _, train, test = _encoded(path, download)
    rng = np.random.RandomState(seed)
    parts = []
    for flat, lengths, labels in (train, test):
        idx = np.arange(len(lengths))
        rng.shuffle(idx)
        f, lens = _gather(flat, lengths, idx)
        y = f.astype(np.int64) + index_from
        y[f == 0] = -1  # words unseen in training: marked, become oov_char below
        if start_char is not None:
            n = len(lens)
            out = np.empty(y.size + n, dtype=np.int64)
            heads = _offsets(lens + 1)
            mask = np.ones(out.size, dtype=bool)
            mask[heads] = False
            out[heads] = start_char
            out[mask] = y
            y, lens = out, lens + 1
        lab = labels[idx]
        if maxlen:
            keep = np.flatnonzero(lens < maxlen)
            y, lens = _gather(y, lens, keep)
            lab = lab[keep]
        parts.append((y, lens, lab))
    if maxlen and (parts[0][1].size == 0 or parts[1][1].size == 0):
        raise ValueError(f"imdb.load_data: after filtering for sequences shorter than "
                         f"maxlen={maxlen}, no sequence was kept; increase maxlen")
    flat = np.concatenate([parts[0][0], parts[1][0]])
    lengths = np.concatenate([parts[0][1], parts[1][1]])
    if not num_words:
        num_words = int(flat.max()) if flat.size else 0
    keep = (flat >= skip_top) & (flat < num_words) & (flat != -1)
    if oov_char is not None:
        flat = np.where(keep, flat, oov_char)
    else:
        seq = np.repeat(np.arange(len(lengths)), lengths)
        flat = flat[keep]
        lengths = np.bincount(seq[keep], minlength=len(lengths)).astype(np.int64)
    values = flat.tolist()
    ends = np.cumsum(lengths).tolist()
    out = np.empty(len(ends), dtype=object)
    a = 0
    for i, b in enumerate(ends):
        out[i] = values[a:b]
        a = b
    n = len(parts[0][1])
    return (out[:n], parts[0][2]), (out[n:], parts[1][2])
