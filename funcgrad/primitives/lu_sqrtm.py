"""LU and the matrix square root (scipy.linalg's lu, lu_factor, lu_solve, sqrtm): the primitives
`lu`, `lu_pivots_to_permutation` and `sqrtm`, registered through the decompositions' one
helper. The impls are SciPy's (scipy.linalg.lu_factor, sqrtm) on host arrays, one matrix at a
time; square real matrices.
"""
from __future__ import annotations

import numpy as np

from ..avals import ShapedArray
from ..backend import to_numpy
from ..backend.fusion import register_c_expr
from ..core import NOT_APPLICABLE, Zero, get_aval_of
from .decompositions import _const_matrix, _decomposition, _front_batch, _matmul, _mT
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import defzero_jvp, scipy_module
from .rules import xp_of as _xp


def _per_matrix(fn, a, *outs):
    """fn(matrix) -> tuple of arrays, over the stack `a` (..., n, n); `outs` are the (shape,
    dtype) of each result of one matrix: the stacked results."""
    xp, a = _xp(a), to_numpy(a)
    res = [fn(m) for m in a.reshape((-1,) + a.shape[-2:])]
    return [xp.asarray(np.array([r[i] for r in res], dt).reshape(a.shape[:-2] + shape))
            for i, (shape, dt) in enumerate(outs)]


def _pivots_to_permutation(pivots, *, permutation_size):
    """The permutation of the rows made by LAPACK's row swaps (row i with row pivots[i])."""
    xp, piv = _xp(pivots), to_numpy(pivots)
    flat = piv.reshape(-1, piv.shape[-1])
    perm = np.tile(np.arange(permutation_size, dtype=np.int32), (flat.shape[0], 1))
    rows = np.arange(flat.shape[0])
    for i in range(flat.shape[1]):
        j, keep = flat[:, i], perm[:, i].copy()
        perm[:, i] = perm[rows, j]
        perm[rows, j] = keep
    return xp.asarray(perm.reshape(piv.shape[:-1] + (permutation_size,)))


lu_pivots_to_permutation_p.impl = _pivots_to_permutation
lu_pivots_to_permutation_p.abstract_eval = lambda p, *, permutation_size: [ShapedArray(
    p.shape[:-1] + (permutation_size,), np.dtype(np.int32))]
defzero_jvp(lu_pivots_to_permutation_p)
lu_pivots_to_permutation_p.batch = _front_batch(lu_pivots_to_permutation_p)


# lu: a[perm] = L U, L unit lower, U upper, stored together in one matrix. With
# X = L^-1 da[perm] U^-1: dL = L tril(X, -1), dU = triu(X) U (JAX's rule, square matrices)

def _lu_impl(a):
    sl = scipy_module("linalg", "lu")
    lu_, piv = _per_matrix(lambda m: sl.lu_factor(m, check_finite=False), a,
                           (a.shape[-2:], a.dtype), (a.shape[-1:], np.int32))
    return [lu_, piv, _pivots_to_permutation(piv, permutation_size=a.shape[-1])]


def _permutation_matrix(perm, aval):
    """P with P @ x == x[..., perm, :], for the stacks of n x n matrices typed `aval`."""
    nd, n = aval.ndim, aval.shape[-1]
    cols = broadcast_in_dim(np.arange(n, dtype=np.int32), aval.shape, (nd - 1,))
    rows = broadcast_in_dim(perm, aval.shape, tuple(range(nd - 1)))
    return convert_element_type(eq(rows, cols), aval.dtype)


def _lu_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    lu_, piv, perm = outs = lu(a)
    if type(da) is Zero:
        return outs, [Zero(get_aval_of(o)) for o in outs]
    aval = get_aval_of(a)
    n = aval.shape[-1]
    strict, eye = np.tril(np.ones((n, n)), -1), np.eye(n)
    low = add(mul(lu_, _const_matrix(strict, aval)), _const_matrix(eye, aval))
    up = mul(lu_, _const_matrix(1.0 - strict, aval))
    x = _matmul(_permutation_matrix(perm, aval), da)  # da[..., perm, :]
    x = triangular_solve(low, x, True)
    x = _mT(triangular_solve(up, _mT(x), False, True))  # ... U^-1
    dl = _matmul(low, mul(x, _const_matrix(strict, aval)))
    du = _matmul(mul(x, _const_matrix(1.0 - strict, aval)), up)
    return outs, [add(dl, du), Zero(get_aval_of(piv)), Zero(get_aval_of(perm))]


_decomposition(lu_p, lambda a: [a] + [ShapedArray(a.shape[:-1], np.dtype(np.int32))] * 2,
               _lu_jvp, _lu_impl)


# sqrtm: X X = A (the principal root, real for a real A without eigenvalues on the closed
# negative axis; nan otherwise). dX solves the Sylvester equation X dX + dX X = dA, here as the
# (n^2 x n^2) Kronecker system (kron(X, I) + kron(I, X^T)) vec(dX) = vec(dA), row-major vec.

def _sqrtm_impl(a):
    sl = scipy_module("linalg", "sqrtm")

    def root(m):
        x = sl.sqrtm(m)
        if np.iscomplexobj(x):
            x = x.real if np.abs(x.imag).max() <= 1e3 * np.finfo(m.dtype).eps * max(
                np.abs(x).max(), 1.0) else np.full(m.shape, np.nan)
        return (x,)
    return _per_matrix(root, a, (a.shape[-2:], a.dtype))[0]


def _sqrtm_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    x = sqrtm(a)
    if type(da) is Zero:
        return [x], [Zero(get_aval_of(x))]
    aval = get_aval_of(a)
    n, b = aval.shape[-1], aval.ndim - 2
    big = aval.shape[:-2] + (n, n, n, n)  # axes (i, k, j, l) of the row (i, k), column (j, l)
    batch = tuple(range(b))
    eye = np.eye(n, dtype=aval.dtype)
    kron = add(mul(broadcast_in_dim(x, big, batch + (b, b + 2)),
                   broadcast_in_dim(eye, big, (b + 1, b + 3))),
               mul(broadcast_in_dim(eye, big, (b, b + 2)),
                   broadcast_in_dim(_mT(x), big, batch + (b + 1, b + 3))))
    kron = reshape(kron, aval.shape[:-2] + (n * n, n * n))
    dx = solve(kron, reshape(da, aval.shape[:-2] + (n * n, 1)))
    return [x], [reshape(dx, aval.shape)]


_decomposition(sqrtm_p, lambda a: [a], _sqrtm_jvp, _sqrtm_impl)
for _p in (lu_p, lu_pivots_to_permutation_p, sqrtm_p):
    register_c_expr(_p, NOT_APPLICABLE)  # library calls (LAPACK), never fused
