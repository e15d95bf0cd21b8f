"""Eager higher derivatives stage no needless work: no product with grad's unit seed, and a
square's tangent is one product doubled. The values stay those of JAX, and the cheap path for
float-scalar arithmetic gives the ufunc's results."""
import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.ir import Lit
from funcgrad.primitives import ops

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


# Eager arithmetic on two NumPy float scalars of one type runs the Python operator instead of the
# ufunc (ten times cheaper): the results must be the ufunc's, bit for bit and in type, including
# infinities, NaNs and signed zeros; anything else still runs the ufunc.
_FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0.0, -0.0, 1e308, -1e-320, 5e-324]))
_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(_BINARY))
@settings(max_examples=60, deadline=None)
@given(a=_FLOATS, b=_FLOATS)
def test_float_scalar_arithmetic_equals_the_ufunc(dtype, name, a, b):
    prim = getattr(ops, f"{name}_p")
    with np.errstate(all="ignore"):
        x, y = dtype(a), dtype(b)
        got, want = prim.bind1(x, y), _BINARY[name](x, y)
        neg, want_neg = ops.neg_p.bind1(x), np.negative(x)
    for g, w in ((got, want), (neg, want_neg)):
        assert type(g) is type(w) is dtype
        assert np.array_equal(g, w, equal_nan=True) and np.signbit(g) == np.signbit(w)


@pytest.mark.parametrize("x, y", [(np.float32(1.5), np.float64(2.0)), (np.float64(1.5), 2.0),
                                  (np.array(1.5), np.float64(2.0)),
                                  (np.float16(1.5), np.float16(2)),
                                  (np.ones(3, np.float32), np.float32(2.0))])
def test_other_operands_keep_the_ufunc_result_types(x, y):
    for name, ufunc in _BINARY.items():
        got, want = getattr(ops, f"{name}_p").bind1(x, y), ufunc(x, y)
        assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("op", [fnp.add, fnp.subtract, fnp.multiply, fnp.true_divide,
                                fnp.maximum, fnp.arctan2])
@pytest.mark.parametrize("weak_first", [True, False])
def test_a_weak_and_a_strong_tracer_of_one_dtype_join_without_a_conversion(op, weak_first):
    # A Python-float argument is weak; a value computed from it under jvp is strong (its aval
    # comes from a NumPy scalar). Together they take the strong operand's dtype, as NumPy does,
    # with no convert_element_type staged for either.
    def f(x):
        s = fnp.astype(x, np.float64)  # strong f64
        return op(x, s) if weak_first else op(s, x)
    ir = fg.make_ir(f)(0.7)
    (aval,) = ir.out_avals
    assert aval.dtype == np.float64 and not aval.weak_type
    assert [e.prim.name for e in ir.eqns].count("convert_element_type") == 1  # astype's own
    out, tangent = fg.jvp(lambda x: op(x, fnp.sin(x)) if weak_first else op(fnp.sin(x), x),
                          (0.7,), (1.0,))
    jop = getattr(jax.numpy, op.__name__)
    want, want_t = jax.jvp(lambda x: jop(x, jax.numpy.sin(x)) if weak_first else
                           jop(jax.numpy.sin(x), x), (0.7,), (1.0,))
    np.testing.assert_allclose(out, want, rtol=1e-14)
    np.testing.assert_allclose(tangent, want_t, rtol=1e-14)
    assert out.dtype == np.float64
