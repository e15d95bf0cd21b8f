"""Matrix solves and decompositions: solve, triangular_solve, cholesky, slogdet, eigh.

Operands are stacks of square matrices `(..., n, n)` and right-hand sides `(..., n, k)` with the
same leading (batch) dimensions: primitives never broadcast. `fnp.linalg`
(`funcgrad/numpy/linalg.py`) broadcasts, promotes dtypes and turns NumPy's vector right-hand
sides into `(..., n, 1)`. The impls call the array module's `linalg` (NumPy, or CuPy for GPU
arrays), which loops over batch dimensions itself, so the batching rules only move the batch
axis to the front. Matrix products inside the rules are `dot_general`. Real and complex
floating-point dtypes.
"""
from __future__ import annotations

import numpy as np

from ..avals import ShapedArray, real_dtype
from ..backend import to_numpy
from ..backend.fusion import register_c_expr
from ..core import NOT_APPLICABLE, Zero, get_aval_of, not_mapped
from .batching import bdim_at_front, moveaxis
from .ops import *  # noqa: F403  (every *_p and bind wrapper)
from .rules import ShapeError, deftranspose, not_linear, scipy_module
from .rules import xp_of as _xp


def check_square(name: str, a: ShapedArray) -> None:
    """Raise a ShapeError unless `a` is a stack of square floating-point (or complex) matrices."""
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"{name}: expected a square matrix or a stack of them, shape (..., n, n), got "
            f"{a.str_short()}. Pass a square matrix (for least squares use a.T @ a, or "
            f"reshape a flattened matrix to (n, n)).")
    if a.dtype.kind not in "fc":
        raise ShapeError(
            f"{name}: expected a real floating-point (or complex) matrix, got {a.str_short()}. "
            f"Convert it first, e.g. fnp.astype(a, fnp.float64).")


def _mT(x):
    """Swap the last two axes (the matrix transpose of every matrix in a stack)."""
    nd = get_aval_of(x).ndim
    return transpose(x, (*range(nd - 2), nd - 1, nd - 2))


def _mH(x):
    """The conjugate transpose (the transpose for real matrices)."""
    return _mT(conj(x) if get_aval_of(x).dtype.kind == "c" else x)


def _as(x, like):
    """x converted to the dtype of `like` (a real value entering complex arithmetic)."""
    dt = get_aval_of(like).dtype
    return x if get_aval_of(x).dtype == dt else convert_element_type(x, dt)


def _matmul(x, y):
    """(..., n, k) @ (..., k, m), equal batch dimensions."""
    nd = get_aval_of(x).ndim
    b = tuple(range(nd - 2))
    return dot_general(x, y, (((nd - 1,), (nd - 2,)), (b, b)))


def _const_matrix(m: np.ndarray, aval: ShapedArray):
    """The constant n x n matrix `m`, broadcast over the batch dimensions of `aval`."""
    nd = aval.ndim
    return broadcast_in_dim(m.astype(aval.dtype), aval.shape[:-2] + m.shape, (nd - 2, nd - 1))


def _solve_batcher(prim):
    """Batching for a solve linear in b: a shared matrix folds b's batch axis into its columns
    (one factorisation for all); otherwise both batch axes move to the front."""
    def batch(size, xs, bdims, **params):
        (a, b), (ba, bb) = xs, bdims
        if ba is not_mapped:
            nd = get_aval_of(b).ndim  # b: (..., n, k) plus the batch axis
            b = moveaxis(b, bb, nd - 1)
            shape = get_aval_of(b).shape
            x = prim.bind1(a, reshape(b, shape[:-2] + (shape[-2] * size,)), **params)
            return [reshape(x, shape)], [nd - 1]
        return [prim.bind1(bdim_at_front(a, ba, size), bdim_at_front(b, bb, size), **params)], [0]
    return batch


def _front_batch(prim):
    def batch(size, xs, bdims, **params):
        outs = prim.bind(moveaxis(xs[0], bdims[0], 0), **params)
        return outs, [0] * len(outs)
    return batch


def _decomposition(prim, out_avals, jvp, impl=None) -> None:
    """The rules of a decomposition of one stack of square matrices: the impl is `impl` or the
    array module's `linalg` function of the primitive's name, batching moves the batch axis to
    the front; `out_avals(a)` are the result types, `jvp` the jvp rule."""
    fn, multiple = prim.name, prim.multiple_results

    def linalg_impl(a):
        out = getattr(_xp(a).linalg, fn)(a)
        return list(out) if multiple else out
    impl = impl or linalg_impl

    def abstract_eval(a):
        check_square(fn, a)
        return out_avals(a)

    prim.impl, prim.abstract_eval, prim.jvp = impl, abstract_eval, jvp
    prim.batch = _front_batch(prim)
    not_linear(prim)


def _rhs_abstract_eval(name: str, a: ShapedArray, b: ShapedArray) -> list[ShapedArray]:
    check_square(name, a)
    if b.ndim != a.ndim or b.shape[:-1] != a.shape[:-1] or b.dtype != a.dtype:
        raise ShapeError(
            f"{name}: the right-hand side must be shaped (..., n, k) with the matrix's batch "
            f"dimensions and dtype, got a: {a.str_short()}, b: {b.str_short()}. "
            f"fnp.linalg.solve broadcasts batch dimensions and accepts a vector b of shape (n,).")
    return [ShapedArray(b.shape, b.dtype, a.weak_type and b.weak_type)]


# --- solve ------------------------------------------------------------------------------------
# x = A^-1 b:  dx = A^-1 (db - dA x);  linear in b with transpose ct -> A^-T ct


def lapack_or_fill(fn, fill, a, *rest):
    """`fn(a, *rest)` over a stack of matrices, where a singular (for cholesky: not positive
    definite) matrix gives `fill` (inf, nan) in its place instead of NumPy's LinAlgError, as in
    JAX: one bad matrix neither stops the program nor spoils the others of its batch."""
    try:
        return fn(a, *rest)
    except np.linalg.LinAlgError:
        xp, out = _xp(a), None
        for i in np.ndindex(*a.shape[:-2]):
            try:
                r = fn(a[i], *(x[i] for x in rest))
            except np.linalg.LinAlgError:
                r = None
            if out is None and r is not None:
                out = xp.empty(a.shape[:-2] + r.shape, r.dtype)
            if out is None:  # no good matrix yet: the result's type from a stand-in
                good = fn(xp.eye(a.shape[-1], dtype=a.dtype), *(x[i] for x in rest))
                out = xp.empty(a.shape[:-2] + good.shape, good.dtype)
            out[i] = fill if r is None else r
        return out


def _solve_impl(a, b):
    xp = _xp(a)
    return lapack_or_fill(xp.linalg.solve, np.inf, a, xp.asarray(b))


def _solve_jvp(primals, tangents):
    (a, b), (da, db) = primals, tangents
    x = solve(a, b)
    if type(da) is Zero:
        return [x], [Zero(get_aval_of(x)) if type(db) is Zero else solve(a, db)]
    dax = _matmul(da, x)
    return [x], [solve(a, neg(dax) if type(db) is Zero else sub(db, dax))]


def _solve_transpose(ct, a, b):
    return [None, solve(_mT(a), ct)]


solve_p.impl = _solve_impl
solve_p.abstract_eval = lambda a, b: _rhs_abstract_eval("solve", a, b)
solve_p.jvp = _solve_jvp
deftranspose(solve_p, _solve_transpose)
solve_p.batch = _solve_batcher(solve_p)


# --- triangular_solve ---------------------------------------------------------------------------
# op(T) x = b with T = tril(a) (lower) or triu(a), op(T) = T or T^T; the other triangle of a is
# never read (its derivative is zero). dx = op(T)^-1 (db - op(dT) x); ct_b = op(T)^-T ct


def _triangular_solve_impl(a, b, *, lower, transpose_a):
    xp, sl = _xp(a), scipy_module("linalg", "", required=False)
    if xp is np and sl is not None:  # O(n^2) substitution (SciPy); else a general solve
        a3, b3 = a.reshape((-1,) + a.shape[-2:]), np.asarray(b).reshape((-1,) + b.shape[-2:])
        return np.stack([sl.solve_triangular(ai, bi, lower=lower, trans=int(transpose_a))
                         for ai, bi in zip(a3, b3)]).reshape(b.shape)
    t = xp.tril(a) if lower else xp.triu(a)
    return xp.linalg.solve(xp.swapaxes(t, -1, -2) if transpose_a else t, xp.asarray(b))


def _triangular_solve_jvp(primals, tangents, *, lower, transpose_a):
    (a, b), (da, db) = primals, tangents
    x = triangular_solve(a, b, lower, transpose_a)
    if type(da) is Zero:
        return [x], [Zero(get_aval_of(x)) if type(db) is Zero
                     else triangular_solve(a, db, lower, transpose_a)]
    n = get_aval_of(a).shape[-1]
    dt = mul(da, _const_matrix(np.tril(np.ones((n, n))) if lower else np.triu(np.ones((n, n))),
                               get_aval_of(a)))
    dtx = _matmul(_mT(dt) if transpose_a else dt, x)
    rhs = neg(dtx) if type(db) is Zero else sub(db, dtx)
    return [x], [triangular_solve(a, rhs, lower, transpose_a)]


def _triangular_solve_transpose(ct, a, b, *, lower, transpose_a):
    return [None, triangular_solve(a, ct, lower, not transpose_a)]


triangular_solve_p.impl = _triangular_solve_impl
triangular_solve_p.abstract_eval = lambda a, b, **_: _rhs_abstract_eval("triangular_solve", a, b)
triangular_solve_p.jvp = _triangular_solve_jvp
deftranspose(triangular_solve_p, _triangular_solve_transpose)
triangular_solve_p.batch = _solve_batcher(triangular_solve_p)


# --- cholesky -----------------------------------------------------------------------------------
# A = L L^T (lower triangle of A read):  dL = L Phi(L^-1 sym(dA) L^-T), Phi = strict lower + diag/2


def _cholesky_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    low = cholesky(a)
    if type(da) is Zero:
        return [low], [Zero(get_aval_of(low))]
    aval = get_aval_of(a)
    n = aval.shape[-1]
    y = triangular_solve(low, add(da, _mH(da)), True)  # L^-1 (dA + dA^H)
    y = triangular_solve(low, _mH(y), True)  # ... L^-H: Hermitian, so a transpose suffices
    phi = np.tril(np.ones((n, n)), -1) * 0.5 + np.eye(n) * 0.25  # Phi, and sym's 1/2
    return [low], [_matmul(low, mul(y, _const_matrix(phi, aval)))]


_decomposition(cholesky_p, lambda a: [a], _cholesky_jvp,
               lambda a: lapack_or_fill(_xp(a).linalg.cholesky, np.nan, a))


# --- slogdet ------------------------------------------------------------------------------------
# (sign, log|det A|), with t = tr(A^-1 dA) = sum(A^-T * dA):  d log|det A| = Re t,
# d sign = sign * i Im t (zero for real A, whose sign is +-1)


def _slogdet_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    sign, logabsdet = slogdet(a)
    if type(da) is Zero:
        return [sign, logabsdet], [Zero(get_aval_of(sign)), Zero(get_aval_of(logabsdet))]
    aval = get_aval_of(a)
    inv_t = solve(_mT(a), _const_matrix(np.eye(aval.shape[-1]), aval))
    t = reduce_sum(mul(da, inv_t), (aval.ndim - 2, aval.ndim - 1))
    if aval.dtype.kind != "c":
        return [sign, logabsdet], [Zero(get_aval_of(sign)), t]
    dlog = real(t)
    return [sign, logabsdet], [mul(sign, sub(t, _as(dlog, t))), dlog]


_decomposition(slogdet_p, lambda a: [ShapedArray(a.shape[:-2], a.dtype, a.weak_type),
                                     ShapedArray(a.shape[:-2], real_dtype(a.dtype), a.weak_type)],
               _slogdet_jvp)


# --- eigh ---------------------------------------------------------------------------------------
# A V = V diag(w), lower triangle read; with P = V^H sym(dA) V (distinct eigenvalues assumed):
# dw = Re diag(P),  dV = V (F * P),  F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it


def _eigh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = eigh(a)
    if type(da) is Zero:
        return [w, v], [Zero(get_aval_of(w)), Zero(get_aval_of(v))]
    aval = get_aval_of(a)
    nd, n = aval.ndim, aval.shape[-1]
    eye = np.eye(n)
    sym = mul(add(da, _mH(da)), _const_matrix(np.full((n, n), 0.5), aval))
    p = _matmul(_mH(v), _matmul(sym, v))
    dw = reduce_sum(mul(p, _const_matrix(eye, aval)), (nd - 1,))
    batch = tuple(range(nd - 2))
    w_j = broadcast_in_dim(w, aval.shape, batch + (nd - 1,))
    w_i = broadcast_in_dim(w, aval.shape, batch + (nd - 2,))
    gap = add(sub(w_j, w_i), _const_matrix(eye, get_aval_of(w_j)))  # 1 on the diagonal: no 0/0
    off = div(mul(p, _const_matrix(1.0 - eye, aval)), _as(gap, p))
    return [w, v], [real(dw) if aval.dtype.kind == "c" else dw, _matmul(v, off)]


_decomposition(eigh_p, lambda a: [ShapedArray(a.shape[:-1], real_dtype(a.dtype), a.weak_type), a],
               _eigh_jvp)
for _p in (solve_p, triangular_solve_p, cholesky_p, slogdet_p, eigh_p):
    register_c_expr(_p, NOT_APPLICABLE)  # library calls (LAPACK), never fused


# --- svd, qr, eig (issue 14) --------------------------------------------------------------------

def _check_matrix(name: str, a: ShapedArray) -> None:
    if a.ndim < 2 or a.dtype.kind not in "fc":
        raise ShapeError(f"{name}: expected a real floating-point (or complex) matrix or a stack "
                         f"of them, shape (..., m, n), got {a.str_short()}.")


def _bcast_last(v, shape, axis_from_end: int):
    """The vector stack v (..., k) broadcast to (..., k, k) along axis -1 or -2."""
    nd = len(shape)
    return broadcast_in_dim(v, shape, tuple(range(nd - 2)) + (nd - axis_from_end,))


# svd: A = U diag(s) V^H (reduced). With dS = U^H dA V (distinct nonzero singular values):
# ds = Re diag(dS); dU = U (F * (dS S + S dS^H) + i Im diag(dS) / s) + (I - U U^H) dA V / s;
# dV = V (F * (S dS + dS^H S)) + (I - V V^H) dA^H U / s;  F_ij = 1 / (s_j^2 - s_i^2), F_ii = 0

def _svd_abstract_eval(a, *, full_matrices, compute_uv):
    _check_matrix("svd", a)
    *b, m, n = a.shape
    k = min(m, n)
    s = ShapedArray(tuple(b) + (k,), real_dtype(a.dtype), a.weak_type)
    if not compute_uv:
        return [s]
    mu, nv = (m, n) if full_matrices else (k, k)
    return [ShapedArray(tuple(b) + (m, mu), a.dtype), s, ShapedArray(tuple(b) + (nv, n), a.dtype)]


def _svd_jvp(primals, tangents, *, full_matrices, compute_uv):
    (a,), (da,) = primals, tangents
    aval = get_aval_of(a)
    _check_matrix("svd", aval)
    m, n = aval.shape[-2:]
    if compute_uv and full_matrices and m != n:
        raise ShapeError("svd: derivatives of the full (full_matrices=True) U or V of a "
                         "non-square matrix are not unique; use full_matrices=False.")
    u, s, vh = svd(a, False, True)
    outs = [u, s, vh] if compute_uv else [s]
    if type(da) is Zero:
        return outs, [Zero(get_aval_of(o)) for o in outs]
    v, cplx = _mH(vh), aval.dtype.kind == "c"
    nd = aval.ndim
    ds_mat = _matmul(_mH(u), _matmul(da, v))  # (..., k, k)
    kk = get_aval_of(ds_mat)
    k = kk.shape[-1]
    eye = _const_matrix(np.eye(k), kk)
    ds = reduce_sum(mul(ds_mat, eye), (nd - 1,))
    ds = real(ds) if cplx else ds
    if not compute_uv:
        return outs, [ds]
    sc = _as(s, ds_mat)
    s_col, s_row = _bcast_last(sc, kk.shape, 1), _bcast_last(sc, kk.shape, 2)  # s_j, s_i
    f = sub(div(_const_matrix(np.ones((k, k)), kk), add(mul(add(s_col, s_row),
                                                            sub(s_col, s_row)), eye)), eye)
    dss, sds = mul(s_col, ds_mat), mul(s_row, ds_mat)
    du = _matmul(u, mul(f, add(dss, _mH(dss))))
    if cplx:  # the phase of each singular pair: i Im diag(dS) / s on U's side
        dg = mul(ds_mat, eye)
        du = add(du, _matmul(u, div(sub(dg, _as(real(dg), dg)), s_col)))
    dv = _matmul(v, mul(f, add(sds, _mH(sds))))
    if m > n:
        dav = _matmul(da, v)
        du = add(du, div(sub(dav, _matmul(u, _matmul(_mH(u), dav))),
                         _bcast_last(sc, get_aval_of(dav).shape, 1)))
    if n > m:
        dau = _matmul(_mH(da), u)
        dv = add(dv, div(sub(dau, _matmul(v, _matmul(vh, dau))),
                         _bcast_last(sc, get_aval_of(dau).shape, 1)))
    return outs, [du, ds, _mH(dv)]


def _svd_impl(a, *, full_matrices, compute_uv):
    out = _xp(a).linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return list(out) if compute_uv else [out]


svd_p.impl, svd_p.abstract_eval, svd_p.jvp = _svd_impl, _svd_abstract_eval, _svd_jvp
svd_p.batch = _front_batch(svd_p)
not_linear(svd_p)


# qr: A = Q R (reduced, m >= n). With C = Q^H dA R^-1 and Omega = tril(C, -1) - tril(C, -1)^H
# (plus i Im diag(C) for complex A, whose R has a real diagonal):
# dQ = Q (Omega - C) + dA R^-1,  dR = (C - Omega) R

def _qr_abstract_eval(a, *, full_matrices):
    _check_matrix("qr", a)
    *b, m, n = a.shape
    k = m if full_matrices else min(m, n)
    return [ShapedArray(tuple(b) + (m, k), a.dtype), ShapedArray(tuple(b) + (k, n), a.dtype)]


def _qr_jvp(primals, tangents, *, full_matrices):
    (a,), (da,) = primals, tangents
    m, n = get_aval_of(a).shape[-2:]
    outs = qr(a, full_matrices)
    if type(da) is Zero:
        return outs, [Zero(get_aval_of(o)) for o in outs]
    if m < n or (full_matrices and m != n):
        raise ShapeError("qr: derivatives need a matrix with at least as many rows as columns "
                         "and the reduced factorisation (mode='reduced'), as in JAX.")
    q, r = outs
    da_rinv = _mT(triangular_solve(r, _mT(da), False, True))  # dA R^-1
    c = _matmul(_mH(q), da_rinv)
    low = mul(c, _const_matrix(np.tril(np.ones((n, n)), -1), get_aval_of(c)))
    omega = sub(low, _mH(low))
    if get_aval_of(c).dtype.kind == "c":
        dg = mul(c, _const_matrix(np.eye(n), get_aval_of(c)))
        omega = add(omega, sub(dg, _as(real(dg), dg)))
    return outs, [add(_matmul(q, sub(omega, c)), da_rinv), _matmul(sub(c, omega), r)]


qr_p.impl = lambda a, *, full_matrices: list(_xp(a).linalg.qr(
    a, mode="complete" if full_matrices else "reduced"))
qr_p.abstract_eval, qr_p.jvp, qr_p.batch = _qr_abstract_eval, _qr_jvp, _front_batch(qr_p)
not_linear(qr_p)


# eig: A V = V diag(w), complex outputs, columns of V of unit norm (NumPy's convention). With
# P = V^-1 dA V (distinct eigenvalues): dw = diag(P); dV = V (F * P) with F_ij = 1 / (w_j - w_i),
# F_ii = 0, minus V Re(diag(V^H V (F * P))) so that every column keeps its unit norm (the phase of
# each eigenvector is arbitrary; this choice leaves it fixed to first order)

def _eig_abstract_eval(a):
    check_square("eig", a)
    c = np.result_type(a.dtype, np.complex64)
    return [ShapedArray(a.shape[:-1], c), ShapedArray(a.shape, c)]


def _eig_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = outs = eig(a)
    if type(da) is Zero:
        return outs, [Zero(get_aval_of(o)) for o in outs]
    vv = get_aval_of(v)
    nd, n = vv.ndim, vv.shape[-1]
    eye = _const_matrix(np.eye(n), vv)
    p = solve(v, _matmul(_as(da, v), v))
    dw = reduce_sum(mul(p, eye), (nd - 1,))
    w_j, w_i = _bcast_last(w, vv.shape, 1), _bcast_last(w, vv.shape, 2)
    f = sub(div(_const_matrix(np.ones((n, n)), vv), add(sub(w_j, w_i), eye)), eye)
    dv = _matmul(v, mul(f, p))
    norm = real(reduce_sum(mul(conj(v), dv), (nd - 2,)))  # Re(v_k^H dv_k) per column k
    return outs, [dw, sub(dv, mul(v, _bcast_last(_as(norm, v), vv.shape, 1)))]


def _eig_impl(a):
    xp, c = _xp(a), np.result_type(a.dtype, np.complex64)
    w, v = np.linalg.eig(to_numpy(a))  # LAPACK on the host (CuPy before 14 has no eig)
    return [xp.asarray(w.astype(c, copy=False)), xp.asarray(v.astype(c, copy=False))]


eig_p.impl, eig_p.abstract_eval, eig_p.jvp = _eig_impl, _eig_abstract_eval, _eig_jvp
eig_p.batch = _front_batch(eig_p)
not_linear(eig_p)
for _p in (svd_p, qr_p, eig_p):
    register_c_expr(_p, NOT_APPLICABLE)  # library calls (LAPACK), never fused
