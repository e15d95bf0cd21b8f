"""`funcgrad.scipy.linalg`: triangular, Cholesky, LU and banded solves, block_diag,
solve_sylvester, expm, sqrtm.

The primitives `triangular_solve_p`, `lu_p` and `sqrtm_p` and their derivative rules live in
`funcgrad.primitives`; the
shape checks are `funcgrad.numpy.linalg`'s; the rest is composed of funcgrad.numpy."""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from .. import primitives as prims
from ..numpy.linalg import _float, _rhs, _square


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     debug=None, check_finite=True):
    """The solution `x` of `op(T) @ x == b`, like `scipy.linalg.solve_triangular`.

    Args:
        a: square matrix or stack of them (..., n, n); only its lower (`lower=True`) or upper
            triangle `T` is read, so the other triangle gets a zero derivative.
        b: shape (n,) (the result has shape (..., n)) or (..., n, k); batch dimensions broadcast.
        trans: 0 / "N" solves `T x = b`; 1 / "T" solves `T.T x = b`.
        lower: whether `T` is the lower triangle of `a`.
        unit_diagonal: whether T's diagonal is all ones (the diagonal of `a` is then not read).
        overwrite_b, debug, check_finite: SciPy's and JAX's, accepted and unused (funcgrad never
            overwrites its inputs).
    """
    if trans not in (0, 1, "N", "T"):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 'N' or 'T', got {trans!r} "
                         f"(matrices are real, so 'C' is 'T')")
    _square("solve_triangular", a)
    a, b, vector = _rhs("solve_triangular", fnp.asarray(a), fnp.asarray(b))
    if unit_diagonal:
        n = fnp.shape(a)[-1]
        a = a * (1.0 - np.eye(n, dtype=a.dtype)) + np.eye(n, dtype=a.dtype)
    x = prims.triangular_solve(a, b, lower, trans in (1, "T"))
    return fnp.squeeze(x, axis=-1) if vector else x


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of a symmetric positive-definite `a`: upper `U` with `a = U.T @ U`
    (SciPy's default), or lower `L` with `a = L @ L.T`."""
    low = fnp.linalg.cholesky(a)
    return low if lower else fnp.swapaxes(low, -1, -2)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """`(c, lower)` for `cho_solve`, like `scipy.linalg.cho_factor` (the unused triangle of `c`
    is zero)."""
    return cholesky(a, lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """The solution of `a x = b` from `cho_factor(a)`."""
    c, lower = c_and_lower
    y = solve_triangular(c, b, trans=0 if lower else 1, lower=lower)
    return solve_triangular(c, y, trans=1 if lower else 0, lower=lower)


def block_diag(*arrs):
    """The block-diagonal matrix of the given matrices (scalars and 1-D arrays are rows)."""
    mats = [fnp.atleast_2d(fnp.asarray(a)) for a in arrs]
    if not mats:
        return fnp.zeros((1, 0))
    cols = [fnp.shape(m)[1] for m in mats]
    total, rows, left = sum(cols), [], 0
    for m, c in zip(mats, cols):
        rows.append(fnp.pad(m, ((0, 0), (left, total - left - c))))
        left += c
    return fnp.concatenate(rows, axis=0)


def _kron2(a, b):
    (n, m), (p, q) = fnp.shape(a), fnp.shape(b)
    return fnp.reshape(a[:, None, :, None] * b[None, :, None, :], (n * p, m * q))


def solve_sylvester(A, B, C, *, method="schur", tol=1e-8):  # noqa: N803  (JAX's names)
    """The solution `X` of `A @ X + X @ B = C` (through the Kronecker-form linear system of size
    n*m, so for small matrices), like `scipy.linalg.solve_sylvester`; JAX's `method` and `tol`
    are accepted and unused (the solve is direct)."""
    a, b, q = A, B, C
    n, m = fnp.shape(a)[0], fnp.shape(b)[0]
    big = _kron2(a, fnp.eye(m, dtype=a.dtype)) + _kron2(fnp.eye(n, dtype=a.dtype),
                                                        fnp.swapaxes(b, 0, 1))
    return fnp.reshape(fnp.linalg.solve(big, fnp.reshape(q, (n * m,))), (n, m))


_PADE13 = [64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0]
_THETA13 = 5.371920351148152


def expm(A, *, upper_triangular=False, max_squarings=16):  # noqa: N803  (JAX's names)
    """The matrix exponential (Pade 13 with scaling and squaring, Higham 2005), like
    `scipy.linalg.expm`; the number of squarings (at most `max_squarings`, as in JAX) is
    data-dependent but the program is not (every squaring step is a `where`), so it works under
    jit, vmap and grad. `upper_triangular` (a hint in JAX) is accepted and unused."""
    a = fnp.asarray(A)
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    norm1 = fnp.max(fnp.sum(fnp.abs(a), axis=-2), axis=-1)
    s = fnp.clip(fnp.ceil(fnp.log2(fnp.maximum(norm1, 1e-300) / _THETA13)), 0, max_squarings)
    a = a / fnp.stop_gradient(2.0 ** s)[..., None, None]
    b, eye = _PADE13, fnp.broadcast_to(fnp.eye(fnp.shape(a)[-1], dtype=a.dtype), fnp.shape(a))
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2
             + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    r = fnp.linalg.solve(v - u, v + u)
    for i in range(max_squarings):
        r = fnp.where((i < s)[..., None, None], r @ r, r)
    return r


# --- LU, sqrtm, banded solves (issue 14): lu_p and sqrtm_p carry the derivative rules ---------

def _lu_parts(a):
    """(lu, pivots, permutation) of a square matrix or stack, integers promoted to float."""
    _square("lu", a)
    (a,) = _float(fnp.asarray(a))
    return prims.lu(a)


def _unit_lower(lu):
    n = fnp.shape(lu)[-1]
    return fnp.tril(lu, -1) + fnp.eye(n, dtype=lu.dtype, like=lu)


def lu(a, permute_l=False, overwrite_a=False, check_finite=True):
    """`(p, l, u)` with `a == p @ l @ u` (or `(p @ l, u)` with `permute_l=True`), like
    `scipy.linalg.lu`, for square matrices (and stacks); differentiable in `a`."""
    lu_, _, perm = _lu_parts(a)
    n = fnp.shape(lu_)[-1]
    p = fnp.swapaxes((perm[..., :, None] == fnp.arange(n, like=lu_)).astype(lu_.dtype), -1, -2)
    low, up = _unit_lower(lu_), fnp.triu(lu_)
    return (p @ low, up) if permute_l else (p, low, up)


def lu_factor(a, overwrite_a=False, check_finite=True):
    """`(lu, piv)` like `scipy.linalg.lu_factor`: L (unit diagonal, not stored) and U in one
    matrix, and LAPACK's row interchanges (row i was swapped with row piv[i]), int32."""
    lu_, piv, _ = _lu_parts(a)
    return lu_, piv


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """The solution of `a x = b` (trans=0) or `a.T x = b` (trans=1, or 2: the matrices are
    real) from `lu_factor(a)`, like `scipy.linalg.lu_solve`; differentiable in b and, through
    `lu_factor`, in a. `b` has shape (n,) or (n, ...)."""
    lu_, piv = lu_and_piv
    if trans not in (0, 1, 2):
        raise ValueError(f"lu_solve: trans must be 0 (a x = b), 1 (a.T x = b) or 2 (a.H x = b), "
                         f"got {trans!r}")
    lu_, b = _float(fnp.asarray(lu_), fnp.asarray(b))
    n = fnp.shape(lu_)[-1]
    if fnp.ndim(lu_) != 2 or not fnp.ndim(b) or fnp.shape(b)[0] != n:
        raise ValueError(f"lu_solve: expected lu of shape (n, n) and b of shape (n,) or (n, ...),"
                         f" got {fnp.shape(lu_)} and {fnp.shape(b)}; use fg.vmap for stacks.")
    shape = fnp.shape(b)
    x = fnp.reshape(b, (n, -1))
    perm = prims.lu_pivots_to_permutation(fnp.asarray(piv), n)
    p = (perm[:, None] == fnp.arange(n, like=lu_)).astype(lu_.dtype)  # p @ x == x[perm]
    low = _unit_lower(lu_)
    if trans == 0:
        x = prims.triangular_solve(lu_, prims.triangular_solve(low, p @ x, True), False)
    else:
        x = prims.triangular_solve(lu_, x, False, True)
        x = fnp.swapaxes(p, 0, 1) @ prims.triangular_solve(low, x, True, True)
    return fnp.reshape(x, shape)


def sqrtm(A, blocksize=1):  # noqa: N803  (SciPy's and JAX's argument name)
    """The principal square root `X @ X == A` of a square real matrix (or stack), like
    `scipy.linalg.sqrtm`; real where A has no eigenvalues on the closed negative real axis, nan
    otherwise. Differentiable: dX solves the Sylvester equation X dX + dX X = dA (an n^2 x n^2
    linear system, so for small matrices)."""
    _square("sqrtm", A)
    (a,) = _float(fnp.asarray(A))
    return prims.sqrtm(a)


def solve_banded(l_and_u, ab, b, overwrite_ab=False, overwrite_b=False, check_finite=True):
    """The solution of `a x = b` for the banded `a` stored as `ab[u + i - j, j] == a[i, j]`
    ((l + u + 1, n), `l` sub- and `u` super-diagonals), like `scipy.linalg.solve_banded`;
    differentiable in `ab` and `b` (the band is expanded to a dense solve: O(n^3))."""
    low, up = map(int, l_and_u)
    ab = fnp.asarray(ab)
    if fnp.ndim(ab) != 2 or fnp.shape(ab)[0] != low + up + 1:
        raise ValueError(f"solve_banded: ab must have shape (l + u + 1, n) = ({low + up + 1}, "
                         f"n) for (l, u) = {(low, up)}, got {fnp.shape(ab)}")
    n = fnp.shape(ab)[1]
    i, j = np.indices((n, n))
    row = up + i - j
    row = np.where((row >= 0) & (row <= low + up), row, low + up + 1)  # outside: a zero row
    dense = fnp.concatenate([ab, ab[:1] * 0.0])[row, j]
    return fnp.linalg.solve(dense, b)
