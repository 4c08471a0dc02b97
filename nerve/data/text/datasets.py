"""Text classification datasets: texts + labels -> (token ids, label) samples.

:class:`TextClassificationDataset` tokenizes its texts once, maps labels to integers,
and -- once it has a :class:`Vocab` (given, or built by :meth:`build_vocab`) -- serves
``(int64 ids array, label)``. :class:`CSVTextDataset` reads the texts and labels from
the columns of a CSV file, and :meth:`CSVTextDataset.splits` reads train/validation/test
files sharing the training set's vocabulary and label mapping -- what legacy
torchtext's ``TabularDataset.splits`` + ``Field.build_vocab`` did.

Labels: with ``label_map=None`` labels that are all integers (or integer strings such as
``"0"``/``"1"``) are kept as those integers; otherwise the distinct labels are sorted and
numbered 0..K-1 (``"neg" -> 0, "pos" -> 1``). ``dataset.classes`` lists them by index.

Header detection (``header="auto"``): a header is assumed when a column is named; with
column *indices*, the first row is a header when its label cell is not a number while
the next rows' are, or -- for non-numeric labels -- when its label never occurs again
in the next 1,000 rows although those rows do repeat labels. Pass ``header=True/False``
to decide yourself.
"""
from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..dataset import Dataset
from .tokenizers import get_tokenizer
from .vocab import Vocab, build_vocab_from_iterator

__all__ = ["TextClassificationDataset", "CSVTextDataset"]


def _is_intlike(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return False
    if isinstance(v, (int, np.integer)):
        return True
    if isinstance(v, str):
        s = v.strip()
        return s.lstrip("+-").isdigit() and s.count("-") + s.count("+") <= 1
    return False


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def make_label_map(labels: Iterable) -> dict:
    """``{label: int}``: integers map to themselves, anything else to its rank among
    the sorted distinct labels."""
    distinct = list(dict.fromkeys(labels))
    if all(_is_intlike(v) for v in distinct):
        return {v: int(v) for v in distinct}
    try:
        ordered = sorted(distinct)
    except TypeError:
        ordered = sorted(distinct, key=str)
    return {v: i for i, v in enumerate(ordered)}


class TextClassificationDataset(Dataset):
    """``(token ids, label)`` samples from parallel lists of texts and labels.

    Args:
        texts: the documents (strings).
        labels: one label per text (ints, or strings mapped by ``label_map``).
        tokenizer: a tokenizer name or callable (:func:`get_tokenizer`).
        vocab: the vocabulary; ``None``: call :meth:`build_vocab` (samples are token lists
            until then).
        label_map: ``{label: int}``; ``None``: made from the labels (module docstring).
        lower: lower-case before tokenizing (``Field(lower=True)``).
        max_len: keep only the first ``max_len`` tokens of each text.

    Attributes:
        tokens: the token list of each text; ``labels``: int64 array; ``lengths``: int64
        array of token counts; ``classes``: the original labels by index.
    """

    def __init__(self, texts: Sequence[str], labels: Sequence, tokenizer="basic_english",
                 vocab: Vocab | None = None, label_map: Mapping | None = None,
                 lower: bool = False, max_len: int | None = None) -> None:
        texts = list(texts)
        labels = list(labels)
        if len(texts) != len(labels):
            raise ValueError(f"{type(self).__name__}: {len(texts)} texts but {len(labels)} "
                             "labels")
        tok = get_tokenizer(tokenizer, lower=lower)
        self.tokenizer = tok
        self.tokens = [tok(t) for t in texts]
        if max_len is not None:
            self.tokens = [t[:max_len] for t in self.tokens]
        self.label_map = dict(label_map) if label_map is not None else make_label_map(labels)
        try:
            self.labels = np.array([self.label_map[v] for v in labels], dtype=np.int64)
        except KeyError as e:
            raise ValueError(f"{type(self).__name__}: label {e.args[0]!r} is not in label_map "
                             f"{dict(list(self.label_map.items())[:10])}") from None
        self.lengths = np.array([len(t) for t in self.tokens], dtype=np.int64)
        self.vocab = vocab
        self._ids: list | None = None
        self._ids_vocab = None
        self._ids_len = 0

    @property
    def classes(self) -> list:
        return [k for k, _ in sorted(self.label_map.items(), key=lambda kv: kv[1])]

    @property
    def num_classes(self) -> int:
        return len(set(self.label_map.values()))

    def build_vocab(self, max_size: int | None = None, min_freq: int = 1,
                    specials: Sequence[str] = ("<unk>", "<pad>"), unk_token: str | None = "<unk>",
                    **kwargs) -> Vocab:
        """Build the vocabulary from this dataset's tokens (legacy torchtext's defaults:
        ``<unk>`` = 0, ``<pad>`` = 1), keep it and return it."""
        self.vocab = build_vocab_from_iterator(self.tokens, min_freq=min_freq,
                                               specials=specials, max_size=max_size,
                                               unk_token=unk_token, **kwargs)
        return self.vocab

    def _encoded(self) -> list:
        if self.vocab is None:
            raise RuntimeError(f"{type(self).__name__}: no vocabulary; call build_vocab() or "
                               "pass vocab=")
        if self._ids is None or self._ids_vocab is not self.vocab \
                or len(self._ids_vocab) != self._ids_len:
            enc = self.vocab.lookup_indices
            self._ids = [np.array(enc(t), dtype=np.int64) for t in self.tokens]
            self._ids_vocab = self.vocab
            self._ids_len = len(self.vocab)
        return self._ids

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i):
        if self.vocab is None:
            return self.tokens[i], int(self.labels[i])
        return self._encoded()[i], int(self.labels[i])

    def encoded(self) -> list[np.ndarray]:
        """The int64 id array of every text (computed once per vocab)."""
        return list(self._encoded())


class CSVTextDataset(TextClassificationDataset):
    """A :class:`TextClassificationDataset` read from a CSV (or TSV) file.

    Args:
        path: the file (``.gz`` is read transparently).
        text_column, label_column: column names (the file has a header) or 0-based
            indices.
        header: ``"auto"`` (module docstring), True or False.
        delimiter: ``","``; ``"\\t"`` for TSV.
        encoding: the file's text encoding.
        tokenizer, vocab, label_map, lower, max_len: as in
            :class:`TextClassificationDataset`.
    """

    def __init__(self, path, text_column: str | int = "text", label_column: str | int = "label",
                 header="auto", delimiter: str = ",", encoding: str = "utf-8",
                 tokenizer: str | Callable = "basic_english", vocab: Vocab | None = None,
                 label_map: Mapping | None = None, lower: bool = False,
                 max_len: int | None = None) -> None:
        self.path = Path(path)
        texts, labels = read_csv_columns(self.path, text_column, label_column, header,
                                         delimiter, encoding)
        super().__init__(texts, labels, tokenizer=tokenizer, vocab=vocab, label_map=label_map,
                         lower=lower, max_len=max_len)

    @classmethod
    def splits(cls, root=None, train: str | None = "train.csv", validation: str | None = None,
               test: str | None = None, vocab: Vocab | None = None, max_size: int | None = None,
               min_freq: int = 1, specials: Sequence[str] = ("<unk>", "<pad>"), **kwargs):
        """Read ``train`` (and ``validation``/``test`` when given) from ``root``; the
        vocabulary (unless ``vocab`` is given) and the label mapping come from the
        training file and are shared by all. Returns the datasets in the order
        train, validation, test (those given)."""
        base = Path(root) if root is not None else Path(".")
        if train is None:
            raise ValueError("CSVTextDataset.splits: a training file is needed (the "
                             "vocabulary is built from it)")
        tr = cls(base / train, vocab=vocab, **kwargs)
        if vocab is None:
            tr.build_vocab(max_size=max_size, min_freq=min_freq, specials=specials)
        kwargs = {**kwargs, "label_map": tr.label_map}
        out = [tr]
        for name in (validation, test):
            if name is not None:
                out.append(cls(base / name, vocab=tr.vocab, **kwargs))
        return tuple(out)


def _open(path: Path, encoding: str):
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def read_csv_columns(path, text_column: str | int = "text", label_column: str | int = "label",
                     header="auto", delimiter: str = ",", encoding: str = "utf-8"):
    """``(texts, labels)``: two columns of a CSV file, as lists of strings."""
    path = Path(path)
    named = isinstance(text_column, str) or isinstance(label_column, str)
    if header not in ("auto", True, False):
        raise ValueError(f"CSVTextDataset: header must be 'auto', True or False, got {header!r}")
    if named and header is False:
        raise ValueError("CSVTextDataset: columns given by name need header=True (or 'auto')")
    csv.field_size_limit(1 << 28)
    try:
        with _open(path, encoding) as f:
            rows = list(csv.reader(f, delimiter=delimiter))
    except UnicodeDecodeError as e:
        raise ValueError(f"CSVTextDataset: {path} is not {encoding} text ({e}); pass "
                         "encoding=") from None
    except csv.Error as e:
        raise ValueError(f"CSVTextDataset: {path}: malformed CSV ({e})") from None
    # keep physical line numbers for messages: csv rows may span lines, so count rows
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        return [], []
    if named:
        has_header = True
    elif header == "auto":
        has_header = _guess_header(rows, int(label_column))
    else:
        has_header = bool(header)
    if has_header:
        head = [h.strip() for h in rows[0]]
        rows = rows[1:]
        ti = _column_index(text_column, head, path)
        li = _column_index(label_column, head, path)
    else:
        ti, li = int(text_column), int(label_column)
    need = max(ti, li)
    texts, labels = [], []
    first = 2 if has_header else 1
    for k, r in enumerate(rows):
        if len(r) <= need:
            raise ValueError(f"CSVTextDataset: {path}, row {k + first}: expected at least "
                             f"{need + 1} columns, got {len(r)}: {r[:3]!r}")
        texts.append(r[ti])
        labels.append(r[li].strip())
    return texts, labels


def _column_index(col, head: list[str], path) -> int:
    if isinstance(col, int):
        return col
    try:
        return head.index(col)
    except ValueError:
        raise ValueError(f"CSVTextDataset: {path} has no column {col!r}; its header is "
                         f"{head}") from None


def _guess_header(rows: list[list[str]], li: int) -> bool:
    if len(rows) < 2 or len(rows[0]) <= li:
        return False
    first = rows[0][li].strip()
    rest = [r[li].strip() for r in rows[1:1001] if len(r) > li]
    if not rest:
        return False
    if _is_number(first):
        return False
    if all(_is_number(v) for v in rest):
        return True
    return first not in rest and len(set(rest)) < len(rest)
