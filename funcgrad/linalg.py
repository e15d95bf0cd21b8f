"""`funcgrad.numpy.linalg`: the linear-algebra helpers ML code reaches for (composites)."""
from __future__ import annotations

from . import numpy as fnp


def norm(x, ord=None, axis=None, keepdims=False):  # noqa: A002
    """Vector 2-/1-/inf-norms and the Frobenius norm, like `numpy.linalg.norm`."""
    if fnp._plain(x):
        import numpy as np
        return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)
    if ord in (None, 2, "fro"):
        return fnp.sqrt(fnp.sum(fnp.square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return fnp.sum(fnp.abs(x), axis=axis, keepdims=keepdims)
    if ord == fnp.inf:
        return fnp.max(fnp.abs(x), axis=axis, keepdims=keepdims)
    raise ValueError(f"norm: ord={ord!r} is not supported on traced values")
