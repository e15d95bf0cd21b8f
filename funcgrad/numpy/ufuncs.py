"""`fnp`'s elementwise functions: the ufuncs (sin ... arctan2, comparisons, bitwise), `where`,
`clip`, and the composites over them (power, logistic, isnan, logaddexp, fmax, nan_to_num, ...).

Each binds one elementwise primitive on operands that `_base._promote` brought to one dtype and
shape, or composes such functions; on plain NumPy inputs it calls NumPy. Reductions and shapes
live in `shapes.py`, indexing and contractions in `indexing.py`.
"""
from __future__ import annotations

import math

import numpy as np

from .. import core
from .. import primitives as prims
from ..avals import is_float, result_dtype
from ..backend import get_array_module
from ..core import FuncgradError, Tracer, user_frame
from . import _base
from ._base import _aval, _bcast, _broadcast_shapes, _promote, asarray, astype, numpy_fallback

__all__ = [
    "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh",
    "arccosh", "arctanh", "exp", "log", "log1p", "expm1", "sqrt", "floor", "ceil", "isfinite",
    "negative", "abs", "absolute", "sign", "logical_not", "invert", "add", "subtract", "multiply",
    "true_divide", "divide", "mod", "remainder", "maximum", "minimum", "arctan2", "equal",
    "not_equal", "less", "less_equal", "greater", "greater_equal", "bitwise_and", "logical_and",
    "bitwise_or", "logical_or", "bitwise_xor", "logical_xor", "round_", "around", "round",
    "square", "reciprocal", "floor_divide", "power", "logistic", "clip", "stop_gradient",
    "positive", "trunc", "isnan", "isinf", "exp2", "log2", "log10", "cbrt", "logaddexp", "fmax",
    "fmin", "nan_to_num", "real", "imag", "conj", "conjugate", "angle", "iscomplexobj",
    "isrealobj", "iscomplex", "isreal",
]


# --- the ufuncs: one primitive each -------------------------------------------------------------
# These two factories test for the NumPy fast path inline (what `numpy_fallback` tests), because
# tracer arithmetic (`x * y` in eager autodiff) calls them directly: one call frame fewer.

def _unary(prim, np_fn, name, float_only=True):
    def f(x):
        if isinstance(x, Tracer):
            if not float_only or x.aval.dtype.kind in "fc":  # nothing to promote
                return prim.bind1(x)
        elif core._dynamic[0] is None and not core.DEBUG_NANS[0]:
            return np_fn(x)
        (x,) = _promote(name, x, to_float=float_only)
        return prim.bind1(x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise `{name}`, like `numpy.{np_fn.__name__}`."
    return f


def _binary(prim, np_fn, name, to_float=False, x1x2=False):
    def f(x, y):
        if (core._dynamic[0] is None and not isinstance(x, Tracer)
                and not isinstance(y, Tracer) and not core.DEBUG_NANS[0]):
            return np_fn(x, y)  # plain arrays: NumPy itself
        x, y = _promote(name, x, y, to_float=to_float)
        return prim.bind1(x, y)
    if x1x2:  # JAX's parameter names; tracer operators call `f.fast` (one frame fewer)
        fast = f
        f = lambda x1, x2: fast(x1, x2)  # noqa: E731
        f.fast = fast
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise `{name}` with NumPy broadcasting, like `numpy.{np_fn.__name__}`."
    return f


sin = _unary(prims.sin_p, np.sin, "sin")
cos = _unary(prims.cos_p, np.cos, "cos")
tan = _unary(prims.tan_p, np.tan, "tan")
arcsin = _unary(prims.asin_p, np.arcsin, "arcsin")
arccos = _unary(prims.acos_p, np.arccos, "arccos")
arctan = _unary(prims.atan_p, np.arctan, "arctan")
sinh = _unary(prims.sinh_p, np.sinh, "sinh")
cosh = _unary(prims.cosh_p, np.cosh, "cosh")
tanh = _unary(prims.tanh_p, np.tanh, "tanh")
arcsinh = _unary(prims.asinh_p, np.arcsinh, "arcsinh")
arccosh = _unary(prims.acosh_p, np.arccosh, "arccosh")
arctanh = _unary(prims.atanh_p, np.arctanh, "arctanh")
exp = _unary(prims.exp_p, np.exp, "exp")
log = _unary(prims.log_p, np.log, "log")
log1p = _unary(prims.log1p_p, np.log1p, "log1p")
expm1 = _unary(prims.expm1_p, np.expm1, "expm1")
sqrt = _unary(prims.sqrt_p, np.sqrt, "sqrt")
floor = _unary(prims.floor_p, np.floor, "floor")
ceil = _unary(prims.ceil_p, np.ceil, "ceil")
isfinite = _unary(prims.is_finite_p, np.isfinite, "isfinite", float_only=False)
negative = _unary(prims.neg_p, np.negative, "negative", float_only=False)
abs = absolute = _unary(prims.abs_p, np.abs, "abs", float_only=False)  # noqa: A001
sign = _unary(prims.sign_p, np.sign, "sign", float_only=False)
logical_not = invert = _unary(prims.not_p, np.invert, "invert", float_only=False)
add = _binary(prims.add_p, np.add, "add")
subtract = _binary(prims.sub_p, np.subtract, "subtract")
multiply = _binary(prims.mul_p, np.multiply, "multiply")
true_divide = divide = _binary(prims.div_p, np.true_divide, "divide", True, True)
mod = remainder = _binary(prims.rem_p, np.mod, "mod", x1x2=True)
maximum = _binary(prims.max_p, np.maximum, "maximum")
minimum = _binary(prims.min_p, np.minimum, "minimum")
arctan2 = _binary(prims.atan2_p, np.arctan2, "arctan2", True, True)
equal = _binary(prims.eq_p, np.equal, "equal")
not_equal = _binary(prims.ne_p, np.not_equal, "not_equal")
less = _binary(prims.lt_p, np.less, "less")
less_equal = _binary(prims.le_p, np.less_equal, "less_equal")
greater = _binary(prims.gt_p, np.greater, "greater")
greater_equal = _binary(prims.ge_p, np.greater_equal, "greater_equal")
bitwise_and = _binary(prims.and_p, np.bitwise_and, "bitwise_and")
bitwise_or = _binary(prims.or_p, np.bitwise_or, "bitwise_or")
bitwise_xor = _binary(prims.xor_p, np.bitwise_xor, "bitwise_xor")


def _logical(bitwise, np_fn):
    """The truth-value form of a bitwise function: its operands as bools first."""
    @numpy_fallback(np_fn)
    def f(x, y):
        return bitwise(astype(asarray(x), bool), astype(asarray(y), bool))
    f.__name__ = f.__qualname__ = np_fn.__name__
    f.__doc__ = f"Elementwise `{np_fn.__name__}` of the operands' truth values."
    return f


logical_and = _logical(bitwise_and, np.logical_and)
logical_or = _logical(bitwise_or, np.logical_or)
logical_xor = _logical(bitwise_xor, np.logical_xor)
round_ = _unary(prims.round_p, np.round, "round", float_only=False)


# --- composites ---------------------------------------------------------------------------------

def round(a, decimals=0, out=None):  # noqa: A001
    """`numpy.round` (half to even); `out` (JAX's keyword) must be None."""
    _base.no_out("round", out)
    if decimals:
        scale = 10.0 ** decimals
        return divide(round_(multiply(a, scale)), scale)
    return round_(a)


around = round


def square(x):
    return power(x, 2)


def reciprocal(x):
    return divide(1.0, x)


@numpy_fallback(np.floor_divide)
def floor_divide(x1, x2):
    dt = result_dtype(_aval(x1), _aval(x2))[0]
    out = floor(divide(x1, x2))
    return out if is_float(dt) else astype(out, dt)


@numpy_fallback(np.power)
def power(x1, x2):
    """`x1 ** x2`; a Python-int exponent becomes `integer_pow` (exact, no log of negatives)."""
    if type(x2) is int and not isinstance(x1, (int, float)):
        (x1,) = _promote("power", x1)
        return prims.integer_pow(x1, x2) if x2 >= 0 else divide(1.0, prims.integer_pow(x1, -x2))
    return prims.pow_p.bind1(*_promote("power", x1, x2))


@numpy_fallback(lambda x: 0.5 * get_array_module(x).tanh(0.5 * asarray(x)) + 0.5)
def logistic(x):
    (x,) = _promote("logistic", x, to_float=True)
    return prims.logistic_p.bind1(x)


@numpy_fallback(np.where)
def where(condition, x, y):
    """`numpy.where(condition, x, y)` (the public `fnp.where`, with its one-argument form, is in
    `extra.py`)."""
    x, y = _promote("where", x, y)
    shape = _broadcast_shapes("where", _aval(condition).shape, _aval(x).shape)
    c = _bcast(astype(condition, bool) if _aval(condition).dtype != bool else condition, shape)
    return prims.select(c, _bcast(x, shape), _bcast(y, shape))


@numpy_fallback(lambda arr=None, /, min=None, max=None: np.clip(arr, min, max))  # noqa: A006
def clip(arr=None, /, min=None, max=None):  # noqa: A002  (NumPy's and JAX's names)
    """`arr` limited to [min, max] (either may be None), like `numpy.clip`."""
    if min is not None:
        arr = maximum(arr, min)
    if max is not None:
        arr = minimum(arr, max)
    return arr


def stop_gradient(x):
    """`x` itself, with a zero derivative (as `jax.lax.stop_gradient`)."""
    return prims.stop_gradient(x)


@numpy_fallback(np.positive)
def positive(x):
    if _aval(x).dtype == np.bool_:
        raise FuncgradError(f"positive: not defined for booleans (as in NumPy), got "
                            f"{_aval(x).str_short()}, at {user_frame()}")
    return asarray(x)


@numpy_fallback(np.trunc)
def trunc(x):
    """Rounds towards zero, like `numpy.trunc` (integers keep their dtype, as in NumPy 2)."""
    if _aval(x).dtype.kind not in "fc":
        return asarray(x)
    return where(less(x, 0), ceil(x), floor(x))


@numpy_fallback(np.isnan)
def isnan(x):
    return not_equal(x, x)


@numpy_fallback(np.isinf)
def isinf(x):
    return equal(abs(x), np.inf) if _aval(x).dtype.kind in "fc" else not_equal(x, x)


_LN2, _LN10 = math.log(2.0), math.log(10.0)


@numpy_fallback(np.exp2)
def exp2(x):
    """`2 ** x`, like `numpy.exp2` (traced: `exp(x ln 2)`)."""
    return exp(multiply(_promote("exp2", x, to_float=True)[0], _LN2))


@numpy_fallback(np.log2)
def log2(x):
    return divide(log(x), _LN2)


@numpy_fallback(np.log10)
def log10(x):
    return divide(log(x), _LN10)


@numpy_fallback(np.cbrt)
def cbrt(x):
    """Real cube root, like `numpy.cbrt`: `sign(x) |x|^(1/3)` (its derivative is infinite at 0)."""
    (x,) = _promote("cbrt", x, to_float=True)
    return multiply(sign(x), power(abs(x), 1.0 / 3.0))


@numpy_fallback(np.logaddexp)
def logaddexp(x, y):
    """`log(exp(x) + exp(y))` without overflow: `max(x, y) + log1p(exp(-|x - y|))`."""
    x, y = _promote("logaddexp", x, y, to_float=True)
    delta = subtract(x, y)
    out = add(maximum(x, y), log1p(exp(negative(abs(delta)))))
    return where(isnan(delta), add(x, y), out)  # equal infinities (and NaNs): x + y


def _nan_ignoring(choose, np_fn, name):
    @numpy_fallback(np_fn)
    def f(x1, x2):
        x1, x2 = _promote(name, x1, x2)
        out = choose(x1, x2)
        if _aval(out).dtype.kind not in "fc":
            return out
        return where(isnan(x2), x1, where(isnan(x1), x2, out))  # NaN only where both are NaN
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise `{name}` ignoring NaNs, like `numpy.{name}`."
    return f


fmax = _nan_ignoring(maximum, np.fmax, "fmax")
fmin = _nan_ignoring(minimum, np.fmin, "fmin")


@numpy_fallback(np.nan_to_num)
def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):  # noqa: A002
    """NaN becomes `nan`, +-inf `posinf`/`neginf` (default: the dtype's extreme finite values)."""
    dt = _aval(x).dtype
    if dt.kind == "c":
        raise FuncgradError(f"nan_to_num: complex inputs are not supported on traced values, "
                            f"got {_aval(x).str_short()}, at {user_frame()}")
    if dt.kind != "f":
        return x
    big = np.finfo(dt).max
    fill = [np.asarray(v, dt) for v in (nan, big if posinf is None else posinf,
                                         -big if neginf is None else neginf)]
    x = where(isnan(x), fill[0], x)
    return where(equal(x, np.inf), fill[1], where(equal(x, -np.inf), fill[2], x))


# --- complex numbers ----------------------------------------------------------------------------

def _part(prim, np_fn, of_real):
    @numpy_fallback(np_fn)
    def f(val, /):
        x = asarray(val)
        return prim.bind1(x) if _aval(x).dtype.kind == "c" else of_real(x)
    f.__name__, f.__doc__ = np_fn.__name__, f"`numpy.{np_fn.__name__}` (tracers too)."
    return f


real = _part(prims.real_p, np.real, lambda x: x)
imag = _part(prims.imag_p, np.imag, lambda x: add(multiply(x, 0), 0))  # +0.0, never -0.0
_conj = _part(prims.conj_p, np.conjugate, lambda x: x)


def conj(x, /):
    """`numpy.conjugate` (tracers too)."""
    return _conj(x)


conjugate = conj


@numpy_fallback(np.angle)
def angle(z, deg=False):
    """`numpy.angle`: the argument of `z` (radians, or degrees with `deg=True`)."""
    return multiply(arctan2(imag(z), real(z)), 180.0 / math.pi if deg else 1.0)


def iscomplexobj(x) -> bool:
    """`numpy.iscomplexobj`: whether the dtype of `x` is complex."""
    return _aval(x).dtype.kind == "c"


def isrealobj(x) -> bool:
    """`numpy.isrealobj`: whether the dtype of `x` is not complex."""
    return not iscomplexobj(x)


def iscomplex(x):
    """`numpy.iscomplex`: elementwise, whether the imaginary part is nonzero."""
    return not_equal(imag(x), 0)


def isreal(x):
    """`numpy.isreal`: elementwise, whether the imaginary part is zero."""
    return equal(imag(x), 0)
