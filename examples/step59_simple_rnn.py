"""Step 59 of "Deep Learning from Scratch 3": ``SimpleRNN`` learns a noisy sine wave.

Setting, as in the book: ``data.sin_curve(train=True)`` (next-value prediction), the model
``nn.SimpleRNN(hidden_size=100, out_size=1)`` (a tanh ``RNN`` then ``Linear(1)``), ``Adam()``,
truncated backpropagation through time every 30 steps, one sequence (batch size 1; step 60
batches it). The book feeds one value at a time and calls ``unchain_backward()`` every 30
steps; here a window of 30 values runs through the RNN in one ``fg.scan``, and the final
hidden state enters the next window as a plain array, which cuts the graph the same way.
Afterwards the model predicts the next value of ``cos`` over two periods.

    python examples/step59_simple_rnn.py [--epochs 100] [--plot rnn.png]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import data, nn
from funcgrad.nn import optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _progress import progress  # noqa: E402


def main(epochs=100, hidden_size=100, bptt_length=30, lr=1e-3, verbose=False):
    x, t = data.sin_curve(train=True)
    x, t = x.astype(np.float32)[None], t.astype(np.float32)[None]        # (1, T, 1)
    model = nn.SimpleRNN(hidden_size, 1)
    params = model.init(fg.random.key(0), x[:, :1])
    opt = optim.adam(lr)
    state = opt.init(params)

    def window_loss(params, h, xs, ts):
        ys, h = model.apply(params, xs, h)
        return fnp.sum(fnp.mean((ys - ts) ** 2, axis=(0, 2))), h  # summed over the window

    @fg.jit
    def step(params, state, h, xs, ts):
        (loss, h), g = fg.value_and_grad(window_loss, has_aux=True)(params, h, xs, ts)
        updates, state = opt.update(g, state, params)
        return optim.apply_updates(params, updates), state, h, loss

    seqlen = x.shape[1]
    losses = []
    for epoch in progress(range(epochs), desc="SimpleRNN"):
        h, total = np.zeros((1, hidden_size), np.float32), 0.0
        for start in range(0, seqlen, bptt_length):
            stop = min(start + bptt_length, seqlen)
            params, state, h, loss = step(params, state, h, x[:, start:stop], t[:, start:stop])
            total += float(loss)
        losses.append(total / seqlen)
        if verbose:
            print("| epoch %d | loss %f" % (epoch + 1, losses[-1]))
    cos = np.cos(np.linspace(0, 4 * np.pi, 1000)).astype(np.float32)
    pred = np.asarray(model.apply(params, cos[None, :, None])[0])[0, :, 0]
    return {"losses": losses, "cos": cos, "pred": pred,
            "cos_mse": float(np.mean((pred[:-1] - cos[1:]) ** 2))}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--plot", default=None, help="save the cos prediction to this image")
    args = ap.parse_args()
    res = main(args.epochs, verbose=True)
    print(f"cos prediction: mean squared error {res['cos_mse']:.4f}")
    if args.plot:
        import matplotlib  # optional: funcgrad[examples]
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        plt.plot(res["cos"], label="y=cos(x)")
        plt.plot(res["pred"], label="predict")
        plt.legend()
        plt.savefig(args.plot)
        print(f"saved {args.plot}")
