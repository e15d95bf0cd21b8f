"""The operators of tracers, filled in from `funcgrad.numpy` at import time.

`core._ops` is the one sanctioned upward hook: `core.Tracer` looks its operators (`x * 2`,
`x[i]`, `x.sum()`, `np.sin(x)`) up in this table, so that they reach the broadcasting, promoting
functions of this package without core importing it.
"""
from __future__ import annotations

import numpy as np

from .. import core
from ..core import Tracer
from . import _base, contractions, extra, indexing, shapes, statistics, ufuncs
from ._base import astype
from .contractions import matmul
from .indexing import at, getitem
from .ufuncs import add, divide, multiply, negative, power, subtract

core._ops.update({
    # operators
    "add": add, "sub": subtract, "mul": multiply, "truediv": divide, "pow": power, "matmul": matmul,
    "floordiv": ufuncs.floor_divide, "mod": ufuncs.mod, "lt": ufuncs.less,
    "le": ufuncs.less_equal, "gt": ufuncs.greater, "ge": ufuncs.greater_equal, "eq": ufuncs.equal,
    "ne": ufuncs.not_equal, "and": ufuncs.bitwise_and, "or": ufuncs.bitwise_or,
    "xor": ufuncs.bitwise_xor, "neg": negative, "pos": lambda x: x, "abs": ufuncs.abs,
    "invert": ufuncs.invert, "getitem": getitem,
    # methods (`x.sort()` returns a sorted copy, as in JAX)
    "sum": shapes.sum, "mean": shapes.mean, "max": shapes.max, "min": shapes.min,
    "prod": shapes.prod, "var": shapes.var, "std": shapes.std, "argmax": shapes.argmax,
    "argmin": shapes.argmin, "all": shapes.all, "any": shapes.any, "cumsum": shapes.cumsum,
    "cumprod": shapes.cumprod, "reshape": shapes.reshape, "ravel": shapes.ravel,
    "flatten": shapes.ravel, "transpose": shapes.transpose, "swapaxes": shapes.swapaxes,
    "squeeze": shapes.squeeze, "astype": astype, "clip": ufuncs.clip, "round": ufuncs.round,
    "conj": ufuncs.conj, "conjugate": ufuncs.conj,
    "real": ufuncs.real, "imag": ufuncs.imag, "at": at, "dot": contractions.dot,
    "sort": indexing.sort, "argsort": indexing.argsort, "diagonal": indexing.diagonal,
    "trace": indexing.trace,
})

# The arithmetic operators of tracers call these functions directly (one call fewer than going
# through the `_ops` table, on the hottest path of eager autodiff).
Tracer.__add__, Tracer.__sub__, Tracer.__mul__ = add, subtract, multiply
Tracer.__truediv__, Tracer.__pow__, Tracer.__matmul__ = divide.fast, power, matmul
Tracer.__radd__ = lambda self, other: add(other, self)
Tracer.__rsub__ = lambda self, other: subtract(other, self)
Tracer.__rmul__ = lambda self, other: multiply(other, self)
Tracer.__rtruediv__ = lambda self, other: divide(other, self)
Tracer.__neg__ = negative

# NumPy ufuncs called on tracers (`np.sin(x)`, `ndarray * x`) dispatch to the function of the
# same name (see `Tracer.__array_ufunc__`), for every ufunc this package defines
_public = {name: getattr(m, name) for m in (_base, extra, statistics, ufuncs, shapes, indexing,
                                            contractions) for name in m.__all__}
for _name in dir(np):
    if isinstance(getattr(np, _name), np.ufunc) and _name in _public:
        core._ops["ufunc:" + getattr(np, _name).__name__] = _public[_name]
del _name
