"""`fnp`'s set functions (unique and unique_*, union1d, intersect1d, setdiff1d, setxor1d) and the
index finders argwhere, flatnonzero and extract.

On concrete arrays without `size=` they are NumPy's. With `size=` (needed on traced values:
their result's length would depend on the data) they work everywhere, as in JAX: the first
`size` results, padded with `fill_value` — by default the smallest result (JAX's choice), or 0
for setdiff1d and the index finders. Each sorts, marks the entries to keep, and gathers them
with `nonzero(size=)`.
"""
from __future__ import annotations

import collections

import numpy as np

from ..core import FuncgradError, user_frame
from . import shapes as sh
from . import ufuncs as uf
from ._base import _aval, _traced, asarray, astype
from .extra import nonzero
from .indexing import argsort, at, sort, take
from .rearrange import compress
from .statistics import isin

__all__ = ["unique", "unique_all", "unique_counts", "unique_inverse", "unique_values", "union1d",
           "intersect1d", "setdiff1d", "setxor1d", "argwhere", "flatnonzero", "extract"]

UniqueAllResult = collections.namedtuple("UniqueAllResult",
                                         "values indices inverse_indices counts")
UniqueCountsResult = collections.namedtuple("UniqueCountsResult", "values counts")
UniqueInverseResult = collections.namedtuple("UniqueInverseResult", "values inverse_indices")


def _sized(name: str, size, *args) -> bool:
    """Whether to take the static-size path (`size` given); traced arguments need it."""
    if size is not None:
        return True
    if _traced(args):
        raise FuncgradError(f"{name}: on traced values pass size= (the result's length, which "
                            f"would otherwise depend on the data; missing entries are "
                            f"fill_value), at {user_frame()}")
    return False


def _starts(x, equal_nan=True):
    """For a sorted 1-d `x`: True where a new value begins (NaNs equal with `equal_nan`)."""
    if _aval(x).shape[0] == 0:
        return astype(x, bool)
    new = uf.not_equal(x[1:], x[:-1])
    if equal_nan and _aval(x).dtype.kind in "fc":
        new = uf.logical_and(new, uf.logical_not(uf.logical_and(uf.isnan(x[1:]), uf.isnan(x[:-1]))))
    return sh.concatenate([np.ones(1, bool), new])


def _pick(values, keep, size, fill_value, smallest=True):
    """The kept entries of the sorted 1-d `values`, in order, then `fill_value` up to `size`
    (default: the first kept entry, or 0); also their positions and how many there are."""
    (idx,) = nonzero(keep, size=size)
    count = sh.sum(keep)
    out = take(values, idx)
    fill = (out[0] if smallest else 0) if fill_value is None else fill_value
    return uf.where(uf.less(np.arange(size), count), out, fill), idx, count


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, size=None, fill_value=None, sorted=True):  # noqa: A002
    """The sorted unique values of `ar` (flattened), like `numpy.unique`, with the indices of
    their first occurrences, the inverse (each element's position among them) and the counts on
    request. With `size=` on traced values too (`axis=None` only)."""
    if not _sized("unique", size, ar):
        return np.unique(ar, return_index, return_inverse, return_counts, axis,
                         equal_nan=equal_nan, sorted=sorted)
    if axis is not None:
        raise FuncgradError(f"unique: size= works with axis=None only, at {user_frame()}")
    flat = sh.ravel(asarray(ar))
    perm = argsort(flat)
    x = take(flat, perm)
    first = _starts(x, equal_nan)
    values, idx, count = _pick(x, first, size, fill_value)
    outs = [values]
    if return_index:
        outs.append(take(perm, idx))
    if return_inverse:
        n = _aval(flat).shape[0]
        group = uf.subtract(sh.cumsum(astype(first, np.int64)), 1)
        inverse = at(np.zeros(n, np.int64))[perm].set(group)
        outs.append(sh.reshape(inverse, _aval(asarray(ar)).shape))
    if return_counts:
        k = np.arange(size)
        n = _aval(flat).shape[0]
        nxt = uf.where(uf.less(k + 1, count), sh.roll(idx, -1), n)
        outs.append(uf.where(uf.less(k, count), uf.subtract(nxt, idx), 0))
    return outs[0] if len(outs) == 1 else tuple(outs)


def unique_values(x, *, size=None, fill_value=None):
    """`unique(x)`: the sorted unique values. The array API's unique_* keep NaNs apart."""
    if not _sized("unique_values", size, x):
        return np.unique_values(x)
    return unique(x, equal_nan=False, size=size, fill_value=fill_value)


def unique_counts(x, *, size=None, fill_value=None):
    return UniqueCountsResult(*unique(x, return_counts=True, equal_nan=False, size=size,
                                     fill_value=fill_value)) \
        if _sized("unique_counts", size, x) else np.unique_counts(x)


def unique_inverse(x, *, size=None, fill_value=None):
    return UniqueInverseResult(*unique(x, return_inverse=True, equal_nan=False, size=size,
                                       fill_value=fill_value)) \
        if _sized("unique_inverse", size, x) else np.unique_inverse(x)


def unique_all(x, *, size=None, fill_value=None):
    if not _sized("unique_all", size, x):
        return np.unique_all(x)
    return UniqueAllResult(*unique(x, True, True, True, equal_nan=False, size=size,
                                   fill_value=fill_value))


def union1d(ar1, ar2, *, size=None, fill_value=None):
    if not _sized("union1d", size, ar1, ar2):
        return np.union1d(ar1, ar2)
    both = sh.concatenate([sh.ravel(asarray(ar1)), sh.ravel(asarray(ar2))])
    return unique(both, size=size, fill_value=fill_value)


def _sorted_unique(ar):
    x = sort(sh.ravel(asarray(ar)))
    return x, _starts(x)


def intersect1d(ar1, ar2, assume_unique=False, return_indices=False, *, size=None,
                fill_value=None):
    if not _sized("intersect1d", size, ar1, ar2):
        return np.intersect1d(ar1, ar2, assume_unique, return_indices)
    if return_indices:
        raise FuncgradError(f"intersect1d: return_indices=True needs concrete values, at "
                            f"{user_frame()}")
    x, first = _sorted_unique(ar1)
    return _pick(x, uf.logical_and(first, isin(x, ar2)), size, fill_value)[0]


def setdiff1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    if not _sized("setdiff1d", size, ar1, ar2):
        return np.setdiff1d(ar1, ar2, assume_unique)
    x, first = _sorted_unique(ar1)
    keep = uf.logical_and(first, isin(x, ar2, invert=True))
    return _pick(x, keep, size, fill_value, smallest=False)[0]


def setxor1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    if not _sized("setxor1d", size, ar1, ar2):
        return np.setxor1d(ar1, ar2, assume_unique)
    (a, fa), (b, fb) = _sorted_unique(ar1), _sorted_unique(ar2)
    both = sh.concatenate([a, b])
    keep = sh.concatenate([uf.logical_and(fa, isin(a, b, invert=True)),
                           uf.logical_and(fb, isin(b, a, invert=True))])
    order = argsort(both)
    return _pick(take(both, order), take(keep, order), size, fill_value)[0]


def argwhere(a, *, size=None, fill_value=None):
    """The indices of the non-zero elements, one row each, like `numpy.argwhere`."""
    if not _sized("argwhere", size, a):
        return np.argwhere(a)
    a = asarray(a)
    return sh.stack(nonzero(a if _aval(a).ndim else sh.ravel(a), size=size,
                            fill_value=fill_value), -1)


def flatnonzero(a, *, size=None, fill_value=None):
    """The indices of the non-zero elements of the flattened `a`."""
    if not _sized("flatnonzero", size, a):
        return np.flatnonzero(a)
    return nonzero(sh.ravel(asarray(a)), size=size, fill_value=fill_value)[0]


def extract(condition, arr, *, size=None, fill_value=0):
    """The elements of the flattened `arr` where the flattened `condition` is true."""
    if not _sized("extract", size, condition, arr):
        return np.extract(condition, arr)
    return compress(sh.ravel(asarray(condition)), sh.ravel(asarray(arr)), size=size,
                    fill_value=fill_value)
