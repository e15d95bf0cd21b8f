"""funcgrad.scipy.integrate.odeint: values against scipy.integrate.odeint, gradients (adjoint
method) against JAX's odeint and finite differences, under jit and vmap, pytree states."""
from __future__ import annotations

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import FuncgradError
from funcgrad.scipy.integrate import odeint

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
from jax.experimental.ode import odeint as jax_odeint  # noqa: E402

scipy_integrate = pytest.importorskip("scipy.integrate")

T = np.linspace(0.0, 3.0, 6)
Y0 = np.array([1.0, 0.0])
THETA = np.array([0.8, 0.3])  # a damped oscillator: y'' = -w^2 y - c y'


def osc(y, t, theta, np_=fnp):
    w, c = theta[0], theta[1]
    return np_.stack([y[1], -w * w * y[0] - c * y[1] + 0.1 * np_.sin(t)])


def jax_osc(y, t, theta):
    return osc(y, t, theta, jax.numpy)


def test_values_match_scipy_odeint():
    got = odeint(osc, Y0, T, THETA)
    want = scipy_integrate.odeint(lambda y, t: osc(y, t, THETA, np), Y0, T, rtol=1e-10,
                                  atol=1e-10)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_gradients_match_jax_in_y0_t_and_args():
    def loss(y0, t, theta, solve=odeint, f=osc, np_=fnp):
        return np_.sum(solve(f, y0, t, theta) ** 2)
    got = fg.grad(loss, argnums=(0, 1, 2))(Y0, T, THETA)
    want = jax.grad(lambda *a: loss(*a, solve=jax_odeint, f=jax_osc, np_=jax.numpy),
                    argnums=(0, 1, 2))(Y0, T, THETA)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


def test_gradient_matches_finite_differences():
    fg.testing.check_grads(lambda y0, theta: odeint(osc, y0, T[:3], theta)[-1], (Y0, THETA),
                           order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


def test_jit_and_vmap():
    eager = odeint(osc, Y0, T, THETA)
    np.testing.assert_allclose(fg.jit(lambda y0, th: odeint(osc, y0, T, th))(Y0, THETA), eager,
                               rtol=1e-10)
    thetas = np.stack([THETA, THETA * 1.5])
    batched = fg.vmap(lambda th: odeint(osc, Y0, T, th))(thetas)
    np.testing.assert_allclose(batched[0], eager, rtol=1e-6)
    np.testing.assert_allclose(batched[1], odeint(osc, Y0, T, thetas[1]), rtol=1e-6)
    g = fg.jit(fg.grad(lambda th: fnp.sum(odeint(osc, Y0, T, th))))(THETA)
    np.testing.assert_allclose(g, fg.grad(lambda th: fnp.sum(odeint(osc, Y0, T, th)))(THETA),
                               rtol=1e-8)


def test_pytree_state():
    def f(s, t, k):
        return {"a": -k * s["a"], "b": s["a"] * fnp.ones(2)}
    out = odeint(f, {"a": 1.0, "b": np.zeros(2)}, T, 0.5)
    np.testing.assert_allclose(out["a"], np.exp(-0.5 * T), rtol=1e-7)
    np.testing.assert_allclose(out["b"][:, 1], (1 - np.exp(-0.5 * T)) / 0.5, rtol=1e-7)
    g = fg.grad(lambda k: out_sum(f, k))(0.5)
    np.testing.assert_allclose(g, -np.sum(T * np.exp(-0.5 * T)), rtol=1e-6)


def out_sum(f, k):
    return fnp.sum(odeint(f, {"a": 1.0, "b": np.zeros(2)}, T, k)["a"])


def test_integer_times_are_refused_with_a_fix():
    with pytest.raises(FuncgradError, match="float times"):
        odeint(osc, Y0, np.arange(3), THETA)


def test_without_extra_args():
    t = np.linspace(0.0, 1.0, 3)
    g = fg.grad(lambda y0: fnp.sum(odeint(lambda y, t: -y, y0, t)))(np.ones(2))
    np.testing.assert_allclose(g, np.full(2, np.sum(np.exp(-t))), rtol=1e-7)
