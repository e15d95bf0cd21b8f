"""`funcgrad.numpy.linalg`: all of `jax.numpy.linalg`.

`solve`, `inv`, `det`, `slogdet`, `cholesky`, `eigh`, `svd`, `qr` and `eig` bind the
decomposition primitives of `funcgrad.primitives` (where their derivative rules live); `pinv`,
`lstsq`, `matrix_rank`, `cond`, the 2- and nuclear norms go through the SVD; the rest (`norm`
with every ord, `matrix_power`, `multi_dot`, `tensorinv`, `tensorsolve`, ...) are composites.
Every function first makes the primitive's own check (square, real matrices), on plain arrays
too; on plain arrays it then calls `numpy.linalg`, on traced values it promotes integer inputs to
float64 as NumPy does, broadcasts batch dimensions and binds the primitive. Stacks of matrices
`(..., n, n)` batch as in NumPy. Singular inputs give inf/nan as in JAX, not NumPy's
LinAlgError: inv and solve put inf in a singular matrix's place, cholesky nan in a non-positive-
definite one's (the other matrices of a batch are unaffected); det is 0, slogdet's log -inf.
`funcgrad.scipy.linalg` builds on the helpers here.
"""
from __future__ import annotations

import functools
import inspect
from typing import NamedTuple

import numpy as np

from .. import primitives as prims  # `solve`, `slogdet`, ... share names with this module's
from ..core import get_aval_of
from ..errors import ShapeError
from . import contractions, indexing, shapes, ufuncs
from ._base import asarray, astype, broadcast_to, numpy_fallback


class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


# --- shape checks and dtype promotion -----------------------------------------------------------

def _square(name: str, a) -> None:
    """The primitive's own check (non-square, non-float), on plain arrays too, before NumPy's."""
    aval = get_aval_of(asarray(a))
    if aval.dtype.kind in "biu":
        aval = aval.update(dtype=np.dtype(np.float64))
    prims.check_square(name, aval)


def _square_checked(name: str):
    """Decorator: `_square(name, a)` on the first argument, then the call."""
    def wrap(f):
        @functools.wraps(f)
        def call(a, *args, **kwargs):
            _square(name, a)
            return f(a, *args, **kwargs)
        return call
    return wrap


def _float(*xs):
    """Traced operands in one real floating dtype (integers become float64, as in NumPy)."""
    dt = np.result_type(*(get_aval_of(x).dtype for x in xs))
    if dt.kind in "biu":
        dt = np.dtype(np.float64)
    return [astype(x, dt) if get_aval_of(x).dtype != dt else x for x in xs]


def _rhs_shapes(name: str, a_shape: tuple, b_shape: tuple) -> tuple[tuple, bool]:
    """(broadcast batch shape, whether b is one vector) under NumPy 2's rule, or a ShapeError."""
    n, vector = a_shape[-1], len(b_shape) == 1
    if (b_shape[0] if vector else b_shape[-2] if len(b_shape) >= 2 else None) != n:
        raise ShapeError(
            f"{name}: a of shape {a_shape} needs b of shape ({n},) or (..., {n}, k), got "
            f"{b_shape}. For a stack of vectors, add a trailing axis: b[..., None] (the result "
            f"then has one too).")
    try:
        return np.broadcast_shapes(a_shape[:-2], () if vector else b_shape[:-2]), vector
    except ValueError:
        raise ShapeError(f"{name}: the batch dimensions of a {a_shape} and b {b_shape} do not "
                         f"broadcast (all but the last two axes must).") from None


def _rhs(name: str, a, b):
    """(a, b as (..., n, k), whether b was a vector), batch dimensions broadcast."""
    a_shape = shapes.shape(a)
    batch, vector = _rhs_shapes(name, a_shape, shapes.shape(b))
    a, b = _float(a, b)
    if vector:
        b = shapes.expand_dims(b, -1)
    n, k = a_shape[-1], shapes.shape(b)[-1]
    return broadcast_to(a, batch + (n, n)), broadcast_to(b, batch + (n, k)), vector


def _eye_like(a):
    aval = get_aval_of(a)
    n = aval.shape[-1]
    return np.broadcast_to(np.eye(n, dtype=aval.dtype), aval.shape)


# --- solves and decompositions ------------------------------------------------------------------

def _numpy_solve(a, b):
    _rhs_shapes("solve", np.shape(a), np.shape(b))
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:  # a singular matrix: inf in its place, as JAX (the primitive)
        return inspect.unwrap(solve)(a, b)


@_square_checked("solve")
@numpy_fallback(_numpy_solve)
def solve(a, b):
    """The solution `x` of `a @ x == b`, like `numpy.linalg.solve` (NumPy 2 semantics).

    Args:
        a: square matrix or stack of them, shape (..., n, n).
        b: shape (n,) -- one vector, the result has shape (..., n) -- or (..., n, k); batch
            dimensions broadcast against a's.
    """
    a, b, vector = _rhs("solve", a, b)
    x = prims.solve(a, b)
    return shapes.squeeze(x, axis=-1) if vector else x


@_square_checked("inv")
@numpy_fallback(lambda a: prims.lapack_or_fill(np.linalg.inv, np.inf, asarray(a)))
def inv(a):
    """The inverse of a square matrix (or of each in a stack), like `numpy.linalg.inv`."""
    (a,) = _float(a)
    return prims.solve(a, _eye_like(a))


@_square_checked("slogdet")
@numpy_fallback(lambda a, *, method=None: np.linalg.slogdet(a))
def slogdet(a, *, method=None):
    """`(sign, logabsdet)` of the determinant, like `numpy.linalg.slogdet`; the gradient of
    logabsdet is `inv(a).T` (the sign's is zero). JAX's `method` ('lu' or 'qr') is accepted;
    LAPACK's LU computes it either way."""
    if method not in (None, "lu", "qr"):
        raise ValueError(f"slogdet: method must be None, 'lu' or 'qr', got {method!r}")
    (a,) = _float(a)
    return SlogdetResult(*prims.slogdet(a))


@_square_checked("det")
@numpy_fallback(np.linalg.det)
def det(a):
    """The determinant, like `numpy.linalg.det`; computed as `sign * exp(logabsdet)` on traced
    values, so its derivative `det(a) * inv(a).T` holds for negative determinants too."""
    sign, logabsdet = slogdet(a)
    return ufuncs.multiply(sign, ufuncs.exp(logabsdet))


def _numpy_cholesky(a, *, upper=False, symmetrize_input=True):
    low = prims.lapack_or_fill(np.linalg.cholesky, np.nan, asarray(a))
    return np.swapaxes(low, -1, -2) if upper else low


@_square_checked("cholesky")
@numpy_fallback(_numpy_cholesky)
def cholesky(a, *, upper=False, symmetrize_input=True):
    """The lower Cholesky factor `L` of a symmetric positive-definite `a = L @ L.T` (its
    transpose with `upper=True`), like `numpy.linalg.cholesky` (only the lower triangle of `a` is
    read, as in NumPy, whatever JAX's `symmetrize_input`). Derivatives treat `a` as symmetric:
    the tangent `da` enters as `(da + da.T) / 2`."""
    (a,) = _float(a)
    low = prims.cholesky(a)
    return shapes.swapaxes(low, -1, -2) if upper else low


@_square_checked("eigh")
def eigh(a, UPLO=None, symmetrize_input=True):  # noqa: N803  (NumPy's argument name)
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, like `numpy.linalg.eigh`.

    Derivatives assume distinct eigenvalues (repeated ones give inf/nan, as the eigenvectors
    are then not unique) and treat `a` as symmetric. Each eigenvector's sign is NumPy's choice;
    functions invariant to it (`v * v`, `v @ diag(f(w)) @ v.T`) are safe to differentiate.
    `UPLO=None` is "L"; one triangle is read whatever JAX's `symmetrize_input`.
    """
    UPLO = "L" if UPLO is None else UPLO  # noqa: N806
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return _eigh(a, UPLO)


@numpy_fallback(np.linalg.eigh)
def _eigh(a, UPLO):  # noqa: N803
    (a,) = _float(a)
    return EighResult(*prims.eigh(a if UPLO == "L" else shapes.swapaxes(a, -1, -2)))


# --- issue 14: the rest of jax.numpy.linalg ---------------------------------------------------

class SVDResult(NamedTuple):
    U: object
    S: object
    Vh: object


class QRResult(NamedTuple):
    Q: object
    R: object


class EigResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


def _check_mode(name, a):
    aval = get_aval_of(asarray(a))
    if aval.ndim < 2:
        raise ShapeError(f"{name}: expected a matrix or a stack of them, shape (..., m, n), got "
                         f"{aval.str_short()}.")


def _numpy_svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    return np.linalg.svd(a, full_matrices, compute_uv, hermitian)


@numpy_fallback(_numpy_svd)
def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """`U, S, Vh` with `a = U @ diag(S) @ Vh`, like `numpy.linalg.svd` (singular values
    descending). Derivatives assume distinct nonzero singular values (the singular vectors are
    otherwise not unique); the full U or V of a non-square matrix has none (use
    full_matrices=False), as in JAX."""
    _check_mode("svd", a)
    (a,) = _float(a)
    if not compute_uv:
        return prims.svd(a, False, False)[0]
    return SVDResult(*prims.svd(a, full_matrices, True))


@numpy_fallback(lambda x, /: np.linalg.svdvals(x))
def svdvals(x, /):
    return svd(x, compute_uv=False)


@numpy_fallback(lambda a, mode="reduced": np.linalg.qr(a, mode))
def qr(a, mode="reduced"):
    """`Q, R` with `a = Q @ R`, like `numpy.linalg.qr` (modes "reduced", "complete", "r");
    derivatives for the reduced factorisation of matrices with m >= n, as in JAX."""
    _check_mode("qr", a)
    if mode not in ("reduced", "complete", "r"):
        raise ValueError(f"qr: mode must be 'reduced', 'complete' or 'r', got {mode!r}")
    (a,) = _float(a)
    q, r = prims.qr(a, mode == "complete")
    return r if mode == "r" else QRResult(q, r)


@_square_checked("eig")
def eig(a):
    """Eigenvalues and right eigenvectors of a general square (real or complex) matrix, like
    `numpy.linalg.eig`: complex outputs (always, as JAX: NumPy returns real ones for a real
    spectrum), each eigenvector of unit norm.

    Differentiable in forward and reverse mode for distinct eigenvalues (repeated ones give
    inf/nan, as the eigenvectors are then not unique). Each eigenvector's phase is arbitrary, so
    differentiate functions invariant to it (`w`, `abs(v)`, `v @ diag(w) @ inv(v)`); for
    symmetric matrices `eigh` is cheaper and real."""
    (a,) = _float(a)
    return EigResult(*prims.eig(a))


def eigvals(a):
    """The eigenvalues of `eig` (differentiable like them)."""
    return eig(a)[0]


@numpy_fallback(lambda a, UPLO="L", *, symmetrize_input=True: np.linalg.eigvalsh(a, UPLO))
def eigvalsh(a, UPLO="L", *, symmetrize_input=True):  # noqa: N803
    return eigh(a, UPLO)[0]


def _transpose(x):
    return shapes.swapaxes(x, -1, -2)


def _adjoint(x):  # the conjugate transpose
    return _transpose(ufuncs.conj(x) if get_aval_of(x).dtype.kind == "c" else x)


def _cutoff(s, rtol, m, n):
    smax = shapes.max(s, axis=-1, keepdims=True)
    rtol = max(m, n) * np.finfo(get_aval_of(s).dtype).eps if rtol is None else rtol
    return ufuncs.multiply(smax, rtol)


@numpy_fallback(lambda a, rcond=None, hermitian=False, *, rtol=None: np.linalg.pinv(
    a, rcond if rcond is not None else (rtol if rtol is not None else 1e-15), hermitian))
def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """The Moore-Penrose pseudo-inverse through the SVD; singular values below
    `rcond * max(s)` count as zero (NumPy's default rcond 1e-15)."""
    u, s, vh = svd(a, full_matrices=False)
    tol = _cutoff(s, rcond if rcond is not None else (rtol if rtol is not None else 1e-15), 1, 1)
    keep = ufuncs.greater(s, tol)
    s_inv = ufuncs.where(keep, ufuncs.divide(1.0, ufuncs.where(keep, s, 1.0)), 0.0)
    return contractions.matmul(_adjoint(vh), ufuncs.multiply(shapes.expand_dims(s_inv, -1),
                                                         _adjoint(u)))


@numpy_fallback(lambda a, b, rcond=None, *, numpy_resid=False: np.linalg.lstsq(a, b, rcond))
def lstsq(a, b, rcond=None, *, numpy_resid=False):
    """`(x, residuals, rank, s)` minimising `|a @ x - b|`, like `numpy.linalg.lstsq` (the
    residuals are NumPy's whatever JAX's `numpy_resid`)."""
    m, n = shapes.shape(a)[-2:]
    (a,) = _float(a)
    u, s, vh = svd(a, full_matrices=False)
    tol = _cutoff(s, rcond, m, n) if rcond is None or rcond >= 0 else 0.0
    keep = ufuncs.greater(s, tol)
    s_inv = ufuncs.where(keep, ufuncs.divide(1.0, ufuncs.where(keep, s, 1.0)), 0.0)
    vector = len(shapes.shape(b)) == 1
    b2 = shapes.expand_dims(b, -1) if vector else b
    x = contractions.matmul(_adjoint(vh), ufuncs.multiply(shapes.expand_dims(s_inv, -1),
                                                      contractions.matmul(_adjoint(u), b2)))
    rank = shapes.sum(keep, axis=-1)
    r = ufuncs.subtract(contractions.matmul(a, x), b2)
    resid = shapes.sum(ufuncs.square(r), axis=-2) if m > n else np.zeros((0,))
    return (shapes.squeeze(x, -1) if vector else x,
            shapes.squeeze(resid, -1) if vector and m > n else resid, rank, s)


@numpy_fallback(lambda A, tol=None, hermitian=False, *, rtol=None: np.linalg.matrix_rank(
    A, tol, hermitian, rtol=rtol))
def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):  # noqa: N803
    s = svd(A, compute_uv=False)
    m, n = shapes.shape(A)[-2:]
    cut = _cutoff(s, rtol, m, n) if tol is None else tol
    return shapes.sum(ufuncs.greater(s, cut), axis=-1)


@_square_checked("matrix_power")
@numpy_fallback(np.linalg.matrix_power)
def matrix_power(a, n):
    """`a` to the integer power `n` by repeated squaring (negative: of the inverse)."""
    if n < 0:
        a, n = inv(a), -n
    result, base = None, a
    while n:
        if n & 1:
            result = base if result is None else contractions.matmul(result, base)
        n >>= 1
        if n:
            base = contractions.matmul(base, base)
    return _eye_like(a) if result is None else result


def multi_dot(arrays, *, precision=None):
    """The product of the matrices in order (vectors at the ends as in NumPy)."""
    out = arrays[0]
    for x in arrays[1:]:
        out = contractions.matmul(out, x)
    return out


def _matrix_norm(x, ord, keepdims):  # noqa: A002
    axes = (-2, -1)
    if ord in (None, "fro"):
        out = ufuncs.sqrt(shapes.sum(ufuncs.square(x), axis=axes))
    elif ord == "nuc":
        out = shapes.sum(svd(x, compute_uv=False), axis=-1)
    elif ord in (2, -2):
        s = svd(x, compute_uv=False)
        out = shapes.max(s, axis=-1) if ord == 2 else shapes.min(s, axis=-1)
    elif ord in (1, -1, np.inf, -np.inf):
        sums = shapes.sum(ufuncs.abs(x), axis=-2 if ord in (1, -1) else -1)
        out = shapes.max(sums, axis=-1) if ord > 0 else shapes.min(sums, axis=-1)
    else:
        raise ValueError(f"norm: invalid ord {ord!r} for matrices")
    return shapes.expand_dims(out, axes) if keepdims else out


def _vector_norm(x, ord, axis, keepdims):  # noqa: A002
    ax = ufuncs.abs(x)
    if ord in (None, 2):
        return ufuncs.sqrt(shapes.sum(ufuncs.square(x), axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return shapes.max(ax, axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return shapes.min(ax, axis=axis, keepdims=keepdims)
    if ord == 0:
        return shapes.sum(astype(ufuncs.not_equal(x, 0), get_aval_of(ax).dtype), axis=axis,
                          keepdims=keepdims)
    if ord == 1:
        return shapes.sum(ax, axis=axis, keepdims=keepdims)
    return ufuncs.power(shapes.sum(ufuncs.power(ax, float(ord)), axis=axis, keepdims=keepdims),
                        1.0 / ord)


@numpy_fallback(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector and matrix norms with every `ord` of `numpy.linalg.norm` (the 2-norms and nuclear
    norm of matrices through the SVD)."""
    x = asarray(x)
    nd = len(shapes.shape(x))
    if axis is None and nd == 2 and ord is not None:
        axis = (0, 1)
    if isinstance(axis, tuple) and len(axis) == 2:
        moved = shapes.moveaxis(x, axis, (-2, -1))
        out = _matrix_norm(moved, ord, False)
        if keepdims:
            for a in sorted(ax % nd for ax in axis):
                out = shapes.expand_dims(out, a)
        return out
    if axis is None and ord is not None and ord not in (2, None):
        x, axis = shapes.ravel(x), 0
    return _vector_norm(x, ord, axis, keepdims)


@numpy_fallback(lambda x, /, *, keepdims=False, ord="fro": np.linalg.matrix_norm(
    x, keepdims=keepdims, ord=ord))
def matrix_norm(x, /, *, keepdims=False, ord="fro"):  # noqa: A002
    return _matrix_norm(asarray(x), ord, keepdims)


@numpy_fallback(lambda x, /, *, axis=None, keepdims=False, ord=2: np.linalg.vector_norm(
    x, axis=axis, keepdims=keepdims, ord=ord))
def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):  # noqa: A002
    x = asarray(x)
    if axis is None and not keepdims:
        x = shapes.ravel(x)
    return _vector_norm(x, ord, axis, keepdims)


@numpy_fallback(np.linalg.cond)
def cond(x, p=None):
    """The condition number: `s_max / s_min` (p None, 2, -2), else `norm(x, p) norm(inv(x), p)`
    (a singular matrix gives inf, as in NumPy)."""
    if p in (None, 2, -2):
        s = svd(x, compute_uv=False)
        hi, lo = shapes.max(s, axis=-1), shapes.min(s, axis=-1)
        return ufuncs.divide(hi, lo) if p != -2 else ufuncs.divide(lo, hi)
    return ufuncs.multiply(norm(x, p, axis=(-2, -1)), norm(inv(x), p, axis=(-2, -1)))


@numpy_fallback(np.linalg.tensorinv)
def tensorinv(a, ind=2):
    shape = shapes.shape(a)
    rows, cols = shape[:ind], shape[ind:]
    inv_mat = inv(shapes.reshape(a, (int(np.prod(rows)), int(np.prod(cols)))))
    return shapes.reshape(inv_mat, cols + rows)


@numpy_fallback(np.linalg.tensorsolve)
def tensorsolve(a, b, axes=None):
    if axes is not None:
        a = shapes.moveaxis(a, axes, [len(shapes.shape(a)) - len(axes) + i
                                       for i in range(len(axes))])
    nb = len(shapes.shape(b))
    out_shape = shapes.shape(a)[nb:]
    n = int(np.prod(out_shape))
    x = solve(shapes.reshape(a, (-1, n)), shapes.ravel(b))
    return shapes.reshape(x, out_shape)


@numpy_fallback(lambda x1, x2, /, *, axis=-1: np.linalg.cross(x1, x2, axis=axis))
def cross(x1, x2, /, *, axis=-1):
    """The cross product of 3-vectors along `axis`, like `numpy.linalg.cross`."""
    a, b = shapes.moveaxis(asarray(x1), axis, -1), shapes.moveaxis(asarray(x2), axis, -1)
    c = [ufuncs.subtract(ufuncs.multiply(a[..., (i + 1) % 3], b[..., (i + 2) % 3]),
                         ufuncs.multiply(a[..., (i + 2) % 3], b[..., (i + 1) % 3]))
         for i in range(3)]
    return shapes.moveaxis(shapes.stack(c, -1), -1, axis)


@numpy_fallback(lambda x1, x2, /, *, axis=-1, precision=None, preferred_element_type=None:
                np.linalg.vecdot(x1, x2, axis=axis))
def vecdot(x1, x2, /, *, axis=-1, precision=None, preferred_element_type=None):
    return shapes.sum(ufuncs.multiply(x1, x2), axis=axis)


@numpy_fallback(lambda x, /, *, offset=0: np.linalg.diagonal(x, offset=offset))
def diagonal(x, /, *, offset=0):
    return indexing.diagonal(x, offset, -2, -1)


@numpy_fallback(lambda x, /, *, offset=0, dtype=None: np.linalg.trace(x, offset=offset,
                                                                        dtype=dtype))
def trace(x, /, *, offset=0, dtype=None):
    return indexing.trace(x, offset, -2, -1, dtype)


# JAX's signatures; `precision`, `preferred_element_type` and `out_sharding` (XLA's controls)
# are accepted and unused: funcgrad computes in the operands' promoted dtype.
def matmul(x1, x2, /, *, precision=None, preferred_element_type=None):
    return contractions.matmul(x1, x2)


def outer(x1, x2, /):
    return contractions.outer(x1, x2)


def tensordot(x1, x2, /, *, axes=2, precision=None, preferred_element_type=None,
              out_sharding=None):
    return contractions.tensordot(x1, x2, axes)


def matrix_transpose(x, /):
    return _transpose(x)
