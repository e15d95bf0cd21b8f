"""MNIST with the book's MLP, data-parallel over MPI processes (`funcgrad.parallel`).

    mpiexec -n 4 python examples/mnist_data_parallel.py --epochs 5
    mpiexec -n 2 python examples/mnist_data_parallel.py --model sigmoid --limit 2000

Every process (rank) holds the whole model. Rank 0's initial parameters are broadcast to all;
each global batch of ``--batch-size`` examples is split into one contiguous share per rank
(``DataLoader(..., shard=True)``, the same shuffled order on every rank); each rank computes the
gradient of its share and ``parallel.pmean`` averages the gradients (one all-reduce of all the
leaves, inside the jitted step) before the identical update on every rank. With equal shares
this is exactly the single-process step on the whole batch. Without ``mpiexec`` the script runs
as one process and the collectives cost nothing.

Rank 0 prints the epoch's mean training loss and accuracy, the held-out accuracy and the time,
and saves the parameters with ``fg.save`` (``--save PATH``; only rank 0 writes). ``--resume
PATH`` loads them with ``fg.load`` on rank 0 and broadcasts them.

Data and models as in ``step51_mnist.py`` (its ``load_split`` and ``make_model``). Set one BLAS
thread per rank when ranks share a machine (``OMP_NUM_THREADS=1``).
"""
import argparse
import pathlib
import sys
import time

import funcgrad as fg
from funcgrad import data, nn, parallel
from funcgrad.nn import optim

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from step51_mnist import DEFAULT_ROOT, load_split, make_model  # noqa: E402


def main(root=DEFAULT_ROOT, model="relu", epochs=3, batch_size=100, limit=None, seed=0,
         save=None, resume=None, verbose=True):
    parallel.init()
    rank, size = parallel.rank(), parallel.size()
    x_train, t_train, x_eval, t_eval, desc = load_split(root)
    if limit is not None:
        x_train, t_train = x_train[:limit], t_train[:limit]
    net, opt = make_model(model)
    key_init, key_data = fg.random.split(fg.random.key(seed))
    params = net.init(fg.random.fold_in(key_init, rank), x_train[:1])  # differs per rank...
    if resume is not None:
        params = fg.load(resume, like=params) if rank == 0 else params
    params = parallel.broadcast(params, root=0)  # ...until rank 0's reaches every rank
    opt_state = opt.init(params)
    loader = data.DataLoader((x_train, t_train), batch_size=batch_size, key=key_data,
                             shard=True)

    @fg.jit
    def step(params, opt_state, x, t):
        def loss_fn(p):
            logits = net.apply(p, x)
            return nn.softmax_cross_entropy(logits, t), logits
        (loss, logits), g = fg.value_and_grad(loss_fn, has_aux=True)(params)
        g = parallel.pmean(g)  # the gradient of the global batch
        updates, opt_state = opt.update(g, opt_state, params)
        loss, acc = parallel.pmean((loss, nn.accuracy(logits, t)))
        return optim.apply_updates(params, updates), opt_state, loss, acc

    @fg.jit
    def evaluate(params, x, t):
        return nn.accuracy(net.apply(params, x), t)

    if verbose and rank == 0:
        print(f"{size} process(es); MNIST from {root}: {desc}; global batch {batch_size} "
              f"({batch_size // size} per rank)")
    history = []
    for epoch in range(epochs):
        start = time.perf_counter()
        sum_loss = sum_acc = 0.0
        for x, t in loader:
            params, opt_state, loss, acc = step(params, opt_state, x, t)
            sum_loss, sum_acc = sum_loss + float(loss), sum_acc + float(acc)
        seconds = time.perf_counter() - start
        rec = {"epoch": epoch + 1, "train_loss": sum_loss / len(loader),
               "train_accuracy": sum_acc / len(loader),
               "test_accuracy": float(evaluate(params, x_eval, t_eval)), "seconds": seconds}
        history.append(rec)
        if verbose and rank == 0:
            print(f"epoch {rec['epoch']}: train loss {rec['train_loss']:.4f}, accuracy "
                  f"{rec['train_accuracy']:.4f}; held-out accuracy {rec['test_accuracy']:.4f}; "
                  f"{seconds:.2f} s", flush=True)
    if save is not None and rank == 0:
        fg.save(save, params)
    return {"rank": rank, "size": size, "history": history, "params": params}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(DEFAULT_ROOT), help="folder with the MNIST IDX files")
    ap.add_argument("--model", choices=("sigmoid", "relu"), default="relu")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=100, help="the global batch")
    ap.add_argument("--limit", type=int, default=None, help="train on the first N examples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None, help="write the final params here (rank 0)")
    ap.add_argument("--resume", default=None, help="start from params saved with --save")
    a = ap.parse_args()
    main(root=a.root, model=a.model, epochs=a.epochs, batch_size=a.batch_size, limit=a.limit,
         seed=a.seed, save=a.save, resume=a.resume)
