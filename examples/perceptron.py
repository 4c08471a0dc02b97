"""Rosenblatt's perceptron, and why XOR needs a hidden layer.

Perceptron rule (no gradients): ŷ = step(w·x + b);  w ← w + η (y - ŷ) x,  b ← b + η (y - ŷ).
It converges on any linearly separable set, and never on XOR, which a 2-4-1 MLP solves.
"""
import numpy as np

import nerve
from nerve import nn


def train_perceptron(x: np.ndarray, y: np.ndarray, epochs: int = 50, lr: float = 0.1):
    w = np.zeros(x.shape[1], dtype=np.float32)
    b = np.float32(0.0)
    for _ in range(epochs):
        errors = 0
        for xi, yi in zip(x, y):
            pred = 1.0 if xi @ w + b > 0 else 0.0
            if pred != yi:
                w += lr * (yi - pred) * xi
                b += lr * (yi - pred)
                errors += 1
        if errors == 0:
            break
    acc = float(((x @ w + b > 0).astype(np.float32) == y).mean())
    return w, b, acc


rng = np.random.default_rng(0)
# a linearly separable set: points above / below the line x2 = 0.5 x1 + 0.2
pts = rng.uniform(-1, 1, size=(100, 2)).astype(np.float32)
labels = (pts[:, 1] > 0.5 * pts[:, 0] + 0.2).astype(np.float32)
w, b, acc = train_perceptron(pts, labels)
print(f"perceptron on a linearly separable set: accuracy {acc:.2f}  (w={w.round(2)}, b={b:.2f})")

xor_x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
xor_y = np.array([0, 1, 1, 0], dtype=np.float32)
_, _, acc = train_perceptron(xor_x, xor_y, epochs=100)
print(f"perceptron on XOR: accuracy {acc:.2f}  (no line separates XOR)")

# a hidden layer makes XOR separable
nerve.manual_seed(1)
mlp = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
opt = nerve.optim.Adam(mlp.parameters(), lr=0.05)
X, Y = nerve.from_numpy(xor_x), nerve.from_numpy(xor_y).reshape(4, 1)
for _ in range(500):
    loss = nn.functional.binary_cross_entropy(mlp(X), Y)
    opt.zero_grad()
    loss.backward()
    opt.step()
out = mlp(X).detach().numpy().ravel()
print(f"MLP 2-4-1 on XOR after 500 epochs: loss {loss.item():.4f}, outputs {out.round(3)}, "
      f"accuracy {float(((out > 0.5) == xor_y).mean()):.2f}")
