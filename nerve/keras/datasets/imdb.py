"""``imdb.load_data(num_words=...)``: reviews as lists of word indices (Keras' offsets)."""


def load_data(path: str = "imdb.npz", num_words=None, skip_top: int = 0, maxlen=None,
              seed: int = 113, start_char: int = 1, oov_char: int = 2, index_from: int = 3,
              **kwargs):
    from nerve.datasets import imdb

    return imdb.load_data(num_words=num_words, skip_top=skip_top, maxlen=maxlen, seed=seed,
                          start_char=start_char, oov_char=oov_char, index_from=index_from)


def get_word_index(path: str = "imdb_word_index.json"):
    from nerve.datasets import imdb

    return imdb.get_word_index()
