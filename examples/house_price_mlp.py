"""House prices with a 2-4-1 sigmoid network: (size m², age years) -> price (k€).

Inputs and target are scaled to [0, 1] (min-max normalisation) for training, and the
predictions are scaled back (de-normalised) to thousand euros.
"""
import os

import numpy as np

import nerve
from nerve import nn

# the documents' 20 houses: size m², age years, price k€
DATA = np.array([
    (100, 5, 200), (120, 10, 220), (80, 15, 170), (150, 2, 280), (90, 20, 160),
    (110, 7, 210), (95, 12, 175), (130, 8, 225), (140, 5, 270), (75, 18, 155),
    (85, 14, 185), (125, 6, 230), (100, 10, 195), (135, 4, 265), (105, 9, 175),
    (115, 11, 215), (140, 3, 275), (80, 20, 165), (90, 22, 185), (120, 14, 225),
], dtype=np.float32)

x_raw, y_raw = DATA[:, :2], DATA[:, 2:]
x_min, x_max = x_raw.min(0), x_raw.max(0)
y_min, y_max = float(y_raw.min()), float(y_raw.max())
X = nerve.from_numpy((x_raw - x_min) / (x_max - x_min))
Y = nerve.from_numpy((y_raw - y_min) / (y_max - y_min))

nerve.manual_seed(0)
model = nn.Sequential(nn.Linear(2, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid())
opt = nerve.optim.Adam(model.parameters(), lr=0.05)
loss_fn = nn.MSELoss()

losses = []
for epoch in range(1, 2001):
    loss = loss_fn(model(X), Y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
    if epoch % 400 == 0:
        print(f"epoch {epoch:4d}  mse (scaled) {loss.item():.5f}")

with nerve.no_grad():
    fit = model(X).numpy() * (y_max - y_min) + y_min
rmse = float(np.sqrt(((fit - y_raw) ** 2).mean()))
print(f"training RMSE {rmse:.1f} k€")

for size, age in [(110, 7), (85, 12)]:
    q = (np.array([[size, age]], dtype=np.float32) - x_min) / (x_max - x_min)
    with nerve.no_grad():
        p = model(nerve.from_numpy(q)).item() * (y_max - y_min) + y_min
    print(f"predicted price for {size} m², {age} years: {p:.1f} k€")

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = os.environ.get("NERVE_OUT", "runs")
    os.makedirs(out, exist_ok=True)
    plt.figure(figsize=(5, 3.5))
    plt.semilogy(losses)
    plt.xlabel("epoch")
    plt.ylabel("MSE (scaled)")
    plt.title("house price MLP 2-4-1: training loss")
    plt.tight_layout()
    path = os.path.join(out, "house_price_loss.png")
    plt.savefig(path, dpi=100)
    print(f"loss curve saved to {path}")
except ImportError:
    print("matplotlib not installed: no loss curve (pip install 'nerve[plot]')")
