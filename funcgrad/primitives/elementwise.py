"""Elementwise primitives. One block each: impl, abstract eval, jvp, transpose (if linear),
batching, the NumPy lowering (the ufunc itself) and the C expression used by the fused GPU
kernels ({0}, {1} are the operands).
"""
from __future__ import annotations

import operator

import numpy as np

from ..avals import ShapedArray, real_dtype
from ..backend import device_of, is_gpu_array
from ..backend.cupy_backend import to_device
from ..backend.fusion import C_TYPES, register_c_expr
from ..backend.native import ctor, register_native
from ..backend.numpy_codegen import register_emitter, ufunc_emitter
from ..core import (
    NOT_APPLICABLE,
    Primitive,
    UndefPrimal,
    Zero,
    get_aval_of,
    is_undefined_primal,
)
from .batching import broadcasting_batcher
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import (
    ShapeError,
    binop_abstract_eval_for,
    compare_abstract_eval_for,
    defjvp,
    deflinear,
    deftranspose,
    defzero_jvp,
    full_like,
    instantiate,
    not_linear,
    same_shape_dtype,
    unop_abstract_eval,
    xp_of,
)

# Arithmetic on two NumPy float scalars of one type: the Python operator gives the ufunc's IEEE
# result without its array machinery (~0.06 vs ~0.6 us a call), which is most of the cost of
# an operation in eager higher derivatives of scalar functions.
_SCALAR_OPS = {np.add: operator.add, np.subtract: operator.sub, np.multiply: operator.mul,
               np.true_divide: operator.truediv}
_NP_FLOATS = frozenset((np.float64, np.float32))


def _impl_of(np_fn):
    op = _SCALAR_OPS.get(np_fn)
    if op is not None:
        return lambda x, y: op(x, y) if type(x) is type(y) in _NP_FLOATS else np_fn(x, y)
    if np_fn is np.negative:
        return lambda x: -x if type(x) in _NP_FLOATS else np_fn(x)
    return np_fn


def _lowered(prim: Primitive, np_fn, c_expr, abstract_eval, *jvps) -> None:
    """impl = the NumPy function itself (no wrapper call per application; float scalars: its
    operator), broadcasting batching, the ufunc as the NumPy lowering, and the C expression (if
    fusible); with `jvps` (one per argument, as for defjvp), a non-linear primitive's
    derivative."""
    prim.impl, prim.abstract_eval = _impl_of(np_fn), abstract_eval
    prim.batch = broadcasting_batcher(prim)
    if isinstance(np_fn, np.ufunc):
        register_emitter(prim, ufunc_emitter(np_fn), broadcasts_from=0)
        register_native(prim, np_fn)
    register_c_expr(prim, c_expr or NOT_APPLICABLE)
    if jvps:
        defjvp(prim, *jvps)
        not_linear(prim)


def _unop(prim: Primitive, np_fn, c_expr, *jvps) -> None:
    _lowered(prim, np_fn, c_expr, unop_abstract_eval, *jvps)


def _binop(prim: Primitive, np_fn, c_expr, *jvps, compare: bool = False) -> None:
    _lowered(prim, np_fn, c_expr,
             (compare_abstract_eval_for if compare else binop_abstract_eval_for)(prim.name), *jvps)


def _c(v, x):  # a constant shaped like x
    return full_like(x, v)


# --- arithmetic -------------------------------------------------------------------------------
_unop(neg_p, np.negative, "(-{0})")
deflinear(neg_p, lambda ct, x: [neg(ct)])

_binop(add_p, np.add, "({0} + {1})")
_binop(sub_p, np.subtract, "({0} - {1})")
_binop(mul_p, np.multiply, "({0} * {1})")
_binop(div_p, np.true_divide, "({0} / {1})")


def _add_transpose(ct, x, y):
    return [ct if type(x) is UndefPrimal else None, ct if type(y) is UndefPrimal else None]


def _sub_transpose(ct, x, y):
    if type(y) is not UndefPrimal:
        return [ct if type(x) is UndefPrimal else None, None]
    return [ct if type(x) is UndefPrimal else None, neg(ct)]


deflinear(add_p, _add_transpose)
deflinear(sub_p, _sub_transpose)


def _add_sub_jvp(prim, negate_y):
    def jvp(primals, tangents):  # a zero tangent passes the other through: no `add t 0.0`
        out = prim.bind1(*primals)
        tx, ty = tangents
        if type(ty) is Zero:
            return [out], [tx if type(tx) is not Zero else Zero(get_aval_of(out))]
        if type(tx) is Zero:
            return [out], [neg(ty) if negate_y else ty]
        return [out], [prim.bind1(tx, ty)]
    return jvp


add_p.jvp = _add_sub_jvp(add_p, False)
sub_p.jvp = _add_sub_jvp(sub_p, True)


_REAL_SCALARS = frozenset((np.float16, np.float32, np.float64))


def _mul_transpose(ct, x, y):
    ux, uy = type(x) is UndefPrimal, type(y) is UndefPrimal
    if ux and uy:
        raise ValueError("mul: transposing a product of two linear values (not linear)")
    other, a = (y, x.aval) if ux else (x, y.aval)  # grad's unit seed: 1 * other is other, exactly
    b = type(ct) in _REAL_SCALARS and ct == 1 and get_aval_of(other)
    if b and b.shape == a.shape and b.dtype == a.dtype:
        return [other, None] if ux else [None, other]
    return [mul(ct, y), None] if ux else [None, mul(x, ct)]


def _mul_jvp(primals, tangents):  # written out: the most frequent rule in any program
    (x, y), (tx, ty) = primals, tangents
    out = mul_p.bind1(x, y)
    if type(ty) is Zero:
        return [out], [mul_p.bind1(tx, y)]
    if type(tx) is Zero:
        return [out], [mul_p.bind1(x, ty)]
    if x is y and tx is ty:  # a square: tx*x + x*tx is one product doubled (bit for bit)
        return [out], [add_p.bind1(m := mul_p.bind1(tx, y), m)]
    return [out], [add_p.bind1(mul_p.bind1(tx, y), mul_p.bind1(x, ty))]


mul_p.jvp = _mul_jvp
mul_p.transpose = _mul_transpose


def _div_transpose(ct, x, y):
    assert is_undefined_primal(x) and not is_undefined_primal(y)
    return [div(ct, y), None]


defjvp(div_p, lambda x_dot, ans, x, y: div(x_dot, y),
        lambda y_dot, ans, x, y: mul(y_dot, neg(div(ans, y))))
deftranspose(div_p, _div_transpose)

_binop(rem_p, np.mod, None, lambda x_dot, _, x, y: x_dot,
       lambda y_dot, _, x, y: mul(y_dot, neg(floor(div(x, y)))))


def _pow_jvp_y(y_dot, ans, x, y):
    safe_log = select(eq(x, _c(0, x)), _c(1, x), x)
    return mul(y_dot, select(eq(x, _c(0, x)), _c(0, x), mul(ans, log(safe_log))))


_binop(pow_p, np.power, lambda a, ins, out: f"pow({a[0]}, {a[1]})" if out.kind == "f" else
       f"(({C_TYPES[out]})pow((double){a[0]}, (double){a[1]}))",  # no integer pow in CUDA
       lambda x_dot, ans, x, y: mul(x_dot, mul(y, pow(x, sub(y, _c(1, y))))), _pow_jvp_y)

integer_pow_p.impl = lambda x, *, y: x * x if y == 2 else np.power(x, y)
integer_pow_p.abstract_eval = lambda x, *, y: [x]
integer_pow_p.batch = broadcasting_batcher(integer_pow_p)
register_emitter(integer_pow_p, lambda eqn, args, names: (
    f"{names.ufunc(np.multiply)}({args[0]}, {args[0]}", "ufunc") if eqn.params["y"] == 2 else None)


def _integer_pow_c(args, in_dtypes, out_dtype, *, y):
    ctype = C_TYPES[out_dtype]
    if y == 0:
        return f"(({ctype})1)"
    if 0 < y <= 4:
        return "(" + " * ".join([args[0]] * y) + ")"
    return f"(({ctype})pow((double){args[0]}, {y}.0))"


register_c_expr(integer_pow_p, _integer_pow_c)
register_native(integer_pow_p, lambda eqn, args, ctx, y=0: " * ".join(args * y) if 1 <= (
    y := eqn.params["y"]) <= 4 else None if y < 0 else
    f"np.power({args[0]}, {ctor(eqn.out_binders[0].aval.dtype)}({y}))")
defjvp(integer_pow_p, lambda x_dot, _, x, *, y: (
    Zero(get_aval_of(x)) if y == 0 else
    mul(x_dot, _c(y, x) if y == 1 else mul(_c(y, x), x if y == 2 else integer_pow(x, y - 1)))))
not_linear(integer_pow_p)


def _minmax_jvp(pick_x):
    def jvp_x(x_dot, _, x, y):
        m = select(pick_x(x, y), _c(1, x), select(eq(x, y), _c(0.5, x), _c(0, x)))
        return mul(x_dot, m)

    def jvp_y(y_dot, _, x, y):
        m = select(pick_x(y, x), _c(1, x), select(eq(x, y), _c(0.5, x), _c(0, x)))
        return mul(y_dot, m)
    return jvp_x, jvp_y


_binop(max_p, np.maximum, "(({0} != {0} || {0} > {1}) ? {0} : {1})",  # NaN wins, as in NumPy
       *_minmax_jvp(lambda a, b: gt(a, b)))
_binop(min_p, np.minimum, "(({0} != {0} || {0} < {1}) ? {0} : {1})",
       *_minmax_jvp(lambda a, b: lt(a, b)))
_binop(atan2_p, np.arctan2, "atan2({0}, {1})",  # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)
       lambda y_dot, _, y, x: mul(y_dot, div(x, add(mul(x, x), mul(y, y)))),
       lambda x_dot, _, y, x: mul(x_dot, neg(div(y, add(mul(x, x), mul(y, y))))))

# --- transcendental ---------------------------------------------------------------------------
_unop(exp_p, np.exp, "exp({0})", lambda t, ans, x: mul_p.bind1(t, ans))
_unop(log_p, np.log, "log({0})", lambda t, _, x: div_p.bind1(t, x))
_unop(log1p_p, np.log1p, "log1p({0})", lambda t, _, x: div(t, add(x, _c(1, x))))
_unop(expm1_p, np.expm1, "expm1({0})", lambda t, ans, x: mul(t, add(ans, _c(1, x))))
_unop(sqrt_p, np.sqrt, "sqrt({0})", lambda t, ans, x: div(t, mul(_c(2, x), ans)))
_unop(sin_p, np.sin, "sin({0})", lambda t, _, x: mul_p.bind1(t, cos_p.bind1(x)))
_unop(cos_p, np.cos, "cos({0})", lambda t, _, x: mul_p.bind1(t, neg_p.bind1(sin_p.bind1(x))))
_unop(tan_p, np.tan, "tan({0})", lambda t, ans, x: mul(t, add(_c(1, x), mul(ans, ans))))
_unop(asin_p, np.arcsin, "asin({0})", lambda t, _, x: div(t, sqrt(sub(_c(1, x), mul(x, x)))))
_unop(acos_p, np.arccos, "acos({0})", lambda t, _, x: div(t, neg(sqrt(sub(_c(1, x), mul(x, x))))))
_unop(atan_p, np.arctan, "atan({0})", lambda t, _, x: div(t, add(_c(1, x), mul(x, x))))
_unop(sinh_p, np.sinh, "sinh({0})", lambda t, _, x: mul(t, cosh(x)))
_unop(cosh_p, np.cosh, "cosh({0})", lambda t, _, x: mul(t, sinh(x)))
_unop(tanh_p, np.tanh, "tanh({0})", lambda t, ans, x: mul(t, sub(_c(1, x), mul(ans, ans))))
_unop(asinh_p, np.arcsinh, "asinh({0})", lambda t, _, x: div(t, sqrt(add(mul(x, x), _c(1, x)))))
_unop(acosh_p, np.arccosh, "acosh({0})", lambda t, _, x: div(t, sqrt(sub(mul(x, x), _c(1, x)))))
_unop(atanh_p, np.arctanh, "atanh({0})", lambda t, _, x: div(t, sub(_c(1, x), mul(x, x))))


def _logistic_impl(x):  # 1 / (1 + exp(-x)), written so that it never overflows
    return 0.5 * np.tanh(0.5 * x) + 0.5


_unop(logistic_p, _logistic_impl, "(1 / (1 + exp(-{0})))",
      lambda t, ans, x: mul(t, mul(ans, sub(_c(1, x), ans))))
register_native(logistic_p, "{d}(0.5) * np.tanh({d}(0.5) * {0}) + {d}(0.5)")


def _abs_jvp(x_dot, ans, x):  # complex x: Re(x_dot * conj(x) / |x|), zero at 0 (as in JAX)
    if get_aval_of(x).dtype.kind != "c":
        return mul(x_dot, sign(x))
    safe = convert_element_type(select(eq(ans, _c(0, ans)), _c(1, ans), ans), get_aval_of(x).dtype)
    return real(mul(x_dot, div(conj(x), safe)))


_lowered(abs_p, np.abs, "abs({0})", lambda x: [ShapedArray(x.shape, real_dtype(x.dtype),
                                                             x.weak_type)], _abs_jvp)

# --- piecewise constant (zero derivative) -----------------------------------------------------
_unop(sign_p, np.sign, lambda a, ins, out: f"({a[0]} != {a[0]} ? {a[0]} : "  # NaN stays NaN
       f"({C_TYPES[out]})(({a[0]} > 0) - ({a[0]} < 0)))")
_unop(floor_p, np.floor, "floor({0})")
_unop(ceil_p, np.ceil, "ceil({0})")
_unop(round_p, np.round, lambda a, ins, out: f"rint({a[0]})" if out.kind == "f" else a[0])
register_native(round_p, np.rint)
_unop(is_finite_p, np.isfinite, lambda a, ins, out: f"isfinite({a[0]})" if ins[0].kind == "f"
       else "true")
is_finite_p.abstract_eval = lambda x: [ShapedArray(x.shape, np.dtype(bool))]
_unop(not_p, np.invert, lambda a, ins, out: f"(!{a[0]})" if out.kind == "b" else
       f"(({C_TYPES[out]})~{a[0]})")  # bitwise for integers
for _p in (sign_p, floor_p, ceil_p, round_p, is_finite_p, not_p):
    defzero_jvp(_p)

_binop(eq_p, np.equal, "({0} == {1})", compare=True)
_binop(ne_p, np.not_equal, "({0} != {1})", compare=True)
_binop(lt_p, np.less, "({0} < {1})", compare=True)
_binop(le_p, np.less_equal, "({0} <= {1})", compare=True)
_binop(gt_p, np.greater, "({0} > {1})", compare=True)
_binop(ge_p, np.greater_equal, "({0} >= {1})", compare=True)
_binop(and_p, np.bitwise_and, "({0} & {1})")
_binop(or_p, np.bitwise_or, "({0} | {1})")
_binop(xor_p, np.bitwise_xor, "({0} ^ {1})")
for _p in (eq_p, ne_p, lt_p, le_p, gt_p, ge_p, and_p, or_p, xor_p):
    defzero_jvp(_p)

# --- select -----------------------------------------------------------------------------------
def _select_abstract_eval(pred, x, y):
    same_shape_dtype("select", x, y)
    if pred.dtype != np.dtype(bool) or pred.shape != x.shape:
        raise ShapeError(f"select: predicate must be bool{list(x.shape)}, got {pred.str_short()}")
    return [ShapedArray(x.shape, x.dtype, x.weak_type and y.weak_type)]


def _select_jvp(primals, tangents):
    (p, x, y), (_, x_dot, y_dot) = primals, tangents
    out = select(p, x, y)
    if type(x_dot) is Zero and type(y_dot) is Zero:
        return [out], [Zero(get_aval_of(out))]
    return [out], [select(p, instantiate(x_dot), instantiate(y_dot))]


def _select_transpose(ct, p, x, y):
    assert not is_undefined_primal(p)
    zeros = full_like(ct, 0)
    return [None, select(p, ct, zeros) if is_undefined_primal(x) else None,
            select(p, zeros, ct) if is_undefined_primal(y) else None]


def _select_impl(p, x, y):
    on = next((a for a in (x, y, p) if is_gpu_array(a)), None)
    if on is None:
        return np.where(p, x, y)
    # host constants (a tril mask, a 0-d fill value) meet a GPU operand: they go to its device
    p, x, y = [to_device(a, device_of(on).index) if type(a) is np.ndarray else a for a in (p, x, y)]
    return xp_of(on).where(p, x, y)


select_p.impl = _select_impl
select_p.abstract_eval = _select_abstract_eval
select_p.jvp = _select_jvp
deftranspose(select_p, _select_transpose)
select_p.batch = broadcasting_batcher(select_p)
_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


def _select_bits(c, a, b):
    """`np.where(c, a, b)` for 2/4/8-byte dtypes as branch-free bit operations: exact (NaNs and
    signed zeros included) and many times faster than `np.where` on irregular masks."""
    a, b = np.asarray(a), np.asarray(b)
    ut = _UINT[a.dtype.itemsize]
    m = c.astype(ut)
    np.negative(m, out=m)  # 0 -> 0, 1 -> all ones
    bv = b.view(ut)
    t = np.bitwise_and(np.bitwise_xor(a.view(ut), bv), m)
    np.bitwise_xor(t, bv, out=t)
    return t.view(a.dtype)


def _select_emit(eqn, args, names):  # the bit select where it applies, else the impl
    pred, out = eqn.inputs[0].aval, eqn.out_binders[0].aval
    if (out.ndim and out.dtype.itemsize in _UINT and out.dtype.kind in "fiu"
            and pred.shape == out.shape):
        return f"{names.obj(_select_bits, '_select_bits')}({', '.join(args)})", "fresh"
    return None


register_emitter(select_p, _select_emit, broadcasts_from=1)  # (np.where broadcasts too)
register_c_expr(select_p, "({0} ? {1} : {2})")
register_native(select_p, lambda eqn, args, ctx: "({1} if {0} else {2})".format(*args) if
                eqn.inputs[1].aval.ndim == 0 else "np.where({0}, {1}, {2})".format(*args))

# --- stop_gradient ----------------------------------------------------------------------------
stop_gradient_p.impl = lambda x: x
stop_gradient_p.abstract_eval = unop_abstract_eval
stop_gradient_p.jvp = lambda primals, tangents: (
    [stop_gradient(primals[0])], [Zero(get_aval_of(primals[0]))])
stop_gradient_p.transpose = NOT_APPLICABLE
stop_gradient_p.batch = broadcasting_batcher(stop_gradient_p)
register_emitter(stop_gradient_p, lambda eqn, args, names: (args[0], "alias"))
register_c_expr(stop_gradient_p, "{0}")
register_native(stop_gradient_p, "{0}", view=True)


# --- the functions rules call -----------------------------------------------------------------
