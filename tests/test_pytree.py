"""Tests for funcgrad.pytree."""
from __future__ import annotations

import collections
import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from funcgrad import pytree as pt
from funcgrad.pytree import (
    DictKey,
    FlattenedIndexKey,
    GetAttrKey,
    PyTreeDef,
    SequenceKey,
    Store,
    all_leaves,
    flatten_fun,
    keystr,
    register_dataclass,
    register_pytree_node,
    tree_flatten,
    tree_flatten_with_path,
    tree_leaves,
    tree_map,
    tree_map_with_path,
    tree_prefix_broadcast,
    tree_structure,
    tree_unflatten,
    treedef_is_leaf,
)

Point = collections.namedtuple("Point", ["x", "y"])


class Box:
    """Custom registered node with a hashable aux datum."""

    def __init__(self, a: Any, b: Any, tag: str = "t"):
        self.a, self.b, self.tag = a, b, tag

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Box) and (self.a, self.b, self.tag)
                == (other.a, other.b, other.tag))

    def __repr__(self) -> str:
        return f"Box({self.a!r}, {self.b!r}, {self.tag!r})"


register_pytree_node(Box, lambda box: ((box.a, box.b), box.tag),
                     lambda tag, children: Box(*children, tag=tag))


@register_dataclass
@dataclasses.dataclass
class Layer:
    W: Any
    b: Any
    name: str = dataclasses.field(default="dense", metadata={"static": True})


@dataclasses.dataclass
class Pair:
    first: Any
    second: Any
    cache: Any = dataclasses.field(default=None, init=False)


register_dataclass(Pair, data_fields=["first"], meta_fields=["second"])


# ----------------------------------------------------------------------------- basics

@pytest.mark.parametrize("tree", [
    1,
    np.float32(2.0),
    (1, 2),
    (1,),
    (),
    [1, [2, (3, 4)], []],
    {"b": 1, "a": (2, 3)},
    {},
    None,
    [None, 1, (None,)],
    Point(1, [2, 3]),
    collections.OrderedDict([("z", 1), ("a", 2)]),
    collections.defaultdict(list, {"b": 1, "a": 2}),
    Box(1, (2, 3), tag="x"),
    Layer(W=1, b=[2, 3], name="lin"),
    Pair(first=(1, 2), second="meta"),
    {"layer": [Layer(1, 2), Box(Point(3, 4), None)], "opt": (None, {"m": 5})},
])
def test_round_trip(tree: Any) -> None:
    leaves, treedef = tree_flatten(tree)
    assert treedef.num_leaves == len(leaves)
    rebuilt = tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(tree)
    assert repr(rebuilt) == repr(tree) or rebuilt == tree
    assert tree_structure(rebuilt) == treedef
    assert treedef.unflatten(leaves) == rebuilt
    assert tree_leaves(tree) == leaves


def test_leaf_types() -> None:
    arr = np.arange(3)
    assert tree_leaves(arr)[0] is arr
    assert tree_leaves([1.5, "s", object]) == [1.5, "s", object]
    assert treedef_is_leaf(tree_structure(arr))
    assert tree_leaves((arr, [arr])) == [arr, arr]


def test_none_is_empty_node() -> None:
    assert tree_leaves([None, 1]) == [1]
    assert tree_leaves(None) == []
    assert tree_structure(None).num_leaves == 0
    assert tree_structure([None, 1]) != tree_structure([2, 1])
    assert tree_unflatten(tree_structure([None, 1]), [7]) == [None, 7]
    assert treedef_is_leaf(tree_structure(None))
    assert not all_leaves([1, None])
    assert all_leaves([1, np.ones(2), "x"])


def test_dict_keys_sorted() -> None:
    leaves, treedef = tree_flatten({"b": 1, "a": 2, "c": 3})
    assert leaves == [2, 1, 3]
    assert list(tree_unflatten(treedef, leaves)) == ["a", "b", "c"]
    assert tree_structure({"b": 1, "a": 2}) == tree_structure({"a": 0, "b": 0})
    with pytest.raises(ValueError, match="sortable"):
        tree_flatten({1: 1, "a": 2})


def test_ordered_dict_keeps_order() -> None:
    od = collections.OrderedDict([("z", 1), ("a", 2)])
    leaves, treedef = tree_flatten(od)
    assert leaves == [1, 2]
    assert list(tree_unflatten(treedef, leaves)) == ["z", "a"]
    assert treedef != tree_structure({"z": 1, "a": 2})


def test_namedtuple_node() -> None:
    leaves, treedef = tree_flatten(Point(1, (2, 3)))
    assert leaves == [1, 2, 3]
    assert treedef != tree_structure((1, (2, 3)))
    other = collections.namedtuple("Point", ["x", "y"])
    assert treedef != tree_structure(other(1, (2, 3)))
    assert tree_map(lambda v: v * 10, Point(1, 2)) == Point(10, 20)


def test_dataclass_registration() -> None:
    layer = Layer(W=np.ones(2), b=3, name="out")
    leaves, treedef = tree_flatten(layer)
    assert len(leaves) == 2 and leaves[1] == 3
    assert treedef != tree_structure(Layer(W=1, b=2, name="other"))
    assert treedef == tree_structure(Layer(W=5, b=6, name="out"))
    rebuilt = tree_unflatten(treedef, [1, 2])
    assert (rebuilt.W, rebuilt.b, rebuilt.name) == (1, 2, "out")
    assert tree_leaves(Pair(first=[1, 2], second=[3])) == [1, 2]

    @register_dataclass(data_fields=["u"], meta_fields=[])
    @dataclasses.dataclass
    class Explicit:
        u: Any

    assert tree_leaves(Explicit(u=(4, 5))) == [4, 5]


def test_dataclass_registration_errors() -> None:
    @dataclasses.dataclass
    class Partial:
        u: Any
        v: Any

    with pytest.raises(ValueError, match="partition"):
        register_dataclass(Partial, data_fields=["u"], meta_fields=[])
    with pytest.raises(ValueError, match="both"):
        register_dataclass(Partial, data_fields=["u", "v"])

    class NotADataclass:
        pass

    with pytest.raises(ValueError, match="NotADataclass"):
        register_dataclass(NotADataclass)


def test_custom_registration_and_duplicate() -> None:
    leaves, treedef = tree_flatten(Box([1, 2], 3, tag="k"))
    assert leaves == [1, 2, 3]
    assert treedef != tree_structure(Box([1, 2], 3, tag="other"))
    assert tree_unflatten(treedef, [4, 5, 6]) == Box([4, 5], 6, tag="k")
    with pytest.raises(ValueError, match="Box"):
        register_pytree_node(Box, lambda b: ((), None), lambda aux, ch: Box(0, 0))
    with pytest.raises(ValueError, match="list"):
        register_pytree_node(list, lambda x: (x, None), lambda aux, ch: list(ch))
    with pytest.raises(ValueError, match="Layer"):
        register_dataclass(Layer)


def test_subclass_of_registered_type_is_leaf() -> None:
    class MyDict(dict):
        pass

    d = MyDict(a=1)
    assert tree_leaves([d]) == [d]


# ----------------------------------------------------------------------------- treedefs

def test_treedef_equality_and_hash() -> None:
    a = tree_structure({"a": [1, 2], "b": (3, None)})
    b = tree_structure({"b": ("x", None), "a": ["y", "z"]})
    assert a == b and hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a != tree_structure({"a": [1, 2], "b": (3, 4)})
    assert tree_structure([1]) != tree_structure((1,))
    assert tree_structure((1, 2)) != tree_structure((1, (2,)))
    assert tree_structure(1) != "PyTreeDef(*)"
    assert isinstance(a, PyTreeDef)


def test_treedef_repr() -> None:
    assert repr(tree_structure({"a": 1, "b": (2, 3)})) == "PyTreeDef({'a': *, 'b': (*, *)})"
    assert repr(tree_structure(None)) == "PyTreeDef(None)"
    assert repr(tree_structure(1)) == "PyTreeDef(*)"
    assert repr(tree_structure((1,))) == "PyTreeDef((*,))"
    assert repr(tree_structure([1, [None]])) == "PyTreeDef([*, [None]])"
    assert repr(tree_structure(Point(1, 2))) == "PyTreeDef(CustomNode(namedtuple[Point], [*, *]))"
    assert repr(tree_structure(Box(1, 2, "k"))) == "PyTreeDef(CustomNode(Box['k'], [*, *]))"


def test_treedef_is_leaf() -> None:
    assert treedef_is_leaf(tree_structure(1))
    assert treedef_is_leaf(tree_structure(()))
    assert not treedef_is_leaf(tree_structure((1,)))


def test_unflatten_wrong_leaf_count() -> None:
    treedef = tree_structure([1, (2, 3)])
    with pytest.raises(ValueError) as info:
        tree_unflatten(treedef, [1, 2])
    assert str(info.value) == "tree_unflatten: expected 3 leaves for PyTreeDef([*, (*, *)]), got 2"
    with pytest.raises(ValueError, match="got 4"):
        treedef.unflatten([1, 2, 3, 4])
    assert tree_unflatten(treedef, iter([1, 2, 3])) == [1, (2, 3)]


def test_is_leaf() -> None:
    tree = {"a": (1, 2), "b": [3, (4, 5)]}
    leaves = tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert leaves == [(1, 2), 3, (4, 5)]
    leaves, treedef = tree_flatten(tree, is_leaf=lambda x: isinstance(x, tuple))
    assert tree_unflatten(treedef, leaves) == tree
    assert tree_leaves([None, 1], is_leaf=lambda x: x is None) == [None, 1]
    summed = tree_map(lambda t: sum(t) if isinstance(t, tuple) else -t, tree,
                      is_leaf=lambda x: isinstance(x, tuple))
    assert summed == {"a": 3, "b": [-3, 9]}


# ----------------------------------------------------------------------------- tree_map

def test_tree_map_multiple_trees() -> None:
    a = {"x": [1, 2], "y": None, "z": Point(3, 4)}
    b = {"x": [10, 20], "y": None, "z": Point(30, 40)}
    assert tree_map(lambda u, v: u + v, a, b) == {"x": [11, 22], "y": None, "z": Point(33, 44)}
    arrays = tree_map(np.asarray, [1.0, (2.0,)])
    assert isinstance(arrays[1][0], np.ndarray)


def test_tree_map_prefix_semantics() -> None:
    # `tree` is a prefix: a leaf of tree receives the whole subtree of the other tree.
    out = tree_map(lambda u, v: (u, v), [1, 2], [(5, 6), {"k": 7}])
    assert out == [(1, (5, 6)), (2, {"k": 7})]


@pytest.mark.parametrize("first, second, path", [
    ({"a": [1, 2]}, {"a": [1, 2, 3]}, "['a']"),
    ({"a": [1, 2]}, {"b": [1, 2]}, "<root>"),
    ([1, (2, 3)], [1, [2, 3]], "[1]"),
    ([1, None], [1, 3], "[1]"),
    ({"l": [Point(1, 2)]}, {"l": [(1, 2)]}, "['l'][0]"),
    ({"l": [Layer(1, (2, 3))]}, {"l": [Layer(1, (2,))]}, "['l'][0].b"),
])
def test_tree_map_mismatch_names_key_path(first: Any, second: Any, path: str) -> None:
    with pytest.raises(ValueError) as info:
        tree_map(lambda *xs: xs, first, second)
    message = str(info.value)
    assert f"key path {path}:" in message
    assert repr(tree_structure(first)) in message
    assert repr(tree_structure(second)) in message


def test_tree_map_with_path() -> None:
    tree = {"layer": [Layer(W=1, b=2)], "box": Box(3, 4)}
    out = tree_map_with_path(lambda p, x: keystr(p), tree)
    assert tree_leaves(out) == ["['box'][<flat index 0>]", "['box'][<flat index 1>]",
                                "['layer'][0].W", "['layer'][0].b"]
    summed = tree_map_with_path(lambda p, x, y: (len(p), x + y), [1, (2,)], [10, (20,)])
    assert summed == [(1, 11), ((2, 22),)]


# ----------------------------------------------------------------------------- key paths

def test_flatten_with_path_and_keystr() -> None:
    tree = {"layer": [Point(x=1, y=None)], "od": collections.OrderedDict(z=2)}
    pairs, treedef = tree_flatten_with_path(tree)
    assert treedef == tree_structure(tree)
    assert [leaf for _, leaf in pairs] == [1, 2]
    assert pairs[0][0] == (DictKey("layer"), SequenceKey(0), GetAttrKey("x"))
    assert keystr(pairs[0][0]) == "['layer'][0].x"
    assert keystr(pairs[1][0]) == "['od']['z']"
    assert keystr(()) == ""
    assert str(FlattenedIndexKey(0)) == "[<flat index 0>]"
    assert keystr((DictKey("a"), SequenceKey(1)), simple=True, separator="/") == "a/1"
    assert keystr((DictKey(3),)) == "[3]"
    assert hash(DictKey("a")) == hash(DictKey("a"))


# ----------------------------------------------------------------------------- prefixes

def test_prefix_broadcast_leaf_and_none() -> None:
    tree = ([1, 2], 3, {"a": (4, 5)}, None)
    assert tree_prefix_broadcast(0, tree) == [0] * 5
    assert tree_prefix_broadcast(None, tree) == [None] * 5
    assert tree_prefix_broadcast((0, None, {"a": 1}, 2), tree) == [0, 0, None, 1, 1]
    assert tree_prefix_broadcast((0, None, {"a": (1, None)}, None), tree) == [
        0, 0, None, 1, None]


def test_prefix_broadcast_nested_and_is_leaf() -> None:
    tree = {"w": Point(np.ones(2), np.ones(3)), "s": [np.zeros(1)]}
    assert tree_prefix_broadcast({"w": Point(0, None), "s": 1}, tree) == [1, 0, None]
    is_tuple = lambda x: isinstance(x, tuple)  # noqa: E731
    assert tree_prefix_broadcast([0, 1], [(1, 2), 3], is_leaf=is_tuple) == [0, 1]


@pytest.mark.parametrize("prefix, tree, path", [
    ((0, {"b": 1}), ([1, 2], {"a": (4, 5)}), "[1]"),
    ((0, 1), (1, 2, 3), "<root>"),
    ([0, (1, 2)], [1, 2], "[1]"),
    ({"a": [0, 0]}, {"a": [1, 2, 3]}, "['a']"),
])
def test_prefix_broadcast_mismatch(prefix: Any, tree: Any, path: str) -> None:
    with pytest.raises(ValueError, match="tree_prefix_broadcast") as info:
        tree_prefix_broadcast(prefix, tree)
    assert f"key path {path}:" in str(info.value)


# ----------------------------------------------------------------------------- flatten_fun

def test_flatten_fun_store() -> None:
    def f(x, params):
        return {"out": x * params["w"], "aux": (params["b"], None)}

    args = (2.0, {"w": 3.0, "b": 4.0})
    leaves, in_tree = tree_flatten(args)
    flat_f, store = flatten_fun(f, in_tree)
    assert isinstance(store, Store)
    with pytest.raises(RuntimeError, match="before it was set"):
        _ = store.val
    out_leaves = flat_f(*leaves)
    assert out_leaves == [4.0, 6.0]
    assert store.val == tree_structure({"out": 0, "aux": (0, None)})
    assert tree_unflatten(store.val, out_leaves) == f(*args)
    with pytest.raises(ValueError, match="expected 3 leaves"):
        flat_f(1.0)


# ----------------------------------------------------------------------------- property test

_leaf = st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=3))
_keys = st.text(alphabet="abcxyz", min_size=1, max_size=3)


def _extend(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(_keys, children, max_size=4),
        st.dictionaries(_keys, children, max_size=4).map(
            lambda d: collections.OrderedDict(reversed(list(d.items())))),
        st.tuples(children, children).map(lambda t: Point(*t)),
        st.tuples(children, children, _keys).map(lambda t: Box(*t)),
        st.tuples(children, children).map(lambda t: Layer(*t)),
        st.just(None),
    )


_trees = st.recursive(_leaf, _extend, max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_property_round_trip(tree: Any) -> None:
    leaves, treedef = tree_flatten(tree)
    rebuilt = tree_unflatten(treedef, leaves)
    assert rebuilt == tree
    assert tree_leaves(rebuilt) == leaves
    again = tree_structure(rebuilt)
    assert again == treedef and hash(again) == hash(treedef)
    assert treedef.num_leaves == len(leaves)
    assert tree_map(lambda x: x, tree) == tree
    pairs, path_def = tree_flatten_with_path(tree)
    assert path_def == treedef and [leaf for _, leaf in pairs] == leaves
    assert tree_prefix_broadcast(7, tree) == [7] * len(leaves)


# ----------------------------------------------------------------------------- JAX oracle

def test_matches_jax_builtin_containers() -> None:
    jtu = pytest.importorskip("jax").tree_util
    trees = [
        {"b": (1, [2, None]), "a": 3},
        [None, 1, (), {}, (4,)],
        Point(1, {"z": 2, "y": [3]}),
        collections.OrderedDict([("z", 1), ("a", (2, 3))]),
        None,
        5,
    ]
    for tree in trees:
        leaves, treedef = tree_flatten(tree)
        j_leaves, j_treedef = jtu.tree_flatten(tree)
        assert leaves == j_leaves
        assert repr(treedef) == repr(j_treedef)
        assert treedef_is_leaf(treedef) == jtu.treedef_is_leaf(j_treedef)
        paths = [keystr(p) for p, _ in tree_flatten_with_path(tree)[0]]
        assert paths == [jtu.keystr(p) for p, _ in jtu.tree_flatten_with_path(tree)[0]]


def test_matches_jax_tree_map_and_prefix() -> None:
    jtu = pytest.importorskip("jax").tree_util
    first, second = [1, None, {"a": 2}], [[5, 6], None, {"a": (7,)}]
    pair = lambda u, v: (u, v)  # noqa: E731
    assert tree_map(pair, first, second) == jtu.tree_map(pair, first, second)
    with pytest.raises(ValueError):
        jtu.tree_map(pair, [1, None], [1, 2])
    with pytest.raises(ValueError):
        tree_map(pair, [1, None], [1, 2])


def test_module_exports() -> None:
    for name in ["register_pytree_node", "register_dataclass", "PyTreeDef", "tree_flatten",
                 "tree_unflatten", "tree_leaves", "tree_structure", "tree_map",
                 "tree_flatten_with_path", "keystr", "tree_map_with_path", "treedef_is_leaf",
                 "all_leaves", "flatten_fun", "Store", "tree_prefix_broadcast", "DictKey",
                 "SequenceKey", "GetAttrKey", "FlattenedIndexKey"]:
        assert hasattr(pt, name), name
