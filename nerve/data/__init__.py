"""Data loading with PyTorch's semantics: datasets, samplers, collation, DataLoader.

Also reachable as ``nerve.utils.data`` (the PyTorch spelling).
"""
from . import (
    collate,
    dataloader,
    dataset,
    sampler,
    text,
)
from .collate import default_collate, default_convert
from .dataloader import DataLoader, get_worker_info
from .dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from .sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .text import (
    BucketBatchSampler,
    CSVTextDataset,
    PadCollate,
    TextClassificationDataset,
    Vocab,
    build_vocab_from_iterator,
    get_tokenizer,
    pad_sequences,
)

__all__ = ["text", "Vocab", "build_vocab_from_iterator", "get_tokenizer", "pad_sequences",
           "PadCollate", "BucketBatchSampler", "TextClassificationDataset", "CSVTextDataset",
           "Dataset", "IterableDataset", "TensorDataset", "ConcatDataset", "Subset",
           "random_split", "Sampler", "SequentialSampler", "RandomSampler",
           "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "DataLoader",
           "default_collate", "default_convert", "get_worker_info"]
