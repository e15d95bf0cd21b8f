"""Step 53 of "Deep Learning from Scratch 3": saving training and resuming it later.

The book saves the MLP's weights with ``save_weights('my_mlp.npz')`` at the end of a run and
loads them at the start of the next. In funcgrad a checkpoint is just a pytree: the parameters,
the optimizer state and the number of epochs done, written with ``fg.save`` (one ``.npz``,
atomic, no pickle) and read back with ``fg.load(path, like=template)``, which checks every key
path, shape and dtype against a freshly initialised template.

The model is the book's ``nn.MLP((1000, 10))`` on MNIST (held-out split as in
step51_mnist.py). The book trains it with plain SGD, whose state is empty; here it uses
``optim.momentum(0.01, 0.9)`` so that the checkpoint has to carry real optimizer state (the
velocity buffers) for the resumed run to continue exactly. The data loader's order for epoch
``e`` depends only on its key and ``e``, so restoring the epoch count restores the batch order.

Two ways to run it:

    python examples/step53_checkpoint.py                     # demo: resume == uninterrupted
    python examples/step53_checkpoint.py --ckpt my_mlp.npz   # the book's way: resume if the
                                                             # file exists, train, save

The demo trains ``--epochs`` epochs without a break, then trains the first ``--split`` epochs,
saves, builds everything anew from the file alone (new model object, optimizer, loader and
compiled step) and continues; it prints both runs' losses and checks that the final parameters
are bit-for-bit equal.
"""
import argparse
import os
import pathlib
import tempfile

import numpy as np

import funcgrad as fg
from funcgrad import data, nn
from funcgrad.nn import optim

DEFAULT_ROOT = pathlib.Path(os.environ.get(  # $FUNCGRAD_MNIST, else ../shared/data/mnist
    "FUNCGRAD_MNIST",
    pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "mnist"))


def load_train(root, limit=None):
    """The training part of the split step51_mnist.py uses (first 8,000 test images when
    only the test set is present)."""
    root = os.fspath(root)
    if all(os.path.exists(os.path.join(root, f)) for f in data.MNIST_FILES[True]):
        x, t = data.mnist(root, train=True)
    else:
        x, t = data.mnist(root, train=False)
        x, t = x[:8000], t[:8000]
    return (x, t) if limit is None else (x[:limit], t[:limit])


class Trainer:
    """Everything a run builds from scratch: model, optimizer, loader and the compiled step."""

    def __init__(self, x, t, seed=0, batch_size=100):
        self.model = nn.MLP((1000, 10))
        self.opt = optim.momentum(0.01, 0.9)
        self.key_init, key_data = fg.random.split(fg.random.key(seed))
        self.loader = data.DataLoader((x, t), batch_size=batch_size, shuffle=True, key=key_data)
        self.n = len(t)
        model, opt = self.model, self.opt

        @fg.jit
        def step(params, opt_state, x, t):
            loss, g = fg.value_and_grad(
                lambda p: nn.softmax_cross_entropy(model.apply(p, x), t))(params)
            updates, opt_state = opt.update(g, opt_state, params)
            return optim.apply_updates(params, updates), opt_state, loss
        self.step = step

    def fresh(self, x_sample):
        """The checkpoint tree of a new run: ``{"params", "opt_state", "epoch"}``."""
        params = self.model.init(self.key_init, x_sample)
        return {"params": params, "opt_state": self.opt.init(params),
                "epoch": np.asarray(0, np.int64)}

    def run(self, ckpt, epochs, verbose=False):
        """Train ``epochs`` more epochs starting from the checkpoint tree ``ckpt``."""
        params, opt_state = ckpt["params"], ckpt["opt_state"]
        done = int(ckpt["epoch"])
        self.loader.epoch = done  # the order of epoch e depends only on the key and e
        losses = []
        for _ in range(epochs):
            total = 0.0
            for xb, tb in self.loader:
                params, opt_state, loss = self.step(params, opt_state, xb, tb)
                total += float(loss) * len(tb)
            done += 1
            losses.append(total / self.n)
            if verbose:
                print(f"epoch: {done}, loss: {losses[-1]:.4f}")
        return {"params": params, "opt_state": opt_state,
                "epoch": np.asarray(done, np.int64)}, losses


def resume_or_start(path, x, t, seed=0):
    """A new Trainer and its starting checkpoint: loaded from ``path`` if it exists."""
    trainer = Trainer(x, t, seed=seed)
    template = trainer.fresh(x[:1])
    if os.path.exists(path):
        return trainer, fg.load(path, like=template), True
    return trainer, template, False


def demo(x, t, epochs=3, split=2, seed=0, verbose=False, workdir=None):
    """Uninterrupted ``epochs`` vs ``split`` + save + load in a fresh Trainer + the rest."""
    if verbose:
        print(f"uninterrupted run, {epochs} epochs")
    trainer = Trainer(x, t, seed=seed)
    full, full_losses = trainer.run(trainer.fresh(x[:1]), epochs, verbose=verbose)

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = os.path.join(tmp, "my_mlp.npz")
        if verbose:
            print(f"interrupted run: {split} epochs, save to {os.path.basename(path)}")
        first = Trainer(x, t, seed=seed)
        ckpt, losses_a = first.run(first.fresh(x[:1]), split, verbose=verbose)
        fg.save(path, ckpt)
        del first, ckpt  # nothing of the first half survives but the file
        second, ckpt, loaded = resume_or_start(path, x, t, seed=seed)
        assert loaded
        if verbose:
            print(f"... fresh Trainer, loaded epoch {int(ckpt['epoch'])} from the file, "
                  f"{epochs - split} more")
        resumed, losses_b = second.run(ckpt, epochs - split, verbose=verbose)

    leaves_full = fg.tree_util.tree_leaves(full)
    leaves_res = fg.tree_util.tree_leaves(resumed)
    max_diff = max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                   for a, b in zip(leaves_full, leaves_res))
    equal = (fg.tree_util.tree_structure(full) == fg.tree_util.tree_structure(resumed)
             and all(np.array_equal(a, b) for a, b in zip(leaves_full, leaves_res)))
    if verbose:
        print(f"resumed run == uninterrupted run: {equal} (max |difference| {max_diff:g} over "
              f"params, optimizer state and epoch count)")
    return {"full_losses": full_losses, "resumed_losses": losses_a + losses_b,
            "equal": equal, "max_diff": max_diff, "full": full, "resumed": resumed}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(DEFAULT_ROOT), help="folder with the MNIST IDX files")
    ap.add_argument("--ckpt", help="book mode: resume from this file if it exists, then save")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--split", type=int, default=2, help="demo: epochs before the save")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N examples")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    x, t = load_train(args.root, args.limit)
    if args.ckpt is None:
        res = demo(x, t, epochs=args.epochs, split=args.split, seed=args.seed, verbose=True)
        if not res["equal"]:
            raise SystemExit("the resumed run differs from the uninterrupted one")
        return res
    trainer, ckpt, loaded = resume_or_start(args.ckpt, x, t, seed=args.seed)
    print(f"loaded {args.ckpt} (epoch {int(ckpt['epoch'])})" if loaded
          else f"no {args.ckpt} yet: starting from scratch")
    ckpt, losses = trainer.run(ckpt, args.epochs, verbose=True)
    fg.save(args.ckpt, ckpt)
    print(f"saved {args.ckpt} (epoch {int(ckpt['epoch'])})")
    return {"losses": losses, "ckpt": ckpt}


if __name__ == "__main__":
    main()
