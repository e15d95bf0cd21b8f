"""`funcgrad.scipy.linalg`: triangular solves (the primitive `triangular_solve_p` and its
derivative rules live in `funcgrad.primitives`; the shape checks are `funcgrad.numpy.linalg`'s)."""
from __future__ import annotations

from .. import numpy as fnp
from .. import primitives as prims
from ..numpy.linalg import _rhs, _square


def solve_triangular(a, b, trans=0, lower=False):
    """The solution `x` of `op(T) @ x == b`, like `scipy.linalg.solve_triangular`.

    Args:
        a: square matrix or stack of them (..., n, n); only its lower (`lower=True`) or upper
            triangle `T` is read, so the other triangle gets a zero derivative.
        b: shape (n,) (the result has shape (..., n)) or (..., n, k); batch dimensions broadcast.
        trans: 0 / "N" solves `T x = b`; 1 / "T" solves `T.T x = b`.
        lower: whether `T` is the lower triangle of `a`.
    """
    if trans not in (0, 1, "N", "T"):
        raise ValueError(f"solve_triangular: trans must be 0, 1, 'N' or 'T', got {trans!r} "
                         f"(matrices are real, so 'C' is 'T')")
    _square("solve_triangular", a)
    a, b, vector = _rhs("solve_triangular", fnp.asarray(a), fnp.asarray(b))
    x = prims.triangular_solve(a, b, lower, trans in (1, "T"))
    return fnp.squeeze(x, axis=-1) if vector else x
