"""Small programs, loops and higher derivatives (issue 17): funcgrad (eager, jit's NumPy tier,
jit's native tier when it exists) vs JAX jit vs HIPS autograd vs PyTorch eager vs NumPy by hand.

Where each operation is small, per-call Python overhead decides. Workloads:

  (1) tanh_n    -- the n-th derivative of tanh at the scalar 0.5 (float64), orders 1-6:
      funcgrad eager and jit, JAX jit, autograd, PyTorch (torch.autograd.grad with
      create_graph=True, repeated). NumPy by hand: the derivative's polynomial in tanh(x),
      built once, evaluated per call.
  (2) rosen     -- 10,000 gradient-descent steps on f(x0, x1) = 100 (x1 - x0^2)^2 + (1 - x0)^2
      from (0, 2), lr 0.001 (step 28 of the DeZero book): funcgrad as a Python loop of a jitted
      step and as ONE jitted `fg.fori_loop`, JAX jit of `lax.fori_loop`, PyTorch loop, NumPy by
      hand (analytic gradient on float64 scalars, Python loop). funcgrad eager, autograd and
      PyTorch run 1,000 steps and their time is multiplied by 10 (marked "x10"), to keep the
      run short.
  (3) scalar    -- one `grad(f)(x)` call of f(x) = sin(x) x^2 + exp(-x) at x = 0.7 (float64):
      eager (funcgrad, autograd, PyTorch) and jit (funcgrad, JAX).
  (4) hvp       -- Hessian-vector product of the 1000-d Rosenbrock function, forward-over-reverse,
      jit, float64.
  (5) perex     -- per-example gradients, jit(vmap(grad)), of a 784-100-10 tanh MLP, batch 100,
      float32.
  (6) newton    -- Newton's method on x^4 - 2 x^2 from x = 2, 10 iterations using grad and the
      grad of grad (step 33): funcgrad eager (Python loop) and jit (the whole loop as one
      `fg.fori_loop`), JAX jit of `lax.fori_loop`, PyTorch, NumPy by hand.
  (7) eager_mlp -- eager grad of a 784-100-10 tanh MLP, softmax cross-entropy, batch 100, float32
      (the workload of benchmarks/eager.py): funcgrad vs autograd vs PyTorch.
  (8) first     -- first call (trace + optimise + compile) of a freshly jitted SGD step of the
      784-1000-10 ReLU MLP of benchmarks/jit.py, and the cached call of the same step.

The workloads of (4), (5), (7) and (8) are imported from benchmarks/jit.py and
benchmarks/eager.py, so the numbers are comparable with theirs.

Every result is checked against the others (allclose) before anything is timed. Each cell is the
median of `time.perf_counter` samples taken in interleaved rounds (every implementation in turn,
so load drift on a shared machine hits all alike). BLAS runs on one thread, and PyTorch too.

The "native" column is `fg.jit(f, backend="native")`; it reads "n/a" while jit has no such
option. The NumPy-tier column uses `backend="numpy"` when that option exists.

Usage:
    python benchmarks/small_programs.py                     # full run (about 2 minutes)
    python benchmarks/small_programs.py --quick             # fewer repeats (about 30 s)
    python benchmarks/small_programs.py --quick --check-only  # only check results agree
    python benchmarks/small_programs.py --stat min          # fastest sample, not the median
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time

# One thread everywhere (see benchmarks/eager.py): on a small machine OpenBLAS's threads and
# XLA's pool preempt each other. Set before NumPy is imported; override from the environment.
# OPENBLAS_NUM_THREADS also pins SciPy's own OpenBLAS, which Numba's np.dot calls (through
# scipy.linalg.cython_blas); Numba's kernels are not `parallel`, so NUMBA_NUM_THREADS is unused.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1")
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(_HERE))

import numpy as onp  # noqa: E402

X_TANH = 0.5
ORDERS = range(1, 7)
ROSEN_START, ROSEN_LR, ROSEN_STEPS, EAGER_SCALE = (0.0, 2.0), 0.001, 10_000, 10
X_SCALAR = 0.7
NEWTON_X0, NEWTON_ITERS = 2.0, 10


def _load(name: str):
    """A sibling benchmark script as a module (its `main` is not run)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", os.path.join(_HERE,
                                                                                 f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- workloads, written once (arithmetic only, or against a NumPy-like module `np`) ------------

def rosen2(x0, x1):
    return 100.0 * (x1 - x0 ** 2) ** 2 + (1.0 - x0) ** 2


def scalar_f(x, np):
    return np.sin(x) * x ** 2 + np.exp(-x)


def newton_f(x):
    return x ** 4 - 2.0 * x ** 2


# --- NumPy by hand -----------------------------------------------------------------------------

def tanh_derivative_poly(n: int):
    """The coefficients (highest power first) of P_n with d^n/dx^n tanh(x) = P_n(tanh(x)):
    P_0 = t, P_{k+1} = P_k'(t) (1 - t^2). Built once; the timed part is `tanh_derivative`."""
    P = onp.polynomial.Polynomial
    p = P([0.0, 1.0])
    for _ in range(n):
        p = p.deriv() * P([1.0, 0.0, -1.0])
    return p.coef[::-1].copy()


def tanh_derivative(coefs, x):
    return onp.polyval(coefs, onp.tanh(x))


def rosen_descent_by_hand(steps: int):
    x0, x1 = onp.float64(ROSEN_START[0]), onp.float64(ROSEN_START[1])
    for _ in range(steps):
        d = x1 - x0 * x0
        g0 = -400.0 * x0 * d - 2.0 * (1.0 - x0)
        g1 = 200.0 * d
        x0, x1 = x0 - ROSEN_LR * g0, x1 - ROSEN_LR * g1
    return x0, x1


def scalar_grad_by_hand(x):
    return onp.cos(x) * x ** 2 + 2.0 * x * onp.sin(x) - onp.exp(-x)


def newton_by_hand(iters: int):
    x = onp.float64(NEWTON_X0)
    for _ in range(iters):
        x = x - (4.0 * x ** 3 - 4.0 * x) / (12.0 * x ** 2 - 4.0)
    return x


# --- timing and printing -----------------------------------------------------------------------

STAT = statistics.median  # --stat min: the fastest sample instead (on a heavily loaded machine)


def interleaved(fns: dict, rounds: int, per_round: int) -> dict:
    """Median (or `STAT`) seconds per call of each callable: one warmup call each, then `rounds`
    rounds of `per_round` timed calls of every callable in turn."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    pc = time.perf_counter
    for _ in range(rounds):
        for k, fn in fns.items():
            ts = times[k]
            for _ in range(per_round):
                t0 = pc()
                fn()
                ts.append(pc() - t0)
    return {k: STAT(v) for k, v in times.items()}


def fmt(t: float | None) -> str:
    if t is None:
        return "n/a"
    if t >= 1.0:
        return f"{t:.2f} s"
    return f"{t * 1e3:.2f} ms" if t >= 1e-3 else f"{t * 1e6:.1f} µs"


def ratio(num: float | None, den: float | None) -> float | None:
    return None if num is None or den is None else num / den


def fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}"


def table(title: str, rows: list, cols: list, ratios: list) -> None:
    """rows: [(label, {impl: seconds})]; cols: implementation names (missing -> n/a);
    ratios: [(header, numerator impl, denominator impl or tuple of impls taking the min)]."""
    print(f"\n### {title}\n")
    print("| | " + " | ".join(cols) + " | " + " | ".join(h for h, _, _ in ratios) + " |")
    print("|---|" + "---:|" * (len(cols) + len(ratios)))
    for label, res in rows:
        cells = [fmt(res.get(c)) for c in cols]
        for _, num, den in ratios:
            dens = [res.get(d) for d in (den if isinstance(den, tuple) else (den,))]
            dens = [d for d in dens if d is not None]
            cells.append(fmt_ratio(ratio(res.get(num), min(dens) if dens else None)))
        print(f"| {label} | " + " | ".join(cells) + " |")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def _loadavg() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


class _TorchNp:
    """The NumPy names the shared workloads use, on torch tensors (the rest fall through)."""

    def __init__(self, torch):
        self.t = torch

    def __getattr__(self, name):
        return getattr(self.t, name)

    def maximum(self, a, b):
        return self.t.clamp_min(a, b)

    def max(self, a, axis=None, keepdims=False):
        return self.t.amax(a, dim=axis, keepdim=keepdims)

    def sum(self, a, axis=None, keepdims=False):
        return self.t.sum(a) if axis is None else self.t.sum(a, dim=axis, keepdim=keepdims)

    def mean(self, a):
        return self.t.mean(a)


# --- the run -----------------------------------------------------------------------------------

def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--check-only", action="store_true",
                    help="only check that all implementations agree (1,000 Rosenbrock steps); "
                         "no timing")
    ap.add_argument("--stat", choices=("median", "min"), default="median",
                    help="statistic of the timed samples per cell (default: median)")
    args = ap.parse_args(argv)
    global STAT
    STAT = min if args.stat == "min" else statistics.median
    check_only = args.check_only
    # timed calls per cell = rounds * per_round (per_round scaled per workload below)
    rounds = 5 if args.quick else 15
    t_start = time.perf_counter()
    load_before = _loadavg()

    import autograd
    import autograd.numpy as anp
    import jax
    import jax.numpy as jnp
    from jax import lax
    jax.config.update("jax_enable_x64", True)  # scalars in float64 (the MLPs stay float32)

    import funcgrad as fg
    import funcgrad.numpy as fnp
    try:
        import torch
        torch.set_num_threads(1)
        tnp = _TorchNp(torch)
    except ImportError:
        torch = None

    bench_jit, bench_eager = _load("jit"), _load("eager")

    def jit_numpy(f):
        """fg.jit on the NumPy tier (plain fg.jit while there is no `backend` option)."""
        try:
            return fg.jit(f, backend="numpy")
        except TypeError:
            return fg.jit(f)

    def jit_native(f):
        try:
            return fg.jit(f, backend="native")
        except TypeError:
            return None

    def say_tier(what, jitted, *args):
        """A program the native tier does not lower runs its NumPy code: say which ran."""
        jitted(*args)
        print(f"funcgrad native {what}: runs on the {jitted.tier(*args)} tier")

    def jblock(f):
        return lambda: jax.block_until_ready(f())

    def check(name, got, want, rtol, atol=0.0):
        got = [onp.asarray(g) for g in (got if isinstance(got, (tuple, list)) else (got,))]
        want = [onp.asarray(w) for w in (want if isinstance(want, (tuple, list)) else (want,))]
        assert len(got) == len(want), name
        for g, w in zip(got, want):
            onp.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)

    results = {}  # workload -> list of (row label, {impl: seconds})

    def run(key, label, fns, per_round, scale=None, n_rounds=None):
        """Time `fns` (interleaved) unless checking only; `scale` multiplies some impls' times."""
        if check_only:
            return
        res = interleaved(fns, n_rounds or rounds, per_round)
        for k, s in (scale or {}).items():
            res[k] *= s
        results.setdefault(key, []).append((label, res))

    # (1) n-th derivative of tanh ------------------------------------------------------------
    xt = onp.float64(X_TANH)
    jxt = jnp.asarray(X_TANH, jnp.float64)
    if torch is not None:
        txt = torch.tensor(X_TANH, dtype=torch.float64, requires_grad=True)
    for n in ORDERS:
        f_fg, f_ag, f_jax = fnp.tanh, anp.tanh, jnp.tanh
        for _ in range(n):
            f_fg, f_ag, f_jax = fg.grad(f_fg), autograd.grad(f_ag), jax.grad(f_jax)
        fg_j, fg_nat, jax_j = jit_numpy(f_fg), jit_native(f_fg), jax.jit(f_jax)
        fns = {"funcgrad eager": lambda f=f_fg: f(xt), "funcgrad jit": lambda f=fg_j: f(xt),
               "JAX jit": jblock(lambda f=jax_j: f(jxt)), "autograd": lambda f=f_ag: f(xt)}
        if fg_nat is not None:
            fns["funcgrad native"] = lambda f=fg_nat: f(xt)
        if torch is not None:
            def torch_nth(n=n):
                y = torch.tanh(txt)
                for _ in range(n):
                    (y,) = torch.autograd.grad(y, txt, create_graph=True)
                return y.detach()
            fns["PyTorch eager"] = torch_nth
        coefs = tanh_derivative_poly(n)
        want = tanh_derivative(coefs, xt)
        for name, fn in fns.items():
            check(f"tanh order {n}: {name}", fn(), want, rtol=1e-9, atol=1e-12)
        fns["NumPy by hand"] = lambda c=coefs: tanh_derivative(c, xt)
        run("tanh", f"order {n}", fns, 4 if n < 4 else 2)

    # (2) 10,000 Rosenbrock gradient-descent steps -------------------------------------------
    steps = 1000 if check_only else ROSEN_STEPS
    eager_steps = steps // EAGER_SCALE
    lr = ROSEN_LR

    def make_step(grad):
        g = grad(rosen2, argnums=(0, 1))

        def step(p):
            x0, x1 = p
            g0, g1 = g(x0, x1)
            return (x0 - lr * g0, x1 - lr * g1)
        return step

    fg_step, jax_step = make_step(fg.grad), make_step(jax.grad)
    ag_step = make_step(lambda f, argnums: autograd.grad(f, argnum=argnums))
    start = (onp.float64(ROSEN_START[0]), onp.float64(ROSEN_START[1]))
    jstart = tuple(jnp.asarray(v, jnp.float64) for v in ROSEN_START)

    def python_loop(step, n):
        def go():
            p = start
            for _ in range(n):
                p = step(p)
            return p
        return go

    def fori(jit, n):
        f = jit(lambda p: fg.fori_loop(0, n, lambda i, q: fg_step(q), p))
        return None if f is None else (lambda: f(start))

    jax_loop = jax.jit(lambda p: lax.fori_loop(0, steps, lambda i, q: jax_step(q), p))
    fg_step_j, fg_step_nat = jit_numpy(fg_step), jit_native(fg_step)
    fns = {"funcgrad jit, Python loop": python_loop(fg_step_j, steps),
           "funcgrad jit, fori_loop": fori(jit_numpy, steps),
           "JAX jit, fori_loop": jblock(lambda: jax_loop(jstart)),
           "funcgrad eager (x10)": python_loop(fg_step, eager_steps),
           "autograd (x10)": python_loop(ag_step, eager_steps),
           "NumPy by hand": lambda: rosen_descent_by_hand(steps)}
    if fg_step_nat is not None:
        fns["funcgrad native, Python loop"] = python_loop(fg_step_nat, steps)
        fns["funcgrad native, fori_loop"] = fori(jit_native, steps)
    if torch is not None:
        def torch_loop():
            x0 = torch.tensor(ROSEN_START[0], dtype=torch.float64, requires_grad=True)
            x1 = torch.tensor(ROSEN_START[1], dtype=torch.float64, requires_grad=True)
            for _ in range(eager_steps):
                g0, g1 = torch.autograd.grad(rosen2(x0, x1), (x0, x1))
                with torch.no_grad():
                    x0 -= lr * g0
                    x1 -= lr * g1
            return x0.detach(), x1.detach()
        fns["PyTorch eager (x10)"] = torch_loop
    want_full, want_eager = rosen_descent_by_hand(steps), rosen_descent_by_hand(eager_steps)
    for name, fn in fns.items():
        check(f"rosenbrock: {name}", fn(), want_eager if "x10" in name else want_full,
              rtol=1e-9)
    run("rosen", f"{ROSEN_STEPS:,} steps", fns, 1,
        scale={k: EAGER_SCALE for k in fns if "x10" in k}, n_rounds=2 if args.quick else 5)

    # (3) scalar grad call -------------------------------------------------------------------
    xs, jxs = onp.float64(X_SCALAR), jnp.asarray(X_SCALAR, jnp.float64)
    g_fg = fg.grad(lambda x: scalar_f(x, fnp))
    g_ag = autograd.grad(lambda x: scalar_f(x, anp))
    g_fg_j, g_fg_nat = jit_numpy(g_fg), jit_native(g_fg)
    g_jax = jax.jit(jax.grad(lambda x: scalar_f(x, jnp)))
    fns = {"funcgrad eager": lambda: g_fg(xs), "autograd": lambda: g_ag(xs),
           "funcgrad jit": lambda: g_fg_j(xs), "JAX jit": jblock(lambda: g_jax(jxs))}
    if g_fg_nat is not None:
        fns["funcgrad native"] = lambda: g_fg_nat(xs)
    if torch is not None:
        txs = torch.tensor(X_SCALAR, dtype=torch.float64, requires_grad=True)
        fns["PyTorch eager"] = lambda: torch.autograd.grad(scalar_f(txs, torch), txs)[0]
    want = scalar_grad_by_hand(xs)
    for name, fn in fns.items():
        check(f"scalar grad: {name}", fn(), want, rtol=1e-12)
    fns["NumPy by hand"] = lambda: scalar_grad_by_hand(xs)
    run("scalar", "grad(f)(x)", fns, 20)

    r = onp.random.default_rng(0)

    # (4) HVP of the 1000-d Rosenbrock (forward-over-reverse) ---------------------------------
    x0 = r.uniform(-1, 1, bench_jit.N_ROSEN)
    v0 = r.standard_normal(bench_jit.N_ROSEN)
    jx0, jv0 = jnp.asarray(x0), jnp.asarray(v0)

    def fg_hvp_fn(x, v):
        return fg.jvp(fg.grad(lambda y: bench_jit.rosenbrock(y, fnp)), (x,), (v,))[1]
    fg_hvp, fg_hvp_nat = jit_numpy(fg_hvp_fn), jit_native(fg_hvp_fn)
    jax_hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(lambda y: bench_jit.rosenbrock(y, jnp)),
                                           (x,), (v,))[1])
    fns = {"funcgrad jit": lambda: fg_hvp(x0, v0), "JAX jit": jblock(lambda: jax_hvp(jx0, jv0))}
    if fg_hvp_nat is not None:
        fns["funcgrad native"] = lambda: fg_hvp_nat(x0, v0)
        say_tier("HVP", fg_hvp_nat, x0, v0)
    want = bench_jit.rosen_hvp_by_hand(x0, v0)
    for name, fn in fns.items():
        check(f"hvp: {name}", fn(), want, rtol=1e-9, atol=1e-9)
    fns["NumPy by hand"] = lambda: bench_jit.rosen_hvp_by_hand(x0, v0)
    run("hvp", "HVP, 1000-d Rosenbrock (f64)", fns, 10)

    # (5) per-example gradients, jit(vmap(grad)) ----------------------------------------------
    d_in, d_out, batch = bench_jit.D_IN, bench_jit.D_OUT, bench_jit.BATCH
    ps = {"W1": (r.standard_normal((d_in, 100)) * 0.05).astype(onp.float32),
          "b1": onp.zeros(100, onp.float32),
          "W2": (r.standard_normal((100, d_out)) * 0.05).astype(onp.float32),
          "b2": onp.zeros(d_out, onp.float32)}
    xb = r.standard_normal((batch, d_in)).astype(onp.float32)
    tb = onp.eye(d_out, dtype=onp.float32)[r.integers(0, d_out, batch)]
    jps = {k: jnp.asarray(v) for k, v in ps.items()}
    jxb, jtb = jnp.asarray(xb), jnp.asarray(tb)
    pe_fn = fg.vmap(fg.grad(lambda q, a, b: bench_jit.small_loss(q, a, b, fnp)),
                    in_axes=(None, 0, 0))
    fg_pe, fg_pe_nat = jit_numpy(pe_fn), jit_native(pe_fn)
    jax_pe = jax.jit(jax.vmap(jax.grad(lambda q, a, b: bench_jit.small_loss(q, a, b, jnp)),
                              in_axes=(None, 0, 0)))
    fns = {"funcgrad jit": lambda: fg_pe(ps, xb, tb),
           "JAX jit": jblock(lambda: jax_pe(jps, jxb, jtb))}
    if fg_pe_nat is not None:
        fns["funcgrad native"] = lambda: fg_pe_nat(ps, xb, tb)
        say_tier("per-example gradients", fg_pe_nat, ps, xb, tb)
    want = jax_pe(jps, jxb, jtb)
    for name, fn in fns.items():
        got = fn()
        check(f"per-example: {name}", [got[k] for k in ps], [want[k] for k in ps], rtol=2e-3,
              atol=1e-5)
    run("perex", "jit(vmap(grad)), MLP 784-100-10, batch 100 (f32)", fns, 3)

    # (6) Newton's method ---------------------------------------------------------------------
    d1 = fg.grad(newton_f)
    d2 = fg.grad(d1)
    jd1 = jax.grad(newton_f)
    jd2 = jax.grad(jd1)
    xn, jxn = onp.float64(NEWTON_X0), jnp.asarray(NEWTON_X0, jnp.float64)

    def fg_newton_eager():
        x = xn
        for _ in range(NEWTON_ITERS):
            x = x - d1(x) / d2(x)
        return x

    def newton_loop(x):
        return fg.fori_loop(0, NEWTON_ITERS, lambda i, y: y - d1(y) / d2(y), x)
    fg_newton, fg_newton_nat = jit_numpy(newton_loop), jit_native(newton_loop)
    jax_newton = jax.jit(lambda x: lax.fori_loop(0, NEWTON_ITERS,
                                                 lambda i, y: y - jd1(y) / jd2(y), x))
    fns = {"funcgrad eager": fg_newton_eager, "funcgrad jit, fori_loop": lambda: fg_newton(xn),
           "JAX jit, fori_loop": jblock(lambda: jax_newton(jxn))}
    if fg_newton_nat is not None:
        fns["funcgrad native, fori_loop"] = lambda: fg_newton_nat(xn)
    if torch is not None:
        def torch_newton():
            x = torch.tensor(NEWTON_X0, dtype=torch.float64)
            for _ in range(NEWTON_ITERS):
                x = x.detach().requires_grad_()
                (g,) = torch.autograd.grad(newton_f(x), x, create_graph=True)
                (h,) = torch.autograd.grad(g, x)
                x = (x - g / h).detach()
            return x
        fns["PyTorch eager"] = torch_newton
    want = newton_by_hand(NEWTON_ITERS)
    for name, fn in fns.items():
        check(f"newton: {name}", fn(), want, rtol=1e-12)
    fns["NumPy by hand"] = lambda: newton_by_hand(NEWTON_ITERS)
    run("newton", f"{NEWTON_ITERS} Newton iterations", fns, 5)

    # (7) eager MLP grad (benchmarks/eager.py's workload) ------------------------------------
    params, xe, rows, labels = bench_eager.make_mlp_data()
    g_mlp_fg = fg.grad(lambda p: bench_eager.mlp_loss(p, xe, rows, labels, fnp))
    g_mlp_ag = autograd.grad(lambda p: bench_eager.mlp_loss(p, xe, rows, labels, anp))
    fns = {"funcgrad eager": lambda: g_mlp_fg(params), "autograd": lambda: g_mlp_ag(params)}
    if torch is not None:
        tparams = [torch.tensor(p, requires_grad=True) for p in params]
        txe, trows, tlabels = torch.tensor(xe), torch.tensor(rows), torch.tensor(labels)
        fns["PyTorch eager"] = lambda: torch.autograd.grad(
            bench_eager.mlp_loss(tparams, txe, trows, tlabels, tnp), tparams)
    want = bench_eager.mlp_grad_numpy(params, xe, rows, labels)
    for name, fn in fns.items():
        check(f"eager mlp: {name}", [onp.asarray(g) for g in fn()], want, rtol=2e-4, atol=1e-6)
    fns["NumPy by hand"] = lambda: bench_eager.mlp_grad_numpy(params, xe, rows, labels)
    run("eager_mlp", "grad, MLP 784-100-10, batch 100 (f32)", fns, 3)

    # (8) first call and cached call of the jitted MLP step (benchmarks/jit.py's workload) -----
    d_hid = bench_jit.D_HID
    p8 = {"W1": (r.standard_normal((d_in, d_hid)) * 0.03).astype(onp.float32),
          "b1": onp.zeros(d_hid, onp.float32),
          "W2": (r.standard_normal((d_hid, d_out)) * 0.03).astype(onp.float32),
          "b2": onp.zeros(d_out, onp.float32)}
    jp8 = {k: jnp.asarray(v) for k, v in p8.items()}
    lr32 = onp.float32(bench_jit.LR)

    def mlp_step(grad, np):
        def step(p, x, t):
            g = grad(lambda q: bench_jit.mlp_loss(q, x, t, np))(p)
            return {k: p[k] - lr32 * g[k] for k in p}
        return step
    fg_mlp_step, jax_mlp_step = mlp_step(fg.grad, fnp), mlp_step(jax.grad, jnp)
    fg_mlp_j, jax_mlp_j = jit_numpy(fg_mlp_step), jax.jit(jax_mlp_step)
    fg_mlp_nat = jit_native(fg_mlp_step)
    fns = {"funcgrad jit": lambda: fg_mlp_j(p8, xb, tb),
           "JAX jit": jblock(lambda: jax_mlp_j(jp8, jxb, jtb))}
    if fg_mlp_nat is not None:
        fns["funcgrad native"] = lambda: fg_mlp_nat(p8, xb, tb)
    if fg_mlp_nat is not None:
        say_tier("MLP step", fg_mlp_nat, p8, xb, tb)
    want = bench_jit.mlp_step_by_hand(p8, xb, tb)
    for name, fn in fns.items():
        got = fn()
        check(f"mlp step: {name}", [got[k] for k in want], list(want.values()), rtol=2e-3,
              atol=2e-5)
    if not check_only:
        first = {"funcgrad jit": lambda: jit_numpy(
                     lambda p, x, t: fg_mlp_step(p, x, t))(p8, xb, tb),
                 "JAX jit": lambda: jax.block_until_ready(jax.jit(
                     lambda p, x, t: jax_mlp_step(p, x, t))(jp8, jxb, jtb))}
        if fg_mlp_nat is not None:
            first["funcgrad native"] = lambda: jit_native(
                lambda p, x, t: fg_mlp_step(p, x, t))(p8, xb, tb)
        results["first"] = [("first call (trace + compile)",
                             interleaved(first, 3 if args.quick else 5, 1))]
        fns["NumPy by hand"] = lambda: bench_jit.mlp_step_by_hand(p8, xb, tb)
        run("first", "cached call (one SGD step)", fns, 1)

    if check_only:
        print(f"small_programs: all results agree ({time.perf_counter() - t_start:.1f} s; "
              f"native tier: {'yes' if g_fg_nat is not None else 'n/a'})")
        return
    report(results, args, t_start, load_before, jax, torch)


def blas_threads() -> str:
    """The thread count of every OpenBLAS loaded in this process (NumPy's; SciPy's, which
    Numba's np.dot calls), read from the libraries themselves."""
    import ctypes
    libs = sorted({ln.split()[-1] for ln in open("/proc/self/maps") if "openblas" in ln})
    out = []
    for path in libs:
        lib = ctypes.CDLL(path)
        for fn in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                   "openblas_get_num_threads"):
            if hasattr(lib, fn):
                out.append(f"{os.path.basename(path).split('-')[0]} {getattr(lib, fn)()}")
                break
    return ", ".join(out) or "n/a"


def report(results, args, t_start, load_before, jax, torch) -> None:
    print(f"Machine: {platform.platform()}, {os.cpu_count()} CPU(s), Python "
          f"{platform.python_version()}, NumPy {onp.__version__} (BLAS threads: "
          f"{blas_threads()}), XLA_FLAGS {os.environ.get('XLA_FLAGS')!r}, threads in this "
          f"process: {len(os.listdir('/proc/self/task'))}, jax {jax.__version__}, autograd "
          f"{_version('autograd')}, torch {'not installed' if torch is None else torch.__version__}"
          f" (threads: {'n/a' if torch is None else torch.get_num_threads()}), numba "
          f"{_version('numba')}")
    print(f"All results were checked to agree before timing. Times: {args.stat} per call.")
    R = results
    table("n-th derivative of tanh at a scalar (f64)", R["tanh"],
          ["funcgrad eager", "funcgrad jit", "funcgrad native", "JAX jit", "autograd",
           "PyTorch eager", "NumPy by hand"],
          [("eager/min(autograd, PyTorch)", "funcgrad eager", ("autograd", "PyTorch eager")),
           ("jit/JAX", "funcgrad jit", "JAX jit"), ("native/JAX", "funcgrad native", "JAX jit")])
    table("10,000 Rosenbrock gradient-descent steps (f64; \"x10\": 1,000 steps, time x10)",
          R["rosen"],
          ["funcgrad jit, Python loop", "funcgrad jit, fori_loop", "funcgrad native, Python loop",
           "funcgrad native, fori_loop", "JAX jit, fori_loop", "funcgrad eager (x10)",
           "autograd (x10)", "PyTorch eager (x10)", "NumPy by hand"],
          [("fori_loop/JAX", "funcgrad jit, fori_loop", "JAX jit, fori_loop"),
           ("Python loop/JAX", "funcgrad jit, Python loop", "JAX jit, fori_loop"),
           ("native fori_loop/JAX", "funcgrad native, fori_loop", "JAX jit, fori_loop")])
    table("scalar grad call: f(x) = sin(x) x^2 + exp(-x) (f64)", R["scalar"],
          ["funcgrad eager", "autograd", "PyTorch eager", "funcgrad jit", "funcgrad native",
           "JAX jit", "NumPy by hand"],
          [("eager/PyTorch", "funcgrad eager", "PyTorch eager"),
           ("eager/autograd", "funcgrad eager", "autograd"),
           ("jit/JAX", "funcgrad jit", "JAX jit"), ("native/JAX", "funcgrad native", "JAX jit")])
    for key, title in [("hvp", "Hessian-vector product, jit"),
                       ("perex", "per-example gradients, jit")]:
        table(title, R[key], ["funcgrad jit", "funcgrad native", "JAX jit", "NumPy by hand"],
              [("jit/JAX", "funcgrad jit", "JAX jit"),
               ("native/JAX", "funcgrad native", "JAX jit")])
    table("Newton's method on x^4 - 2x^2 from 2 (f64)", R["newton"],
          ["funcgrad eager", "funcgrad jit, fori_loop", "funcgrad native, fori_loop",
           "JAX jit, fori_loop", "PyTorch eager", "NumPy by hand"],
          [("jit/JAX", "funcgrad jit, fori_loop", "JAX jit, fori_loop"),
           ("native/JAX", "funcgrad native, fori_loop", "JAX jit, fori_loop"),
           ("eager/PyTorch", "funcgrad eager", "PyTorch eager")])
    table("eager MLP grad", R["eager_mlp"],
          ["funcgrad eager", "autograd", "PyTorch eager", "NumPy by hand"],
          [("funcgrad/autograd", "funcgrad eager", "autograd"),
           ("funcgrad/PyTorch", "funcgrad eager", "PyTorch eager")])
    table("jitted SGD step, MLP 784-1000-10, batch 100 (f32)", R["first"],
          ["funcgrad jit", "funcgrad native", "JAX jit", "NumPy by hand"],
          [("jit/JAX", "funcgrad jit", "JAX jit"), ("native/JAX", "funcgrad native", "JAX jit")])

    def get(key, label, impl):
        return dict(R[key]).get(label, {}).get(impl) if label else R[key][0][1].get(impl)

    def worst(key, num, den):
        rs = [ratio(res.get(num), res.get(den)) for _, res in R[key]]
        return None if None in rs else max(rs)

    def eager_vs_min(res, num, dens):
        d = [res[k] for k in dens if k in res]
        return ratio(res.get(num), min(d) if d else None)

    tanh6 = dict(R["tanh"])["order 6"]
    goals = [  # (goal, limit, NumPy-tier ratio, native ratio)
        ("jit: n-th derivative of tanh <= 2x JAX jit at every order 1-6 (worst order)", 2.0,
         worst("tanh", "funcgrad jit", "JAX jit"), worst("tanh", "funcgrad native", "JAX jit")),
        ("jit: 10,000 Rosenbrock steps as one fori_loop <= 10x JAX", 10.0,
         ratio(get("rosen", None, "funcgrad jit, fori_loop"),
               get("rosen", None, "JAX jit, fori_loop")),
         ratio(get("rosen", None, "funcgrad native, fori_loop"),
               get("rosen", None, "JAX jit, fori_loop"))),
        ("jit: HVP <= 1.5x JAX", 1.5, worst("hvp", "funcgrad jit", "JAX jit"),
         worst("hvp", "funcgrad native", "JAX jit")),
        ("jit: per-example gradients <= 1.5x JAX", 1.5, worst("perex", "funcgrad jit", "JAX jit"),
         worst("perex", "funcgrad native", "JAX jit")),
        ("jit: MLP step <= JAX", 1.0,
         ratio(get("first", "cached call (one SGD step)", "funcgrad jit"),
               get("first", "cached call (one SGD step)", "JAX jit")),
         ratio(get("first", "cached call (one SGD step)", "funcgrad native"),
               get("first", "cached call (one SGD step)", "JAX jit"))),
        ("jit: Newton's method <= JAX", 1.0,
         worst("newton", "funcgrad jit, fori_loop", "JAX jit, fori_loop"),
         worst("newton", "funcgrad native, fori_loop", "JAX jit, fori_loop")),
        ("eager: scalar grad call <= PyTorch eager", 1.0,
         worst("scalar", "funcgrad eager", "PyTorch eager"), None),
        ("eager: 6th derivative of tanh <= min(autograd, PyTorch)", 1.0,
         eager_vs_min(tanh6, "funcgrad eager", ("autograd", "PyTorch eager")), None),
        ("eager: MLP grad <= autograd", 1.0, worst("eager_mlp", "funcgrad eager", "autograd"),
         None),
        ("first call of the jitted MLP step <= 1/4 of JAX's", 0.25,
         ratio(get("first", "first call (trace + compile)", "funcgrad jit"),
               get("first", "first call (trace + compile)", "JAX jit")),
         ratio(get("first", "first call (trace + compile)", "funcgrad native"),
               get("first", "first call (trace + compile)", "JAX jit"))),
    ]
    print("\n### goals (issue 17)\n")
    print("| goal | limit | funcgrad (NumPy tier / eager) | funcgrad native | met |")
    print("|---|---:|---:|---:|---|")
    for name, limit, r_np, r_nat in goals:
        best = min((r for r in (r_np, r_nat) if r is not None), default=None)
        met = "n/a" if best is None else ("met" if best <= limit else "NOT met")
        print(f"| {name} | {limit:g} | {fmt_ratio(r_np)} | {fmt_ratio(r_nat)} | {met} |")
    print("| jit: MNIST epoch (and as one jitted scan) <= JAX | 1 | see "
          "benchmarks/mnist_epoch.py | | |")
    print(f"\n(mode: {'quick' if args.quick else 'full'}; load average before "
          f"{load_before}, after {_loadavg()}; total script time "
          f"{time.perf_counter() - t_start:.1f} s)")


if __name__ == "__main__":
    main()
