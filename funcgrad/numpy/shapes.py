"""`fnp`'s reductions, scans and shape manipulation (sum ... cumprod, reshape ... roll, tril).

Part of `funcgrad.numpy`, which re-exports every name in `__all__`; the canonicalisation helpers
(`_plain`, `_promote`, ...) and the elementwise functions come from there (see its docstring).
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from ..avals import is_float, result_dtype
from ..core import FuncgradError, Tracer, user_frame
from ..primitives import reduction as R
from ..primitives import shape as S
from ..util import canonical_axes
from . import (
    _aval,
    _broadcast_shapes,
    _plain,
    asarray,
    astype,
    broadcast_to,
    divide,
    multiply,
    ones,
    sqrt,
    square,
    subtract,
    where,
)

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


def cumprod(x, axis=None, dtype=None):
    """Cumulative product along `axis`, as log2(n) rounds of shifted multiplications (a
    Hillis-Steele scan): exact with zeros in the input, and differentiable to any order."""
    if _plain(x):
        return np.cumprod(x, axis=axis, dtype=dtype)
    if axis is None:
        x, axis = ravel(x), 0
    aval = _aval(x)
    ax = canonical_axes(axis, aval.ndim)[0]
    if dtype is not None:
        x = astype(x, dtype)
    elif aval.dtype.kind in "biu" and aval.dtype.itemsize < 8:  # NumPy's accumulator dtypes
        x = astype(x, np.uint64 if aval.dtype.kind == "u" else np.int64)
    one, n, k = np.ones((), _aval(x).dtype), aval.shape[ax], 1
    while k < n:  # afterwards, entry i holds the product of entries max(0, i - 2k + 1) .. i
        hi = list(aval.shape)
        hi[ax] = n - k
        shifted = S.pad(S.slice_(x, [0] * aval.ndim, hi, [1] * aval.ndim), one,
                        [(k if d == ax else 0, 0, 0) for d in range(aval.ndim)])
        x, k = multiply(x, shifted), 2 * k
    return x


def count_nonzero(x, axis=None, keepdims=False):
    if _plain(x):
        return np.count_nonzero(x, axis=axis, keepdims=keepdims)
    return sum(astype(x, bool), axis, keepdims=keepdims)



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
    arrays = [asarray(a) if isinstance(a, (list, tuple)) else a for a in arrays]  # [[x, y], ...]
    if _plain(*arrays):
        return np.concatenate(arrays, axis=axis)
    dt = result_dtype(*[_aval(a) for a in arrays])[0]
    arrays = [astype(a, dt) if not isinstance(a, Tracer) or _aval(a).dtype != dt else a
              for a in arrays]
    nd = _aval(arrays[0]).ndim
    return S.concatenate(arrays, canonical_axes(axis, nd)[0])


def stack(arrays, axis=0):
    arrays = [asarray(a) if isinstance(a, (list, tuple)) else a for a in arrays]  # [[x, y], ...]
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


def broadcast_arrays(*args):
    if _plain(*args):
        return np.broadcast_arrays(*args)
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


def atleast_1d(*arys):
    out = np.atleast_1d(*arys) if _plain(*arys) else _atleast(arys, 1)
    return out if _plain(*arys) or len(out) != 1 else out[0]


def atleast_2d(*arys):
    out = np.atleast_2d(*arys) if _plain(*arys) else _atleast(arys, 2)
    return out if _plain(*arys) or len(out) != 1 else out[0]


def atleast_3d(*arys):
    out = np.atleast_3d(*arys) if _plain(*arys) else _atleast(arys, 3)
    return out if _plain(*arys) or len(out) != 1 else out[0]


def vstack(tup):
    if _plain(*tup):
        return np.vstack(tup)
    return concatenate(_atleast(tup, 2), axis=0)


def hstack(tup):
    if _plain(*tup):
        return np.hstack(tup)
    arrs = _atleast(tup, 1)
    return concatenate(arrs, axis=0 if _aval(arrs[0]).ndim == 1 else 1)


def _slice_axis(x, lo: int, hi: int, axis: int):
    shape = _aval(x).shape
    return S.slice_(x, [lo if d == axis else 0 for d in range(len(shape))],
                    [hi if d == axis else s for d, s in enumerate(shape)], [1] * len(shape))


def roll(x, shift, axis=None):
    """Rotates entries along `axis` (None: the flattened array); `shift` and `axis` may be
    tuples, broadcast against each other as in `numpy.roll`. The shift must be concrete."""
    if _plain(x):
        return np.roll(x, shift, axis)
    aval = _aval(x)
    if axis is None:
        return reshape(roll(ravel(x), shift, 0), aval.shape)
    total = {}
    for s, a in np.broadcast(np.asarray(shift), np.asarray(axis)):
        a = canonical_axes(int(a), aval.ndim)[0]
        total[a] = total.get(a, 0) + int(s)
    for a, s in total.items():
        n = aval.shape[a]
        if n and s % n:
            s %= n
            x = concatenate([_slice_axis(x, n - s, n, a), _slice_axis(x, 0, n - s, a)], a)
    return x


def _tri_mask(x, k: int, upper: bool):
    mask = np.tri(*_aval(x).shape[-2:], k=k - 1 if upper else k, dtype=bool)
    return ~mask if upper else mask


def tril(m, k=0):
    """Lower triangle of the last two axes (entries above diagonal `k` zeroed)."""
    if _plain(m):
        return np.tril(m, k)
    return where(_tri_mask(m, k, False), m, np.zeros((), _aval(m).dtype))


def triu(m, k=0):
    """Upper triangle of the last two axes (entries below diagonal `k` zeroed)."""
    if _plain(m):
        return np.triu(m, k)
    return where(_tri_mask(m, k, True), m, np.zeros((), _aval(m).dtype))
