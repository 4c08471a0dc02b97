"""Text and time-series datasets against the real files in shared/data (see their READMEs),
plus the archive and download paths on small files served from 127.0.0.1."""
from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from nerve.data.text import words
from nerve.datasets import _download as D
from nerve.datasets import imdb, text_corpora, timeseries
from nerve.datasets._download import DatasetError, DatasetNotFoundError

SHARED = Path("/work/shared/data")
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not available")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """NERVE_DATA = shared/data, NERVE_CACHE = a fresh temp dir."""
    monkeypatch.setenv("NERVE_DATA", str(SHARED))
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No NERVE_DATA, an empty cache: only explicit paths or downloads work."""
    monkeypatch.delenv("NERVE_DATA", raising=False)
    monkeypatch.setenv("NERVE_CACHE", str(tmp_path / "cache"))
    return tmp_path


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.server.log.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, offline):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(D, "BACKOFF", 0.01)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.log = {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


# --- IMDB: the shared CSV files ------------------------------------------------------------

@pytest.fixture(scope="module")
def reviews():
    tr = imdb.read_csv(SHARED / "imdb" / "train.csv.gz")
    te = imdb.read_csv(SHARED / "imdb" / "test.csv.gz")
    return tr, te


def test_imdb_counts_from_readme(reviews):
    readme = {  # split: ratings 1,2,3,4,7,8,9,10 ; unique texts ; mean/min/max words
        "train": ([5100, 2284, 2420, 2696, 2496, 3009, 2263, 4732], 24904, 233.8, 10, 2470),
        "test": ([5022, 2302, 2541, 2635, 2307, 2850, 2344, 4999], 24801, 228.5, 4, 2278),
    }
    for r, (split, (ratings, unique, mean, lo, hi)) in zip(reviews, readme.items()):
        assert len(r.texts) == 25000 and r.labels.dtype == np.int64
        assert np.bincount(r.labels).tolist() == [12500, 12500]
        c = Counter(r.ratings.tolist())
        assert [c[k] for k in (1, 2, 3, 4, 7, 8, 9, 10)] == ratings, split
        assert len(set(r.texts)) == unique
        n = np.array([len(t.split()) for t in r.texts])
        assert round(n.mean(), 1) == mean and n.min() == lo and n.max() == hi
        order = np.lexsort((r.ids, r.labels))
        assert np.array_equal(order, np.arange(25000))  # sorted by label, then id
    tr = reviews[0]
    first_pos = tr.texts[int(np.flatnonzero((tr.labels == 1) & (tr.ids == 0))[0])]
    assert first_pos.startswith("Bromwell High is a cartoon comedy")
    assert sum("<br /><br />" in t for t in tr.texts) > 10000


def test_imdb_csv_writer_is_byte_identical(reviews):
    # the README's sha256 of the uncompressed files: what write_csv writes from a tarball
    want = {"train": "1d00e4a7a402f8abd702d70b5758823d88ae4fc65b37d130ce54856125ed6bc4",
            "test": "622ef57abec45eeab289d801da5c71f1a89c39cce0e0cb050ccfdccbcb7692a9"}
    for r, (split, sha) in zip(reviews, want.items()):
        assert hashlib.sha256(imdb.csv_bytes(r)).hexdigest() == sha, split


def test_imdb_load_reviews_and_dataset(env):
    (xtr, ytr), (xte, yte) = imdb.load_reviews(download=False)
    assert len(xtr) == len(xte) == 25000 and ytr.dtype == np.int64
    ds = imdb.IMDB(split="test", download=False)
    assert len(ds) == 25000 and ds[0] == (xte[0], 0) and isinstance(ds[-1][0], str)
    with pytest.raises(ValueError, match="split must be"):
        imdb.load_split("dev")


def test_imdb_tokenize_50k_is_fast(reviews):
    import time

    from nerve.data.text import basic_english
    texts = reviews[0].texts + reviews[1].texts
    t = time.process_time()
    n = sum(len(basic_english(x)) for x in texts)
    assert n > 12_000_000
    assert time.process_time() - t < 15  # about 2 s of CPU on the 2-core test machine


# --- IMDB: the Keras word-index form -------------------------------------------------------

@pytest.fixture(scope="module")
def keras_imdb(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("NERVE_DATA", str(SHARED))
    mp.setenv("NERVE_CACHE", str(tmp_path_factory.mktemp("kcache")))
    try:
        yield imdb
    finally:
        mp.undo()


def test_imdb_keras_form_real(keras_imdb, reviews):
    (x, y), (xt, yt) = keras_imdb.load_data(num_words=10000)
    assert x.dtype == object and len(x) == len(xt) == 25000 and y.dtype == np.int64
    assert all(s[0] == 1 for s in x[:100])
    assert max(max(s) for s in x) == 9999 and min(min(s) for s in x) >= 1
    wi = keras_imdb.get_word_index()
    assert wi["the"] == 1 and wi["and"] == 2 and wi["a"] == 3
    assert wi["br"] > 10000  # <br /> tags are not words (Keras's index has "br" = 7)
    # Keras's shuffle: RandomState(113) on the training set; the decoded review reads right
    idx = np.arange(25000)
    np.random.RandomState(113).shuffle(idx)
    assert np.array_equal(y, reviews[0].labels[idx])
    inv = {i + 3: w for w, i in wi.items()}
    want = [w if wi[w] + 3 < 10000 else "?" for w in words(reviews[0].texts[idx[0]])]
    assert [inv.get(i, "?") for i in x[0][1:]] == want
    # maxlen, skip_top, oov_char=None, no start mark: Keras's rules
    (x2, y2), (xt2, _) = keras_imdb.load_data(maxlen=100, skip_top=10, start_char=None,
                                              oov_char=None, index_from=0)
    assert 0 < len(x2) < 25000 and len(x2) == len(y2)
    assert all(len(s) < 100 for s in x2)
    assert min(min(s) for s in x2 if s) >= 10


def _fake_reviews(seed, n=3):
    rng = np.random.default_rng(seed)
    vocab = ["good", "bad", "film", "plot", "it's", "the", "a", "actor", "boring", "great"]
    texts, labels, ratings, ids = [], [], [], []
    for lab in (0, 1):
        for i in range(n):
            k = int(rng.integers(1, 12))
            toks = rng.choice(vocab, size=k).tolist()
            texts.append(" ".join(toks).capitalize() + ".<br /><br />The end!")
            labels.append(lab)
            ratings.append(2 if lab == 0 else 9)
            ids.append(i)
    return imdb.Reviews(texts, np.array(labels), np.array(ratings), np.array(ids))


def keras_reference(train_ranks, y_tr, test_ranks, y_te, num_words=None, skip_top=0,
                    maxlen=None, seed=113, start_char=1, oov_char=2, index_from=3):
    """Keras's imdb.load_data body, verbatim logic, on rank lists (the oracle)."""
    rng = np.random.RandomState(seed)
    x_train = np.empty(len(train_ranks), dtype=object)
    x_train[:] = train_ranks
    x_test = np.empty(len(test_ranks), dtype=object)
    x_test[:] = test_ranks
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], y_tr[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], y_te[indices]
    if start_char is not None:
        x_train = [[start_char] + [w + index_from for w in x] for x in x_train]
        x_test = [[start_char] + [w + index_from for w in x] for x in x_test]
    else:
        x_train = [[w + index_from for w in x] for x in x_train]
        x_test = [[w + index_from for w in x] for x in x_test]
    if maxlen:
        keep = [i for i, x in enumerate(x_train) if len(x) < maxlen]
        x_train, labels_train = [x_train[i] for i in keep], labels_train[keep]
        keep = [i for i, x in enumerate(x_test) if len(x) < maxlen]
        x_test, labels_test = [x_test[i] for i in keep], labels_test[keep]
    xs = x_train + x_test
    labels = np.concatenate([labels_train, labels_test])
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    n = len(x_train)
    return (xs[:n], labels[:n]), (xs[n:], labels[n:])


@pytest.mark.parametrize("kw", [
    {}, {"num_words": 8}, {"num_words": 9, "skip_top": 5}, {"maxlen": 8},
    {"start_char": None, "oov_char": None, "num_words": 7}, {"index_from": 0, "seed": 1},
])
def test_imdb_keras_form_matches_keras_code(offline, monkeypatch, kw):
    monkeypatch.setattr(imdb, "PER_LABEL", 3)
    data = offline / "data"
    tr, te = _fake_reviews(0), _fake_reviews(1)
    imdb.write_csv(tr, data / "train.csv.gz")
    imdb.write_csv(te, data / "test.csv.gz")
    wi = imdb.get_word_index(path=data, download=False)
    ranks_tr = [[wi[w] for w in words(t)] for t in tr.texts]
    ranks_te = [[wi[w] for w in words(t)] for t in te.texts]  # same small vocabulary
    (x, y), (xt, yt) = imdb.load_data(path=data, download=False, **kw)
    (rx, ry), (rxt, ryt) = keras_reference(ranks_tr, tr.labels, ranks_te, te.labels, **kw)
    assert list(x) == rx and list(xt) == rxt
    assert y.tolist() == ry.tolist() and yt.tolist() == ryt.tolist()
    # ranks: frequency in the training texts, ties alphabetical
    counts = Counter(w for t in tr.texts for w in words(t))
    assert sorted(wi, key=wi.get) == sorted(counts, key=lambda w: (-counts[w], w))


def test_imdb_keras_form_unseen_test_words_are_oov(offline, monkeypatch):
    monkeypatch.setattr(imdb, "PER_LABEL", 1)
    data = offline / "d"
    mk = lambda texts: imdb.Reviews(texts, np.array([0, 1]), np.array([1, 10]),  # noqa: E731
                                    np.array([0, 0]))
    imdb.write_csv(mk(["good film", "bad film"]), data / "train.csv.gz")
    imdb.write_csv(mk(["good zebra", "weird"]), data / "test.csv.gz")
    (x, _), (xt, _) = imdb.load_data(path=data, download=False, num_words=100)
    assert sorted(map(tuple, xt)) == [(1, 2), (1, 6, 2)]  # film=1, bad=2, good=3 (+3)
    (_, _), (xt, _) = imdb.load_data(path=data, download=False, oov_char=None, num_words=100)
    assert sorted(map(tuple, xt)) == [(1,), (1, 6)]
    # Keras's own rule without num_words: ids below the largest one (good=6 -> oov)
    (_, _), (xt, _) = imdb.load_data(path=data, download=False)
    assert sorted(map(tuple, xt)) == [(1, 2), (1, 2, 2)]


# --- IMDB: the original tarball ------------------------------------------------------------

def _imdb_tarball(extra=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        def add(name, data: bytes):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        add("aclImdb/README", b"readme")
        add("aclImdb/imdb.vocab", b"the\nand\n")
        for split in ("train", "test"):
            for lab, rating in (("neg", 3), ("pos", 8)):
                for i in (1, 0):
                    add(f"aclImdb/{split}/{lab}/{i}_{rating}.txt",
                        f"{split} {lab} review {i}, caf\u00e9 \"quoted\"<br />".encode())
            add(f"aclImdb/{split}/unsup/0_0.txt" if split == "train" else
                f"aclImdb/{split}/urls_pos.txt", b"skipped")
        add("../evil.txt", b"never read")
        if extra:
            extra(tar)
    return buf.getvalue()


def test_imdb_from_local_tarball(offline, monkeypatch):
    monkeypatch.setattr(imdb, "PER_LABEL", 2)
    d = offline / "downloads"
    d.mkdir()
    (d / "aclImdb_v1.tar.gz").write_bytes(_imdb_tarball())
    (xtr, ytr), (xte, yte) = imdb.load_reviews(path=d, download=False)
    assert ytr.tolist() == [0, 0, 1, 1]
    assert xtr[0] == 'train neg review 0, caf\u00e9 "quoted"<br />'
    assert xte[3] == 'test pos review 1, caf\u00e9 "quoted"<br />'
    cached = offline / "cache" / "imdb"
    assert (cached / "train.csv.gz").is_file() and (cached / "test.csv.gz").is_file()
    assert not (offline / "evil.txt").exists()
    # next time the cached CSVs are used, even without the tarball
    (d / "aclImdb_v1.tar.gz").unlink()
    assert imdb.load_reviews(download=False)[1][0] == xte
    r = imdb.read_csv(cached / "train.csv.gz")
    assert r.ratings.tolist() == [3, 3, 8, 8] and r.ids.tolist() == [0, 1, 0, 1]


def test_imdb_tarball_with_unwritable_cache(offline, monkeypatch):
    monkeypatch.setattr(imdb, "PER_LABEL", 2)
    blocker = offline / "not_a_dir"
    blocker.write_text("x")
    monkeypatch.setenv("NERVE_CACHE", str(blocker))
    (offline / "aclImdb_v1.tar.gz").write_bytes(_imdb_tarball())
    (xtr, ytr), _ = imdb.load_reviews(path=offline, download=False)
    assert len(xtr) == 4
    (x, y), _ = imdb.load_data(path=offline, download=False)
    assert len(x) == 4 and all(s[0] == 1 for s in x)


def test_imdb_tarball_refuses_links_and_bad_counts(offline, monkeypatch):
    def link(tar):
        info = tarfile.TarInfo("aclImdb/test/pos/7_9.txt")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    p = offline / "a.tar.gz"
    p.write_bytes(_imdb_tarball(link))
    with pytest.raises(DatasetError, match="not a regular file"):
        imdb.read_tarball(p)
    p.write_bytes(_imdb_tarball())
    with pytest.raises(DatasetError, match="expected 12500 of each"):
        imdb.read_tarball(p)
    p.write_bytes(_imdb_tarball()[:300])
    with pytest.raises(DatasetError, match="truncated"):
        imdb.read_tarball(p)


def test_imdb_from_unpacked_directory(offline, monkeypatch):
    monkeypatch.setattr(imdb, "PER_LABEL", 1)
    root = offline / "aclImdb"
    for split in ("train", "test"):
        for lab, rating in (("neg", 1), ("pos", 10)):
            d = root / split / lab
            d.mkdir(parents=True)
            (d / f"5_{rating}.txt").write_text(f"{split} {lab}", encoding="utf-8")
            (d / "notes.md").write_text("ignored")
    (root / "train" / "pos" / "6_9.txt").symlink_to(offline / "outside.txt")
    (xtr, ytr), (xte, yte) = imdb.load_reviews(path=offline, download=False)
    assert xtr == ["train neg", "train pos"] and xte == ["test neg", "test pos"]
    assert ytr.tolist() == [0, 1]


def test_imdb_download(server, monkeypatch):
    monkeypatch.setattr(imdb, "PER_LABEL", 2)
    blob = _imdb_tarball()
    monkeypatch.setattr(imdb, "TARBALL", D.Resource("aclImdb_v1.tar.gz",
                                                    md5=hashlib.md5(blob).hexdigest(),
                                                    size=len(blob)))
    monkeypatch.setattr(imdb, "MIRRORS", [server.url + "/sentiment/"])
    server.files["/sentiment/aclImdb_v1.tar.gz"] = blob
    with pytest.raises(DatasetNotFoundError, match="download is off"):
        imdb.load_reviews(download=False)
    (xtr, ytr), _ = imdb.load_reviews()
    assert len(xtr) == 4 and server.log == ["/sentiment/aclImdb_v1.tar.gz"]
    assert (server.url and (Path(os.environ["NERVE_CACHE"]) / "imdb" / "aclImdb_v1.tar.gz")
            .is_file())


def test_imdb_csv_errors(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text("id,text\n1,x\n")
    with pytest.raises(DatasetError, match="expected the header"):
        imdb.read_csv(p)
    p.write_text("id,rating,label,text\n0,3,0,ok\n1,8,1\n")
    with pytest.raises(DatasetError, match="line 3: expected 4 fields"):
        imdb.read_csv(p)
    p.write_text("id,rating,label,text\n0,9,0,a neg review rated 9\n")
    with pytest.raises(DatasetError, match="does not fit its label"):
        imdb.read_csv(p)
    gz = tmp_path / "t.csv.gz"
    gz.write_bytes(gzip.compress(b"id,rating,label,text\n0,3,0,abc\n" * 50)[:-20])
    with pytest.raises(DatasetError, match="unreadable or truncated"):
        imdb.read_csv(gz)


# --- small corpora -------------------------------------------------------------------------

def test_rt_polarity(env):
    texts, labels = text_corpora.load_rt_polarity(download=False)
    assert len(texts) == 10662 and np.bincount(labels).tolist() == [5331, 5331]
    assert labels[:5331].max() == 0 and labels[5331:].min() == 1
    assert len(set(texts)) == 10662
    pos_len = np.array([len(t.split()) for t in texts[5331:]])
    assert pos_len.min() == 2 and pos_len.max() == 59 and np.median(pos_len) == 20
    assert texts == [t.strip() for t in texts] and all(t == t.lower() for t in texts[:50])


def test_rt_polarity_8bit_tarball(offline, monkeypatch):
    monkeypatch.setitem(text_corpora.RT_POLARITY, "lines", 2)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("rt-polaritydata/rt-polarity.pos", b"caf\xe9 \x96 great\nfine\n"),
                           ("rt-polaritydata/rt-polarity.neg", b"bad\r\nworse \n"),
                           ("rt-polaritydata.README.1.0.txt", b"readme")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (offline / "rt-polaritydata.tar.gz").write_bytes(buf.getvalue())
    texts, labels = text_corpora.load_rt_polarity(path=offline, download=False)
    assert texts == ["bad", "worse", "caf\u00e9 \u2013 great", "fine"]
    assert labels.tolist() == [0, 0, 1, 1]


def test_uci_sentiment(env):
    texts, labels, src = text_corpora.load_uci_sentiment(download=False, return_source=True)
    assert len(texts) == 3000 and np.bincount(labels).tolist() == [1500, 1500]
    for name in ("amazon", "imdb", "yelp"):
        t, y = text_corpora.load_uci_sentiment(source=name, download=False)
        assert len(t) == 1000 and np.bincount(y).tolist() == [500, 500]
        assert (src == name).sum() == 1000
    t, _ = text_corpora.load_uci_sentiment(source="imdb", download=False)
    assert any("\u0085" in s for s in t)  # kept, not a line break
    assert texts[0] == ("So there is no way for me to plug it in here in the US unless I go by "
                        "a converter.")
    with pytest.raises(ValueError, match="source must be"):
        text_corpora.load_uci_sentiment(source="twitter")


def test_uci_sentiment_checksum_and_zip(offline):
    src = SHARED / "uci_sentiment_sentences"
    bad = offline / "bad"
    bad.mkdir()
    for f in ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt"):
        (bad / f).write_bytes((src / f).read_bytes())
    (bad / "yelp_labelled.txt").write_bytes(b"Tampered.\t1\n")
    with pytest.raises(DatasetError, match="checksum mismatch"):
        text_corpora.load_uci_sentiment(path=bad, download=False)
    t, y = text_corpora.load_uci_sentiment(path=bad, source="yelp", download=False,
                                           verify=False)
    assert t == ["Tampered."] and y.tolist() == [1]
    (bad / "yelp_labelled.txt").write_bytes(b"no label here\n")
    with pytest.raises(DatasetError, match=r"yelp_labelled\.txt, line 1"):
        text_corpora.load_uci_sentiment(path=bad, source="yelp", download=False, verify=False)
    # the UCI zip, read in memory
    z = offline / "zipped"
    z.mkdir()
    with zipfile.ZipFile(z / "sentiment+labelled+sentences.zip", "w") as zf:
        for f in ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt"):
            zf.writestr("sentiment labelled sentences/" + f, (src / f).read_bytes())
        zf.writestr("__MACOSX/._x", b"junk")
    t, y = text_corpora.load_uci_sentiment(path=z, download=False)
    assert len(t) == 3000


def test_tiny_shakespeare(env):
    text = text_corpora.load_tiny_shakespeare(download=False)
    assert len(text) == 1115394 and len(set(text)) == 65
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")
    assert text.count("\n") == 40000 and len(text.split()) == 202651


# --- time series ---------------------------------------------------------------------------

def test_timeseries_shapes_and_values(env):
    d, y = timeseries.load_airline_passengers(download=False)
    assert d.dtype == np.dtype("datetime64[M]") and y.dtype == np.float32 and y.shape == (144,)
    assert str(d[0]) == "1949-01" and str(d[-1]) == "1960-12"
    assert np.all(np.diff(d).astype(int) == 1)
    assert y[:12].tolist() == [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118]
    assert y[-12:].tolist() == [417, 391, 419, 461, 472, 535, 622, 606, 508, 461, 390, 432]
    assert round(float(y.mean()), 2) == 280.30
    d, y = timeseries.load_daily_min_temperatures(download=False)
    assert d.dtype == np.dtype("datetime64[D]") and y.shape == (3650,)
    assert str(d[0]) == "1981-01-01" and str(d[-1]) == "1990-12-31"
    assert np.datetime64("1984-12-31") not in d and y.min() == 0 and y.max() == np.float32(26.3)
    d, y = timeseries.load_monthly_sunspots(download=False)
    assert y.shape == (2820,) and str(d[0]) == "1749-01" and str(d[-1]) == "1983-12"
    assert round(float(y.mean()), 2) == 51.27
    with pytest.raises(ValueError, match="unknown series"):
        timeseries.load_series("ftse")


def test_sliding_windows():
    y = np.arange(10, dtype=np.float32)
    X, t = timeseries.sliding_windows(y, window=3)
    assert X.shape == (7, 3) and t.shape == (7,) and X.dtype == np.float32
    assert X[2].tolist() == [2, 3, 4] and t[2] == 5
    X, t = timeseries.sliding_windows(y, window=4, horizon=2, stride=3)
    assert X.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6]] and t.tolist() == [[4, 5], [7, 8]]
    X, t = timeseries.sliding_windows(np.ones((6, 2)), window=2)
    assert X.shape == (4, 2, 2) and t.shape == (4, 2)
    with pytest.raises(ValueError, match="too short"):
        timeseries.sliding_windows(y, window=10)
    with pytest.raises(ValueError, match="window must be a positive int"):
        timeseries.sliding_windows(y, window=0)


def test_timeseries_download_and_cache(server, monkeypatch):
    body = (SHARED / "timeseries" / "airline-passengers.csv").read_bytes()
    server.files["/mirror/airline-passengers.csv"] = body
    monkeypatch.setattr(timeseries, "MIRRORS", [server.url + "/mirror/"])
    with pytest.raises(DatasetNotFoundError, match="download is off"):
        timeseries.load_airline_passengers(download=False)
    d, y = timeseries.load_airline_passengers()
    assert y.shape == (144,) and server.log == ["/mirror/airline-passengers.csv"]
    assert timeseries.load_airline_passengers(download=False)[1].tolist() == y.tolist()
    # a wrong file on the mirror is refused by its checksum
    server.files["/mirror/monthly-sunspots.csv"] = body
    with pytest.raises(D.DownloadError, match="checksum mismatch"):
        timeseries.load_monthly_sunspots()


def test_timeseries_malformed(offline):
    spec = timeseries.SERIES["airline-passengers"]
    bad = offline / "airline-passengers.csv"
    bad.write_text('"Month","Passengers"\n"1949-01",112\n"1949-02",oops\n')
    with pytest.raises(DatasetError, match="line 3: value 'oops' is not a number"):
        timeseries._parse(bad.read_bytes(), bad, spec)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        timeseries.load_airline_passengers(path=offline, download=False)
