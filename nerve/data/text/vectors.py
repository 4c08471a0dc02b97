"""Pretrained word vectors from GloVe / word2vec *text* files, aligned to a Vocab.

The file format (one vector per line, fields separated by single spaces)::

    [N D]                      word2vec only: a header with the counts (optional here)
    the 0.418 0.24968 -0.41242 ...        the word, then D numbers

GloVe files have no header; word2vec's ``-binary 0`` output has one. The dimension D is
taken from the header or the first line (or given as ``dim=``), and every line is split
on its **last** D spaces, so a word may itself contain spaces (GloVe 840B has such
entries). Trailing spaces (word2vec writes one) and blank lines are ignored; gzip and
``.zip`` (pick the ``member``) are read directly. A malformed line -- too few fields, a
number that does not parse -- stops the load with an error naming the file and line.

:meth:`Vectors.align` builds the embedding matrix for a :class:`Vocab`: the row of a
token found in the file is its vector (trying ``token.lower()`` when the exact token
is missing); other rows are drawn from N(0, std^2) or set to zero, and the padding
token's row is zero. :func:`pretrained_embedding` wraps the matrix in
``nerve.nn.Embedding.from_pretrained``.
"""
from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..dataset import _np_rng
from .vocab import Vocab

__all__ = ["Vectors", "AlignedVectors", "load_vectors", "pretrained_embedding"]

_CHUNK = 8192  # lines converted to float per NumPy call


class AlignedVectors(NamedTuple):
    """An embedding matrix for a vocab: ``weights[i]`` is token ``i``'s vector.

    ``found[i]`` says whether token ``i`` had a pretrained vector; ``coverage`` is the
    fraction of the vocab that did; ``missing`` lists the tokens without one (in index
    order)."""

    weights: np.ndarray
    found: np.ndarray
    coverage: float
    missing: list


class Vectors:
    """Word vectors: ``itos`` (the words, file order) and ``vectors`` (N, D) float32.

    ``vectors["word"]`` is the word's vector (``KeyError`` if absent),
    ``"word" in vectors`` tests membership.
    """

    def __init__(self, itos: list[str], vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(itos):
            raise ValueError(f"Vectors: expected a ({len(itos)}, D) matrix for {len(itos)} "
                             f"words, got shape {vectors.shape}")
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.vectors = vectors

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word) -> bool:
        return word in self.stoi

    def __getitem__(self, word: str) -> np.ndarray:
        i = self.stoi.get(word)
        if i is None:
            raise KeyError(f"Vectors: no vector for {word!r} ({len(self)} words loaded)")
        return self.vectors[i]

    def __repr__(self) -> str:
        return f"Vectors({len(self)} words, dim={self.dim})"

    @classmethod
    def load(cls, path, words: Iterable[str] | None = None, dim: int | None = None,
             max_vectors: int | None = None, encoding: str = "utf-8",
             member: str | None = None) -> Vectors:
        """Read a GloVe/word2vec text file (see the module docstring).

        Args:
            path: the file (plain, ``.gz``, or a ``.zip`` holding it).
            words: keep only these words (and any word equal to one of them
                lower-cased); saves memory on big files. ``None`` keeps all.
            dim: the vector size, when the file has no header and its first line can't
                tell (a first word containing spaces).
            max_vectors: read at most this many lines of vectors (files are sorted by
                frequency, so this keeps the commonest words).
            encoding: the text encoding (GloVe and word2vec files are UTF-8).
            member: the file inside a ``.zip`` (needed when it holds several).
        """
        return _parse(path, words, dim, max_vectors, encoding, member)

    def align(self, vocab: Vocab, unk_init: str = "normal", std: float | None = None,
              generator=None, zero_tokens: Iterable[str] = ("<pad>",),
              lower_fallback: bool = True) -> AlignedVectors:
        """The (len(vocab), D) float32 matrix for ``vocab``.

        Args:
            unk_init: ``"normal"`` (rows of tokens without a vector drawn from
                N(0, std^2)) or ``"zeros"``.
            std: the normal's standard deviation; default: the standard deviation of
                all loaded vector entries, so new rows have the same scale.
            generator: a ``nerve.Generator``, NumPy Generator, or int seed (default:
                nerve's global generator).
            zero_tokens: tokens whose row is all zeros (the padding token).
            lower_fallback: use ``token.lower()``'s vector when ``token`` has none.
        """
        if unk_init not in ("normal", "zeros"):
            raise ValueError(f"Vectors.align: unk_init must be 'normal' or 'zeros', got "
                             f"{unk_init!r}")
        n, d = len(vocab), self.dim
        idx = np.full(n, -1, dtype=np.int64)
        stoi = self.stoi
        for i, tok in enumerate(vocab.itos):
            j = stoi.get(tok)
            if j is None and lower_fallback:
                j = stoi.get(tok.lower())
            if j is not None:
                idx[i] = j
        found = idx >= 0
        weights = np.zeros((n, d), dtype=np.float32)
        weights[found] = self.vectors[idx[found]]
        n_missing = int((~found).sum())
        if unk_init == "normal" and n_missing:
            if std is None:
                std = float(self.vectors.std()) if self.vectors.size else 1.0
            rng = np.random.default_rng(generator) if isinstance(generator, int) \
                else _np_rng(generator)
            weights[~found] = rng.normal(0.0, std, size=(n_missing, d)).astype(np.float32)
        for tok in zero_tokens:
            i = vocab.stoi.get(tok)
            if i is not None:
                weights[i] = 0.0
        missing = [vocab.itos[i] for i in np.flatnonzero(~found)]
        coverage = float(found.mean()) if n else 0.0
        return AlignedVectors(weights, found, coverage, missing)


def load_vectors(path, words: Iterable[str] | None = None, dim: int | None = None,
                 max_vectors: int | None = None, encoding: str = "utf-8",
                 member: str | None = None) -> Vectors:
    """:meth:`Vectors.load` as a function."""
    return Vectors.load(path, words, dim, max_vectors, encoding, member)


def _open_text(path: Path, encoding: str, member: str | None):
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic[:2] == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    if magic == b"PK\x03\x04":
        zf = zipfile.ZipFile(path)
        names = [i.filename for i in zf.infolist() if not i.is_dir()]
        if member is None:
            if len(names) != 1:
                zf.close()
                raise ValueError(f"load_vectors: {path} holds {len(names)} files {names[:8]}; "
                                 "say which with member=")
            member = names[0]
        elif member not in names:
            zf.close()
            raise ValueError(f"load_vectors: {path} has no member {member!r}; it holds "
                             f"{names[:8]}")
        return io.TextIOWrapper(zf.open(member), encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def _is_int(s: str) -> bool:
    return s.isdigit()


def _parse(path, words, dim, max_vectors, encoding, member) -> Vectors:
    path = Path(path)
    wanted = None
    if words is not None:
        wanted = set()
        for w in words:
            wanted.add(w)
            wanted.add(w.lower())
    itos: list[str] = []
    rests: list[str] = []     # the numbers of each kept line, as text
    linenos: list[int] = []
    seen: set[str] = set()
    header_n = None
    count = 0                 # vector lines read (kept or not)
    blocks: list[np.ndarray] = []

    def flush():
        if not rests:
            return
        try:
            block = np.array(" ".join(rests).split(), dtype=np.float32)
            ok = block.size == len(rests) * dim
        except ValueError:
            ok = False
        if not ok:  # find the culprit line for the message
            for r, ln in zip(rests, linenos):
                fields = r.split()
                try:
                    np.array(fields, dtype=np.float32)
                except ValueError:
                    raise ValueError(f"load_vectors: {path}, line {ln}: a value is not a "
                                     f"number: {r[:60]!r}") from None
                if len(fields) != dim:
                    raise ValueError(f"load_vectors: {path}, line {ln}: expected {dim} "
                                     f"numbers, got {len(fields)}: {r[:60]!r}")
            raise ValueError(f"load_vectors: {path}: malformed vectors")  # not reached
        blocks.append(block.reshape(len(rests), dim))
        rests.clear()
        linenos.clear()

    try:
        f = _open_text(path, encoding, member)
    except (OSError, zipfile.BadZipFile) as e:
        raise ValueError(f"load_vectors: can't read {path}: {e}") from None
    with f:
        try:
            for lineno, line in enumerate(f, 1):
                line = line.rstrip()
                if not line:
                    continue
                if lineno == 1:
                    fields = line.split()
                    if len(fields) == 2 and _is_int(fields[0]) and _is_int(fields[1]):
                        header_n, hdim = int(fields[0]), int(fields[1])
                        if dim is not None and dim != hdim:
                            raise ValueError(f"load_vectors: {path}: the header says "
                                             f"dimension {hdim}, dim={dim} was given")
                        dim = hdim
                        continue
                    if dim is None:
                        dim = len(line.split(" ")) - 1
                        if dim < 1:
                            raise ValueError(f"load_vectors: {path}, line 1: expected a word "
                                             f"and its numbers, got {line[:60]!r}")
                if max_vectors is not None and count >= max_vectors:
                    break
                count += 1
                parts = line.rsplit(" ", dim)
                if len(parts) != dim + 1 or not parts[0]:
                    raise ValueError(f"load_vectors: {path}, line {lineno}: expected a word "
                                     f"and {dim} numbers, got {len(parts) - 1} fields: "
                                     f"{line[:60]!r}")
                word = parts[0]
                if wanted is not None and word not in wanted:
                    continue
                if word in seen:
                    continue  # a duplicate: the first vector wins
                seen.add(word)
                itos.append(word)
                rests.append(line[len(word) + 1:])
                linenos.append(lineno)
                if len(rests) >= _CHUNK:
                    flush()
        except UnicodeDecodeError as e:
            raise ValueError(f"load_vectors: {path} is not {encoding} text ({e}); pass "
                             "encoding=") from None
        except (EOFError, OSError, zipfile.BadZipFile) as e:
            raise ValueError(f"load_vectors: {path}: corrupt or truncated ({e})") from None
        flush()
    if dim is None:
        raise ValueError(f"load_vectors: {path} holds no vectors")
    if header_n is not None and max_vectors is None and count != header_n:
        raise ValueError(f"load_vectors: {path}: the header announces {header_n} vectors, "
                         f"the file holds {count} (truncated?)")
    vecs = np.concatenate(blocks) if blocks else np.zeros((0, dim), dtype=np.float32)
    return Vectors(itos, vecs)


def pretrained_embedding(vocab: Vocab, vectors, freeze: bool = True,
                         padding_idx: int | str | None = "<pad>", **align_kwargs):
    """``(nerve.nn.Embedding, AlignedVectors)``: an embedding initialised from pretrained
    vectors for ``vocab``.

    Args:
        vectors: a :class:`Vectors` or the path of a vectors file.
        freeze: keep the weights fixed during training (``Embedding.from_pretrained``).
        padding_idx: the padding index, or a token whose index it is (default
            ``"<pad>"``, ignored when that token is not in the vocab).
        align_kwargs: passed to :meth:`Vectors.align` (``unk_init``, ``std``...).
    """
    if not isinstance(vectors, Vectors):
        vectors = Vectors.load(vectors, words=vocab.itos)
    if isinstance(padding_idx, str):
        padding_idx = vocab.stoi.get(padding_idx)
    aligned = vectors.align(vocab, **align_kwargs)
    try:
        from ...nn import Embedding
    except ImportError:
        try:
            from ...nn.embedding import Embedding
        except ImportError as e:  # the layer is not there
            raise ImportError("pretrained_embedding needs nerve.nn.Embedding; use "
                              "Vectors.align(vocab).weights meanwhile") from e
    from ...tensor import Tensor
    weights = aligned.weights.copy()
    if padding_idx is not None:
        weights[padding_idx] = 0.0
    emb = Embedding.from_pretrained(Tensor._wrap(weights), freeze=freeze,
                                    padding_idx=padding_idx)
    return emb, aligned
