"""Steps 44-47 of "Deep Learning from Scratch 3": parameters, layers, models and optimizers.

The book moves from hand-written updates to ``Layer``/``Model`` objects and ``Optimizer``
classes (SGD, MomentumSGD, AdaGrad, AdaDelta, Adam). Here the optimizers are ``nn.optim``
gradient transformations, compared on one problem: the elongated bowl
``f(x, y) = x^2 / 20 + y^2`` from ``(-7, 2)``, 30 steps each, with the learning rates of
the classic comparison figure (SGD 0.95, Momentum 0.1, AdaGrad 1.5, Adam 0.3, AdaDelta 1.0
on its own scale). Then the same five train the book's sine MLP (step 43 data, ``MLP((10, 1))``)
for 1,000 steps, as step 46 does with ``MomentumSGD`` (learning rates for that problem:
SGD and Momentum 0.2, AdaGrad 0.1, AdaDelta 1.0, Adam 0.01).

    python examples/step45_optimizers.py [--plot optimizers.png]
"""
from __future__ import annotations

import argparse

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import nn
from funcgrad.nn import optim

OPTIMIZERS = {
    "SGD": lambda: optim.sgd(0.95),
    "Momentum": lambda: optim.momentum(0.1, beta=0.9),
    "AdaGrad": lambda: optim.adagrad(1.5),
    "AdaDelta": lambda: optim.adadelta(1.0, rho=0.9, eps=1e-1),
    "Adam": lambda: optim.adam(0.3),
}

SINE_OPTIMIZERS = {
    "SGD": lambda: optim.sgd(0.2),
    "Momentum": lambda: optim.momentum(0.2, beta=0.9),
    "AdaGrad": lambda: optim.adagrad(0.1),
    "AdaDelta": lambda: optim.adadelta(1.0),
    "Adam": lambda: optim.adam(0.01),
}


def bowl(p):
    return p[0] ** 2 / 20.0 + p[1] ** 2


def trajectory(make_opt, steps=30, start=(-7.0, 2.0)):
    opt = make_opt()
    p = np.array(start)
    state = opt.init(p)
    path = [p]
    for _ in range(steps):
        updates, state = opt.update(fg.grad(bowl)(p), state, p)
        p = np.asarray(optim.apply_updates(p, updates))
        path.append(p)
    return np.array(path)


def sine_losses(make_opt, steps=1000):
    rng = np.random.RandomState(0)
    x = rng.rand(100, 1)
    y = np.sin(2 * np.pi * x) + rng.rand(100, 1)
    model = nn.MLP((10, 1))
    params = model.init(fg.random.key(0), x[:1])
    opt = make_opt()
    state = opt.init(params)

    @fg.jit
    def step(params, state):
        loss, g = fg.value_and_grad(lambda p: fnp.mean((model.apply(p, x) - y) ** 2))(params)
        updates, state = opt.update(g, state, params)
        return optim.apply_updates(params, updates), state, loss

    losses = []
    for _ in range(steps):
        params, state, loss = step(params, state)
        losses.append(float(loss))
    return losses


def main(sine_steps=1000, verbose=False):
    paths = {name: trajectory(make) for name, make in OPTIMIZERS.items()}
    finals = {name: float(bowl(path[-1])) for name, path in paths.items()}
    sine = {name: sine_losses(make, sine_steps) for name, make in SINE_OPTIMIZERS.items()}
    if verbose:
        for name in OPTIMIZERS:
            print(f"{name:9s} bowl: f after 30 steps {finals[name]:.5f}   "
                  f"sine MLP: loss {sine[name][0]:.4f} -> {sine[name][-1]:.4f}")
    return {"paths": paths, "finals": finals, "sine": sine}


def plot(res, path):
    import matplotlib  # optional: funcgrad[examples]
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(res["paths"]) + 1, figsize=(4 * (len(res["paths"]) + 1), 3.6))
    X, Y = np.meshgrid(np.linspace(-10, 10, 100), np.linspace(-5, 5, 100))
    for ax, (name, p) in zip(axes, res["paths"].items()):
        ax.contour(X, Y, X ** 2 / 20 + Y ** 2, levels=15, colors="gray", linewidths=0.5)
        ax.plot(p[:, 0], p[:, 1], "o-", color="red", markersize=3)
        ax.plot(0, 0, "+")
        ax.set_title(name)
    for name, losses in res["sine"].items():
        axes[-1].plot(losses, label=name)
    axes[-1].set_yscale("log")
    axes[-1].set_title("sine MLP loss")
    axes[-1].legend()
    fig.tight_layout()
    fig.savefig(path)
    print(f"saved {path}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", default=None, help="save the trajectories to this image")
    args = ap.parse_args()
    r = main(verbose=True)
    if args.plot:
        plot(r, args.plot)
