"""Pytrees: nested containers flattened into a list of leaves plus a hashable ``PyTreeDef``.

Nodes are tuple, list, dict (sorted keys), None (a node with no children), namedtuples,
``OrderedDict``, ``defaultdict`` and registered classes/dataclasses; everything else is a leaf.
A structure is stored as nested tuples ``(node_type, aux_data, children)``; ``_LEAF`` is a leaf.

Also the function wrappers every transform uses: ``flatten_fun`` (a function of pytrees as a
function of flat leaves, its output treedef recorded) and ``partial_args`` (a function of some
of its positional arguments, the others fixed).
"""
from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, NamedTuple

import numpy as np

from .errors import arg_label

_LEAF = None  # structure marker for a leaf (real nodes are always 3-tuples)
IsLeaf = Callable[[Any], bool] | None


class _Handler(NamedTuple):
    flatten: Callable[[Any], tuple[Iterable[Any], Any]]  # x -> (children, aux_data)
    unflatten: Callable[[Any, tuple], Any] | None  # (aux_data, children) -> x
    keys: Callable[[type, Any, int], list]  # (node_type, aux_data, n_children) -> key entries


class _KeyEntry:
    _fmt: ClassVar[str] = ""

    def __str__(self) -> str:
        return self._fmt.format(self)


@dataclasses.dataclass(frozen=True)
class DictKey(_KeyEntry):
    """Key of a dict entry; prints as ``['a']``."""

    key: Any
    _fmt: ClassVar[str] = "[{0.key!r}]"


@dataclasses.dataclass(frozen=True)
class SequenceKey(_KeyEntry):
    """Index into a list or tuple; prints as ``[0]``."""

    idx: int
    _fmt: ClassVar[str] = "[{0.idx}]"


@dataclasses.dataclass(frozen=True)
class GetAttrKey(_KeyEntry):
    """Attribute of a namedtuple or dataclass; prints as ``.name``."""

    name: str
    _fmt: ClassVar[str] = ".{0.name}"


@dataclasses.dataclass(frozen=True)
class FlattenedIndexKey(_KeyEntry):
    """Child index of a custom registered node; prints as ``[<flat index 0>]``."""

    key: int
    _fmt: ClassVar[str] = "[<flat index {0.key}>]"


def keystr(path: Iterable[Any], *, simple: bool = False, separator: str = "") -> str:
    """Render a key path such as ``['layer'][0].W`` (``simple=True`` prints bare keys)."""
    if simple:
        path = (getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))) for k in path)
    return separator.join(str(k) for k in path)


def _index_keys(key_cls: type) -> Callable[[type, Any, int], list]:
    return lambda t, aux, n: [key_cls(i) for i in range(n)]


def _dict_flatten(x: dict) -> tuple[list, tuple]:
    try:
        keys = tuple(sorted(x))
    except TypeError as e:
        raise ValueError(f"pytree dict keys must be sortable, got {list(x)!r}") from e
    return [x[k] for k in keys], keys


_REGISTRY: dict[type, _Handler] = {
    tuple: _Handler(lambda x: (x, None), lambda aux, ch: tuple(ch), _index_keys(SequenceKey)),
    list: _Handler(lambda x: (x, None), lambda aux, ch: list(ch), _index_keys(SequenceKey)),
    dict: _Handler(_dict_flatten, lambda aux, ch: dict(zip(aux, ch)),
                   lambda t, aux, n: [DictKey(k) for k in aux]),
    type(None): _Handler(lambda x: ((), None), lambda aux, ch: None, _index_keys(SequenceKey)),
    collections.OrderedDict: _Handler(
        lambda x: (list(x.values()), tuple(x)),
        lambda aux, ch: collections.OrderedDict(zip(aux, ch)),
        lambda t, aux, n: [DictKey(k) for k in aux]),
    collections.defaultdict: _Handler(
        lambda x: (lambda ch, keys: (ch, (x.default_factory, keys)))(*_dict_flatten(x)),
        lambda aux, ch: collections.defaultdict(aux[0], zip(aux[1], ch)),
        lambda t, aux, n: [DictKey(k) for k in aux[1]]),
}
_NAMEDTUPLE = _Handler(lambda x: (x, None), None,
                       lambda t, aux, n: [GetAttrKey(f) for f in t._fields])


def _handler(t: type) -> _Handler:
    return _REGISTRY.get(t, _NAMEDTUPLE)  # structures only hold registered or namedtuple types


def _register(nodetype: type, handler: _Handler) -> None:
    if nodetype in _REGISTRY:
        raise ValueError(f"Duplicate pytree node registration for type {nodetype!r}.")
    _REGISTRY[nodetype] = handler
    _LEAF_TYPES.discard(nodetype)


def register_pytree_node(nodetype: type, flatten_func: Callable[[Any], tuple[Iterable, Any]],
                         unflatten_func: Callable[[Any, Iterable], Any]) -> None:
    """Register ``nodetype`` (matched by exact type) as a pytree node.

    Args:
        nodetype: The class to register; registering it twice raises ValueError.
        flatten_func: ``x -> (children_iterable, aux_data)``; aux_data must be hashable.
        unflatten_func: ``(aux_data, children) -> x``.
    """
    _register(nodetype, _Handler(flatten_func, unflatten_func, _index_keys(FlattenedIndexKey)))


def register_dataclass(cls: type | None = None, *, data_fields: Iterable[str] | None = None,
                       meta_fields: Iterable[str] | None = None) -> Any:
    """Register a dataclass as a pytree node; usable as ``@register_dataclass`` or as a call.

    Without field lists, every ``init=True`` field is a data field (a child) unless its
    metadata contains ``{"static": True}``, making it a meta field (hashable, kept in the treedef).
    Returns ``cls`` (or a decorator when ``cls`` is None).
    """
    if cls is None:
        return lambda c: register_dataclass(c, data_fields=data_fields, meta_fields=meta_fields)
    if (data_fields is None) != (meta_fields is None) or (
            data_fields is None and not dataclasses.is_dataclass(cls)):
        raise ValueError("register_dataclass: give both data_fields and meta_fields (required "
                         f"for non-dataclasses such as {cls!r}), or neither.")
    init = [f for f in dataclasses.fields(cls) if f.init] if dataclasses.is_dataclass(cls) else []
    if data_fields is None:
        meta_fields = [f.name for f in init if f.metadata.get("static", False)]
        data_fields = [f.name for f in init if not f.metadata.get("static", False)]
    data, meta = tuple(data_fields), tuple(meta_fields)
    if init and sorted(data + meta) != sorted(f.name for f in init):
        raise ValueError(f"register_dataclass: data_fields {data} and meta_fields {meta} must "
                         f"partition the init fields {[f.name for f in init]} of {cls!r}.")
    _register(cls, _Handler(
        lambda x: ([getattr(x, n) for n in data], tuple(getattr(x, n) for n in meta)),
        lambda aux, ch: cls(**dict(zip(data, ch)), **dict(zip(meta, aux))),
        lambda t, aux, n: [GetAttrKey(name) for name in data]))
    return cls


def _repr(node: Any) -> str:
    if node is _LEAF:
        return "*"
    t, aux, kids = node
    parts = [_repr(k) for k in kids]
    if t is tuple:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if t is list:
        return "[" + ", ".join(parts) + "]"
    if t is dict:
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(aux, parts)) + "}"
    if t is type(None):
        return "None"
    label = f"{t.__name__}[{aux!r}]" if t in _REGISTRY else f"namedtuple[{t.__name__}]"
    return f"CustomNode({label}, [{', '.join(parts)}])"


def _count(node: Any) -> int:
    return 1 if node is _LEAF else sum(_count(k) for k in node[2])


class PyTreeDef:
    """Hashable description of a pytree's structure: node types, aux data and nesting."""

    __slots__ = ("_node", "num_leaves", "_hash")

    def __init__(self, node: Any, num_leaves: int | None = None):
        self._node = node
        self.num_leaves = _count(node) if num_leaves is None else num_leaves
        self._hash: int | None = None

    def unflatten(self, leaves: Iterable[Any]) -> Any:
        """Rebuild a pytree of this structure from ``leaves`` (see ``tree_unflatten``)."""
        return tree_unflatten(self, leaves)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PyTreeDef) and self._node == other._node

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(self._node)
        return self._hash

    def __repr__(self) -> str:
        return f"PyTreeDef({_repr(self._node)})"

    def __str__(self) -> str:  # the structure alone: ({'w': *}, *)
        return _repr(self._node)


def _flatten(x: Any, is_leaf: IsLeaf, leaves: list) -> Any:
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return _LEAF
    t = type(x)
    if t is list or t is tuple:
        kids = []
        for c in x:
            if is_leaf is None and type(c) in _LEAF_TYPES:
                leaves.append(c)
                kids.append(_LEAF)
            else:
                kids.append(_flatten(c, is_leaf, leaves))
        return (t, None, tuple(kids))
    h = _REGISTRY.get(t)
    if h is None:
        if not (isinstance(x, tuple) and hasattr(t, "_fields")):
            _LEAF_TYPES.add(t)
            leaves.append(x)
            return _LEAF
        h = _NAMEDTUPLE
    children, aux = h.flatten(x)
    return (t, aux, tuple([_flatten(c, is_leaf, leaves) for c in children]))


# Leaves of a type known to be a leaf (arrays, scalars, tracers: each type is added the first
# time one is flattened, and dropped if it is registered as a node later), and flat tuples of
# them (the arguments of most transformed calls), are flattened and rebuilt without the
# recursion: the fast path of every eager transform.
_LEAF_TYPES = {np.ndarray, float, int, bool, complex}
_LEAF_DEF = PyTreeDef(_LEAF, 1)
_FLAT_TUPLE_DEFS: dict[int, PyTreeDef] = {}


def _flat_tuple_def(n: int) -> PyTreeDef:
    d = _FLAT_TUPLE_DEFS.get(n)
    if d is None:
        d = _FLAT_TUPLE_DEFS[n] = PyTreeDef((tuple, None, (_LEAF,) * n), n)
    return d


def tree_flatten(tree: Any, is_leaf: IsLeaf = None) -> tuple[list[Any], PyTreeDef]:
    """Flatten ``tree`` into ``(leaves, treedef)``; where ``is_leaf(x)`` is True, x is a leaf."""
    if is_leaf is None:
        t = type(tree)
        if t in _LEAF_TYPES:
            return [tree], _LEAF_DEF
        if t is tuple:
            for x in tree:
                if type(x) not in _LEAF_TYPES:
                    break
            else:
                return list(tree), _flat_tuple_def(len(tree))
    leaves: list[Any] = []
    node = _flatten(tree, is_leaf, leaves)
    return leaves, PyTreeDef(node, len(leaves))


def _unflatten(node: Any, it: Any) -> Any:
    if node is _LEAF:
        return next(it)
    t, aux, kids = node
    children = [next(it) if k is _LEAF else _unflatten(k, it) for k in kids]
    if t is list:
        return children
    h = _REGISTRY.get(t)
    return t(*children) if h is None else h.unflatten(aux, tuple(children))


def tree_unflatten(treedef: PyTreeDef, leaves: Iterable[Any]) -> Any:
    """Rebuild a pytree from ``treedef`` and ``leaves``; ValueError on a wrong leaf count."""
    if type(leaves) is not list:
        leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: expected {treedef.num_leaves} leaves for "
                         f"{treedef!r}, got {len(leaves)}")
    if treedef is _LEAF_DEF:
        return leaves[0]
    if treedef is _FLAT_TUPLE_DEFS.get(treedef.num_leaves):
        return tuple(leaves)
    return _unflatten(treedef._node, iter(leaves))


def tree_leaves(tree: Any, is_leaf: IsLeaf = None) -> list[Any]:
    """Return the flat list of leaves of ``tree``."""
    leaves: list[Any] = []
    _flatten(tree, is_leaf, leaves)
    return leaves


def tree_structure(tree: Any, is_leaf: IsLeaf = None) -> PyTreeDef:
    """Return the ``PyTreeDef`` of ``tree``."""
    return tree_flatten(tree, is_leaf)[1]


def treedef_is_leaf(treedef: PyTreeDef) -> bool:
    """True if ``treedef`` is a single node: a leaf, ``None`` or an empty container."""
    return treedef._node is _LEAF or not treedef._node[2]


def all_leaves(iterable: Iterable[Any], is_leaf: IsLeaf = None) -> bool:
    """True if every element of ``iterable`` is a leaf (``None`` is not a leaf)."""
    return all(_flatten(x, is_leaf, []) is _LEAF for x in iterable)


def _paths(node: Any, prefix: tuple, out: list) -> list:
    if node is _LEAF:
        out.append(prefix)
        return out
    t, aux, kids = node
    for key, kid in zip(_handler(t).keys(t, aux, len(kids)), kids):
        _paths(kid, prefix + (key,), out)
    return out


def tree_flatten_with_path(tree: Any, is_leaf: IsLeaf = None
                           ) -> tuple[list[tuple[tuple, Any]], PyTreeDef]:
    """Like ``tree_flatten`` but returns ``(key_path, leaf)`` pairs."""
    leaves, treedef = tree_flatten(tree, is_leaf)
    return list(zip(_paths(treedef._node, (), []), leaves)), treedef


def leaf_label(fun: Callable, args: tuple, i: int, nums: tuple | None = None) -> str:
    """How the user names leaf `i` of `fun`'s positional arguments `args` (those at positions
    `nums` of the call, if given): `params['layers'][1]['w']` (for error messages)."""
    path = _paths(tree_structure(args)._node, (), [])[i]
    return arg_label(fun, path[0].idx if nums is None else nums[path[0].idx], keystr(path[1:]))


class TreeMismatchError(ValueError):  # args: (message, key_path, expected, found)
    __str__ = lambda self: self.args[0]  # noqa: E731


def _flatten_up_to(node: Any, x: Any, is_leaf: IsLeaf, path: tuple, out: list) -> None:
    if node is _LEAF:
        out.append(x)
        return
    t, aux, kids = node
    matches = type(x) is t and not (is_leaf is not None and is_leaf(x))
    if matches:
        children, x_aux = _handler(t).flatten(x)
        children = list(children)
        matches = x_aux == aux and len(children) == len(kids)
    if not matches:
        found = f"{type(x).__name__} {_repr(_flatten(x, None, []))}"
        raise TreeMismatchError("", path, _repr(node), found)
    for key, kid, child in zip(_handler(t).keys(t, aux, len(kids)), kids, children):
        _flatten_up_to(kid, child, is_leaf, path + (key,), out)


def _up_to(treedef: PyTreeDef, x: Any, is_leaf: IsLeaf, what: str) -> list[Any]:
    out: list[Any] = []
    try:
        _flatten_up_to(treedef._node, x, is_leaf, (), out)
    except TreeMismatchError as e:
        _, path, expected, found = e.args
        raise TreeMismatchError(
            f"{what}: structure mismatch at key path {keystr(path) or '<root>'}: expected "
            f"{expected}, found {found}. Full structures: {treedef!r} vs "
            f"{tree_structure(x, is_leaf)!r}", *e.args[1:]) from None
    return out


def tree_map(f: Callable[..., Any], tree: Any, *rest: Any, is_leaf: IsLeaf = None) -> Any:
    """Apply ``f(leaf, *others)`` leafwise; ``tree`` must be a structural prefix of each of rest.

    Raises:
        ValueError: Naming the first key path at which a tree in ``rest`` does not match.
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    others = [_up_to(treedef, r, None, "tree_map") for r in rest]
    return _unflatten(treedef._node, iter([f(*xs) for xs in zip(leaves, *others)]))


def tree_map_with_path(f: Callable[..., Any], tree: Any, *rest: Any,
                       is_leaf: IsLeaf = None) -> Any:
    """Like ``tree_map`` but calls ``f(key_path, leaf, *others)``."""
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    others = [_up_to(treedef, r, None, "tree_map_with_path") for r in rest]
    out = [f(path, x, *xs) for (path, x), *xs in zip(pairs, *others)]
    return _unflatten(treedef._node, iter(out))


def tree_prefix_broadcast(prefix: Any, tree: Any, is_leaf: IsLeaf = None) -> list[Any]:
    """Broadcast a prefix tree (e.g. vmap ``in_axes``) to one entry per leaf of ``tree``.

    Each leaf of ``prefix`` (``None`` included) applies to the whole subtree of ``tree`` at
    the same position; ``is_leaf`` applies to ``tree``.

    Raises:
        TreeMismatchError: If ``prefix`` is not a prefix of ``tree``, naming the key path.
    """
    prefix_leaves, prefix_def = tree_flatten(prefix, lambda x: x is None)
    subtrees = _up_to(prefix_def, tree, is_leaf, "tree_prefix_broadcast")
    return [p for p, sub in zip(prefix_leaves, subtrees) for _ in tree_leaves(sub, is_leaf)]


class Store:
    """Slot for a value produced later, e.g. the output treedef of a flattened function."""

    def __getattr__(self, name: str) -> Any:  # only reached while ``val`` is unset
        if name == "val":
            raise RuntimeError("Store.val read before it was set (call the flat function first).")
        raise AttributeError(name)


def flatten_fun(f: Callable[..., Any], in_tree: PyTreeDef, has_aux: bool = False
                ) -> tuple[Callable[..., list[Any]], Store]:
    """Wrap ``f`` to take and return flat leaves: the one way every transform flattens a
    user function.

    Args:
        f: Function of positional pytree arguments.
        in_tree: Treedef of the tuple of positional arguments.
        has_aux: ``f`` returns a pair ``(out, aux)`` (callers check that it is one): the flat
            outputs are out's leaves followed by aux's.

    Returns:
        ``(flat_f, store)``: ``flat_f(*leaves)`` calls ``f`` on the unflattened args, records
        the output treedef in ``store.val`` (with ``has_aux``, the pair ``(out_tree,
        aux_tree)``) and returns the output leaves as a list.
    """
    store = Store()

    def flat_f(*leaves: Any) -> list[Any]:
        out = f(*tree_unflatten(in_tree, leaves))
        if not has_aux:
            out_leaves, store.val = tree_flatten(out)
            return out_leaves
        out_leaves, out_tree = tree_flatten(out[0])
        aux_leaves, aux_tree = tree_flatten(out[1])
        store.val = (out_tree, aux_tree)
        return [*out_leaves, *aux_leaves]

    return flat_f, store


def partial_args(f: Callable[..., Any], args: tuple, positions: Iterable[int],
                 kwargs: dict | None = None) -> tuple[Callable[..., Any], tuple]:
    """``f`` as a function of the arguments at ``positions`` only, the others (and ``kwargs``)
    fixed to their values in ``args``; returns ``(f_part, the arguments at positions)``."""
    positions = tuple(positions)
    if not kwargs and positions == tuple(range(len(args))):
        return f, tuple(args)  # nothing fixed
    kwargs = kwargs or {}

    def f_part(*part: Any) -> Any:
        full = list(args)
        for i, a in zip(positions, part):
            full[i] = a
        return f(*full, **kwargs)

    return f_part, tuple(args[i] for i in positions)
