"""Composition stress test: every nesting (depth ≤ 3) of grad, jvp, vjp and vmap agrees with
closed-form derivatives of a scalar function, applied elementwise."""
import itertools

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp


def f(x):
    return fnp.sin(x) * fnp.exp(0.5 * x)


def df(x, n):
    # d^n/dx^n sin(x) e^{x/2} = Im[(1/2 + i)^n e^{(1/2 + i) x}]
    return np.imag((0.5 + 1j) ** n * np.exp((0.5 + 1j) * x))


def as_grad(g):
    return fg.grad(g)


def as_jvp(g):
    return lambda x: fg.jvp(g, (x,), (fnp.ones_like(x),))[1]


def as_vjp(g):
    return lambda x: fg.vjp(g, x)[1](fnp.ones_like(x))[0]


def as_vmap(g):  # not a derivative: batch a scalar function over a leading axis and back
    return lambda x: fg.vmap(g)(fnp.reshape(x, (1,)))[0]


TRANSFORMS = {"grad": as_grad, "jvp": as_jvp, "vjp": as_vjp, "vmap": as_vmap}


@pytest.mark.parametrize("names", [c for n in (1, 2, 3)
                                   for c in itertools.product(TRANSFORMS, repeat=n)],
                         ids=lambda c: "∘".join(c))
def test_nesting(names):
    g = f
    for name in names:
        g = TRANSFORMS[name](g)
    order = sum(1 for n in names if n != "vmap")
    for x in (0.3, -1.2):
        np.testing.assert_allclose(g(x), df(x, order), rtol=1e-10, atol=1e-12)


def test_vmap_of_grad_and_grad_of_vmap(rng):
    loss = lambda w, x, t: (fnp.tanh(x @ w) - t) ** 2
    w, xs, ts = rng.normal(size=3), rng.normal(size=(6, 3)), rng.normal(size=6)
    per_ex = fg.vmap(fg.grad(loss), in_axes=(None, 0, 0))(w, xs, ts)
    loop = np.stack([fg.grad(loss)(w, x, t) for x, t in zip(xs, ts)])
    np.testing.assert_allclose(per_ex, loop, rtol=1e-12)
    total = fg.grad(lambda w: fnp.sum(fg.vmap(loss, in_axes=(None, 0, 0))(w, xs, ts)))(w)
    np.testing.assert_allclose(total, loop.sum(0), rtol=1e-12)


def test_jacobians_via_vmap_match_loops(rng):
    f = lambda x: fnp.tanh(x[:, None] * x[None, :]).sum(1)
    x = rng.normal(size=4)
    rows = np.stack([fg.grad(lambda x, i=i: f(x)[i])(x) for i in range(4)])
    np.testing.assert_allclose(fg.jacrev(f)(x), rows, rtol=1e-12)
    np.testing.assert_allclose(fg.jacfwd(f)(x), rows, rtol=1e-12)
    H = fg.hessian(lambda x: fnp.sum(f(x) ** 2))(x)
    np.testing.assert_allclose(H, H.T, rtol=1e-10)
