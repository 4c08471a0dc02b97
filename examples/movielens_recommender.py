"""Movie recommendation on MovieLens-100k: biased matrix factorisation and embedding + MLP.

Explicit feedback: predict the 1-5 star rating r that user u gives movie i.

(a) Matrix factorisation with biases (Funk's "SVD", Koren's baseline + factors):

        r̂ = μ + b_u + b_i + p_u · q_i

    trained by minimising  mean (r - r̂)² + λ (‖p_u‖² + ‖q_i‖² + b_u² + b_i²)  over each
    mini-batch of ratings, with Adam (plus a small weight decay, which shrinks the rows
    of rarely rated movies towards zero).
(b) Embedding + MLP (the documents' RatingPredictor): r̂ = μ + MLP([e_u ; e_i]), the two
    embeddings concatenated into Linear -> ReLU -> Linear -> 1, with weight decay.

Protocol (nothing is tuned on the test sets): for each fold u1..u5, 5% of u{k}.base is
held out to choose the number of epochs (lowest validation RMSE, patience 5); the model
is then retrained on the whole u{k}.base for that many epochs and scored once on
u{k}.test. Predictions are clipped to [1, 5]. The hyper-parameters in CONFIGS were
chosen on u1's validation hold-out only.

Data: GroupLens's ml-100k, read from --data, $NERVE_DATA/ml-100k or downloaded by
nerve.datasets.movielens (research use only; its licence forbids redistributing it).

    python examples/movielens_recommender.py                # u1..u5, both models
    python examples/movielens_recommender.py --folds 1 --model mf --user 42
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

import nerve
import nerve.nn as nn
import nerve.optim as optim
from nerve.data import DataLoader
from nerve.datasets import movielens

CONFIGS = {
    "mf": dict(name="biased MF", dim=64, lr=2e-3, l2=0.05, weight_decay=2e-4, batch_size=256,
               max_epochs=50),
    "mlp": dict(name="embedding+MLP", dim=32, hidden=64, lr=1e-3, l2=0.0, weight_decay=1e-3,
                batch_size=256, max_epochs=40),
}
PATIENCE = 5
VAL_FRACTION = 0.05


class BiasedMF(nn.Module):
    """r̂ = μ + b_u + b_i + p_u · q_i (user/item ids start at 0)."""

    def __init__(self, num_users: int, num_items: int, dim: int, mean: float):
        super().__init__()
        self.user_factors = nn.Embedding(num_users, dim)
        self.item_factors = nn.Embedding(num_items, dim)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        self.mean = mean
        nn.init.normal_(self.user_factors.weight, std=0.1)
        nn.init.normal_(self.item_factors.weight, std=0.1)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, user, item):
        dot = (self.user_factors(user) * self.item_factors(item)).sum(1)
        return self.mean + self.user_bias(user).squeeze(1) + self.item_bias(item).squeeze(1) + dot

    def l2(self, user, item):
        """Per-rating penalty ‖p_u‖² + ‖q_i‖² + b_u² + b_i²."""
        p, q = self.user_factors(user), self.item_factors(item)
        bu, bi = self.user_bias(user), self.item_bias(item)
        return (p * p).sum(1) + (q * q).sum(1) + (bu * bu).sum(1) + (bi * bi).sum(1)


class EmbeddingMLP(nn.Module):
    """r̂ = μ + MLP([e_u ; e_i]) -- the documents' RatingPredictor, offset by the mean."""

    def __init__(self, num_users: int, num_items: int, dim: int, hidden: int, mean: float):
        super().__init__()
        self.user_embedding = nn.Embedding(num_users, dim)
        self.item_embedding = nn.Embedding(num_items, dim)
        self.fc = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.mean = mean
        nn.init.normal_(self.user_embedding.weight, std=0.1)
        nn.init.normal_(self.item_embedding.weight, std=0.1)

    def forward(self, user, item):
        x = nerve.cat([self.user_embedding(user), self.item_embedding(item)], 1)
        return self.mean + self.fc(x).squeeze(1)


def build(kind: str, mean: float):
    cfg = CONFIGS[kind]
    nu, ni = movielens.N_USERS, movielens.N_ITEMS
    if kind == "mf":
        return BiasedMF(nu, ni, cfg["dim"], mean)
    return EmbeddingMLP(nu, ni, cfg["dim"], cfg["hidden"], mean)


def predict(model, user, item) -> np.ndarray:
    """Ratings for 0-based id arrays, clipped to the 1-5 star scale."""
    model.eval()
    with nerve.no_grad():
        r = model(nerve.from_numpy(user), nerve.from_numpy(item)).numpy()
    model.train()
    return np.clip(r, 1.0, 5.0)


def rmse(model, ratings: movielens.Ratings) -> float:
    r = predict(model, ratings.user - 1, ratings.item - 1)
    return float(np.sqrt(np.mean((r - ratings.rating) ** 2)))


def train(kind: str, train_set: movielens.Ratings, epochs: int, seed: int,
          val_set: movielens.Ratings | None = None, patience: int = PATIENCE):
    """Train for up to ``epochs`` epochs; with ``val_set``, stop after ``patience`` epochs
    without a better validation RMSE. Returns (model, history, best_epoch)."""
    cfg = CONFIGS[kind]
    nerve.manual_seed(seed)
    model = build(kind, float(train_set.rating.mean()))
    opt = optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    loader = DataLoader(train_set.to_dataset(), batch_size=cfg["batch_size"], shuffle=True,
                        generator=nerve.Generator().manual_seed(seed))
    history = {"train": [], "val": []}
    best, best_epoch = float("inf"), epochs
    for epoch in range(1, epochs + 1):
        sq, n = 0.0, 0
        for user, item, rating in loader:
            pred = model(user, item)
            mse = ((pred - rating) ** 2).mean()
            loss = mse + cfg["l2"] * model.l2(user, item).mean() if cfg["l2"] else mse
            opt.zero_grad()
            loss.backward()
            opt.step()
            sq += mse.item() * len(rating)
            n += len(rating)
        history["train"].append(float(np.sqrt(sq / n)))
        if val_set is not None:
            v = rmse(model, val_set)
            history["val"].append(v)
            if v < best:
                best, best_epoch = v, epoch
            elif epoch - best_epoch >= patience:
                break
    return model, history, best_epoch


def split_validation(base: movielens.Ratings, seed: int):
    perm = np.random.default_rng(seed).permutation(len(base))
    n_val = max(1, int(round(VAL_FRACTION * len(base))))
    return base.subset(np.sort(perm[n_val:])), base.subset(np.sort(perm[:n_val]))


def run_fold(kind: str, fold: int, base, test, max_epochs: int, fixed_epochs: int | None,
             seed: int) -> dict:
    t0 = time.perf_counter()
    history, val = None, 0.0
    if fixed_epochs is None:                       # choose the epochs on a hold-out of base
        fit, hold = split_validation(base, seed + fold)
        _, history, epochs = train(kind, fit, max_epochs, seed, val_set=hold)
        val = history["val"][epochs - 1]
    else:
        epochs = fixed_epochs
    model, _, _ = train(kind, base, epochs, seed)  # refit on the whole base set
    score = rmse(model, test)
    seconds = time.perf_counter() - t0
    chosen = f"val RMSE {val:.4f}" if history else "(fixed)       "
    print(f"u{fold}  {CONFIGS[kind]['name']:<14} epochs {epochs:3d}  {chosen}  "
          f"test RMSE {score:.4f}  ({seconds:.1f} s)", flush=True)
    return dict(model=model, epochs=epochs, rmse=score, seconds=seconds, history=history)


def recommend(model, user: int, base: movielens.Ratings, test: movielens.Ratings,
              items: movielens.Items, k: int = 10, min_ratings: int = 20) -> None:
    """Top-k movies the user has not rated in ``base``, among movies with at least
    ``min_ratings`` ratings there (a few ratings say too little about a movie)."""
    counts = np.bincount(base.item - 1, minlength=movielens.N_ITEMS)
    seen = set((base.item[base.user == user] - 1).tolist())
    candidates = np.array([i for i in range(movielens.N_ITEMS)
                           if i not in seen and counts[i] >= min_ratings], dtype=np.int64)
    if candidates.size == 0:
        print(f"user {user}: no unrated movie with {min_ratings}+ ratings")
        return
    scores = predict(model, np.full(candidates.shape, user - 1, dtype=np.int64), candidates)
    top = candidates[np.argsort(-scores, kind="stable")[:k]]
    held_out = dict(zip((test.item[test.user == user] - 1).tolist(),
                        test.rating[test.user == user].tolist()))
    title = {int(i) - 1: t for i, t in zip(items.ids, items.titles)}
    print(f"\nTop-{k} for user {user} ({len(seen)} ratings in u1.base; movies with "
          f"{min_ratings}+ ratings):")
    for rank, i in enumerate(top, 1):
        s = float(scores[candidates == i][0])
        note = f"   (rated {held_out[int(i)]} in u1.test)" if int(i) in held_out else ""
        print(f"  {rank:2d}. {s:.2f}  {title.get(int(i), f'movie {i + 1}')}{note}")


def save_curves(histories: dict, out: str) -> None:
    series = {f"{CONFIGS[k]['name']} {part}": h[part]
              for k, h in histories.items() if h for part in ("train", "val")}
    if not series:
        return
    try:
        from nerve import plot
    except ImportError:
        return
    groups = [[f"{CONFIGS[k]['name']} train", f"{CONFIGS[k]['name']} val"]
              for k, h in histories.items() if h]
    try:
        path = plot.plot_curves(series, os.path.join(out, "movielens_curves.png"),
                                title="u1: RMSE while choosing the epochs (5% of u1.base held out)",
                                ylabel="RMSE", groups=groups)
        print(f"learning curves: {path}")
    except ImportError as e:
        print(f"(no curves: {e})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folds", type=int, choices=(1, 5), default=5,
                    help="1: the u1 split only; 5: u1..u5 and their mean")
    ap.add_argument("--model", choices=("mf", "mlp", "both"), default="both")
    ap.add_argument("--epochs", type=int, default=None,
                    help="train exactly N epochs (default: chosen on a validation hold-out)")
    ap.add_argument("--data", default=None, help="directory holding ml-100k (u.data, u.item)")
    ap.add_argument("--out", default=os.environ.get("NERVE_OUT", "runs"),
                    help="folder for the learning-curve PNG")
    ap.add_argument("--user", type=int, default=1, help="user id (1..943) to recommend for")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="a tiny run on a sample (CI)")
    args = ap.parse_args()

    kinds = ["mf", "mlp"] if args.model == "both" else [args.model]
    ratings = movielens.load_ratings(args.data)
    items = movielens.load_items(args.data)
    splits = list(movielens.folds(ratings=ratings))[:args.folds]
    max_epochs = {k: CONFIGS[k]["max_epochs"] for k in kinds}
    if args.smoke:                                  # a sample of u1, two epochs
        rng = np.random.default_rng(args.seed)
        base, test = splits[0]
        splits = [(base.subset(np.sort(rng.permutation(len(base))[:4000])),
                   test.subset(np.sort(rng.permutation(len(test))[:1000])))]
        max_epochs = {k: 2 for k in kinds}
    print(f"MovieLens-100k: {len(ratings)} ratings; folds {len(splits)} "
          f"(train/test {len(splits[0][0])}/{len(splits[0][1])}); models {', '.join(kinds)}")

    t_all = time.perf_counter()
    results = {k: [] for k in kinds}
    for fold, (base, test) in enumerate(splits, 1):
        for k in kinds:
            results[k].append(run_fold(k, fold, base, test, max_epochs[k], args.epochs,
                                       args.seed))
    save_curves({k: results[k][0]["history"] for k in kinds}, args.out)

    print("\nRMSE on the test folds (predictions clipped to [1, 5])")
    print(f"{'model':<16}{'u1':>8}{f'{len(splits)}-fold mean':>14}{'sd':>8}   "
          f"{'epochs per fold':<17}time")
    for k in kinds:
        r = np.array([f["rmse"] for f in results[k]])
        ep = ",".join(str(f["epochs"]) for f in results[k])
        secs = sum(f["seconds"] for f in results[k])
        print(f"{CONFIGS[k]['name']:<16}{r[0]:8.4f}{r.mean():14.4f}{r.std():8.4f}   "
              f"{ep:<17}{secs:.0f} s")
    best = min(kinds, key=lambda k: np.mean([f["rmse"] for f in results[k]]))
    mean = np.mean([f["rmse"] for f in results[best]])
    print(f"best: {CONFIGS[best]['name']}, mean RMSE {mean:.4f}; "
          f"total {time.perf_counter() - t_all:.0f} s")
    recommend(results[best][0]["model"], args.user, splits[0][0], splits[0][1], items,
              min_ratings=2 if args.smoke else 20)


if __name__ == "__main__":
    main()
