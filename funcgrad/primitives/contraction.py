"""dot_general: contractions with batch dimensions (matmul, batched matmul, tensordot).

dimension_numbers = ((lhs_contract, rhs_contract), (lhs_batch, rhs_batch)); the output holds the
batch dims, then lhs's free dims, then rhs's free dims, each in operand order.
"""
from __future__ import annotations

import math

import numpy as np

from ..avals import ShapedArray
from ..backend.fusion import register_c_expr
from ..backend.native import register_native
from ..backend.numpy_codegen import register_emitter
from ..core import NOT_APPLICABLE, get_aval_of, is_undefined_primal
from .batching import moveaxis
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import ShapeError, defjvp, deftranspose


def _free(ndim, contract, batch):
    return [i for i in range(ndim) if i not in contract and i not in batch]


def _dot_general_impl(x, y, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if (not lb and len(lc) == 1 and type(x) is np.ndarray and type(y) is np.ndarray
            and x.ndim == 2 and y.ndim == 2):  # matrix products: BLAS reads transposed views
        return np.matmul(x if lc[0] == 1 else x.T, y if rc[0] == 0 else y.T)
    if not lb:
        return np.tensordot(x, y, (lc, rc)) if lc else np.multiply.outer(x, y)
    lf, rf = _free(x.ndim, lc, lb), _free(y.ndim, rc, rb)
    bshape = [x.shape[i] for i in lb]
    lfs, rfs = [x.shape[i] for i in lf], [y.shape[i] for i in rf]
    k = math.prod([x.shape[i] for i in lc])
    xm = np.transpose(x, (*lb, *lf, *lc)).reshape(-1, math.prod(lfs), k)
    ym = np.transpose(y, (*rb, *rc, *rf)).reshape(-1, k, math.prod(rfs))
    # contracting over size 1 (batched outer products, e.g. per-example weight gradients):
    # a broadcast multiply is several times faster than a matmul with k = 1
    out = xm * ym if k == 1 else np.matmul(xm, ym)
    return out.reshape(*bshape, *lfs, *rfs)


def _dot_general_abstract_eval(x, y, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    if (x.dtype != y.dtype or len(lc) != len(rc) or len(lb) != len(rb)
            or any(x.shape[a] != y.shape[b] for a, b in zip(lc, rc))
            or any(x.shape[a] != y.shape[b] for a, b in zip(lb, rb))):
        raise ShapeError(f"dot_general: cannot contract {x.str_short()} and {y.str_short()} with "
                         f"dimension_numbers={dimension_numbers} (contracted and batch sizes and "
                         f"dtypes must agree)")
    shape = ([x.shape[i] for i in lb] + [x.shape[i] for i in _free(x.ndim, lc, lb)]
             + [y.shape[i] for i in _free(y.ndim, rc, rb)])
    return [ShapedArray(tuple(shape), x.dtype, x.weak_type and y.weak_type)]


def _argsort(xs: list) -> list:
    """The permutation sorting `xs` (numpy.argsort costs microseconds on a short list)."""
    return sorted(range(len(xs)), key=xs.__getitem__)


def _dot_general_transpose(ct, x, y, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    x_aval = x.aval if is_undefined_primal(x) else get_aval_of(x)
    y_aval = y.aval if is_undefined_primal(y) else get_aval_of(y)
    if not lb and len(lc) == 1 and x_aval.ndim == 2 and y_aval.ndim == 2:
        # matrix products (the common case), the general code below specialised: the other
        # operand contracted with ct, transposed when the operand's layout is (contracted, free)
        if is_undefined_primal(x):
            out = dot_general_p.bind1(ct, y, dimension_numbers=(((1,), (1 - rc[0],)), ((), ())))
            return [out if lc[0] == 1 else transpose(out, (1, 0)), None]
        out = dot_general_p.bind1(x, ct, dimension_numbers=(((1 - lc[0],), (0,)), ((), ())))
        return [None, out if rc[0] == 0 else transpose(out, (1, 0))]
    nb = len(lb)
    lf, rf = _free(x_aval.ndim, lc, lb), _free(y_aval.ndim, rc, rb)
    ct_b = tuple(range(nb))
    ct_lf = tuple(range(nb, nb + len(lf)))
    ct_rf = tuple(range(nb + len(lf), nb + len(lf) + len(rf)))
    if is_undefined_primal(x):
        out = dot_general(ct, y, ((ct_rf, tuple(rf)), (ct_b, tuple(rb))))
        rest = sorted(rc)
        axes_in_x = list(lb) + lf + [lc[list(rc).index(r)] for r in rest]
        return [transpose(out, _argsort(axes_in_x)), None]
    # x first, so that for y laid out (batch, contracted, free) -- e.g. a weight matrix in x @ W
    # -- the result is already in y's layout and needs no transpose
    out = dot_general(x, ct, ((tuple(lf), ct_lf), (tuple(lb), ct_b)))
    rest = sorted(lc)
    axes_in_y = list(rb) + [rc[list(lc).index(c)] for c in rest] + rf
    return [None, transpose(out, _argsort(axes_in_y))]


def _dot_general_batch(size, xs, bdims, *, dimension_numbers):
    (x, y), (bx, by) = xs, bdims
    (lc, rc), (lb, rb) = dimension_numbers
    shift = lambda dims: tuple(d + 1 for d in dims)  # noqa: E731
    if bx is not None and by is not None:
        x, y = moveaxis(x, bx, 0), moveaxis(y, by, 0)
        dn = ((shift(lc), shift(rc)), ((0,) + shift(lb), (0,) + shift(rb)))
        return [dot_general(x, y, dn)], [0]
    if bx is not None:
        x = moveaxis(x, bx, 0)
        dn = ((shift(lc), rc), (shift(lb), rb))
        return [dot_general(x, y, dn)], [len(lb)]
    y = moveaxis(y, by, 0)
    dn = ((lc, shift(rc)), (lb, shift(rb)))
    n_lf = get_aval_of(x).ndim - len(lc) - len(lb)
    return [dot_general(x, y, dn)], [len(lb) + n_lf]


dot_general_p.impl = _dot_general_impl
dot_general_p.abstract_eval = _dot_general_abstract_eval
defjvp(dot_general_p,
       lambda x_dot, _, x, y, **params: dot_general_p.bind1(x_dot, y, **params),
       lambda y_dot, _, x, y, **params: dot_general_p.bind1(x, y_dot, **params))
deftranspose(dot_general_p, _dot_general_transpose)
dot_general_p.batch = _dot_general_batch


def _dot_general_emit(eqn, args, names):
    """`np.matmul` (or a broadcast multiply) for the dimension numbers that map onto it; the
    other contractions call the impl."""
    expr = _matmul_expr(eqn.params["dimension_numbers"], *[x.aval for x in eqn.inputs], *args)
    return None if expr is None else (expr, "fresh")


def _matmul_expr(dn, x, y, a, b) -> str | None:
    (lc, rc), (lb, rb) = dn
    if x.ndim == 0 or y.ndim == 0:
        return None
    k = 1
    for d in lc:
        k *= x.shape[d]
    if k == 1 and x.dtype.kind in "fc":  # contraction of size 1: an outer product per batch
        return _emit_outer(dn, x, y, a, b)
    if not lb and not rb and len(lc) == 1 and y.ndim <= 2:
        if x.ndim == 2 and lc == (0,):
            a = f"{a}.T"
        elif lc != (x.ndim - 1,):
            return None
        if y.ndim == 2 and rc == (1,):
            b = f"{b}.T"
        elif rc != (0,):
            return None
        if x.ndim > 2:  # (e.g. per-example x @ W): leading dims folded into rows, one matmul
            shape = x.shape[:-1] + y.shape[1 - rc[0]:][:y.ndim - 1]
            return f"np.matmul(np.reshape({a}, (-1, {k})), {b}).reshape({shape!r})"
        return f"np.matmul({a}, {b})"
    if lb == rb == (0,) and x.ndim == y.ndim == 3 and len(lc) == 1:
        if lc == (1,):
            a = f"np.swapaxes({a}, 1, 2)"
        elif lc != (2,):
            return None
        if rc == (2,):
            b = f"np.swapaxes({b}, 1, 2)"
        elif rc != (1,):
            return None
        return f"np.matmul({a}, {b})"
    return None


def _emit_outer(dn, x, y, a, b) -> str:
    (lc, rc), (lb, rb) = dn
    lf = [d for d in range(x.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(y.ndim) if d not in rc and d not in rb]
    bs = [x.shape[d] for d in lb]
    sx = tuple(bs + [x.shape[d] for d in lf] + [1] * len(rf))
    sy = tuple(bs + [1] * len(lf) + [y.shape[d] for d in rf])
    px, py = tuple(lb) + tuple(lf) + tuple(lc), tuple(rb) + tuple(rf) + tuple(rc)
    xa = f"np.reshape(np.transpose({a}, {px!r}), {sx!r})"
    ya = f"np.reshape(np.transpose({b}, {py!r}), {sy!r})"
    return f"np.multiply({xa}, {ya})"


register_emitter(dot_general_p, _dot_general_emit)
register_c_expr(dot_general_p, NOT_APPLICABLE)  # a library call (BLAS), never fused


def _dot_native(eqn, args, ctx):
    """`np.dot` (BLAS) for vectors and matrices of floats; any other contraction of floats as
    (B, M, K) @ (B, K, N): a broadcast multiply for K = 1, one matmul for B = 1 (batch and free
    dims folded into rows), else a loop of matmuls."""
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    (x, y), out = (v.aval for v in eqn.inputs), eqn.out_binders[0].aval
    if x.dtype.kind != "f" or not x.ndim or not y.ndim:
        return None
    if not lb and len(lc) == 1 and x.ndim <= 2 and y.ndim <= 2:
        return (f"np.dot({args[0]}{'' if lc[0] == x.ndim - 1 else '.T'}, "
                f"{args[1]}{'' if rc[0] == 0 else '.T'})")
    if not out.ndim or 0 in x.shape + y.shape:
        return None
    lf, rf = _free(x.ndim, lc, lb), _free(y.ndim, rc, rb)
    b, k = (math.prod(x.shape[i] for i in d) for d in (lb, lc))
    m, n = math.prod(x.shape[i] for i in lf), math.prod(y.shape[i] for i in rf)

    def canon(a, perm, shape):
        a = a if list(perm) == sorted(perm) else f"np.transpose({a}, {tuple(perm)!r})"
        return f"np.ascontiguousarray({a}).reshape({shape!r})"
    if k == 1:
        expr = f"{canon(args[0], [*lb, *lf, *lc], (b, m, 1))} * " \
               f"{canon(args[1], [*rb, *rc, *rf], (b, 1, n))}"
    elif b == 1:
        expr = f"np.dot({canon(args[0], [*lf, *lc], (m, k))}, {canon(args[1], [*rc, *rf], (k, n))})"
    else:
        xm, ym = ctx.carry([canon(args[0], [*lb, *lf, *lc], (b, m, k)),
                            canon(args[1], [*rb, *rc, *rf], (b, k, n))])
        ctx.line(f"{(expr := ctx.fresh('d'))} = np.empty(({b}, {m}, {n}), {xm}.dtype)")
        ctx.line(f"for {(i := ctx.fresh('i'))} in range({b}):")
        ctx.line(f"    {expr}[{i}] = np.dot({xm}[{i}], {ym}[{i}])")
    return f"({expr}).reshape({out.shape!r})"


register_native(dot_general_p, _dot_native)
