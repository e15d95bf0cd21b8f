"""`fnp`'s indexing (`x[idx]`, take, take_along_axis), functional updates (`at`), sorting,
diagonals, and the contractions (matmul, dot, tensordot, einsum).

Built on `shapes.py`, `ufuncs.py` and `_base.py`; `funcgrad.numpy` re-exports `__all__`.
"""
from __future__ import annotations

import builtins

import numpy as np

from .. import primitives as prims  # their bind wrappers share names with fnp's functions
from ..avals import result_dtype
from ..backend import is_gpu_array
from ..core import FuncgradError, Tracer, user_frame
from ..util import canonical_axes
from . import _base
from ._base import _aval, _broadcast_shapes, _promote, asarray, astype, broadcast_to, numpy_fallback
from .shapes import moveaxis, pad, ravel, reshape, squeeze, sum, transpose
from .ufuncs import add, less, maximum, minimum, multiply, where

__all__ = [
    "getitem", "take", "at", "take_along_axis", "argsort", "sort", "diagonal", "diag", "trace",
    "matmul", "dot", "vdot", "inner", "outer", "tensordot", "einsum",
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


@numpy_fallback(np.take_along_axis)
def take_along_axis(arr, indices, axis=-1):
    if axis is None:
        arr, indices, axis = ravel(arr), ravel(indices), 0
    aval, iaval = _aval(arr), _aval(indices)
    if iaval.ndim != aval.ndim or iaval.dtype.kind not in "iu":
        raise FuncgradError(f"take_along_axis: indices must be integers with as many dimensions "
                            f"as the array, got {iaval.str_short()} for {aval.str_short()}, at "
                            f"{user_frame()}\nAdd axes with `fnp.expand_dims(indices, axis)`.")
    ax = canonical_axes(axis, aval.ndim)[0]
    n = aval.shape[ax]
    if isinstance(indices, Tracer):
        indices = where(less(indices, 0), add(indices, n), indices)
    else:
        indices = np.where(indices < 0, indices + n, indices)
    return _take_along(arr, indices, ax)


@numpy_fallback(lambda x, axis=-1, kind=None, *, stable=True:
                np.argsort(x, axis=axis, kind="stable"))
def argsort(x, axis=-1, kind=None, *, stable=True):
    """Indices that sort `x` along `axis` (None: flattened). Always a stable sort with NaNs last,
    on plain arrays too (`kind`/`stable` are accepted for compatibility). Not differentiable."""
    if axis is None:
        x, axis = ravel(x), 0
    return prims.argsort(x, canonical_axes(axis, _aval(x).ndim)[0])


@numpy_fallback(lambda x, axis=-1, kind=None, *, stable=True:
                np.sort(x, axis=axis, kind="stable"))
def sort(x, axis=-1, kind=None, *, stable=True):
    """`x` sorted along `axis` (stable, NaNs last): a gather at `argsort(x)`, so each output's
    derivative is that of the input entry it came from."""
    if axis is None:
        x, axis = ravel(x), 0
    ax = canonical_axes(axis, _aval(x).ndim)[0]
    return _take_along(x, prims.argsort(x, ax), ax)


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



# --- linear algebra ---------------------------------------------------------------------------

def _mm_promote(x, y):
    ax, ay = _aval(x), _aval(y)
    dt, _ = result_dtype(ax, ay)
    if not isinstance(x, Tracer):
        x = asarray(x, dtype=dt)  # no copy when the dtype already matches
    elif ax.dtype != dt:
        x = astype(x, dt)
    if not isinstance(y, Tracer):
        y = asarray(y, dtype=dt)
    elif ay.dtype != dt:
        y = astype(y, dt)
    return x, y


@numpy_fallback(np.matmul)
def matmul(x, y):
    x, y = _mm_promote(x, y)
    ax, ay = _aval(x), _aval(y)
    if ax.ndim == 0 or ay.ndim == 0:
        raise FuncgradError(f"matmul: operands must be at least 1-d, got {ax.str_short()} @ "
                            f"{ay.str_short()}, at {user_frame()}")
    if ax.ndim == 1 and ay.ndim == 1:
        return prims.dot_general(x, y, (((0,), (0,)), ((), ())))
    if ax.ndim == 1:
        return squeeze(matmul(reshape(x, (1, -1)), y), -2)
    if ay.ndim == 1:
        return squeeze(matmul(x, reshape(y, (-1, 1))), -1)
    if ax.shape[-1] != ay.shape[-2]:
        raise FuncgradError(f"matmul: inner dimensions differ: {ax.str_short()} @ "
                            f"{ay.str_short()} ({ax.shape[-1]} != {ay.shape[-2]}), at "
                            f"{user_frame()}")
    if ax.ndim == 2 and ay.ndim == 2:
        return prims.dot_general(x, y, (((1,), (0,)), ((), ())))
    if ay.ndim == 2:  # (..., m, k) @ (k, n): a plain contraction, no batch dims needed
        return prims.dot_general(x, y, (((ax.ndim - 1,), (0,)), ((), ())))
    batch = _broadcast_shapes("matmul", ax.shape[:-2], ay.shape[:-2])
    x = broadcast_to(x, batch + ax.shape[-2:])
    y = broadcast_to(y, batch + ay.shape[-2:])
    nb = len(batch)
    return prims.dot_general(x, y, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))


@numpy_fallback(np.dot)
def dot(x, y):
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


@numpy_fallback(np.outer)
def outer(a, b, out=None):
    _base.no_out("outer", out)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


@numpy_fallback(np.tensordot)
def tensordot(x, y, axes=2):
    x, y = _mm_promote(x, y)
    ax, ay = _aval(x), _aval(y)
    if isinstance(axes, int):
        lc, rc = tuple(range(ax.ndim - axes, ax.ndim)), tuple(range(axes))
    else:
        lc, rc = axes
        lc = (lc,) if isinstance(lc, int) else tuple(lc)
        rc = (rc,) if isinstance(rc, int) else tuple(rc)
        lc, rc = tuple(a % ax.ndim for a in lc), tuple(a % ay.ndim for a in rc)
    return prims.dot_general(x, y, ((lc, rc), ((), ())))


@numpy_fallback(np.einsum)
def einsum(subscripts: str, *operands):
    """Einstein summation for one or two operands per step (chains fold left to right); an
    index repeated within one operand takes that diagonal first (traces, diagonals)."""
    ins, out = subscripts.replace(" ", "").split("->") if "->" in subscripts else \
        (subscripts.replace(" ", ""), None)
    in_specs = ins.split(",")
    if out is None:
        letters = "".join(in_specs)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(in_specs) != len(operands):
        raise FuncgradError(f"einsum: {len(in_specs)} operand specs for {len(operands)} operands")
    operands = list(operands)
    for k, spec in enumerate(in_specs):  # a repeated index takes that diagonal ("ii->i", "ii")
        while len(set(spec)) != len(spec):
            c = next(c for c in spec if spec.count(c) > 1)
            i, j = spec.index(c), spec.index(c, spec.index(c) + 1)
            operands[k] = diagonal(operands[k], 0, i, j)
            spec = "".join(ch for n, ch in enumerate(spec) if n not in (i, j)) + c
        in_specs[k] = spec
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
    out = prims.dot_general(x, y, dn)
    spec = "".join(batch) + "".join(c for c in xs if c not in shared) + \
        "".join(c for c in ys if c not in shared)
    return out, spec
