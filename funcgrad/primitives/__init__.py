"""Every primitive of funcgrad. Importing this package registers all of them."""
from __future__ import annotations

from ..core import Primitive

# ruff: noqa: I001  (the rule modules import each other: elementwise must load first)
from . import elementwise  # noqa: F401
from . import contraction, decompositions, indexing, reduction, shape  # noqa: F401
from .contraction import dot_general_p  # noqa: F401
from .decompositions import (  # noqa: F401
    cholesky_p,
    eigh_p,
    slogdet_p,
    solve_p,
    triangular_solve_p,
)
from .elementwise import *  # noqa: F401,F403
from .indexing import gather_p, scatter_add_p, scatter_p  # noqa: F401
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
    mods = (contraction, decompositions, elementwise, indexing, reduction, shape)
    return [v for m in mods for k, v in vars(m).items()  # `_p` loop variables are not entries
            if k.endswith("_p") and not k.startswith("_") and isinstance(v, Primitive)]


# the bind wrappers: code above this package imports them from here, never from a rule module
from .contraction import dot_general  # noqa: E402,F401
from .decompositions import cholesky, eigh, slogdet, solve, triangular_solve  # noqa: E402,F401
from .indexing import gather, scatter, scatter_add  # noqa: E402,F401
from .reduction import argsort, cumsum, reduce_max, reduce_min, reduce_sum  # noqa: E402,F401
from .shape import (  # noqa: E402,F401
    broadcast_in_dim,
    concatenate,
    convert_element_type,
    expand_dims,
    full,
    pad,
    reshape,
    rev,
    slice_,
    squeeze,
    transpose,
)
