"""Per-example gradients of a 784-100-10 MLP loss over 1,000 examples.

Three ways to get the (1000, ...) stack of per-example gradients of the softmax cross-entropy
of a tanh MLP (integer labels, float32), all without jit:

  - funcgrad `fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))`   (one batched pass)
  - a Python loop of funcgrad `fg.grad(loss)` calls, stacked   (1,000 passes)
  - JAX `jax.vmap(jax.grad(loss))`, eager (op-by-op, no jit)

plus, for reference, funcgrad's `fg.jit(fg.vmap(fg.grad(loss)))`.

The results are checked to agree before timing. Each cell is the median of repeated calls
(`time.perf_counter`) after one warmup call.

Usage:
    python benchmarks/per_example.py            # 1,000 examples (about a minute on 2 cores)
    python benchmarks/per_example.py --quick    # 200 examples, fewer repeats
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import numpy as np  # noqa: E402
from per_example_gradients import (  # noqa: E402
    init_params,
    loop_grads,
    make_data,
    per_example_grads,
)

import funcgrad as fg  # noqa: E402


def jax_loss(params, x, label):
    import jax.numpy as jnp
    h = jnp.tanh(x @ params["W1"] + params["b1"])
    z = h @ params["W2"] + params["b2"]
    m = jnp.max(z)
    logp = z - (jnp.log(jnp.sum(jnp.exp(z - m))) + m)
    return -logp[label]


def median_time(fn, repeats):
    fn()  # warmup
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def fmt(t):
    return f"{t * 1e3:.1f} ms" if t < 10 else f"{t:.2f} s"


def main(n=1000, repeats=7, loop_repeats=3):
    params = init_params()
    xs, labels = make_data(n)
    rows = {}
    ref = per_example_grads(params, xs, labels)
    lp = loop_grads(params, xs, labels)
    for k in params:
        np.testing.assert_allclose(ref[k], lp[k], rtol=1e-4, atol=1e-5)
    rows["funcgrad vmap(grad)"] = median_time(lambda: per_example_grads(params, xs, labels),
                                              repeats)
    if hasattr(fg, "jit"):  # for reference: the same vmap(grad), compiled
        jitted = fg.jit(per_example_grads)
        jout = jitted(params, xs, labels)
        for k in params:
            np.testing.assert_allclose(ref[k], jout[k], rtol=1e-4, atol=1e-5)
        rows["funcgrad jit(vmap(grad))"] = median_time(lambda: jitted(params, xs, labels),
                                                       repeats)
    rows["funcgrad loop of grad"] = median_time(lambda: loop_grads(params, xs, labels),
                                                loop_repeats)
    try:
        import jax
        jparams = {k: jax.numpy.asarray(v) for k, v in params.items()}
        jfn = jax.vmap(jax.grad(jax_loss), in_axes=(None, 0, 0))
        jx, jl = jax.numpy.asarray(xs), jax.numpy.asarray(labels)
        jout = jfn(jparams, jx, jl)
        for k in params:
            np.testing.assert_allclose(ref[k], np.asarray(jout[k]), rtol=1e-4, atol=1e-5)

        def run_jax():
            out = jfn(jparams, jx, jl)
            jax.block_until_ready(out)
        rows["JAX vmap(grad), no jit"] = median_time(run_jax, repeats)
    except ImportError:
        pass
    base = rows["funcgrad vmap(grad)"]
    print(f"per-example gradients, 784-100-10 MLP softmax-CE, {n} examples, float32")
    print(f"Python {platform.python_version()}, NumPy {np.__version__}, {platform.machine()}")
    print()
    print("| method | median time | time / funcgrad vmap(grad) |")
    print("|---|---:|---:|")
    for name, t in rows.items():
        print(f"| {name} | {fmt(t)} | {t / base:.1f} |")
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        main(n=200, repeats=3, loop_repeats=1)
    else:
        main()
