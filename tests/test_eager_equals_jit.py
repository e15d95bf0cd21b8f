"""Eager and jit agree (issue 13, item 5): the user function runs once per jacfwd/hessian call."""
from __future__ import annotations

import numpy as np

import funcgrad as fg
import funcgrad.numpy as fnp


def test_jacfwd_and_hessian_call_the_function_once():
    calls = []

    def f(x):
        calls.append(1)
        return fnp.sin(x) * x

    x = np.array([0.5, -1.0, 2.0])
    jac = fg.jacfwd(f)(x)
    assert len(calls) == 1
    np.testing.assert_allclose(jac, np.diag(np.cos(x) * x + np.sin(x)))
    calls.clear()
    h = fg.hessian(lambda x: fnp.sum(f(x)))(x)
    assert len(calls) == 1
    np.testing.assert_allclose(h, np.diag(2 * np.cos(x) - x * np.sin(x)), atol=1e-12)


def test_python_scalar_arguments_stay_weak_under_jit():
    # a Python scalar argument is weakly typed: arithmetic with other Python scalars keeps it weak,
    # so it takes the array's dtype (float32 here), eagerly, under jit and in JAX alike
    import jax
    y32, i32 = np.ones(3, np.float32), np.ones(3, np.int32)
    cases = [(lambda x, y: x * 2 + y, 0.7, y32), (lambda x, y: (x + 1) * y, 0.7, y32),
             (lambda x, y: x * 2 + y, 1, i32), (lambda x, y: x * 2.5 + y, 1, y32),
             (lambda x, y: (x - 1j) * y, 2.0, y32.astype(np.complex64))]
    for f, x, y in cases:
        want = jax.jit(f)(x, y).dtype
        assert f(x, y).dtype == fg.jit(f)(x, y).dtype == want, (x, y.dtype, want)
        np.testing.assert_allclose(fg.jit(f)(x, y), f(x, y), rtol=1e-6)
