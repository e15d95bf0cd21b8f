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
