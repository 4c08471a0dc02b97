"""CIFAR-10 (Krizhevsky 2009): 50,000 + 10,000 colour images 32x32 in 10 classes.

nerve reads only the *binary* version (``cifar-10-binary.tar.gz``, folder
``cifar-10-batches-bin/``): the "python version" is pickled, and unpickling a file
can execute code. Each batch file is a sequence of 3073-byte records::

    byte 0          label, 0..9
    bytes 1..3072   the image, channel-major: 1024 red, 1024 green, 1024 blue bytes,
                    each plane row-major 32x32

``load_data()`` returns ``((x_train, y_train), (x_test, y_test))`` with images uint8
(N, 32, 32, 3) channels-last as Keras does, and labels uint8 (N,).

Checksum: the md5 of ``cifar-10-binary.tar.gz`` published on the dataset's page
(https://www.cs.toronto.edu/~kriz/cifar.html), with its size, 170,052,171 bytes.
"""
from __future__ import annotations

import numpy as np

from ._download import (
    DatasetError,
    DatasetNotFoundError,
    Resource,
    cache_dir,
    download_file,
    find_file,
    read_file,
    read_tar_members,
    safe_extract,
    search_dirs,
    verify_file,
    where_message,
)

NAME = "cifar10"
MIRRORS = ["https://www.cs.toronto.edu/~kriz/", "https://cave.cs.toronto.edu/kriz/"]
ARCHIVE = Resource("cifar-10-binary.tar.gz", md5="c32a1d4ab5d03f1284b67883e8d87530",
                   size=170052171)
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST_FILES = ["test_batch.bin"]
RECORD_BYTES = 1 + 3 * 32 * 32
RECORDS_PER_BATCH = 10000  # every official batch holds exactly this many
NUM_CLASSES = 10
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]


def parse_batch(data: bytes, name: str, records: int | None = None):
    """``(images (N, 32, 32, 3) uint8, labels (N,) uint8)`` from one binary batch.

    Refuses a size that is not a whole number of records, a record count other than
    ``records`` (when given), and labels above 9 -- naming the file and the problem.
    """
    n, extra = divmod(len(data), RECORD_BYTES)
    if extra or n == 0:
        raise DatasetError(f"{name}: malformed or truncated CIFAR-10 batch: {len(data)} bytes "
                           f"is not a whole number of {RECORD_BYTES}-byte records ({n} records "
                           f"+ {extra} bytes)")
    if records is not None and n != records:
        raise DatasetError(f"{name}: CIFAR-10 batch has {n} records, expected {records}")
    rec = np.frombuffer(data, np.uint8).reshape(n, RECORD_BYTES)
    labels = rec[:, 0].copy()
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        raise DatasetError(f"{name}: record {int(bad[0])} has label {int(labels[bad[0]])}, "
                           f"expected 0..{NUM_CLASSES - 1}")
    images = np.ascontiguousarray(rec[:, 1:].reshape(n, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def _find(dirs, names):
    """('bins', {name: path}) or ('tar', path) for the first directory that has either;
    and a note when only the pickled python version was seen."""
    note = ""
    for d in dirs:
        for sub in (d / FOLDER, d):
            found = {n: find_file(sub, n) for n in names}
            if all(found.values()):
                return ("bins", found), note
        tar = find_file(d, ARCHIVE.filename) or find_file(d, "cifar-10-binary.tar")
        if tar is not None:
            return ("tar", tar), note
        for py in ("cifar-10-batches-py", "cifar-10-python.tar.gz"):
            if (d / py).exists():
                note = (f"\n(found {d / py}: that is the pickled 'python version', which nerve "
                        f"never loads because unpickling can execute code; get the binary "
                        f"version {ARCHIVE.filename} instead)")
    return None, note


def _max_bytes():
    return None if RECORDS_PER_BATCH is None else RECORD_BYTES * RECORDS_PER_BATCH


def load_split(train: bool, path=None, download: bool = True, verify: bool = True,
               dirs=None, download_dir=None):
    """``(images, labels)`` of the training (5 batches) or test split."""
    names = TRAIN_FILES if train else TEST_FILES
    if dirs is None:
        dirs = search_dirs(NAME, path)
    if download_dir is None:
        download_dir = dirs[0] if path is not None else cache_dir(NAME)
    where, note = _find(dirs, names)
    if where is None:
        if not download:
            raise DatasetNotFoundError(
                f"nerve.datasets.{NAME}: files not found and download is off; "
                + where_message(NAME, [ARCHIVE.filename + f" (or {FOLDER}/*.bin)"], dirs) + note)
        tar = download_file(ARCHIVE, MIRRORS, download_dir, label=NAME)
        safe_extract(tar, download_dir, [f"{FOLDER}/{n}" for n in TRAIN_FILES + TEST_FILES],
                     max_bytes=_max_bytes())
        where = ("bins", {n: download_dir / FOLDER / n for n in names})
    if where[0] == "bins":
        blobs = {str(p): read_file(p) for p in where[1].values()}
    else:
        tar = where[1]
        if verify and tar.name == ARCHIVE.filename:
            verify_file(tar, ARCHIVE)
        inner = read_tar_members(tar, [f"{FOLDER}/{n}" for n in names], max_bytes=_max_bytes())
        blobs = {f"{tar}:{k}": v for k, v in inner.items()}
    parts = [parse_batch(b, name, RECORDS_PER_BATCH) for name, b in blobs.items()]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
    return images, labels


def load_data(path=None, download: bool = True, verify: bool = True):
    """``((x_train, y_train), (x_test, y_test))``: uint8 (50000, 32, 32, 3), (50000,),
    (10000, 32, 32, 3), (10000,).

    Args:
        path: directory holding ``cifar-10-binary.tar.gz`` or the extracted
            ``cifar-10-batches-bin/*.bin``; default ``$NERVE_DATA/cifar10``, then the cache.
        download: fetch the archive from the official site (into ``path`` or the cache) and
            extract its six batch files when nothing is found locally.
        verify: check the archive's md5 when reading it.
    """
    return (load_split(True, path, download, verify), load_split(False, path, download, verify))


__all__ = ["load_data", "load_split", "parse_batch", "MIRRORS", "ARCHIVE", "CLASSES"]
