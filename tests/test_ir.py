"""The IR: golden text forms, the type checker, and the Graphviz picture."""
import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.avals import ShapedArray
from funcgrad.ir import Eqn, IRTypeError, OpenIR, Var, typecheck_ir
from funcgrad.primitives import add_p, sin_p


def test_golden_single_equation():
    ir = fg.make_ir(fnp.sin)(np.ones(3, np.float32))
    assert str(ir) == "{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }"


def test_golden_grad_tanh():
    ir = fg.make_ir(fg.grad(fnp.tanh))(1.0)
    assert str(ir) == (
        "{ lambda ; a:f64[]. let\n"
        "    b:f64[] = tanh a\n"
        "    c:f64[] = mul b b\n"
        "    d:f64[] = sub 1.0 c\n"
        "  in (d,) }")  # grad's unit seed is not multiplied in


def test_golden_broadcast_and_params():
    ir = fg.make_ir(lambda x, y: fnp.sum(x * y, axis=0))(np.ones((2, 3), np.float32),
                                                        np.ones(3, np.float32))
    assert str(ir) == (
        "{ lambda ; a:f32[2,3] b:f32[3]. let\n"
        "    c:f32[2,3] = broadcast_in_dim[shape=(2, 3) broadcast_dimensions=(1,)] b\n"
        "    d:f32[2,3] = mul a c\n"
        "    e:f32[3] = reduce_sum[axes=(0,)] d\n"
        "  in (e,) }")


def test_weak_scalar_keeps_float32():
    ir = fg.make_ir(lambda x: x * 2.0)(np.ones(2, np.float32))
    assert str(ir) == (
        "{ lambda ; a:f32[2]. let\n"
        "    b:f32[2] = broadcast_in_dim[shape=(2,) broadcast_dimensions=()] 2.0\n"
        "    c:f32[2] = mul a b\n"
        "  in (c,) }")
    assert ir.out_avals[0].dtype == np.float32


def test_array_constants_become_constvars():
    c = np.arange(3.0)
    ir = fg.make_ir(lambda x: x + c)(np.ones(3))
    assert str(ir) == "{ lambda a:f64[3] ; b:f64[3]. let c:f64[3] = add b a in (c,) }"
    assert ir.consts[0] is c


def test_multiple_outputs_and_pytrees():
    ir = fg.make_ir(lambda d: (d["a"] + 1.0, fnp.exp(d["b"])))({"a": 1.0, "b": 2.0})
    assert str(ir) == (
        "{ lambda ; a:f64[] b:f64[]. let\n"
        "    c:f64[] = add a 1.0\n"
        "    d:f64[] = exp b\n"
        "  in (c, d) }")


def test_golden_indexing():
    ir = fg.make_ir(lambda x: x[1:, np.array([0, 1])])(np.ones((3, 3)))
    assert str(ir) == (
        "{ lambda a:i64[2] ; b:f64[3,3]. let\n"
        "    c:f64[2,3] = slice[start_indices=(1, 0) limit_indices=(3, 3) strides=(1, 1)] b\n"
        "    d:f64[2,2] = gather[axes=(1,)] c a\n"
        "  in (d,) }")


def test_ir_is_callable_and_matches_eager(rng):
    f = lambda x: fnp.sum(fnp.tanh(x) ** 2)
    x = rng.normal(size=4)
    ir = fg.make_ir(f)(x)
    np.testing.assert_allclose(ir(x)[0], f(x))


def test_typecheck_rejects_bad_programs():
    a = Var(ShapedArray((3,), np.float64))
    b = Var(ShapedArray((4,), np.float64))
    with pytest.raises(IRTypeError, match="sin"):
        typecheck_ir(OpenIR([], [a], [Eqn(sin_p, [a], {}, [b])], [b]))
    unbound = Var(ShapedArray((3,), np.float64))
    c = Var(ShapedArray((3,), np.float64))
    with pytest.raises(IRTypeError, match="unbound"):
        typecheck_ir(OpenIR([], [a], [Eqn(add_p, [a, unbound], {}, [c])], [c]))
    with pytest.raises(Exception, match="equal shapes"):
        typecheck_ir(OpenIR([], [a, b], [Eqn(add_p, [a, b], {}, [c])], [c]))


def test_to_dot_dezero_style():
    dot = fg.make_ir(lambda x0, x1: x0 + x1)(1.0, 2.0).to_dot()
    assert dot.startswith("digraph g {")
    assert 'label="add", color=lightblue, style=filled, shape=box' in dot
    assert dot.count("color=orange, style=filled") == 3  # x0, x1, y
    verbose = fg.make_ir(fnp.sin)(np.ones((2, 3))).to_dot(verbose=True)
    assert "a: (2, 3) float64" in verbose


def test_to_dot_of_derivative_program():
    d = fg.grad(fg.grad(fnp.tanh))
    dot = fg.make_ir(d)(1.0).to_dot()
    assert dot.count("shape=box") == len(fg.make_ir(d)(1.0).eqns)
    assert "tanh" in dot
