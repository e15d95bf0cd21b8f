"""`fnp`'s indexing (`x[idx]`, take, take_along_axis), functional updates (`at`), sorting and
diagonals (the contractions are in `contractions.py`).

Built on `shapes.py`, `ufuncs.py` and `_base.py`; `funcgrad.numpy` re-exports `__all__`.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import primitives as prims  # their bind wrappers share names with fnp's functions
from ..backend import is_gpu_array
from ..core import FuncgradError, Tracer, user_frame
from ..util import canonical_axes
from . import _base
from ._base import (
    _aval,
    _broadcast_shapes,
    _promote,
    asarray,
    astype,
    broadcast_to,
    numpy_fallback,
)
from .shapes import moveaxis, pad, ravel, reshape, sum
from .ufuncs import (
    add,
    greater_equal,
    less,
    logical_and,
    maximum,
    minimum,
    mod,
    multiply,
    subtract,
    where,
)

__all__ = [
    "getitem", "take", "at", "take_along_axis", "argsort", "sort", "diagonal", "diag", "trace",
]

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


@numpy_fallback(lambda x, idx: asarray(x)[idx])
def getitem(x, idx):
    """`x[idx]` for basic (ints, slices, None, ...) and advanced (integer arrays) indices."""
    aval = _aval(x)
    if (type(idx) is tuple and idx and len(idx) == aval.ndim
            and builtins.all(type(i) is np.ndarray and i.dtype.kind in "iu" for i in idx)):
        # fast path, `x[rows, cols]`: one concrete integer array per axis is a plain gather
        # (what the general code below reduces it to, without its per-axis bookkeeping)
        ind = []
        for i, n in zip(idx, aval.shape):
            i = i.astype(np.int64)  # a copy: the program must not see later changes to `idx`
            ind.append(np.where(i < 0, i + n, i) if i.size and i.min() < 0 else i)
        return prims.gather(x, ind, tuple(range(aval.ndim)))
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
        x = prims.rev(x, tuple(flips))
    if builtins.any(s != 0 or lim != n or st != 1 for s, lim, st, n in
                    zip(starts, limits, strides, aval.shape)):
        x = prims.slice_(x, starts, limits, strides)
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
        x = prims.gather(x, ind, tuple(ax for ax, _ in adv))
    if squeeze_dims:
        x = prims.squeeze(x, tuple(squeeze_dims))
    if new_axes:
        x = prims.expand_dims(x, tuple(new_axes))
    return x


def _default_fill(dtype):
    """JAX's fill for out-of-bounds gathers: NaN, the most negative (signed) or largest
    (unsigned) integer, or True."""
    return (np.nan if dtype.kind in "fc" else True if dtype.kind == "b" else
            np.iinfo(dtype).min if dtype.kind == "i" else np.iinfo(dtype).max)


def _index_mode(name, ind, n, mode, wrap_negative=True):
    """(indices in [0, n), the mask of in-bounds ones or None) under JAX's gather `mode`:
    None/"promise_in_bounds" (negative ones wrap once), "clip", "wrap" or "fill"."""
    ind = asarray(ind)
    if mode == "wrap":
        return mod(ind, n), None
    if wrap_negative:
        ind = where(less(ind, 0), add(ind, n), ind)
    if mode == "clip":
        return minimum(maximum(ind, 0), n - 1), None
    if mode in (None, "promise_in_bounds"):
        return ind, None
    if mode == "fill":
        ok = logical_and(greater_equal(ind, 0), less(ind, n))
        return where(ok, ind, 0), ok
    raise FuncgradError(f"{name}: mode must be None, 'clip', 'wrap', 'fill' or "
                        f"'promise_in_bounds', got {mode!r}, at {user_frame()}")


def _filled(out, ok, fill_value, lead: int):
    """`out` with `fill_value` where the gathered index was out of bounds (`ok` False); `ok`
    has the index shape, found in `out` after `lead` axes."""
    if ok is None:
        return out
    shape = _aval(out).shape
    ok = reshape(ok, (1,) * lead + _aval(ok).shape + (1,) * (len(shape) - lead - _aval(ok).ndim))
    fill = _default_fill(_aval(out).dtype) if fill_value is None else fill_value
    return where(broadcast_to(ok, shape), out, np.asarray(fill, _aval(out).dtype))


def _np_take(a, indices, axis=None, out=None, mode=None, unique_indices=False,
             indices_are_sorted=False, fill_value=None):
    if mode in (None, "raise", "clip", "wrap") and fill_value is None and not is_gpu_array(a):
        return np.take(a, indices, axis, out, mode or "raise")
    return take.__wrapped__(a, indices, axis, out, mode, fill_value=fill_value)


@numpy_fallback(_np_take)
def take(a, indices, axis=None, out=None, mode=None, unique_indices=False,
         indices_are_sorted=False, fill_value=None):
    """Elements of `a` at `indices` along `axis` (None: of the flattened `a`). `mode`, as in
    JAX: "clip", "wrap", "fill" (out-of-bounds give `fill_value`, by default NaN for floats) or
    None (NumPy's: in-bounds indices expected; plain arrays raise otherwise)."""
    _base.no_out("take", out)
    x = a
    if axis is None:
        x, axis = ravel(x), 0
    ax = canonical_axes(axis, _aval(x).ndim)[0]
    ind, ok = _index_mode("take", indices, _aval(x).shape[ax], mode, mode != "clip")  # as NumPy
    return _filled(getitem(x, (builtins.slice(None),) * ax + (ind,)), ok, fill_value, ax)


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
        if builtins.any(isinstance(p, Tracer) or is_gpu_array(p) for p in parts):
            return None  # traced or device indices: scattered by index arrays
        return np.arange(aval.size).reshape(aval.shape)[idx]

    def _apply(self, prim_fn, v, combine=None):
        x = self.x
        aval = _aval(x)
        pos = self._positions()
        if pos is None:  # traced integer indices along the leading axes
            parts = self.idx if isinstance(self.idx, tuple) else (self.idx,)
            ind = [asarray(p) for p in parts]
            axes = tuple(range(len(ind)))
            sel = _broadcast_shapes("at", *[_aval(i).shape for i in ind]) + aval.shape[len(ind):]
            (v,) = _promote("at", astype(v, aval.dtype) if isinstance(v, Tracer) else
                            asarray(v, aval.dtype))
            v = broadcast_to(v, sel)
            if combine is not None:
                v = combine(getitem(x, self.idx), v)
            return prim_fn(x, v, ind, axes)
        flat = reshape(x, (aval.size,))
        v = broadcast_to(astype(v, aval.dtype) if isinstance(v, Tracer)
                         else asarray(v, aval.dtype), pos.shape)
        if combine is not None:
            v = combine(getitem(x, self.idx), v)
        out = prim_fn(flat, reshape(v, (pos.size,)), [pos.reshape(-1).astype(np.int64)], (0,))
        return reshape(out, aval.shape)

    def get(self):
        return getitem(self.x, self.idx)

    def set(self, v):
        return self._apply(prims.scatter, v)

    def add(self, v):
        return self._apply(prims.scatter_add, v)

    def multiply(self, v):
        return self._apply(prims.scatter, v, combine=multiply)

    def min(self, v):
        return self._apply(prims.scatter, v, combine=minimum)

    def max(self, v):
        return self._apply(prims.scatter, v, combine=maximum)

    mul = multiply


def at(x) -> _IndexUpdateHelper:
    """Functional updates: `fnp.at(x)[idx].set(v)` (also .add/.mul/.min/.max). With repeated
    indices, `.add` accumulates; `.set/.mul/.min/.max` apply the last update."""
    return _IndexUpdateHelper(x)


def _take_along(x, ind, axis: int):
    """`x` gathered at (non-negative) `ind` along `axis`; every other axis of `ind` indexes its
    own position (broadcasting against `x`), as `numpy.take_along_axis` does."""
    shape = _aval(x).shape
    nd = len(shape)
    idx = [ind if d == axis else np.arange(s).reshape((1,) * d + (s,) + (1,) * (nd - d - 1))
           for d, s in enumerate(shape)]
    return prims.gather(x, idx, tuple(range(nd)))


def _np_take_along(arr, indices, axis=-1, mode=None, fill_value=None, *,
                   wrap_negative_indices=True):
    if mode is None and wrap_negative_indices:
        return np.take_along_axis(arr, indices, axis)
    return take_along_axis.__wrapped__(arr, indices, axis, mode, fill_value,
                                       wrap_negative_indices=wrap_negative_indices)


@numpy_fallback(_np_take_along)
def take_along_axis(arr, indices, axis=-1, mode=None, fill_value=None, *,
                    wrap_negative_indices=True):
    """`numpy.take_along_axis`, with JAX's `mode` and `fill_value` as in `take`."""
    if axis is None:
        arr, indices, axis = ravel(arr), ravel(indices), 0
    aval, iaval = _aval(arr), _aval(asarray(indices))
    if iaval.ndim != aval.ndim or iaval.dtype.kind not in "iu":
        raise FuncgradError(f"take_along_axis: indices must be integers with as many dimensions "
                            f"as the array, got {iaval.str_short()} for {aval.str_short()}, at "
                            f"{user_frame()}\nAdd axes with `fnp.expand_dims(indices, axis)`.")
    ax = canonical_axes(axis, aval.ndim)[0]
    ind, ok = _index_mode("take_along_axis", indices, aval.shape[ax], mode,
                          wrap_negative_indices)
    return _filled(_take_along(arr, ind, ax), ok, fill_value, 0)


def _np_argsort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False,
                dtype=None):
    if descending:  # reversed stable sort of the reversed array: equal entries keep their order
        a = np.flip(a, axis)
        n = a.shape[axis] if axis is not None else a.size
        out = n - 1 - np.flip(np.argsort(a, axis=axis, kind="stable", order=order), axis)
    else:
        out = np.argsort(a, axis=axis, kind="stable", order=order)
    return out if dtype is None else out.astype(dtype)


@numpy_fallback(_np_argsort)
def argsort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False, dtype=None):
    """Indices that sort `a` along `axis` (None: flattened). Always a stable sort with NaNs last
    (first with `descending=True`), on plain arrays too (`kind`/`stable` are accepted for
    compatibility). Not differentiable."""
    if order is not None:
        raise FuncgradError(f"argsort: order= (structured arrays) is not supported, at "
                            f"{user_frame()}")
    x = a
    if axis is None:
        x, axis = ravel(x), 0
    ax = canonical_axes(axis, _aval(x).ndim)[0]
    if descending:
        n = _aval(x).shape[ax]
        out = subtract(n - 1, prims.rev(prims.argsort(prims.rev(x, (ax,)), ax), (ax,)))
    else:
        out = prims.argsort(x, ax)
    return out if dtype is None else astype(out, dtype)


def _np_sort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    a = asarray(a) if axis is not None else np.ravel(a)  # (a device array stays on its device)
    axis = -1 if axis is None else axis
    return np.take_along_axis(a, _np_argsort(a, axis, descending=descending), axis)


@numpy_fallback(_np_sort)
def sort(a, axis=-1, *, kind=None, order=None, stable=True, descending=False):
    """`a` sorted along `axis` (stable, NaNs last; reversed with `descending=True`): a gather
    at `argsort(a)`, so each output's derivative is that of the input entry it came from."""
    x = a
    if axis is None:
        x, axis = ravel(x), 0
    ax = canonical_axes(axis, _aval(x).ndim)[0]
    return _take_along(x, argsort(x, ax, order=order, descending=descending), ax)


@numpy_fallback(np.diagonal)
def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal `offset` of the (axis1, axis2) planes, as the last axis (like NumPy): a
    strided slice of the flattened plane."""
    nd = _aval(a).ndim
    if nd < 2 or axis1 % nd == axis2 % nd:
        raise FuncgradError(f"diagonal: needs two different axes of an array with at least two, "
                            f"got axes ({axis1}, {axis2}) of {_aval(a).str_short()}, at "
                            f"{user_frame()}")
    a = moveaxis(a, (axis1, axis2), (-2, -1))
    *batch, n1, n2 = _aval(a).shape
    n = builtins.max(0, builtins.min(n1 + builtins.min(offset, 0), n2 - builtins.max(offset, 0)))
    start = (offset if offset >= 0 else -offset * n2) if n else 0
    flat = reshape(a, (*batch, n1 * n2))
    stop = start + (n - 1) * (n2 + 1) + 1 if n else 0
    return prims.slice_(flat, [0] * len(batch) + [start], batch + [stop],
                        [1] * len(batch) + [n2 + 1])


@numpy_fallback(np.diag)
def diag(v, k=0):
    """A 1-d `v` on diagonal `k` of a square matrix, or diagonal `k` of a 2-d `v`."""
    aval = _aval(v)
    if aval.ndim == 2:
        return diagonal(v, k)
    if aval.ndim != 1:
        raise FuncgradError(f"diag: expected a 1-d or 2-d input, got {aval.str_short()}, at "
                            f"{user_frame()}; use fnp.diagonal for higher dimensions.")
    n = aval.shape[0] + builtins.abs(k)
    w = pad(v, (k, 0) if k >= 0 else (0, -k))  # column j of the diagonal holds w[j]
    return where(np.eye(n, k=k, dtype=bool), broadcast_to(w, (n, n)), np.zeros((), aval.dtype))


@numpy_fallback(np.trace)
def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _base.no_out('trace', out)
    return sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)
