"""IMDB sentiment with a small Transformer encoder: Embedding + positions -> encoder -> mean-pool.

The 25,000 / 25,000 reviews of the Large Movie Review Dataset, tokenized with
``basic_english`` (vocabulary: the 20,000 most frequent training tokens + ``<unk>``,
``<pad>``), cut to the first ``--max-len`` tokens and batched by length (bucketing), so
little of each batch is padding. The model::

    h = Embedding(ids)·√d + sinusoidal positions        (d = 128, embeddings ~ N(0, 1/d))
    h = TransformerEncoder(1 layer, 4 heads, feed-forward 256)(h, key_padding_mask)
    logits = Linear(mean of h over the non-padding tokens)

The key padding mask keeps padded positions out of the attention and out of the mean.
The embeddings start at N(0, 1/d) as in Vaswani et al. (not nn.Embedding's N(0, 1)), so
after the √d factor they are on the scale of the positional sinusoids and Adam moves
them √d times faster: with N(0, 1) they drown the positions and learn slowly.
Dropout (0.1) acts on the positions-added embeddings, the residual branches and the pooled
vector; the attention weights are not dropped by default (``--attn-dropout``): on
(B·heads, T, T) score arrays that is the costliest pass of a NumPy step, and one layer
(``--layers``) keeps a full run in ~15 minutes on two shared cores.
Trained with AdamW, a linear warm-up and a linear decay of the learning rate.
``--val-size`` training reviews are held out (never trained on) to pick the epoch whose
weights are kept; the test set is scored once, with those weights.

Run: python examples/sentiment_transformer.py [--epochs 3] [--data DIR] [--smoke]
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np
from sentiment_common import data_dir, encode, evaluate  # noqa: E402

import nerve
from nerve import nn
from nerve.data.text import BucketBatchSampler, PadCollate, build_vocab_from_iterator, get_tokenizer
from nerve.datasets import imdb


class TransformerClassifier(nn.Module):
    def __init__(self, vocab: int, pad: int, d_model: int = 128, heads: int = 4,
                 layers: int = 1, ff: int = 256, max_len: int = 512, dropout: float = 0.1,
                 attn_dropout: float = 0.0, classes: int = 2) -> None:
        super().__init__()
        self.pad = pad
        self.scale = math.sqrt(d_model)
        self.embed = nn.Embedding(vocab, d_model, padding_idx=pad)
        nn.init.normal_(self.embed.weight, 0.0, d_model ** -0.5)
        self.embed.weight.data[pad] = 0.0
        self.pos = nn.PositionalEncoding(d_model, max_len, dropout, batch_first=True)
        layer = nn.TransformerEncoderLayer(d_model, heads, ff, dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        for block in self.encoder.layers:         # dropout on the attention weights
            block.self_attn.dropout = attn_dropout
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(d_model, classes)

    def forward(self, ids, lengths):
        """ids (B, T) padded with ``pad`` after each review, lengths (B,) -> logits (B, C)."""
        pad_mask = ids == self.pad                                   # (B, T) True = padding
        h = self.pos(self.embed(ids) * self.scale)
        h = self.encoder(h, src_key_padding_mask=pad_mask)
        keep = (~pad_mask).float().unsqueeze(-1)                     # (B, T, 1)
        pooled = (h * keep).sum(1) / lengths.float().unsqueeze(1)
        return self.head(self.drop(pooled))


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    ap.add_argument("--vocab-size", type=int, default=20000)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--ff", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--attn-dropout", type=float, default=0.0)
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
        args.epochs, args.max_len, args.vocab_size, args.warmup = 1, 64, 2000, 2
        args.d_model, args.ff, args.layers, args.batch_size, args.val_size = 32, 64, 1, 32, 64
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
    collate = PadCollate(pad_value=pad)
    sampler = BucketBatchSampler([len(s[0]) for s in train], args.batch_size, generator=args.seed)
    print(f"IMDB: {len(train):,} train / {len(val):,} validation / {len(test):,} test reviews, "
          f"vocab {len(vocab):,}, "
          f"max {args.max_len} tokens (mean {np.mean([len(s[0]) for s in train]):.0f}); "
          f"prepared in {time.perf_counter() - t0:.1f} s")

    model = TransformerClassifier(len(vocab), pad, args.d_model, args.heads, args.layers,
                                  args.ff, args.max_len, args.dropout, args.attn_dropout)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and not n.startswith("embed")]
    rest = [p for n, p in model.named_parameters() if p.ndim < 2 or n.startswith("embed")]
    opt = nerve.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=args.lr)
    total_steps = args.epochs * len(sampler)

    def lr_factor(step: int) -> float:  # linear warm-up, then linear decay to 0
        if step < args.warmup:
            return (step + 1) / args.warmup
        return max(0.0, (total_steps - step) / max(1, total_steps - args.warmup))

    sched = nerve.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    loss_fn = nn.CrossEntropyLoss()
    print(f"Transformer encoder: {args.layers} layers x {args.heads} heads x {args.d_model} wide "
          f"(feed-forward {args.ff}), {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, {args.epochs} epochs x {len(sampler)} steps, batch {args.batch_size}")
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
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item() * len(batch)
            correct += int((logits.argmax(1).numpy() == y.numpy()).sum())
            n += len(batch)
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
    weights = os.path.join(args.out, "sentiment_transformer.safetensors")
    nerve.save(model.state_dict(), weights)
    vocab.save(os.path.join(args.out, "sentiment_transformer_vocab.json"))
    print(f"weights saved to {weights} (vocab beside it)")
    try:
        from nerve import plot

        plot.plot_curves(history, os.path.join(args.out, "sentiment_transformer_curves.png"))
    except ImportError as e:
        print(f"no plots ({e}); pip install 'nerve[plot]'")
    return test_acc


if __name__ == "__main__":
    main()
