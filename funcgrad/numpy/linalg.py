"""`funcgrad.numpy.linalg`: the linear algebra ML and scientific code reaches for.

`norm` is a composite; `solve`, `inv`, `det`, `slogdet`, `cholesky` and `eigh` bind the
decomposition primitives of `funcgrad.primitives` (where their derivative rules live). Every
function first makes the primitive's own check (square, real matrices), on plain arrays too; on
plain arrays it then calls `numpy.linalg`, on traced values it promotes integer inputs to float64
as NumPy does, broadcasts batch dimensions and binds the primitive. Stacks of matrices
`(..., n, n)` batch as in NumPy. `funcgrad.scipy.linalg` builds on the helpers here.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .. import primitives as prims  # `solve`, `slogdet`, ... share names with this module's
from ..core import get_aval_of
from ..errors import ShapeError
from . import shapes, ufuncs
from ._base import asarray, astype, broadcast_to, numpy_fallback


class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


@numpy_fallback(np.linalg.norm)
def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector 2-/1-/inf-norms and the Frobenius norm, like `numpy.linalg.norm`."""
    if ord in (None, 2, "fro"):
        return ufuncs.sqrt(shapes.sum(ufuncs.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return shapes.sum(ufuncs.abs(x), axis=axis, keepdims=keepdims)
    if ord == np.inf:
        return shapes.max(ufuncs.abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: ord={ord!r} is not supported on traced values")


# --- shape checks and dtype promotion -----------------------------------------------------------

def _square(name: str, a) -> None:
    """The primitive's own check (non-square, non-float), on plain arrays too, before NumPy's."""
    aval = get_aval_of(asarray(a))
    if aval.dtype.kind in "biu":
        aval = aval.update(dtype=np.dtype(np.float64))
    if aval.dtype.kind == "c":  # NumPy handles complex plain arrays; traced ones fail below
        return
    if aval.ndim < 2 or aval.shape[-1] != aval.shape[-2]:
        raise ShapeError(
            f"{name}: expected a square matrix or a stack of them, shape (..., n, n), got "
            f"{aval.str_short()}. Pass a square matrix (for least squares use a.T @ a, or "
            f"reshape a flattened matrix to (n, n)).")
    if aval.dtype.kind != "f":
        raise ShapeError(
            f"{name}: expected a real floating-point matrix, got {aval.str_short()}. Convert it "
            f"first, e.g. fnp.astype(a, fnp.float64) (complex matrices are not supported).")


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
    return np.linalg.solve(a, b)


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
@numpy_fallback(np.linalg.inv)
def inv(a):
    """The inverse of a square matrix (or of each in a stack), like `numpy.linalg.inv`."""
    (a,) = _float(a)
    return prims.solve(a, _eye_like(a))


@_square_checked("slogdet")
@numpy_fallback(np.linalg.slogdet)
def slogdet(a):
    """`(sign, logabsdet)` of the determinant, like `numpy.linalg.slogdet`; the gradient of
    logabsdet is `inv(a).T` (the sign's is zero)."""
    (a,) = _float(a)
    return SlogdetResult(*prims.slogdet(a))


@_square_checked("det")
@numpy_fallback(np.linalg.det)
def det(a):
    """The determinant, like `numpy.linalg.det`; computed as `sign * exp(logabsdet)` on traced
    values, so its derivative `det(a) * inv(a).T` holds for negative determinants too."""
    sign, logabsdet = slogdet(a)
    return ufuncs.multiply(sign, ufuncs.exp(logabsdet))


@_square_checked("cholesky")
@numpy_fallback(np.linalg.cholesky)
def cholesky(a):
    """The lower Cholesky factor `L` of a symmetric positive-definite `a = L @ L.T`, like
    `numpy.linalg.cholesky` (only the lower triangle of `a` is read). Derivatives treat `a` as
    symmetric: the tangent `da` enters as `(da + da.T) / 2`."""
    (a,) = _float(a)
    return prims.cholesky(a)


@_square_checked("eigh")
def eigh(a, UPLO="L"):  # noqa: N803  (NumPy's argument name)
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, like `numpy.linalg.eigh`.

    Derivatives assume distinct eigenvalues (repeated ones give inf/nan, as the eigenvectors
    are then not unique) and treat `a` as symmetric. Each eigenvector's sign is NumPy's choice;
    functions invariant to it (`v * v`, `v @ diag(f(w)) @ v.T`) are safe to differentiate.
    """
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    return _eigh(a, UPLO)


@numpy_fallback(np.linalg.eigh)
def _eigh(a, UPLO):  # noqa: N803
    (a,) = _float(a)
    return EighResult(*prims.eigh(a if UPLO == "L" else shapes.swapaxes(a, -1, -2)))
