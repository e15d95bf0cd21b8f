"""Step 43 of "Deep Learning from Scratch 3": a two-layer sigmoid network fits a noisy sine.

Data: ``np.random.seed(0)``; ``x = rand(100, 1)``; ``y = sin(2 pi x) + rand(100, 1)``. Network
``I, H, O = 1, 10, 1``: ``y = sigmoid(x @ W1 + b1) @ W2 + b2`` with ``W1 = 0.01 randn(1, 10)``,
``W2 = 0.01 randn(10, 1)`` drawn right after the data from the same generator, zero biases.
Loss ``sum((y - y_pred)^2) / N``; 10,000 full-batch gradient steps with lr 0.2; the loss is
printed every 1,000 iterations, as in the book (the book prints no numbers for this run, only
its figure of the fitted curve; tests/test_examples_stage4.py checks the printed losses
against a forward/backward pass written out in NumPy). ``--plot out.png`` draws the data and
the fit.

The parameters are one pytree (a dict), so a single ``fg.grad`` gives all four gradients and one
``tree_map`` applies the update; the step is compiled once with ``fg.jit``.

    python examples/step43_sine_mlp.py [--iters 10000] [--plot sine.png]
"""
import argparse
import os
import sys

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _progress import progress  # noqa: E402  (examples/_progress.py: tqdm when on a terminal)


def make_data_and_params():
    """The book's data and initial weights, in the book's drawing order (seed 0)."""
    rng = np.random.RandomState(0)
    x = rng.rand(100, 1)
    y = np.sin(2 * np.pi * x) + rng.rand(100, 1)
    I, H, O = 1, 10, 1
    params = {"W1": 0.01 * rng.randn(I, H), "b1": np.zeros(H),
              "W2": 0.01 * rng.randn(H, O), "b2": np.zeros(O)}
    return x, y, params


def predict(params, x):
    h = nn.sigmoid(fnp.matmul(x, params["W1"]) + params["b1"])
    return fnp.matmul(h, params["W2"]) + params["b2"]


def loss_fn(params, x, y):
    diff = y - predict(params, x)
    return fnp.sum(diff ** 2) / len(diff)


def main(iters=10000, lr=0.2, print_every=1000, verbose=False):
    x, y, params = make_data_and_params()

    @fg.jit
    def step(params):
        loss, g = fg.value_and_grad(loss_fn)(params, x, y)
        return fg.tree_util.tree_map(lambda p, d: p - lr * d, params, g), loss

    printed = []  # (iteration, loss before that iteration's update), as the book prints
    for i in progress(range(iters), desc="iterations"):
        params, loss = step(params)
        if i % print_every == 0:
            printed.append((i, float(loss)))
            if verbose:
                print(f"iter {i:5d}  loss {float(loss)!r}")
    final = float(loss_fn(params, x, y))
    return {"printed": printed, "final_loss": final, "params": params, "x": x, "y": y}


def plot(res, path):
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib, which is not installed: "
                         "`pip install matplotlib` (or funcgrad[examples])") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    grid = np.linspace(0, 1, 200)[:, None]
    plt.scatter(res["x"], res["y"], s=10)
    plt.plot(grid, np.asarray(predict(res["params"], grid)), color="r")
    plt.xlabel("x")
    plt.ylabel("y")
    plt.savefig(path)
    print(f"saved {path}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=10000)
    ap.add_argument("--plot", metavar="OUT.png")
    args = ap.parse_args()
    res = main(iters=args.iters, verbose=True)
    print(f"final loss after {args.iters} updates: {res['final_loss']:.10f}")
    if args.plot:
        plot(res, args.plot)
