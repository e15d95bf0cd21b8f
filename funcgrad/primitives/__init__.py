"""Every primitive of funcgrad. Importing this package registers all of them.

`ops.py` holds every first-order primitive (`*_p`) and its bind wrapper; the rule modules
(elementwise, shape, reduction, contraction, indexing, decompositions, fft) fill each primitive's
rules and lowerings in one block, with the helpers of rules.py and batching.py. Higher-order
primitives (jit, cond, while, scan, ...) live beside their transforms in `funcgrad/transforms/`.
Code above this package imports primitives and wrappers from here, never from a rule module.
"""
from __future__ import annotations

from ..core import Primitive
from . import (  # noqa: F401
    complex_ops,
    contraction,
    decompositions,
    elementwise,
    fft,
    indexing,
    lu_sqrtm,
    ops,
    reduction,
    shape,
    special,
)
from .decompositions import check_square, lapack_or_fill  # noqa: F401  (used by fnp.linalg)
from .ops import *  # noqa: F401,F403


def all_primitives() -> list[Primitive]:
    """Every registered first-order primitive (higher-order ones live beside their transforms)."""
    return [v for v in vars(ops).values() if isinstance(v, Primitive)]
