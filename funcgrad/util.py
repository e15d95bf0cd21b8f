"""Small list helpers shared by the trace machinery and the interpreters."""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence, TypeVar

T = TypeVar("T")


def safe_map(f: Callable[..., T], *args: Sequence[Any]) -> list[T]:
    """`map` that insists its arguments have equal lengths."""
    n = len(args[0])
    for arg in args[1:]:
        assert len(arg) == n, f"length mismatch: {list(map(len, args))}"
    return list(map(f, *args))


def safe_zip(*args: Sequence[Any]) -> list[tuple]:
    n = len(args[0])
    for arg in args[1:]:
        assert len(arg) == n, f"length mismatch: {list(map(len, args))}"
    return list(zip(*args))


def unzip2(pairs: Iterable[tuple[Any, Any]]) -> tuple[list, list]:
    lst1, lst2 = [], []
    for x1, x2 in pairs:
        lst1.append(x1)
        lst2.append(x2)
    return lst1, lst2


def split_list(lst: Sequence[T], n: int) -> tuple[list[T], list[T]]:
    assert 0 <= n <= len(lst)
    return list(lst[:n]), list(lst[n:])


def partition_list(bs: Sequence[bool], lst: Sequence[T]) -> tuple[list[T], list[T]]:
    """Split `lst` into (items where bs is False, items where bs is True)."""
    lists: tuple[list[T], list[T]] = ([], [])
    for b, x in safe_zip(bs, lst):
        lists[b].append(x)
    return lists


def merge_lists(bs: Sequence[bool], l0: Sequence[T], l1: Sequence[T]) -> list[T]:
    """Inverse of `partition_list`."""
    i0, i1 = iter(l0), iter(l1)
    out = [next(i1) if b else next(i0) for b in bs]
    assert next(i0, None) is None and next(i1, None) is None
    return out


def canonical_axes(axes: Any, ndim: int, what: str = "axis") -> tuple[int, ...]:
    """Normalise an int / tuple / None axis argument to a sorted tuple of non-negative ints."""
    if axes is None:
        return tuple(range(ndim))
    if not isinstance(axes, (tuple, list)):
        axes = (axes,)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{what} {a} is out of bounds for an array of rank {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {what} in {tuple(axes)}")
    return tuple(sorted(out))


class HashableFunction:
    """Wraps a callable (and a closure key) so it can sit in hashable primitive params."""

    __slots__ = ("f", "key")

    def __init__(self, f: Callable, key: Any = None):
        self.f = f
        self.key = key if key is not None else id(f)

    def __call__(self, *args: Any, **kw: Any) -> Any:
        return self.f(*args, **kw)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HashableFunction) and self.key == other.key

    def __repr__(self) -> str:
        return getattr(self.f, "__name__", "fn")
