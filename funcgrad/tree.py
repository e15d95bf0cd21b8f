"""`fg.tree`: the JAX-habit names for funcgrad's pytree functions (`jax.tree.map` and friends).

Every function here is the `funcgrad.tree_util` function of the longer name; pytrees follow JAX's
semantics (None is an empty node, dicts flatten in sorted key order).

    >>> import funcgrad as fg
    >>> fg.tree.map(lambda x: x * 2, {"a": 1, "b": (2, None)})
    {'a': 2, 'b': (4, None)}
"""
from __future__ import annotations

from .pytree import PyTreeDef
from .pytree import all_leaves as all_leaves
from .pytree import tree_flatten as flatten
from .pytree import tree_flatten_with_path as flatten_with_path
from .pytree import tree_leaves as leaves
from .pytree import tree_map as map  # noqa: A001  (the name JAX's users type)
from .pytree import tree_map_with_path as map_with_path
from .pytree import tree_structure as structure
from .pytree import tree_unflatten as unflatten

__all__ = ["all_leaves", "flatten", "flatten_with_path", "leaves", "map", "map_with_path",
           "structure", "unflatten", "PyTreeDef"]
