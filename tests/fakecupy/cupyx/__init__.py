"""The part of `cupyx` funcgrad uses, for the CuPy stand-in (see `cupy/__init__.py` beside it)."""
import cupy


def scatter_add(a, slices, value):
    """`a[slices] += value` with repeated indices accumulating; device operands only."""
    cupy.add.at(a, slices, value)


from . import scipy  # noqa: E402,F401  (loaded with the stand-in: tests swap the modules as a set)
