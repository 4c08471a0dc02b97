"""IMDB sentiment with a recurrent net: Embedding -> bidirectional LSTM/GRU -> pooling -> Linear.

The 25,000 training and 25,000 test reviews of the Large Movie Review Dataset (Maas et al.,
2011). Reviews are tokenized with ``basic_english``, the vocabulary holds the 20,000 most
frequent training tokens (+ ``<unk>``, ``<pad>``), and each review is cut to its first
``--max-len`` tokens. Batches are bucketed by length and packed
(``pack_padded_sequence``), so padding costs neither time nor accuracy. The recurrent
outputs are pooled over the valid steps (mean and max, concatenated) and a linear layer
reads the two classes (pooling every step scored better than the final state alone).

``--val-size`` training reviews are held out (never trained on) to pick the epoch whose
weights are kept; the test set is scored once, with those weights. The learning rate
halves after every epoch.

Run: python examples/sentiment_rnn.py [--epochs 3] [--cell lstm|gru] [--data DIR] [--smoke]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sentiment_common import data_dir, encode, evaluate  # noqa: E402

import nerve
from nerve import nn
from nerve.data.text import BucketBatchSampler, PadCollate, build_vocab_from_iterator, get_tokenizer
from nerve.datasets import imdb
from nerve.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class RNNClassifier(nn.Module):
    def __init__(self, vocab: int, pad: int, embed: int = 128, hidden: int = 128,
                 cell: str = "lstm", bidirectional: bool = True, dropout: float = 0.3,
                 classes: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed, padding_idx=pad)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(embed, hidden, batch_first=True, bidirectional=bidirectional)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden * (2 if bidirectional else 1), classes)

    def forward(self, ids, lengths):
        """ids (B, T) sorted by decreasing ``lengths`` (B,) -> logits (B, classes)."""
        x = self.drop(self.embed(ids))
        out, _ = self.rnn(pack_padded_sequence(x, lengths, batch_first=True))
        out, _ = pad_packed_sequence(out, batch_first=True)        # (B, T, D·H), zeros past the end
        T = out.shape[1]
        valid = nerve.from_numpy((np.arange(T)[None, :] < lengths.numpy()[:, None])[..., None])
        mean = out.sum(1) / lengths.float().unsqueeze(1)
        mx = out.masked_fill(~valid, float("-inf")).max(1)[0]
        return self.head(self.drop(nerve.cat([mean, mx], 1)))


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--cell", choices=["lstm", "gru"], default="lstm")
    ap.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--vocab-size", type=int, default=20000)
    ap.add_argument("--max-len", type=int, default=400)
    ap.add_argument("--embed", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--val-size", type=int, default=2500,
                    help="training reviews held out to choose the epoch")
    ap.add_argument("--data", default=None, help="the imdb/ folder (default $NERVE_DATA/imdb, "
                    "the cache, or download)")
    ap.add_argument("--out", default=os.environ.get("NERVE_OUT", "runs"))
    ap.add_argument("--smoke", action="store_true", help="a few batches on a small subset (CI)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    nerve.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    (xtr, ytr), (xte, yte) = imdb.load_reviews(data_dir(args.data, "imdb"))
    if args.smoke:  # a balanced few hundred of each split, short reviews, a small model
        pick = lambda n, k: np.r_[rng.choice(n // 2, k, replace=False),  # noqa: E731
                                  n // 2 + rng.choice(n // 2, k, replace=False)]
        tr, te = pick(len(xtr), 160), pick(len(xte), 100)
        xtr, ytr = [xtr[i] for i in tr], ytr[tr]
        xte, yte = [xte[i] for i in te], yte[te]
        args.epochs, args.max_len, args.vocab_size = 1, 64, 2000
        args.embed, args.hidden, args.batch_size, args.val_size = 16, 16, 32, 64
    perm = rng.permutation(len(xtr))
    tr, va = perm[args.val_size:], perm[:args.val_size]
    xva, yva = [xtr[i] for i in va], ytr[va]
    xtr, ytr = [xtr[i] for i in tr], ytr[tr]
    t0 = time.perf_counter()
    tokenizer = get_tokenizer("basic_english")
    vocab = build_vocab_from_iterator(map(tokenizer, xtr), specials=["<unk>", "<pad>"],
                                      max_size=args.vocab_size, unk_token="<unk>")
    pad = vocab["<pad>"]
    train = encode(xtr, ytr, vocab, tokenizer, args.max_len)
    val = encode(xva, yva, vocab, tokenizer, args.max_len)
    test = encode(xte, yte, vocab, tokenizer, args.max_len)
    collate = PadCollate(pad_value=pad, sort_by_length=True)
    sampler = BucketBatchSampler([len(s[0]) for s in train], args.batch_size, generator=args.seed)
    print(f"IMDB: {len(train):,} train / {len(val):,} validation / {len(test):,} test reviews, "
          f"vocab {len(vocab):,}, "
          f"max {args.max_len} tokens (mean {np.mean([len(s[0]) for s in train]):.0f}); "
          f"prepared in {time.perf_counter() - t0:.1f} s")

    model = RNNClassifier(len(vocab), pad, args.embed, args.hidden, args.cell,
                          args.bidirectional, args.dropout)
    opt = nerve.optim.Adam(model.parameters(), lr=args.lr)
    sched = nerve.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()
    print(f"{'bidirectional ' if args.bidirectional else ''}{args.cell.upper()}({args.hidden}) "
          f"classifier, {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{args.epochs} epochs, batch {args.batch_size}")
    history = {"loss": [], "accuracy": [], "val_accuracy": []}
    best = (-1.0, 0, None)                 # (validation accuracy, epoch, weights)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        total, correct, n = 0.0, 0, 0
        for batch in sampler:
            ids, lengths, y = collate([train[i] for i in batch])
            logits = model(ids, lengths)
            loss = loss_fn(logits, y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            total += loss.item() * len(batch)
            correct += int((logits.argmax(1).numpy() == y.numpy()).sum())
            n += len(batch)
        sched.step()
        val_acc = evaluate(model, val, collate)
        if val_acc > best[0]:
            best = (val_acc, epoch, {k: v.numpy().copy() for k, v in model.state_dict().items()})
        history["loss"].append(total / n)
        history["accuracy"].append(correct / n)
        history["val_accuracy"].append(val_acc)
        print(f"epoch {epoch}/{args.epochs}  loss {total / n:.4f}  train accuracy "
              f"{correct / n:.4f}  validation accuracy {val_acc:.4f}  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)

    model.load_state_dict(best[2])
    test_acc = evaluate(model, test, collate)
    wall = time.perf_counter() - t0
    print(f"final test accuracy {test_acc:.4f} on {len(test):,} test reviews with the weights "
          f"of epoch {best[1]} (best validation accuracy {best[0]:.4f}) after {args.epochs} "
          f"epochs ({wall:.0f} s)")
    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "sentiment_rnn.safetensors")
    nerve.save(model.state_dict(), weights)
    vocab.save(os.path.join(args.out, "sentiment_rnn_vocab.json"))
    print(f"weights saved to {weights} (vocab beside it)")
    try:
        from nerve import plot

        plot.plot_curves(history, os.path.join(args.out, "sentiment_rnn_curves.png"))
    except ImportError as e:
        print(f"no plots ({e}); pip install 'nerve[plot]'")
    return test_acc


if __name__ == "__main__":
    main()
