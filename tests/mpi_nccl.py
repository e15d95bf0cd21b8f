"""Run by tests/test_parallel.py as `mpiexec -n 2 python tests/mpi_nccl.py`: the collectives of
GPU (CuPy) arrays, which go through NCCL, eagerly, under jit and under jit(grad), against NumPy.

`$FUNCGRAD_CUPY=standin` (what tests/conftest.py sets when there is no GPU) runs it on the CuPy
stand-in of tests/fakecupy, whose `cupy.cuda.nccl` performs NCCL's calls over MPI on host copies;
`real` runs it on CuPy and NCCL, one GPU per rank. Prints `OK <rank>` at the end.
"""
import os
import sys

if os.environ.get("FUNCGRAD_CUPY") == "standin":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fakecupy"))

import numpy as np  # noqa: E402

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402
from funcgrad import parallel  # noqa: E402
from funcgrad.backend import is_gpu_array  # noqa: E402

parallel.init()
R, N = parallel.rank(), parallel.size()
assert N >= 2, "run me under mpiexec -n 2 (or more)"
DEV = parallel.device()
assert DEV.platform == "gpu", DEV
close = np.testing.assert_allclose


def gpu(tree):
    return fg.device_put(tree, DEV)


def on(r):
    return {"a": np.arange(6.0).reshape(2, 3) * (r + 1) - r,
            "b": np.float32(r + 0.5) * np.ones(4, np.float32),
            "i": np.array([r, 10 * r + 1], np.int64)}


ALL = [on(r) for r in range(N)]
mine = gpu(ALL[R])
floats = {k: v for k, v in mine.items() if k != "i"}


def expect(fn, keys=None):
    return {k: fn([t[k] for t in ALL]) for k in keys or mine}


def check(got, want, **tol):
    assert got.keys() == want.keys()
    for k in want:
        assert is_gpu_array(got[k]), (k, type(got[k]))  # the result stays on the device
        g = fg.to_numpy(got[k])
        assert g.dtype == np.asarray(want[k]).dtype, (k, g.dtype, np.asarray(want[k]).dtype)
        close(g, want[k], **tol)


# --- eager and jit, against NumPy ----------------------------------------------------------
for run in (lambda f, x: f(x), lambda f, x: fg.jit(f)(x)):
    check(run(parallel.psum, mine), expect(lambda xs: sum(xs)))
    check(run(parallel.pmax, mine), expect(lambda xs: np.max(np.stack(xs), 0)))
    check(run(parallel.pmean, floats), expect(lambda xs: (sum(xs) / N).astype(xs[0].dtype),
                                              floats))
    check(run(parallel.all_gather, mine), expect(lambda xs: np.stack(xs)))
    check(run(lambda t: parallel.all_gather(t, axis=-1), mine),
          expect(lambda xs: np.stack(xs, -1)))
    check(run(lambda t: parallel.broadcast(t, root=1), mine), expect(lambda xs: xs[1]))
flags = gpu(np.array([R == 0, True]))  # bool leaves travel as raw bytes
assert fg.to_numpy(parallel.all_gather(flags)).tolist() == [[r == 0, True] for r in range(N)]
assert fg.to_numpy(parallel.broadcast(flags, root=1)).tolist() == [False, True]

# --- jit(grad): the SPMD loss is the sum over ranks of each rank's loss ----------------------
x = gpu(ALL[R]["a"])
S, M = sum(t["a"] for t in ALL), sum(t["a"] for t in ALL) / N
W = [np.cos(np.arange(N * 6.0).reshape(N, 2, 3) + r) for r in range(N)]  # rank r's weights
w = gpu(W[R])
grads = {
    "psum": (lambda x, w: fnp.sum(parallel.psum(x) ** 2), 2 * N * S),
    "pmean": (lambda x, w: fnp.sum(parallel.pmean(x) ** 2), 2 * M),
    "all_gather": (lambda x, w: fnp.sum(w * parallel.all_gather(x)), sum(v[R] for v in W)),
    "broadcast": (lambda x, w: fnp.sum(w[0] * parallel.broadcast(x, root=0)),
                  sum(v[0] for v in W) if R == 0 else np.zeros((2, 3))),
}
for name, (loss, want) in grads.items():
    g = fg.jit(fg.grad(loss))(x, w)
    assert is_gpu_array(g), (name, type(g))
    close(fg.to_numpy(g), want, rtol=1e-12, err_msg=f"jit(grad) {name}")
    if os.environ.get("EAGER_GRAD"):  # eager grad of device arrays: issue 12 (test_parallel)
        close(fg.to_numpy(fg.grad(loss)(x, w)), want, rtol=1e-12, err_msg=f"grad {name}")

# --- a data-parallel SGD step on the GPUs == one process on the whole batch (float64) ------
rng = np.random.default_rng(0)
X, T = rng.standard_normal((16, 5)), rng.standard_normal((16, 2))
model = fg.nn.MLP((7, 2), activation=fg.nn.tanh)


def loss_fn(params, x, t):
    return fnp.mean((model.apply(params, x) - t) ** 2)


def sgd(params, g):
    return fg.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, g)


@fg.jit
def parallel_step(params, x, t):
    loss, g = fg.value_and_grad(loss_fn)(params, x, t)
    return sgd(params, parallel.pmean(g)), parallel.pmean(loss)


@fg.jit
def single_step(params, x, t):
    loss, g = fg.value_and_grad(loss_fn)(params, x, t)
    return sgd(params, g), loss


params = parallel.broadcast(gpu(model.init(fg.random.key(R), X[:1])), root=0)
ref = model.init(fg.random.key(0), X[:1])
share = slice(R * 16 // N, (R + 1) * 16 // N)
for step in range(3):
    params, loss = parallel_step(params, gpu(X[share]), gpu(T[share]))
    ref, ref_loss = single_step(ref, X, T)
    close(fg.to_numpy(loss), ref_loss, rtol=0, atol=1e-10)
    for a, b in zip(fg.tree_util.tree_leaves(params), fg.tree_util.tree_leaves(ref)):
        assert is_gpu_array(a)
        close(fg.to_numpy(a), b, rtol=0, atol=1e-10)

parallel.barrier()
print(f"OK {R}", flush=True)
