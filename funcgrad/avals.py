"""Abstract values: the (shape, dtype, weak_type) types that the IR and every rule speak.

NumPy's NEP 50 rules decide dtypes; a *weak* value (a Python scalar, or something computed only
from Python scalars) takes the dtype of whatever strong value it meets.
"""
from __future__ import annotations

import math

import numpy as np

_SHORT = {
    np.dtype("float16"): "f16", np.dtype("float32"): "f32", np.dtype("float64"): "f64",
    np.dtype("int8"): "i8", np.dtype("int16"): "i16", np.dtype("int32"): "i32",
    np.dtype("int64"): "i64", np.dtype("uint8"): "u8", np.dtype("uint16"): "u16",
    np.dtype("uint32"): "u32", np.dtype("uint64"): "u64", np.dtype("bool"): "bool",
    np.dtype("complex64"): "c64", np.dtype("complex128"): "c128",
}
_PY_SCALAR_DTYPE = {bool: np.dtype("bool"), int: np.dtype("int64"),
                    float: np.dtype("float64"), complex: np.dtype("complex128")}
float0 = np.dtype([("float0", np.void, 0)])  # tangent dtype of integer inputs (as in JAX)


def short_dtype(dtype: np.dtype) -> str:
    return _SHORT.get(np.dtype(dtype), str(dtype))


def is_float(dtype: np.dtype) -> bool:
    kind = getattr(dtype, "kind", None)
    return (kind if type(kind) is str else np.dtype(dtype).kind) in "fc"


def real_dtype(dtype: np.dtype) -> np.dtype:
    """The real dtype of a complex one (complex64 -> float32); other dtypes unchanged."""
    return np.finfo(dtype).dtype if np.dtype(dtype).kind == "c" else np.dtype(dtype)


class ShapedArray:
    """The abstract value of an array: shape, dtype and whether its dtype is weak."""

    __slots__ = ("shape", "dtype", "weak_type")
    array_abstraction_level = 1

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, weak_type: bool = False):
        self.shape = shape if type(shape) is tuple else tuple(shape)
        self.dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(dtype)
        self.weak_type = weak_type

    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))

    def update(self, shape=None, dtype=None, weak_type=None) -> ShapedArray:
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype,
                           self.weak_type if weak_type is None else weak_type)

    def strip_weak_type(self) -> ShapedArray:
        return ShapedArray(self.shape, self.dtype) if self.weak_type else self

    def str_short(self) -> str:
        return f"{short_dtype(self.dtype)}[{','.join(map(str, self.shape))}]"

    def __eq__(self, other: object) -> bool:
        return (type(other) is ShapedArray and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self) -> int:
        return hash((self.shape, self.dtype, self.weak_type))

    def __repr__(self) -> str:
        return f"ShapedArray({self.str_short()}{', weak' if self.weak_type else ''})"


def get_aval(x) -> ShapedArray:
    """The abstract value of a concrete array, Python scalar or tracer."""
    t = type(x)
    if t is np.ndarray:  # the hot case first
        return ShapedArray(x.shape, x.dtype)
    aval = _PY_SCALAR_AVAL.get(t)
    if aval is not None:
        return aval
    if isinstance(x, np.generic):  # NumPy scalars: one shared aval per type
        aval = _PY_SCALAR_AVAL[t] = ShapedArray((), x.dtype)
        return aval
    aval = getattr(x, "aval", None)
    if aval is not None:
        return aval
    if isinstance(x, (np.ndarray, np.generic)) or hasattr(x, "__cuda_array_interface__"):
        return ShapedArray(x.shape, x.dtype)
    if isinstance(x, (bool, int, float, complex)):  # subclasses, e.g. np.float64 is handled above
        kind = next(k for k in _PY_SCALAR_DTYPE if isinstance(x, k))
        return ShapedArray((), _PY_SCALAR_DTYPE[kind])
    raise TypeError(f"funcgrad: value of type {t.__name__} is not an array; expected a NumPy/CuPy "
                    f"array, a Python scalar, or a pytree of them.")


_PY_SCALAR_AVAL = {t: ShapedArray((), d, weak_type=t is not bool)  # avals are immutable
                   for t, d in _PY_SCALAR_DTYPE.items()}


def result_dtype(*avals: ShapedArray) -> tuple[np.dtype, bool]:
    """NEP 50 promotion over avals; weak ones count only by kind. Returns (dtype, weak)."""
    strong = [a.dtype for a in avals if not a.weak_type]
    if len(strong) == len(avals):
        if len(strong) == 2 and strong[0] == strong[1]:
            return strong[0], False
        return np.result_type(*strong), False
    weak_reps = [_weak_rep(a.dtype) for a in avals if a.weak_type]
    if not strong:
        # all weak: result is weak, dtype is the default of the widest kind
        dtype = np.result_type(*(np.asarray(r).dtype for r in weak_reps))
        return dtype, True
    return np.result_type(*strong, *weak_reps), False


def _weak_rep(dtype: np.dtype):
    if dtype.kind == "c":
        return 0j
    if dtype.kind == "f":
        return 0.0
    if dtype.kind in "iu":
        return 0
    return False
