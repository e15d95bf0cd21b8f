"""Advanced indexing: gather (x[..., idx, ...]), scatter_add and scatter (functional updates).

`axes` names the operand axes indexed by the integer index arrays (strictly increasing); every
other axis is taken whole. Output layout follows NumPy: the broadcast index shape replaces the
indexed axes in place when they are adjacent, and goes to the front otherwise.
"""
from __future__ import annotations

import numpy as np

from ..avals import ShapedArray
from ..backend import cupy_backend, get_array_module
from ..backend.fusion import register_c_expr
from ..core import NOT_APPLICABLE, Zero, get_aval_of, is_undefined_primal
from .batching import bdim_at_front
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import ShapeError, deftranspose, instantiate, zeros_like_aval


def _index_tuple(ndim, axes, indices, like=None):
    """The NumPy index selecting `indices` along `axes`; for GPU arrays (`like`) the index
    arrays move to the device too, as CuPy indexes with its own arrays."""
    if like is not None and hasattr(like, "__cuda_array_interface__"):
        xp = get_array_module(like)
        indices = [xp.asarray(i) for i in indices]
    idx = [slice(None)] * ndim
    for a, i in zip(axes, indices):
        idx[a] = i
    return tuple(idx)


def _contiguous(axes):
    return all(b == a + 1 for a, b in zip(axes, axes[1:]))


def gather_shape(shape, axes, idx_shapes):
    try:  # equal index shapes (the common case) skip numpy.broadcast_shapes, which is slow
        idx_shape = (tuple(idx_shapes[0])
                     if idx_shapes and all(s == idx_shapes[0] for s in idx_shapes)
                     else np.broadcast_shapes(*idx_shapes))
    except ValueError:
        raise ShapeError(f"indexing: index arrays of shapes {idx_shapes} "
                         "do not broadcast") from None
    rest = [s for i, s in enumerate(shape) if i not in axes]
    if _contiguous(axes):
        return tuple(shape[:axes[0]]) + tuple(idx_shape) + tuple(shape[axes[-1] + 1:])
    return tuple(idx_shape) + tuple(rest)


def _check(prim, x, idx, axes):
    if len(idx) != len(axes) or any(a >= x.ndim for a in axes):
        raise ShapeError(f"{prim}: {len(idx)} index arrays for axes {axes} of {x.str_short()}")
    for i in idx:
        if i.dtype.kind not in "iu":
            raise ShapeError(f"{prim}: index arrays must be integers, got {i.str_short()}")


# --- gather -----------------------------------------------------------------------------------
def _gather_abstract_eval(x, *idx, axes):
    _check("gather", x, idx, axes)
    return [ShapedArray(gather_shape(x.shape, axes, [i.shape for i in idx]), x.dtype, x.weak_type)]


def _gather_jvp(primals, tangents, *, axes):
    x, *idx = primals
    out = gather(x, idx, axes)
    if type(tangents[0]) is Zero:
        return [out], [Zero(get_aval_of(out))]
    return [out], [gather(tangents[0], idx, axes)]


def _gather_transpose(ct, x, *idx, axes):
    return [scatter_add(zeros_like_aval(x.aval), ct, idx, axes)] + [None] * len(idx)


def _batched_index_args(size, x, idx, bx, bidx, axes):
    """Move every batch axis to the front and index the batch axis with an arange."""
    x = bdim_at_front(x, bx, size)
    idx_avals = [get_aval_of(i) for i in idx]
    idx_shape = np.broadcast_shapes(*[a.shape if b is None else a.shape[:b] + a.shape[b + 1:]
                                      for a, b in zip(idx_avals, bidx)])
    full = (size,) + tuple(idx_shape)
    new_idx = []
    for i, a, b in zip(idx, idx_avals, bidx):
        i = bdim_at_front(i, b, size)
        nd = len(a.shape) if b is None else len(a.shape) - 1
        new_idx.append(broadcast_in_dim(i, full, (0,) + tuple(range(len(full) - nd, len(full)))))
    arange = np.arange(size).reshape((size,) + (1,) * len(idx_shape))
    return x, [np.broadcast_to(arange, full)] + new_idx, (0,) + tuple(a + 1 for a in axes), \
        len(idx_shape)


def _unbatched_layout_perm(x_ndim, axes, k):
    """Permutation from the batched gather layout (B, idx.., rest..) to (B, per-example layout)."""
    if not _contiguous(axes):
        return None
    n_pre = axes[0]
    n_rest = x_ndim - len(axes)
    rest = list(range(1 + k, 1 + k + n_rest))
    return [0] + rest[:n_pre] + list(range(1, 1 + k)) + rest[n_pre:]


def _gather_batch(size, xs, bdims, *, axes):
    (x, *idx), (bx, *bidx) = xs, bdims
    x_ndim = get_aval_of(x).ndim - (bx is not None)
    if all(b is None for b in bidx):  # only the operand is batched
        x = bdim_at_front(x, bx, size)
        out = gather(x, idx, tuple(a + 1 for a in axes))
        if _contiguous(axes):
            return [out], [0]
        return [out], [len(np.broadcast_shapes(*[get_aval_of(i).shape for i in idx]))]
    x, idx, new_axes, k = _batched_index_args(size, x, idx, bx, bidx, axes)
    out = gather(x, idx, new_axes)
    perm = _unbatched_layout_perm(x_ndim, axes, k)
    return [out if perm is None else transpose(out, perm)], [0]


gather_p.impl = lambda x, *idx, axes: x[_index_tuple(x.ndim, axes, idx, like=x)]
gather_p.abstract_eval = _gather_abstract_eval
gather_p.jvp = _gather_jvp
deftranspose(gather_p, _gather_transpose)
gather_p.batch = _gather_batch


# --- scatter_add / scatter: one family (both linear in the operand and the updates jointly) -----
def _scatter_family(prim, impl, cts_of) -> None:
    """The rules of `prim(x, updates, *idx, axes)`; `cts_of(ct, x, u, idx, axes)` gives the
    cotangents of x and u for a nonzero `ct`."""
    name = prim.name

    def abstract_eval(x, u, *idx, axes):
        _check(name, x, idx, axes)
        want = gather_shape(x.shape, axes, [i.shape for i in idx])
        if u.shape != want or u.dtype != x.dtype:
            raise ShapeError(f"{name}: updates must be {ShapedArray(want, x.dtype).str_short()} "
                             f"for this index, got {u.str_short()}")
        return [x]

    def jvp(primals, tangents, *, axes):
        (x, u, *idx), (x_dot, u_dot, *_) = primals, tangents
        out = prim.bind1(x, u, *idx, axes=axes)
        if type(x_dot) is Zero and type(u_dot) is Zero:
            return [out], [Zero(get_aval_of(out))]
        return [out], [prim.bind1(instantiate(x_dot), instantiate(u_dot), *idx, axes=axes)]

    def transpose_rule(ct, x, u, *idx, axes):
        return cts_of(ct, x, u, idx, axes) + [None] * len(idx)

    def batch(size, xs, bdims, *, axes):
        (x, u, *idx), (bx, bu, *bidx) = xs, bdims
        x_ndim = get_aval_of(x).ndim - (bx is not None)
        if all(b is None for b in bidx):
            bidx = [None] * len(idx)
        x, idx2, new_axes, k = _batched_index_args(size, x, idx, bx, bidx, axes)
        u = bdim_at_front(u, bu, size)
        perm = _unbatched_layout_perm(x_ndim, axes, k)
        if perm is not None:
            u = transpose(u, np.argsort(perm))
        return [prim.bind1(x, u, *idx2, axes=new_axes)], [0]
    prim.impl, prim.abstract_eval, prim.jvp, prim.batch = impl, abstract_eval, jvp, batch
    deftranspose(prim, transpose_rule)


def _scatter_add_impl(x, u, *idx, axes):
    out = x.copy()
    index = _index_tuple(x.ndim, axes, idx, like=x)
    if hasattr(out, "__cuda_array_interface__"):
        cupy_backend.scatter_add_into(out, index, u)
    else:
        np.add.at(out, index, u)
    return out


def _scatter_impl(x, u, *idx, axes):  # x with x[idx] replaced by u
    out = x.copy()
    out[_index_tuple(x.ndim, axes, idx, like=x)] = u
    return out


def _scatter_add_transpose(ct, x, u, idx, axes):
    return [ct if is_undefined_primal(x) else None,
            gather(ct, idx, axes) if is_undefined_primal(u) else None]


def _scatter_transpose(ct, x, u, idx, axes):
    u_aval = u.aval if is_undefined_primal(u) else get_aval_of(u)
    ct_x = scatter(ct, zeros_like_aval(u_aval), idx, axes) if is_undefined_primal(x) else None
    return [ct_x, gather(ct, idx, axes) if is_undefined_primal(u) else None]


_scatter_family(scatter_add_p, _scatter_add_impl, _scatter_add_transpose)
_scatter_family(scatter_p, _scatter_impl, _scatter_transpose)
for _p in (gather_p, scatter_add_p, scatter_p):
    register_c_expr(_p, NOT_APPLICABLE)  # library calls, never fused
