"""One MNIST training epoch of the book's 784-1000-10 MLP: funcgrad jit vs PyTorch CPU eager vs
JAX jit vs NumPy by hand (vs funcgrad without jit).

Workload (issue 5, Speed): the first 8,000 images of the real MNIST test set (the only MNIST
files on our machines; ``--root`` to point elsewhere; ``--synthetic`` for 60,000 random images),
float32, batches of 100 in one fixed shuffled order (80 SGD steps per epoch), model
``Linear(1000) -> sigmoid -> Linear(10)`` (``--act relu`` for ReLU), mean softmax cross-entropy
with integer labels, plain SGD with lr 0.01 (the book's step 51 run). Every framework starts from
the same initial weights and sees the same batches; after one epoch their weights are checked
to agree (``allclose``) before anything is timed.

- funcgrad jit: ``nn.MLP``, ``nn.softmax_cross_entropy``, ``optim.sgd``, the whole step in
  ``fg.jit`` (what examples/step51_mnist.py runs);
- PyTorch eager: ``torch.nn.Sequential``, ``F.cross_entropy``, ``torch.optim.SGD``,
  ``zero_grad``/``backward``/``step``;
- JAX jit: the same step as one ``jax.jit`` function (``jax.nn.log_softmax``), batches
  pre-converted to device arrays;
- NumPy by hand: forward and backward written out, updates in place;
- funcgrad eager: the same step without ``jit`` (``fg.value_and_grad`` each step);
- funcgrad jit, scan / JAX jit, scan: the whole epoch as one jitted function, the same step
  inside ``fg.scan`` / ``jax.lax.scan`` over the batches stacked into one (steps, 100, 784)
  array, the mean loss returned at the end.

Each loop reads the loss of every step (as a training loop printing an average does); JAX's are
collected as device arrays and blocked on at the end of the epoch. An epoch is timed with
``time.perf_counter`` (wall) and ``time.process_time`` (CPU time of all threads); each cell is
the median over ``--epochs`` epochs, frameworks interleaved (one epoch each per round) after a
warm-up epoch (compilation).

Threads: BLAS, OpenMP, PyTorch (``torch.set_num_threads``) and XLA (``--xla_cpu_multi_thread_eigen
=false intra_op_parallelism_threads=N``) all get the same count, ``--threads`` (default 1: on a
2-vCPU machine shared with other jobs, multi-threaded BLAS pools preempt each other and the
timings scatter). It is set through the environment before NumPy, PyTorch or JAX are imported.

    python benchmarks/mnist_epoch.py                 # sigmoid and relu, 5 timed epochs each
    python benchmarks/mnist_epoch.py --act relu --epochs 3 --threads 2
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_ROOT = os.path.join(os.path.dirname(REPO), "shared", "data", "mnist")
N_TRAIN, BATCH, HIDDEN, LR = 8000, 100, 1000, 0.01


def _set_threads(n: int) -> None:
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(n)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               f"{'true' if n > 1 else 'false'} intra_op_parallelism_threads={n}")


def load_data(args, onp):
    if args.synthetic:
        r = onp.random.default_rng(1)
        return (r.random((60000, 784), dtype=onp.float32),
                r.integers(0, 10, 60000).astype(onp.int64), "60,000 synthetic images")
    sys.path.insert(0, REPO)
    from funcgrad import data
    x, t = data.mnist(args.root, train=False)
    return x[:N_TRAIN], t[:N_TRAIN], f"first {N_TRAIN:,} real MNIST test-set images"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--act", choices=("sigmoid", "relu", "both"), default="both")
    ap.add_argument("--epochs", type=int, default=5, help="timed epochs per framework")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", default=DEFAULT_ROOT)
    ap.add_argument("--synthetic", action="store_true", help="60,000 random images instead")
    ap.add_argument("--no-eager", action="store_true", help="skip funcgrad without jit")
    args = ap.parse_args()
    _set_threads(args.threads)

    import numpy as onp
    import torch
    torch.set_num_threads(args.threads)
    import jax
    import jax.numpy as jnp
    sys.path.insert(0, REPO)
    import funcgrad as fg
    from funcgrad import nn
    from funcgrad.nn import optim

    x, t, what = load_data(args, onp)
    order = onp.random.default_rng(0).permutation(len(t))
    batches = [(x[order[i:i + BATCH]], t[order[i:i + BATCH]]) for i in range(0, len(t), BATCH)]
    print(f"Workload: one epoch = {len(batches)} SGD steps (batch {BATCH}, lr {LR}) of "
          f"784-{HIDDEN}-10 MLP on the {what}, float32")
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, NumPy {onp.__version__}, torch {torch.__version__}, "
          f"jax {jax.__version__}; threads per framework: {args.threads}")

    acts = ("sigmoid", "relu") if args.act == "both" else (args.act,)
    tables = {}
    for act in acts:
        tables[act] = bench_one(act, batches, args, onp, torch, jax, jnp, fg, nn, optim)
    print()
    print("| activation | framework | epoch (median) | per step | CPU time / epoch "
          "| time / funcgrad jit |")
    print("|---|---|---:|---:|---:|---:|")
    for act, res in tables.items():
        base = res["funcgrad jit"][0]
        for name, (sec, cpu) in res.items():
            print(f"| {act} | {name} | {sec * 1e3:.0f} ms | {sec / len(batches) * 1e3:.2f} ms "
                  f"| {cpu * 1e3:.0f} ms | {sec / base:.2f} |")


def bench_one(act, batches, args, onp, torch, jax, jnp, fg, nn, optim) -> dict:
    # shared initial weights (the book's N(0, 1/in) init), float32
    r = onp.random.default_rng(42)
    W1 = (r.standard_normal((784, HIDDEN)) / onp.sqrt(784)).astype(onp.float32)
    W2 = (r.standard_normal((HIDDEN, 10)) / onp.sqrt(HIDDEN)).astype(onp.float32)
    init = {"0": {"W": W1, "b": onp.zeros(HIDDEN, onp.float32)},
            "1": {"W": W2, "b": onp.zeros(10, onp.float32)}}
    copy = lambda tree: {k: {n: a.copy() for n, a in v.items()} for k, v in tree.items()}  # noqa

    # --- funcgrad (jit and eager) -----------------------------------------------------------
    model = nn.MLP((HIDDEN, 10), activation=nn.sigmoid if act == "sigmoid" else nn.relu)
    opt = optim.sgd(LR)

    def fg_step(params, opt_state, xb, tb):
        loss, g = fg.value_and_grad(
            lambda p: nn.softmax_cross_entropy(model.apply(p, xb), tb))(params)
        updates, opt_state = opt.update(g, opt_state, params)
        return optim.apply_updates(params, updates), opt_state, loss
    fg_step_jit = fg.jit(fg_step)

    def make_fg(step):
        state = {"p": copy(init)}
        state["s"] = opt.init(state["p"])

        def epoch():
            p, s, total = state["p"], state["s"], 0.0
            for xb, tb in batches:
                p, s, loss = step(p, s, xb, tb)
                total += float(loss)
            state["p"], state["s"] = p, s
            return total / len(batches)
        return epoch, lambda: state["p"]

    # the whole epoch as ONE jitted function: a `scan` of the step over the stacked batches
    # (all batches have BATCH rows), the losses stacked and averaged once at the end
    xs = onp.stack([xb for xb, _ in batches])
    ts = onp.stack([tb for _, tb in batches])

    @fg.jit
    def fg_scan_epoch(params, opt_state, xs, ts):
        def body(carry, batch):
            p, s, loss = fg_step(*carry, *batch)
            return (p, s), loss
        (params, opt_state), losses = fg.scan(body, (params, opt_state), (xs, ts))
        return params, opt_state, fg.numpy.mean(losses)

    def make_fg_scan():
        state = {"p": copy(init)}
        state["s"] = opt.init(state["p"])

        def epoch():
            state["p"], state["s"], loss = fg_scan_epoch(state["p"], state["s"], xs, ts)
            return float(loss)
        return epoch, lambda: state["p"]

    # --- PyTorch eager ----------------------------------------------------------------------
    tnet = torch.nn.Sequential(torch.nn.Linear(784, HIDDEN),
                               torch.nn.Sigmoid() if act == "sigmoid" else torch.nn.ReLU(),
                               torch.nn.Linear(HIDDEN, 10))
    with torch.no_grad():
        for i, k in ((0, "0"), (2, "1")):
            tnet[i].weight.copy_(torch.from_numpy(init[k]["W"].T.copy()))
            tnet[i].bias.zero_()
    topt = torch.optim.SGD(tnet.parameters(), lr=LR)
    tbatches = [(torch.from_numpy(xb), torch.from_numpy(tb)) for xb, tb in batches]

    def torch_epoch():
        total = 0.0
        for xb, tb in tbatches:
            topt.zero_grad()
            loss = torch.nn.functional.cross_entropy(tnet(xb), tb)
            loss.backward()
            topt.step()
            total += loss.item()
        return total / len(tbatches)

    def torch_params():
        return {"0": {"W": tnet[0].weight.detach().numpy().T, "b": tnet[0].bias.detach().numpy()},
                "1": {"W": tnet[2].weight.detach().numpy().T, "b": tnet[2].bias.detach().numpy()}}

    # --- JAX jit ----------------------------------------------------------------------------
    jact = jax.nn.sigmoid if act == "sigmoid" else jax.nn.relu

    def jax_loss(p, xb, tb):
        h = jact(xb @ p["0"]["W"] + p["0"]["b"])
        z = h @ p["1"]["W"] + p["1"]["b"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(z), tb[:, None], axis=1))

    @jax.jit
    def jax_step(p, xb, tb):
        loss, g = jax.value_and_grad(jax_loss)(p, xb, tb)
        return jax.tree_util.tree_map(lambda a, b: a - LR * b, p, g), loss
    jbatches = [(jnp.asarray(xb), jnp.asarray(tb.astype(onp.int32))) for xb, tb in batches]
    jstate = {"p": jax.tree_util.tree_map(jnp.asarray, copy(init))}

    @jax.jit
    def jax_scan_epoch(p, xs, ts):
        p, losses = jax.lax.scan(lambda q, b: jax_step(q, *b), p, (xs, ts))
        return p, jnp.mean(losses)
    jxs, jts = jnp.asarray(xs), jnp.asarray(ts.astype(onp.int32))
    jscan = {"p": jax.tree_util.tree_map(jnp.asarray, copy(init))}

    def jax_scan():
        jscan["p"], loss = jax_scan_epoch(jscan["p"], jxs, jts)
        return float(loss)

    def jax_epoch():
        p, losses = jstate["p"], []
        for xb, tb in jbatches:
            p, loss = jax_step(p, xb, tb)
            losses.append(loss)
        jstate["p"] = jax.block_until_ready(p)
        return float(sum(float(v) for v in losses)) / len(losses)

    # --- NumPy by hand ----------------------------------------------------------------------
    np_p = copy(init)
    lr = onp.float32(LR)

    def numpy_epoch():
        W1, b1, W2, b2 = np_p["0"]["W"], np_p["0"]["b"], np_p["1"]["W"], np_p["1"]["b"]
        total = 0.0
        for xb, tb in batches:
            n = len(tb)
            a = xb @ W1
            a += b1
            if act == "sigmoid":
                h = onp.negative(a, out=a)
                onp.exp(h, out=h)
                h += 1.0
                onp.reciprocal(h, out=h)
            else:
                h = onp.maximum(a, 0.0)
            z = h @ W2
            z += b2
            z -= z.max(axis=1, keepdims=True)
            e = onp.exp(z)
            s = e.sum(axis=1, keepdims=True)
            total += float(onp.mean(onp.log(s[:, 0]) - z[onp.arange(n), tb]))
            e /= s
            e[onp.arange(n), tb] -= 1.0
            e /= onp.float32(n)                   # d loss / d z
            dh = e @ W2.T
            if act == "sigmoid":
                dh *= h * (1.0 - h)
            else:
                dh *= h > 0
            W2 -= lr * (h.T @ e)
            b2 -= lr * e.sum(axis=0)
            W1 -= lr * (xb.T @ dh)
            b1 -= lr * dh.sum(axis=0)
        return total / len(batches)

    runners = {"funcgrad jit": make_fg(fg_step_jit),
               "PyTorch eager": (torch_epoch, torch_params),
               "JAX jit": (jax_epoch, lambda: jax.tree_util.tree_map(onp.asarray, jstate["p"])),
               "NumPy by hand": (numpy_epoch, lambda: np_p),
               "funcgrad jit, scan": make_fg_scan(),
               "JAX jit, scan": (jax_scan, lambda: jax.tree_util.tree_map(onp.asarray,
                                                                           jscan["p"]))}
    if not args.no_eager:
        runners["funcgrad eager"] = make_fg(fg_step)

    # warm-up epoch (compiles), then the check that everyone computed the same epoch
    losses = {name: run() for name, (run, _) in runners.items()}
    ref = runners["NumPy by hand"][1]()
    for name, (_, params) in runners.items():
        got = params()
        for k in ("0", "1"):
            for n in ("W", "b"):
                onp.testing.assert_allclose(onp.asarray(got[k][n]), ref[k][n], rtol=1e-3,
                                            atol=1e-5, err_msg=f"{act}: {name} {k}/{n}")
    print(f"\n[{act}] warm-up epoch mean losses (all frameworks agree on the weights): "
          + ", ".join(f"{k} {v:.6f}" for k, v in losses.items()))

    times = {name: [] for name in runners}
    cpu = {name: [] for name in runners}
    for _ in range(args.epochs):
        for name, (run, _) in runners.items():
            t0, c0 = time.perf_counter(), time.process_time()
            run()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    for name, ts in times.items():
        print(f"[{act}] {name:15s} " + " ".join(f"{s * 1e3:7.0f}" for s in ts) + "  ms/epoch")
    return {name: (statistics.median(ts), statistics.median(cpu[name]))
            for name, ts in times.items()}


if __name__ == "__main__":
    main()
