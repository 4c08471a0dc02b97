"""Small real text corpora: sentence polarity, UCI sentiment sentences, tiny Shakespeare.

Each loader reads its files from the ``path`` argument, ``$NERVE_DATA/<name>/`` or the
cache (``~/.cache/nerve/<name>/``), gzipped or not, else downloads the official archive
into the cache. Archives are never extracted: the few members needed are read in memory
by exact name (so no member name reaches the file system).

- :func:`load_rt_polarity` (folder ``rt_polarity/``): 10,662 snippets and labels;
- :func:`load_uci_sentiment` (``uci_sentiment_sentences/``): 3,000 sentences and labels;
- :func:`load_tiny_shakespeare` (``tiny_shakespeare/``): a string of 1,115,394 characters.

Checks: the uncompressed content of the UCI files and of tiny Shakespeare must have the
sha256 published with them (``verify=False`` skips it); the polarity files, whose
published copies differ in a few punctuation bytes (UTF-8 vs. Windows-1252), are
checked by their line counts (5,331 each).
"""
from __future__ import annotations

import hashlib
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._download import (
    DatasetError,
    DatasetNotFoundError,
    Resource,
    cache_dir,
    download_file,
    find_file,
    locate,
    read_file,
    search_dirs,
    where_message,
)

__all__ = ["load_rt_polarity", "load_uci_sentiment", "load_tiny_shakespeare", "read_zip_members",
           "decode_8bit", "RT_POLARITY", "UCI_SENTIMENT", "TINY_SHAKESPEARE"]


# --- shared helpers ------------------------------------------------------------------------

def sha256_check(data: bytes, expected: str | None, where) -> None:
    """Raise DatasetError unless ``data`` hashes to ``expected`` (skipped when None)."""
    if expected is None:
        return
    got = hashlib.sha256(data).hexdigest()
    if got != expected:
        raise DatasetError(f"{where}: checksum mismatch: the content has sha256 {got}, expected "
                           f"{expected}; the file is corrupt or not the original (delete it, or "
                           "pass verify=False)")


def read_zip_members(zip_path, wanted: dict[str, str],
                     max_bytes: int = 1 << 26) -> dict[str, bytes]:
    """``{key: bytes}`` for ``wanted = {key: member name}``, read in memory from a zip.

    Members are looked up by exact name (nothing is extracted); each must be a file no
    larger than ``max_bytes`` and must decompress to its stated size and CRC."""
    out = {}
    try:
        with zipfile.ZipFile(zip_path) as z:
            names = {i.filename: i for i in z.infolist()}
            for key, name in wanted.items():
                info = names.get(name)
                if info is None or info.is_dir():
                    raise DatasetError(f"{zip_path}: archive lacks {name!r}")
                if info.file_size > max_bytes:
                    raise DatasetError(f"{zip_path}: member {name!r} is {info.file_size} bytes, "
                                       f"more than the {max_bytes} expected")
                out[key] = z.read(info)  # checks the CRC
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{zip_path}: corrupt or truncated archive ({e})") from None
    return out


def read_tar_members_streaming(tar_path, wanted: dict[str, str],
                               max_bytes: int = 1 << 26) -> dict[str, bytes]:
    """Like :func:`read_zip_members` for a (compressed) tar, read in streaming mode."""
    by_name = {v: k for k, v in wanted.items()}
    out = {}
    try:
        with open(tar_path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            for m in tar:
                key = by_name.get(m.name)
                if key is None:
                    continue
                if not m.isreg() or m.size > max_bytes:
                    raise DatasetError(f"{tar_path}: member {m.name!r} is not a regular file of "
                                       "the expected size")
                f = tar.extractfile(m)
                data = f.read() if f is not None else b""
                if len(data) != m.size:
                    raise DatasetError(f"{tar_path}: member {m.name!r} is truncated")
                out[key] = data
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        if isinstance(e, DatasetError):
            raise
        raise DatasetError(f"{tar_path}: corrupt or truncated archive ({e})") from None
    missing = [wanted[k] for k in wanted if k not in out]
    if missing:
        raise DatasetError(f"{tar_path}: archive lacks {missing}")
    return out


def _download_dir(name: str, path) -> Path:
    """Where a download goes: the ``path`` argument when given (as in ``mnist``), else
    the cache."""
    return Path(path).expanduser() if path is not None else cache_dir(name)


def decode_8bit(data: bytes) -> str:
    """UTF-8 if the bytes are valid UTF-8, else Windows-1252, else Latin-1 (which
    decodes anything): the encodings the sentence-polarity files circulate in."""
    for enc in ("utf-8", "cp1252"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            pass
    return data.decode("latin-1")


def _local_or_archive(name: str, files: list[str], path, archive: Resource, mirrors,
                      download: bool):
    """``("files", {filename: path})`` when all files sit in one local directory, else
    ``("archive", path)`` of a local or freshly downloaded archive."""
    dirs = search_dirs(name, path)
    found = locate(files, dirs)
    if found is not None:
        return "files", found
    arc = next((p for d in dirs if (p := find_file(d, archive.filename)) is not None), None)
    if arc is None:
        if not download:
            raise DatasetNotFoundError(
                f"nerve.datasets.{name}: files not found and download is off; "
                + where_message(name, [*files, "or " + archive.filename], dirs))
        arc = download_file(archive, mirrors, _download_dir(name, path), label=name)
    return "archive", arc


# --- sentence polarity (Pang & Lee) --------------------------------------------------------

RT_POLARITY = {
    "name": "rt_polarity",
    "files": {"neg": "rt-polarity.neg", "pos": "rt-polarity.pos"},
    "members": {"neg": "rt-polaritydata/rt-polarity.neg", "pos": "rt-polaritydata/rt-polarity.pos"},
    "archive": Resource("rt-polaritydata.tar.gz"),  # no published checksum: lines are counted
    "mirrors": ["https://www.cs.cornell.edu/people/pabo/movie-review-data/",
                "http://www.cs.cornell.edu/people/pabo/movie-review-data/"],
    "lines": 5331,
}


def _lines(data: bytes) -> list[str]:
    text = decode_8bit(data)
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


def load_rt_polarity(path=None, download: bool = True, verify: bool = True):
    """``(texts, labels)``: the 10,662 Rotten Tomatoes snippets (lower-cased, tokens
    separated by spaces) and int64 labels, the 5,331 negatives (0) first, then the
    5,331 positives (1), each in file order. There is no official split.

    Files: ``rt-polarity.neg``/``.pos`` (UTF-8 or the original 8-bit encoding), or the
    Cornell ``rt-polaritydata.tar.gz``."""
    spec = RT_POLARITY
    kind, where = _local_or_archive(spec["name"], list(spec["files"].values()), path,
                                    spec["archive"], spec["mirrors"], download)
    if kind == "files":
        blobs = {k: read_file(where[f]) for k, f in spec["files"].items()}
        origin = {k: where[f] for k, f in spec["files"].items()}
    else:
        blobs = read_tar_members_streaming(where, spec["members"])
        origin = {k: f"{where}:{m}" for k, m in spec["members"].items()}
    texts, labels = [], []
    for label, key in ((0, "neg"), (1, "pos")):
        lines = _lines(blobs[key])
        if verify and len(lines) != spec["lines"]:
            raise DatasetError(f"{origin[key]}: {len(lines)} snippets, expected {spec['lines']}")
        texts += lines
        labels += [label] * len(lines)
    return texts, np.array(labels, dtype=np.int64)


# --- UCI sentiment labelled sentences ------------------------------------------------------

UCI_SENTIMENT = {
    "name": "uci_sentiment_sentences",
    "files": {"amazon": "amazon_cells_labelled.txt", "imdb": "imdb_labelled.txt",
              "yelp": "yelp_labelled.txt"},
    "sha256": {"amazon": "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3",
               "imdb": "aef2e49e3da25714d61175e3a6e68eeef74a20a2f914318dc3be9947ea86512d",
               "yelp": "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea"},
    "archive": Resource("sentiment+labelled+sentences.zip",
                        sha256="afc26626d710899948693e1a61405dce197f57ffa719fa1130d346b4cc095343"),
    "mirrors": ["https://archive.ics.uci.edu/static/public/331/"],
    "member_dir": "sentiment labelled sentences/",
}


def _parse_labelled(data: bytes, where) -> tuple[list[str], list[int]]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{where}: not UTF-8 ({e})") from None
    texts, labels = [], []
    # split on "\n" only: str.splitlines() would also break at the U+0085 in the text
    for i, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        sentence, sep, label = line.rstrip("\r").rpartition("\t")
        if not sep or label.strip() not in ("0", "1"):
            raise DatasetError(f"{where}, line {i}: expected 'sentence<TAB>0|1', got "
                               f"{line[:60]!r}")
        texts.append(sentence.strip())
        labels.append(int(label))
    return texts, labels


def load_uci_sentiment(path=None, source: str = "all", download: bool = True,
                       verify: bool = True, return_source: bool = False):
    """``(texts, labels)`` of the UCI "Sentiment Labelled Sentences" (CC BY 4.0).

    Args:
        source: ``"amazon"``, ``"imdb"``, ``"yelp"`` (1,000 sentences each, 500 per
            label) or ``"all"`` (the three, in that order: 3,000).
        verify: check the files' sha256.
        return_source: also return the source name of each sentence (a str array).
    """
    spec = UCI_SENTIMENT
    keys = list(spec["files"]) if source == "all" else [source]
    if any(k not in spec["files"] for k in keys):
        raise ValueError(f"load_uci_sentiment: source must be 'all' or one of "
                         f"{list(spec['files'])}, got {source!r}")
    kind, where = _local_or_archive(spec["name"], list(spec["files"].values()), path,
                                    spec["archive"], spec["mirrors"], download)
    if kind == "files":
        blobs = {k: read_file(where[spec["files"][k]]) for k in keys}
        origin = {k: where[spec["files"][k]] for k in keys}
    else:
        blobs = read_zip_members(where, {k: spec["member_dir"] + spec["files"][k] for k in keys})
        origin = {k: f"{where}:{spec['files'][k]}" for k in keys}
    texts, labels, sources = [], [], []
    for k in keys:
        if verify:
            sha256_check(blobs[k], spec["sha256"][k], origin[k])
        t, y = _parse_labelled(blobs[k], origin[k])
        texts += t
        labels += y
        sources += [k] * len(t)
    out = (texts, np.array(labels, dtype=np.int64))
    return out + (np.array(sources),) if return_source else out


# --- tiny Shakespeare ----------------------------------------------------------------------

TINY_SHAKESPEARE = {
    "name": "tiny_shakespeare",
    "resource": Resource("input.txt"),
    "sha256": "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
    "mirrors": ["https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"],
}


def load_tiny_shakespeare(path=None, download: bool = True, verify: bool = True) -> str:
    """The 1,115,394 characters of Karpathy's ``input.txt`` (65 distinct characters).
    The usual split: the first 90% for training, the last 10% for validation."""
    spec = TINY_SHAKESPEARE
    res: Resource = spec["resource"]
    dirs = search_dirs(spec["name"], path)
    found = locate([res.filename], dirs)
    if found is not None:
        p = found[res.filename]
    elif download:
        p = download_file(Resource(res.filename, sha256=spec["sha256"]), spec["mirrors"],
                          _download_dir(spec["name"], path), label=spec["name"])
    else:
        raise DatasetNotFoundError(f"nerve.datasets.{spec['name']}: input.txt not found and "
                                   "download is off; "
                                   + where_message(spec["name"], [res.filename], dirs))
    data = read_file(Path(p))
    if verify:
        sha256_check(data, spec["sha256"], p)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{p}: not UTF-8 text ({e})") from None
