"""The text pipeline: tokenizers, Vocab, pretrained vectors, padding, bucketing, CSV datasets.

The capabilities of legacy torchtext (``Field``, ``TabularDataset.splits``,
``build_vocab(max_size=, min_freq=, vectors=)``, ``BucketIterator``) in small pieces::

    from nerve.data import DataLoader
    from nerve.data.text import (CSVTextDataset, BucketBatchSampler, PadCollate,
                                 pretrained_embedding)

    train, test = CSVTextDataset.splits("data", train="train.csv", test="test.csv",
                                        max_size=10000)          # text,label columns
    vocab = train.vocab                                           # <unk>=0, <pad>=1, ...
    emb, aligned = pretrained_embedding(vocab, "glove.6B.100d.txt")  # coverage: aligned.coverage
    loader = DataLoader(train, batch_sampler=BucketBatchSampler(train.lengths, 64, generator=0),
                        collate_fn=PadCollate(pad_value=vocab["<pad>"]))
    for ids, lengths, labels in loader: ...
"""
from .bucketing import BucketBatchSampler, padding_fraction
from .datasets import CSVTextDataset, TextClassificationDataset, make_label_map, read_csv_columns
from .padding import PadCollate, pad_collate, pad_sequences
from .tokenizers import basic_english, characters, get_tokenizer, whitespace, words
from .vectors import AlignedVectors, Vectors, load_vectors, pretrained_embedding
from .vocab import Vocab, build_vocab_from_iterator

__all__ = ["basic_english", "characters", "whitespace", "words", "get_tokenizer", "Vocab",
           "build_vocab_from_iterator", "Vectors", "AlignedVectors", "load_vectors",
           "pretrained_embedding", "pad_sequences", "PadCollate", "pad_collate",
           "BucketBatchSampler", "padding_fraction", "TextClassificationDataset",
           "CSVTextDataset", "make_label_map", "read_csv_columns"]
