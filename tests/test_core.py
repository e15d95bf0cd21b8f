"""Trace machinery and the autodiff API: nesting, perturbation confusion, Python control flow
on concrete tracers, pytrees, custom rules, and errors that teach."""
import math
from collections import namedtuple

import numpy as np
import pytest

import funcgrad as fg
import funcgrad.numpy as fnp
from funcgrad.core import FuncgradError

# --- derivatives of any order ---------------------------------------------------------------

def test_eighth_derivative_of_tanh_matches_closed_form():
    # d^n/dx^n tanh via the polynomial recurrence in y = tanh(x): P_{n+1} = P_n' * (1 - y^2)
    poly = np.polynomial.Polynomial([0, 1])
    for _ in range(8):
        poly = poly.deriv() * np.polynomial.Polynomial([1, 0, -1])
    d = fnp.tanh
    for _ in range(8):
        d = fg.grad(d)
    np.testing.assert_allclose(d(1.0), poly(np.tanh(1.0)), rtol=1e-12)


def test_grad_returns_numpy_arrays():
    g = fg.grad(lambda x: fnp.sum(fnp.sin(x)))(np.ones(3))
    assert type(g) is np.ndarray and g.flags.writeable
    assert type(fg.grad(fnp.sin)(1.0)) is np.ndarray


def test_dtypes_follow_numpy():
    x32 = np.ones(3, np.float32)
    assert fg.grad(lambda x: fnp.sum(x * 2.0))(x32).dtype == np.float32
    assert fg.grad(lambda x: fnp.sum(x ** 2))(np.ones(3)).dtype == np.float64
    y, t = fg.jvp(lambda x: x * 2.0, (x32,), (x32,))
    assert y.dtype == np.float32 and t.dtype == np.float32


def test_no_perturbation_confusion():
    f = lambda x: x * fg.grad(lambda y: x * y)(1.0)
    assert fg.grad(f)(2.0) == 4.0
    # the classic Siskind–Pearlmutter example: d/dx (x * d/dy (x + y)) = 1
    assert fg.grad(lambda x: x * fg.grad(lambda y: x + y)(1.0))(3.0) == 1.0


def test_newton_second_derivative_regression():
    f = lambda x: x ** 4 - 2 * x ** 2
    assert fg.grad(fg.grad(f))(2.0) == 44.0  # DeZero S33: 68 is the stateful bug


def test_python_control_flow_on_concrete_tracers():
    def taylor_sin(x, threshold=1e-4):
        y = 0.0
        for i in range(100000):
            t = (-1) ** i * x ** (2 * i + 1) / math.factorial(2 * i + 1)
            y = y + t
            if abs(t) < threshold:
                break
        return y
    y, g = fg.value_and_grad(taylor_sin)(np.pi / 4)
    assert float(y) == 0.7071064695751781
    assert float(g) == 0.7071032148228457


def test_value_and_grad_argnums_and_aux():
    f = lambda x, y: (fnp.sum(x * y), {"prod": x * y})
    (v, aux), (gx, gy) = fg.value_and_grad(f, argnums=(0, 1), has_aux=True)(
        np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    assert v == 11.0
    np.testing.assert_array_equal(aux["prod"], [3.0, 8.0])
    np.testing.assert_array_equal(gx, [3.0, 4.0])
    np.testing.assert_array_equal(gy, [1.0, 2.0])
    g, aux = fg.grad(f, has_aux=True)(np.array([1.0]), np.array([2.0]))
    np.testing.assert_array_equal(g, [2.0])


def test_pytree_arguments():
    Point = namedtuple("Point", "x y")
    params = {"w": np.array([1.0, 2.0]), "layers": [Point(np.array(3.0), None)]}
    loss = lambda p: fnp.sum(p["w"] ** 2) + p["layers"][0].x ** 3
    g = fg.grad(loss)(params)
    np.testing.assert_array_equal(g["w"], [2.0, 4.0])
    assert g["layers"][0].x == 27.0 and g["layers"][0].y is None


def test_jvp_vjp_linearize_agree(rng):
    f = lambda x: fnp.sin(x) * fnp.exp(x[::-1])
    x, v = rng.normal(size=4), rng.normal(size=4)
    y, t = fg.jvp(f, (x,), (v,))
    y2, f_lin = fg.linearize(f, x)
    np.testing.assert_allclose(f_lin(v), t, rtol=1e-12)
    y3, f_vjp = fg.vjp(f, x)
    J = fg.jacfwd(f)(x)
    np.testing.assert_allclose(J, fg.jacrev(f)(x), rtol=1e-12)
    np.testing.assert_allclose(f_vjp(v)[0], J.T @ v, rtol=1e-12)
    np.testing.assert_allclose(t, J @ v, rtol=1e-12)


def test_hessian_and_hvp():
    np.testing.assert_array_equal(fg.hessian(lambda x: fnp.sum(x ** 4))(np.arange(3.0)),
                                  np.diag([0.0, 12.0, 48.0]))
    f = lambda x: fnp.sum(x ** 2)
    hvp = fg.jvp(fg.grad(f), (np.array([1.0, 2.0]),), (np.array([4.0, 5.0]),))[1]
    np.testing.assert_array_equal(hvp, [8.0, 10.0])


def test_stop_gradient():
    f = lambda x: x * fg.stop_gradient(x)
    assert fg.grad(f)(3.0) == 3.0


def test_custom_jvp():
    @fg.custom_jvp
    def safe_log1pexp(x):
        return fnp.log1p(fnp.exp(x))

    @safe_log1pexp.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return safe_log1pexp(x), t * fnp.logistic(x)

    assert fg.grad(safe_log1pexp)(1000.0) == 1.0  # the naive rule gives nan
    np.testing.assert_allclose(fg.grad(fg.grad(safe_log1pexp))(0.0), 0.25)


def test_custom_vjp():
    @fg.custom_vjp
    def clip_grad(x):
        return x

    clip_grad.defvjp(lambda x: (x, None), lambda res, g: (fnp.clip(g, -1.0, 1.0),))
    assert fg.grad(lambda x: 10.0 * clip_grad(x))(2.0) == 1.0
    with pytest.raises(FuncgradError, match="forward mode"):
        fg.jvp(clip_grad, (1.0,), (1.0,))
    with pytest.raises(FuncgradError, match="forward mode"):
        fg.jacfwd(lambda x: 2.0 * clip_grad(x))(np.ones(2))


# --- errors that teach ------------------------------------------------------------------------

def test_error_grad_of_non_scalar():
    with pytest.raises(FuncgradError) as e:
        fg.grad(fnp.sin)(np.ones(3))
    msg = str(e.value)
    assert "scalar" in msg and "f64[3]" in msg and "jacrev" in msg and "test_core.py" in msg


def test_error_grad_of_integer_input():
    with pytest.raises(FuncgradError) as e:
        fg.grad(lambda x: x * 2.0)(3)
    assert "int64" in str(e.value) and "1.0" in str(e.value) and "test_core.py" in str(e.value)


def test_error_argnums_out_of_range():
    with pytest.raises(FuncgradError, match="argnums=2 is out of range"):
        fg.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0)


def test_error_shape_mismatch_names_shapes_and_line():
    with pytest.raises(FuncgradError) as e:
        fg.grad(lambda x: fnp.sum(x + np.ones(4)))(np.ones(3))
    msg = str(e.value)
    assert "(3,)" in msg and "(4,)" in msg and "test_core.py" in msg and "broadcast" in msg


def test_error_item_assignment_points_to_at():
    def f(x):
        x[0] = 1.0
        return fnp.sum(x)
    with pytest.raises(TypeError) as e:
        fg.grad(f)(np.ones(3))
    assert "fnp.at(x)[idx].set(v)" in str(e.value) and "x[0] = 1.0" in str(e.value)


def test_error_bool_of_staged_value_teaches():
    def f(x):
        if x > 0:
            return x
        return -x
    with pytest.raises(fg.ConcretizationError) as e:
        fg.make_ir(f)(1.0)
    msg = str(e.value)
    assert "fg.cond" in msg and "fnp.where" in msg and "static_argnums" in msg
    assert "if x > 0:" in msg
    with pytest.raises(fg.ConcretizationError):
        fg.make_ir(lambda x: float(x))(1.0)
    with pytest.raises(fg.ConcretizationError):
        fg.make_ir(lambda x: np.asarray(x))(1.0)


def test_bool_under_eager_grad_works():
    f = lambda x: x if x > 0 else -x
    assert fg.grad(f)(-2.0) == -1.0


def test_escaped_tracer_is_reported():
    leaked = []

    def f(x):
        leaked.append(x)
        return x * 2.0
    fg.grad(f)(1.0)
    with pytest.raises(FuncgradError, match="escaped tracer"):
        fg.grad(lambda y: y * leaked[0])(1.0)


def test_at_updates_functional(rng):
    x = np.zeros(4)
    y = fnp.at(x)[1:3].set(5.0)
    np.testing.assert_array_equal(y, [0, 5, 5, 0])
    np.testing.assert_array_equal(x, 0)  # untouched
    g = fg.grad(lambda x: fnp.sum(fnp.at(x)[np.array([0, 0, 2])].add(x[1]) ** 2))(np.ones(4))
    # out = [1+2a, a, 1+a, 1] with a=x1 ... check against finite differences
    fg.testing.check_grads(lambda x: fnp.at(x)[np.array([0, 0, 2])].add(x[1] ** 2),
                           (rng.normal(size=4),))
    assert g.shape == (4,)
    tr = fg.grad(lambda x: fnp.sum(x.at[0].mul(3.0)))(np.ones(2))
    np.testing.assert_array_equal(tr, [3.0, 1.0])


def test_custom_vjp_bwd_with_a_wrong_shape_is_a_clear_error():
    c = fg.custom_vjp(lambda x: x * 2)
    c.defvjp(lambda x: (x * 2, None), lambda r, g: (fnp.ones(5),))
    with pytest.raises(fg.FuncgradError, match=r"shape \(5,\) for input leaf 0 of shape \(3,\)"):
        fg.grad(lambda x: fnp.sum(c(x)))(np.ones(3))


def test_vmap_out_axes_out_of_range_is_an_error():
    with pytest.raises(fg.FuncgradError, match="out_axes=3 is out of range"):
        fg.vmap(lambda x: x * 2, out_axes=3)(np.ones((2, 3)))
    assert fg.vmap(lambda x: x * 2, out_axes=-1)(np.ones((2, 3))).shape == (3, 2)


@pytest.mark.parametrize("f, x", [
    (lambda a: math.sin(a), 1.0),
    (lambda a: fnp.sum(np.asarray(a) * a), np.ones(2)),
    (lambda a: a[0].item() * a[0], np.array([1.0, 2.0])),
    (lambda a: a * complex(a).real, 2.0),
], ids=["math.sin", "np.asarray", "item", "complex"])
def test_converting_a_differentiated_value_to_a_number_is_refused(f, x):
    # it used to return the primal silently, so the derivative through it was lost
    with pytest.raises(fg.ConcretizationError, match="would silently drop its derivative"):
        fg.grad(f)(x)
    with pytest.raises(fg.ConcretizationError):
        fg.grad(fg.grad(lambda a: a * float(a) ** 2))(2.0)


def test_stop_gradient_bool_and_int_still_give_numbers():
    assert fg.grad(lambda a: a * float(fg.stop_gradient(a)) ** 2)(2.0) == 4.0
    assert fg.grad(lambda a: a * 2.0 if a > 0 else -a)(3.0) == 2.0
    assert fg.grad(lambda a: a * int(a))(3.0) == 3.0


def test_numpy_ufuncs_on_traced_values_run_as_fnp():
    np.testing.assert_allclose(fg.grad(lambda a: np.sin(a))(1.0), np.cos(1.0))
    np.testing.assert_allclose(fg.grad(lambda a: fnp.sum(np.arange(3.0) * a))(2.0), 3.0)
    np.testing.assert_allclose(fg.jit(lambda a: np.exp(a) + np.ones(2))(np.zeros(2)), [2.0, 2.0])
    with pytest.raises(TypeError, match="numpy.add.reduce cannot take a traced value"):
        fg.grad(lambda a: np.add.reduce(a))(np.ones(2))


@pytest.mark.parametrize("f", [
    lambda a: fnp.sum(fnp.stack([a, 2.0 * a])),
    lambda a: fnp.sum(a[None] * 3.0),
    lambda a: fnp.sum(fnp.moveaxis(fnp.stack([a, a]), 0, 0)),
    lambda a: fnp.sum(fnp.pad(fnp.expand_dims(a, 0), 1) * a),
], ids=["stack", "None-index", "moveaxis", "pad"])
def test_shape_ops_on_a_python_float_argument(f):
    # the primal of a Python float stays a float under grad/jvp: shape ops must accept it
    expected = (f(np.float64(2.0 + 1e-6)) - f(np.float64(2.0 - 1e-6))) / 2e-6
    np.testing.assert_allclose(fg.grad(f)(2.0), expected, rtol=1e-6)
    np.testing.assert_allclose(fg.jvp(f, (2.0,), (1.0,))[1], expected, rtol=1e-6)
    np.testing.assert_allclose(fg.jit(fg.grad(f))(2.0), expected, rtol=1e-6)


def test_numpy_functions_that_call_array_methods_accept_tracers():
    # numpy.sum(x) calls x.sum(axis=None, dtype=None, out=None): methods take keywords
    np.testing.assert_allclose(fg.grad(lambda a: np.sum(a ** 2))(np.arange(3.0)), [0.0, 2.0, 4.0])
    np.testing.assert_allclose(fg.grad(lambda a: np.mean(a, axis=0).sum())(np.ones((2, 2))),
                               np.full((2, 2), 0.5))
    np.testing.assert_allclose(fg.grad(lambda a: a.sum(axis=0, keepdims=True).sum())(
        np.ones((2, 2))), np.ones((2, 2)))


def test_stack_and_concatenate_of_nested_lists_of_traced_values():
    np.testing.assert_allclose(fg.grad(lambda a: fnp.sum(fnp.stack([[a, 2 * a]])))(1.0), 3.0)
    np.testing.assert_allclose(
        fg.grad(lambda a: fnp.sum(fnp.concatenate([[a], [3 * a, 1.0]])))(1.0), 4.0)


def test_shape_errors_while_staging_name_the_users_line():
    def f(a, b):
        return fnp.concatenate([a, b], axis=1)  # the line the error must point at

    with pytest.raises(fg.FuncgradError, match=r"concatenate: incompatible operands f64\[2,3\], "
                       r"f64\[3,3\].*test_core.py:\d+ \(in f\)"):
        fg.jit(f)(np.ones((2, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"dot_general: cannot contract.*test_core.py"):
        fg.make_ir(lambda a, b: fnp.einsum("ij,jk->ik", a, b))(np.ones((2, 3)), np.ones((2, 3)))
