"""Tokenizers: a function from a string to a list of string tokens.

``basic_english`` is torchtext's ``get_tokenizer("basic_english")``, token for token:
lower-case the line, then

====================  =================  ==========================================
``'``                 ``" '  "``         apostrophes become a token: "don't" -> don ' t
``"``                 removed
``. , ( ) ! ?``       `` x ``            split off as tokens of their own
``<br />``            a space            the HTML line breaks of the IMDB reviews
``; :``               a space            dropped
====================  =================  ==========================================

and split on whitespace. It is written as a chain of ``str.replace`` calls, the fastest
pure-Python form (several times faster than a regex with a callback or ``str.translate``
on non-ASCII text): 50,000 IMDB reviews tokenize in a couple of seconds.

``words`` is the tokenizer behind :func:`nerve.datasets.imdb.load_data` (the Keras
word-index form): lower-case, ``<br />`` removed, and the tokens are runs of word
characters with inner apostrophes kept (``everyone's``, ``don't``); all other
punctuation is dropped.
"""
from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["basic_english", "characters", "whitespace", "words", "get_tokenizer",
           "Tokenizer"]

Tokenizer = Callable[[str], list]

_WORD_RE = re.compile(r"\w+(?:'\w+)*")


def basic_english(line: str) -> list[str]:
    """torchtext's ``basic_english``: lower-case, split punctuation off, drop ``"``/``;``/``:``
    and ``<br />`` tags, split on whitespace.

    >>> basic_english("Don't panic!<br />It's (mostly) harmless.")
    ['don', "'", 't', 'panic', '!', 'it', "'", 's', '(', 'mostly', ')', 'harmless', '.']
    """
    s = line.lower()
    if "<br />" in s:
        s = s.replace("<br />", " ")
    s = (s.replace("'", " '  ").replace('"', "").replace(".", " . ").replace(",", " , ")
         .replace("(", " ( ").replace(")", " ) ").replace("!", " ! ").replace("?", " ? ")
         .replace(";", " ").replace(":", " "))
    return s.split()


def characters(line: str) -> list[str]:
    """One token per character (spaces and newlines included): a character-level model's
    input.

    >>> characters("to be")
    ['t', 'o', ' ', 'b', 'e']
    """
    return list(line)


def whitespace(line: str) -> list[str]:
    """Split on runs of whitespace (``str.split()``), nothing else changed.

    >>> whitespace("  To be,\\tor not ")
    ['To', 'be,', 'or', 'not']
    """
    return line.split()


def words(line: str) -> list[str]:
    """Lower-cased words: runs of letters/digits/underscores, inner apostrophes kept,
    ``<br />`` tags and all other punctuation dropped.

    >>> words("It's a <br /><br />must-see -- 10/10!")
    ["it's", 'a', 'must', 'see', '10', '10']
    """
    s = line.lower()
    if "<br />" in s:
        s = s.replace("<br />", " ")
    return _WORD_RE.findall(s)


_BY_NAME: dict[str, Tokenizer] = {
    "basic_english": basic_english,
    "char": characters,
    "chars": characters,
    "character": characters,
    "characters": characters,
    "whitespace": whitespace,
    "split": whitespace,
    "words": words,
}


def get_tokenizer(tokenizer: str | Callable[[str], list] | None = "basic_english",
                  lower: bool = False) -> Tokenizer:
    """The tokenizer called ``tokenizer``, or ``tokenizer`` itself when it is callable.

    Names: ``"basic_english"``, ``"char"``/``"characters"``, ``"whitespace"``/``"split"``,
    ``"words"``; ``None`` means whitespace splitting (torchtext's convention).
    ``lower=True`` lower-cases the string before a callable or the whitespace/char
    tokenizers (``basic_english`` and ``words`` lower-case anyway), like legacy
    torchtext's ``Field(lower=True)``.
    """
    if tokenizer is None:
        fn = whitespace
    elif callable(tokenizer):
        fn = tokenizer
    elif isinstance(tokenizer, str):
        fn = _BY_NAME.get(tokenizer)
        if fn is None:
            raise ValueError(f"get_tokenizer: unknown tokenizer {tokenizer!r}; expected one of "
                             f"{sorted(_BY_NAME)} or a callable str -> list[str]")
    else:
        raise TypeError(f"get_tokenizer: expected a tokenizer name or a callable, got "
                        f"{type(tokenizer).__name__}")
    if lower and fn not in (basic_english, words):
        inner = fn
        return lambda s: inner(s.lower())
    return fn
