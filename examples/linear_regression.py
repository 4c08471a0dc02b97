"""Linear regression by gradient descent: fit y = 2x + 1 + noise.

The textbook loop, with autograd doing the calculus:
    ŷ = w·x + b,   L = mean((ŷ - y)²),   w ← w - η ∂L/∂w,   b ← b - η ∂L/∂b
"""
import nerve

nerve.manual_seed(0)
x = nerve.rand(200, 1) * 10 - 5                 # 200 points in [-5, 5)
y = 2 * x + 1 + 0.5 * nerve.randn(200, 1)       # the true line plus noise

w = nerve.zeros(1, requires_grad=True)
b = nerve.zeros(1, requires_grad=True)
lr = 0.05

for step in range(1, 301):
    loss = ((w * x + b - y) ** 2).mean()
    loss.backward()
    with nerve.no_grad():                       # the update itself is not part of the graph
        w -= lr * w.grad
        b -= lr * b.grad
    w.grad = None
    b.grad = None
    if step % 50 == 0:
        print(f"step {step:3d}  loss {loss.item():.4f}  w {w.item():.4f}  b {b.item():.4f}")

print(f"learned w = {w.item():.3f} (true 2), b = {b.item():.3f} (true 1)")
