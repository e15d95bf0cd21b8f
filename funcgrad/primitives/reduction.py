"""Reductions and scans: reduce_sum, reduce_max, reduce_min, argmax, argmin, cumsum, argsort.
One block each (one per family for the ufunc reductions and argmax/argmin): impl, abstract eval,
jvp, transpose (if linear), batching and, for the floating-point ufunc reductions, the NumPy
emitter (`ufunc.reduce`).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from ..avals import ShapedArray
from ..backend.fusion import register_c_expr, register_reduction
from ..backend.native import ctor, register_native
from ..backend.numpy_codegen import register_emitter
from ..core import NOT_APPLICABLE, Zero, get_aval_of
from .batching import moveaxis
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import ShapeError, deflinear, defzero_jvp


def _reduced_aval(x: ShapedArray, axes, dtype=None) -> ShapedArray:
    shape = x.shape
    ndim = len(shape)
    for a in axes:
        if not 0 <= a < ndim:
            raise ShapeError(f"reduction over axes {axes} is out of range for {x.str_short()}")
    return ShapedArray(tuple([s for i, s in enumerate(shape) if i not in axes]),
                       dtype or x.dtype, x.weak_type if dtype is None else False)


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


# --- reduce_sum, reduce_max, reduce_min: one family ------------------------------------------
def _reduce_sum_transpose(ct, x, *, axes):
    return [broadcast_in_dim(ct, x.aval.shape, _kept_dims(x.aval.ndim, axes))]


def _reduce_impl(uf: np.ufunc, method: str):
    # the ufunc reductions themselves: NumPy's function forms (and, less so, the array methods)
    # add Python dispatch layers that cost as much as a small sum
    # (the result keeps the operand's dtype: sums would promote small integers otherwise)
    reduce = uf.reduce

    def impl(x, *, axes):
        if type(x) is np.ndarray:
            return reduce(x, axes, x.dtype)
        kw = {"dtype": x.dtype} if method == "sum" else {}
        return getattr(x, method)(axis=axes, **kw) if hasattr(x, method) else \
            getattr(np, method)(x, axis=axes, **kw)
    return impl


def _reduce_chooser_jvp(prim):
    # the tangent is the average of the tangents at the positions that attain the extremum
    def jvp(primals, tangents, *, axes):
        (x,), (x_dot,) = primals, tangents
        ans = prim.bind1(x, axes=axes)
        if type(x_dot) is Zero:
            return [ans], [Zero(get_aval_of(ans))]
        shape = get_aval_of(x).shape
        kept = _kept_dims(len(shape), axes)
        location = convert_element_type(eq(x, broadcast_in_dim(ans, shape, kept)),
                                        get_aval_of(x).dtype)  # 1 where x attains ans, else 0
        weights = div(location, broadcast_in_dim(reduce_sum(location, axes), shape, kept))
        return [ans], [reduce_sum(mul(x_dot, weights), axes)]  # weights are known: 2 eqns
    return jvp


def _reduce_native(method, eqn, args, ctx):
    """Whole arrays with `np.<method>`; sums axis by axis; the others row by row, the reduced
    axes moved last and flattened (Numba's max, min, argmax take no `axis`)."""
    x, out, axes = eqn.inputs[0].aval, eqn.out_binders[0].aval, eqn.params["axes"]
    if not axes or 0 in x.shape:
        return args[0] if not axes else None
    if out.ndim == 0:
        return f"{ctor(out.dtype)}(np.{method}({args[0]}))"
    if method == "sum":
        return functools.reduce(lambda s, a: f"np.sum({s}, axis={a})", sorted(axes)[::-1],
                                args[0])
    rows, perm = math.prod(out.shape), _kept_dims(x.ndim, axes) + tuple(axes)
    t, o, i = ctx.fresh("r"), ctx.fresh("r"), ctx.fresh("i")
    ctx.line(f"{t} = np.ascontiguousarray(np.transpose({args[0]}, {perm!r})).reshape(({rows}, "
             f"{math.prod(x.shape) // rows}))")
    ctx.line(f"{o} = np.empty({rows}, {ctor(out.dtype)})")
    ctx.line(f"for {i} in range({rows}):")
    ctx.line(f"    {o}[{i}] = np.{method}({t}[{i}])")
    return f"{o}.reshape({out.shape!r})"


for _p, _uf, _method in ((reduce_sum_p, np.add, "sum"), (reduce_max_p, np.maximum, "max"),
                         (reduce_min_p, np.minimum, "min")):
    _p.impl = _reduce_impl(_uf, _method)
    _p.abstract_eval = lambda x, *, axes: [_reduced_aval(x, axes)]
    _p.batch = _reduce_batch(_p)
    register_emitter(_p, _reduce_emitter(_uf))
    register_native(_p, functools.partial(_reduce_native, _method))
    if _p is reduce_sum_p:
        deflinear(reduce_sum_p, _reduce_sum_transpose)
    else:
        _p.jvp = _reduce_chooser_jvp(_p)
        _p.transpose = NOT_APPLICABLE
# GPU: an elementwise producer fuses into these (`a`, `b`: partial results; NaN wins, as in NumPy)
register_reduction(reduce_sum_p, "(a + b)", lambda dt: 0)
register_reduction(reduce_max_p, "((a != a || a > b) ? a : b)",
                   lambda dt: -np.inf if dt.kind == "f" else np.iinfo(dt).min)
register_reduction(reduce_min_p, "((a != a || a < b) ? a : b)",
                   lambda dt: np.inf if dt.kind == "f" else np.iinfo(dt).max)


# --- argmax / argmin --------------------------------------------------------------------------
def _arg_abstract_eval(x, *, axes, index_dtype):
    return [_reduced_aval(x, axes, np.dtype(index_dtype))]


for _p, _fn in ((argmax_p, np.argmax), (argmin_p, np.argmin)):
    _p.impl = lambda x, *, axes, index_dtype, _fn=_fn: _fn(x, axis=axes[0]).astype(index_dtype)
    _p.abstract_eval = _arg_abstract_eval
    defzero_jvp(_p)
    _p.batch = _reduce_batch(_p)
    register_native(_p, functools.partial(_reduce_native, _fn.__name__))


# --- cumsum -----------------------------------------------------------------------------------
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
deflinear(cumsum_p, lambda ct, x, *, axis, reverse: [cumsum(ct, axis, not reverse)])
cumsum_p.batch = lambda size, xs, bdims, *, axis, reverse: (
    [cumsum(moveaxis(xs[0], bdims[0], 0), axis + 1, reverse)], [0])


# --- argsort ----------------------------------------------------------------------------------
# stable sort order along `axis` (NaNs last, as NumPy); `fnp.sort` gathers with it, so sort's
# derivative flows through the gather


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
for _p in (reduce_sum_p, reduce_max_p, reduce_min_p, argmax_p, argmin_p, cumsum_p, argsort_p):
    register_c_expr(_p, NOT_APPLICABLE)  # library calls, never fused
