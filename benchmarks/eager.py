"""Eager `grad` (no jit) overhead: funcgrad vs HIPS autograd vs JAX (no jit) vs NumPy by hand.

Workloads (each written once against a NumPy-like module `np`, so every framework runs the
same math):

  (a) chain50 -- a 50-primitive chain on a float64 scalar: sin, cos, mul-by-constant,
      add-constant, repeated (50 primitive applications in total). Measures per-primitive
      dispatch overhead of the autodiff machinery.
  (b) mlp     -- a 784-100-10 tanh MLP, mean softmax cross-entropy (stable log-sum-exp,
      integer labels) on a batch of 100, float32 inputs and params; gradient w.r.t. all four
      params (W1, b1, W2, b2).

Before timing, the gradients of all frameworks are checked against each other (allclose).
Each cell: warmup calls, then the median of N timed calls (`time.perf_counter`), with the
frameworks interleaved in rounds so that load drift on a shared machine hits all alike.

Usage:
    python benchmarks/eager.py            # full run (< 60 s on a 2-core CPU)
    python benchmarks/eager.py --quick    # fewer repeats (a few seconds)
    python benchmarks/eager.py --profile  # also cProfile funcgrad's grad on both workloads
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import platform
import pstats
import statistics
import sys
import time

# Single-threaded BLAS everywhere: on a small (2-vCPU) machine, OpenBLAS's worker threads and
# XLA's thread pool (once JAX has run) preempt each other and produce sporadic 20-40 ms stalls
# for every framework. Set before NumPy is imported; override from the environment if wanted.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as onp  # noqa: E402

N_CHAIN = 50
CHAIN_X0 = 0.7
BATCH, D_IN, D_HID, D_OUT = 100, 784, 100, 10


# --- the workloads, written once against a generic `np` ----------------------------------------

def chain(x, np):
    """50 primitive applications: sin, cos, *1.1, +0.3, sin, cos, ... on a scalar."""
    for i in range(N_CHAIN):
        k = i % 4
        if k == 0:
            x = np.sin(x)
        elif k == 1:
            x = np.cos(x)
        elif k == 2:
            x = x * 1.1
        else:
            x = x + 0.3
    return x


def mlp_loss(params, x, rows, labels, np):
    """Mean softmax cross-entropy of a 784-100-10 tanh MLP; log-sum-exp shifted by the row max.

    (The max shift is differentiated through in every framework -- its exact contribution to
    the gradient is zero -- so that the code stays identical across frameworks.)
    """
    W1, b1, W2, b2 = params
    h = np.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    m = np.max(z, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(z - m), axis=1, keepdims=True)) + m
    logp = z - lse
    return -np.mean(logp[rows, labels])


# --- NumPy by hand: forward + handwritten backward ---------------------------------------------

def chain_grad_numpy(x):
    xs = []  # inputs of sin / cos, needed by the backward pass
    for i in range(N_CHAIN):
        k = i % 4
        xs.append(x)
        if k == 0:
            x = onp.sin(x)
        elif k == 1:
            x = onp.cos(x)
        elif k == 2:
            x = x * 1.1
        else:
            x = x + 0.3
    g = onp.float64(1.0)
    for i in reversed(range(N_CHAIN)):
        k = i % 4
        if k == 0:
            g = g * onp.cos(xs[i])
        elif k == 1:
            g = g * -onp.sin(xs[i])
        elif k == 2:
            g = g * 1.1
    return g


def mlp_grad_numpy(params, x, rows, labels):
    W1, b1, W2, b2 = params
    h = onp.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    e = onp.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    dz = p
    dz[rows, labels] -= 1.0
    dz /= onp.float32(x.shape[0])
    dW2 = h.T @ dz
    db2 = dz.sum(axis=0)
    dh = dz @ W2.T
    da = dh * (1.0 - h * h)
    dW1 = x.T @ da
    db1 = da.sum(axis=0)
    return dW1, db1, dW2, db2


# --- data --------------------------------------------------------------------------------------

def make_mlp_data(seed: int = 0):
    rng = onp.random.default_rng(seed)
    f32 = onp.float32
    params = (
        (rng.standard_normal((D_IN, D_HID)) / onp.sqrt(D_IN)).astype(f32),
        (0.1 * rng.standard_normal(D_HID)).astype(f32),
        (rng.standard_normal((D_HID, D_OUT)) / onp.sqrt(D_HID)).astype(f32),
        (0.1 * rng.standard_normal(D_OUT)).astype(f32),
    )
    x = rng.standard_normal((BATCH, D_IN)).astype(f32)
    labels = rng.integers(0, D_OUT, BATCH).astype(onp.int64)
    rows = onp.arange(BATCH, dtype=onp.int64)
    return params, x, rows, labels


# --- frameworks: each returns {workload: zero-arg callable computing one gradient} -------------

def setup_funcgrad(x0, mlp):
    import funcgrad as fg
    import funcgrad.numpy as fnp
    params, x, rows, labels = mlp
    g_chain = fg.grad(lambda v: chain(v, fnp))
    g_mlp = fg.grad(lambda p: mlp_loss(p, x, rows, labels, fnp))
    xa = onp.asarray(x0, onp.float64)
    return {"chain50": lambda: g_chain(xa), "mlp": lambda: g_mlp(params)}


def setup_autograd(x0, mlp):
    import autograd
    import autograd.numpy as anp
    params, x, rows, labels = mlp
    g_chain = autograd.grad(lambda v: chain(v, anp))
    g_mlp = autograd.grad(lambda p: mlp_loss(p, x, rows, labels, anp))
    xa = onp.float64(x0)
    return {"chain50": lambda: g_chain(xa), "mlp": lambda: g_mlp(params)}


def setup_jax(x0, mlp):
    import jax
    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_enable_x64", True)  # the chain runs in float64 (the MLP stays f32)
    import jax.numpy as jnp
    params, x, rows, labels = mlp
    jparams = tuple(jnp.asarray(p) for p in params)
    jx, jrows, jlabels = jnp.asarray(x), jnp.asarray(rows), jnp.asarray(labels)
    g_chain = jax.grad(lambda v: chain(v, jnp))
    g_mlp = jax.grad(lambda p: mlp_loss(p, jx, jrows, jlabels, jnp))
    xa = jnp.asarray(x0, jnp.float64)

    def block(f):
        return lambda: jax.block_until_ready(f())
    return {"chain50": block(lambda: g_chain(xa)), "mlp": block(lambda: g_mlp(jparams))}


def setup_numpy(x0, mlp):
    params, x, rows, labels = mlp
    xa = onp.float64(x0)
    return {"chain50": lambda: chain_grad_numpy(xa),
            "mlp": lambda: mlp_grad_numpy(params, x, rows, labels)}


FRAMEWORKS = [("funcgrad", setup_funcgrad), ("autograd", setup_autograd),
              ("JAX (no jit)", setup_jax), ("NumPy by hand", setup_numpy)]
WORKLOADS = [("chain50", "50-primitive scalar chain (f64)"),
             ("mlp", "MLP 784-100-10, batch 100, softmax-CE (f32)")]


# --- checking and timing -----------------------------------------------------------------------

def _leaves(g):
    return [onp.asarray(a) for a in (g if isinstance(g, (tuple, list)) else (g,))]


def check_agreement(fns: dict) -> None:
    for wl, _ in WORKLOADS:
        ref_name = "NumPy by hand"
        ref = _leaves(fns[ref_name][wl]())
        tol = dict(rtol=1e-9, atol=1e-12) if wl == "chain50" else dict(rtol=2e-4, atol=1e-6)
        for name, _ in FRAMEWORKS:
            got = _leaves(fns[name][wl]())
            assert len(got) == len(ref), (wl, name)
            for i, (a, b) in enumerate(zip(got, ref)):
                assert a.shape == b.shape, (wl, name, i, a.shape, b.shape)
                assert onp.allclose(a, b, **tol), (
                    f"{wl}: {name} disagrees with {ref_name} on leaf {i}: max abs diff "
                    f"{onp.max(onp.abs(a - b))}")


def time_interleaved(fns: dict, wl: str, rounds: int, per_round: int) -> dict:
    """Median seconds per call for each framework on workload `wl`.

    Frameworks are interleaved: each of `rounds` rounds times `per_round` consecutive calls of
    every framework in turn (after one untimed warmup call), so slow drifts in machine load
    (a shared 2-core VM) hit all frameworks alike. Returns {framework: median over all calls}.
    """
    samples = {name: [] for name, _ in FRAMEWORKS}
    pc = time.perf_counter
    for name, _ in FRAMEWORKS:  # warmup: caches, lazy imports, JAX's first dispatch
        for _ in range(3):
            fns[name][wl]()
    for _ in range(rounds):
        for name, _ in FRAMEWORKS:
            f = fns[name][wl]
            f()
            ts = samples[name]
            for _ in range(per_round):
                t0 = pc()
                f()
                ts.append(pc() - t0)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def fmt(t: float) -> str:
    if t < 1e-3:
        return f"{t * 1e6:.1f} µs"
    return f"{t * 1e3:.2f} ms"


def profile(fns: dict, calls: int, top: int) -> None:
    for wl, desc in WORKLOADS:
        f = fns["funcgrad"][wl]
        f()
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(calls):
            f()
        pr.disable()
        for key in ("tottime", "cumulative"):
            s = io.StringIO()
            pstats.Stats(pr, stream=s).strip_dirs().sort_stats(key).print_stats(top)
            print(f"\n### cProfile funcgrad grad, {desc}, {calls} calls, sorted by {key}\n")
            print(s.getvalue())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    ap.add_argument("--repeats", type=int, default=None, help="override timed calls per cell")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile funcgrad's grad on both workloads")
    args = ap.parse_args(argv)

    # timed calls per (framework, workload) = rounds * per_round
    rounds = 5 if args.quick else 40
    per_round = {"chain50": 4, "mlp": 2} if args.quick else {"chain50": 10, "mlp": 8}
    if args.repeats:
        per_round = {k: max(1, args.repeats // rounds) for k in per_round}
    repeats = {k: rounds * v for k, v in per_round.items()}

    t_start = time.perf_counter()
    x0, mlp = CHAIN_X0, make_mlp_data()
    fns = {name: setup(x0, mlp) for name, setup in FRAMEWORKS}
    check_agreement(fns)

    results = {}
    for wl, _ in WORKLOADS:
        for name, t in time_interleaved(fns, wl, rounds, per_round[wl]).items():
            results[(wl, name)] = t

    from importlib.metadata import version
    print(f"python {platform.python_version()}, numpy {onp.__version__}, "
          f"autograd {version('autograd')}, jax {version('jax')}, "
          f"{os.cpu_count()} CPU(s), {platform.machine()}; timed calls {repeats}; gradients agree")
    print()
    names = [n for n, _ in FRAMEWORKS]
    print("| workload | " + " | ".join(names) + " | funcgrad/autograd | funcgrad/NumPy |")
    print("|---|" + "---:|" * (len(names) + 2))
    for wl, desc in WORKLOADS:
        cells = [fmt(results[(wl, n)]) for n in names]
        r_ag = results[(wl, "funcgrad")] / results[(wl, "autograd")]
        r_np = results[(wl, "funcgrad")] / results[(wl, "NumPy by hand")]
        print(f"| {desc} | " + " | ".join(cells) + f" | {r_ag:.2f} | {r_np:.1f} |")
    print(f"\n(median time per grad call; total script time "
          f"{time.perf_counter() - t_start:.1f} s)")

    if args.profile:
        profile(fns, calls=20 if args.quick else 100, top=25)


if __name__ == "__main__":
    main()
