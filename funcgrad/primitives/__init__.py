"""Every primitive of funcgrad. Importing this package registers all of them."""
from __future__ import annotations

from ..core import Primitive
from . import decompositions, elementwise, indexing, linalg, reduction, shape  # noqa: F401
from .decompositions import (  # noqa: F401
    cholesky_p,
    eigh_p,
    slogdet_p,
    solve_p,
    triangular_solve_p,
)
from .elementwise import *  # noqa: F401,F403
from .indexing import gather_p, scatter_add_p, scatter_p  # noqa: F401
from .linalg import dot_general_p  # noqa: F401
from .reduction import (  # noqa: F401
    argmax_p,
    argmin_p,
    argsort_p,
    cumsum_p,
    reduce_max_p,
    reduce_min_p,
    reduce_sum_p,
)
from .shape import (  # noqa: F401
    broadcast_in_dim_p,
    concatenate_p,
    convert_element_type_p,
    expand_dims_p,
    pad_p,
    reshape_p,
    rev_p,
    slice_p,
    squeeze_p,
    transpose_p,
)


def all_primitives() -> list[Primitive]:
    """Every registered first-order primitive (higher-order ones live beside their transforms)."""
    mods = (decompositions, elementwise, indexing, linalg, reduction, shape)
    return [v for m in mods for k, v in vars(m).items()  # `_p` loop variables are not entries
            if k.endswith("_p") and not k.startswith("_") and isinstance(v, Primitive)]
