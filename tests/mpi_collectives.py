"""Run by tests/test_parallel.py as `mpiexec -n 2 python tests/mpi_collectives.py`.

Every rank runs every check; each check compares against NumPy values that every rank can
compute itself (the inputs are known functions of the rank). Prints `OK <rank>` at the end; an
assertion error on any rank aborts all of them (the excepthook of `parallel.init()`).
"""
import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import data, parallel
from funcgrad.parallel import _mpi

parallel.init()
R, N = parallel.rank(), parallel.size()
assert N >= 2, "run me under mpiexec -n 2 (or more)"
close = np.testing.assert_allclose


def on(r):
    """The example pytree as rank r holds it: mixed dtypes and shapes."""
    return {"a": np.arange(6.0).reshape(2, 3) * (r + 1) - r,
            "b": np.float32(r + 0.5) * np.ones(4, np.float32),
            "i": np.array([r, 10 * r + 1], np.int64)}


ALL = [on(r) for r in range(N)]
mine = ALL[R]


def expect(fn):
    return {k: fn([t[k] for t in ALL]) for k in mine}


def check(got, want, **tol):
    assert got.keys() == want.keys()
    for k in want:
        g = np.asarray(got[k])
        assert g.dtype == np.asarray(want[k]).dtype, (k, g.dtype, np.asarray(want[k]).dtype)
        close(g, want[k], **tol)


floats = {k: v for k, v in mine.items() if k != "i"}

# --- eager and jit, against NumPy ----------------------------------------------------------
for run in (lambda f, x: f(x), lambda f, x: fg.jit(f)(x)):
    check(run(parallel.psum, mine), expect(lambda xs: sum(xs)))
    check(run(parallel.pmax, mine), expect(lambda xs: np.max(np.stack(xs), 0)))
    got = run(parallel.pmean, floats)
    want = expect(lambda xs: (sum(xs) / N).astype(xs[0].dtype))
    check(got, {k: want[k] for k in floats})
    check(run(parallel.all_gather, mine), expect(lambda xs: np.stack(xs)))
    check(run(lambda t: parallel.all_gather(t, axis=-1), mine),
          expect(lambda xs: np.stack(xs, -1)))
    check(run(lambda t: parallel.broadcast(t, root=1), mine), expect(lambda xs: xs[1]))

# one fused collective for the whole tree: a single equation in the program
ir = fg.make_ir(parallel.pmean)(floats)
assert [e.prim.name for e in ir.open.eqns] == ["pmean"], ir
assert "pmean" in fg.jit(parallel.pmean).lower(floats).source
# bool leaves travel through all_gather and broadcast (raw bytes)
flags = np.array([R == 0, True])
assert parallel.all_gather(flags).tolist() == [[r == 0, True] for r in range(N)]
assert parallel.broadcast(flags, root=1).tolist() == [False, True]

# --- grad (SPMD: the loss is the sum over ranks of each rank's loss) -----------------------
x = ALL[R]["a"]
S, M = sum(t["a"] for t in ALL), sum(t["a"] for t in ALL) / N
W = [np.cos(np.arange(N * 6.0).reshape(N, 2, 3) + r) for r in range(N)]  # rank r's weights
grads = {
    # L = N * sum(S^2)  ->  dL/dx_r = 2 N S
    "psum": (lambda x: fnp.sum(parallel.psum(x) ** 2), 2 * N * S),
    # L = N * sum(M^2)  ->  2 M
    "pmean": (lambda x: fnp.sum(parallel.pmean(x) ** 2), 2 * M),
    # L = sum_r' <W_r', gather(x)>  ->  sum_r' W_r'[r]
    "all_gather": (lambda x: fnp.sum(W[R] * parallel.all_gather(x)), sum(w[R] for w in W)),
    # L = sum_r' <W_r'[0], x_root>  ->  the sum on the root, zeros elsewhere
    "broadcast": (lambda x: fnp.sum(W[R][0] * parallel.broadcast(x, root=0)),
                  sum(w[0] for w in W) if R == 0 else np.zeros_like(x)),
    # L = N * sum(max)  ->  N on the rank holding the max (ties shared)
    "pmax": (lambda x: fnp.sum(parallel.pmax(x)),
             N * (x == np.max([t["a"] for t in ALL], 0))
             / np.sum([t["a"] == np.max([t["a"] for t in ALL], 0) for t in ALL], 0)),
}
for name, (loss, want) in grads.items():
    close(fg.grad(loss)(x), want, rtol=1e-12, err_msg=f"grad {name}")
    close(fg.jit(fg.grad(loss))(x), want, rtol=1e-12, err_msg=f"jit(grad) {name}")

# off the root, broadcast's gradient is zeros, but the jitted program must still make the psum
# that the root makes (dropped as dead code off the root, it left the root waiting for a partner)
g = fg.jit(fg.grad(lambda x, w: fnp.sum(w * parallel.broadcast(x, root=0))))(x, W[R][0])
close(g, grads["broadcast"][1], rtol=1e-12)

# jvp: psum is linear
p_out, t_out = fg.jvp(parallel.psum, (x,), (np.ones_like(x) * (R + 1),))
close(p_out, S)
close(t_out, np.full_like(x, sum(r + 1 for r in range(N))))

# --- vmap: each mapped slice reduced -------------------------------------------------------
xb = np.stack([t["a"] for t in ALL])  # (N, 2, 3), the same on every rank
for f, want in ((parallel.psum, sum(xb * (r + 1) for r in range(N))),
                (parallel.pmax, np.max([xb * (r + 1) for r in range(N)], 0))):
    close(fg.vmap(f)(xb * (R + 1)), want)
    close(fg.vmap(f, in_axes=2, out_axes=2)(xb * (R + 1)), want)
    close(fg.jit(fg.vmap(f))(xb * (R + 1)), want)
g = fg.vmap(parallel.all_gather, in_axes=1, out_axes=1)(xb * (R + 1))  # per example (N, 3)
gathered = np.stack([xb * (r + 1) for r in range(N)])  # [rank, n, i, c]
close(g, gathered.transpose(0, 2, 1, 3))
close(fg.vmap(lambda t: parallel.all_gather(t, axis=1), in_axes=2)(xb * (R + 1)),
      gathered.transpose(3, 1, 0, 2))
close(fg.vmap(lambda t: parallel.all_gather(t, axis=2))(xb * (R + 1)),
      gathered.transpose(1, 2, 3, 0))

# --- data-parallel SGD on half batches == one process on the whole batch -------------------
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


init = model.init(fg.random.key(R), X[:1])  # rank-dependent on purpose
params = parallel.broadcast(init, root=0)
ref = model.init(fg.random.key(0), X[:1])
for a, b in zip(fg.tree_util.tree_leaves(params), fg.tree_util.tree_leaves(ref)):
    np.testing.assert_array_equal(a, b)  # broadcast made every rank's params rank 0's
for step in range(5):
    share = slice(R * 16 // N, (R + 1) * 16 // N)
    params, loss = parallel_step(params, X[share], T[share])
    ref, ref_loss = single_step(ref, X, T)
    close(loss, ref_loss, rtol=0, atol=1e-10)
    for a, b in zip(fg.tree_util.tree_leaves(params), fg.tree_util.tree_leaves(ref)):
        close(a, b, rtol=0, atol=1e-10)

# --- sharded DataLoader: the shares reunite to the single-process batches -------------------
xs, ts = np.arange(11.0)[:, None] * np.ones((1, 3)), np.arange(11)
for drop_last in (False, True):
    for shuffle in (True, False):
        whole = data.DataLoader((xs, ts), 4, shuffle=shuffle, key=3, drop_last=drop_last)
        part = data.DataLoader((xs, ts), 4, shuffle=shuffle, key=3, drop_last=drop_last,
                               shard=True)
        assert len(part) == len(whole)
        for epoch in range(2):
            batches = list(part)
            for (xw, tw), (xp, tp) in zip(whole, batches, strict=True):
                shares = _mpi.world().comm.allgather((xp, tp))  # (test only: pickled)
                np.testing.assert_array_equal(np.concatenate([s[0] for s in shares]), xw)
                np.testing.assert_array_equal(np.concatenate([s[1] for s in shares]), tw)
                assert abs(len(shares[0][1]) - len(shares[-1][1])) <= 1
# key=None: every rank still draws the same order (rank 0's seed)
order = data.DataLoader((xs, ts), 4, key=None, shard=True).order()
assert all((o == order).all() for o in _mpi.world().comm.allgather(order))

parallel.barrier()
print(f"OK {R}", flush=True)
