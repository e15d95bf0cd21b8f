"""Eager higher derivatives stage no needless work: no product with grad's unit seed, and a
square's tangent is one product doubled. The values stay those of JAX."""
import jax
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.ir import Lit

jax.config.update("jax_enable_x64", True)


def _nested(f, n, grad=fg.grad):
    for _ in range(n):
        f = grad(f)
    return f


def _muls(closed):
    return [e for e in closed.open.eqns if e.prim.name == "mul"]


def test_no_product_with_the_unit_seed():
    ir = fg.make_ir(_nested(fnp.tanh, 3))(0.5)
    for e in _muls(ir):
        assert not any(type(a) is Lit and np.all(a.val == 1) for a in e.inputs), e


def test_square_tangent_is_one_product_doubled():
    ir = fg.make_ir(lambda x, t: fg.jvp(lambda y: y * y, (x,), (t,))[1])(3.0, 1.0)
    assert [e.prim.name for e in ir.open.eqns] == ["mul", "add"]
    assert float(np.asarray(ir(3.0, 0.5)).reshape(-1)[0]) == 3.0


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 6])
def test_tanh_derivatives_match_jax(order):
    want = float(_nested(jax.numpy.tanh, order, jax.grad)(0.5))
    got = float(_nested(fnp.tanh, order)(0.5))
    assert got == pytest.approx(want, rel=1e-13, abs=1e-13)


def test_seed_skip_keeps_shape_and_dtype():
    x = np.arange(3.0, dtype=np.float32)
    g = fg.grad(lambda v: fnp.sum(v * 2.0))(x)
    assert g.dtype == np.float32 and g.shape == (3,)
    np.testing.assert_array_equal(g, np.full(3, 2.0, np.float32))
    assert float(fg.grad(lambda v: v * 1.0)(np.float32(2.0))) == 1.0
