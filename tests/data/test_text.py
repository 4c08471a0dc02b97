"""The text pipeline: tokenizers, Vocab, pretrained vectors, padding, bucketing, CSV datasets."""
from __future__ import annotations

import csv
import gzip
import json
import re
import zipfile

import numpy as np
import pytest
from conftest import HYP
from hypothesis import given
from hypothesis import strategies as st

import nerve
from nerve.data import DataLoader
from nerve.data.text import (
    BucketBatchSampler,
    CSVTextDataset,
    PadCollate,
    TextClassificationDataset,
    Vectors,
    Vocab,
    basic_english,
    build_vocab_from_iterator,
    characters,
    get_tokenizer,
    load_vectors,
    pad_collate,
    pad_sequences,
    padding_fraction,
    pretrained_embedding,
    whitespace,
    words,
)

# --- tokenizers ----------------------------------------------------------------------------

# torchtext's basic_english, verbatim (torchtext/data/utils.py): the oracle
_TT_PATTERNS = [r"\'", r"\"", r"\.", r"<br \/>", r",", r"\(", r"\)", r"\!", r"\?", r"\;",
                r"\:", r"\s+"]
_TT_REPL = [" '  ", "", " . ", " ", " , ", " ( ", " ) ", " ! ", " ? ", " ", " ", " "]
_TT = [(re.compile(p), r) for p, r in zip(_TT_PATTERNS, _TT_REPL)]


def torchtext_basic_english(line: str) -> list[str]:
    line = line.lower()
    for pattern, repl in _TT:
        line = pattern.sub(repl, line)
    return line.split()


CASES = [
    "Don't panic!<br />It's (mostly) harmless.",
    'He said "no"; she said: yes?',
    "  Multiple   spaces\tand\nnewlines ",
    "I loved it!!! 10/10, would watch again... (really)",
    "ÉCOLE Ünïcödé — dashes – and “quotes”",
    "<BR />Upper-case tags<br /><br />twice",
    "",
    "a.b,c(d)e!f?g;h:i'j\"k",
]


@pytest.mark.parametrize("text", CASES)
def test_basic_english_matches_torchtext(text):
    assert basic_english(text) == torchtext_basic_english(text)


def test_basic_english_examples():
    assert basic_english("Don't stop!") == ["don", "'", "t", "stop", "!"]
    assert basic_english("Great movie.<br /><br />Loved it") == ["great", "movie", ".", "loved",
                                                                 "it"]
    assert basic_english('"Quoted"; done: ok') == ["quoted", "done", "ok"]


def test_basic_english_on_real_reviews():
    path = "/work/shared/data/imdb/test.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        rows = [r for _, r in zip(range(300), csv.DictReader(f))]
    for r in rows:
        assert basic_english(r["text"]) == torchtext_basic_english(r["text"])


def test_other_tokenizers():
    assert characters("ab c\n") == ["a", "b", " ", "c", "\n"]
    assert whitespace("  To be,\tor  not ") == ["To", "be,", "or", "not"]
    assert words("It's a <br /><br />must-see -- 10/10! Don't.") == \
        ["it's", "a", "must", "see", "10", "10", "don't"]
    assert words("'quoted' words'") == ["quoted", "words"]


def test_get_tokenizer():
    assert get_tokenizer("basic_english") is basic_english
    assert get_tokenizer("char")("ab") == ["a", "b"]
    assert get_tokenizer(None)("a b") == ["a", "b"]
    assert get_tokenizer("whitespace", lower=True)("A B") == ["a", "b"]
    assert get_tokenizer(str.split, lower=True)("Hello World") == ["hello", "world"]
    with pytest.raises(ValueError, match="unknown tokenizer 'spacy'"):
        get_tokenizer("spacy")
    with pytest.raises(TypeError, match="name or a callable"):
        get_tokenizer(3)


# --- Vocab ---------------------------------------------------------------------------------

DOCS = [["b", "a", "c", "a"], ["d", "c", "a", "e"], ["b", "e", "f"]]
# counts: a 3, b 2, c 2, e 2, d 1, f 1; first seen: b a c d e f


def test_vocab_order_alphabetical_ties():
    v = build_vocab_from_iterator(DOCS)
    assert v.get_itos() == ["a", "b", "c", "e", "d", "f"]
    assert len(v) == 6 and "a" in v and "z" not in v


def test_vocab_order_first_seen_ties():
    v = build_vocab_from_iterator(DOCS, ties="first_seen")
    assert v.get_itos() == ["a", "b", "c", "e", "d", "f"]
    v = build_vocab_from_iterator([["z", "y", "y", "z", "x"]], ties="first_seen")
    assert v.get_itos() == ["z", "y", "x"]
    v = build_vocab_from_iterator([["z", "y", "y", "z", "x"]])
    assert v.get_itos() == ["y", "z", "x"]


def test_vocab_specials_min_freq_max_size():
    v = build_vocab_from_iterator(DOCS, specials=["<unk>", "<pad>"], min_freq=2)
    assert v.get_itos() == ["<unk>", "<pad>", "a", "b", "c", "e"]
    v = build_vocab_from_iterator(DOCS, specials=["<unk>", "<pad>"], special_first=False,
                                  max_size=2)
    assert v.get_itos() == ["a", "b", "<unk>", "<pad>"]
    v = build_vocab_from_iterator(DOCS, specials=["<unk>", "<pad>"], max_tokens=4)
    assert v.get_itos() == ["<unk>", "<pad>", "a", "b"]
    # a special that also occurs in the data is not counted twice
    v = build_vocab_from_iterator([["<pad>", "x", "<pad>"]], specials=["<pad>"])
    assert v.get_itos() == ["<pad>", "x"]
    with pytest.raises(ValueError, match="not both"):
        build_vocab_from_iterator(DOCS, max_size=2, max_tokens=3)
    with pytest.raises(ValueError, match="min_freq"):
        build_vocab_from_iterator(DOCS, min_freq=0)
    with pytest.raises(TypeError, match="got a string"):
        build_vocab_from_iterator(["a b", "c"])


def test_vocab_lookups_and_unknown():
    v = build_vocab_from_iterator(DOCS, specials=["<unk>", "<pad>"], unk_token="<unk>")
    assert v["a"] == 2 and v["zzz"] == 0 and v.get_default_index() == 0
    assert v(["a", "zzz", "f"]) == [2, 0, 7]
    assert v.lookup_indices(iter(["b"])) == [3]
    assert v.encode(["a", "b"]).dtype == np.int64
    assert v.lookup_token(2) == "a" and v.lookup_token(-1) == "f"
    assert v.lookup_tokens([2, 3]) == ["a", "b"]
    assert v.lookup_tokens(np.array([[2], [3]])) == ["a", "b"]
    assert v.lookup_tokens(nerve.tensor([2, 3])) == ["a", "b"]
    assert v.decode([2, 1, 3], skip={"<pad>"}) == "a b"
    assert v.stoi["a"] == 2 and v.itos[2] == "a" and v.get_stoi() == v.stoi
    with pytest.raises(IndexError, match="index 8 out of range for a vocabulary of 8"):
        v.lookup_token(8)
    with pytest.raises(IndexError, match="out of range"):
        v.lookup_tokens([1, 99])
    # unk_token not among specials: added first
    w = build_vocab_from_iterator(DOCS, specials=["<pad>"], unk_token="<unk>")
    assert w.get_itos()[:2] == ["<unk>", "<pad>"] and w["nope"] == 0


def test_vocab_without_default_raises():
    v = build_vocab_from_iterator(DOCS)
    with pytest.raises(KeyError, match="'zzz' is not in the vocabulary"):
        v["zzz"]
    with pytest.raises(KeyError, match="'q'"):
        v.lookup_indices(x for x in ["a", "q"])
    v.set_default_index(0)
    assert v["zzz"] == 0
    v.set_default_index(None)
    with pytest.raises(KeyError):
        v["zzz"]
    with pytest.raises(IndexError):
        v.set_default_index(6)


def test_vocab_append_insert():
    v = Vocab(["<unk>", "a"], unk_token="<unk>")
    v.append_token("b")
    assert v["b"] == 2
    v.insert_token("<pad>", 0)
    assert v.get_itos() == ["<pad>", "<unk>", "a", "b"] and v["???"] == 1 and v["b"] == 3
    with pytest.raises(ValueError, match="already exists"):
        v.append_token("a")
    with pytest.raises(ValueError, match="duplicate"):
        Vocab.from_counts({"a": 1}, specials=["x", "x"])


def test_vocab_json_roundtrip(tmp_path):
    v = build_vocab_from_iterator(DOCS + [["héllo", "日本"]], specials=["<unk>", "<pad>"],
                                  unk_token="<unk>")
    p = tmp_path / "vocab.json"
    v.save(p)
    d = json.loads(p.read_text(encoding="utf-8"))
    assert d["format"] == "nerve.Vocab" and d["itos"] == v.get_itos()
    w = Vocab.load(p)
    assert w == v and w["日本"] == v["日本"] and w["missing"] == 0 and w.unk_token == "<unk>"
    assert not list(tmp_path.glob(".*tmp"))  # the temp file was renamed


@pytest.mark.parametrize("content,match", [
    ("not json", "not valid JSON"),
    ('{"format": "other"}', "not a saved nerve Vocab"),
    ('{"format": "nerve.Vocab", "version": 1, "itos": ["a", "a"]}', "duplicate"),
    ('{"format": "nerve.Vocab", "version": 1, "itos": ["a"], "default_index": 5}',
     "default_index"),
    ('{"format": "nerve.Vocab", "version": 9, "itos": []}', "version"),
])
def test_vocab_load_rejects(tmp_path, content, match):
    p = tmp_path / "v.json"
    p.write_text(content)
    with pytest.raises(ValueError, match=match):
        Vocab.load(p)


# --- pretrained vectors --------------------------------------------------------------------

GLOVE = """the 0.1 0.2 0.3
cat -1.5 2 3e-1
dog 0 0 1
The 9 9 9
"""


def _write(path, text, gz=False):
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_vectors_glove(tmp_path):
    vec = load_vectors(_write(tmp_path / "g.txt", GLOVE))
    assert len(vec) == 4 and vec.dim == 3 and vec.vectors.dtype == np.float32
    np.testing.assert_array_equal(vec["cat"], np.array([-1.5, 2, 0.3], np.float32))
    assert "dog" in vec and "bird" not in vec
    with pytest.raises(KeyError, match="bird"):
        vec["bird"]
    gz = load_vectors(_write(tmp_path / "g.txt.gz", GLOVE, gz=True))
    np.testing.assert_array_equal(gz.vectors, vec.vectors)
    zp = tmp_path / "g.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.writestr("glove.3d.txt", GLOVE)
        z.writestr("other.txt", "x 1\n")
    assert load_vectors(zp, member="glove.3d.txt").itos == vec.itos
    with pytest.raises(ValueError, match="member="):
        load_vectors(zp)
    assert load_vectors(tmp_path / "g.txt", words=["cat", "bird"]).itos == ["cat"]
    assert load_vectors(tmp_path / "g.txt", max_vectors=2).itos == ["the", "cat"]


def test_vectors_word2vec_header_and_spaces(tmp_path):
    text = "3 2\nhello 1 2 \nnew york 3 4 \n. . . 5 6\n"
    vec = load_vectors(_write(tmp_path / "w2v.txt", text))
    assert vec.itos == ["hello", "new york", ". . ."] and vec.dim == 2
    np.testing.assert_array_equal(vec["new york"], [3, 4])
    short = _write(tmp_path / "short.txt", "3 2\nhello 1 2\nbye 3 4\n")
    with pytest.raises(ValueError, match="announces 3 vectors, the file holds 2"):
        load_vectors(short)
    with pytest.raises(ValueError, match="dimension 2, dim=3"):
        load_vectors(tmp_path / "w2v.txt", dim=3)


@pytest.mark.parametrize("text,line,what", [
    ("a 1 2 3\nb 1 2\nc 1 2 3\n", 2, "expected a word and 3 numbers"),
    ("a 1 2 3\nb 1 x 3\nc 1 2 3\n", 2, "not a number"),
    ("a 1 2 3\n\nb 1 2 3\nc 1  3\n", 4, "line 4"),
])
def test_vectors_malformed_line(tmp_path, text, line, what):
    p = _write(tmp_path / "bad.txt", text)
    with pytest.raises(ValueError, match=rf"bad\.txt, line {line}") as e:
        load_vectors(p)
    assert what in str(e.value)


def test_vectors_align(tmp_path):
    vec = load_vectors(_write(tmp_path / "g.txt", GLOVE))
    vocab = Vocab(["<unk>", "<pad>", "the", "Cat", "dog", "zebra"], unk_token="<unk>")
    al = vec.align(vocab, std=0.5, generator=0)
    assert al.weights.shape == (6, 3) and al.weights.dtype == np.float32
    np.testing.assert_array_equal(al.weights[2], vec["the"])
    np.testing.assert_array_equal(al.weights[3], vec["cat"])  # lower-case fallback
    np.testing.assert_array_equal(al.weights[1], 0)  # <pad>
    assert al.found.tolist() == [False, False, True, True, True, False]
    assert al.coverage == pytest.approx(0.5) and al.missing == ["<unk>", "<pad>", "zebra"]
    assert np.abs(al.weights[5]).sum() > 0
    again = vec.align(vocab, std=0.5, generator=0)
    np.testing.assert_array_equal(al.weights, again.weights)
    z = vec.align(vocab, unk_init="zeros", lower_fallback=False)
    np.testing.assert_array_equal(z.weights[[0, 3, 5]], 0)
    rng_rows = vec.align(Vocab([f"w{i}" for i in range(4000)]), std=0.5, generator=1).weights
    assert rng_rows.std() == pytest.approx(0.5, rel=0.05)


def test_pretrained_embedding(tmp_path):
    vec = load_vectors(_write(tmp_path / "g.txt", GLOVE))
    vocab = Vocab(["<unk>", "<pad>", "the", "cat"], unk_token="<unk>")
    try:
        from nerve.nn.embedding import Embedding
    except ImportError:
        with pytest.raises(ImportError, match="nerve.nn.Embedding"):
            pretrained_embedding(vocab, vec)
        return
    emb, al = pretrained_embedding(vocab, vec, generator=0)
    assert isinstance(emb, Embedding)
    np.testing.assert_array_equal(emb.weight.data, al.weights)
    assert emb.weight.requires_grad is False and emb.padding_idx == 1
    out = emb(nerve.tensor([[2, 3, 1]]))
    assert out.shape == (1, 3, 3) and out.dtype == nerve.float32
    np.testing.assert_array_equal(out.data[0, 0], vec["the"])
    path = tmp_path / "g.txt"
    emb2, al2 = pretrained_embedding(vocab, path, freeze=False, unk_init="zeros")
    assert emb2.weight.requires_grad is True and al2.coverage == pytest.approx(0.5)


# --- padding -------------------------------------------------------------------------------

def keras_pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre",
                        truncating="pre", value=0.0):
    """Keras 3's keras.utils.pad_sequences, verbatim logic (the oracle)."""
    num_samples = len(sequences)
    lengths, sample_shape, flag = [], (), True
    for x in sequences:
        lengths.append(len(x))
        if flag and len(x):
            sample_shape = np.asarray(x).shape[1:]
            flag = False
    if maxlen is None:
        maxlen = np.max(lengths)
    x = np.full((num_samples, maxlen) + sample_shape, value, dtype=dtype)
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if padding == "post":
            x[idx, :len(trunc)] = trunc
        else:
            x[idx, -len(trunc):] = trunc
    return x


def test_pad_sequences_examples():
    seqs = [[1, 2, 3], [4, 5], [6], []]
    out = pad_sequences(seqs)
    assert out.dtype == np.int32
    assert out.tolist() == [[1, 2, 3], [0, 4, 5], [0, 0, 6], [0, 0, 0]]
    assert pad_sequences(seqs, maxlen=2).tolist() == [[2, 3], [4, 5], [0, 6], [0, 0]]
    assert pad_sequences(seqs, maxlen=2, truncating="post").tolist() == \
        [[1, 2], [4, 5], [0, 6], [0, 0]]
    assert pad_sequences(seqs, maxlen=4, padding="post", value=-1).tolist() == \
        [[1, 2, 3, -1], [4, 5, -1, -1], [6, -1, -1, -1], [-1, -1, -1, -1]]
    f = pad_sequences([[0.5, 1.5]], maxlen=3, dtype="float32")
    assert f.dtype == np.float32 and f.tolist() == [[0.0, 0.5, 1.5]]
    assert pad_sequences([], maxlen=3).shape == (0, 3)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)
    s = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert s.tolist() == [["a", "b"], ["<pad>", "c"]]
    with pytest.raises(ValueError, match='padding type "mid"'):
        pad_sequences(seqs, padding="mid")
    with pytest.raises(ValueError, match='truncating type "x"'):
        pad_sequences(seqs, truncating="x")
    with pytest.raises(ValueError, match="item 1 is not"):
        pad_sequences([[1], 5])
    with pytest.raises(ValueError, match="not compatible"):
        pad_sequences(seqs, value="x")


@HYP
@given(st.lists(st.lists(st.integers(0, 1000), max_size=9), min_size=1, max_size=8),
       st.one_of(st.none(), st.integers(1, 12)), st.sampled_from(["pre", "post"]),
       st.sampled_from(["pre", "post"]), st.sampled_from(["int32", "int64", "float32"]),
       st.booleans())
def test_pad_sequences_matches_keras(seqs, maxlen, padding, truncating, dtype, as_arrays):
    if maxlen is None and not any(seqs):
        return
    if as_arrays:
        seqs = [np.array(s, dtype=np.int64) for s in seqs]
    got = pad_sequences(seqs, maxlen, dtype, padding, truncating, value=7)
    want = keras_pad_sequences(seqs, maxlen, dtype, padding, truncating, value=7)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_pad_sequences_vector_items():
    seqs = [np.ones((3, 2)), np.full((1, 2), 2.0)]
    got = pad_sequences(seqs, maxlen=2, dtype="float32", padding="post")
    want = keras_pad_sequences(seqs, maxlen=2, dtype="float32", padding="post")
    assert got.shape == (2, 2, 2)
    np.testing.assert_array_equal(got, want)


def test_pad_collate():
    batch = [([5, 6, 7], 1), (np.array([8]), 0), (nerve.tensor([9, 10]), 1)]
    ids, lengths, labels = pad_collate(batch)
    assert ids.dtype == nerve.int64 and lengths.dtype == nerve.int64
    assert labels.dtype == nerve.int64
    assert ids.data.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]]
    assert lengths.data.tolist() == [3, 1, 2] and labels.data.tolist() == [1, 0, 1]
    ids, lengths, labels = PadCollate(pad_value=1, sort_by_length=True, batch_first=False)(
        [([5], 0.5), ([6, 7, 8], 1.0), ([9, 9], 0.0)])
    assert ids.shape == (3, 3) and ids.data[:, 0].tolist() == [6, 7, 8]
    assert ids.data[:, 1].tolist() == [9, 9, 1]
    assert lengths.data.tolist() == [3, 2, 1] and labels.dtype == nerve.float32
    assert labels.data.tolist() == [1.0, 0.0, 0.5]
    ids, lengths = PadCollate(max_len=2, truncating="pre")([[1, 2, 3], [4]])
    assert ids.data.tolist() == [[2, 3], [4, 0]] and lengths.data.tolist() == [2, 1]
    with pytest.raises(ValueError, match="1-D token ids"):
        pad_collate([(np.ones((2, 2)), 1)])


# --- bucketing -----------------------------------------------------------------------------

def _lengths(n=5000, seed=0):
    return np.random.default_rng(seed).lognormal(5, 0.7, n).astype(np.int64) + 1


def test_bucket_sampler_epoch_is_a_permutation():
    lens = _lengths(1234)
    s = BucketBatchSampler(lens, batch_size=32, bucket_size_multiplier=10, generator=0)
    batches = list(s)
    assert len(batches) == len(s) == int(np.ceil(1234 / 32))
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1234))
    assert all(len(b) == 32 for b in batches if len(b) != 1234 % 32)
    d = BucketBatchSampler(lens, batch_size=32, bucket_size_multiplier=10, generator=0,
                           drop_last=True)
    assert len(list(d)) == len(d) == 1234 // 32


def test_bucket_sampler_reduces_padding():
    lens = _lengths()
    perm = np.random.default_rng(1).permutation(len(lens))
    random_batches = [perm[i:i + 64] for i in range(0, len(lens), 64)]
    bucketed = list(BucketBatchSampler(lens, batch_size=64, generator=0))
    random_pad = padding_fraction(lens, random_batches)
    bucket_pad = padding_fraction(lens, bucketed)
    assert random_pad > 0.4 and bucket_pad < 0.05, (random_pad, bucket_pad)


def test_bucket_sampler_reproducible_and_shuffled():
    lens = _lengths(2000)
    a = BucketBatchSampler(lens, batch_size=16, bucket_size_multiplier=5, generator=3)
    b = BucketBatchSampler(lens, batch_size=16, bucket_size_multiplier=5, generator=3)
    e1, e2 = list(a), list(a)
    assert e1 == list(b) and e1 != e2
    nerve.manual_seed(5)
    g1 = list(BucketBatchSampler(lens, batch_size=16))
    nerve.manual_seed(5)
    assert g1 == list(BucketBatchSampler(lens, batch_size=16))
    fixed = list(BucketBatchSampler(lens, batch_size=16, shuffle=False,
                                    bucket_size_multiplier=None))
    order = np.concatenate(fixed)
    assert np.all(np.diff(lens[order]) >= 0)
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler(lens, batch_size=0)


def test_bucket_sampler_with_dataloader():
    texts = ["a b c d e f", "a", "b c", "a b c", "x y z w", "q"] * 5
    ds = TextClassificationDataset(texts, [0, 1] * 15, tokenizer="whitespace")
    vocab = ds.build_vocab()
    assert vocab.get_itos()[:2] == ["<unk>", "<pad>"]
    sampler = BucketBatchSampler(ds, batch_size=4, generator=0)
    loader = DataLoader(ds, batch_sampler=sampler, collate_fn=PadCollate(vocab["<pad>"]))
    seen = 0
    for ids, lengths, labels in loader:
        assert ids.shape[0] == lengths.shape[0] == labels.shape[0]
        assert ids.shape[1] == int(lengths.data.max())
        assert (ids.data == vocab["<pad>"]).sum() == (ids.shape[1] - lengths.data).sum()
        seen += ids.shape[0]
    assert seen == 30
    # sort_key form, over a dataset without a lengths attribute
    s = BucketBatchSampler([([1] * k, 0) for k in range(10)], batch_size=5, shuffle=False)
    assert list(s) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]


# --- CSV datasets --------------------------------------------------------------------------

def _csv(path, rows, delimiter=","):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def test_csv_dataset_named_columns(tmp_path):
    p = _csv(tmp_path / "train.csv", [["label", "text"], ["pos", "Great film, loved it!"],
                                      ["neg", 'Awful. "Avoid", really'], ["pos", "Great!"]])
    ds = CSVTextDataset(p)
    assert len(ds) == 3 and ds.classes == ["neg", "pos"] and ds.labels.tolist() == [1, 0, 1]
    assert ds[0] == (["great", "film", ",", "loved", "it", "!"], 1)
    vocab = ds.build_vocab(min_freq=2)
    assert vocab.get_itos() == ["<unk>", "<pad>", "!", ",", "great"]
    ids, label = ds[2]
    assert ids.dtype == np.int64 and ids.tolist() == [4, 2] and label == 1
    assert ds.lengths.tolist() == [6, 5, 2]
    with pytest.raises(ValueError, match=r"no column 'review'.*\['label', 'text'\]"):
        CSVTextDataset(p, text_column="review")


def test_csv_dataset_indices_header_detection(tmp_path):
    rows = [["a good one", "1"], ["a bad one", "0"], ["fine", "1"]]
    no_head = _csv(tmp_path / "nohead.csv", rows)
    ds = CSVTextDataset(no_head, text_column=0, label_column=1)
    assert len(ds) == 3 and ds.labels.tolist() == [1, 0, 1] and ds.classes == ["0", "1"]
    head = _csv(tmp_path / "head.csv", [["sentence", "y"]] + rows)
    assert len(CSVTextDataset(head, text_column=0, label_column=1)) == 3
    assert len(CSVTextDataset(head, text_column=0, label_column=1, header=False,
                              label_map={"y": 9, "1": 1, "0": 0})) == 4
    srows = [["t1", "neg"], ["t2", "pos"], ["t3", "neg"], ["t4", "pos"]]
    s_head = _csv(tmp_path / "shead.csv", [["text", "sentiment"]] + srows)
    assert len(CSVTextDataset(s_head, text_column=0, label_column=1)) == 4
    assert len(CSVTextDataset(_csv(tmp_path / "s.csv", srows), 0, 1)) == 4
    tsv = _csv(tmp_path / "d.tsv", [["x\ty", "1"]], delimiter="\t")
    t = CSVTextDataset(tsv, 0, 1, delimiter="\t", header=False, tokenizer="whitespace")
    assert t[0] == (["x", "y"], 1)
    short = _csv(tmp_path / "short.csv", [["text", "label"], ["ok", "1"], ["broken"]])
    with pytest.raises(ValueError, match=r"short\.csv, row 3: expected at least 2 columns"):
        CSVTextDataset(short)
    with pytest.raises(ValueError, match="not in label_map"):
        CSVTextDataset(no_head, 0, 1, label_map={"1": 1})


def test_csv_splits_share_vocab_and_labels(tmp_path):
    _csv(tmp_path / "train.csv", [["text", "label"], ["good good movie", "pos"],
                                  ["bad movie", "neg"]])
    _csv(tmp_path / "valid.csv", [["text", "label"], ["good plot", "neg"]])
    with gzip.open(tmp_path / "test.csv.gz", "wt", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["text", "label"], ["unseen words", "pos"]])
    tr, va, te = CSVTextDataset.splits(tmp_path, train="train.csv", validation="valid.csv",
                                       test="test.csv.gz", max_size=2)
    assert tr.vocab is va.vocab is te.vocab
    assert tr.vocab.get_itos() == ["<unk>", "<pad>", "good", "movie"]
    assert va[0][0].tolist() == [2, 0] and va[0][1] == 0
    assert te[0][0].tolist() == [0, 0] and te[0][1] == 1
    assert te.label_map == tr.label_map == {"neg": 0, "pos": 1}


def test_vectors_constructor_checks_shape():
    v = Vectors(["a", "b"], np.ones((2, 4)))
    assert v.vectors.dtype == np.float32 and v.dim == 4 and "Vectors(2 words" in repr(v)
    with pytest.raises(ValueError, match=r"expected a \(1, D\) matrix for 1 words"):
        Vectors(["a"], np.zeros((2, 3)))
