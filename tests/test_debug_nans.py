"""`fg.debug_nans`: the first NaN, forward or backward, is reported with the user's line."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad import core


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield
    assert core.DEBUG_NANS[0] is False  # every test leaves the switch off


def test_off_by_default_nan_flows_through():
    assert np.isnan(fnp.log(-1.0))
    assert np.isnan(fg.grad(lambda x: fnp.sqrt(x - x) * x)(2.0))


def test_forward_nan_names_primitive_and_line():
    with fg.debug_nans():
        with pytest.raises(FloatingPointError) as e:
            fnp.log(np.array([1.0, -1.0]))  # the line the message must name
    msg = str(e.value)
    assert "`log` produced NaN" in msg and "float64[2]" in msg
    assert "test_debug_nans.py" in msg and "fnp.log(np.array([1.0, -1.0]))" in msg


def test_nan_inside_grad_forward_pass():
    def f(x):
        return fnp.sum(fnp.sqrt(x))
    with fg.debug_nans(), pytest.raises(FloatingPointError, match="`sqrt` produced NaN"):
        fg.grad(f)(np.array([1.0, -4.0]))


def test_backward_nan_names_the_forward_line():
    def f(x):
        y = fnp.sqrt(x - x)  # forward 0.0, but its derivative is inf, and inf - inf = NaN
        return x * y
    with fg.debug_nans(), pytest.raises(FloatingPointError) as e:
        fg.grad(f)(2.0)
    msg = str(e.value)
    assert "in reverse mode, while differentiating the operation created at" in msg
    assert "y = fnp.sqrt(x - x)" in msg


def test_switch_form_and_restoring():
    fg.debug_nans(True)
    try:
        assert core.DEBUG_NANS[0]
        with fg.debug_nans(False):
            assert np.isnan(fnp.log(-1.0))
        assert core.DEBUG_NANS[0]
        with pytest.raises(FloatingPointError):
            fnp.log(-1.0)
    finally:
        fg.debug_nans(False)


def test_clean_computations_are_unaffected():
    with fg.debug_nans():
        g = fg.grad(lambda x: fnp.sum(fnp.tanh(x) ** 2))(np.linspace(-1, 1, 5))
    np.testing.assert_allclose(g, 2 * np.tanh(np.linspace(-1, 1, 5)) /
                               np.cosh(np.linspace(-1, 1, 5)) ** 2, rtol=1e-12)


def test_jitted_functions_run_op_by_op_while_debugging():
    @fg.jit
    def f(x):
        return fnp.log(x) * 2.0

    assert np.isnan(f(np.array([-1.0]))[0])  # compiled: no check
    with fg.debug_nans(), pytest.raises(FloatingPointError) as e:
        f(np.array([-1.0]))
    assert "return fnp.log(x) * 2.0" in str(e.value)
