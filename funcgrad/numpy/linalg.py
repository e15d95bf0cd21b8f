"""`funcgrad.numpy.linalg`: the linear algebra ML and scientific code reaches for.

`norm` is a composite; `solve`, `inv`, `det`, `slogdet`, `cholesky` and `eigh` sit on the
primitives of `funcgrad/primitives/decompositions.py` (where their derivative rules live). On
plain arrays every function calls `numpy.linalg` directly; on traced values it checks shapes,
promotes integer inputs to float64 as NumPy does, broadcasts batch dimensions and binds the
primitive. Stacks of matrices `(..., n, n)` batch as in NumPy.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import numpy as fnp
from ..core import get_aval_of
from ..primitives import decompositions as D
from ..primitives.rules import ShapeError


class SlogdetResult(NamedTuple):
    sign: object
    logabsdet: object


class EighResult(NamedTuple):
    eigenvalues: object
    eigenvectors: object


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector 2-/1-/inf-norms and the Frobenius norm, like `numpy.linalg.norm`."""
    if fnp._plain(x):
        return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    if ord in (None, 2, "fro"):
        return fnp.sqrt(fnp.sum(fnp.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return fnp.sum(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == fnp.inf:
        return fnp.max(fnp.abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: ord={ord!r} is not supported on traced values")


# --- shape checks and dtype promotion -----------------------------------------------------------

def _square(name: str, a) -> None:
    """The primitive's own check (non-square, non-float), on plain arrays too, before NumPy's."""
    aval = get_aval_of(fnp.asarray(a))
    if aval.dtype.kind in "biu":
        aval = aval.update(dtype=np.dtype(np.float64))
    if aval.dtype.kind != "c":  # NumPy handles complex plain arrays; traced ones fail below
        D.check_square(name, aval)


def _float(*xs):
    """Traced operands in one real floating dtype (integers become float64, as in NumPy)."""
    dt = np.result_type(*(get_aval_of(x).dtype for x in xs))
    if dt.kind in "biu":
        dt = np.dtype(np.float64)
    return [fnp.astype(x, dt) if get_aval_of(x).dtype != dt else x for x in xs]


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
    a_shape = fnp.shape(a)
    batch, vector = _rhs_shapes(name, a_shape, fnp.shape(b))
    a, b = _float(a, b)
    if vector:
        b = fnp.expand_dims(b, -1)
    n, k = a_shape[-1], fnp.shape(b)[-1]
    return fnp.broadcast_to(a, batch + (n, n)), fnp.broadcast_to(b, batch + (n, k)), vector


def _eye_like(a):
    aval = get_aval_of(a)
    n = aval.shape[-1]
    return np.broadcast_to(np.eye(n, dtype=aval.dtype), aval.shape)


# --- solves and decompositions ------------------------------------------------------------------

def solve(a, b):
    """The solution `x` of `a @ x == b`, like `numpy.linalg.solve` (NumPy 2 semantics).

    Args:
        a: square matrix or stack of them, shape (..., n, n).
        b: shape (n,) -- one vector, the result has shape (..., n) -- or (..., n, k); batch
            dimensions broadcast against a's.
    """
    _square("solve", a)
    if fnp._plain(a, b):
        _rhs_shapes("solve", np.shape(a), np.shape(b))
        return np.linalg.solve(a, b)
    a, b, vector = _rhs("solve", a, b)
    x = D.solve(a, b)
    return fnp.squeeze(x, axis=-1) if vector else x


def inv(a):
    """The inverse of a square matrix (or of each in a stack), like `numpy.linalg.inv`."""
    _square("inv", a)
    if fnp._plain(a):
        return np.linalg.inv(a)
    (a,) = _float(a)
    return D.solve(a, _eye_like(a))


def slogdet(a):
    """`(sign, logabsdet)` of the determinant, like `numpy.linalg.slogdet`; the gradient of
    logabsdet is `inv(a).T` (the sign's is zero)."""
    _square("slogdet", a)
    if fnp._plain(a):
        return np.linalg.slogdet(a)
    (a,) = _float(a)
    return SlogdetResult(*D.slogdet(a))


def det(a):
    """The determinant, like `numpy.linalg.det`; computed as `sign * exp(logabsdet)` on traced
    values, so its derivative `det(a) * inv(a).T` holds for negative determinants too."""
    _square("det", a)
    if fnp._plain(a):
        return np.linalg.det(a)
    sign, logabsdet = slogdet(a)
    return fnp.multiply(sign, fnp.exp(logabsdet))


def cholesky(a):
    """The lower Cholesky factor `L` of a symmetric positive-definite `a = L @ L.T`, like
    `numpy.linalg.cholesky` (only the lower triangle of `a` is read). Derivatives treat `a` as
    symmetric: the tangent `da` enters as `(da + da.T) / 2`."""
    _square("cholesky", a)
    if fnp._plain(a):
        return np.linalg.cholesky(a)
    (a,) = _float(a)
    return D.cholesky(a)


def eigh(a, UPLO="L"):  # noqa: N803  (NumPy's argument name)
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix, like `numpy.linalg.eigh`.

    Derivatives assume distinct eigenvalues (repeated ones give inf/nan, as the eigenvectors
    are then not unique) and treat `a` as symmetric. Each eigenvector's sign is NumPy's choice;
    functions invariant to it (`v * v`, `v @ diag(f(w)) @ v.T`) are safe to differentiate.
    """
    _square("eigh", a)
    if UPLO not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {UPLO!r}")
    if fnp._plain(a):
        return np.linalg.eigh(a, UPLO=UPLO)
    (a,) = _float(a)
    return EighResult(*D.eigh(a if UPLO == "L" else fnp.swapaxes(a, -1, -2)))
