"""Steps 48-50 of "Deep Learning from Scratch 3": classifying the spiral data set.

Data: ``data.spiral(train=True)`` (300 points, three arms, the book's seeded generator).
Model ``nn.MLP((10, 3))`` (sigmoid hidden layer, the book's default), softmax cross-entropy,
``optim.sgd(1.0)``, 300 epochs of mini-batches of 30 (10 steps per epoch) in a new order every
epoch. Each epoch prints the average training loss over the epoch, as the book does
(``epoch 1, loss 1.35`` ... in its own random run); with ``--test`` also the accuracy on
``data.spiral(train=False)`` (step 50). Initial weights and the batch order come from the PRNG
key ``--seed``, so a run is repeatable; the book's numbers came from unseeded draws and are
matched only in size (loss from about 1.1 down to about 0.1).

``--plot out.png`` draws the decision regions of the trained model over the data (needs
matplotlib, imported only then).

    python examples/step48_spiral.py [--epochs 300] [--every 10] [--test] [--plot spiral.png]
"""
import argparse
import os
import sys

import numpy as np

import funcgrad as fg
from funcgrad import data, nn
from funcgrad.nn import optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _progress import progress  # noqa: E402  (examples/_progress.py: tqdm when on a terminal)


def main(max_epoch=300, batch_size=30, hidden_size=10, lr=1.0, seed=0, every=1,
         test=False, verbose=False):
    x, t = data.spiral(train=True)
    key_init, key_data = fg.random.split(fg.random.key(seed))
    model = nn.MLP((hidden_size, 3))
    params = model.init(key_init, x[:1])
    opt = optim.sgd(lr)
    opt_state = opt.init(params)
    loader = data.DataLoader((x, t), batch_size=batch_size, shuffle=True, key=key_data)
    if test:
        x_test, t_test = data.spiral(train=False)

    @fg.jit
    def step(params, opt_state, xb, tb):
        loss, g = fg.value_and_grad(
            lambda p: nn.softmax_cross_entropy(model.apply(p, xb), tb))(params)
        updates, opt_state = opt.update(g, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss

    losses, test_acc = [], []
    for epoch in progress(range(max_epoch), desc="epochs"):
        sum_loss = 0.0
        for xb, tb in loader:
            params, opt_state, loss = step(params, opt_state, xb, tb)
            sum_loss += float(loss) * len(tb)
        losses.append(sum_loss / len(t))
        line = f"epoch {epoch + 1}, loss {losses[-1]:.2f}"
        if test:
            test_acc.append(float(nn.accuracy(model.apply(params, x_test), t_test)))
            line += f", test accuracy {test_acc[-1]:.4f}"
        if verbose and (epoch < 4 or (epoch + 1) % every == 0):
            print(line)
    train_acc = float(nn.accuracy(model.apply(params, x), t))
    return {"losses": losses, "train_accuracy": train_acc, "test_accuracy": test_acc,
            "params": params, "model": model, "x": x, "t": t}


def plot(res, path):
    """Decision regions (argmax of the logits on a grid) with the training points on top."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("--plot needs matplotlib, which is not installed: "
                         "`pip install matplotlib` (or funcgrad[examples])") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x, t = res["x"], res["t"]
    h = 0.01
    x0, x1 = np.meshgrid(np.arange(x[:, 0].min() - 0.1, x[:, 0].max() + 0.1, h),
                         np.arange(x[:, 1].min() - 0.1, x[:, 1].max() + 0.1, h))
    grid = np.c_[x0.ravel(), x1.ravel()].astype(np.float32)
    pred = np.argmax(np.asarray(res["model"].apply(res["params"], grid)), axis=1)
    plt.contourf(x0, x1, pred.reshape(x0.shape), alpha=0.3)
    for c, marker in enumerate("ox^"):
        plt.scatter(x[t == c, 0], x[t == c, 1], s=30, marker=marker)
    plt.savefig(path)
    print(f"saved {path}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--every", type=int, default=10, help="print every N epochs (and 1-4)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test", action="store_true", help="also print test-set accuracy")
    ap.add_argument("--plot", metavar="OUT.png")
    args = ap.parse_args()
    res = main(max_epoch=args.epochs, seed=args.seed, every=args.every, test=args.test,
               verbose=True)
    print(f"train accuracy {res['train_accuracy']:.4f}")
    if args.plot:
        plot(res, args.plot)
