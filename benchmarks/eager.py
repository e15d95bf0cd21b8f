"""Eager `grad` (no jit) overhead: funcgrad vs HIPS autograd vs JAX (no jit) vs NumPy by hand.

Workloads (each written once against a NumPy-like module `np`, so every framework runs the
same math):

  (a) chain50 -- a 50-primitive chain on a float64 scalar: sin, cos, mul-by-constant,
      add-constant, repeated (50 primitive applications in total). Measures per-primitive
      dispatch overhead of the autodiff machinery.
  (b) mlp     -- a 784-100-10 tanh MLP, mean softmax cross-entropy (stable log-sum-exp,
      integer labels) on a batch of 100, float32 inputs and params; gradient w.r.t. all four
      params (W1, b1, W2, b2).
  (c) scalar  -- one grad call of sin(x) * x**2 + exp(-x) at a float64 scalar (issue 17's
      "scalar grad call": fixed per-call overhead plus six primitives).
  (d) tanh6   -- the 6th derivative of tanh at a float64 scalar, grad nested six times
      eagerly (PyTorch: torch.autograd.grad with create_graph=True, six times).

PyTorch eager (one thread, `torch.set_num_threads(1)`) runs (a), (c) and (d) when installed.

Before timing, the gradients of all frameworks are checked against each other (allclose).
Each cell: warmup calls, then the median of N timed calls (`time.perf_counter`), with the
frameworks interleaved in rounds so that load drift on a shared machine hits all alike.

Usage:
    python benchmarks/eager.py            # full run (< 60 s on a 2-core CPU)
    python benchmarks/eager.py --quick    # fewer repeats (a few seconds)
    python benchmarks/eager.py --profile  # also cProfile funcgrad's grad on every workload
    python benchmarks/eager.py --clock cpu  # process CPU time instead of wall time (a loaded
                                            # machine: time spent waiting for a core is excluded)
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
SCALAR_X0, TANH_X0, TANH_ORDER = 0.7, 0.5, 6
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


def scalar_f(x, np):
    return np.sin(x) * x ** 2 + np.exp(-x)


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


def scalar_grad_numpy(x):
    return onp.cos(x) * x ** 2 + 2.0 * x * onp.sin(x) - onp.exp(-x)


def tanh_derivative_numpy(coefs, x):
    """d^n/dx^n tanh(x) = P_n(tanh(x)) with P_0 = t, P_{k+1} = P_k'(t) (1 - t^2)."""
    return onp.polyval(coefs, onp.tanh(x))


def tanh_poly(n: int):
    p = onp.poly1d([1.0, 0.0])
    for _ in range(n):
        p = onp.polyder(p) * onp.poly1d([-1.0, 0.0, 1.0])
    return p.coeffs


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
    g_scalar = fg.grad(lambda v: scalar_f(v, fnp))
    xs, xt = onp.float64(SCALAR_X0), onp.float64(TANH_X0)
    d = fnp.tanh
    for _ in range(TANH_ORDER):
        d = fg.grad(d)
    return {"chain50": lambda: g_chain(xa), "mlp": lambda: g_mlp(params),
            "scalar": lambda: g_scalar(xs), "tanh6": lambda: d(xt)}


def setup_autograd(x0, mlp):
    import autograd
    import autograd.numpy as anp
    params, x, rows, labels = mlp
    g_chain = autograd.grad(lambda v: chain(v, anp))
    g_mlp = autograd.grad(lambda p: mlp_loss(p, x, rows, labels, anp))
    xa = onp.float64(x0)
    g_scalar = autograd.grad(lambda v: scalar_f(v, anp))
    d = anp.tanh
    for _ in range(TANH_ORDER):
        d = autograd.grad(d)
    return {"chain50": lambda: g_chain(xa), "mlp": lambda: g_mlp(params),
            "scalar": lambda: g_scalar(SCALAR_X0), "tanh6": lambda: d(TANH_X0)}


def setup_torch(x0, mlp):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    f64 = torch.float64
    xc = torch.tensor(x0, dtype=f64, requires_grad=True)
    xs = torch.tensor(SCALAR_X0, dtype=f64, requires_grad=True)
    xt = torch.tensor(TANH_X0, dtype=f64, requires_grad=True)

    def tanh6():
        y = torch.tanh(xt)
        for _ in range(TANH_ORDER):
            (y,) = torch.autograd.grad(y, xt, create_graph=True)
        return y.detach().numpy()
    return {"chain50": lambda: torch.autograd.grad(chain(xc, torch), xc)[0].numpy(),
            "scalar": lambda: torch.autograd.grad(scalar_f(xs, torch), xs)[0].numpy(),
            "tanh6": tanh6}


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
    g_scalar = jax.grad(lambda v: scalar_f(v, jnp))
    d = jnp.tanh
    for _ in range(TANH_ORDER):
        d = jax.grad(d)
    xs, xt = jnp.asarray(SCALAR_X0, jnp.float64), jnp.asarray(TANH_X0, jnp.float64)
    return {"chain50": block(lambda: g_chain(xa)), "mlp": block(lambda: g_mlp(jparams)),
            "scalar": block(lambda: g_scalar(xs)), "tanh6": block(lambda: d(xt))}


def setup_numpy(x0, mlp):
    params, x, rows, labels = mlp
    xa = onp.float64(x0)
    coefs = tanh_poly(TANH_ORDER)
    return {"chain50": lambda: chain_grad_numpy(xa),
            "mlp": lambda: mlp_grad_numpy(params, x, rows, labels),
            "scalar": lambda: scalar_grad_numpy(onp.float64(SCALAR_X0)),
            "tanh6": lambda: tanh_derivative_numpy(coefs, onp.float64(TANH_X0))}


FRAMEWORKS = [("funcgrad", setup_funcgrad), ("autograd", setup_autograd),
              ("PyTorch", setup_torch), ("JAX (no jit)", setup_jax),
              ("NumPy by hand", setup_numpy)]
WORKLOADS = [("chain50", "50-primitive scalar chain (f64)"),
             ("mlp", "MLP 784-100-10, batch 100, softmax-CE (f32)"),
             ("scalar", "scalar grad call sin(x)*x**2+exp(-x) (f64)"),
             ("tanh6", "6th derivative of tanh, nested grad (f64)")]


# --- checking and timing -----------------------------------------------------------------------

def _leaves(g):
    return [onp.asarray(a) for a in (g if isinstance(g, (tuple, list)) else (g,))]


def check_agreement(fns: dict) -> None:
    for wl, _ in WORKLOADS:
        ref_name = "NumPy by hand"
        ref = _leaves(fns[ref_name][wl]())
        tol = dict(rtol=2e-4, atol=1e-6) if wl == "mlp" else dict(rtol=1e-9, atol=1e-12)
        for name, _ in FRAMEWORKS:
            if wl not in fns[name]:
                continue
            got = _leaves(fns[name][wl]())
            assert len(got) == len(ref), (wl, name)
            for i, (a, b) in enumerate(zip(got, ref)):
                assert a.shape == b.shape, (wl, name, i, a.shape, b.shape)
                assert onp.allclose(a, b, **tol), (
                    f"{wl}: {name} disagrees with {ref_name} on leaf {i}: max abs diff "
                    f"{onp.max(onp.abs(a - b))}")


def time_interleaved(fns: dict, wl: str, rounds: int, per_round: int,
                     clock=time.perf_counter) -> dict:
    """Median seconds per call for each framework on workload `wl`.

    Frameworks are interleaved: each of `rounds` rounds times `per_round` consecutive calls of
    every framework in turn (after one untimed warmup call), so slow drifts in machine load
    (a shared 2-core VM) hit all frameworks alike. Returns {framework: median over all calls}.
    """
    names = [name for name, _ in FRAMEWORKS if wl in fns[name]]
    samples = {name: [] for name in names}
    pc = clock
    for name in names:  # warmup: caches, lazy imports, JAX's first dispatch
        for _ in range(3):
            fns[name][wl]()
    for _ in range(rounds):
        for name in names:
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


def python_calls(f) -> int:
    """Python-level calls (functions and builtins) of one call of `f`: deterministic."""
    f()
    pr = cProfile.Profile()
    pr.enable()
    f()
    pr.disable()
    return pstats.Stats(pr).total_calls


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
                    help="also cProfile funcgrad's grad on every workload")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time (perf_counter) or this process's CPU time (process_time)")
    args = ap.parse_args(argv)

    # timed calls per (framework, workload) = rounds * per_round
    rounds = 5 if args.quick else 40
    per_round = ({"chain50": 4, "mlp": 2, "scalar": 10, "tanh6": 1} if args.quick else
                 {"chain50": 10, "mlp": 8, "scalar": 25, "tanh6": 2})
    if args.repeats:
        per_round = {k: max(1, args.repeats // rounds) for k in per_round}
    repeats = {k: rounds * v for k, v in per_round.items()}

    t_start = time.perf_counter()
    x0, mlp = CHAIN_X0, make_mlp_data()
    fns = {name: setup(x0, mlp) or {} for name, setup in FRAMEWORKS}
    check_agreement(fns)

    results = {}
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    for wl, _ in WORKLOADS:
        for name, t in time_interleaved(fns, wl, rounds, per_round[wl], clock).items():
            results[(wl, name)] = t

    from importlib.metadata import version
    print(f"python {platform.python_version()}, numpy {onp.__version__}, "
          f"autograd {version('autograd')}, jax {version('jax')}, "
          f"{os.cpu_count()} CPU(s), {platform.machine()}; timed calls {repeats}; gradients agree;"
          f" clock {args.clock}; load average {os.getloadavg()[0]:.1f}")
    print()
    names = [n for n, _ in FRAMEWORKS]
    refs = ("autograd", "PyTorch", "NumPy by hand")
    print("| workload | " + " | ".join(names) + " | " + " | ".join(f"funcgrad/{r}" for r in refs)
          + " | funcgrad Python calls |")
    print("|---|" + "---:|" * (len(names) + len(refs) + 1))
    for wl, desc in WORKLOADS:
        cells = [fmt(results[(wl, n)]) if (wl, n) in results else "n/a" for n in names]
        cells += [f"{results[(wl, 'funcgrad')] / results[(wl, r)]:.2f}"
                  if (wl, r) in results else "n/a" for r in refs]
        cells.append(str(python_calls(fns["funcgrad"][wl])))
        print(f"| {desc} | " + " | ".join(cells) + " |")
    print(f"\n(median time per grad call; total script time "
          f"{time.perf_counter() - t_start:.1f} s)")

    if args.profile:
        profile(fns, calls=20 if args.quick else 100, top=25)


if __name__ == "__main__":
    main()
