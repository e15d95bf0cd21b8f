"""GPU benchmarks (needs CuPy and an NVIDIA GPU; says so and exits 0 otherwise).

(a) a 20-op elementwise chain on 1e8 float32 elements: funcgrad jit (one fused kernel) vs the
    same chain in CuPy eager (one kernel per op) vs a device-to-device copy of the input (the
    bandwidth floor: the fused kernel reads and writes each element once, as a copy does);
(b) one SGD step of an MLP, batch 8192, 4096-4096-10, softmax cross-entropy, float32: funcgrad
    jit vs JAX jit (if JAX sees a GPU) vs PyTorch eager (if it sees one).

Timing: CUDA events around each call after warm-up, median of N. The MNIST epoch (GPU vs CPU)
is `examples/mnist_gpu.py`. First, on any machine (lowering needs no GPU): the kernel launches
of the MLP 784-256-10 (tanh, softmax cross-entropy, SGD, float32) training step, its
value_and_grad and its loss, with the step's launch list (`--kernels` only prints that).

    PYTHONPATH=. python benchmarks/gpu.py [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def chain20(x, np_):
    for i in range(5):
        x = np_.sin(x) * 0.5 + np_.cos(x) * 0.25 - 0.125
    return x


def timed(cp, fn, n):
    start, end = cp.cuda.Event(), cp.cuda.Event()
    times = []
    for _ in range(n):
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) / 1e3)
    return statistics.median(times)


def bench_chain(cp, n_elem, reps):
    x = cp.random.standard_normal(n_elem, dtype=cp.float32)
    f = fg.jit(lambda x: chain20(x, fnp))
    assert len(f.lower(x).kernels) == 1
    for _ in range(2):
        f(x), chain20(x, cp), x.copy()
    t_fg = timed(cp, lambda: f(x), reps)
    t_cp = timed(cp, lambda: chain20(x, cp), reps)
    t_copy = timed(cp, lambda: x.copy(), reps)
    gbs = 2 * x.nbytes / 1e9
    print(f"(a) 20-op chain on {n_elem:.0e} float32 elements")
    print("| method | time | GB/s | vs funcgrad |\n|---|---:|---:|---:|")
    for name, t in (("funcgrad jit (1 fused kernel)", t_fg), ("CuPy eager", t_cp),
                    ("device copy (floor)", t_copy)):
        print(f"| {name} | {t * 1e3:.2f} ms | {gbs / t:.0f} | {t / t_fg:.2f} |")
    print(f"funcgrad reaches {t_copy / t_fg:.0%} of copy bandwidth, {t_cp / t_fg:.1f}x CuPy eager")


def mlp_loss(params, x, t, np_, logsumexp):
    (w1, b1), (w2, b2), (w3, b3) = params
    h = np_.maximum(x @ w1 + b1, 0.0)
    h = np_.maximum(h @ w2 + b2, 0.0)
    z = h @ w3 + b3
    return -np_.mean(np_.sum(z * t, axis=1) - logsumexp(z))


def bench_mlp(cp, reps, batch=8192, hidden=4096):
    r = np.random.default_rng(0)
    sizes = [(784, hidden), (hidden, hidden), (hidden, 10)]
    host = [(r.standard_normal(s).astype(np.float32) * 0.01, np.zeros(s[1], np.float32))
            for s in sizes]
    xh = r.standard_normal((batch, 784)).astype(np.float32)
    th = np.eye(10, dtype=np.float32)[r.integers(0, 10, batch)]
    params, x, t = fg.device_put((host, xh, th), "gpu")

    def lse(z):
        m = fnp.max(z, axis=1, keepdims=True)
        return (fnp.log(fnp.sum(fnp.exp(z - m), axis=1, keepdims=True)) + m)[:, 0]

    @fg.jit
    def step(params, x, t):
        g = fg.grad(mlp_loss)(params, x, t, fnp, lse)
        return fg.tree_util.tree_map(lambda p, gp: p - 0.01 * gp, params, g)

    step(params, x, t)
    rows = [("funcgrad jit", timed(cp, lambda: step(params, x, t), reps))]
    try:
        import jax
        import jax.numpy as jnp
        if jax.devices()[0].platform == "gpu":
            jp = jax.device_put(host)
            jx, jt = jax.device_put(xh), jax.device_put(th)

            @jax.jit
            def jstep(p, x, t):
                g = jax.grad(mlp_loss)(p, x, t, jnp, lambda z: jax.nn.logsumexp(z, axis=1))
                return jax.tree_util.tree_map(lambda a, b: a - 0.01 * b, p, g)
            jstep(jp, jx, jt)[0][0].block_until_ready()
            rows.append(("JAX jit", timed(cp, lambda: jax.block_until_ready(
                jstep(jp, jx, jt)), reps)))
    except Exception as e:  # noqa: BLE001  (a competitor that cannot run is reported)
        print(f"JAX on the GPU unavailable: {e}", file=sys.stderr)
    try:
        import torch
        if torch.cuda.is_available():
            tp = [(torch.tensor(w, device="cuda", requires_grad=True),
                   torch.tensor(b, device="cuda", requires_grad=True)) for w, b in host]
            tx, tt = torch.tensor(xh, device="cuda"), torch.tensor(th, device="cuda")

            def tstep():
                loss = mlp_loss(tp, tx, tt, torch_np, lambda z: torch.logsumexp(z, dim=1))
                loss.backward()
                with torch.no_grad():
                    for w, b in tp:
                        w -= 0.01 * w.grad
                        b -= 0.01 * b.grad
                        w.grad = b.grad = None
            torch_np = _TorchNumpy(torch)
            tstep()
            rows.append(("PyTorch eager", timed(cp, lambda: (tstep(), torch.cuda.synchronize()),
                                                reps)))
    except Exception as e:  # noqa: BLE001
        print(f"PyTorch on the GPU unavailable: {e}", file=sys.stderr)
    base = rows[0][1]
    print(f"(b) MLP SGD step, batch {batch}, {hidden}-{hidden}-10, float32")
    print("| method | time | vs funcgrad |\n|---|---:|---:|")
    for name, t in rows:
        print(f"| {name} | {t * 1e3:.2f} ms | {t / base:.2f} |")


class _TorchNumpy:
    """The few NumPy names `mlp_loss` uses, for torch tensors."""

    def __init__(self, torch):
        self.t = torch

    def maximum(self, a, b):
        return self.t.clamp_min(a, b)

    def mean(self, a):
        return a.mean()

    def sum(self, a, axis):
        return a.sum(dim=axis)


def launch_counts(verbose=True):
    """Kernel launches per call of the jitted MLP programs (views, which launch nothing, left
    out): fused elementwise kernels, fused reductions (with their epilogues), library calls."""
    from funcgrad import nn
    from funcgrad.backend.fusion import FusedKernel, FusedReduction, plan_fusion
    model = nn.Sequential([nn.Linear(256), nn.tanh, nn.Linear(10)])
    params = model.init(fg.random.key(0), np.zeros((1, 784), np.float32))
    x, y = np.zeros((128, 784), np.float32), np.arange(128) % 10

    def loss(p, x, y):
        return nn.softmax_cross_entropy(model.apply(p, x), y)

    def step(p, x, y):
        return fg.tree_util.tree_map(lambda a, b: a - 0.1 * b, p, fg.grad(loss)(p, x, y))
    print("| MLP 784-256-10 program | launches | elementwise | fused reductions | library |")
    print("|---|---:|---:|---:|---:|")
    for name, f in (("SGD step", step), ("value_and_grad", fg.value_and_grad(loss)),
                    ("loss", loss)):
        steps = [s for s in plan_fusion(fg.jit(f, device="gpu").lower(params, x, y).ir.open)
                 if isinstance(s, FusedKernel) or s.prim.name not in (
                     "reshape", "expand_dims", "squeeze")]
        red = [s for s in steps if isinstance(s, FusedReduction)]
        ew = [s for s in steps if isinstance(s, FusedKernel) and s not in red]
        print(f"| {name} | {len(steps)} | {len(ew)} | {len(red)} | "
              f"{len(steps) - len(ew) - len(red)} |")
        if verbose and f is step:
            for s in steps:
                print(f"    {type(s).__name__ if isinstance(s, FusedKernel) else s.prim.name}"
                      f" {[e.prim.name for e in s.eqns] if isinstance(s, FusedKernel) else ''}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--kernels", action="store_true")
    args = ap.parse_args()
    launch_counts()
    if args.kernels:
        return
    if not any(str(d).startswith("gpu") for d in fg.devices()):
        print("no GPU here (CuPy with a CUDA device is needed): nothing to time")
        return
    from funcgrad.backend import cupy_backend
    cp = cupy_backend.cupy_module()
    print(f"GPU: {cp.cuda.runtime.getDeviceProperties(0)['name'].decode()}")
    reps = 5 if args.quick else 20
    bench_chain(cp, 10 ** 7 if args.quick else 10 ** 8, reps)
    bench_mlp(cp, reps)


if __name__ == "__main__":
    main()
