"""Vocab: a bijection between tokens and the integers 0..N-1, with an unknown-token fallback.

Built from an iterable of token lists (:func:`build_vocab_from_iterator`, torchtext's
function of that name) or from counts (:meth:`Vocab.from_counts`). The order is
deterministic and documented:

1. the ``specials`` (``"<unk>"``, ``"<pad>"``...) in the order given, first
   (``special_first=True``, the default) or last;
2. then the other tokens by **frequency, highest first**; ties broken
   **alphabetically** (torchtext's rule, independent of the input order) or, with
   ``ties="first_seen"``, by first appearance in the input (Keras ``Tokenizer``'s rule).

``min_freq`` drops tokens seen fewer times; ``max_size`` keeps at most that many
non-special tokens (legacy torchtext ``build_vocab(max_size=...)``: the vocab then has
``max_size + len(specials)`` entries) while ``max_tokens`` caps the total, specials
included (modern torchtext).

Lookups: ``vocab[token]`` and ``vocab.lookup_indices(tokens)`` (or ``vocab(tokens)``)
map tokens to indices, ``vocab.lookup_token(i)``/``vocab.lookup_tokens(ids)`` back.
A token that is not in the vocabulary maps to the *default index* (the unknown token's,
set with ``unk_token=`` or :meth:`Vocab.set_default_index`); without one it is a
``KeyError`` naming the token.

Saved as JSON (:meth:`Vocab.save`/:meth:`Vocab.load`), never pickled.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["Vocab", "build_vocab_from_iterator"]

_FORMAT = "nerve.Vocab"
_VERSION = 1


class Vocab:
    """Tokens <-> indices.

    Args:
        tokens: the tokens in index order (no duplicates).
        default_index: the index returned for unknown tokens (``None``: unknown tokens
            raise ``KeyError``).
        unk_token: a token of ``tokens`` whose index becomes the default index.

    Example:
        >>> v = build_vocab_from_iterator([["a", "b", "a"], ["c", "a", "b"]],
        ...                               specials=["<unk>", "<pad>"], unk_token="<unk>")
        >>> v.get_itos()
        ['<unk>', '<pad>', 'a', 'b', 'c']
        >>> v(["a", "zzz"]), v.lookup_tokens([2, 3])
        ([2, 0], ['a', 'b'])
    """

    __slots__ = ("_itos", "_stoi", "_default", "unk_token", "freqs")

    def __init__(self, tokens: Iterable[str] = (), default_index: int | None = None,
                 unk_token: str | None = None) -> None:
        self._itos: list[str] = []
        self._stoi: dict[str, int] = {}
        self.freqs: Counter = Counter()
        for t in tokens:
            self.append_token(t)
        self._default: int | None = None
        self.unk_token = None
        if unk_token is not None:
            if unk_token not in self._stoi:
                raise ValueError(f"Vocab: unk_token {unk_token!r} is not among the tokens")
            self.unk_token = unk_token
            self._default = self._stoi[unk_token]
        if default_index is not None:
            self.set_default_index(default_index)

    # --- construction --------------------------------------------------------------------

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], min_freq: int = 1,
                    specials: Sequence[str] | None = None, special_first: bool = True,
                    max_size: int | None = None, max_tokens: int | None = None,
                    unk_token: str | None = None, ties: str = "alphabetical") -> Vocab:
        """A vocab from ``{token: count}`` (insertion order = first appearance); see the
        module docstring for the order and the meaning of the arguments."""
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"Vocab: min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and max_tokens is not None:
            raise ValueError("Vocab: give max_size (non-special tokens) or max_tokens (all "
                             "tokens, specials included), not both")
        specials = list(specials or [])
        if unk_token is not None and unk_token not in specials:
            specials.insert(0, unk_token)
        if len(set(specials)) != len(specials):
            raise ValueError(f"Vocab: duplicate specials {specials}")
        if ties not in ("alphabetical", "first_seen"):
            raise ValueError(f"Vocab: ties must be 'alphabetical' or 'first_seen', got {ties!r}")
        skip = set(specials)
        items = [(t, c) for t, c in counts.items() if c >= min_freq and t not in skip]
        if ties == "alphabetical":
            items.sort(key=lambda kv: (-kv[1], kv[0]))
        else:
            items.sort(key=lambda kv: -kv[1])  # stable: first seen wins a tie
        limit = max_size
        if max_tokens is not None:
            if max_tokens < len(specials):
                raise ValueError(f"Vocab: max_tokens={max_tokens} is less than the "
                                 f"{len(specials)} specials")
            limit = max_tokens - len(specials)
        if limit is not None:
            if limit < 0:
                raise ValueError(f"Vocab: max_size must be >= 0, got {limit}")
            items = items[:limit]
        words = [t for t, _ in items]
        ordered = specials + words if special_first else words + specials
        v = cls(ordered, unk_token=unk_token)
        v.freqs = Counter(counts)
        return v

    # --- lookups -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token) -> bool:
        return token in self._stoi

    def __iter__(self):
        return iter(self._itos)

    def __eq__(self, other) -> bool:
        return (isinstance(other, Vocab) and self._itos == other._itos
                and self._default == other._default)

    __hash__ = None  # mutable

    def __getitem__(self, token: str) -> int:
        i = self._stoi.get(token)
        if i is not None:
            return i
        if self._default is None:
            raise KeyError(self._missing(token))
        return self._default

    def _missing(self, token) -> str:
        return (f"Vocab: token {token!r} is not in the vocabulary ({len(self)} tokens) and "
                f"no default index is set; build it with unk_token='<unk>' or call "
                f"set_default_index()")

    def __call__(self, tokens: Iterable[str]) -> list[int]:
        return self.lookup_indices(tokens)

    def lookup_indices(self, tokens: Iterable[str]) -> list[int]:
        """The index of each token (the default index for unknown ones)."""
        get = self._stoi.get
        d = self._default
        if d is not None:
            return [get(t, d) for t in tokens]
        if not isinstance(tokens, (list, tuple)):
            tokens = list(tokens)
        out = [get(t) for t in tokens]
        if None in out:
            bad = next(t for t, i in zip(tokens, out) if i is None)
            raise KeyError(self._missing(bad))
        return out

    def encode(self, tokens: Iterable[str], dtype=np.int64) -> np.ndarray:
        """:meth:`lookup_indices` as a 1-D NumPy array (int64 by default)."""
        return np.asarray(self.lookup_indices(tokens), dtype=dtype)

    def lookup_token(self, index: int) -> str:
        """The token at ``index`` (negative indices count from the end)."""
        n = len(self._itos)
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f"Vocab: index {i} out of range for a vocabulary of {n} tokens")
        return self._itos[i]

    def lookup_tokens(self, indices: Iterable[int]) -> list[str]:
        """The token at each index (accepts a list, a NumPy array or a Tensor)."""
        if not isinstance(indices, np.ndarray):
            indices = getattr(indices, "data", indices)  # a Tensor's array
        if isinstance(indices, np.ndarray):
            indices = indices.reshape(-1).tolist()
        itos, n = self._itos, len(self._itos)
        out = []
        for i in indices:
            if not -n <= i < n:
                raise IndexError(f"Vocab: index {i} out of range for a vocabulary of {n} "
                                 "tokens")
            out.append(itos[i])
        return out

    def decode(self, indices: Iterable[int], sep: str = " ", skip: Iterable[str] = ()) -> str:
        """The tokens at ``indices`` joined by ``sep``, leaving out tokens in ``skip``
        (e.g. ``{"<pad>"}``)."""
        skip = set(skip)
        return sep.join(t for t in self.lookup_tokens(indices) if t not in skip)

    # --- mapping views (torchtext names) -------------------------------------------------

    @property
    def itos(self) -> list[str]:
        """The tokens in index order (the vocab's own list: do not modify it)."""
        return self._itos

    @property
    def stoi(self) -> dict[str, int]:
        """``{token: index}`` (the vocab's own dict: do not modify it)."""
        return self._stoi

    def get_itos(self) -> list[str]:
        return list(self._itos)

    def get_stoi(self) -> dict[str, int]:
        return dict(self._stoi)

    def set_default_index(self, index: int | None) -> None:
        """Make unknown tokens map to ``index`` (``None``: unknown tokens raise)."""
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"Vocab: default index must be an int or None, got {index!r}")
            if not 0 <= index < len(self._itos):
                raise IndexError(f"Vocab: default index {index} out of range for a vocabulary "
                                 f"of {len(self._itos)} tokens")
            index = int(index)
        self._default = index

    def get_default_index(self) -> int | None:
        return self._default

    def append_token(self, token: str) -> None:
        """Add ``token`` at the end (index ``len(vocab)``)."""
        if not isinstance(token, str):
            raise TypeError(f"Vocab: tokens must be str, got {type(token).__name__} "
                            f"({token!r})")
        if token in self._stoi:
            raise ValueError(f"Vocab: token {token!r} already exists (index "
                             f"{self._stoi[token]})")
        self._stoi[token] = len(self._itos)
        self._itos.append(token)

    def insert_token(self, token: str, index: int) -> None:
        """Insert ``token`` at ``index``; the tokens after it move up by one (and so does
        the default index when it is at or after ``index``)."""
        if not 0 <= index <= len(self._itos):
            raise IndexError(f"Vocab: insert index {index} out of range 0..{len(self._itos)}")
        if token in self._stoi:
            raise ValueError(f"Vocab: token {token!r} already exists")
        self._itos.insert(index, token)
        self._stoi = {t: i for i, t in enumerate(self._itos)}
        if self._default is not None and self._default >= index:
            self._default += 1

    def __repr__(self) -> str:
        head = ", ".join(repr(t) for t in self._itos[:5])
        more = ", ..." if len(self._itos) > 5 else ""
        return f"Vocab({len(self)} tokens: [{head}{more}], default_index={self._default})"

    # --- JSON ----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"format": _FORMAT, "version": _VERSION, "itos": list(self._itos),
                "default_index": self._default, "unk_token": self.unk_token}

    @classmethod
    def from_dict(cls, d: Mapping, source: str = "dict") -> Vocab:
        if not isinstance(d, Mapping) or d.get("format") != _FORMAT:
            raise ValueError(f"Vocab.load: {source} is not a saved nerve Vocab (expected a "
                             f"JSON object with format={_FORMAT!r})")
        if d.get("version") != _VERSION:
            raise ValueError(f"Vocab.load: {source} has version {d.get('version')!r}, this "
                             f"nerve reads version {_VERSION}")
        itos = d.get("itos")
        if not isinstance(itos, list) or not all(isinstance(t, str) for t in itos):
            raise ValueError(f"Vocab.load: {source}: 'itos' must be a list of strings")
        if len(set(itos)) != len(itos):
            raise ValueError(f"Vocab.load: {source}: 'itos' has duplicate tokens")
        unk = d.get("unk_token")
        if unk is not None and unk not in itos:
            raise ValueError(f"Vocab.load: {source}: unk_token {unk!r} is not in 'itos'")
        v = cls(itos, unk_token=unk)
        di = d.get("default_index")
        if di is not None and (isinstance(di, bool) or not isinstance(di, int)
                               or not 0 <= di < len(itos)):
            raise ValueError(f"Vocab.load: {source}: default_index {di!r} is not an index of "
                             f"the {len(itos)} tokens")
        v._default = di
        return v

    def save(self, path) -> None:
        """Write the vocab as UTF-8 JSON, atomically (temp file + rename)."""
        path = Path(path)
        text = json.dumps(self.to_dict(), ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    @classmethod
    def load(cls, path) -> Vocab:
        """Read a vocab written by :meth:`save` (plain JSON: nothing is executed)."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"Vocab.load: {path} is not valid JSON ({e})") from None
        return cls.from_dict(d, str(path))


def build_vocab_from_iterator(iterator: Iterable[Iterable[str]], min_freq: int = 1,
                              specials: Sequence[str] | None = None,
                              special_first: bool = True, max_tokens: int | None = None,
                              max_size: int | None = None, unk_token: str | None = None,
                              ties: str = "alphabetical") -> Vocab:
    """Count the tokens of every token list of ``iterator`` and build a :class:`Vocab`.

    Args:
        iterator: yields lists (iterables) of tokens, e.g. ``map(tokenizer, texts)``.
        min_freq: keep tokens seen at least this often.
        specials: tokens placed first (or last, ``special_first=False``) whatever their
            count, e.g. ``["<unk>", "<pad>"]``.
        max_tokens: at most this many tokens in all, specials included.
        max_size: at most this many non-special tokens (legacy torchtext).
        unk_token: the unknown token: added to the specials (first) if missing, and
            unknown tokens map to its index.
        ties: ``"alphabetical"`` (torchtext) or ``"first_seen"`` (Keras) for equal counts.
    """
    counts: Counter = Counter()
    update = counts.update
    for tokens in iterator:
        if isinstance(tokens, str):
            raise TypeError("build_vocab_from_iterator: expected an iterable of token lists, "
                            "got a string (tokenize it first, e.g. map(tokenizer, texts))")
        update(tokens)
    return Vocab.from_counts(counts, min_freq=min_freq, specials=specials,
                             special_first=special_first, max_size=max_size,
                             max_tokens=max_tokens, unk_token=unk_token, ties=ties)
