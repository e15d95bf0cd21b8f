"""Step 42 of "Deep Learning from Scratch 3": linear regression by gradient descent.

Data: ``np.random.seed(0)``; ``x = rand(100, 1)``; ``y = 5 + 2x + rand(100, 1)`` (uniform noise
in [0, 1), so the best line is about ``y = 5.5 + 2x``). Model ``y_pred = x @ W + b`` with
``W = zeros((1, 1))``, ``b = zeros(1)``; loss ``sum((y - y_pred)^2) / N``; 100 full-batch
steps of ``p <- p - 0.1 * dloss/dp``. The book prints ``W = [[2.11807369]]``,
``b = [5.46608905]`` at the end; this script prints the same numbers.

Where the book clears and back-propagates into ``Variable`` objects, funcgrad differentiates a
pure function of ``(W, b)``: ``fg.value_and_grad(loss, argnums=(0, 1))``.

    python examples/step42_linear_regression.py
"""
import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def make_data():
    """The book's data, drawn from NumPy's legacy generator seeded with 0 (global state kept)."""
    rng = np.random.RandomState(0)
    x = rng.rand(100, 1)
    y = 5 + 2 * x + rng.rand(100, 1)
    return x, y


def predict(W, b, x):
    return fnp.matmul(x, W) + b


def mean_squared_error(y, y_pred):
    diff = y - y_pred
    return fnp.sum(diff ** 2) / len(diff)


def main(iters=100, lr=0.1, verbose=False):
    x, y = make_data()
    W, b = np.zeros((1, 1)), np.zeros(1)
    loss_and_grads = fg.value_and_grad(
        lambda W, b: mean_squared_error(y, predict(W, b, x)), argnums=(0, 1))
    losses = []
    for i in range(iters):
        loss, (gW, gb) = loss_and_grads(W, b)   # the loss before this update, as in the book
        W, b = W - lr * gW, b - lr * gb
        losses.append(float(loss))
        if verbose and (i < 3 or (i + 1) % 10 == 0):
            print(f"iter {i + 1:3d}  W = {W}  b = {b}  loss = {float(loss):.10f}")
    return {"W": W, "b": b, "losses": losses}


if __name__ == "__main__":
    res = main(verbose=True)
    print("W =", res["W"])   # W = [[2.11807369]]  (the book)
    print("b =", res["b"])   # b = [5.46608905]    (the book)
