"""Reductions and scans: reduce_sum, reduce_max, reduce_min, argmax, argmin, cumsum, argsort.
One block each: impl, abstract eval, jvp, transpose (if linear), batching.
"""
from __future__ import annotations

import numpy as np

from ..avals import ShapedArray
from ..backend.numpy_codegen import register_emitter
from ..core import NOT_APPLICABLE, Primitive, Zero, get_aval_of
from . import elementwise as _E
from .batching import moveaxis
from .rules import ShapeError, deflinear, defzero_jvp
from .shape import broadcast_in_dim, convert_element_type


def _reduced_aval(x: ShapedArray, axes, dtype=None) -> ShapedArray:
    shape = x.shape
    ndim = len(shape)
    for a in axes:
        if not 0 <= a < ndim:
            raise ShapeError(f"reduction over axes {axes} is out of range for {x.str_short()}")
    return ShapedArray(tuple([s for i, s in enumerate(shape) if i not in axes]),
                       dtype or x.dtype, x.weak_type if dtype is None else False)


_add_reduce, _max_reduce, _min_reduce = np.add.reduce, np.maximum.reduce, np.minimum.reduce


def _kept_dims(ndim, axes):
    return tuple(i for i in range(ndim) if i not in axes)


def _reduce_batch(prim):
    def batch(size, xs, bdims, *, axes, **params):
        (x,), (bd,) = xs, bdims
        x = moveaxis(x, bd, 0)
        return [prim.bind1(x, axes=tuple(a + 1 for a in axes), **params)], [0]
    return batch


def _reduce_emitter(uf):
    """The ufunc's own `reduce` for floating-point operands (others call the impl)."""
    def emit(eqn, args, names):
        if eqn.inputs[0].aval.dtype.kind not in "fc":
            return None
        if not eqn.params["axes"]:
            return args[0], "alias"
        return f"{names.ufunc(uf)}.reduce({args[0]}, axis={tuple(eqn.params['axes'])!r})", "fresh"
    return emit


# --- reduce_sum -------------------------------------------------------------------------------
reduce_sum_p = Primitive("reduce_sum")


def reduce_sum(x, axes):
    return reduce_sum_p.bind1(x, axes=tuple(axes))


def _reduce_sum_transpose(ct, x, *, axes):
    if type(ct) is Zero:
        return [Zero(x.aval)]
    return [broadcast_in_dim(ct, x.aval.shape, _kept_dims(x.aval.ndim, axes))]


# the ufunc reductions themselves: NumPy's function forms (and, less so, the array methods)
# add Python dispatch layers that cost as much as a small sum
reduce_sum_p.impl = lambda x, *, axes: (_add_reduce(x, axes) if type(x) is np.ndarray
                                        else x.sum(axis=axes) if hasattr(x, "sum")
                                        else np.sum(x, axis=axes))
reduce_sum_p.abstract_eval = lambda x, *, axes: [_reduced_aval(x, axes)]
deflinear(reduce_sum_p, _reduce_sum_transpose)
reduce_sum_p.batch = _reduce_batch(reduce_sum_p)
register_emitter(reduce_sum_p, _reduce_emitter(np.add))


# --- reduce_max / reduce_min ------------------------------------------------------------------
def _reduce_chooser_jvp(prim):
    # the tangent is the average of the tangents at the positions that attain the extremum
    def jvp(primals, tangents, *, axes):
        (x,), (x_dot,) = primals, tangents
        ans = prim.bind1(x, axes=axes)
        if type(x_dot) is Zero:
            return [ans], [Zero(get_aval_of(ans))]
        shape = get_aval_of(x).shape
        kept = _kept_dims(len(shape), axes)
        location = convert_element_type(_E.eq(x, broadcast_in_dim(ans, shape, kept)),
                                        get_aval_of(x).dtype)  # 1 where x attains ans, else 0
        weights = _E.div(location, broadcast_in_dim(reduce_sum(location, axes), shape, kept))
        return [ans], [reduce_sum(_E.mul(x_dot, weights), axes)]  # weights are known: 2 eqns
    return jvp


reduce_max_p = Primitive("reduce_max")
reduce_max_p.impl = lambda x, *, axes: (_max_reduce(x, axes) if type(x) is np.ndarray
                                        else x.max(axis=axes) if hasattr(x, "max")
                                        else np.max(x, axis=axes))
reduce_max_p.abstract_eval = lambda x, *, axes: [_reduced_aval(x, axes)]
reduce_max_p.jvp = _reduce_chooser_jvp(reduce_max_p)
reduce_max_p.transpose = NOT_APPLICABLE
reduce_max_p.batch = _reduce_batch(reduce_max_p)
register_emitter(reduce_max_p, _reduce_emitter(np.maximum))

reduce_min_p = Primitive("reduce_min")
reduce_min_p.impl = lambda x, *, axes: (_min_reduce(x, axes) if type(x) is np.ndarray
                                        else x.min(axis=axes) if hasattr(x, "min")
                                        else np.min(x, axis=axes))
reduce_min_p.abstract_eval = lambda x, *, axes: [_reduced_aval(x, axes)]
reduce_min_p.jvp = _reduce_chooser_jvp(reduce_min_p)
reduce_min_p.transpose = NOT_APPLICABLE
reduce_min_p.batch = _reduce_batch(reduce_min_p)
register_emitter(reduce_min_p, _reduce_emitter(np.minimum))


def reduce_max(x, axes):
    return reduce_max_p.bind1(x, axes=tuple(axes))


def reduce_min(x, axes):
    return reduce_min_p.bind1(x, axes=tuple(axes))


# --- argmax / argmin --------------------------------------------------------------------------
def _arg_abstract_eval(x, *, axes, index_dtype):
    return [_reduced_aval(x, axes, np.dtype(index_dtype))]


argmax_p = Primitive("argmax")
argmax_p.impl = lambda x, *, axes, index_dtype: np.argmax(x, axis=axes[0]).astype(index_dtype)
argmax_p.abstract_eval = _arg_abstract_eval
defzero_jvp(argmax_p)
argmax_p.batch = _reduce_batch(argmax_p)

argmin_p = Primitive("argmin")
argmin_p.impl = lambda x, *, axes, index_dtype: np.argmin(x, axis=axes[0]).astype(index_dtype)
argmin_p.abstract_eval = _arg_abstract_eval
defzero_jvp(argmin_p)
argmin_p.batch = _reduce_batch(argmin_p)


# --- cumsum -----------------------------------------------------------------------------------
cumsum_p = Primitive("cumsum")


def cumsum(x, axis, reverse=False):
    return cumsum_p.bind1(x, axis=int(axis), reverse=bool(reverse))


def _cumsum_impl(x, *, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis), axis)
    return np.cumsum(x, axis=axis)


def _cumsum_abstract_eval(x, *, axis, reverse):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"cumsum: axis {axis} out of range for {x.str_short()}")
    return [x]


cumsum_p.impl = _cumsum_impl
cumsum_p.abstract_eval = _cumsum_abstract_eval
deflinear(cumsum_p, lambda ct, x, *, axis, reverse: [
    Zero(x.aval) if type(ct) is Zero else cumsum(ct, axis, not reverse)])
cumsum_p.batch = lambda size, xs, bdims, *, axis, reverse: (
    [cumsum(moveaxis(xs[0], bdims[0], 0), axis + 1, reverse)], [0])


# --- argsort ----------------------------------------------------------------------------------
# stable sort order along `axis` (NaNs last, as NumPy); `fnp.sort` gathers with it, so sort's
# derivative flows through the gather
argsort_p = Primitive("argsort")


def argsort(x, axis):
    return argsort_p.bind1(x, axis=int(axis), index_dtype=np.dtype(np.int64))


def _argsort_abstract_eval(x, *, axis, index_dtype):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"argsort: axis {axis} out of range for {x.str_short()}")
    return [ShapedArray(x.shape, np.dtype(index_dtype), False)]


argsort_p.impl = lambda x, *, axis, index_dtype: np.argsort(
    x, axis=axis, kind="stable").astype(index_dtype, copy=False)
argsort_p.abstract_eval = _argsort_abstract_eval
defzero_jvp(argsort_p)
argsort_p.batch = lambda size, xs, bdims, *, axis, index_dtype: (  # the batch axis stays put
    [argsort_p.bind1(xs[0], axis=axis + (bdims[0] <= axis), index_dtype=index_dtype)], bdims)
