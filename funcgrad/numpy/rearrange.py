"""`fnp`'s stacking, splitting and rearranging helpers (array_split ... block, rot90, insert,
delete, select, choose, piecewise, apply_along_axis, vectorize, meshgrid) and the functional
forms of NumPy's in-place updates (`put_along_axis`, `fill_diagonal` with `inplace=False`).

Composites of the lower modules: NumPy itself on plain arrays, differentiable on traced values.
"""
from __future__ import annotations

import functools

import numpy as np

from ..core import FuncgradError, Tracer, user_frame
from ..util import canonical_axes
from . import extra as ex
from . import indexing as ix
from . import shapes as sh
from . import ufuncs as uf
from ._base import _aval, _traced, asarray, astype, no_out, numpy_fallback
from .extra import _concrete

_IMPORTED = set(globals())  # what `__all__` (at the end) leaves out


@numpy_fallback(np.array_split)
def array_split(ary, indices_or_sections, axis=0):
    if isinstance(indices_or_sections, int):
        n = _aval(ary).shape[canonical_axes(axis, _aval(ary).ndim)[0]]
        q, r = n // indices_or_sections, n % indices_or_sections
        sizes = [q + 1] * r + [q] * (indices_or_sections - r)
        indices_or_sections = list(np.cumsum(sizes)[:-1])
    return sh.split(ary, indices_or_sections, axis)


@numpy_fallback(np.hsplit)
def hsplit(ary, indices_or_sections):
    return sh.split(ary, indices_or_sections, 1 if _aval(ary).ndim > 1 else 0)


@numpy_fallback(np.vsplit)
def vsplit(ary, indices_or_sections):
    return sh.split(ary, indices_or_sections, 0)


@numpy_fallback(np.dsplit)
def dsplit(ary, indices_or_sections):
    return sh.split(ary, indices_or_sections, 2)


@numpy_fallback(np.column_stack)
def column_stack(tup):
    return sh.concatenate([sh.reshape(t, (-1, 1)) if _aval(t).ndim < 2 else t
                           for t in map(asarray, tup)], 1)


@numpy_fallback(lambda tup, dtype=None: np.dstack(tup) if dtype is None
                else np.dstack(tup).astype(dtype))
def dstack(tup, dtype=None):
    return sh.concatenate(sh.atleast_3d(*tup) if len(tup) > 1 else [sh.atleast_3d(*tup)], 2,
                          dtype)


@numpy_fallback(np.block)
def block(arrays):
    def depth(a):
        return 1 + depth(a[0]) if isinstance(a, list) else 0
    d = depth(arrays)

    def rec(a, level):
        if not isinstance(a, list):
            a = asarray(a)
            nd = _aval(a).ndim
            return sh.reshape(a, (1,) * (max(d, nd) - nd) + _aval(a).shape) if nd < d else a
        return sh.concatenate([rec(b, level + 1) for b in a], level - d)
    return rec(arrays, 0)


@numpy_fallback(np.unstack)
def unstack(x, /, *, axis=0):
    return tuple(ix.take(x, i, axis=axis) for i in range(_aval(x).shape[axis]))


@numpy_fallback(np.fliplr)
def fliplr(m):
    return sh.flip(m, 1)


@numpy_fallback(np.flipud)
def flipud(m):
    return sh.flip(m, 0)


@numpy_fallback(np.rot90)
def rot90(m, k=1, axes=(0, 1)):
    k %= 4
    a0, a1 = axes
    if k == 0:
        return asarray(m)
    if k == 2:
        return sh.flip(sh.flip(m, a0), a1)
    return sh.swapaxes(sh.flip(m, a1), a0, a1) if k == 1 else sh.flip(sh.swapaxes(m, a0, a1), a1)


@numpy_fallback(np.rollaxis)
def rollaxis(a, axis, start=0):
    nd = _aval(a).ndim
    axis, start = axis % nd, start + nd if start < 0 else start
    return sh.moveaxis(a, axis, start - 1 if axis < start else start)


@numpy_fallback(np.resize)
def resize(a, new_shape):
    new_shape = (new_shape,) if isinstance(new_shape, int) else tuple(new_shape)
    flat, n = sh.ravel(a), int(np.prod(new_shape))
    size = _aval(flat).shape[0]
    return sh.reshape(sh.tile(flat, -(-n // size))[:n], new_shape)


@numpy_fallback(np.matrix_transpose)
def matrix_transpose(x, /):
    return sh.swapaxes(x, -1, -2)


@numpy_fallback(np.diagflat)
def diagflat(v, k=0):
    return ix.diag(sh.ravel(v), k)


@numpy_fallback(np.append)
def append(arr, values, axis=None):
    if axis is None:
        return sh.concatenate([sh.ravel(arr), sh.ravel(values)], 0)
    return sh.concatenate([arr, values], axis)


@numpy_fallback(lambda arr, obj, axis=None, *, assume_unique_indices=False:
                np.delete(arr, obj, axis))
def delete(arr, obj, axis=None, *, assume_unique_indices=False):
    """`numpy.delete` with concrete `obj` (JAX's `assume_unique_indices` needs no handling)."""
    if axis is None:
        arr, axis = sh.ravel(arr), 0
    n = _aval(arr).shape[axis]
    keep = np.setdiff1d(np.arange(n), np.arange(n)[obj])
    return ix.take(arr, keep, axis=axis)


@numpy_fallback(np.insert)
def insert(arr, obj, values, axis=None):
    if axis is None:
        arr, axis = sh.ravel(arr), 0
    axis = canonical_axes(axis, _aval(arr).ndim)[0]
    n = _aval(arr).shape[axis]
    pos = np.atleast_1d(np.arange(n + 1)[obj])
    vshape = list(_aval(arr).shape)
    vshape[axis] = len(pos)
    values = asarray(values)
    if _aval(values).ndim and np.ndim(obj) == 0:  # a scalar index inserts one slice
        values = sh.expand_dims(values, axis) if _aval(values).ndim < len(vshape) else values
    values = sh.broadcast_to(astype(values, _aval(arr).dtype), tuple(vshape))
    both = sh.concatenate([arr, values], axis)
    order = np.argsort(np.concatenate([np.arange(n), pos - 0.5]), kind="stable")
    return ix.take(both, order, axis=axis)


def _np_compress(condition, a, axis=None, *, size=None, fill_value=0, out=None):
    return (np.compress(condition, a, axis, out) if size is None else
            compress.__wrapped__(condition, a, axis, size=size, fill_value=fill_value))


@numpy_fallback(_np_compress)
def compress(condition, a, axis=None, *, size=None, fill_value=0, out=None):
    """The slices of `a` along `axis` where `condition` is true (None: of the flattened `a`).
    Traced conditions need `size=` (the output length; missing entries are `fill_value`)."""
    no_out("compress", out)
    if axis is None:
        a, axis = sh.ravel(a), 0
    if size is None:
        if isinstance(condition, Tracer):
            return _concrete(np.compress)(condition, a, axis)
        return ix.take(a, np.nonzero(np.asarray(condition))[0], axis=axis)
    cond = sh.ravel(asarray(condition))
    (idx,) = ex.nonzero(cond, size=size)
    taken = ix.take(a, idx, axis=axis)
    ax = canonical_axes(axis, _aval(taken).ndim)[0]
    found = sh.reshape(uf.less(np.arange(size), sh.sum(cond)), (size,) + (1,) * (
        _aval(taken).ndim - ax - 1))
    return uf.where(found, taken, fill_value)


@numpy_fallback(np.select)
def select(condlist, choicelist, default=0):
    out = default
    for c, v in zip(condlist[::-1], choicelist[::-1]):
        out = uf.where(c, v, out)
    return asarray(out)


@numpy_fallback(np.choose)
def choose(a, choices, out=None, mode="raise"):
    if out is not None:
        raise FuncgradError(f"choose: out= is not supported (arrays are immutable), at "
                            f"{user_frame()}")
    n = len(choices)
    a = uf.clip(a, 0, n - 1) if mode == "clip" else uf.mod(a, n) if mode == "wrap" else a
    return select([uf.equal(a, i) for i in range(n)], list(choices), choices[0] * 0)


def piecewise(x, condlist, funclist, *args, **kw):
    """`numpy.piecewise`: each function (or constant) where its condition holds."""
    x = asarray(x)
    condlist = [condlist] if not isinstance(condlist, (list, tuple)) else list(condlist)
    if len(funclist) == len(condlist) + 1:
        others = uf.logical_not(functools.reduce(uf.logical_or, condlist))
        condlist = condlist + [others]
    out = uf.multiply(x, 0)
    for c, f in zip(condlist, funclist):
        v = f(x, *args, **kw) if callable(f) else f
        out = uf.where(c, v, out)
    return out


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """`func1d` on every 1-D slice along `axis` (a Python loop over the others, then stacked)."""
    arr = asarray(arr)
    moved = sh.moveaxis(arr, axis, -1)
    batch = _aval(moved).shape[:-1]
    flat = sh.reshape(moved, (-1, _aval(moved).shape[-1]))
    outs = sh.stack([asarray(func1d(flat[i], *args, **kwargs)) for i in range(int(np.prod(batch)))])
    out = sh.reshape(outs, batch + _aval(outs).shape[1:])
    nd_out = _aval(outs).ndim - 1
    ax = canonical_axes(axis, arr.ndim if hasattr(arr, "ndim") else len(batch) + 1)[0]
    return sh.moveaxis(out, list(range(len(batch), len(batch) + nd_out)),
                       list(range(ax, ax + nd_out))) if nd_out else out


def apply_over_axes(func, a, axes):
    for ax in np.atleast_1d(axes):
        b = func(a, int(ax))
        a = b if _aval(b).ndim == _aval(a).ndim else sh.expand_dims(b, int(ax))
    return a


class vectorize:  # noqa: N801  (NumPy's name)
    """`numpy.vectorize` for elementwise Python functions: a loop over the broadcast elements."""

    def __init__(self, pyfunc, otypes=None, doc=None, excluded=None, cache=False, signature=None):
        self.pyfunc, self.__doc__ = pyfunc, doc or pyfunc.__doc__
        if signature is not None:
            raise FuncgradError("vectorize: signature= is not supported; use fg.vmap")

    def __call__(self, *args):
        args = [asarray(a) for a in args]
        if not _traced(args):
            return np.vectorize(self.pyfunc)(*args)
        shape = np.broadcast_shapes(*[_aval(a).shape for a in args])
        flat = [sh.ravel(sh.broadcast_to(a, shape)) for a in args]
        n = int(np.prod(shape))
        return sh.reshape(sh.stack([asarray(self.pyfunc(*[f[i] for f in flat])) for i in
                                    range(n)]), shape)


def put_along_axis(arr, indices, values, axis, inplace=True, mode=None):
    """`arr` with `values` put at `indices` along `axis` (functional: pass inplace=False, as in
    `jax.numpy.put_along_axis`)."""
    if inplace:
        raise FuncgradError(f"put_along_axis: arrays are immutable; pass inplace=False to get "
                            f"the updated array, at {user_frame()}")
    arr = asarray(arr)
    if not _traced([arr, indices, values]):
        out = np.array(arr)
        np.put_along_axis(out, indices, values, axis)
        return out
    shape = _aval(arr).shape
    ax = canonical_axes(axis, len(shape))[0]
    idx = tuple(sh.broadcast_to(indices, _aval(asarray(indices)).shape) if d == ax else
                np.arange(s).reshape([-1 if e == d else 1 for e in range(len(shape))])
                for d, s in enumerate(shape))
    return arr.at[idx].set(values)


def fill_diagonal(a, val, wrap=False, inplace=True):
    """`a` with its diagonal set to `val` (functional: inplace=False, as in JAX)."""
    if inplace:
        raise FuncgradError(f"fill_diagonal: arrays are immutable; pass inplace=False to get "
                            f"the updated array, at {user_frame()}")
    a = asarray(a)
    n = min(_aval(a).shape)
    i = np.arange(n)
    if not _traced([a, val]):
        out = np.array(a)
        np.fill_diagonal(out, val, wrap)
        return out
    return a.at[(i,) * _aval(a).ndim].set(sh.broadcast_to(val, (n,)) if _aval(asarray(val)).ndim
                                           else val)


@numpy_fallback(np.argpartition)
def argpartition(a, kth, axis=-1):
    return ix.argsort(a, axis=axis)


@numpy_fallback(np.partition)
def partition(a, kth, axis=-1):
    return ix.sort(a, axis=axis)


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate arrays from coordinate vectors, like `numpy.meshgrid`."""
    xi = [sh.ravel(x) for x in xi]
    n = len(xi)
    shape = [_aval(x).shape[0] for x in xi]
    if indexing == "xy" and n > 1:
        shape[0], shape[1] = shape[1], shape[0]
    out = []
    for i, x in enumerate(xi):
        d = (1 if i == 0 else 0 if i == 1 else i) if indexing == "xy" and n > 1 else i
        s = [1] * n
        s[d] = -1
        x = sh.reshape(x, tuple(s))
        out.append(x if sparse else sh.broadcast_to(x, tuple(shape)))
    return out


def copy(a, order=None):
    return np.array(a, copy=True) if not isinstance(a, Tracer) else a


__all__ = sorted(n for n in set(globals()) - _IMPORTED if not n.startswith("_"))
