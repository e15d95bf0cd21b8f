"""Step 54 of "Deep Learning from Scratch 3": Dropout, and training versus test mode.

The book switches a global ``dezero.Config.train`` flag (``with test_mode():``). In funcgrad the
mode is an argument: ``model.apply(params, x, train=True, key=k)`` drops units (inverted
dropout: each kept unit is scaled by ``1 / (1 - rate)`` so the mean is unchanged) with
randomness from an explicit key, and ``train=False`` is the identity. Then the spiral MLP with a
Dropout layer is trained, and its test accuracy is measured in test mode.

    python examples/step54_dropout.py
"""
from __future__ import annotations

import numpy as np

import funcgrad as fg
from funcgrad import data, nn
from funcgrad.nn import optim


def main(epochs=300, verbose=False):
    drop = nn.Dropout(0.5)
    x = np.ones((5, 10000))
    y_train = np.asarray(drop.apply({}, x, train=True, key=fg.random.key(0)))
    y_test = np.asarray(drop.apply({}, x, train=False))
    res = {"zeroed": float(np.mean(y_train == 0)), "train_mean": float(y_train.mean()),
           "test_is_identity": bool(np.array_equal(y_test, x))}

    xs, ts = data.spiral(train=True)
    x_test, t_test = data.spiral(train=False)
    model = nn.Sequential([nn.Linear(30), nn.sigmoid, nn.Dropout(0.1), nn.Linear(3)])
    params = model.init(fg.random.key(1), xs[:1])
    opt = optim.adam(0.05)
    state = opt.init(params)

    @fg.jit
    def step(params, state, xb, tb, key):
        loss, g = fg.value_and_grad(lambda p: nn.softmax_cross_entropy(
            model.apply(p, xb, train=True, key=key), tb))(params)
        updates, state = opt.update(g, state, params)
        return optim.apply_updates(params, updates), state, loss

    key = fg.random.key(2)
    for epoch in range(epochs):
        params, state, loss = step(params, state, xs, ts, fg.random.fold_in(key, epoch))
    res["train_loss"] = float(loss)
    res["test_accuracy"] = float(nn.accuracy(model.apply(params, x_test), t_test))
    if verbose:
        print(f"Dropout(0.5) in training: {res['zeroed']:.3f} of the units zeroed, mean "
              f"{res['train_mean']:.3f}; in test mode the identity: {res['test_is_identity']}")
        print(f"spiral MLP with Dropout(0.1): last training loss {res['train_loss']:.3f}, "
              f"test accuracy (test mode) {res['test_accuracy']:.3f}")
    return res


if __name__ == "__main__":
    main(verbose=True)
