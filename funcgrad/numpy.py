"""funcgrad.numpy (`fnp`): the NumPy-like API over primitives, for arrays and tracers alike.

Every function here canonicalises its arguments (NEP 50 dtype promotion with weak Python
scalars, explicit `broadcast_in_dim`) before binding primitives, so primitive rules stay
shape-simple. On plain NumPy arrays outside any transform, each function calls NumPy directly.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from . import core
from .avals import ShapedArray, is_float, result_dtype
from .core import FuncgradError, Tracer, get_aval_of, user_frame
from .primitives import elementwise as E
from .primitives import indexing as I
from .primitives import reduction as R
from .primitives import shape as S
from .primitives.linalg import dot_general
from .util import canonical_axes

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
        return stack([asarray(a, dtype) for a in x])
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


# --- reductions -------------------------------------------------------------------------------

def _keep(x, out, axes, keepdims):
    if not keepdims:
        return out
    shape = tuple(1 if i in axes else s for i, s in enumerate(_aval(x).shape))
    return S.reshape(out, shape) if shape != _aval(out).shape else out  # sizes agree


def sum(x, axis=None, dtype=None, keepdims=False):  # noqa: A001
    if _plain(x):
        return np.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)
    aval = _aval(x)
    axes = canonical_axes(axis, aval.ndim)
    if dtype is not None:
        x = astype(x, dtype)
    elif aval.dtype.kind in "bu" or (aval.dtype.kind == "i" and aval.dtype.itemsize < 8):
        x = astype(x, np.int64)
    return _keep(x, R.reduce_sum(x, axes), axes, keepdims)


def mean(x, axis=None, dtype=None, keepdims=False):
    if _plain(x):
        return np.mean(x, axis=axis, dtype=dtype, keepdims=keepdims)
    aval = _aval(x)
    axes = canonical_axes(axis, aval.ndim)
    n = math.prod([aval.shape[a] for a in axes])
    if not is_float(aval.dtype):
        x = astype(x, dtype or np.float64)
    return divide(sum(x, axes, keepdims=keepdims), float(n))


def var(x, axis=None, ddof=0, keepdims=False):
    if _plain(x):
        return np.var(x, axis=axis, ddof=ddof, keepdims=keepdims)
    aval = _aval(x)
    axes = canonical_axes(axis, aval.ndim)
    n = math.prod([aval.shape[a] for a in axes])
    centered = subtract(x, mean(x, axes, keepdims=True))
    return divide(sum(square(centered), axes, keepdims=keepdims), float(n - ddof))


def std(x, axis=None, ddof=0, keepdims=False):
    if _plain(x):
        return np.std(x, axis=axis, ddof=ddof, keepdims=keepdims)
    return sqrt(var(x, axis, ddof, keepdims))


def max(x, axis=None, keepdims=False):  # noqa: A001
    if _plain(x):
        return np.max(x, axis=axis, keepdims=keepdims)
    axes = canonical_axes(axis, _aval(x).ndim)
    return _keep(x, R.reduce_max(x, axes), axes, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    if _plain(x):
        return np.min(x, axis=axis, keepdims=keepdims)
    axes = canonical_axes(axis, _aval(x).ndim)
    return _keep(x, R.reduce_min(x, axes), axes, keepdims)


amax, amin = max, min


def all(x, axis=None, keepdims=False):  # noqa: A001
    if _plain(x):
        return np.all(x, axis=axis, keepdims=keepdims)
    return min(astype(x, bool), axis, keepdims)


def any(x, axis=None, keepdims=False):  # noqa: A001
    if _plain(x):
        return np.any(x, axis=axis, keepdims=keepdims)
    return max(astype(x, bool), axis, keepdims)


def prod(x, axis=None, keepdims=False):
    """Product over axes, as a chain of multiplications (exact with zeros, differentiable)."""
    if _plain(x):
        return np.prod(x, axis=axis, keepdims=keepdims)
    aval = _aval(x)
    axes = canonical_axes(axis, aval.ndim)
    rest = [i for i in range(aval.ndim) if i not in axes]
    moved = transpose(x, rest + list(axes))
    n = math.prod([aval.shape[a] for a in axes])
    flat = reshape(moved, tuple(aval.shape[i] for i in rest) + (n,))
    out = ones(flat.shape[:-1], aval.dtype) if n == 0 else flat[..., 0]
    for i in range(1, n):
        out = multiply(out, flat[..., i])
    return _keep(x, out, axes, keepdims)


def _arg(prim, np_fn):
    def f(x, axis=None, keepdims=False):
        if _plain(x):
            return np_fn(x, axis=axis, keepdims=keepdims)
        if axis is None:
            x, axis = ravel(x), 0
        axes = canonical_axes(axis, _aval(x).ndim)
        out = prim.bind1(x, axes=axes, index_dtype=np.dtype(np.int64))
        return _keep(x, out, axes, keepdims)
    return f


argmax = _arg(R.argmax_p, np.argmax)
argmin = _arg(R.argmin_p, np.argmin)


def cumsum(x, axis=None):
    if _plain(x):
        return np.cumsum(x, axis=axis)
    if axis is None:
        x, axis = ravel(x), 0
    return R.cumsum(x, canonical_axes(axis, _aval(x).ndim)[0])


# --- shapes -----------------------------------------------------------------------------------

def shape(x):
    return _aval(x).shape


def ndim(x):
    return _aval(x).ndim


def size(x):
    return _aval(x).size


def reshape(x, newshape, *more):
    if more:
        newshape = (newshape, *more)
    if isinstance(newshape, (int, np.integer)):
        newshape = (int(newshape),)
    if _plain(x):
        return np.reshape(x, newshape)
    aval = _aval(x)
    newshape = list(newshape)
    if -1 in newshape:
        known = math.prod([s for s in newshape if s != -1])
        newshape[newshape.index(-1)] = aval.size // known if known else 0
    if tuple(newshape) == aval.shape:
        return x
    if math.prod(newshape) != aval.size:
        raise FuncgradError(f"reshape: cannot reshape {aval.str_short()} (size {aval.size}) into "
                            f"shape {tuple(newshape)}, at {user_frame()}")
    return S.reshape(x, newshape)


def ravel(x):
    return reshape(x, (-1,))


flatten = ravel


def transpose(x, axes=None, *more):
    if more:
        axes = (axes, *more)
    if _plain(x):
        return np.transpose(x, axes)
    nd = _aval(x).ndim
    perm = tuple(reversed(range(nd))) if axes is None else tuple(a % nd for a in axes)
    return x if perm == tuple(range(nd)) else S.transpose(x, perm)


def swapaxes(x, axis1, axis2):
    if _plain(x):
        return np.swapaxes(x, axis1, axis2)
    perm = list(range(_aval(x).ndim))
    a, b = axis1 % len(perm), axis2 % len(perm)
    perm[a], perm[b] = perm[b], perm[a]
    return transpose(x, perm)


def moveaxis(x, source, destination):
    if _plain(x):
        return np.moveaxis(x, source, destination)
    nd = _aval(x).ndim
    src = [source % nd] if isinstance(source, int) else [s % nd for s in source]
    dst = [destination % nd] if isinstance(destination, int) else [d % nd for d in destination]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def expand_dims(x, axis):
    if _plain(x):
        return np.expand_dims(x, axis)
    nd = _aval(x).ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    return S.expand_dims(x, canonical_axes(axis, nd))


def squeeze(x, axis=None):
    if _plain(x):
        return np.squeeze(x, axis)
    aval = _aval(x)
    axes = tuple(i for i, s in enumerate(aval.shape) if s == 1) if axis is None else \
        canonical_axes(axis, aval.ndim)
    return S.squeeze(x, axes) if axes else x


def concatenate(arrays, axis=0):
    arrays = list(arrays)
    if _plain(*arrays):
        return np.concatenate(arrays, axis=axis)
    dt = result_dtype(*[_aval(a) for a in arrays])[0]
    arrays = [astype(a, dt) if not isinstance(a, Tracer) or _aval(a).dtype != dt else a
              for a in arrays]
    nd = _aval(arrays[0]).ndim
    return S.concatenate(arrays, canonical_axes(axis, nd)[0])


def stack(arrays, axis=0):
    arrays = list(arrays)
    if _plain(*arrays):
        return np.stack(arrays, axis=axis)
    nd = _aval(arrays[0]).ndim + 1
    ax = canonical_axes(axis, nd)[0]
    return concatenate([expand_dims(a, ax) for a in arrays], ax)


def split(x, indices_or_sections, axis=0):
    if _plain(x):
        return np.split(x, indices_or_sections, axis)
    aval = _aval(x)
    ax = canonical_axes(axis, aval.ndim)[0]
    n = aval.shape[ax]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise FuncgradError(f"split: axis of size {n} does not divide into "
                                f"{indices_or_sections} equal sections")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0, *indices_or_sections, n]
    idx = [builtins.slice(None)] * aval.ndim
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        idx[ax] = builtins.slice(lo, hi)
        out.append(x[tuple(idx)])
    return out


def flip(x, axis=None):
    if _plain(x):
        return np.flip(x, axis)
    return S.rev(x, canonical_axes(axis, _aval(x).ndim))


def pad(x, pad_width, mode="constant", constant_values=0):
    if _plain(x):
        return np.pad(x, pad_width, mode=mode, constant_values=constant_values)
    if mode != "constant":
        raise FuncgradError(f"pad: only mode='constant' is supported on traced values, got "
                            f"{mode!r}")
    aval = _aval(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (aval.ndim, 2))
    return S.pad(x, np.asarray(constant_values, aval.dtype), [(int(lo), int(hi), 0)
                                                               for lo, hi in pw])


def tile(x, reps):
    if _plain(x):
        return np.tile(x, reps)
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    aval = _aval(x)
    nd = builtins.max(aval.ndim, len(reps))
    x = reshape(x, (1,) * (nd - aval.ndim) + aval.shape)
    reps = (1,) * (nd - len(reps)) + reps
    shp = _aval(x).shape
    expanded = broadcast_to(reshape(x, tuple(v for s in shp for v in (1, s))),
                            tuple(v for r, s in zip(reps, shp) for v in (r, s)))
    return reshape(expanded, tuple(r * s for r, s in zip(reps, shp)))


def repeat(x, repeats, axis=None):
    if _plain(x):
        return np.repeat(x, repeats, axis)
    if not isinstance(repeats, int):
        raise FuncgradError("repeat: only an integer number of repeats is supported when traced")
    if axis is None:
        x, axis = ravel(x), 0
    aval = _aval(x)
    ax = canonical_axes(axis, aval.ndim)[0]
    y = expand_dims(x, ax + 1)
    shp = list(_aval(y).shape)
    shp[ax + 1] = repeats
    y = broadcast_to(y, tuple(shp))
    out = list(aval.shape)
    out[ax] *= repeats
    return reshape(y, tuple(out))


# --- linear algebra ---------------------------------------------------------------------------

def _same_dtype(x, y):
    x, y = _promote("matmul", x, y) if _aval(x).dtype != _aval(y).dtype else (x, y)
    return x, y


def _mm_promote(x, y):
    ax, ay = _aval(x), _aval(y)
    dt, _ = result_dtype(ax, ay)
    if not isinstance(x, Tracer):
        x = np.asarray(x, dtype=dt)  # no copy when the dtype already matches
    elif ax.dtype != dt:
        x = astype(x, dt)
    if not isinstance(y, Tracer):
        y = np.asarray(y, dtype=dt)
    elif ay.dtype != dt:
        y = astype(y, dt)
    return x, y


def matmul(x, y):
    if _plain(x, y):
        return np.matmul(x, y)
    x, y = _mm_promote(x, y)
    ax, ay = _aval(x), _aval(y)
    if ax.ndim == 0 or ay.ndim == 0:
        raise FuncgradError(f"matmul: operands must be at least 1-d, got {ax.str_short()} @ "
                            f"{ay.str_short()}, at {user_frame()}")
    if ax.ndim == 1 and ay.ndim == 1:
        return dot_general(x, y, (((0,), (0,)), ((), ())))
    if ax.ndim == 1:
        return squeeze(matmul(reshape(x, (1, -1)), y), -2)
    if ay.ndim == 1:
        return squeeze(matmul(x, reshape(y, (-1, 1))), -1)
    if ax.shape[-1] != ay.shape[-2]:
        raise FuncgradError(f"matmul: inner dimensions differ: {ax.str_short()} @ "
                            f"{ay.str_short()} ({ax.shape[-1]} != {ay.shape[-2]}), at "
                            f"{user_frame()}")
    if ax.ndim == 2 and ay.ndim == 2:
        return dot_general(x, y, (((1,), (0,)), ((), ())))
    if ay.ndim == 2:  # (..., m, k) @ (k, n): a plain contraction, no batch dims needed
        return dot_general(x, y, (((ax.ndim - 1,), (0,)), ((), ())))
    batch = _broadcast_shapes("matmul", ax.shape[:-2], ay.shape[:-2])
    x = broadcast_to(x, batch + ax.shape[-2:])
    y = broadcast_to(y, batch + ay.shape[-2:])
    nb = len(batch)
    return dot_general(x, y, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))


def dot(x, y):
    if _plain(x, y):
        return np.dot(x, y)
    ax, ay = _aval(x), _aval(y)
    if ax.ndim == 0 or ay.ndim == 0:
        return multiply(x, y)
    if ay.ndim <= 2:
        return matmul(x, y)
    return tensordot(x, y, ((ax.ndim - 1,), (ay.ndim - 2,)))


def vdot(x, y):
    return dot(ravel(x), ravel(y))


def inner(x, y):
    return tensordot(x, y, ((_aval(x).ndim - 1,), (_aval(y).ndim - 1,)))


def outer(x, y):
    if _plain(x, y):
        return np.outer(x, y)
    return multiply(reshape(x, (-1, 1)), reshape(y, (1, -1)))


def tensordot(x, y, axes=2):
    if _plain(x, y):
        return np.tensordot(x, y, axes)
    x, y = _mm_promote(x, y)
    ax, ay = _aval(x), _aval(y)
    if isinstance(axes, int):
        lc, rc = tuple(range(ax.ndim - axes, ax.ndim)), tuple(range(axes))
    else:
        lc, rc = axes
        lc = (lc,) if isinstance(lc, int) else tuple(lc)
        rc = (rc,) if isinstance(rc, int) else tuple(rc)
        lc, rc = tuple(a % ax.ndim for a in lc), tuple(a % ay.ndim for a in rc)
    return dot_general(x, y, ((lc, rc), ((), ())))


def einsum(subscripts: str, *operands):
    """Einstein summation for one or two operands per step (chains fold left to right)."""
    if _plain(*operands):
        return np.einsum(subscripts, *operands)
    ins, out = subscripts.replace(" ", "").split("->") if "->" in subscripts else \
        (subscripts.replace(" ", ""), None)
    in_specs = ins.split(",")
    if out is None:
        letters = "".join(in_specs)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(in_specs) != len(operands):
        raise FuncgradError(f"einsum: {len(in_specs)} operand specs for {len(operands)} operands")
    for spec in in_specs:
        if len(set(spec)) != len(spec):
            raise FuncgradError(f"einsum: repeated index within one operand ('{spec}', a diagonal) "
                                f"is not supported on traced values")
    x, xs = operands[0], in_specs[0]
    for y, ys in zip(operands[1:], in_specs[1:]):
        rest = set(out).union(*[set(s) for s in in_specs[in_specs.index(ys) + 1:]])
        x, xs = _einsum_pair(x, xs, y, ys, rest)
    drop = tuple(i for i, c in enumerate(xs) if c not in out)
    if drop:
        x = sum(x, drop)
        xs = "".join(c for c in xs if c in out)
    return transpose(x, [xs.index(c) for c in out])


def _einsum_pair(x, xs, y, ys, keep):
    x_only = [i for i, c in enumerate(xs) if c not in ys and c not in keep]
    if x_only:
        x, xs = sum(x, tuple(x_only)), "".join(c for c in xs if c in ys or c in keep)
    y_only = [i for i, c in enumerate(ys) if c not in xs and c not in keep]
    if y_only:
        y, ys = sum(y, tuple(y_only)), "".join(c for c in ys if c in xs or c in keep)
    shared = [c for c in xs if c in ys]
    batch = [c for c in shared if c in keep]
    contract = [c for c in shared if c not in keep]
    x, y = _mm_promote(x, y)
    dn = ((tuple(xs.index(c) for c in contract), tuple(ys.index(c) for c in contract)),
          (tuple(xs.index(c) for c in batch), tuple(ys.index(c) for c in batch)))
    out = dot_general(x, y, dn)
    spec = "".join(batch) + "".join(c for c in xs if c not in shared) + \
        "".join(c for c in ys if c not in shared)
    return out, spec


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


# --- indexing ---------------------------------------------------------------------------------

def _normalize_index(idx, nd):
    if not isinstance(idx, tuple):
        idx = (idx,)
    n_real = builtins.sum(1 for i in idx if i is not None and i is not Ellipsis
                          and not (_is_bool_array(i)))
    n_real += builtins.sum(_aval(i).ndim for i in idx if _is_bool_array(i))
    if builtins.sum(1 for i in idx if i is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in [i for i in idx if not isinstance(i, (np.ndarray, Tracer))]:
        k = [j for j, i in enumerate(idx) if i is Ellipsis and not isinstance(i, np.ndarray)][0]
        idx = idx[:k] + (builtins.slice(None),) * (nd - n_real) + idx[k + 1:]
    elif n_real < nd:
        idx = idx + (builtins.slice(None),) * (nd - n_real)
    if n_real > nd:
        raise IndexError(f"too many indices: array is {nd}-dimensional, but {n_real} were indexed")
    return idx


def _is_bool_array(i):
    return (isinstance(i, (np.ndarray, Tracer)) and _aval(i).dtype == np.bool_) or \
        (isinstance(i, list) and len(i) > 0 and builtins.all(isinstance(b, bool) for b in i))


def _is_adv(i):
    return isinstance(i, (np.ndarray, Tracer, list)) or (
        isinstance(i, (int, np.integer)) and False)


def getitem(x, idx):
    """`x[idx]` for basic (ints, slices, None, ...) and advanced (integer arrays) indices."""
    if _plain(x, *(idx if isinstance(idx, tuple) else (idx,))):
        return np.asarray(x)[idx]
    aval = _aval(x)
    if (type(idx) is tuple and idx and len(idx) == aval.ndim
            and builtins.all(type(i) is np.ndarray and i.dtype.kind in "iu" for i in idx)):
        # fast path, `x[rows, cols]`: one concrete integer array per axis is a plain gather
        # (what the general code below reduces it to, without its per-axis bookkeeping)
        ind = []
        for i, n in zip(idx, aval.shape):
            i = i.astype(np.int64)  # a copy: the program must not see later changes to `idx`
            ind.append(np.where(i < 0, i + n, i) if i.size and i.min() < 0 else i)
        return I.gather(x, ind, tuple(range(aval.ndim)))
    idx = _normalize_index(idx, aval.ndim)
    expanded = []  # boolean masks become integer arrays (needs concrete values)
    for i in idx:
        if _is_bool_array(i):
            if isinstance(i, Tracer):
                i = i.concrete_value()  # raises the teaching error when staged
            expanded.extend(np.nonzero(np.asarray(i)))
        elif isinstance(i, list):
            expanded.append(np.asarray(i))
        else:
            expanded.append(i)
    idx = tuple(expanded)
    advanced = builtins.any(isinstance(i, (np.ndarray, Tracer)) for i in idx)
    # basic part: slices (and ints when nothing is advanced) on each axis, new axes recorded
    starts, limits, strides, flips, squeeze_dims, new_axes = [], [], [], [], [], []
    out_axis, axis, adv = 0, 0, []
    for i in idx:
        if i is None:
            new_axes.append(out_axis)
            out_axis += 1
            continue
        n = aval.shape[axis]
        if isinstance(i, builtins.slice):
            lo, hi, st = i.indices(n)
            if st < 0:
                flips.append(axis)
                lo, hi, st = n - 1 - lo, n - 1 - hi, -st
            starts.append(lo)
            limits.append(builtins.max(lo, hi))
            strides.append(st)
            out_axis += 1
        elif isinstance(i, (int, np.integer)) and not advanced:
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
            starts.append(int(i) % n)
            limits.append(int(i) % n + 1)
            strides.append(1)
            squeeze_dims.append(axis)
        else:
            starts.append(0)
            limits.append(n)
            strides.append(1)
            adv.append((axis, i))
            out_axis += 1
        axis += 1
    if new_axes and adv:
        raise FuncgradError("indexing: combining `None` (newaxis) with integer-array indices is "
                            "not supported on traced values; use fnp.expand_dims afterwards")
    if flips:
        x = S.rev(x, tuple(flips))
    if builtins.any(s != 0 or lim != n or st != 1 for s, lim, st, n in
                    zip(starts, limits, strides, aval.shape)):
        x = S.slice_(x, starts, limits, strides)
    if adv:
        shp = _aval(x).shape
        ind = []
        for ax, i in adv:
            i = asarray(i) if not isinstance(i, (int, np.integer)) else np.asarray(i)
            if not isinstance(i, Tracer):
                i = np.where(i < 0, i + shp[ax], i).astype(np.int64)
            else:
                i = where(less(i, 0), add(i, shp[ax]), i)
            ind.append(i)
        x = I.gather(x, ind, tuple(ax for ax, _ in adv))
    if squeeze_dims:
        x = S.squeeze(x, tuple(squeeze_dims))
    if new_axes:
        x = S.expand_dims(x, tuple(new_axes))
    return x


def take(x, indices, axis=None):
    if axis is None:
        return getitem(ravel(x), asarray(indices))
    ax = canonical_axes(axis, _aval(x).ndim)[0]
    return getitem(x, (builtins.slice(None),) * ax + (asarray(indices),))


class _IndexUpdateHelper:
    """`fnp.at(x)[idx]` / `x.at[idx]`: functional index updates returning a new array."""

    __slots__ = ("x",)

    def __init__(self, x):
        self.x = x

    def __getitem__(self, idx):
        return _IndexUpdateRef(self.x, idx)


class _IndexUpdateRef:
    __slots__ = ("x", "idx")

    def __init__(self, x, idx):
        self.x, self.idx = x, idx

    def _positions(self):
        """Flat positions of the selected elements (the index must be concrete)."""
        aval = _aval(self.x)
        idx = self.idx
        parts = idx if isinstance(idx, tuple) else (idx,)
        if builtins.any(isinstance(p, Tracer) for p in parts):
            return None
        return np.arange(aval.size).reshape(aval.shape)[idx]

    def _apply(self, prim_fn, v, combine=None):
        x = self.x
        aval = _aval(x)
        pos = self._positions()
        if pos is None:  # traced integer indices along the leading axes
            parts = self.idx if isinstance(self.idx, tuple) else (self.idx,)
            ind = [asarray(p) for p in parts]
            axes = tuple(range(len(ind)))
            sel = I.gather_shape(aval.shape, axes, [_aval(i).shape for i in ind])
            (v,) = _promote("at", astype(v, aval.dtype) if isinstance(v, Tracer) else
                            np.asarray(v, aval.dtype))
            v = broadcast_to(v, sel)
            if combine is not None:
                v = combine(getitem(x, self.idx), v)
            return prim_fn(x, v, ind, axes)
        flat = reshape(x, (aval.size,))
        v = broadcast_to(astype(v, aval.dtype) if isinstance(v, Tracer)
                         else np.asarray(v, aval.dtype), pos.shape)
        if combine is not None:
            v = combine(getitem(x, self.idx), v)
        out = prim_fn(flat, reshape(v, (pos.size,)), [pos.reshape(-1).astype(np.int64)], (0,))
        return reshape(out, aval.shape)

    def get(self):
        return getitem(self.x, self.idx)

    def set(self, v):
        return self._apply(I.scatter, v)

    def add(self, v):
        return self._apply(I.scatter_add, v)

    def multiply(self, v):
        return self._apply(I.scatter, v, combine=multiply)

    def min(self, v):
        return self._apply(I.scatter, v, combine=minimum)

    def max(self, v):
        return self._apply(I.scatter, v, combine=maximum)

    mul = multiply


def at(x) -> _IndexUpdateHelper:
    """Functional updates: `fnp.at(x)[idx].set(v)` (also .add/.mul/.min/.max). With repeated
    indices, `.add` accumulates; `.set/.mul/.min/.max` apply the last update."""
    return _IndexUpdateHelper(x)


# --- operator table for tracers (the one sanctioned upward hook) -------------------------------

def _rpow(x, y):
    return power(x, y)


core._ops.update({
    "add": add, "sub": subtract, "mul": multiply, "truediv": divide, "floordiv": floor_divide,
    "mod": mod, "pow": power, "matmul": matmul, "lt": less, "le": less_equal, "gt": greater,
    "ge": greater_equal, "eq": equal, "ne": not_equal, "and": bitwise_and, "or": bitwise_or,
    "xor": bitwise_xor, "neg": negative, "pos": lambda x: x, "abs": abs, "invert": invert,
    "getitem": getitem, "sum": sum, "mean": mean, "max": max, "min": min, "prod": prod,
    "var": var, "std": std, "argmax": argmax, "argmin": argmin, "transpose": transpose,
    "swapaxes": swapaxes, "squeeze": squeeze, "astype": astype, "dot": dot, "cumsum": cumsum,
    "clip": clip, "ravel": ravel, "flatten": ravel, "all": all, "any": any, "round": round,
    "conj": lambda x: x, "at": at,
    "reshape": lambda x, *shape: reshape(x, shape[0] if len(shape) == 1 else shape),
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
