"""Per-example gradients with `fg.vmap(fg.grad(loss))`.

The loss is the softmax cross-entropy of a 784-100-10 tanh MLP on one example (integer label).
`fg.grad(loss)` gives the gradient for one example; `fg.vmap` maps it over a batch in one
batched pass (the matmuls become batched matmuls), instead of a Python loop of `grad` calls.
Both give the same numbers; the script checks that and prints the timings.

Run: python examples/per_example_gradients.py            # 64 examples (about a second)
     python examples/per_example_gradients.py --full     # 1,000 examples, as in benchmarks/
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp

D_IN, D_HID, D_OUT = 784, 100, 10


def init_params(seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return {
        "W1": (rng.standard_normal((D_IN, D_HID)) / np.sqrt(D_IN)).astype(dtype),
        "b1": np.zeros(D_HID, dtype),
        "W2": (rng.standard_normal((D_HID, D_OUT)) / np.sqrt(D_HID)).astype(dtype),
        "b2": np.zeros(D_OUT, dtype),
    }


def make_data(n, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, D_IN)).astype(dtype), rng.integers(0, D_OUT, n)


def loss(params, x, label):
    """Softmax cross-entropy of one example: -log softmax(MLP(x))[label]."""
    h = fnp.tanh(x @ params["W1"] + params["b1"])
    z = h @ params["W2"] + params["b2"]
    m = fnp.max(z)
    logp = z - (fnp.log(fnp.sum(fnp.exp(z - m))) + m)
    return -logp[label]


per_example_grads = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))


def loop_grads(params, xs, labels):
    g = fg.grad(loss)
    grads = [g(params, x, t) for x, t in zip(xs, labels)]
    return {k: np.stack([gi[k] for gi in grads]) for k in params}


def _best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, min(times)


def main(n=64, repeats=3, verbose=False):
    params = init_params()
    xs, labels = make_data(n)
    vm, t_vmap = _best_of(lambda: per_example_grads(params, xs, labels), repeats)
    lp, t_loop = _best_of(lambda: loop_grads(params, xs, labels), 1)
    max_diff = max(float(np.max(np.abs(vm[k] - lp[k]))) for k in params)
    shapes = {k: tuple(np.shape(v)) for k, v in vm.items()}
    res = {"n": n, "shapes": shapes, "max_abs_diff": max_diff, "t_vmap": t_vmap,
           "t_loop": t_loop, "speedup": t_loop / t_vmap}
    if verbose:
        print(f"per-example gradients of a {D_IN}-{D_HID}-{D_OUT} MLP loss, {n} examples")
        for k, s in shapes.items():
            print(f"  {k}: {s}")
        print(f"max |vmap(grad) - loop of grad| = {max_diff:.3e}")
        print(f"vmap(grad):      {t_vmap * 1e3:9.2f} ms")
        print(f"loop of grad:    {t_loop * 1e3:9.2f} ms")
        print(f"speedup:         {res['speedup']:9.1f}x")
    return res


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="1,000 examples instead of 64")
    ap.add_argument("-n", type=int, default=None, help="number of examples")
    args = ap.parse_args()
    main(n=args.n or (1000 if args.full else 64), verbose=True)
