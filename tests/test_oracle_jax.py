"""JAX as an oracle: every row of `PRIMITIVE_SPECS` against its `jax.numpy` twin.

Values, `grad` of the summed output, `jvp`, `vjp` and (for one-argument rows) the Hessian of the
summed output, all in float64 with rtol 1e-6.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
jnp = jax.numpy

import funcgrad as fg  # noqa: E402
import funcgrad.numpy as fnp  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from specs import PRIMITIVE_SPECS, Spec, restrict  # noqa: E402

RTOL, ATOL = 1e-6, 1e-9
ORACLE_SPECS = [s for s in PRIMITIVE_SPECS if s.jax_fn is not None]  # rows JAX has a twin of
BY_NAME = pytest.mark.parametrize("spec", ORACLE_SPECS, ids=[s.name for s in ORACLE_SPECS])


def _close(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != jax {want.shape}"
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=what)


def _close_tree(got, want, what):
    got_leaves, want_leaves = jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves), what
    for i, (g, w) in enumerate(zip(got_leaves, want_leaves)):
        _close(g, w, f"{what}[{i}]")


def _rand_like(rng, x):
    return rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype)


def _float_only(spec: Spec, seed: int):
    """The row's funcgrad and JAX functions of its float arguments (indices closed over)."""
    args = spec.draw(seed)
    f, float_args = restrict(spec.fn, args)
    f_j, _ = restrict(spec.jax_fn(jax, jnp), args)
    return f, f_j, float_args


def _summed(f, sum_fn):
    return lambda *a: sum_fn(f(*a))


@BY_NAME
def test_value(spec: Spec):
    args = spec.draw(0)
    got = spec.fn(*args)
    want = spec.jax_fn(jax, jnp)(*map(jnp.asarray, args))
    _close(got, want, "eager value")
    assert np.asarray(got).dtype == np.asarray(want).dtype


@BY_NAME
def test_grad(spec: Spec):
    f, f_j, args = _float_only(spec, 1)
    argnums = tuple(range(len(args)))
    got = fg.grad(_summed(f, fnp.sum), argnums=argnums)(*args)
    want = jax.grad(_summed(f_j, jnp.sum), argnums=argnums)(*args)
    _close_tree(got, want, "grad of sum(f)")


@BY_NAME
def test_jvp(spec: Spec):
    f, f_j, args = _float_only(spec, 2)
    rng = np.random.default_rng(2)
    tangents = tuple(_rand_like(rng, a) for a in args)
    y, t = fg.jvp(f, tuple(args), tangents)
    y_j, t_j = jax.jvp(f_j, tuple(args), tangents)
    _close(y, y_j, "jvp primal")
    _close(t, t_j, "jvp tangent")


@BY_NAME
def test_vjp(spec: Spec):
    f, f_j, args = _float_only(spec, 3)
    rng = np.random.default_rng(3)
    y, f_vjp = fg.vjp(f, *args)
    y_j, f_vjp_j = jax.vjp(f_j, *args)
    _close(y, y_j, "vjp primal")
    ct = _rand_like(rng, y)
    _close_tree(f_vjp(ct), f_vjp_j(ct), "vjp cotangent")


UNARY_SMALL = [s for s in ORACLE_SPECS if s.nargs == 1 and np.prod(s.example[0]) <= 6]


@pytest.mark.parametrize("spec", UNARY_SMALL, ids=[s.name for s in UNARY_SMALL])
def test_hessian(spec: Spec):
    (x,) = spec.draw(4, dtype=np.float64)
    got = fg.hessian(_summed(spec.fn, fnp.sum))(x)
    want = jax.hessian(_summed(spec.jax_fn(jax, jnp), jnp.sum))(x)
    _close(got, want, "hessian of sum(f)")


def test_eighth_derivative_of_tanh():
    f, f_j = fnp.tanh, jnp.tanh
    for _ in range(8):
        f, f_j = fg.grad(f), jax.grad(f_j)
    got, want = f(1.0), f_j(1.0)
    np.testing.assert_allclose(got, want, rtol=RTOL)
    assert abs(float(want)) > 1.0  # a non-trivial value (about 38.6)


def test_hessian_of_quartic():
    x = np.arange(3.0)
    got = fg.hessian(lambda x: fnp.sum(x ** 4))(x)
    want = jax.hessian(lambda x: jnp.sum(x ** 4))(x)
    _close(got, want, "hessian of sum(x**4)")
    _close(got, np.diag(12 * x ** 2), "hessian of sum(x**4), closed form")
