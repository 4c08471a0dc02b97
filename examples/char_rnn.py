"""Character-level LSTM language model on tiny-shakespeare (last 10 % held out).

Embedding(65, 64) -> LSTM(256, 2 layers) -> Linear(65), trained on random windows of 100
characters (truncated back-propagation through time) to predict each next character.
The held-out loss is the mean cross-entropy per character in nats, over the whole last
10 % of the text, read as 32 contiguous streams whose LSTM state carries across chunks.
Samples are drawn at a temperature (softmax(logits / T)).

Run: python examples/char_rnn.py [--epochs 4] [--steps-per-epoch 250] [--data DIR] [--smoke]
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


class CharLSTM(nn.Module):
    def __init__(self, vocab: int, embed: int = 64, hidden: int = 256, layers: int = 2,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):               # x: (B, T) ids -> (B, T, vocab), state
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def data_dir(arg: str | None, name: str) -> str | None:
    """``--data`` may name the dataset's folder or the root holding ``name/``."""
    if arg is None:
        return None
    return os.path.join(arg, name) if os.path.isdir(os.path.join(arg, name)) else arg


def heldout_loss(model, ids: np.ndarray, streams: int = 32, chunk: int = 128) -> float:
    """Mean next-character cross-entropy (nats) over ``ids``, read as ``streams`` contiguous
    pieces processed ``chunk`` characters at a time with the state carried over."""
    n = (len(ids) - 1) // streams
    x_all = ids[:n * streams].reshape(streams, n)
    y_all = ids[1:n * streams + 1].reshape(streams, n)
    model.eval()
    total, count, state = 0.0, 0, None
    with nerve.no_grad():
        for s in range(0, n, chunk):
            x = nerve.from_numpy(x_all[:, s:s + chunk])
            y = nerve.from_numpy(y_all[:, s:s + chunk])
            logits, state = model(x, state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                               y.reshape(-1), reduction="sum")
            total += loss.item()
            count += y.numel()
    return total / count


def sample(model, itos: list[str], stoi: dict, n: int, temperature: float, prompt: str,
           rng: np.random.Generator) -> str:
    """``n`` characters after ``prompt``, drawn from softmax(logits / temperature)."""
    model.eval()
    out = list(prompt)
    with nerve.no_grad():
        x = nerve.from_numpy(np.array([[stoi[c] for c in prompt]], dtype=np.int64))
        logits, state = model(x)
        for _ in range(n):
            z = logits.numpy()[0, -1].astype(np.float64) / temperature
            p = np.exp(z - z.max())
            i = int(rng.choice(len(p), p=p / p.sum()))
            out.append(itos[i])
            logits, state = model(nerve.from_numpy(np.array([[i]], dtype=np.int64)), state)
    return "".join(out)


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps-per-epoch", type=int, default=250)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=100)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--lr", type=float, default=3e-3)
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
    ids = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    lut = np.zeros(256, dtype=np.int64)
    lut[[ord(c) for c in itos]] = np.arange(len(itos))
    ids = lut[ids]
    split = int(0.9 * len(ids))
    train, val = ids[:split], ids[split:]
    if args.smoke:
        train, val = train[:20000], val[:4000]
        args.epochs, args.steps_per_epoch, args.sample_len = 1, 3, 40
        args.hidden, args.layers, args.batch_size, args.seq_len = 32, 1, 8, 32

    model = CharLSTM(len(itos), args.embed, args.hidden, args.layers, args.dropout)
    opt = nerve.optim.Adam(model.parameters(), lr=args.lr)
    total_steps = args.epochs * args.steps_per_epoch
    sched = nerve.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps,
                                                       eta_min=args.lr / 10)
    print(f"tiny-shakespeare: {len(text):,} characters, vocab {len(itos)}, train {len(train):,} "
          f"/ held-out {len(val):,}; LSTM {args.layers}x{args.hidden}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters; {args.epochs} epochs x "
          f"{args.steps_per_epoch} steps, batch {args.batch_size} x {args.seq_len} characters")
    T, Bn = args.seq_len, args.batch_size
    offsets = np.arange(T + 1)
    t0 = time.perf_counter()
    history = {"loss": [], "val_loss": []}
    for epoch in range(1, args.epochs + 1):
        model.train()
        total = 0.0
        for _ in range(args.steps_per_epoch):
            start = rng.integers(0, len(train) - T - 1, size=Bn)
            win = train[start[:, None] + offsets]
            logits, _ = model(nerve.from_numpy(win[:, :-1]))
            loss = nn.functional.cross_entropy(logits.reshape(-1, len(itos)),
                                               nerve.from_numpy(win[:, 1:].reshape(-1)))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            total += loss.item()
        val_loss = heldout_loss(model, val)
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
    weights = os.path.join(args.out, "char_rnn.safetensors")
    nerve.save(model.state_dict(), weights)
    print(f"weights saved to {weights}")
    return val_loss


if __name__ == "__main__":
    main()
