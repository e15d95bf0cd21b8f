"""cond / switch / while_loop / fori_loop / scan: values and derivatives in every mode, against
JAX where JAX supports it, and against finite differences and unrolled Python loops where it does
not (reverse-mode while_loop); batching (including gather/scatter vmap of cond); IR printing;
error messages."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import Primitive
from funcgrad.ir import typecheck_ir
from funcgrad.transforms.control_flow import cond_p, scan_p, while_p

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy
lax = jax.lax

RNG = np.random.default_rng(0)


def close(a, b, tol=1e-9):
    fa, _ = fg.tree_util.tree_flatten(a)
    fb = jax.tree_util.tree_leaves(b)
    assert len(fa) == len(fb)
    for x, y in zip(fa, fb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


# --- a primitive that records how many rows each branch sees -----------------------------------
SEEN: list = []
spy_p = Primitive("spy_rows")


def _spy_impl(x, *, tag):
    SEEN.append((tag, np.shape(x)[0] if np.ndim(x) else 1))
    return x


def _spy_batch(size, xs, bdims, *, tag):
    from funcgrad.primitives.batching import moveaxis
    return [spy_p.bind1(moveaxis(xs[0], bdims[0], 0), tag=tag)], [0]


spy_p.impl = _spy_impl
spy_p.abstract_eval = lambda x, *, tag: [x]
spy_p.jvp = lambda primals, tangents, *, tag: ([spy_p.bind1(primals[0], tag=tag)], [tangents[0]])
spy_p.batch = _spy_batch


def spy(x, tag):
    return spy_p.bind1(x, tag=tag)


# ================================================================================================
# cond / switch
# ================================================================================================

def f_cond(x, w):
    return fg.cond(fnp.sum(x) > 0.0, lambda x, w: fnp.sin(x) * w, lambda x, w: x ** 3 - w,
                   x, w)


def j_cond(x, w):
    return lax.cond(jnp.sum(x) > 0.0, lambda x, w: jnp.sin(x) * w, lambda x, w: x ** 3 - w, x, w)


X3 = RNG.standard_normal(3)
W3 = RNG.standard_normal(3)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cond_values_grad_jvp_vjp_vs_jax(sign):
    x = sign * np.abs(X3)
    close(f_cond(x, W3), j_cond(x, W3))
    loss = lambda x, w: fnp.sum(f_cond(x, w) ** 2)  # noqa: E731
    jloss = lambda x, w: jnp.sum(j_cond(x, w) ** 2)  # noqa: E731
    close(fg.grad(loss, argnums=(0, 1))(x, W3), jax.grad(jloss, argnums=(0, 1))(x, W3))
    t = (RNG.standard_normal(3), RNG.standard_normal(3))
    close(fg.jvp(f_cond, (x, W3), t), jax.jvp(j_cond, (x, W3), t))
    ct = RNG.standard_normal(3)
    close(fg.vjp(f_cond, x, W3)[1](ct), jax.vjp(j_cond, x, W3)[1](ct))
    close(fg.hessian(loss)(x, W3), jax.jit(jax.hessian(jloss))(x, W3))


def test_cond_with_pytrees_and_no_operands():
    def f(p):
        return fg.cond(p["a"] > 1.0, lambda p: {"s": p["a"] * p["b"], "t": (p["b"],)},
                       lambda p: {"s": p["a"] + p["b"], "t": (p["b"] * 2.0,)}, p)
    for a in (0.5, 2.0):
        p = {"a": np.float64(a), "b": np.arange(2.0)}
        out = f(p)
        g = fg.grad(lambda p: fnp.sum(f(p)["t"][0]) + f(p)["s"].sum())(p)
        jout = lax.cond(a > 1.0, lambda p: {"s": p["a"] * p["b"], "t": (p["b"],)},
                        lambda p: {"s": p["a"] + p["b"], "t": (p["b"] * 2.0,)}, p)
        close(out, jout)
        assert set(g) == {"a", "b"}
    assert fg.cond(True, lambda: 1.0, lambda: 2.0) == 1.0


def test_cond_concrete_predicate_runs_chosen_branch_on_values_and_traces_the_other():
    """With a concrete predicate the chosen branch runs on the values; the untaken one is traced
    with abstract values only (to check both return the same types, as jit does): it never
    sees the data, and its trace is cached per (function, input types)."""
    seen = []

    def t(x):
        seen.append(("t", isinstance(x, np.ndarray)))
        return x * 2.0

    def f(x):
        seen.append(("f", isinstance(x, np.ndarray)))
        return -x

    assert fg.cond(np.float64(3.0) > 0, t, f, np.array(1.0)) == 2.0
    assert seen == [("t", True), ("f", False)]  # f saw a tracer, never a value
    seen.clear()
    fg.cond(True, t, f, np.array(4.0))
    assert seen == [("t", True)]  # f's types are cached: not traced again
    seen.clear()
    # a Python-scalar operand: t is traced too (once), for the dtypes of JAX's weak-type rules
    assert fg.cond(True, t, f, 4.0) == 8.0
    assert seen == [("t", True), ("f", False), ("t", False)]
    seen.clear()
    fg.cond(True, t, f, 4.0)
    assert seen == [("t", True)]
    seen.clear()
    fg.cond(True, t, f, np.ones(3))  # new input types: traced again, abstractly
    assert seen == [("t", True), ("f", False)]
    seen.clear()
    g = fg.grad(lambda x: fnp.sum(fg.cond(x[0] > 0, t, f, x)))(np.array([1.5, -2.0]))
    np.testing.assert_allclose(g, [2.0, 2.0])
    assert [tag for tag, _ in seen] == ["t", "f"]  # t runs (on jvp values), f is traced
    seen.clear()
    assert fg.switch(2, [f, t, t], np.array(5.0)) == 10.0
    assert seen == [("t", True), ("t", False)]  # branches[1] traced once (f: cached)
    seen.clear()
    assert fg.switch(2, [f, t, t], np.array(5.0)) == 10.0
    assert seen == [("t", True)]


def test_cond_staged_ir_prints_branches_and_evaluates():
    ir = fg.make_ir(f_cond)(X3, W3)
    typecheck_ir(ir.open)
    text = str(ir)
    assert "cond[" in text and "branches=(" in text and "sin" in text
    assert text.count("{ lambda") == 3
    for x in (X3, -np.abs(X3), np.abs(X3)):
        close(ir(x, W3), [j_cond(x, W3)])


def test_staged_grad_of_cond_uses_partial_eval_and_transpose():
    loss = lambda x, w: fnp.sum(f_cond(x, w) ** 2)  # noqa: E731
    jloss = lambda x, w: jnp.sum(j_cond(x, w) ** 2)  # noqa: E731
    ir = fg.make_ir(fg.grad(loss, argnums=(0, 1)))(X3, W3)
    typecheck_ir(ir.open)
    assert str(ir).count("cond[") == 2  # forward (with residuals) and transposed
    for x in (np.abs(X3), -np.abs(X3)):
        close(ir(x, W3), jax.grad(jloss, argnums=(0, 1))(x, W3))
    # forward mode of a staged program as well
    ir_j = fg.make_ir(lambda x, t: fg.jvp(lambda x: f_cond(x, W3), (x,), (t,)))(X3, X3)
    for x in (np.abs(X3), -np.abs(X3)):
        close(ir_j(x, W3 * 0 + 1), jax.jvp(lambda x: j_cond(x, W3), (x,), (np.ones(3),)))


def test_vmap_cond_batched_predicate_gathers_rows_per_branch():
    xs = np.array([-1.0, 2.0, 3.0, -4.0, 5.0])

    def f(x):
        return fg.cond(x > 0, lambda x: spy(x, "t") * 2.0, lambda x: spy(x, "f") - 1.0, x)

    SEEN.clear()
    out = fg.vmap(f)(xs)
    np.testing.assert_allclose(out, np.where(xs > 0, xs * 2.0, xs - 1.0))
    assert sorted(SEEN) == [("f", 2), ("t", 3)]
    SEEN.clear()
    fg.vmap(f)(np.abs(xs))  # every row takes the true branch: the false one never runs
    assert SEEN == [("t", 5)]
    SEEN.clear()
    g = fg.vmap(fg.grad(f))(xs)  # vmap of grad: gather/scatter too
    np.testing.assert_allclose(g, np.where(xs > 0, 2.0, 1.0))
    assert sorted(SEEN) == [("f", 2), ("t", 3)]


def test_vmap_cond_over_an_empty_batch():
    f = lambda x: fg.cond(x > 0, lambda x: x * 2.0, lambda x: -x, x)  # noqa: E731
    for g in (fg.vmap(f), fg.vmap(fg.grad(f)), fg.jit(fg.vmap(f))):
        out = g(np.zeros((0,)))
        assert out.shape == (0,) and out.dtype == np.float64


def test_vmap_cond_vs_jax_and_composition():
    xs = RNG.standard_normal((6, 3))
    close(fg.vmap(f_cond, in_axes=(0, None))(xs, W3), jax.vmap(j_cond, in_axes=(0, None))(xs, W3))
    loss = lambda x, w: fnp.sum(f_cond(x, w) ** 2)  # noqa: E731
    jloss = lambda x, w: jnp.sum(j_cond(x, w) ** 2)  # noqa: E731
    close(fg.vmap(fg.grad(loss), in_axes=(0, None))(xs, W3),
          jax.vmap(jax.grad(jloss), in_axes=(0, None))(xs, W3))
    total = lambda xs, w: fnp.sum(fg.vmap(loss, in_axes=(0, None))(xs, w))  # noqa: E731
    jtotal = lambda xs, w: jnp.sum(jax.vmap(jloss, in_axes=(0, None))(xs, w))  # noqa: E731
    close(fg.grad(total, argnums=(0, 1))(xs, W3), jax.grad(jtotal, argnums=(0, 1))(xs, W3))
    # batched operand but unbatched predicate
    close(fg.vmap(lambda w: f_cond(X3, w))(xs), jax.vmap(lambda w: j_cond(X3, w))(xs))
    # nested vmap with batched predicate at both levels
    xss = RNG.standard_normal((2, 4, 3))
    close(fg.vmap(fg.vmap(f_cond, in_axes=(0, None)), in_axes=(0, None))(xss, W3),
          jax.vmap(jax.vmap(j_cond, in_axes=(0, None)), in_axes=(0, None))(xss, W3))


def test_staged_vmap_cond_gathers_rows_when_the_program_runs():
    xs = RNG.standard_normal((5, 3))
    ir = fg.make_ir(fg.vmap(f_cond, in_axes=(0, None)))(xs, W3)
    assert "island[fun=cond_gather_rows" in str(ir) and "select" not in str(ir)
    close(ir(xs, W3), [jax.vmap(j_cond, in_axes=(0, None))(xs, W3)])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-2, 4), min_size=1, max_size=9))
def test_vmap_switch_matches_per_example_loop(idx):
    branches = [lambda x: x + 1.0, lambda x: fnp.sin(x) * 3.0, lambda x: x * x]
    jbranches = [lambda x: x + 1.0, lambda x: jnp.sin(x) * 3.0, lambda x: x * x]
    idx = np.array(idx)
    xs = np.linspace(-1.0, 1.0, idx.size)
    out = fg.vmap(lambda i, x: fg.switch(i, branches, x))(idx, xs)
    ref = jax.vmap(lambda i, x: lax.switch(i, jbranches, x))(idx, xs)
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    g = fg.vmap(fg.grad(lambda x, i: fg.switch(i, branches, x)))(xs, idx)
    jg = jax.vmap(jax.grad(lambda x, i: lax.switch(i, jbranches, x)))(xs, idx)
    np.testing.assert_allclose(g, jg, rtol=1e-12)


def test_switch_clamps_and_differentiates_staged():
    branches = [lambda x: x + 1.0, lambda x: fnp.sin(x) * 3.0, lambda x: x * x]
    jbranches = [lambda x: x + 1.0, lambda x: jnp.sin(x) * 3.0, lambda x: x * x]
    for i in (-3, 0, 1, 2, 7):
        assert fg.switch(i, branches, 0.3) == pytest.approx(float(lax.switch(i, jbranches, 0.3)))
        ir = fg.make_ir(lambda i, x: fg.grad(lambda x: fg.switch(i, branches, x))(x))(i, 0.3)
        close(ir(np.int64(i), 0.3), [jax.grad(lambda x: lax.switch(i, jbranches, x))(0.3)])


def test_cond_errors_name_the_difference_and_line():
    with pytest.raises(fg.FuncgradError, match=r"output is f64\[3\] in false_fun and "
                                               r"f64\[\] in true_fun.*test_control_flow.py"):
        fg.make_ir(lambda x: fg.cond(x[0] > 0, lambda x: x.sum(), lambda x: x, x))(X3)
    with pytest.raises(fg.FuncgradError, match=r"output\['s'\] is i64\[\] in false_fun and "
                                               r"f64\[\] in true_fun"):
        fg.make_ir(lambda x: fg.cond(x > 0, lambda x: {"s": x}, lambda x: {"s": 1}, x))(1.0)
    with pytest.raises(fg.FuncgradError, match="same pytree structure"):
        fg.make_ir(lambda x: fg.cond(x > 0, lambda x: (x, x), lambda x: x, x))(1.0)
    with pytest.raises(fg.FuncgradError, match="predicate must be a scalar"):
        fg.cond(np.array([True, False]), lambda: 1.0, lambda: 2.0)
    with pytest.raises(fg.FuncgradError, match="predicate must be a scalar"):
        fg.make_ir(lambda x: fg.cond(x > 0, lambda x: x, lambda x: x, x))(X3)
    with pytest.raises(fg.FuncgradError, match="integer scalar"):
        fg.make_ir(lambda i: fg.switch(i, [lambda: 1.0], ))(1.5)


# ================================================================================================
# while_loop / fori_loop
# ================================================================================================

def body(v):
    return v * 1.7 + fnp.sin(v)


def f_while(x):
    return fg.while_loop(lambda v: v < 10.0, body, x)


def j_while(x):
    return lax.while_loop(lambda v: v < 10.0, lambda v: v * 1.7 + jnp.sin(v), x)


def unrolled(x):  # a Python loop: runs on concrete values under grad (the reference)
    while x < 10.0:
        x = body(x)
    return x


@pytest.mark.parametrize("x0", [0.3, 2.0, 9.5, 12.0])
def test_while_values_and_forward_mode_vs_jax(x0):
    close(f_while(x0), j_while(x0))
    close(fg.jvp(f_while, (x0,), (1.0,)), jax.jvp(j_while, (x0,), (1.0,)))
    close(fg.jacfwd(f_while)(x0), jax.jacfwd(j_while)(x0))


@pytest.mark.parametrize("x0", [0.3, 2.0, 9.5, 12.0])
def test_while_reverse_mode_vs_unrolled_loop_and_fd(x0):
    close(fg.grad(f_while)(x0), [fg.grad(unrolled)(x0)])
    close(fg.grad(f_while)(x0), [jax.jacfwd(j_while)(x0)])  # forward mode as a 2nd oracle
    close(fg.hessian(f_while)(x0), [fg.hessian(unrolled)(x0)])
    fg.testing.check_grads(f_while, (x0,), order=2)


def test_while_reverse_mode_stages_tangent_loop_as_scan():
    _, f_jvp = fg.linearize(f_while, 2.0)
    # linearize's program: a scan over the stacked residuals, not an unrolled chain
    from funcgrad.transforms.autodiff import linearize_flat
    _, lin = linearize_flat(lambda x: [f_while(x)], [2.0])
    eqns = [e.prim for e in lin.eqns]
    assert scan_p in eqns and while_p not in eqns
    scan_eqn = next(e for e in lin.eqns if e.prim is scan_p)
    n_trips = 0
    x = 2.0
    while x < 10.0:
        x, n_trips = float(body(x)), n_trips + 1
    assert scan_eqn.params["length"] == n_trips
    assert f_jvp(1.0) == pytest.approx(float(fg.grad(unrolled)(2.0)))


def test_while_pytree_carry_with_counter_and_vjp():
    def newton(x0):
        def step(c):
            n, x = c
            return n + 1, x - (x ** 2 - 2.0) / (2.0 * x)
        return fg.while_loop(lambda c: fnp.abs(c[1] ** 2 - 2.0) > 1e-12, step, (0, x0))

    n, r = newton(3.0)
    assert int(n) == 5 and r == pytest.approx(np.sqrt(2))
    # the root does not depend on the start: the derivative is ~0 (and is computed)
    assert abs(float(fg.grad(lambda x: newton(x)[1])(3.0))) < 1e-6

    def g(w, x0):  # the derivative w.r.t. a parameter closed over by the body
        return fg.while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, c[1] * w + 1.0),
                             (0, x0))[1]

    def jg(w, x0):
        return lax.fori_loop(0, 4, lambda i, x: x * w + 1.0, x0)
    close(fg.grad(g, argnums=(0, 1))(0.9, 1.3), jax.grad(jg, argnums=(0, 1))(0.9, 1.3))
    y, f_vjp = fg.vjp(g, 0.9, 1.3)
    close(f_vjp(1.0), jax.vjp(jg, 0.9, 1.3)[1](1.0))


def test_vmap_while_batched_predicate_vs_jax():
    xs = np.array([0.3, 2.0, 9.5, 12.0])
    close(fg.vmap(f_while)(xs), jax.vmap(j_while)(xs))
    # forward mode under vmap vs JAX
    close(fg.vmap(lambda x: fg.jvp(f_while, (x,), (1.0,)))(xs),
          jax.vmap(lambda x: jax.jvp(j_while, (x,), (1.0,)))(xs))
    # unbatched predicate, batched other carry
    def k(w):
        return fg.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * w), (0, w))[1]
    close(fg.vmap(k)(xs), jax.vmap(lambda w: lax.while_loop(
        lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * w), (0, w))[1])(xs))


def test_vmap_of_grad_and_grad_of_vmap_while():
    xs = np.array([0.3, 2.0, 9.5, 12.0, 4.0])
    per = [float(fg.grad(unrolled)(x)) for x in xs]
    np.testing.assert_allclose(fg.vmap(fg.grad(f_while))(xs), per, rtol=1e-12)
    np.testing.assert_allclose(fg.grad(lambda x: fnp.sum(fg.vmap(f_while)(x)))(xs), per,
                               rtol=1e-12)
    np.testing.assert_allclose(np.diag(fg.jacrev(fg.vmap(f_while))(xs)), per, rtol=1e-12)


def test_while_reverse_mode_under_staging_runs_the_reverse_pass_at_run_time():
    # the trip count depends on x: known only when the compiled program runs (an eager island)
    xs = np.array([0.3, 2.0, 9.5, 12.0, 4.0])
    per = np.array([float(fg.grad(unrolled)(x)) for x in xs])
    ir = fg.make_ir(fg.grad(f_while))(2.0)
    assert "island[fun=transpose(while_tangents)" in str(ir)
    for x, want in zip(xs, per):
        np.testing.assert_allclose(ir(x)[0], want, rtol=1e-12)
        np.testing.assert_allclose(fg.jit(fg.grad(f_while))(x), want, rtol=1e-12)
        np.testing.assert_allclose(fg.grad(fg.jit(f_while))(x), want, rtol=1e-12)
    second = [float(fg.grad(fg.grad(unrolled))(x)) for x in xs]
    np.testing.assert_allclose([fg.jit(fg.grad(fg.grad(f_while)))(x) for x in xs], second,
                               rtol=1e-10)
    np.testing.assert_allclose(fg.jit(fg.hessian(f_while))(2.0), second[1], rtol=1e-10)
    np.testing.assert_allclose(fg.jit(fg.vmap(fg.grad(f_while)))(xs), per, rtol=1e-12)
    np.testing.assert_allclose(fg.vmap(fg.jit(fg.grad(f_while)))(xs), per, rtol=1e-12)
    np.testing.assert_allclose(np.diag(fg.jit(fg.jacrev(fg.vmap(f_while)))(xs)), per,
                               rtol=1e-12)


def test_staged_reverse_while_with_traced_body_constants_vs_finite_differences():
    def g(w, x0):  # the body closes over w; the trip count depends on x0 only
        return fg.while_loop(lambda c: c[0] < 10.0,
                             lambda c: (c[0] * 1.5 + 0.1, c[1] * w + fnp.sin(c[0])), (x0, w))[1]

    gw = fg.jit(fg.grad(g, argnums=(0, 1)))(1.1, 1.0)
    eps = 1e-6
    fd = (g(1.1 + eps, 1.0) - g(1.1 - eps, 1.0)) / (2 * eps)
    np.testing.assert_allclose(gw[0], fd, rtol=1e-7)
    np.testing.assert_allclose(gw, fg.grad(g, argnums=(0, 1))(1.1, 1.0), rtol=1e-12)


def test_staging_a_while_loop_and_its_forward_mode():
    ir = fg.make_ir(f_while)(2.0)  # staging the loop itself is fine, and forward mode too
    assert "while[" in str(ir) and "cond_jaxpr=" in str(ir)
    close(ir(2.0), [j_while(2.0)])
    ir_f = fg.make_ir(lambda x: fg.jvp(f_while, (x,), (1.0,)))(2.0)
    close(ir_f(2.0), jax.jvp(j_while, (2.0,), (1.0,)))


def test_while_errors():
    with pytest.raises(fg.FuncgradError, match=r"carry changed type: carry\[1\] is f64\[\] "
                                               r"initially but body_fun returns f64\[2\]"):
        fg.while_loop(lambda c: c[0] < 2, lambda c: (c[0] + 1, c[1] * np.ones(2)), (0, 1.0))
    with pytest.raises(fg.FuncgradError, match=r"carry changed type.*test_control_flow.py"):
        fg.make_ir(lambda x: fg.while_loop(lambda v: v < 2.0, lambda v: v.astype(np.float32),
                                           x))(np.array(1.0))  # (a weak 1.0 would be promoted)
    with pytest.raises(fg.FuncgradError, match="same pytree structure"):
        fg.while_loop(lambda c: c[0] < 2, lambda c: [c[0] + 1, c[1]], (0, 1.0))
    with pytest.raises(fg.FuncgradError, match="bool scalar"):
        fg.make_ir(lambda x: fg.while_loop(lambda v: v < 2.0, lambda v: v + 1.0, x))(X3)


@pytest.mark.parametrize("lo,hi", [(0, 5), (2, 3), (4, 4)])
def test_fori_loop_static_bounds_vs_jax(lo, hi):
    f = lambda x: fg.fori_loop(lo, hi, lambda i, x: fnp.sin(x) * i + x, x)  # noqa: E731
    jf = lambda x: lax.fori_loop(lo, hi, lambda i, x: jnp.sin(x) * i + x, x)  # noqa: E731
    x = RNG.standard_normal(3)
    close(f(x), jf(x))
    close(fg.grad(lambda x: fnp.sum(f(x)))(x), jax.grad(lambda x: jnp.sum(jf(x)))(x))
    # static bounds are staged as a scan: reverse mode works under make_ir as well
    ir = fg.make_ir(fg.grad(lambda x: fnp.sum(f(x))))(x)
    close(ir(x), [jax.grad(lambda x: jnp.sum(jf(x)))(x)])


def test_fori_loop_traced_bounds():
    f = lambda n, x: fg.fori_loop(0, n, lambda i, x: x * 2.0 + i, x)  # noqa: E731
    ir = fg.make_ir(f)(np.int64(3), 1.0)
    assert "while[" in str(ir)
    for n in (0, 3, 5):
        close(ir(np.int64(n), 1.0), [lax.fori_loop(0, n, lambda i, x: x * 2.0 + i, 1.0)])
    # eager grad with a traced (vmapped) bound: per-example trip counts
    ns = np.array([0, 3, 5])
    close(fg.vmap(fg.grad(lambda x, n: f(n, x)))(np.ones(3), ns), 2.0 ** ns)


# ================================================================================================
# scan
# ================================================================================================
WH = RNG.standard_normal((4, 4)) * 0.5
WX = RNG.standard_normal((3, 4)) * 0.5


def cell(h, x):
    h = fnp.tanh(h @ WH + x @ WX)
    return h, fnp.sum(h ** 2)


def jcell(h, x):
    h = jnp.tanh(h @ WH + x @ WX)
    return h, jnp.sum(h ** 2)


H0 = RNG.standard_normal(4)
XS = RNG.standard_normal((5, 3))


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_values_grad_jvp_vs_jax(reverse):
    f = lambda h, xs: fg.scan(cell, h, xs, reverse=reverse)  # noqa: E731
    jf = lambda h, xs: lax.scan(jcell, h, xs, reverse=reverse)  # noqa: E731
    close(f(H0, XS), jf(H0, XS))
    loss = lambda h, xs: fnp.sum(f(h, xs)[0]) + fnp.sum(f(h, xs)[1] * np.arange(5.0))  # noqa
    jloss = lambda h, xs: jnp.sum(jf(h, xs)[0]) + jnp.sum(jf(h, xs)[1] * np.arange(5.0))  # noqa
    close(fg.grad(loss, argnums=(0, 1))(H0, XS), jax.grad(jloss, argnums=(0, 1))(H0, XS))
    t = (RNG.standard_normal(4), RNG.standard_normal((5, 3)))
    close(fg.jvp(f, (H0, XS), t), jax.jvp(jf, (H0, XS), t))
    close(fg.hessian(loss)(H0, XS), jax.jit(jax.hessian(jloss))(H0, XS), tol=1e-8)


def test_scan_grad_wrt_closed_over_weights_and_staged():
    def loss(w, h, xs):
        hT, ys = fg.scan(lambda h, x: (fnp.tanh(h @ w + x @ WX), fnp.sum(h)), h, xs)
        return fnp.sum(hT) + fnp.sum(ys)

    def jloss(w, h, xs):
        hT, ys = lax.scan(lambda h, x: (jnp.tanh(h @ w + x @ WX), jnp.sum(h)), h, xs)
        return jnp.sum(hT) + jnp.sum(ys)

    ref = jax.grad(jloss, argnums=(0, 1, 2))(WH, H0, XS)
    close(fg.grad(loss, argnums=(0, 1, 2))(WH, H0, XS), ref)
    ir = fg.make_ir(fg.grad(loss, argnums=(0, 1, 2)))(WH, H0, XS)
    typecheck_ir(ir.open)
    assert str(ir).count("scan[") == 2 and "reverse=True" in str(ir)
    close(ir(WH, H0, XS), ref)
    fg.testing.check_grads(lambda w: loss(w, H0, XS), (WH,), order=1)


def test_scan_vmap_and_compositions_vs_jax():
    hs = RNG.standard_normal((3, 4))
    xss = RNG.standard_normal((3, 5, 3))
    f = lambda h, xs: fg.scan(cell, h, xs)  # noqa: E731
    jf = lambda h, xs: lax.scan(jcell, h, xs)  # noqa: E731
    close(fg.vmap(f)(hs, xss), jax.vmap(jf)(hs, xss))
    close(fg.vmap(f, in_axes=(0, None))(hs, XS), jax.vmap(jf, in_axes=(0, None))(hs, XS))
    close(fg.vmap(f, in_axes=(None, 1))(H0, np.moveaxis(xss, 0, 1)),
          jax.vmap(jf, in_axes=(None, 1))(H0, np.moveaxis(xss, 0, 1)))
    loss = lambda h, xs: fnp.sum(f(h, xs)[1])  # noqa: E731
    jloss = lambda h, xs: jnp.sum(jf(h, xs)[1])  # noqa: E731
    close(fg.vmap(fg.grad(loss))(hs, xss), jax.vmap(jax.grad(jloss))(hs, xss))
    close(fg.grad(lambda hs: fnp.sum(fg.vmap(loss)(hs, xss)))(hs),
          jax.grad(lambda hs: jnp.sum(jax.vmap(jloss)(hs, xss)))(hs))


def test_scan_pytrees_length_and_eager_matches_staged():
    def step(c, x):
        a, b = c["a"], c["b"]
        return {"a": a + x["u"], "b": b * 0.5}, (a * b, x["v"] * 2.0)

    init = {"a": 1.0, "b": np.ones(2)}
    xs = {"u": np.arange(4.0), "v": np.ones((4, 2))}
    eager = fg.scan(step, init, xs)
    staged = fg.make_ir(lambda i, x: fg.scan(step, i, x))(init, xs)
    out_leaves = staged(*fg.tree_util.tree_leaves((init, xs)))
    close(eager, out_leaves)
    jref = lax.scan(step, init, xs)
    close(eager, jref)
    c, ys = fg.scan(lambda c, _: (c + 1.0, c), 0.0, None, length=3)
    assert float(c) == 3.0 and list(ys) == [0.0, 1.0, 2.0]
    c0, ys0 = fg.scan(lambda c, x: (c + x, c * x), 0.0, np.zeros(0))
    assert float(c0) == 0.0 and np.shape(ys0) == (0,)


def test_scan_ir_prints_body():
    ir = fg.make_ir(lambda h, xs: fg.scan(cell, h, xs))(H0, XS)
    text = str(ir)
    assert "scan[" in text and "jaxpr={ lambda" in text and "length=5" in text
    assert "tanh" in text


def test_scan_errors():
    with pytest.raises(fg.FuncgradError, match="leading axes of xs.*disagree"):
        fg.scan(lambda c, x: (c, x), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(fg.FuncgradError, match=r"carry changed type: carry is f64\[\] initially "
                                               r"but f returns f64\[2\]"):
        fg.scan(lambda c, x: (c * x, c), 0.0, np.ones((3, 2)))
    with pytest.raises(fg.FuncgradError, match="pair"):
        fg.make_ir(lambda c: fg.scan(lambda c, x: c, c, np.ones(3)))(0.0)
    with pytest.raises(fg.FuncgradError, match="pass `length`"):
        fg.scan(lambda c, x: (c, c), 0.0, None)


def test_control_flow_primitives_have_all_rules():
    from funcgrad.backend.numpy_codegen import emitters
    from funcgrad.core import NOT_APPLICABLE
    from funcgrad.ir import pp_rules
    for p in (cond_p, while_p, scan_p):
        for slot in ("impl", "abstract_eval", "jvp", "batch", "partial_eval"):
            assert callable(getattr(p, slot)), (p, slot)
        assert callable(pp_rules[p]) and callable(emitters[p]), p  # printer, NumPy lowering
    assert callable(cond_p.transpose) and callable(scan_p.transpose)
    assert while_p.transpose == NOT_APPLICABLE


def test_loop_invariant_residuals_are_not_stacked():
    from funcgrad.transforms.autodiff import linearize_flat
    w = RNG.standard_normal((4, 4))

    def loss(w, h):
        return fnp.sum(fg.scan(lambda h, x: (fnp.tanh(h @ w + x), 0.0), h, np.ones((6, 4)))[0])

    _, lin = linearize_flat(lambda w, h: [loss(w, h)], [w, np.ones(4)])
    consts = [np.shape(c) for c in lin.consts]
    assert (4, 4) in consts  # the weights: passed once to the tangent scan
    assert (6, 4, 4) not in consts  # not one copy per step
    f = lambda w, x: fg.while_loop(lambda v: fnp.sum(v) < 50.0,  # noqa: E731
                                   lambda v: v @ w + 1.0, x)
    _, lin = linearize_flat(lambda w, x: [fnp.sum(f(w, x))], [np.eye(3) * 1.1, np.ones(3)])
    assert not any(np.shape(c)[1:] == (3, 3) for c in lin.consts)  # w is not stacked
    jf = lambda w, x: lax.while_loop(lambda v: jnp.sum(v) < 50.0,  # noqa: E731
                                     lambda v: v @ w + 1.0, x)
    w3 = np.eye(3) * 1.1 + 0.01
    ref_fwd = jax.jacfwd(lambda w: jnp.sum(jf(w, np.ones(3))))(w3)
    close(fg.grad(lambda w: fnp.sum(f(w, np.ones(3))))(w3), ref_fwd)


def test_nested_control_flow_grads_vs_jax():
    def step(c, x):
        c = fg.cond(c > x, lambda c: fnp.sin(c) * x, lambda c: c * c + x, c)
        return c, c * 2.0

    def jstep(c, x):
        c = lax.cond(c > x, lambda c: jnp.sin(c) * x, lambda c: c * c + x, c)
        return c, c * 2.0

    xs = np.array([0.3, -0.2, 0.9, 0.1, 0.5])
    loss = lambda c0, xs: fnp.sum(fg.scan(step, c0, xs)[1])  # noqa: E731
    jloss = lambda c0, xs: jnp.sum(lax.scan(jstep, c0, xs)[1])  # noqa: E731
    for c0 in (0.4, -0.7):
        close(loss(c0, xs), jloss(c0, xs))
        close(fg.grad(loss, argnums=(0, 1))(c0, xs), jax.grad(jloss, argnums=(0, 1))(c0, xs))
    ir = fg.make_ir(fg.grad(loss))(0.4, xs)
    assert "cond[" in str(ir) and "scan[" in str(ir)
    close(ir(0.4, xs), [jax.grad(jloss)(0.4, xs)])
    cs = np.array([0.4, -0.7, 0.05])
    close(fg.vmap(fg.grad(loss), in_axes=(0, None))(cs, xs),
          jax.vmap(jax.grad(jloss), in_axes=(0, None))(cs, xs))

    # a cond whose branches loop, inside a while_loop (reverse mode: vs the unrolled loop)
    def inner(v):
        return fg.cond(v > 1.0, lambda v: fg.fori_loop(0, 3, lambda i, u: u * 1.1, v),
                       lambda v: v + 0.7, v)

    def outer(x):
        return fg.while_loop(lambda v: v < 5.0, inner, x)

    def outer_unrolled(x):
        while x < 5.0:
            x = x * 1.1 ** 3 if x > 1.0 else x + 0.7
        return x

    for x0 in (0.2, 1.5, 4.9):
        close(fg.grad(outer)(x0), [fg.grad(outer_unrolled)(x0)])
    close(fg.vmap(fg.grad(outer))(np.array([0.2, 1.5, 4.9])),
          np.array([fg.grad(outer_unrolled)(x) for x in (0.2, 1.5, 4.9)]))


def test_vmap_control_flow_with_nonzero_axes():
    xs = RNG.standard_normal((3, 6))  # batch along axis 1
    close(fg.vmap(f_cond, in_axes=(1, None))(xs, W3), jax.vmap(j_cond, in_axes=(1, None))(xs, W3))
    xss = RNG.standard_normal((5, 3, 2))  # scan axis 0, batch axis 2
    close(fg.vmap(lambda x: fg.scan(cell, H0, x), in_axes=2)(xss),
          jax.vmap(lambda x: lax.scan(jcell, H0, x), in_axes=2)(xss))
    close(fg.vmap(lambda x: fg.scan(cell, H0, x), in_axes=2, out_axes=1)(xss),
          jax.vmap(lambda x: lax.scan(jcell, H0, x), in_axes=2, out_axes=1)(xss))
    x0s = np.array([[0.3, 2.0, 3.0], [9.5, 12.0, 0.1]])  # per-example 2-vectors along axis 1
    fw = lambda x: fg.while_loop(lambda v: fnp.sum(v) < 10.0, body, x)  # noqa: E731
    jw = lambda x: lax.while_loop(lambda v: jnp.sum(v) < 10.0,  # noqa: E731
                                  lambda v: v * 1.7 + jnp.sin(v), x)
    close(fg.vmap(fw, in_axes=1)(x0s), jax.vmap(jw, in_axes=1)(x0s))


def test_golden_ir_text():
    ir = fg.make_ir(lambda x: fg.cond(x > 0, lambda x: x * 2.0, lambda x: -x, x))(1.0)
    assert str(ir) == """\
{ lambda ; a:f64[]. let
    b:bool[] = gt a 0.0
    c:i32[] = convert_element_type[new_dtype=i32 weak_type=False] b
    d:f64[] = cond[
      branches=(
        { lambda ; e:f64[]. let f:f64[] = neg e in (f,) }
        { lambda ; g:f64[]. let h:f64[] = mul g 2.0 in (h,) }
      )
    ] c a
  in (d,) }"""
    ir = fg.make_ir(lambda c, xs: fg.scan(lambda c, x: (c + x, c), c, xs))(0.0, np.ones(3))
    assert str(ir) == """\
{ lambda ; a:f64[] b:f64[3]. let
    c:f64[] d:f64[3] = scan[
      jaxpr={ lambda ; e:f64[] f:f64[]. let g:f64[] = add e f in (g, e) }
      num_consts=0
      num_carry=1
      length=3
      reverse=False
    ] a b
  in (c, d) }"""


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 5), st.booleans(), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_scan_matches_unrolled_python_loop(length, reverse, dim, seed):
    r = np.random.default_rng(seed)
    w = r.standard_normal((dim, dim)) * 0.5
    h0, xs = r.standard_normal(dim), r.standard_normal((length, dim))

    def step(h, x):
        h = fnp.tanh(h @ w + x)
        return h, fnp.sum(h * x)

    def unrolled(h, xs):
        ys = [None] * length
        for i in (range(length - 1, -1, -1) if reverse else range(length)):
            h, ys[i] = step(h, xs[i])
        return h, ys

    def loss(loop):
        def f(h, xs):
            hT, ys = loop(h, xs)
            return fnp.sum(hT) + sum((y * (k + 1.0) for k, y in enumerate(ys)), 0.0)
        return f

    hT, ys = fg.scan(step, h0, xs, reverse=reverse)
    uh, uys = unrolled(h0, xs)
    np.testing.assert_allclose(hT, uh, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ys), np.asarray([float(y) for y in uys]), rtol=1e-12)
    got = fg.grad(loss(lambda h, xs: fg.scan(step, h, xs, reverse=reverse)), argnums=(0, 1))(
        h0, xs)
    want = fg.grad(loss(unrolled), argnums=(0, 1))(h0, xs)
    close(got, want)


def test_vmap_of_grad_of_while_loop_with_a_body_undefined_after_the_exit():
    # the body runs on finished examples' frozen carry, where sqrt(10 - c) is NaN; those values
    # must not leak into the reverse pass (they did: 0 * NaN in the body's transpose)
    def w(x, a):
        return fg.while_loop(lambda c: c < 10.0, lambda c: c * 2 + a * fnp.sqrt(10.0 - c), x)

    xs = np.array([1.0, 5.0, 9.0, 12.0])
    with np.errstate(invalid="ignore"):
        got = fg.vmap(fg.grad(w, argnums=(0, 1)), in_axes=(0, None))(xs, 0.5)
        loop = [fg.grad(w, argnums=(0, 1))(x, 0.5) for x in xs]
        fwd = fg.vmap(fg.jacfwd(w), in_axes=(0, None))(xs, 0.5)
    np.testing.assert_allclose(got[0], [g[0] for g in loop], rtol=1e-12)
    np.testing.assert_allclose(got[1], [g[1] for g in loop], rtol=1e-12)
    np.testing.assert_allclose(got[0], fwd, rtol=1e-12)
    assert np.all(np.isfinite(got[0])) and np.all(np.isfinite(got[1]))
