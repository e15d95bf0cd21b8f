"""Custom derivative rules survive every transform and every nesting (issue 13, item 1).

`custom_jvp` / `custom_vjp` calls are call primitives carrying the function's program and the
rule, so vmap, jit, scan, while/fori, cond and checkpoint keep the rule; each composition is
differentiated from outside with grad, jvp, jacrev and hessian and compared with JAX's
`jax.custom_jvp` / `jax.custom_vjp` under the same composition.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402


class Lib:
    """The same vocabulary from funcgrad or from JAX, so one composition serves both."""

    def __init__(self, is_jax: bool):
        if is_jax:
            self.np, self.lax, self.ad = jnp, jax.lax, jax
            self.custom_jvp, self.custom_vjp = jax.custom_jvp, jax.custom_vjp
        else:
            self.np, self.lax, self.ad = fnp, fg.lax, fg
            self.custom_jvp, self.custom_vjp = fg.custom_jvp, fg.custom_vjp
        np_ = self.np

        # a custom_jvp whose rule is deliberately NOT the true derivative (3·cos instead of
        # cos), so a transform that drops the rule gives a visibly different number
        @self.custom_jvp
        def sin3(x):
            return np_.sin(x)

        @sin3.defjvp
        def _(primals, tangents):
            (x,), (t,) = primals, tangents
            return sin3(x), 3.0 * np_.cos(x) * t

        # a gradient-clipping custom_vjp on top of a smooth function
        @self.custom_vjp
        def clipped(x):
            return np_.sin(x) * 2.0

        clipped.defvjp(lambda x: (np_.sin(x) * 2.0, np_.cos(x)),
                       lambda c, g: (np_.clip(2.0 * c * g, -0.5, 0.5),))
        self.sin3, self.clipped = sin3, clipped


FG, JX = Lib(False), Lib(True)

# compositions of one elementwise function h around a vector x of shape (3,)
WRAPS = {
    "plain": lambda L, h: h,
    "vmap": lambda L, h: L.ad.vmap(h),
    "jit": lambda L, h: L.ad.jit(h),
    "jit_vmap": lambda L, h: L.ad.jit(L.ad.vmap(h)),
    "vmap_jit": lambda L, h: L.ad.vmap(L.ad.jit(h)),
    "scan": lambda L, h: lambda x: L.lax.scan(lambda c, xi: (c + h(xi), h(xi) * c), 0.5, x)[1],
    "fori": lambda L, h: lambda x: L.lax.fori_loop(0, 2, lambda i, v: h(v), x),
    "while": lambda L, h: lambda x: L.lax.while_loop(
        lambda s: s[0] < 2, lambda s: (s[0] + 1, h(s[1])), (0, x))[1],
    "cond": lambda L, h: lambda x: L.lax.cond(L.np.sum(x) > -10.0, h, lambda v: v * 0.5, x),
    "checkpoint": lambda L, h: L.ad.checkpoint(h),
    "jit_scan_vmap": lambda L, h: L.ad.jit(lambda x: L.lax.scan(
        lambda c, xi: (c, L.ad.vmap(h)(xi)), 0.0, x.reshape(3, 1))[1].reshape(3)),
}

X = np.array([0.3, -0.7, 1.2])


def _scan_unrolled(h, x):
    c, ys = 0.5, []
    for xi in x:
        ys.append(h(xi) * c)
        c = c + h(xi)
    return jnp.stack(ys)


# JAX's own loops drop a custom_jvp rule in the *second* derivative (its partial evaluation of
# a loop body inlines the function), while unrolled JAX code keeps it; funcgrad keeps it in
# both, so second derivatives of loops are checked against JAX on the unrolled loop.
UNROLLED = {
    "scan": lambda h: lambda x: _scan_unrolled(h, x),
    "fori": lambda h: lambda x: h(h(x)),
    "while": lambda h: lambda x: h(h(x)),
    "jit_scan_vmap": lambda h: jax.vmap(h),
}


def _wrapped(L, wrap, which, unrolled=False):
    """`wrap` around the custom function; on the JAX side, reverse mode of a while loop (which
    JAX refuses) and second derivatives of loops use the unrolled loop."""
    h = getattr(L, which)
    if L is JX and wrap in UNROLLED and (unrolled or wrap == "while"):
        return UNROLLED[wrap](h)
    return WRAPS[wrap](L, h)


def _objective(L, wrap, which, unrolled=False):
    g = _wrapped(L, wrap, which, unrolled)
    return lambda x: L.np.sum(g(x) * L.np.array([1.0, 2.0, 3.0]))


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wrap", list(WRAPS))
@pytest.mark.parametrize("which", ["sin3", "clipped"])
def test_grad_jacrev_hessian_match_jax(wrap, which):
    f, fj = _objective(FG, wrap, which), _objective(JX, wrap, which)
    _close(f(X), fj(X))
    _close(fg.grad(f)(X), jax.grad(fj)(X))
    vec, vecj = _wrapped(FG, wrap, which), _wrapped(JX, wrap, which)
    _close(fg.jacrev(vec)(X), jax.jacrev(vecj)(X))
    _close(fg.hessian(f)(X), jax.hessian(_objective(JX, wrap, which, unrolled=True))(X))
    _close(fg.jit(fg.grad(f))(X), jax.grad(fj)(X))
    _close(fg.vmap(fg.grad(f))(np.stack([X, -X])), jax.vmap(jax.grad(fj))(np.stack([X, -X])))


@pytest.mark.parametrize("wrap", list(WRAPS))
def test_jvp_of_custom_jvp_matches_jax(wrap):
    f, fj = WRAPS[wrap](FG, FG.sin3), WRAPS[wrap](JX, JX.sin3)
    t = np.array([1.0, -2.0, 0.5])
    out, tan = fg.jvp(f, (X,), (t,))
    outj, tanj = jax.jvp(fj, (X,), (t,))
    _close(out, outj)
    _close(tan, tanj)
    _close(fg.jacfwd(f)(X), jax.jacfwd(fj)(X))


@pytest.mark.parametrize("wrap", ["plain", "vmap", "jit", "jit_vmap", "scan", "cond"])
def test_forward_mode_of_custom_vjp_is_a_clear_error(wrap):
    f = WRAPS[wrap](FG, FG.clipped)
    with pytest.raises(fg.FuncgradError, match="forward mode"):
        fg.jvp(f, (X,), (np.ones(3),))


def test_the_issue_examples():
    f = fg.custom_jvp(fnp.sin)
    f.defjvp(lambda p, t: (f(p[0]), 100.0 * t[0]))
    x = np.array([0.1, 0.2, 0.3])
    for g in (f, fg.vmap(f), fg.jit(f), fg.jit(fg.vmap(f)), fg.checkpoint(f)):
        _close(fg.grad(lambda x: fnp.sum(g(x)))(x), [100.0] * 3)

    @fg.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (fnp.clip(g, -1.0, 1.0),))

    def per_example_loss(w, xi):
        return 10.0 * clip_gradient(w * xi)

    w = np.array(2.0)
    for loss in (lambda w: fnp.mean(fg.vmap(per_example_loss, (None, 0))(w, x)),
                 fg.jit(lambda w: fnp.mean(fg.vmap(per_example_loss, (None, 0))(w, x))),
                 lambda w: fg.lax.fori_loop(0, 3, lambda i, v: per_example_loss(v, 1.0), w),
                 lambda w: fg.lax.cond(w > 0, lambda v: per_example_loss(v, 1.0), fnp.sin, w)):
        clipped = fg.grad(loss)(w)
        assert np.all(np.abs(clipped) <= 1.0 + 1e-12), clipped


def test_staged_program_shows_the_call_and_the_rule_survives_caching():
    ir = fg.make_ir(FG.sin3)(X)
    assert "custom_jvp_call" in str(ir)
    f = fg.jit(lambda x: fnp.sum(FG.sin3(x)))
    for _ in range(2):  # the second call hits the compiled cache
        _close(fg.grad(f)(X), 3.0 * np.cos(X))


def test_closure_over_a_traced_value():
    def f(w, x):  # the function and its rule close over w, a value traced by vmap
        g = fg.custom_jvp(lambda x: fnp.sin(x) * w)
        g.defjvp(lambda p, t: (g(p[0]), 3.0 * fnp.cos(p[0]) * w * t[0]))
        return fnp.sum(g(x))

    def fj(w, x):
        g = jax.custom_jvp(lambda x: jnp.sin(x) * w)
        g.defjvp(lambda p, t: (g(p[0]), 3.0 * jnp.cos(p[0]) * w * t[0]))
        return jnp.sum(g(x))

    ws = np.array([1.5, -0.5])
    _close(fg.vmap(fg.grad(f, 1), (0, None))(ws, X), jax.vmap(jax.grad(fj, 1), (0, None))(ws, X))
    _close(fg.grad(f, 1)(1.5, X), jax.grad(fj, 1)(1.5, X))


# --- a property: random compositions of transforms around a custom rule --------------------------

_LAYERS = ["vmap", "jit", "checkpoint", "fori", "cond", "scan"]


def _compose(L, which, layers):
    h = getattr(L, which)
    for name in layers:  # h stays shape-preserving, so layers nest freely
        if name == "scan":  # one step over a leading axis: h sees the whole value
            h = (lambda h: lambda x: h(x) * 0.5)(h) if L is JX else (lambda h: lambda x: L.lax.scan(
                lambda c, xi: (c, h(xi) * c), 0.5, x.reshape(1, *x.shape))[1].reshape(x.shape))(h)
        else:
            h = UNROLLED[name](h) if L is JX and name in UNROLLED else WRAPS[name](L, h)
    return h


@settings(max_examples=15, deadline=None)
@given(layers=st.lists(st.sampled_from(_LAYERS), min_size=1, max_size=3),
       which=st.sampled_from(["sin3", "clipped"]),
       outer=st.sampled_from(["grad", "jacrev", "hessian", "jvp"]))
def test_random_compositions_keep_the_rule(layers, which, outer):
    if outer == "jvp" and which == "clipped":
        outer = "jacrev"
    if "vmap" in layers:  # vmap maps scalars: innermost, once
        layers = ["vmap", *[name for name in layers if name != "vmap"]]
    h, hj = _compose(FG, which, layers), _compose(JX, which, layers)
    if outer == "jvp":
        got, want = fg.jvp(h, (X,), (X,))[1], jax.jvp(hj, (X,), (X,))[1]
    elif outer == "jacrev":
        got, want = fg.jacrev(h)(X), jax.jacrev(hj)(X)
    else:
        fgf = getattr(fg, outer)
        got = fgf(lambda x: fnp.sum(h(x) ** 2))(X)
        want = getattr(jax, outer)(lambda x: jnp.sum(hj(x) ** 2))(X)
    _close(got, want)
