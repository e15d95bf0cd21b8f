"""`fnp`'s reductions, scans and shape manipulation (sum ... cumprod, reshape ... roll, tril).

Built on the elementwise functions of `ufuncs.py` and the helpers of `_base.py`; indexing and
contractions build on this module in `indexing.py`. `funcgrad.numpy` re-exports `__all__`.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import primitives as prims  # their bind wrappers share names with this module's functions
from ..avals import is_float, result_dtype
from ..core import FuncgradError, Tracer, user_frame
from ..util import canonical_axes
from . import _base
from ._base import (
    _aval,
    _broadcast_shapes,
    asarray,
    astype,
    broadcast_to,
    np_reduction,
    numpy_fallback,
    ones,
    sum_dtype,
)
from .ufuncs import add as uf_add
from .ufuncs import divide, multiply, sqrt, square, subtract, where
from .ufuncs import maximum as uf_maximum
from .ufuncs import minimum as uf_minimum
from .ufuncs import where as uf_where

__all__ = [
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "all", "any", "prod", "argmax",
    "argmin", "cumsum", "cumprod", "count_nonzero", "shape", "ndim", "size", "reshape", "ravel",
    "flatten", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze", "concatenate",
    "stack", "split", "flip", "pad", "tile", "repeat", "broadcast_arrays", "atleast_1d",
    "atleast_2d", "atleast_3d", "vstack", "hstack", "roll", "tril", "triu",
]

# --- reductions -------------------------------------------------------------------------------

def _keep(x, out, axes, keepdims):
    if not keepdims:
        return out
    shape = tuple(1 if i in axes else s for i, s in enumerate(_aval(x).shape))
    return prims.reshape(out, shape) if shape != _aval(out).shape else out  # sizes agree


def _reduction_args(name, a, axis, out, where, fill, dtype=None):
    """The shared start of every reduction: `out=` refused, axes made canonical, `a` cast to
    `dtype`, and the elements where `where` is False replaced by `fill` (the identity)."""
    _base.no_out(name, out)
    a = asarray(a) if dtype is None else astype(a, dtype)
    if where is not None:
        if fill is None:
            raise FuncgradError(f"{name}: `where=` needs `initial=` (this reduction has no "
                                f"identity to put where the mask is False), at {user_frame()}")
        a = uf_where(where, a, fill)
    return a, canonical_axes(axis, _aval(a).ndim)


def _with_initial(op, out, initial):
    return out if initial is None else op(out, initial)


@numpy_fallback(np_reduction(np.sum), 1)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None,  # noqa: A001
        promote_integers=True):
    """Sum over axes like `numpy.sum`; `where=` masks elements out, `initial=` starts the sum."""
    dtype = dtype if dtype is not None else sum_dtype(_aval(asarray(a)).dtype, promote_integers)
    a, axes = _reduction_args("sum", a, axis, out, where, 0, dtype)
    return _with_initial(uf_add, _keep(a, prims.reduce_sum(a, axes), axes, keepdims), initial)


def _count(name, a, axes, where, keepdims):
    """How many elements each reduction of `a` over `axes` sees (a mask's count, or a size)."""
    if where is None:
        return float(math.prod([_aval(a).shape[i] for i in axes]))
    mask = broadcast_to(asarray(where), _aval(a).shape)
    return sum(mask, axes, _aval(a).dtype if is_float(_aval(a).dtype) else np.float64,
               keepdims=keepdims)


def _float_or(a, dtype):
    """`a` in `dtype`, or (without one) in float64 unless it is floating already."""
    a = asarray(a)
    return astype(a, dtype) if dtype is not None else a if is_float(_aval(a).dtype) else \
        astype(a, np.float64)


@numpy_fallback(np_reduction(np.mean), 1)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    a = _float_or(a, dtype)
    axes = canonical_axes(axis, _aval(a).ndim)
    total = sum(a, axes, out=out, keepdims=keepdims, where=where)
    return divide(total, _count("mean", a, axes, where, keepdims))


@numpy_fallback(np_reduction(np.var), 1)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
        correction=None):
    """Variance like `numpy.var`: `correction` is another name for `ddof`; `mean=` a mean
    computed already (with keepdims=True)."""
    if correction is not None:
        ddof = correction
    a = _float_or(a, dtype)
    axes = canonical_axes(axis, _aval(a).ndim)
    m = mean if mean is not None else _mean(a, axes, keepdims=True, where=where)
    sq = sum(square(subtract(a, m)), axes, out=out, keepdims=keepdims, where=where)
    n = _count("var", a, axes, where, keepdims)
    # a Python count stays a Python number: a host array would meet GPU values
    return divide(sq, n - ddof if type(n) is float else subtract(n, ddof))


_mean = mean


@numpy_fallback(np_reduction(np.std), 1)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None, mean=None,
        correction=None):
    return sqrt(var(a, axis, dtype, out, ddof, keepdims, where=where, mean=mean,
                    correction=correction))


def _extreme(prim, op, name):
    def f(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        a, axes = _reduction_args(name, a, axis, out, where, initial)
        return _with_initial(op, _keep(a, prim.bind1(a, axes=axes), axes, keepdims), initial)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"`{name}` over axes like `numpy.{name}`; with `where=` (a mask), `initial=` is "
                 f"the value of an all-masked reduction.")
    return f


max = numpy_fallback(np_reduction(np.max), 1)(_extreme(prims.reduce_max_p, uf_maximum, "max"))  # noqa: A001
min = numpy_fallback(np_reduction(np.min), 1)(_extreme(prims.reduce_min_p, uf_minimum, "min"))  # noqa: A001
amax, amin = max, min


@numpy_fallback(np_reduction(np.all), 1)
def all(a, axis=None, out=None, keepdims=False, *, where=None):  # noqa: A001
    return min(astype(a, bool), axis, out, keepdims, True if where is not None else None, where)


@numpy_fallback(np_reduction(np.any), 1)
def any(a, axis=None, out=None, keepdims=False, *, where=None):  # noqa: A001
    return max(astype(a, bool), axis, out, keepdims, False if where is not None else None, where)


@numpy_fallback(np_reduction(np.prod), 1)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None,
         promote_integers=True):
    """Product over axes, as a chain of multiplications (exact with zeros, differentiable)."""
    dtype = dtype if dtype is not None else sum_dtype(_aval(asarray(a)).dtype, promote_integers)
    x, axes = _reduction_args("prod", a, axis, out, where, 1, dtype)
    aval = _aval(x)
    rest = [i for i in range(aval.ndim) if i not in axes]
    moved = transpose(x, rest + list(axes))
    n = math.prod([aval.shape[a] for a in axes])
    flat = reshape(moved, tuple(aval.shape[i] for i in rest) + (n,))
    out = ones(flat.shape[:-1], aval.dtype) if n == 0 else flat[..., 0]
    for i in range(1, n):
        out = multiply(out, flat[..., i])
    return _with_initial(multiply, _keep(x, out, axes, keepdims), initial)


def _arg(prim, np_fn):
    @numpy_fallback(np_fn, 1)
    def f(a, axis=None, out=None, keepdims=False):
        _base.no_out(np_fn.__name__, out)
        if axis is None:
            a, axis = ravel(a), 0
        axes = canonical_axes(axis, _aval(a).ndim)
        return _keep(a, prim.bind1(a, axes=axes, index_dtype=np.dtype(np.int64)), axes, keepdims)
    f.__name__ = f.__qualname__ = np_fn.__name__
    return f


argmax = _arg(prims.argmax_p, np.argmax)
argmin = _arg(prims.argmin_p, np.argmin)


@numpy_fallback(np.cumsum)
def cumsum(a, axis=None, dtype=None, out=None):
    _base.no_out("cumsum", out)
    a = ravel(a) if axis is None else a
    a = a if dtype is None else astype(a, dtype)
    return prims.cumsum(a, canonical_axes(0 if axis is None else axis, _aval(a).ndim)[0])


@numpy_fallback(np.cumprod)
def cumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product along `axis`, as log2(n) rounds of shifted multiplications (a
    Hillis-Steele scan): exact with zeros in the input, and differentiable to any order."""
    _base.no_out("cumprod", out)
    if axis is None:
        a, axis = ravel(a), 0
    aval = _aval(a)
    ax = canonical_axes(axis, aval.ndim)[0]
    if dtype is not None:
        a = astype(a, dtype)
    elif sum_dtype(aval.dtype, True) is not None:  # NumPy's accumulator dtypes
        a = astype(a, sum_dtype(aval.dtype, True))
    one, n, k = np.ones((), _aval(a).dtype), aval.shape[ax], 1
    while k < n:  # afterwards, entry i holds the product of entries max(0, i - 2k + 1) .. i
        hi = list(aval.shape)
        hi[ax] = n - k
        shifted = prims.pad(prims.slice_(a, [0] * aval.ndim, hi, [1] * aval.ndim), one,
                        [(k if d == ax else 0, 0, 0) for d in range(aval.ndim)])
        a, k = multiply(a, shifted), 2 * k
    return a


@numpy_fallback(np.count_nonzero, 1)
def count_nonzero(a, axis=None, keepdims=False):
    return sum(astype(a, bool), axis, keepdims=keepdims)



# --- shapes -----------------------------------------------------------------------------------

def shape(a):
    return _aval(a).shape


def ndim(a):
    return _aval(a).ndim


def size(a, axis=None):
    """The number of elements of `a` (along `axis`, an int or tuple, when given)."""
    shp = _aval(a).shape
    return int(np.prod([shp[i] for i in canonical_axes(axis, len(shp))])) if axis is not None \
        else _aval(a).size


@numpy_fallback(lambda a, shape, order="C", *, copy=None, out_sharding=None:
                np.reshape(a, shape, order=order, copy=copy), gather_from=1)
def reshape(a, shape, order="C", *, copy=None, out_sharding=None):
    """`a` in `shape` (one entry may be -1); `reshape(x, 2, 3)` works too. Traced values take
    `order="C"` only; `copy` is NumPy's (arrays are immutable, so never needed)."""
    if order != "C":
        raise FuncgradError(f"reshape: only order='C' is supported on traced values, got "
                            f"{order!r}, at {user_frame()}")
    _base._placed(None, None, out_sharding, "reshape")
    x, newshape = a, (int(shape),) if isinstance(shape, (int, np.integer)) else shape
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
    return prims.reshape(x, newshape)


def ravel(a, order="C", *, out_sharding=None):
    return reshape(a, (-1,), order, out_sharding=out_sharding)


flatten = ravel


@numpy_fallback(np.transpose, gather_from=1)
def transpose(a, axes=None):
    """`a` with its axes permuted (reversed by default); `transpose(a, 1, 0)` works too."""
    nd = _aval(a).ndim
    perm = tuple(reversed(range(nd))) if axes is None else tuple(i % nd for i in axes)
    return a if perm == tuple(range(nd)) else prims.transpose(a, perm)


@numpy_fallback(np.swapaxes)
def swapaxes(a, axis1, axis2):
    perm = list(range(_aval(a).ndim))
    i, j = axis1 % len(perm), axis2 % len(perm)
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


@numpy_fallback(np.moveaxis)
def moveaxis(a, source, destination):
    nd = _aval(a).ndim
    src = [source % nd] if isinstance(source, int) else [s % nd for s in source]
    dst = [destination % nd] if isinstance(destination, int) else [d % nd for d in destination]
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


@numpy_fallback(np.expand_dims)
def expand_dims(a, axis):
    nd = _aval(a).ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    return prims.expand_dims(a, canonical_axes(axis, nd))


@numpy_fallback(np.squeeze)
def squeeze(a, axis=None):
    aval = _aval(a)
    axes = tuple(i for i, s in enumerate(aval.shape) if s == 1) if axis is None else \
        canonical_axes(axis, aval.ndim)
    return prims.squeeze(a, axes) if axes else a


@numpy_fallback(np.concatenate, 1)
def concatenate(arrays, axis=0, dtype=None):
    """`numpy.concatenate`; `dtype`: the result's (by default the operands' promoted dtype)."""
    arrays = [asarray(a) if isinstance(a, (list, tuple)) else a for a in arrays]  # [[x, y], ...]
    dt = np.dtype(dtype) if dtype is not None else result_dtype(*[_aval(a) for a in arrays])[0]
    arrays = [astype(a, dt) if not isinstance(a, Tracer) or _aval(a).dtype != dt else a
              for a in arrays]
    nd = _aval(arrays[0]).ndim
    return prims.concatenate(arrays, canonical_axes(axis, nd)[0])


@numpy_fallback(np.stack, 1)
def stack(arrays, axis=0, out=None, dtype=None):
    _base.no_out("stack", out)
    arrays = [asarray(a) if isinstance(a, (list, tuple)) else a for a in arrays]  # [[x, y], ...]
    nd = _aval(arrays[0]).ndim + 1
    ax = canonical_axes(axis, nd)[0]
    return concatenate([expand_dims(a, ax) for a in arrays], ax, dtype)


@numpy_fallback(np.split)
def split(ary, indices_or_sections, axis=0):
    aval = _aval(ary)
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
        out.append(ary[tuple(idx)])
    return out


@numpy_fallback(np.flip)
def flip(m, axis=None):
    return prims.rev(m, canonical_axes(axis, _aval(m).ndim))


@numpy_fallback(np.pad)
def pad(array, pad_width, mode="constant", **kwargs):
    """`numpy.pad`; traced values take mode='constant' with `constant_values` (a scalar)."""
    x, constant_values = array, kwargs.pop("constant_values", 0)
    if mode != "constant" or kwargs:
        raise FuncgradError(f"pad: only mode='constant' (with constant_values=) is supported on "
                            f"traced values, got mode={mode!r} {sorted(kwargs)}, at "
                            f"{user_frame()}")
    aval = _aval(x)
    pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (aval.ndim, 2))
    return prims.pad(x, np.asarray(constant_values, aval.dtype), [(int(lo), int(hi), 0)
                                                               for lo, hi in pw])


@numpy_fallback(np.tile)
def tile(A, reps):
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    aval = _aval(A)
    nd = builtins.max(aval.ndim, len(reps))
    A = reshape(A, (1,) * (nd - aval.ndim) + aval.shape)
    reps = (1,) * (nd - len(reps)) + reps
    shp = _aval(A).shape
    expanded = broadcast_to(reshape(A, tuple(v for s in shp for v in (1, s))),
                            tuple(v for r, s in zip(reps, shp) for v in (r, s)))
    return reshape(expanded, tuple(r * s for r, s in zip(reps, shp)))


@numpy_fallback(lambda a, repeats, axis=None, *, total_repeat_length=None, out_sharding=None:
                np.repeat(a, repeats, axis))
def repeat(a, repeats, axis=None, *, total_repeat_length=None, out_sharding=None):
    """`numpy.repeat` with an integer `repeats` (when traced: the output size must be known;
    `total_repeat_length`, if given, must equal it)."""
    _base._placed(None, None, out_sharding, "repeat")
    x = a
    if not isinstance(repeats, int):
        raise FuncgradError("repeat: only an integer number of repeats is supported when traced")
    if total_repeat_length is not None and total_repeat_length != repeats * (
            _aval(x).size if axis is None else _aval(x).shape[axis]):
        raise FuncgradError(f"repeat: total_repeat_length={total_repeat_length} does not match "
                            f"{repeats} repeats, at {user_frame()}")
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


@numpy_fallback(np.broadcast_arrays)
def broadcast_arrays(*args):
    shape = _broadcast_shapes("broadcast_arrays", *[_aval(a).shape for a in args])
    return tuple(broadcast_to(a, shape) for a in args)


def _atleast(arys, n: int) -> list:
    out = []
    for a in arys:
        s = _aval(a).shape
        if len(s) < n:  # NumPy's rules: (N,) -> (1, N) for 2-d, (1, N, 1) for 3-d
            s = (1,) * (n - len(s)) + s if n < 3 or not s else \
                ((1,) + s + (1,) if len(s) == 1 else s + (1,))
            a = reshape(asarray(a), s)
        out.append(a)
    return out


@numpy_fallback(np.atleast_1d)
def atleast_1d(*arys):
    out = _atleast(arys, 1)
    return out if len(out) != 1 else out[0]


@numpy_fallback(np.atleast_2d)
def atleast_2d(*arys):
    out = _atleast(arys, 2)
    return out if len(out) != 1 else out[0]


@numpy_fallback(np.atleast_3d)
def atleast_3d(*arys):
    out = _atleast(arys, 3)
    return out if len(out) != 1 else out[0]


@numpy_fallback(np.vstack, 1)
def vstack(tup, dtype=None):
    return concatenate(_atleast(tup, 2), axis=0, dtype=dtype)


@numpy_fallback(np.hstack, 1)
def hstack(tup, dtype=None):
    arrs = _atleast(tup, 1)
    return concatenate(arrs, axis=0 if _aval(arrs[0]).ndim == 1 else 1, dtype=dtype)


def _slice_axis(x, lo: int, hi: int, axis: int):
    shape = _aval(x).shape
    return prims.slice_(x, [lo if d == axis else 0 for d in range(len(shape))],
                    [hi if d == axis else s for d, s in enumerate(shape)], [1] * len(shape))


@numpy_fallback(np.roll)
def roll(a, shift, axis=None):
    """Rotates entries along `axis` (None: the flattened array); `shift` and `axis` may be
    tuples, broadcast against each other as in `numpy.roll`. The shift must be concrete."""
    aval = _aval(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), aval.shape)
    total = {}
    for s, ax in np.broadcast(np.asarray(shift), np.asarray(axis)):
        ax = canonical_axes(int(ax), aval.ndim)[0]
        total[ax] = total.get(ax, 0) + int(s)
    for ax, s in total.items():
        n = aval.shape[ax]
        if n and s % n:
            s %= n
            a = concatenate([_slice_axis(a, n - s, n, ax), _slice_axis(a, 0, n - s, ax)], ax)
    return a


def _tri_mask(x, k: int, upper: bool):
    mask = np.tri(*_aval(x).shape[-2:], k=k - 1 if upper else k, dtype=bool)
    return ~mask if upper else mask


@numpy_fallback(np.tril)
def tril(m, k=0):
    """Lower triangle of the last two axes (entries above diagonal `k` zeroed)."""
    return where(_tri_mask(m, k, False), m, np.zeros((), _aval(m).dtype))


@numpy_fallback(np.triu)
def triu(m, k=0):
    """Upper triangle of the last two axes (entries below diagonal `k` zeroed)."""
    return where(_tri_mask(m, k, True), m, np.zeros((), _aval(m).dtype))
