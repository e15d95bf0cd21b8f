"""`fnp`'s statistics and numerical helpers: quantiles and medians, the `nan*` reductions, cov,
averages, differences and integration (gradient, trapezoid, interp), convolution, searching and
counting (searchsorted, digitize, bincount, histogram, isin), products (kron, cross, vecdot) and
the polynomial helpers (poly*, vander).

Each is a composite of the lower modules: it works on arrays (NumPy itself runs) and on traced
values, differentiably where the function is; quantile levels, bin counts and `length=` must be
concrete (they fix the output's shape).
"""
from __future__ import annotations

import numpy as np

from ..avals import result_dtype
from ..core import FuncgradError, Tracer, user_frame
from ..util import canonical_axes
from . import contractions as ct
from . import extra as ex
from . import indexing as ix
from . import shapes as sh
from . import ufuncs as uf
from ._base import (
    _aval,
    _placed,
    _promote,
    asarray,
    astype,
    contraction_operands,
    no_out,
    np_contraction,
    np_reduction,
    numpy_fallback,
)

_IMPORTED = set(globals())  # what `__all__` (at the end) leaves out


def _same_dtype(*xs):
    """The arrays in their common dtype (NEP 50), shapes untouched."""
    xs = [asarray(x) for x in xs]
    dt = result_dtype(*[_aval(x) for x in xs])[0]
    return [astype(x, dt) for x in xs]


def _axis_last(a, axis):
    """(a with `axis` moved last, or flattened when None)."""
    a = asarray(a)
    return sh.ravel(a) if axis is None else sh.moveaxis(a, axis, -1)


def _keepdims(out, a, axis, keepdims, lead=0):
    if not keepdims:
        return out
    nd = _aval(a).ndim
    axes = range(nd) if axis is None else canonical_axes(axis, nd)
    shape = _aval(out).shape[:lead] + tuple(1 if i in axes else s
                                            for i, s in enumerate(_aval(a).shape))
    return sh.reshape(out, shape)


def _quantile(a, q, axis, method, keepdims, ignore_nan):
    if isinstance(q, Tracer):
        raise FuncgradError(f"quantile: the levels q must be concrete (they are not "
                            f"differentiated), got a traced value, at {user_frame()}")
    if method not in ("linear", "lower", "higher", "nearest", "midpoint"):
        raise FuncgradError(f"quantile: method={method!r} is not supported on traced values; "
                            f"use 'linear', 'lower', 'higher', 'nearest' or 'midpoint'")
    q = np.asarray(q, dtype=np.float64)
    (x,) = _promote("quantile", _axis_last(a, axis), to_float=True)
    n = _aval(x).shape[-1]
    s = ix.sort(x, axis=-1)  # NaNs sort last
    if ignore_nan:
        cnt = sh.sum(uf.logical_not(uf.isnan(x)), axis=-1, keepdims=True)
        cnt = astype(cnt, _aval(x).dtype)
    else:
        cnt = np.asarray(n, _aval(x).dtype)
    outs = []
    for level in q.reshape(-1):
        pos = uf.multiply(uf.subtract(cnt, 1.0), level)
        lo, hi = uf.floor(pos), uf.ceil(pos)
        frac = uf.subtract(pos, lo)
        if method == "lower":
            hi = lo
        elif method == "higher":
            lo = hi
        elif method == "nearest":
            lo = hi = uf.round_(pos)
        elif method == "midpoint":
            frac = np.asarray(0.5, _aval(x).dtype)
        li = astype(uf.clip(sh.broadcast_to(lo, _aval(s).shape[:-1] + (1,)), 0, n - 1), np.int64)
        hi_ = astype(uf.clip(sh.broadcast_to(hi, _aval(s).shape[:-1] + (1,)), 0, n - 1), np.int64)
        vlo, vhi = ix.take_along_axis(s, li, -1), ix.take_along_axis(s, hi_, -1)
        v = uf.add(vlo, uf.multiply(uf.subtract(vhi, vlo), frac))
        if not ignore_nan:  # a NaN anywhere gives NaN, as in NumPy
            v = uf.where(uf.isnan(s[..., -1:]), np.nan, v)
        outs.append(sh.squeeze(v, -1))
    out = sh.reshape(sh.stack(outs), q.shape + _aval(outs[0]).shape)
    return _keepdims(out, asarray(a), axis, keepdims, q.ndim)


def _no_weights(name, weights, out_sharding=None):
    _placed(None, None, out_sharding, name)
    if weights is not None:
        raise FuncgradError(f"{name}: weights= is not supported (only NumPy's 'inverted_cdf' "
                            f"method defines it); repeat samples by their integer weights with "
                            f"fnp.repeat, or pass weights=None, at {user_frame()}")


def _np_quantile(np_fn):
    def call(a, q, *args, weights=None, out_sharding=None, **kw):
        _no_weights(np_fn.__name__, weights, out_sharding)
        return np_fn(a, q, *args, **kw)
    return call


@numpy_fallback(_np_quantile(np.quantile))
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
             *, weights=None):
    _no_weights("quantile", weights)
    return _quantile(a, q, axis, method, keepdims, False)


@numpy_fallback(_np_quantile(np.nanquantile))
def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None):
    _no_weights("nanquantile", weights)
    return _quantile(a, q, axis, method, keepdims, True)


@numpy_fallback(_np_quantile(np.percentile))
def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear", keepdims=False,
               *, weights=None, out_sharding=None):
    _no_weights("percentile", weights, out_sharding)
    return _quantile(a, np.asarray(q) / 100.0, axis, method, keepdims, False)


@numpy_fallback(_np_quantile(np.nanpercentile))
def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=False, *, weights=None):
    _no_weights("nanpercentile", weights)
    return _quantile(a, np.asarray(q) / 100.0, axis, method, keepdims, True)


@numpy_fallback(np.median)
def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return _quantile(a, 0.5, axis, "linear", keepdims, False)


@numpy_fallback(np.nanmedian)
def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    return _quantile(a, 0.5, axis, "linear", keepdims, True)


@numpy_fallback(np.ptp)
def ptp(a, axis=None, out=None, keepdims=False):
    no_out('ptp', out)
    return uf.subtract(sh.max(a, axis, keepdims=keepdims), sh.min(a, axis, keepdims=keepdims))


@numpy_fallback(np.average)
def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    if weights is None:
        avg = sh.mean(a, axis, keepdims=keepdims)
        wsum = np.asarray(np.prod(_aval(a).shape) / np.prod(np.shape(avg) or 1), float)
    else:
        a, w = _promote("average", a, weights, to_float=True) if _aval(asarray(a)).shape == \
            _aval(asarray(weights)).shape else (asarray(a), asarray(weights))
        if _aval(w).shape != _aval(a).shape:  # 1-D weights along `axis`
            shape = [1] * _aval(a).ndim
            shape[canonical_axes(axis, _aval(a).ndim)[0]] = -1
            w = sh.broadcast_to(sh.reshape(w, tuple(shape)), _aval(a).shape)
        wsum = sh.sum(w, axis, keepdims=keepdims)
        avg = uf.divide(sh.sum(uf.multiply(a, w), axis, keepdims=keepdims), wsum)
    return (avg, sh.broadcast_to(wsum, _aval(asarray(avg)).shape)) if returned else avg


# --- the nan* reductions ------------------------------------------------------------------------

def _nan_fill(a, fill):
    a = asarray(a)
    return uf.where(uf.isnan(a), fill, a) if _aval(a).dtype.kind in "fc" else a


@numpy_fallback(np_reduction(np.nansum), 1)
def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return sh.sum(_nan_fill(a, 0), axis, dtype, out, keepdims, initial, where)


@numpy_fallback(np_reduction(np.nanprod), 1)
def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    return sh.prod(_nan_fill(a, 1), axis, dtype, out, keepdims, initial, where)


def _nan_extreme(reduce, fill, np_fn):
    @numpy_fallback(np_reduction(np_fn), 1)
    def f(a, axis=None, out=None, keepdims=False, initial=None, where=None):
        a = asarray(a)
        out = reduce(_nan_fill(a, fill), axis, out, keepdims, initial, where)
        if _aval(a).dtype.kind != "f" or initial is not None:
            return out
        seen = sh.any(_not_nan(a, where), axis, keepdims=keepdims)
        return uf.where(seen, out, np.nan)  # an all-NaN slice gives NaN
    f.__name__ = np_fn.__name__
    return f


nanmax = _nan_extreme(sh.max, -np.inf, np.nanmax)
nanmin = _nan_extreme(sh.min, np.inf, np.nanmin)


@numpy_fallback(np.nanargmax)
def nanargmax(a, axis=None, out=None, keepdims=False):
    return sh.argmax(_nan_fill(a, -np.inf), axis, out, keepdims)


@numpy_fallback(np.nanargmin)
def nanargmin(a, axis=None, out=None, keepdims=False):
    return sh.argmin(_nan_fill(a, np.inf), axis, out, keepdims)


def _not_nan(a, where):
    """The mask of the elements the nan-statistics see: not NaN, and `where`."""
    seen = uf.logical_not(uf.isnan(a))
    return seen if where is None else uf.logical_and(seen, where)


@numpy_fallback(np_reduction(np.nanmean), 1)
def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    a = sh._float_or(a, dtype)
    return sh.mean(_nan_fill(a, 0), axis, None, out, keepdims, where=_not_nan(a, where))


@numpy_fallback(np_reduction(np.nanvar), 1)
def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None):
    a = sh._float_or(a, dtype)
    return sh.var(_nan_fill(a, 0), axis, None, out, ddof, keepdims, where=_not_nan(a, where),
                  mean=mean)


@numpy_fallback(np_reduction(np.nanstd), 1)
def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=None, mean=None):
    return uf.sqrt(nanvar(a, axis, dtype, out, ddof, keepdims, where, mean))


@numpy_fallback(np.nancumsum, 1)
def nancumsum(a, axis=None, dtype=None, out=None):
    return sh.cumsum(_nan_fill(a, 0), axis, dtype, out)


@numpy_fallback(np.nancumprod, 1)
def nancumprod(a, axis=None, dtype=None, out=None):
    return sh.cumprod(_nan_fill(a, 1), axis, dtype, out)


def _cumulative(scan, np_fn, identity):
    @numpy_fallback(np_fn)
    def f(x, /, *, axis=None, dtype=None, include_initial=False):
        x = asarray(x)
        if axis is None:
            if _aval(x).ndim > 1:
                raise FuncgradError(f"{np_fn.__name__}: axis= is required for arrays of more "
                                    f"than one dimension, at {user_frame()}")
            axis = 0
        if dtype is not None:
            x = astype(x, dtype)
        out = scan(x, axis)
        if include_initial:
            shape = list(_aval(out).shape)
            shape[axis] = 1
            out = sh.concatenate([np.full(shape, identity, _aval(out).dtype), out], axis)
        return out
    f.__name__ = np_fn.__name__
    return f


cumulative_sum = _cumulative(sh.cumsum, np.cumulative_sum, 0)
cumulative_prod = _cumulative(sh.cumprod, np.cumulative_prod, 1)


# --- covariance -----------------------------------------------------------------------------------

@numpy_fallback(np.cov)
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None, *,
        dtype=None):
    if fweights is not None or aweights is not None:
        raise FuncgradError(f"cov: fweights/aweights are not supported on traced values, at "
                            f"{user_frame()}")
    (x,) = _promote("cov", sh.atleast_2d(m), to_float=True)
    if not rowvar and _aval(x).shape[0] != 1:
        x = sh.transpose(x)
    if y is not None:
        (yy,) = _promote("cov", sh.atleast_2d(y), to_float=True)
        x = sh.concatenate([x, yy if rowvar or _aval(yy).shape[0] == 1 else sh.transpose(yy)], 0)
    n = _aval(x).shape[1]
    ddof = (0 if bias else 1) if ddof is None else ddof
    xc = uf.subtract(x, sh.mean(x, 1, keepdims=True))
    c = uf.divide(ct.matmul(xc, sh.transpose(xc)), float(n - ddof))
    return sh.squeeze(c) if _aval(c).shape == (1, 1) else c


@numpy_fallback(np.corrcoef)
def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = cov(x, y, rowvar)
    if _aval(c).ndim == 0:
        return uf.divide(c, c)
    d = uf.sqrt(ix.diagonal(c))
    return uf.clip(uf.divide(uf.divide(c, d[:, None]), d[None, :]), -1, 1)


# --- differences, integration, interpolation --------------------------------------------------

@numpy_fallback(np.gradient)
def gradient(f, *varargs, axis=None, edge_order=1):
    """Central differences inside, one-sided at the ends, like `numpy.gradient` (scalar
    spacings, edge_order=1)."""
    f = asarray(f)
    axes = canonical_axes(axis, _aval(f).ndim)
    spacing = list(varargs) * len(axes) if len(varargs) <= 1 else list(varargs)
    if edge_order != 1 or any(np.ndim(h) for h in spacing):
        raise FuncgradError(f"gradient: only scalar spacings and edge_order=1 are supported on "
                            f"traced values, at {user_frame()}")
    outs = []
    for i, ax in enumerate(axes):
        h = spacing[i] if spacing else 1.0
        sl = ex._slice
        mid = uf.divide(uf.subtract(sl(f, 2, None, ax), sl(f, None, -2, ax)), 2.0 * h)
        first = uf.divide(uf.subtract(sl(f, 1, 2, ax), sl(f, 0, 1, ax)), h)
        last = uf.divide(uf.subtract(sl(f, -1, None, ax), sl(f, -2, -1, ax)), h)
        outs.append(sh.concatenate([first, mid, last], ax))
    return outs[0] if len(outs) == 1 else tuple(outs)


@numpy_fallback(np.trapezoid)
def trapezoid(y, x=None, dx=1.0, axis=-1):
    y = asarray(y)
    ax = canonical_axes(axis, _aval(y).ndim)[0]
    mid = uf.multiply(uf.add(ex._slice(y, 1, None, ax), ex._slice(y, None, -1, ax)), 0.5)
    d = dx if x is None else ex.diff(x, axis=ax if _aval(asarray(x)).ndim > 1 else -1)
    if x is not None and _aval(asarray(d)).ndim == 1 and _aval(y).ndim > 1:
        shape = [1] * _aval(y).ndim
        shape[ax] = -1
        d = sh.reshape(d, tuple(shape))
    return sh.sum(uf.multiply(mid, d), ax)


@numpy_fallback(lambda a, v, side="left", sorter=None, *, method="scan":
                np.searchsorted(a, v, side, sorter))
def searchsorted(a, v, side="left", sorter=None, *, method="scan"):
    """Insertion indices into the sorted 1-D `a` (by comparisons: O(len(a) * len(v)), whatever
    JAX's `method`, which picks XLA's algorithm)."""
    if sorter is not None:
        a = ix.take(a, sorter)
    v = asarray(v)
    cmp = uf.less if side == "left" else uf.less_equal
    return sh.sum(cmp(sh.expand_dims(asarray(a), tuple(range(1, _aval(v).ndim + 1))), v), 0)


@numpy_fallback(lambda x, bins, right=False, *, method=None: np.digitize(x, bins, right))
def digitize(x, bins, right=False, *, method=None):
    """`numpy.digitize` (JAX's `method` picks XLA's search algorithm: no effect here)."""
    bins = asarray(bins)
    up = searchsorted(bins, x, "left" if right else "right")
    n = _aval(bins).shape[0]
    down = uf.subtract(n, searchsorted(sh.flip(bins), x, "right" if right else "left"))
    if isinstance(bins, Tracer):
        return uf.where(uf.less_equal(bins[0], bins[-1]), up, down)
    return up if n < 2 or bins[0] <= bins[-1] else down


@numpy_fallback(np.interp)
def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation, like `numpy.interp` (increasing `xp`)."""
    if period is not None:
        raise FuncgradError(f"interp: period= is not supported on traced values, at "
                            f"{user_frame()}")
    (x,) = _promote("interp", x, to_float=True)
    n = _aval(asarray(xp)).shape[0]
    i = uf.clip(uf.subtract(searchsorted(xp, x, "right"), 1), 0, n - 2)
    x0, x1, f0, f1 = ix.take(xp, i), ix.take(xp, uf.add(i, 1)), ix.take(fp, i), \
        ix.take(fp, uf.add(i, 1))
    dx = uf.subtract(x1, x0)
    t = uf.divide(uf.subtract(x, x0), uf.where(uf.equal(dx, 0), 1.0, dx))
    out = uf.add(f0, uf.multiply(t, uf.subtract(f1, f0)))
    out = uf.where(uf.less(x, ix.take(xp, 0)), ix.take(fp, 0) if left is None else left, out)
    return uf.where(uf.greater(x, ix.take(xp, n - 1)), ix.take(fp, n - 1) if right is None
                    else right, out)


def _conv_full(a, v):
    a, v = _same_dtype(sh.ravel(a), sh.ravel(v))
    n, m = _aval(a).shape[0], _aval(v).shape[0]
    ap = sh.pad(a, (m - 1, m - 1))
    idx = np.arange(n + m - 1)[:, None] + np.arange(m)[None, :]
    return ct.matmul(ix.take(ap, idx), sh.flip(v)), n, m


def _mode(full, n, m, mode):
    if mode == "full":
        return full
    lo = (min(n, m) - 1) // 2 if mode == "same" else min(n, m) - 1
    length = max(n, m) if mode == "same" else max(n, m) - min(n, m) + 1
    if mode not in ("same", "valid"):
        raise ValueError(f"convolve: mode must be 'full', 'same' or 'valid', got {mode!r}")
    return full[lo:lo + length]


@numpy_fallback(np_contraction(np.convolve))
def convolve(a, v, mode="full", *, precision=None, preferred_element_type=None):
    a, v = contraction_operands("convolve", a, v, preferred_element_type, None)
    full, n, m = _conv_full(a, v)
    return _mode(full, n, m, mode)


@numpy_fallback(np_contraction(np.correlate))
def correlate(a, v, mode="valid", *, precision=None, preferred_element_type=None):
    a, v = contraction_operands("correlate", a, v, preferred_element_type, None)
    full, n, m = _conv_full(a, sh.flip(sh.ravel(v)))
    return _mode(full, n, m, mode)


# --- counting -----------------------------------------------------------------------------------

def bincount(x, weights=None, minlength=0, *, length=None, out_sharding=None):
    """Counts (or summed weights) of each non-negative integer; on traced values `length=` fixes
    the output size (as in `jax.numpy.bincount`); larger values are dropped."""
    _placed(None, None, out_sharding, "bincount")
    if not isinstance(x, Tracer) and not isinstance(weights, Tracer):
        out = np.bincount(x, weights, minlength)
        return out if length is None else np.pad(out, (0, max(0, length - out.size)))[:length]
    if length is None:
        raise FuncgradError(f"bincount: on traced values pass length= (the number of bins: the "
                            f"output shape cannot depend on the data), at {user_frame()}")
    w = np.ones(_aval(x).shape, np.int64) if weights is None else weights
    w = uf.where(uf.less(x, length), w, 0)
    zero = np.zeros(length, _aval(asarray(w)).dtype)
    return ix.at(zero)[uf.clip(x, 0, length - 1)].add(w)


def histogram(a, bins=10, range=None, weights=None, density=None):  # noqa: A002
    """`numpy.histogram` with a number of bins (or concrete edges); the edges come from `range`
    or the data's min and max."""
    if not any(isinstance(v, Tracer) for v in (a, weights)):
        return np.histogram(a, bins, range, density, weights)
    a = sh.ravel(asarray(a))
    if np.ndim(bins) == 0:
        lo, hi = (sh.min(a), sh.max(a)) if range is None else range
        edges = uf.add(lo, uf.multiply(uf.subtract(hi, lo), np.linspace(0, 1, int(bins) + 1)))
    else:
        edges = asarray(bins)
    nb = _aval(asarray(edges)).shape[0] - 1
    i = uf.subtract(searchsorted(edges, a, "right"), 1)
    i = uf.where(uf.equal(a, edges[-1]), nb - 1, i)  # the last bin is closed
    inside = uf.logical_and(uf.greater_equal(i, 0), uf.less(i, nb))
    w = np.ones(_aval(a).shape) if weights is None else sh.ravel(weights)
    counts = bincount(uf.where(inside, i, 0), uf.where(inside, w, 0), length=nb)
    if density:
        counts = uf.divide(counts, uf.multiply(sh.sum(counts), ex.diff(edges)))
    return counts, edges


@numpy_fallback(lambda element, test_elements, assume_unique=False, invert=False, *,
                method="auto": np.isin(element, test_elements, assume_unique, invert))
def isin(element, test_elements, assume_unique=False, invert=False, *, method="auto"):
    """`numpy.isin` by comparing every pair (JAX's `method` picks XLA's algorithm)."""
    e = asarray(element)
    eq = sh.any(uf.equal(sh.expand_dims(e, -1), sh.ravel(test_elements)), -1)
    return uf.logical_not(eq) if invert else eq


__all__ = sorted(n for n in set(globals()) - _IMPORTED if not n.startswith("_"))
