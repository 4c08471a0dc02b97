"""Airline passengers forecaster: LSTM(50) -> Dense(1) on 12 monthly lags, last 24 months held out.

The monthly totals of international airline passengers 1949-1960 (Box & Jenkins' "Series G",
144 months) grow ~10 % a year with a seasonal swing that grows with the level, so the
series is made stationary before the network sees it:

    z_t = log y_t - log y_{t-12}          (year-on-year growth in log space)

The windows hold the 12 previous z values; z is standardised with the mean and standard
deviation of the TRAINING targets only. The network predicts z_t, turned back into
passengers as  ŷ_t = y_{t-12} · exp(ẑ_t).  Forecasts are one step ahead (each test month is
predicted from the true values before it), the setting of the classic LSTM tutorials.
The baseline is the seasonal-naive forecast ŷ_t = y_{t-12} (the same model with ẑ = 0),
which the LSTM must beat. For context the program also prints seasonal-naive with drift,
ŷ_t = y_{t-12}·exp(mean training z), a much harder baseline on this series.

Run: python examples/timeseries_lstm.py [--epochs 100] [--data DIR] [--smoke] [--out runs/]
"""
from __future__ import annotations

import argparse
import math
import os
import time

import numpy as np

import nerve
from nerve import nn
from nerve.datasets import load_airline_passengers

LAGS = 12      # input window (months)
SEASON = 12    # seasonal period (months)
HOLDOUT = 24   # test months at the end


class Forecaster(nn.Module):
    """LSTM(hidden) over the window, then a Dense(1) on the last step's output."""

    def __init__(self, hidden: int = 50) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, batch_first=True)
        self.dense = nn.Linear(hidden, 1)

    def forward(self, x):                      # x: (N, LAGS, 1)
        out, _ = self.lstm(x)
        return self.dense(out[:, -1]).squeeze(-1)   # (N,)


def data_dir(arg: str | None, name: str) -> str | None:
    """``--data`` may name the dataset's folder or the root holding ``name/``."""
    if arg is None:
        return None
    return os.path.join(arg, name) if os.path.isdir(os.path.join(arg, name)) else arg


def make_windows(y: np.ndarray):
    """Inputs (N, LAGS) of seasonal log differences, targets (N,), and the index t of each
    target in ``y``."""
    z = np.log(y[SEASON:]) - np.log(y[:-SEASON])           # z[i] belongs to month i + SEASON
    t = np.arange(SEASON + LAGS, len(y))                    # months with a full window
    X = np.stack([z[i - SEASON - LAGS:i - SEASON] for i in t]).astype(np.float32)
    return X, z[t - SEASON].astype(np.float32), t


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return math.sqrt(float(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--data", default=None, help="the timeseries/ folder (default "
                    "$NERVE_DATA/timeseries, the cache, or download)")
    ap.add_argument("--out", default=os.environ.get("NERVE_OUT", "runs"))
    ap.add_argument("--smoke", action="store_true", help="a few epochs only (CI)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.smoke:
        args.epochs = min(args.epochs, 5)

    nerve.manual_seed(args.seed)
    dates, y = load_airline_passengers(data_dir(args.data, "timeseries"))
    X, z, t = make_windows(y)
    test = t >= len(y) - HOLDOUT
    Xtr, ztr, Xte, tte = X[~test], z[~test], X[test], t[test]
    mu, sd = float(ztr.mean()), float(ztr.std())            # the scaler sees training data only
    scale = lambda a: ((a - mu) / sd).astype(np.float32)   # noqa: E731
    x_train = nerve.from_numpy(scale(Xtr)[:, :, None])
    y_train = nerve.from_numpy(scale(ztr))
    x_test = nerve.from_numpy(scale(Xte)[:, :, None])

    model = Forecaster(args.hidden)
    opt = nerve.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.MSELoss()
    gen = np.random.default_rng(args.seed)
    print(f"airline passengers: {len(y)} months ({dates[0]}..{dates[-1]}), {len(Xtr)} training "
          f"windows, test = last {HOLDOUT} months ({dates[-HOLDOUT]}..{dates[-1]}); "
          f"LSTM({args.hidden}) -> Dense(1), {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, {args.epochs} epochs")

    def forecast(x) -> np.ndarray:
        model.eval()
        with nerve.no_grad():
            zhat = model(x).numpy().astype(np.float64) * sd + mu
        return zhat

    y_true = y[tte].astype(np.float64)
    y_naive = y[tte - SEASON].astype(np.float64)
    t0 = time.perf_counter()
    history = {"loss": [], "test_rmse": []}
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = gen.permutation(len(Xtr))
        total = 0.0
        for s in range(0, len(order), args.batch_size):
            idx = nerve.from_numpy(order[s:s + args.batch_size].astype(np.int64))
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        pred = y_naive * np.exp(forecast(x_test))
        history["loss"].append(total / len(Xtr))
        history["test_rmse"].append(rmse(pred, y_true))
        if epoch == 1 or epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs:
            print(f"epoch {epoch}/{args.epochs}  loss {total / len(Xtr):.4f} (scaled)  "
                  f"test RMSE {history['test_rmse'][-1]:.2f}  "
                  f"({time.perf_counter() - t0:.1f} s)", flush=True)

    wall = time.perf_counter() - t0
    pred = y_naive * np.exp(forecast(x_test))
    test_rmse, naive_rmse = rmse(pred, y_true), rmse(y_naive, y_true)
    train_pred = y[t[~test] - SEASON] * np.exp(forecast(x_train))
    print(f"train RMSE {rmse(train_pred, y[t[~test]]):.2f} (thousand passengers)")
    print(f"final test RMSE {test_rmse:.2f} vs seasonal-naive {naive_rmse:.2f} "
          f"({'beats' if test_rmse < naive_rmse else 'does NOT beat'} it) on the last {HOLDOUT} "
          f"months after {args.epochs} epochs ({wall:.1f} s)")
    drift = rmse(y_naive * math.exp(float(ztr.mean())), y_true)
    print(f"(seasonal-naive with drift, y[t-12]*exp(mean training growth): {drift:.2f})")
    for month, a, p, n in list(zip(dates[tte], y_true, pred, y_naive))[-6:]:
        print(f"  {month}: actual {a:5.0f}  LSTM {p:6.1f}  seasonal-naive {n:5.0f}")

    os.makedirs(args.out, exist_ok=True)
    weights = os.path.join(args.out, "timeseries_lstm.safetensors")
    nerve.save(model.state_dict(), weights)
    print(f"weights saved to {weights}")
    try:
        from nerve import plot

        plot.plot_curves({"loss": history["loss"]},
                         os.path.join(args.out, "timeseries_lstm_curves.png"))
    except ImportError as e:
        print(f"no plots ({e}); pip install 'nerve[plot]'")
    return test_rmse


if __name__ == "__main__":
    main()
