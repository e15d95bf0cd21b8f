"""funcgrad.numpy (`fnp`): the NumPy-like API over primitives, for arrays and tracers alike.

Every function here canonicalises its arguments (NEP 50 dtype promotion with weak Python
scalars, explicit `broadcast_in_dim`) before binding primitives, so primitive rules stay
shape-simple. On plain NumPy arrays outside any transform, each function calls NumPy directly.

This module holds the canonicalisation helpers, the elementwise functions and array creation, and
fills the tracer operator table; the rest of the namespace lives in two siblings that import these
helpers and that this module re-exports at its end: `numpy_shapes.py` (reductions, scans, shape
manipulation) and `numpy_indexing.py` (indexing, `at`, gathers and sorting, matmul/dot/einsum).
"""
from __future__ import annotations

import math

import numpy as np

from .. import core
from ..avals import ShapedArray, is_float, result_dtype
from ..core import FuncgradError, Tracer, get_aval_of, user_frame
from ..primitives import elementwise as E
from ..primitives import shape as S

pi, e, inf, nan, newaxis = np.pi, np.e, np.inf, np.nan, None
float16, float32, float64 = np.float16, np.float32, np.float64
int8, int16, int32, int64, uint8, bool_ = np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_
ndarray, dtype, finfo, iinfo = np.ndarray, np.dtype, np.finfo, np.iinfo


def _plain(*args) -> bool:
    """True when no argument is traced and nothing is being staged: call NumPy directly
    (unless `fg.debug_nans` is on: then every operation goes through its checked primitive)."""
    if core._dynamic[0] is not None or core.DEBUG_NANS[0]:
        return False
    for a in args:
        if isinstance(a, Tracer):
            return False
    return True


def _aval(x) -> ShapedArray:
    return get_aval_of(x)


def asarray(x, dtype=None):
    if isinstance(x, Tracer):
        return x if dtype is None or _aval(x).dtype == np.dtype(dtype) else astype(x, dtype)
    if isinstance(x, (list, tuple)) and any(isinstance(a, Tracer) for a in _flat(x)):
        return _sh.stack([asarray(a, dtype) for a in x])
    return np.asarray(x, dtype=dtype)


array = asarray


def _flat(xs):
    for x in xs:
        if isinstance(x, (list, tuple)):
            yield from _flat(x)
        else:
            yield x


def astype(x, dtype):
    dtype = np.dtype(dtype)
    if _plain(x):
        return np.asarray(x).astype(dtype)
    return x if _aval(x).dtype == dtype and not _aval(x).weak_type else \
        S.convert_element_type(x, dtype)


def _broadcast_pair(a: tuple, b: tuple) -> tuple:
    """NumPy's broadcast of two shapes (numpy.broadcast_shapes costs ~3x more)."""
    if a == b:
        return a
    n = len(a) - len(b)
    if n > 0:
        b = (1,) * n + b
    elif n < 0:
        a = (1,) * -n + a
    out = []
    for x, y in zip(a, b):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            raise ValueError
    return tuple(out)


def _broadcast_shapes(op: str, *shapes):
    try:
        if len(shapes) == 2:
            return _broadcast_pair(tuple(shapes[0]), tuple(shapes[1]))
        return np.broadcast_shapes(*shapes)
    except ValueError:
        raise FuncgradError(
            f"{op}: operands with shapes {' and '.join(map(str, shapes))} cannot be broadcast "
            f"together (NumPy's rule: trailing dimensions must be equal or 1), at {user_frame()}\n"
            f"Reshape one operand, e.g. `x[:, None]` or `fnp.expand_dims(x, axis)`.") from None


def _bcast(x, shape):
    aval = _aval(x)
    if aval.shape == tuple(shape):
        return x
    nd = len(shape)
    return S.broadcast_in_dim(x, shape, tuple(range(nd - aval.ndim, nd)))


def broadcast_to(x, shape):
    if _plain(x):
        return np.broadcast_to(x, shape)
    shape = tuple(shape)
    _broadcast_shapes("broadcast_to", _aval(x).shape, shape)
    return _bcast(x, shape)


_PY_KINDS = {float: "fc", int: "iufc", complex: "c"}  # dtype kinds a Python scalar adopts


def _promote(op: str, *args, to_float: bool = False):
    """Common dtype (NEP 50) and broadcast shape; Python scalars stay weak literals."""
    if len(args) == 2:  # fast paths: tracer (op) tracer of one type, tracer (op) Python scalar
        x, y = args
        if isinstance(x, Tracer):
            ax = x.aval
            if isinstance(y, Tracer):
                ay = y.aval
                if (ax.dtype == ay.dtype and ax.weak_type == ay.weak_type
                        and (not to_float or ax.dtype.kind in "fc")):
                    if ax.shape == ay.shape:
                        return [x, y]
                    shape = _broadcast_shapes(op, ax.shape, ay.shape)  # same dtype: broadcast
                    return [_bcast(x, shape), _bcast(y, shape)]
            elif (not ax.weak_type and not ax.shape and ax.dtype.kind in _PY_KINDS.get(type(y), "")
                  and (not to_float or ax.dtype.kind in "fc")):
                return [x, ax.dtype.type(y)]
        elif isinstance(y, Tracer):
            ay = y.aval
            if (not ay.weak_type and not ay.shape and ay.dtype.kind in _PY_KINDS.get(type(x), "")
                    and (not to_float or ay.dtype.kind in "fc")):
                return [ay.dtype.type(x), y]
    elif len(args) == 1 and isinstance(args[0], Tracer):
        kind = args[0].aval.dtype.kind
        if not to_float or kind in "fc":
            return [args[0]]
    avals = [_aval(a) for a in args]
    dt, weak = result_dtype(*avals)
    if to_float and not is_float(dt):
        dt = np.dtype(np.float64)
    shape = _broadcast_shapes(op, *[a.shape for a in avals]) if len(args) > 1 else avals[0].shape
    out = []
    for a, av in zip(args, avals):
        if not isinstance(a, Tracer):
            if not (weak and type(a) in (int, float, complex) and av.dtype == dt):
                a = np.asarray(a, dtype=dt)
        elif av.dtype != dt:
            a = S.convert_element_type(a, dt, weak)
        out.append(_bcast(a, shape))
    return out


# --- elementwise ------------------------------------------------------------------------------

def _unary(prim, np_fn, name, float_only=True):
    def f(x):
        if isinstance(x, Tracer):
            if not float_only or x.aval.dtype.kind in "fc":  # nothing to promote
                return prim.bind1(x)
        elif core._dynamic[0] is None and not core.DEBUG_NANS[0]:
            return np_fn(x)
        (x,) = _promote(name, x, to_float=float_only)
        return prim.bind1(x)
    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}`, like `numpy.{np_fn.__name__}`."
    return f


def _binary(prim, np_fn, name, to_float=False):
    def f(x, y):
        if (core._dynamic[0] is None and not isinstance(x, Tracer)
                and not isinstance(y, Tracer) and not core.DEBUG_NANS[0]):
            return np_fn(x, y)  # plain arrays: NumPy itself
        x, y = _promote(name, x, y, to_float=to_float)
        return prim.bind1(x, y)
    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}` with NumPy broadcasting, like `numpy.{np_fn.__name__}`."
    return f


sin = _unary(E.sin_p, np.sin, "sin")
cos = _unary(E.cos_p, np.cos, "cos")
tan = _unary(E.tan_p, np.tan, "tan")
arcsin = _unary(E.asin_p, np.arcsin, "arcsin")
arccos = _unary(E.acos_p, np.arccos, "arccos")
arctan = _unary(E.atan_p, np.arctan, "arctan")
sinh = _unary(E.sinh_p, np.sinh, "sinh")
cosh = _unary(E.cosh_p, np.cosh, "cosh")
tanh = _unary(E.tanh_p, np.tanh, "tanh")
arcsinh = _unary(E.asinh_p, np.arcsinh, "arcsinh")
arccosh = _unary(E.acosh_p, np.arccosh, "arccosh")
arctanh = _unary(E.atanh_p, np.arctanh, "arctanh")
exp = _unary(E.exp_p, np.exp, "exp")
log = _unary(E.log_p, np.log, "log")
log1p = _unary(E.log1p_p, np.log1p, "log1p")
expm1 = _unary(E.expm1_p, np.expm1, "expm1")
sqrt = _unary(E.sqrt_p, np.sqrt, "sqrt")
floor = _unary(E.floor_p, np.floor, "floor")
ceil = _unary(E.ceil_p, np.ceil, "ceil")
isfinite = _unary(E.is_finite_p, np.isfinite, "isfinite", float_only=False)
negative = _unary(E.neg_p, np.negative, "negative", float_only=False)
abs = absolute = _unary(E.abs_p, np.abs, "abs", float_only=False)  # noqa: A001
sign = _unary(E.sign_p, np.sign, "sign", float_only=False)
logical_not = invert = _unary(E.not_p, np.invert, "invert", float_only=False)
add = _binary(E.add_p, np.add, "add")
subtract = _binary(E.sub_p, np.subtract, "subtract")
multiply = _binary(E.mul_p, np.multiply, "multiply")
true_divide = divide = _binary(E.div_p, np.true_divide, "divide", to_float=True)
mod = remainder = _binary(E.rem_p, np.mod, "mod")
maximum = _binary(E.max_p, np.maximum, "maximum")
minimum = _binary(E.min_p, np.minimum, "minimum")
arctan2 = _binary(E.atan2_p, np.arctan2, "arctan2", to_float=True)
equal = _binary(E.eq_p, np.equal, "equal")
not_equal = _binary(E.ne_p, np.not_equal, "not_equal")
less = _binary(E.lt_p, np.less, "less")
less_equal = _binary(E.le_p, np.less_equal, "less_equal")
greater = _binary(E.gt_p, np.greater, "greater")
greater_equal = _binary(E.ge_p, np.greater_equal, "greater_equal")
bitwise_and = logical_and = _binary(E.and_p, np.bitwise_and, "bitwise_and")
bitwise_or = logical_or = _binary(E.or_p, np.bitwise_or, "bitwise_or")
bitwise_xor = logical_xor = _binary(E.xor_p, np.bitwise_xor, "bitwise_xor")
round_ = around = _unary(E.round_p, np.round, "round", float_only=False)


def round(x, decimals=0):  # noqa: A001
    if decimals:
        scale = 10.0 ** decimals
        return divide(round_(multiply(x, scale)), scale)
    return round_(x)


def square(x):
    return power(x, 2)


def reciprocal(x):
    return divide(1.0, x)


def floor_divide(x, y):
    if _plain(x, y):
        return np.floor_divide(x, y)
    dt = result_dtype(_aval(x), _aval(y))[0]
    out = floor(divide(x, y))
    return out if is_float(dt) else astype(out, dt)


def power(x, y):
    """`x ** y`; a Python-int exponent becomes `integer_pow` (exact, no log of negatives)."""
    if _plain(x, y):
        return np.power(x, y)
    if type(y) is int and not isinstance(x, (int, float)):
        (x,) = _promote("power", x)
        return E.integer_pow(x, y) if y >= 0 else divide(1.0, E.integer_pow(x, -y))
    x, y = _promote("power", x, y)
    return E.pow(x, y)


def logistic(x):
    if _plain(x):
        return 0.5 * np.tanh(0.5 * np.asarray(x)) + 0.5
    (x,) = _promote("logistic", x, to_float=True)
    return E.logistic_p.bind1(x)


def where(condition, x=None, y=None):
    """`numpy.where(condition, x, y)`; the one-argument form needs concrete values."""
    if x is None and y is None:
        return np.nonzero(np.asarray(condition))
    if _plain(condition, x, y):
        return np.where(condition, x, y)
    x, y = _promote("where", x, y)
    shape = _broadcast_shapes("where", _aval(condition).shape, _aval(x).shape)
    c = _bcast(astype(condition, bool) if _aval(condition).dtype != bool else condition, shape)
    return E.select(c, _bcast(x, shape), _bcast(y, shape))


def clip(x, a_min=None, a_max=None):
    if _plain(x, a_min, a_max):
        return np.clip(x, a_min, a_max)
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def stop_gradient(x):
    return E.stop_gradient(x)


def positive(x):
    if _plain(x):
        return np.positive(x)
    if _aval(x).dtype == np.bool_:
        raise FuncgradError(f"positive: not defined for booleans (as in NumPy), got "
                            f"{_aval(x).str_short()}, at {user_frame()}")
    return asarray(x)


def trunc(x):
    """Rounds towards zero, like `numpy.trunc` (integers keep their dtype, as in NumPy 2)."""
    if _plain(x):
        return np.trunc(x)
    if _aval(x).dtype.kind not in "fc":
        return asarray(x)
    return where(less(x, 0), ceil(x), floor(x))


def isnan(x):
    if _plain(x):
        return np.isnan(x)
    return not_equal(x, x)


def isinf(x):
    if _plain(x):
        return np.isinf(x)
    return equal(abs(x), inf) if _aval(x).dtype.kind in "fc" else not_equal(x, x)


_LN2, _LN10 = math.log(2.0), math.log(10.0)


def exp2(x):
    """`2 ** x`, like `numpy.exp2` (traced: `exp(x ln 2)`)."""
    if _plain(x):
        return np.exp2(x)
    return exp(multiply(_promote("exp2", x, to_float=True)[0], _LN2))


def log2(x):
    if _plain(x):
        return np.log2(x)
    return divide(log(x), _LN2)


def log10(x):
    if _plain(x):
        return np.log10(x)
    return divide(log(x), _LN10)


def cbrt(x):
    """Real cube root, like `numpy.cbrt`: `sign(x) |x|^(1/3)` (its derivative is infinite at 0)."""
    if _plain(x):
        return np.cbrt(x)
    (x,) = _promote("cbrt", x, to_float=True)
    return multiply(sign(x), power(abs(x), 1.0 / 3.0))


def logaddexp(x, y):
    """`log(exp(x) + exp(y))` without overflow: `max(x, y) + log1p(exp(-|x - y|))`."""
    if _plain(x, y):
        return np.logaddexp(x, y)
    x, y = _promote("logaddexp", x, y, to_float=True)
    delta = subtract(x, y)
    out = add(maximum(x, y), log1p(exp(negative(abs(delta)))))
    return where(isnan(delta), add(x, y), out)  # equal infinities (and NaNs): x + y


def _nan_ignoring(choose, np_fn, name):
    def f(x, y):
        if _plain(x, y):
            return np_fn(x, y)
        x, y = _promote(name, x, y)
        out = choose(x, y)
        if _aval(out).dtype.kind not in "fc":
            return out
        return where(isnan(y), x, where(isnan(x), y, out))  # NaN only where both are NaN
    f.__name__ = name
    f.__doc__ = f"Elementwise `{name}` ignoring NaNs, like `numpy.{name}`."
    return f


fmax = _nan_ignoring(maximum, np.fmax, "fmax")
fmin = _nan_ignoring(minimum, np.fmin, "fmin")


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):  # noqa: A002
    """NaN becomes `nan`, +-inf `posinf`/`neginf` (default: the dtype's extreme finite values)."""
    if _plain(x):
        return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)
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
    return where(equal(x, inf), fill[1], where(equal(x, -inf), fill[2], x))


# --- creation (constants: NumPy arrays, embedded as constants when traced) --------------------

def _dt(x, dtype):
    return np.dtype(dtype) if dtype is not None else _aval(x).dtype


zeros, ones, full, empty, eye, identity = np.zeros, np.ones, np.full, np.zeros, np.eye, np.identity
arange, linspace, tri, tril_indices = np.arange, np.linspace, np.tri, np.tril_indices


def zeros_like(x, dtype=None):
    return np.zeros(_aval(x).shape, _dt(x, dtype))


def ones_like(x, dtype=None):
    return np.ones(_aval(x).shape, _dt(x, dtype))


def full_like(x, fill_value, dtype=None):
    return np.full(_aval(x).shape, fill_value, _dt(x, dtype))


empty_like = zeros_like


# --- the rest of the namespace (these siblings import the helpers above) ----------------------
from . import indexing as _ix  # noqa: E402
from . import shapes as _sh  # noqa: E402
from .indexing import *  # noqa: E402,F401,F403
from .shapes import *  # noqa: E402,F401,F403

# --- operator table for tracers (the one sanctioned upward hook) -------------------------------

core._ops.update({
    "add": add, "sub": subtract, "mul": multiply, "truediv": divide, "floordiv": floor_divide,
    "mod": mod, "pow": power, "matmul": _ix.matmul, "lt": less, "le": less_equal, "gt": greater,
    "ge": greater_equal, "eq": equal, "ne": not_equal, "and": bitwise_and, "or": bitwise_or,
    "xor": bitwise_xor, "neg": negative, "pos": lambda x: x, "abs": abs, "invert": invert,
    "getitem": _ix.getitem, "sum": _sh.sum, "mean": _sh.mean, "max": _sh.max, "min": _sh.min,
    "prod": _sh.prod, "var": _sh.var, "std": _sh.std, "argmax": _sh.argmax, "argmin": _sh.argmin,
    "transpose": _sh.transpose, "swapaxes": _sh.swapaxes, "squeeze": _sh.squeeze, "astype": astype,
    "dot": _ix.dot, "cumsum": _sh.cumsum, "clip": clip, "ravel": _sh.ravel, "flatten": _sh.ravel,
    "all": _sh.all, "any": _sh.any, "round": round, "conj": lambda x: x, "at": _ix.at,
    "reshape": lambda x, *shape: _sh.reshape(x, shape[0] if len(shape) == 1 else shape),
    # `x.sort()` returns a sorted copy, as in JAX
    "sort": _ix.sort, "argsort": _ix.argsort, "cumprod": _sh.cumprod, "diagonal": _ix.diagonal,
    "trace": _ix.trace,
})

# The arithmetic operators of tracers call these functions directly (one call fewer than going
# through the `_ops` table, on the hottest path of eager autodiff).
for _name in ("add", "sub", "mul", "truediv", "pow", "matmul"):
    setattr(Tracer, f"__{_name}__", core._ops[_name])
Tracer.__radd__ = lambda self, other: add(other, self)
Tracer.__rsub__ = lambda self, other: subtract(other, self)
Tracer.__rmul__ = lambda self, other: multiply(other, self)
Tracer.__rtruediv__ = lambda self, other: divide(other, self)
Tracer.__neg__ = negative
del _name

# NumPy ufuncs called on tracers (`np.sin(x)`, `ndarray * x`) dispatch to these (see
# `Tracer.__array_ufunc__`): every ufunc whose name fnp defines
for _name in dir(np):
    if isinstance(getattr(np, _name), np.ufunc) and callable(globals().get(_name)):
        core._ops["ufunc:" + getattr(np, _name).__name__] = globals()[_name]
del _name

from . import linalg  # noqa: E402,F401  (fnp.linalg)
