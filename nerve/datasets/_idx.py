"""A strict parser for the IDX format of MNIST and Fashion-MNIST.

Layout (all integers big-endian)::

    bytes 0-1   0x0000
    byte  2     element type: 0x08 = unsigned byte (the only one these datasets use)
    byte  3     number of dimensions n (1 for labels, 3 for images)
    4 .. 4+4n   the n dimension sizes, uint32
    then        prod(sizes) data bytes, and nothing more

So images start with magic 0x00000803 and labels with 0x00000801. Anything else --
wrong magic, a short header, fewer or more data bytes than the header announces --
is refused with the file's name and what is wrong; never a silently wrong array.
"""
from __future__ import annotations

import math

import numpy as np

from ._download import DatasetError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def parse_idx(data: bytes, name: str, ndim: int | None = None) -> np.ndarray:
    """The uint8 array stored in IDX bytes ``data`` (``name`` is used in errors).

    ``ndim`` (1 for labels, 3 for images) is enforced through the magic number.
    The result is a writable array of the header's shape.
    """
    if len(data) < 4:
        raise DatasetError(f"{name}: truncated IDX file: {len(data)} bytes, too short for the "
                           "4-byte magic number")
    magic = int.from_bytes(data[:4], "big")
    if ndim is not None and magic != 0x800 + ndim:
        kind = {1: "labels", 3: "images"}.get(ndim, f"{ndim}-d data")
        raise DatasetError(f"{name}: bad IDX magic number 0x{magic:08x}, expected "
                           f"0x{0x800 + ndim:08x} ({kind} of unsigned bytes)")
    if data[0] or data[1] or data[2] != 0x08 or not 1 <= data[3] <= 8:
        raise DatasetError(f"{name}: bad IDX magic number 0x{magic:08x}, expected 0x000008NN "
                           "(unsigned bytes, NN dimensions)")
    n = data[3]
    head = 4 + 4 * n
    if len(data) < head:
        raise DatasetError(f"{name}: truncated IDX header: {len(data)} bytes, the magic "
                           f"announces {n} dimensions so the header needs {head}")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(n))
    want = math.prod(dims)
    got = len(data) - head
    shape = "x".join(map(str, dims))
    if got < want:
        raise DatasetError(f"{name}: truncated IDX file: the header says {shape} = {want} "
                           f"data bytes, the file has {got} ({want - got} missing)")
    if got > want:
        raise DatasetError(f"{name}: malformed IDX file: {got - want} extra bytes after the "
                           f"{want} data bytes the header ({shape}) announces")
    return np.frombuffer(data, np.uint8, count=want, offset=head).reshape(dims).copy()
