"""More of `fnp`: `jax.numpy`'s aliases and dtype names, the elementwise composites (hypot,
sinc, heaviside, ...), comparisons of whole arrays, stacking/splitting helpers, and the functions
defined only on concrete values (their output shape depends on the data).

Composites work on arrays and traced values alike (on plain arrays NumPy itself runs); the
concrete-only functions raise a teaching error on traced values (`_concrete`).
"""
from __future__ import annotations

import functools

import numpy as np

from ..core import FuncgradError, user_frame
from ..util import canonical_axes
from . import indexing as ix
from . import shapes as sh
from . import ufuncs as uf
from ._base import _aval, _promote, _traced, asarray, astype, no_out, numpy_fallback

_IMPORTED = set(globals())  # what `__all__` (at the end) leaves out

# --- names: aliases and dtypes ------------------------------------------------------------------
acos, acosh, asin, asinh, atan, atanh = (uf.arccos, uf.arccosh, uf.arcsin, uf.arcsinh,
                                         uf.arctan, uf.arctanh)
atan2, pow, rint, fabs = uf.arctan2, uf.power, uf.round_, uf.abs  # noqa: A001
bitwise_invert = bitwise_not = uf.invert
permute_dims = sh.transpose


def concat(arrays, /, *, axis=0):
    """The array API's `concatenate` (no dtype=)."""
    return sh.concatenate(arrays, axis)


bool = np.bool_  # noqa: A001
complex64, complex128, complex_, cdouble, csingle = (np.complex64, np.complex128, np.complex128,
                                                     np.complex128, np.complex64)
double, single, float_, int_, uint = np.float64, np.float32, np.float64, np.int64, np.uint64
uint16, uint32, uint64 = np.uint16, np.uint32, np.uint64
character, complexfloating, flexible, floating, generic, inexact, integer, number = (
    np.character, np.complexfloating, np.flexible, np.floating, np.generic, np.inexact,
    np.integer, np.number)
object_, signedinteger, unsignedinteger, ufunc = (np.object_, np.signedinteger,
                                                  np.unsignedinteger, np.ufunc)
ComplexWarning = np.exceptions.ComplexWarning
# dtype and array utilities, creation and I/O: on Python values and NumPy arrays (as in JAX)
can_cast, promote_types, result_type, issubdtype = (np.can_cast, np.promote_types,
                                                     np.result_type, np.issubdtype)
isdtype, isscalar, iterable, broadcast_shapes = np.isdtype, np.isscalar, np.iterable, \
    np.broadcast_shapes
get_printoptions, set_printoptions, printoptions = (np.get_printoptions, np.set_printoptions,
                                                    np.printoptions)
array_repr, array_str, load, save, savez = np.array_repr, np.array_str, np.load, np.save, np.savez
frombuffer, fromfile, fromfunction, fromiter, fromstring = (np.frombuffer, np.fromfile,
                                                            np.fromfunction, np.fromiter,
                                                            np.fromstring)
frompyfunc, from_dlpack, geomspace, logspace = (np.frompyfunc, np.from_dlpack, np.geomspace,
                                                np.logspace)
triu_indices, tril_indices_from, triu_indices_from = (np.triu_indices, np.tril_indices_from,
                                                      np.triu_indices_from)
diag_indices, diag_indices_from, mask_indices, indices = (np.diag_indices, np.diag_indices_from,
                                                          np.mask_indices, np.indices)
ix_, ravel_multi_index, unravel_index, einsum_path = (np.ix_, np.ravel_multi_index,
                                                      np.unravel_index, np.einsum_path)
bartlett, blackman, hamming, hanning, kaiser = (np.bartlett, np.blackman, np.hamming, np.hanning,
                                                np.kaiser)


# --- concrete-only functions ---------------------------------------------------------------------

def _concrete(np_fn, hint: str = ""):
    """NumPy's `np_fn` on concrete values; a teaching error on traced ones (the output's shape
    or values would depend on the data)."""
    @functools.wraps(np_fn)
    def f(*args, **kwargs):
        if _traced(args) or _traced(kwargs.values()):
            raise FuncgradError(
                f"{np_fn.__name__}: needs concrete values (its output's shape depends on the "
                f"data), got a traced value, at {user_frame()}\n{hint or 'Call it outside jit/vmap/grad, on NumPy arrays (e.g. before jit, or on fg.device_get(x)).'}")  # noqa: E501
        return np_fn(*args, **kwargs)
    return f


(trim_zeros, histogram_bin_edges, histogram2d, histogramdd, packbits, unpackbits, lexsort,
 spacing, nextafter, frexp, gcd, lcm, left_shift, right_shift, bitwise_left_shift,
 bitwise_right_shift, bitwise_count, i0, place, put, sort_complex) = map(_concrete, (
    np.trim_zeros, np.histogram_bin_edges, np.histogram2d, np.histogramdd, np.packbits,
    np.unpackbits, np.lexsort, np.spacing, np.nextafter, np.frexp, np.gcd, np.lcm, np.left_shift,
    np.right_shift, np.bitwise_left_shift, np.bitwise_right_shift, np.bitwise_count, np.i0,
    np.place, np.put, np.sort_complex))
_nonzero = _concrete(np.nonzero)


def where(condition, x=None, y=None, /, *, size=None, fill_value=None):
    """`numpy.where(condition, x, y)`: elementwise choice. With `condition` alone: `nonzero(
    condition, size=size, fill_value=fill_value)` (traced values need `size=`)."""
    if x is None and y is None:
        return nonzero(condition, size=size, fill_value=fill_value)
    if x is None or y is None or size is not None or fill_value is not None:
        raise FuncgradError(f"where: pass x and y (then no size=/fill_value=), or the condition "
                            f"alone, at {user_frame()}")
    return uf.where(condition, x, y)


def nonzero(a, *, size=None, fill_value=None):
    """Indices of the non-zero elements; on traced values only with `size=` (the output shape),
    padded with `fill_value` (default 0), as `jax.numpy.nonzero`."""
    if size is None:
        return _nonzero(a)
    a = asarray(a)
    shape = _aval(a).shape
    flat = sh.ravel(uf.not_equal(a, 0))
    n = int(np.prod(shape))
    # the k-th nonzero: position of the first index whose running count exceeds k
    counts = sh.cumsum(astype(flat, np.int64))
    k = np.arange(size)
    pos = sh.sum(astype(uf.less_equal(counts[None, :], k[:, None]), np.int64), axis=1)
    valid = uf.less(pos, n)
    pos = uf.minimum(pos, n - 1)
    out = []
    for d, s in enumerate(shape):
        stride = int(np.prod(shape[d + 1:]))
        coord = uf.mod(uf.floor_divide(pos, stride), s)
        out.append(uf.where(valid, coord, 0 if fill_value is None else fill_value))
    return tuple(out)


# --- elementwise composites ---------------------------------------------------------------------

_D2R = np.pi / 180.0


@numpy_fallback(np.deg2rad)
def deg2rad(x):
    return uf.multiply(_promote("deg2rad", x, to_float=True)[0], _D2R)


@numpy_fallback(np.rad2deg)
def rad2deg(x):
    return uf.divide(_promote("rad2deg", x, to_float=True)[0], _D2R)


radians, degrees = deg2rad, rad2deg


@numpy_fallback(np.hypot)
def hypot(x1, x2):
    """`sqrt(x1**2 + x2**2)` scaled by `max(|x1|, |x2|)` (no overflow; derivative 0/0 only at 0)."""
    x1, x2 = _promote("hypot", uf.abs(x1), uf.abs(x2), to_float=True)
    m = uf.maximum(x1, x2)
    safe = uf.where(uf.equal(m, 0), 1.0, m)
    r = uf.multiply(safe, uf.sqrt(uf.add(uf.square(uf.divide(x1, safe)),
                                          uf.square(uf.divide(x2, safe)))))
    return uf.where(uf.equal(m, 0), 0.0, r)


@numpy_fallback(np.signbit)
def signbit(x):
    x = asarray(x)
    if _aval(x).dtype.kind != "f":
        return uf.less(x, 0)
    return uf.less(uf.arctan2(x, -1.0), 0)  # -pi for -0.0, pi for +0.0


@numpy_fallback(np.copysign)
def copysign(x1, x2):
    x1, x2 = _promote("copysign", x1, x2, to_float=True)
    return uf.where(signbit(x2), uf.negative(uf.abs(x1)), uf.abs(x1))


@numpy_fallback(np.heaviside)
def heaviside(x1, x2):
    x1, x2 = _promote("heaviside", x1, x2, to_float=True)
    return uf.where(uf.greater(x1, 0), 1.0, uf.where(uf.less(x1, 0), 0.0, x2))


@numpy_fallback(np.sinc)
def sinc(x):
    """`sin(pi x) / (pi x)`, 1 at 0 with the right derivative there (0; second -pi^2/3)."""
    (x,) = _promote("sinc", x, to_float=True)
    small = uf.less(uf.abs(x), 1e-4)
    safe = uf.multiply(np.pi, uf.where(small, 1.0, x))
    taylor = uf.subtract(1.0, uf.divide(uf.square(uf.multiply(np.pi, x)), 6.0))
    return uf.where(small, taylor, uf.divide(uf.sin(safe), safe))


@numpy_fallback(np.fmod)
def fmod(x1, x2):
    """Remainder with the sign of `x1` (C's fmod), like `numpy.fmod`."""
    x1, x2 = _promote("fmod", x1, x2)
    r = uf.mod(uf.abs(x1), uf.abs(x2))
    neg = signbit(x1) if _aval(x1).dtype.kind == "f" else uf.less(x1, 0)
    return uf.where(neg, uf.negative(r), r)


@numpy_fallback(np.float_power)
def float_power(x, y):
    x, y = _promote("float_power", x, y, to_float=True)
    return uf.power(astype(x, np.result_type(_aval(x).dtype, np.float64)), y)


@numpy_fallback(np.logaddexp2)
def logaddexp2(x, y):
    ln2 = np.log(2.0)
    return uf.divide(uf.logaddexp(uf.multiply(x, ln2), uf.multiply(y, ln2)), ln2)


@numpy_fallback(np.isposinf)
def isposinf(x, out=None):
    no_out('isposinf', out)
    return uf.equal(x, np.inf)


@numpy_fallback(np.isneginf)
def isneginf(x, out=None):
    no_out('isneginf', out)
    return uf.equal(x, -np.inf)




@numpy_fallback(np.ldexp)
def ldexp(x1, x2):
    return uf.multiply(x1, uf.exp2(astype(x2, np.float64) if _aval(x1).dtype != np.float32
                                   else astype(x2, np.float32)))


@numpy_fallback(np.modf)
def modf(x, out=None):
    no_out('modf', out)
    i = uf.trunc(x)
    return uf.subtract(x, i), i


@numpy_fallback(np.divmod)
def divmod(x1, x2):  # noqa: A001
    return uf.floor_divide(x1, x2), uf.mod(x1, x2)


@numpy_fallback(np.unwrap)
def unwrap(p, discont=None, axis=-1, period=2 * np.pi):
    """Phase unwrapping along `axis`, like `numpy.unwrap` (float inputs)."""
    half = period / 2
    discont = half if discont is None else max(discont, half)
    d = diff(p, axis=axis)
    dm = uf.subtract(uf.mod(uf.add(d, half), period), half)
    dm = uf.where(uf.logical_and(uf.equal(dm, -half), uf.greater(d, 0)), half, dm)
    corr = uf.where(uf.less(uf.abs(d), discont), 0.0, uf.subtract(dm, d))
    ax = canonical_axes(axis, _aval(p).ndim)[0]
    first = ix.take(p, np.arange(1), axis=ax)
    return sh.concatenate([first, uf.add(_slice(p, 1, None, ax), sh.cumsum(corr, axis=ax))], ax)



# --- comparisons of whole arrays ----------------------------------------------------------------

@numpy_fallback(np.isclose)
def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    a, b = _promote("isclose", a, b, to_float=True)
    close = uf.less_equal(uf.abs(uf.subtract(a, b)), uf.add(atol, uf.multiply(rtol, uf.abs(b))))
    close = uf.logical_or(close, uf.equal(a, b))  # equal infinities
    if equal_nan:
        close = uf.logical_or(close, uf.logical_and(uf.isnan(a), uf.isnan(b)))
    return close


@numpy_fallback(np.allclose)
def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return sh.all(isclose(a, b, rtol, atol, equal_nan))


@numpy_fallback(np.array_equal)
def array_equal(a1, a2, equal_nan=False):
    if _aval(a1).shape != _aval(a2).shape:
        return np.bool_(False)
    eq = uf.equal(a1, a2)
    if equal_nan:
        eq = uf.logical_or(eq, uf.logical_and(uf.isnan(a1), uf.isnan(a2)))
    return sh.all(eq)


@numpy_fallback(np.array_equiv)
def array_equiv(a1, a2):
    try:
        np.broadcast_shapes(_aval(a1).shape, _aval(a2).shape)
    except ValueError:
        return np.bool_(False)
    return sh.all(uf.equal(a1, a2))


# --- stacking, splitting, rearranging -----------------------------------------------------------

def _slice(x, lo, hi, axis):
    idx = [slice(None)] * _aval(x).ndim
    idx[axis] = slice(lo, hi)
    return x[tuple(idx)]


@numpy_fallback(np.diff)
def diff(a, n=1, axis=-1, prepend=None, append=None):
    a = asarray(a)
    ax = canonical_axes(axis, _aval(a).ndim)[0]
    parts = [sh.broadcast_to(p, _aval(a).shape[:ax] + (1,) * (_aval(asarray(p)).ndim == 0 or 1)
                             + _aval(a).shape[ax + 1:]) if _aval(asarray(p)).ndim == 0 else p
             for p in (prepend, a, append) if p is not None]
    if len(parts) > 1:
        a = sh.concatenate(parts, ax)
    for _ in range(n):
        a = uf.subtract(_slice(a, 1, None, ax), _slice(a, None, -1, ax))
    return a


@numpy_fallback(np.ediff1d)
def ediff1d(ary, to_end=None, to_begin=None):
    d = diff(sh.ravel(ary))
    parts = [sh.ravel(asarray(p)) for p in (to_begin,) if p is not None] + [d] + \
        [sh.ravel(asarray(p)) for p in (to_end,) if p is not None]
    return sh.concatenate(parts, 0) if len(parts) > 1 else d


__all__ = sorted(n for n in set(globals()) - _IMPORTED if not n.startswith("_"))
