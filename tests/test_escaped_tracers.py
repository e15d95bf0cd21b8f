"""An escaped tracer (a traced value kept past the end of its transform) is an
EscapedTracerError wherever it is used, naming the transform, where it was applied, and the line
using it; before, arithmetic on it silently returned more tracers."""
from __future__ import annotations

import os

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import EscapedTracerError

HERE = os.path.basename(__file__)
LEAK: list = []


def leaky(x):
    y = fnp.sin(x)
    LEAK.append(y)
    return fnp.sum(y)


TRANSFORMS = {
    "grad": lambda: fg.grad(leaky)(np.ones(3)),  # APPLIED
    "jit": lambda: fg.jit(lambda x: leaky(x))(np.ones(3)),  # APPLIED (a new function: no cache)
    "vmap": lambda: fg.vmap(leaky)(np.ones((2, 3))),  # APPLIED
    "jvp": lambda: fg.jvp(leaky, (np.ones(3),), (np.ones(3),)),  # APPLIED
    "make_ir": lambda: fg.make_ir(leaky)(np.ones(3)),  # APPLIED
}
USES = {
    "arithmetic": lambda t: t * 2.0,  # USE
    "fnp": lambda t: fnp.exp(t),  # USE
    "float": lambda t: float(t[0]),  # USE
    "asarray": lambda t: np.asarray(t),  # USE
    "bool": lambda t: bool(t[0] > 0),  # USE
    "method": lambda t: t.sum(),  # USE
}


@pytest.mark.parametrize("use", list(USES))
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_using_an_escaped_tracer_names_the_transform_and_both_lines(transform, use):
    LEAK.clear()
    TRANSFORMS[transform]()
    (leaked,) = LEAK
    with pytest.raises(EscapedTracerError) as info:
        USES[use](leaked)
    msg = str(info.value)
    assert f"from `{transform}`" in msg, msg
    assert "escaped tracer" in msg
    lines = msg.splitlines()
    used = next(i for i, line in enumerate(lines) if "finished, at" in line)
    assert HERE in lines[used] and "# USE" in lines[used], msg  # the line using it
    applied = lines[lines.index(next(x for x in lines if "applied at" in x)) + 1]
    assert HERE in applied and "# APPLIED" in applied, msg  # where the transform was applied
    assert "Return the value from the function" in msg  # the fix


def test_inner_values_of_a_live_outer_transform_are_fine():
    # closing over a tracer of a transform that is still running is not an escape
    def outer(x):
        return fg.grad(lambda y: fnp.sin(x * y))(2.0)
    np.testing.assert_allclose(fg.grad(outer)(0.5), np.cos(1.0) - 2 * 0.5 * np.sin(1.0))


LIVE = {
    "grad": lambda f: fg.grad(lambda x: fnp.sum(f(x)))(np.ones(3)),
    "jit": lambda f: fg.jit(lambda x: f(x))(np.ones(3)),
    "vmap": lambda f: fg.vmap(f)(np.ones((2, 3))),
    "jvp": lambda f: fg.jvp(f, (np.ones(3),), (np.ones(3),)),
    "make_ir": lambda f: fg.make_ir(f)(np.ones(3)),
}


@pytest.mark.parametrize("live", list(LIVE))
@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_an_escaped_tracer_as_an_operand_inside_a_running_transform(transform, live):
    # a running transform reads operands from below it unboxed: an escaped tracer among them is
    # still named, whichever of the two transforms sits higher on the trace stack
    LEAK.clear()
    TRANSFORMS[transform]()
    (leaked,) = LEAK
    with pytest.raises(EscapedTracerError, match=f"from `{transform}`"):
        LIVE[live](lambda x: x * leaked)
    with pytest.raises(EscapedTracerError, match=f"from `{transform}`"):
        LIVE[live](lambda x: leaked + x)
