"""`vmap` of `cond`/`switch` with a per-example predicate under `jit`/`make_ir`: the generated
code gathers each branch's rows, runs the branch on them only and scatters the results back
(as eager vmap does), so a branch never computes on the rows of another (no `log` warning on
the other branch's rows). Values and derivatives against JAX (which selects: equal values)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.backend import native
from funcgrad.core import Primitive

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
lax = jax.lax

XS = np.array([1.5, -2.0, 3.0, -4.0, 0.5, -0.25])  # mixed signs: log warns on the negative rows

# a primitive recording how many rows each branch runs on (also inside compiled code)
SEEN: list = []
rows_p = Primitive("count_rows")
rows_p.impl = lambda x, *, tag: SEEN.append((tag, np.shape(x)[0] if np.ndim(x) else 1)) or x
rows_p.abstract_eval = lambda x, *, tag: [x]
rows_p.jvp = lambda primals, tangents, *, tag: ([rows_p.bind1(primals[0], tag=tag)], [tangents[0]])
rows_p.batch = lambda size, xs, bdims, *, tag: (
    [rows_p.bind1(fnp.moveaxis(xs[0], bdims[0], 0), tag=tag)], [0])


def f(x):
    return fg.cond(x > 0, lambda x: fnp.log(x) * x, lambda x: -x * 3.0, x)


def jf(x):
    return lax.cond(x > 0, lambda x: jnp.log(jnp.abs(x)) * x, lambda x: -x * 3.0, x)


def strict(fn, *args):
    """`fn(*args)` with every warning (log of a negative row) an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args)


def test_jit_vmap_cond_gathers_rows_no_warning_and_matches_jax():
    jv = fg.jit(fg.vmap(f))
    np.testing.assert_allclose(strict(jv, XS), jax.vmap(jf)(XS), rtol=1e-13)
    src = jv.lower(XS).source
    assert "cond_gather_rows" in src and "select" not in src and "log" not in src
    ir = fg.make_ir(fg.vmap(f))(XS)
    assert "island[fun=cond_gather_rows" in str(ir) and "select" not in str(ir)
    np.testing.assert_allclose(strict(ir, XS)[0], jax.vmap(jf)(XS), rtol=1e-13)


def test_each_branch_sees_only_its_rows_in_compiled_code():
    def g(x):
        return fg.cond(x > 0, lambda x: rows_p.bind1(x, tag="t") * 2.0,
                       lambda x: rows_p.bind1(x, tag="f") - 1.0, x)

    jv = fg.jit(fg.vmap(g))
    SEEN.clear()
    np.testing.assert_allclose(jv(XS), np.where(XS > 0, XS * 2.0, XS - 1.0))
    assert sorted(SEEN) == [("f", 3), ("t", 3)]
    SEEN.clear()
    jv(np.abs(XS))  # every row takes the true branch: the false one never runs
    assert SEEN == [("t", 6)]


@pytest.mark.parametrize("mode", ["grad_of_jit_vmap", "jit_grad_vmap", "jit_vmap_grad",
                                  "vmap_jit", "jit_jvp_vmap"])
def test_derivatives_through_the_gather_match_jax(mode):
    w = 0.7
    loss = lambda xs, w: fnp.sum(fg.vmap(f)(xs) * w) ** 2  # noqa: E731
    jloss = lambda xs, w: jnp.sum(jax.vmap(jf)(xs) * w) ** 2  # noqa: E731
    if mode == "grad_of_jit_vmap":
        got = fg.grad(lambda xs, w: fnp.sum(fg.jit(fg.vmap(f))(xs) * w) ** 2, argnums=(0, 1))
        got = strict(got, XS, w)
        want = jax.grad(jloss, argnums=(0, 1))(XS, w)
    elif mode == "jit_grad_vmap":
        got = strict(fg.jit(fg.grad(loss, argnums=(0, 1))), XS, w)
        want = jax.grad(jloss, argnums=(0, 1))(XS, w)
    elif mode == "jit_vmap_grad":
        got, want = strict(fg.jit(fg.vmap(fg.grad(f))), XS), jax.vmap(jax.grad(jf))(XS)
    elif mode == "vmap_jit":
        got, want = strict(fg.vmap(fg.jit(f)), XS), jax.vmap(jf)(XS)
    else:
        t = np.linspace(-1.0, 1.0, XS.size)
        got = strict(fg.jit(lambda x, t: fg.jvp(fg.vmap(f), (x,), (t,))), XS, t)
        want = jax.jvp(jax.vmap(jf), (XS,), (t,))
    for a, b in zip(fg.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_jit_vmap_switch_with_batched_operands_and_an_unbatched_one():
    branches = [lambda x, c: fnp.sqrt(x) + c, lambda x, c: -x * c, lambda x, c: x * x - c]
    jbranches = [lambda x, c: jnp.sqrt(jnp.abs(x)) + c, lambda x, c: -x * c,
                 lambda x, c: x * x - c]
    idx = np.array([0, 2, 1, 0, 7, -3, 1])  # clamped into range
    xs = np.array([4.0, -1.0, -2.0, 9.0, 3.0, 5.0, -6.0])
    got = strict(fg.jit(fg.vmap(lambda i, x: fg.switch(i, branches, x, 2.0))), idx, xs)
    want = jax.vmap(lambda i, x: lax.switch(jnp.clip(i, 0, 2), jbranches, x, 2.0))(idx, xs)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    # a pytree of outputs, a matrix operand batched along axis 1
    def h(x):
        return fg.cond(x[0] > 0, lambda x: (x * 2.0, fnp.sum(x)), lambda x: (-x, x[1]), x)

    def jh(x):
        return lax.cond(x[0] > 0, lambda x: (x * 2.0, jnp.sum(x)), lambda x: (-x, x[1]), x)
    m = np.arange(12.0).reshape(3, 4) - 5.0
    got = strict(fg.jit(fg.vmap(h, in_axes=1)), m)
    for a, b in zip(got, jax.vmap(jh, in_axes=1)(m)):
        np.testing.assert_allclose(a, b)


def test_nested_vmap_under_jit_and_empty_batch():
    xss = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    g = lambda x: fg.cond(x > 0, lambda x: x * 2.0, lambda x: x - 1.0, x)  # noqa: E731
    jg = lambda x: lax.cond(x > 0, lambda x: x * 2.0, lambda x: x - 1.0, x)  # noqa: E731
    np.testing.assert_allclose(fg.jit(fg.vmap(fg.vmap(g)))(xss), jax.vmap(jax.vmap(jg))(xss))
    assert fg.jit(fg.vmap(f))(np.zeros((0,))).shape == (0,)


@pytest.mark.skipif(not native.available(), reason="the native tier needs Numba")
def test_native_backend_keeps_the_gather_on_the_numpy_tier():
    jv = fg.jit(fg.vmap(f), backend="auto")
    for _ in range(3):
        np.testing.assert_allclose(strict(jv, XS), jax.vmap(jf)(XS), rtol=1e-13)
    assert jv.tier(XS, wait=True) == "numpy"


@pytest.mark.gpu
def test_jit_vmap_cond_gathers_rows_on_the_gpu():
    x = fg.device_put(XS, "gpu")
    got = strict(fg.jit(fg.vmap(f), device="gpu"), x)
    np.testing.assert_allclose(fg.to_numpy(got), jax.vmap(jf)(XS), rtol=1e-12)
    g = fg.jit(fg.grad(lambda x: fnp.sum(fg.vmap(f)(x))), device="gpu")(x)
    np.testing.assert_allclose(fg.to_numpy(g), jax.grad(lambda x: jnp.sum(jax.vmap(jf)(x)))(XS),
                               rtol=1e-12)
