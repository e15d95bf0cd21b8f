"""`jit` on the CPU: funcgrad jit vs JAX jit vs HIPS autograd vs NumPy by hand (vs PyTorch eager
when `import torch` works).

Workloads:
  (a) mlp_step  -- one SGD step (lr 0.1) of a 784-1000-10 ReLU MLP, mean softmax cross-entropy
      (one-hot labels, stable log-sum-exp), batch 100, float32. NumPy by hand (forward and
      backward written out) is the floor.
  (b) trivial   -- the cached-call overhead of a jitted `x + 1.0` on a float32[3].
  (c) first     -- the first call (trace + optimise + compile) of a freshly jitted mlp_step.
  (d) hvp       -- a Hessian-vector product of the 1,000-dimensional Rosenbrock function
      (forward-over-reverse), float64.
  (e) perex     -- per-example gradients, jit(vmap(grad)), of a 784-100-10 tanh MLP's loss
      over a batch of 100, float32.

Results of all frameworks are checked against each other (allclose) before timing. Each cell is
the median of N timed calls (`time.perf_counter`), frameworks interleaved in rounds.

Usage:
    python benchmarks/jit.py           # full run (about a minute on a 2-core CPU)
    python benchmarks/jit.py --quick   # fewer repeats
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

# Single-threaded BLAS (see benchmarks/eager.py): on a 2-vCPU machine OpenBLAS worker threads
# and XLA's pool preempt each other. Override from the environment if wanted.
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as onp  # noqa: E402

BATCH, D_IN, D_HID, D_OUT = 100, 784, 1000, 10
LR = 0.1
N_ROSEN = 1000


# --- workloads, written once against a NumPy-like module `np` ------------------------------------

def mlp_loss(p, x, t, np):
    h = np.maximum(x @ p["W1"] + p["b1"], 0.0)
    z = h @ p["W2"] + p["b2"]
    z = z - np.max(z, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(z), axis=1))
    return np.mean(lse - np.sum(z * t, axis=1))


def rosenbrock(x, np):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def small_loss(p, x, t, np):
    h = np.tanh(x @ p["W1"] + p["b1"])
    z = h @ p["W2"] + p["b2"]
    z = z - np.max(z)
    return np.log(np.sum(np.exp(z))) - np.sum(z * t)


# --- NumPy by hand: the floors ------------------------------------------------------------------

def mlp_step_by_hand(p, x, t):
    a = x @ p["W1"]
    a += p["b1"]
    h = onp.maximum(a, 0.0)
    z = h @ p["W2"]
    z += p["b2"]
    z -= z.max(axis=1, keepdims=True)
    e = onp.exp(z)
    e /= e.sum(axis=1, keepdims=True)
    e -= t
    e /= onp.float32(x.shape[0])  # d loss / d z
    g_w2 = h.T @ e
    g_b2 = e.sum(axis=0)
    dh = e @ p["W2"].T
    dh *= a > 0
    g_w1 = x.T @ dh
    g_b1 = dh.sum(axis=0)
    lr = onp.float32(LR)
    return {"W1": p["W1"] - lr * g_w1, "b1": p["b1"] - lr * g_b1,
            "W2": p["W2"] - lr * g_w2, "b2": p["b2"] - lr * g_b2}


def rosen_hvp_by_hand(x, v):
    # H v for f = sum 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
    out = onp.zeros_like(x)
    xi, xn, vi, vn = x[:-1], x[1:], v[:-1], v[1:]
    out[:-1] += (1200 * xi ** 2 - 400 * xn + 2) * vi - 400 * xi * vn
    out[1:] += -400 * xi * vi + 200 * vn
    return out


# --- timing -------------------------------------------------------------------------------------

def interleaved(fns: dict, rounds: int, per_round: int) -> dict:
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def fmt(t: float | None) -> str:
    if t is None:
        return "n/a"
    return f"{t * 1e3:.2f} ms" if t >= 1e-3 else f"{t * 1e6:.1f} µs"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    rounds, per = (5, 4) if args.quick else (20, 8)

    import autograd
    import autograd.numpy as anp
    import jax
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)  # the HVP runs in float64 (the MLP stays float32)

    import funcgrad as fg
    import funcgrad.numpy as fnp
    try:
        import torch
    except ImportError:
        torch = None

    r = onp.random.default_rng(0)
    p = {"W1": (r.standard_normal((D_IN, D_HID)) * 0.03).astype(onp.float32),
         "b1": onp.zeros(D_HID, onp.float32),
         "W2": (r.standard_normal((D_HID, D_OUT)) * 0.03).astype(onp.float32),
         "b2": onp.zeros(D_OUT, onp.float32)}
    x = r.standard_normal((BATCH, D_IN)).astype(onp.float32)
    t = onp.eye(D_OUT, dtype=onp.float32)[r.integers(0, D_OUT, BATCH)]
    lr32 = onp.float32(LR)

    def fg_step(p, x, t):
        g = fg.grad(lambda q: mlp_loss(q, x, t, fnp))(p)
        return {k: p[k] - lr32 * g[k] for k in p}

    def ag_step(p, x, t):
        g = autograd.grad(lambda q: mlp_loss(q, x, t, anp))(p)
        return {k: p[k] - lr32 * g[k] for k in p}

    def jax_step(p, x, t):
        g = jax.grad(lambda q: mlp_loss(q, x, t, jnp))(p)
        return {k: p[k] - lr32 * g[k] for k in p}

    fg_step_j = fg.jit(fg_step)
    jax_step_j = jax.jit(jax_step)
    jp = {k: jnp.asarray(v) for k, v in p.items()}
    jx, jt = jnp.asarray(x), jnp.asarray(t)

    want = mlp_step_by_hand(p, x, t)
    for name, got in [("funcgrad jit", fg_step_j(p, x, t)), ("autograd", ag_step(p, x, t)),
                      ("jax jit", jax_step_j(jp, jx, jt))]:
        for k in want:
            onp.testing.assert_allclose(onp.asarray(got[k]), want[k], rtol=2e-3, atol=2e-5,
                                        err_msg=name)
    mlp = {
        "funcgrad jit": lambda: fg_step_j(p, x, t),
        "JAX jit": lambda: jax.block_until_ready(jax_step_j(jp, jx, jt)),
        "autograd": lambda: ag_step(p, x, t),
        "NumPy by hand": lambda: mlp_step_by_hand(p, x, t),
    }
    if torch is not None:
        tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
        tx, tt = torch.tensor(x), torch.tensor(t)

        def torch_step():
            loss = mlp_loss(tp, tx, tt, _TorchNp(torch))
            gs = torch.autograd.grad(loss, list(tp.values()))
            with torch.no_grad():
                return {k: v - LR * g for (k, v), g in zip(tp.items(), gs)}
        mlp["PyTorch eager"] = torch_step
    for fn in mlp.values():
        fn()
    res_mlp = interleaved(mlp, rounds, max(1, per // 2))

    # (b) trivial cached call
    xs = onp.ones(3, onp.float32)
    fg_triv = fg.jit(lambda v: v + 1.0)
    jax_triv = jax.jit(lambda v: v + 1.0)
    jxs = jnp.asarray(xs)
    fg_triv(xs)
    jax_triv(jxs).block_until_ready()
    res_triv = interleaved({"funcgrad jit": lambda: fg_triv(xs),
                            "JAX jit": lambda: jax_triv(jxs).block_until_ready()},
                           rounds, per * 25)

    # (c) first call: a fresh jitted step each time
    def fg_first():
        fg.jit(lambda p, x, t: fg_step(p, x, t))(p, x, t)

    def jax_first():
        jax.block_until_ready(jax.jit(lambda p, x, t: jax_step(p, x, t))(jp, jx, jt))
    res_first = interleaved({"funcgrad jit": fg_first, "JAX jit": jax_first},
                            max(2, rounds // 4), 1)

    # (d) HVP of Rosenbrock
    x0 = r.uniform(-1, 1, N_ROSEN)
    v0 = r.standard_normal(N_ROSEN)
    fg_hvp = fg.jit(lambda x, v: fg.jvp(fg.grad(lambda y: rosenbrock(y, fnp)), (x,), (v,))[1])
    jax_hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(lambda y: rosenbrock(y, jnp)), (x,),
                                           (v,))[1])
    from autograd.differential_operators import hessian_tensor_product
    ag_hvp = hessian_tensor_product(lambda y: rosenbrock(y, anp))
    jx0, jv0 = jnp.asarray(x0), jnp.asarray(v0)
    assert jx0.dtype == jnp.float64
    want = rosen_hvp_by_hand(x0, v0)
    for name, got in [("funcgrad", fg_hvp(x0, v0)), ("jax", jax_hvp(jx0, jv0)),
                      ("autograd", ag_hvp(x0, v0))]:
        onp.testing.assert_allclose(onp.asarray(got), want, rtol=1e-6, atol=1e-6, err_msg=name)
    res_hvp = interleaved({
        "funcgrad jit": lambda: fg_hvp(x0, v0),
        "JAX jit": lambda: jax_hvp(jx0, jv0).block_until_ready(),
        "autograd": lambda: ag_hvp(x0, v0),
        "NumPy by hand": lambda: rosen_hvp_by_hand(x0, v0)}, rounds, per)

    # (e) per-example gradients
    ps = {"W1": (r.standard_normal((D_IN, 100)) * 0.05).astype(onp.float32),
          "b1": onp.zeros(100, onp.float32),
          "W2": (r.standard_normal((100, D_OUT)) * 0.05).astype(onp.float32),
          "b2": onp.zeros(D_OUT, onp.float32)}
    fg_pe = fg.jit(fg.vmap(fg.grad(lambda q, a, b: small_loss(q, a, b, fnp)),
                           in_axes=(None, 0, 0)))
    jax_pe = jax.jit(jax.vmap(jax.grad(lambda q, a, b: small_loss(q, a, b, jnp)),
                              in_axes=(None, 0, 0)))
    jps = {k: jnp.asarray(v) for k, v in ps.items()}
    a_, b_ = fg_pe(ps, x, t), jax_pe(jps, jx, jt)
    for k in ps:
        onp.testing.assert_allclose(a_[k], onp.asarray(b_[k]), rtol=2e-3, atol=1e-5)
    res_pe = interleaved({"funcgrad jit": lambda: fg_pe(ps, x, t),
                          "JAX jit": lambda: jax.block_until_ready(jax_pe(jps, jx, jt))},
                         rounds, per)

    print(f"Machine: {platform.platform()}, Python {platform.python_version()}, "
          f"NumPy {onp.__version__} (BLAS threads: {os.environ.get('OPENBLAS_NUM_THREADS')}), "
          f"jax {jax.__version__}, autograd {_version('autograd')}, "
          f"torch {'not installed' if torch is None else torch.__version__}")
    print()
    print("| workload | funcgrad jit | JAX jit | autograd | NumPy by hand | PyTorch eager "
          "| funcgrad/NumPy | funcgrad/JAX |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")

    def row(name, res):
        f, j = res.get("funcgrad jit"), res.get("JAX jit")
        n = res.get("NumPy by hand")
        print(f"| {name} | {fmt(f)} | {fmt(j)} | {fmt(res.get('autograd'))} | {fmt(n)} | "
              f"{fmt(res.get('PyTorch eager'))} | {f / n:.2f} |" if n else
              f"| {name} | {fmt(f)} | {fmt(j)} | {fmt(res.get('autograd'))} | {fmt(n)} | "
              f"{fmt(res.get('PyTorch eager'))} | – |", end="")
        print(f" {f / j:.2f} |")
    row("SGD step, MLP 784-1000-10, batch 100 (f32)", res_mlp)
    row("cached call of jitted `x + 1.0` (f32[3])", res_triv)
    row("first call (trace + compile) of the MLP step", res_first)
    row("HVP, 1000-d Rosenbrock (f64)", res_hvp)
    row("per-example grads, jit(vmap(grad)), MLP 784-100-10, batch 100", res_pe)
    print()
    goals = [
        ("MLP step <= 1.15x NumPy floor", res_mlp["funcgrad jit"] / res_mlp["NumPy by hand"],
         1.15),
        ("MLP step <= JAX jit", res_mlp["funcgrad jit"] / res_mlp["JAX jit"], 1.0),
        ("trivial call <= 2x JAX jit", res_triv["funcgrad jit"] / res_triv["JAX jit"], 2.0),
        ("first call <= 1/4 of JAX", res_first["funcgrad jit"] / res_first["JAX jit"], 0.25),
        ("HVP <= 1.5x JAX jit", res_hvp["funcgrad jit"] / res_hvp["JAX jit"], 1.5),
        ("per-example grads <= 1.5x JAX jit", res_pe["funcgrad jit"] / res_pe["JAX jit"], 1.5),
    ]
    for name, ratio, limit in goals:
        print(f"- {name}: ratio {ratio:.2f} -> {'met' if ratio <= limit else 'NOT met'}")


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version(dist)
    except PackageNotFoundError:
        return "?"


class _TorchNp:
    """The few NumPy names `mlp_loss` uses, on torch tensors."""

    def __init__(self, torch):
        self.t = torch

    def maximum(self, a, b):
        return self.t.clamp_min(a, b)

    def max(self, a, axis, keepdims):
        return self.t.amax(a, dim=axis, keepdim=keepdims)

    def log(self, a):
        return self.t.log(a)

    def exp(self, a):
        return self.t.exp(a)

    def sum(self, a, axis):
        return self.t.sum(a, dim=axis)

    def mean(self, a):
        return self.t.mean(a)


if __name__ == "__main__":
    main()
