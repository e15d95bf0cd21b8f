"""`fg.lax`: the JAX-habit namespace of lower-level operations, over what funcgrad already has.

Control flow (`cond`, `switch`, `while_loop`, `fori_loop`, `scan`, `map`), `stop_gradient`,
elementwise operations under their `lax` names, and the structured slicing and padding of
`jax.lax` (`dynamic_slice`, `dynamic_update_slice`, `pad` with interior padding, `slice`,
`broadcast_in_dim`, `dot_general`, ...). Everything is differentiable, batchable and jittable
like the rest of funcgrad; start indices of the dynamic slices may be traced values (clamped into
range, as in JAX).

    >>> import numpy as np, funcgrad as fg
    >>> fg.lax.dynamic_slice(np.arange(10.0), (7,), (3,))
    array([7., 8., 9.])
"""
from __future__ import annotations

import builtins
from typing import Any, Callable, Sequence

import numpy as np

from . import numpy as fnp
from . import primitives as P
from .core import FuncgradError, user_frame
from .numpy import abs as abs  # noqa: A001
from .numpy import cos as cos
from .numpy import cosh as cosh
from .numpy import exp as exp
from .numpy import expm1 as expm1
from .numpy import floor as floor
from .numpy import log as log
from .numpy import log1p as log1p
from .numpy import maximum as max  # noqa: A001
from .numpy import minimum as min  # noqa: A001
from .numpy import sign as sign
from .numpy import sin as sin
from .numpy import sinh as sinh
from .numpy import sqrt as sqrt
from .numpy import square as square
from .numpy import tan as tan
from .numpy import tanh as tanh
from .pytree import tree_flatten
from .transforms.autodiff import stop_gradient as stop_gradient
from .transforms.control_flow import cond as cond
from .transforms.control_flow import fori_loop as fori_loop
from .transforms.control_flow import scan as scan
from .transforms.control_flow import switch as switch
from .transforms.control_flow import while_loop as while_loop

# --- elementwise, under lax's names ------------------------------------------------------------

add, sub, mul, div, neg = fnp.add, fnp.subtract, fnp.multiply, fnp.true_divide, fnp.negative
pow, rem, logistic = fnp.power, fnp.remainder, fnp.logistic  # noqa: A001


def rsqrt(x):
    """``1 / sqrt(x)``."""
    return 1.0 / fnp.sqrt(x)


def integer_pow(x, y: int):
    """``x ** y`` for a static integer ``y``."""
    return fnp.power(x, int(y))


def select(pred, on_true, on_false):
    """``on_true`` where ``pred`` else ``on_false``; all three of one shape (no broadcasting)."""
    shapes = {fnp.shape(pred), fnp.shape(on_true), fnp.shape(on_false)}
    if len(shapes) != 1:
        raise FuncgradError(f"lax.select: pred, on_true and on_false must have one shape (lax "
                            f"never broadcasts), got {sorted(shapes)}; use fnp.where to "
                            f"broadcast, at {user_frame()}")
    return fnp.where(pred, on_true, on_false)


def clamp(lo, x, hi):
    """``min(max(x, lo), hi)``: note JAX's argument order (bounds around the operand)."""
    return fnp.clip(x, lo, hi)


def convert_element_type(x, new_dtype):
    return fnp.astype(x, new_dtype)


# --- shapes --------------------------------------------------------------------------------------

def broadcast_in_dim(x, shape: Sequence[int], broadcast_dimensions: Sequence[int]):
    """Broadcast ``x`` to ``shape``, its axis ``i`` becoming axis ``broadcast_dimensions[i]``."""
    return P.broadcast_in_dim(fnp.asarray(x), tuple(shape), tuple(broadcast_dimensions))


def reshape(x, new_sizes: Sequence[int]):
    return fnp.reshape(x, tuple(new_sizes))


def transpose(x, permutation: Sequence[int]):
    return fnp.transpose(x, tuple(permutation))


def rev(x, dimensions: Sequence[int]):
    """``x`` reversed along ``dimensions``."""
    return fnp.flip(x, tuple(dimensions))


def concatenate(operands: Sequence[Any], dimension: int):
    return fnp.concatenate(list(operands), axis=dimension)


def pad(x, padding_value, padding_config: Sequence[tuple[int, int, int]]):
    """Pad with ``(low, high, interior)`` per axis: ``interior`` values go between elements;
    negative low/high crop."""
    x = fnp.asarray(x)
    config = [tuple(int(v) for v in c) for c in padding_config]
    if len(config) != fnp.ndim(x) or any(len(c) != 3 for c in config):
        raise FuncgradError(f"lax.pad: padding_config needs one (low, high, interior) triple per "
                            f"axis of the {fnp.ndim(x)}-d operand, got {padding_config!r}, at "
                            f"{user_frame()}")
    out = P.pad(x, fnp.asarray(padding_value, dtype=x.dtype),
                [(builtins.max(lo, 0), builtins.max(hi, 0), it) for lo, hi, it in config])
    if any(lo < 0 or hi < 0 for lo, hi, _ in config):  # negative edges crop
        out = out[tuple(builtins.slice(-builtins.min(lo, 0), n + hi if hi < 0 else None)
                        for (lo, hi, _), n in zip(config, fnp.shape(out)))]
    return out


def slice(x, start_indices, limit_indices, strides=None):  # noqa: A001
    """``x[start:limit:stride, ...]`` with static bounds."""
    strides = strides or (1,) * len(start_indices)
    return x[tuple(builtins.slice(s, e, st)
                   for s, e, st in zip(start_indices, limit_indices, strides))]


def dot_general(lhs, rhs, dimension_numbers, preferred_element_type=None):
    """Contraction with batch dimensions: ``((lhs_contract, rhs_contract), (lhs_batch,
    rhs_batch))``; the output holds batch dims, then lhs's free dims, then rhs's."""
    lhs, rhs = fnp.asarray(lhs), fnp.asarray(rhs)
    if lhs.dtype != rhs.dtype:
        dt = np.result_type(lhs.dtype, rhs.dtype)
        lhs, rhs = fnp.astype(lhs, dt), fnp.astype(rhs, dt)
    out = P.dot_general(lhs, rhs, dimension_numbers)
    return out if preferred_element_type is None else fnp.astype(out, preferred_element_type)


def dot(lhs, rhs):
    return fnp.dot(lhs, rhs)


def iota(dtype, size: int):
    return fnp.arange(size, dtype=dtype)


def full(shape, fill_value, dtype=None):
    return fnp.full(shape, fill_value, dtype=dtype)


# --- dynamic slicing -----------------------------------------------------------------------------

def _starts(x, start_indices, sizes, what: str) -> list:
    nd = fnp.ndim(x)
    if len(start_indices) != nd or len(sizes) != nd:
        raise FuncgradError(f"lax.{what}: one start index and one size per axis of the {nd}-d "
                            f"operand, got {len(start_indices)} and {len(sizes)}, at "
                            f"{user_frame()}")
    out = []
    for s, n, dim in zip(start_indices, sizes, fnp.shape(x)):
        if n > dim:
            raise FuncgradError(f"lax.{what}: size {n} exceeds the axis length {dim}, at "
                                f"{user_frame()}")
        s = fnp.astype(fnp.asarray(s), np.int64)
        s = fnp.where(s < 0, s + dim, s)  # negative starts count from the end, then (as in
        out.append(fnp.clip(s, 0, dim - n))  # JAX) the slice is clamped into range
    return out


def _grid(starts, sizes) -> tuple:
    nd = len(sizes)
    return tuple(fnp.reshape(s + fnp.arange(n), (n,) + (1,) * (nd - 1 - i))
                 for i, (s, n) in enumerate(zip(starts, sizes)))


def dynamic_slice(x, start_indices: Sequence[Any], slice_sizes: Sequence[int]):
    """``x[s0:s0+n0, s1:s1+n1, ...]`` where the starts may be traced; as in JAX, a negative
    start counts from the end and the starts are clamped so the slice stays inside ``x``."""
    x = fnp.asarray(x)
    sizes = [int(n) for n in slice_sizes]
    return fnp.getitem(x, _grid(_starts(x, start_indices, sizes, "dynamic_slice"), sizes))


def dynamic_update_slice(x, update, start_indices: Sequence[Any]):
    """``x`` with the block at ``start_indices`` (clamped, maybe traced) replaced by ``update``."""
    x, update = fnp.asarray(x), fnp.asarray(update)
    sizes = list(fnp.shape(update))
    idx = _grid(_starts(x, start_indices, sizes, "dynamic_update_slice"), sizes)
    return fnp.at(x)[idx].set(fnp.astype(update, x.dtype))


def dynamic_slice_in_dim(x, start_index, slice_size: int, axis: int = 0):
    x = fnp.asarray(x)
    starts = [0] * fnp.ndim(x)
    sizes = list(fnp.shape(x))
    starts[axis], sizes[axis] = start_index, slice_size
    return dynamic_slice(x, starts, sizes)


def dynamic_index_in_dim(x, index, axis: int = 0, keepdims: bool = True):
    out = dynamic_slice_in_dim(x, index, 1, axis)
    return out if keepdims else fnp.squeeze(out, axis)


def dynamic_update_slice_in_dim(x, update, start_index, axis: int):
    starts = [0] * fnp.ndim(x)
    starts[axis] = start_index
    return dynamic_update_slice(x, update, starts)


# --- control flow ----------------------------------------------------------------------------

def map(f: Callable, xs: Any):  # noqa: A001
    """``stack([f(x) for x in xs])`` over the leading axis of the pytree ``xs``, as one `scan`."""
    leaves, _ = tree_flatten(xs)
    if not leaves:
        raise FuncgradError(f"lax.map: xs has no array leaves, at {user_frame()}")
    _, ys = scan(lambda carry, x: (carry, f(x)), None, xs)
    return ys


__all__ = ["abs", "add", "broadcast_in_dim", "clamp", "concatenate", "cond", "convert_element_type",
           "cos", "cosh", "div", "dot", "dot_general", "dynamic_index_in_dim", "dynamic_slice",
           "dynamic_slice_in_dim", "dynamic_update_slice", "dynamic_update_slice_in_dim", "exp",
           "expm1", "floor", "fori_loop", "full", "integer_pow", "iota", "log", "log1p",
           "logistic", "map", "max", "min", "mul", "neg", "pad", "pow", "rem", "reshape", "rev",
           "rsqrt", "scan", "select", "sign", "sin", "sinh", "slice", "sqrt", "square",
           "stop_gradient", "sub", "switch", "tan", "tanh", "transpose", "while_loop"]
