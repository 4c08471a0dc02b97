"""Character-level causal Transformer (a minimal GPT) on tiny-shakespeare, last 10 % held out.

Token embedding (65 x 128) + learned positions (64 x 128) -> 4 pre-norm Transformer layers
(4 heads, width 128, feed-forward 512, ReLU) under a causal mask -> LayerNorm -> Linear(65).
Trained on random 64-character windows to predict every next character (AdamW, linear
warm-up then cosine decay). The held-out loss is the mean cross-entropy in nats per
character over the last 10 % of the text cut into consecutive 64-character windows (each
character predicted from the ones before it in its window), as nanoGPT measures it.
Samples are drawn at a temperature from a sliding 64-character context.

Run: python examples/char_transformer.py [--epochs 6] [--steps-per-epoch 500] [--smoke]
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import nerve
from nerve import nn
from nerve.datasets import load_tiny_shakespeare


class CharTransformer(nn.Module):
    def __init__(self, vocab: int, context: int = 64, d_model: int = 128, heads: int = 4,
                 layers: int = 4, dropout: float = 0.0) -> None:
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab, d_model)
        self.pos = nn.LearnedPositionalEncoding(context, d_model, dropout, batch_first=True)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, dropout,
                                           activation="relu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(context),
                             persistent=False)

    def forward(self, x):                          # x: (B, T <= context) ids -> (B, T, vocab)
        T = x.shape[1]
        h = self.pos(self.embed(x))
        h = self.blocks(h, mask=self.causal[:T, :T])
        return self.head(self.norm(h))


def data_dir(arg: str | None, name: str) -> str | None:
    """``--data`` may name the dataset's folder or the root holding ``name/``."""
    if arg is None:
        return None
    return os.path.join(arg, name) if os.path.isdir(os.path.join(arg, name)) else arg


def heldout_loss(model, ids: np.ndarray, context: int, batch: int = 128) -> float:
    """Mean next-character cross-entropy (nats) over consecutive ``context``-long windows."""
    n = (len(ids) - 1) // context
    x_all = ids[:n * context].reshape(n, context)
    y_all = ids[1:n * context + 1].reshape(n, context)
    model.eval()
    total = 0.0
    with nerve.no_grad():
        for s in range(0, n, batch):
            logits = model(nerve.from_numpy(x_all[s:s + batch]))
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                               nerve.from_numpy(y_all[s:s + batch].reshape(-1)),
                                               reduction="sum")
            total += loss.item()
    return total / (n * context)


def sample(model, itos: list[str], stoi: dict, n: int, temperature: float, prompt: str,
           rng: np.random.Generator) -> str:
    """``n`` characters after ``prompt`` from softmax(logits / temperature), each predicted
    from the last ``model.context`` characters."""
    model.eval()
    ids = [stoi[c] for c in prompt]
    with nerve.no_grad():
        for _ in range(n):
            x = nerve.from_numpy(np.array([ids[-model.context:]], dtype=np.int64))
            z = model(x).numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return "".join(itos[i] for i in ids)


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--steps-per-epoch", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100, help="linear warm-up steps")
    ap.add_argument("--weight-decay", type=float, default=0.01)
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--sample-len", type=int, default=400)
    ap.add_argument("--data", default=None, help="the tiny_shakespeare/ folder (default "
                    "$NERVE_DATA/tiny_shakespeare, the cache, or download)")
    ap.add_argument("--out", default=os.environ.get("NERVE_OUT", "runs"))
    ap.add_argument("--smoke", action="store_true", help="a few batches, tiny model (CI)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    nerve.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    text = load_tiny_shakespeare(data_dir(args.data, "tiny_shakespeare"))
    itos = sorted(set(text))
    stoi = {c: i for i, c in enumerate(itos)}
    lut = np.zeros(256, dtype=np.int64)
    lut[[ord(c) for c in itos]] = np.arange(len(itos))
    ids = lut[np.frombuffer(text.encode("ascii"), dtype=np.uint8)]
    split = int(0.9 * len(ids))
    train, val = ids[:split], ids[split:]
    if args.smoke:
        train, val = train[:20000], val[:4000]
        args.epochs, args.steps_per_epoch, args.sample_len, args.warmup = 1, 3, 40, 1
        args.d_model, args.layers, args.batch_size, args.context = 32, 1, 8, 32

    model = CharTransformer(len(itos), args.context, args.d_model, args.heads, args.layers,
                            args.dropout)
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = nerve.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    total_steps = args.epochs * args.steps_per_epoch

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine down to 10 %
        if step < args.warmup:
            return (step + 1) / args.warmup
        frac = (step - args.warmup) / max(1, total_steps - args.warmup)
        return 0.1 + 0.45 * (1.0 + math.cos(math.pi * min(1.0, frac)))

    sched = nerve.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    print(f"tiny-shakespeare: {len(text):,} characters, vocab {len(itos)}, train {len(train):,} "
          f"/ held-out {len(val):,}; Transformer {args.layers} layers x {args.heads} heads x "
          f"{args.d_model} wide, context {args.context}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; {args.epochs} epochs x "
          f"{args.steps_per_epoch} steps, batch {args.batch_size}")
    T, Bn = args.context, args.batch_size
    offsets = np.arange(T + 1)
    t0 = time.perf_counter()
    history = {"loss": [], "val_loss": []}
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for _ in range(args.steps_per_epoch):
            start = rng.integers(0, len(train) - T - 1, size=Bn)
            win = train[start[:, None] + offsets]
            logits = model(nerve.from_numpy(win[:, :-1]))
            loss = nn.functional.cross_entropy(logits.reshape(-1, len(itos)),
                                               nerve.from_numpy(win[:, 1:].reshape(-1)))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            total += loss.item()
        val_loss = heldout_loss(model, val, T)
        history["loss"].append(total / args.steps_per_epoch)
        history["val_loss"].append(val_loss)
        print(f"epoch {epoch}/{args.epochs}  train loss {total / args.steps_per_epoch:.4f}  "
              f"held-out loss {val_loss:.4f} nats/char ({val_loss / math.log(2):.3f} bits)  "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)

    wall = time.perf_counter() - t0
    val_loss = history["val_loss"][-1]
    print(f"final held-out loss {val_loss:.4f} nats/char after {args.epochs} epochs "
          f"({total_steps} steps, {total_steps * Bn * T:,} training characters) ({wall:.0f} s)")
    print(f"--- sample, temperature {args.temperature} ---")
    print(sample(model, itos, stoi, args.sample_len, args.temperature, "ROMEO:\n", rng))
    print("---")
    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "char_transformer.safetensors")
    nerve.save(model.state_dict(), weights)
    print(f"weights saved to {weights}")
    return val_loss


if __name__ == "__main__":
    main()
