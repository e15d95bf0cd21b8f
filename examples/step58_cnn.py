"""Steps 55-58 of "Deep Learning from Scratch 3": a small convolutional network on MNIST.

The book builds Conv2d and pooling and then only runs a pretrained VGG16; here the same layers
are trained.

Data: the real MNIST test set in ``../shared/data/mnist`` (the only split available offline),
split into its first 8,000 images for training and its last 2,000 for evaluation; images are
``(N, 1, 28, 28)`` float32 in ``[0, 1]``. Model, in the book's VGG style (3x3 convs with pad 1,
ReLU, 2x2 max pooling, channels doubling):

    Conv2d(16, 3, pad=1) - relu - MaxPool2d(2) - Conv2d(32, 3, pad=1) - relu - MaxPool2d(2)
    - Flatten - Linear(100) - relu - Linear(10)

Softmax cross-entropy, Adam (lr 1e-3), batch 100, a jitted training step. Each epoch prints the
mean training loss and accuracy and the evaluation accuracy. The book reports no CNN training
numbers (it only runs a pretrained VGG16); for reference, its MLP on MNIST reaches about
98 % test accuracy (step 51). ``--limit`` caps the number of training images (for a quick run).

    python examples/step58_cnn.py [--epochs 3] [--limit 8000] [--root ../shared/data/mnist]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import data, nn
from funcgrad.nn import optim

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _progress import progress  # noqa: E402  (examples/_progress.py: tqdm when on a terminal)

DEFAULT_ROOT = os.environ.get(  # $FUNCGRAD_MNIST, else ../shared/data/mnist
    "FUNCGRAD_MNIST", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                   "shared", "data", "mnist"))


def make_model():
    return nn.Sequential([
        nn.Conv2d(16, 3, pad=1), nn.relu, nn.MaxPool2d(2),
        nn.Conv2d(32, 3, pad=1), nn.relu, nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(100), nn.relu, nn.Linear(10)])


def main(epochs: int = 3, limit: int = 8000, root: str = DEFAULT_ROOT, batch_size: int = 100,
         lr: float = 1e-3, seed: int = 0, verbose: bool = False):
    x, t = data.mnist(root, train=False, flatten=False)
    x_train, t_train = x[:8000][:limit], t[:8000][:limit]
    x_eval, t_eval = x[-2000:], t[-2000:]
    model = make_model()
    key, k_init, k_data = fg.random.split(fg.random.key(seed), 3)
    params = model.init(k_init, x_train[:1])
    opt = optim.adam(lr)
    opt_state = opt.init(params)
    loader = data.DataLoader((x_train, t_train), batch_size=batch_size, key=k_data)

    def loss_fn(params, xb, tb):
        logits = model.apply(params, xb)
        return nn.softmax_cross_entropy(logits, tb), logits

    @fg.jit
    def train_step(params, opt_state, xb, tb):
        (loss, logits), grads = fg.value_and_grad(loss_fn, has_aux=True)(params, xb, tb)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss, nn.accuracy(logits, tb)

    @fg.jit
    def predict(params, xb):
        return fnp.argmax(model.apply(params, xb), axis=1)

    history = []
    for epoch in progress(range(epochs), desc="epochs"):
        t0 = time.perf_counter()
        sum_loss = sum_acc = 0.0
        for xb, tb in loader:
            params, opt_state, loss, acc = train_step(params, opt_state, xb, tb)
            sum_loss += float(loss) * len(tb)
            sum_acc += float(acc) * len(tb)
        preds = np.concatenate([np.asarray(predict(params, x_eval[i:i + 500]))
                                for i in range(0, len(x_eval), 500)])
        rec = {"epoch": epoch + 1, "train_loss": sum_loss / len(t_train),
               "train_acc": sum_acc / len(t_train), "eval_acc": float(np.mean(preds == t_eval)),
               "seconds": time.perf_counter() - t0}
        history.append(rec)
        if verbose:
            print(f"epoch: {rec['epoch']}")
            print(f"train loss: {rec['train_loss']:.4f}, accuracy: {rec['train_acc']:.4f}")
            print(f"eval accuracy: {rec['eval_acc']:.4f}  ({rec['seconds']:.1f} s)")
    return {"history": history, "params": params}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--limit", type=int, default=8000, help="number of training images")
    ap.add_argument("--root", default=DEFAULT_ROOT, help="folder with the MNIST IDX files")
    args = ap.parse_args()
    main(epochs=args.epochs, limit=args.limit, root=args.root, verbose=True)
