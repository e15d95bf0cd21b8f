"""Shared rule helpers: abstract-eval families, jvp/transpose helpers (one `defjvp`, one
`deftranspose` handling symbolic-zero cotangents), zero handling, the array module of a value.

Each primitive's block (in elementwise.py, reduction.py, shape.py, ...) calls these helpers so
that a typical block stays 5-10 lines. Built on ops.py only; the batching helpers are in
batching.py.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

import numpy as np

from ..avals import ShapedArray
from ..backend import get_array_module
from ..core import (
    NOT_APPLICABLE,
    FuncgradError,
    Primitive,
    Zero,
    get_aval_of,
    user_frame,
)
from ..errors import ShapeError  # noqa: F401  (re-exported: primitives raise it)
from .ops import add_p, full

# --- abstract evaluation families -------------------------------------------------------------

def unop_abstract_eval(x: ShapedArray, **_) -> list[ShapedArray]:
    return [x]


def same_shape_dtype(prim: str, *avals: ShapedArray) -> None:
    x = avals[0]
    for y in avals[1:]:
        if y.shape != x.shape or y.dtype != x.dtype:
            raise ShapeError(
                f"{prim}: operands must have equal shapes and dtypes (primitives never broadcast "
                f"implicitly), got {', '.join(a.str_short() for a in avals)}. Use funcgrad.numpy "
                f"functions, which broadcast and promote dtypes, at {user_frame()}")


def binop_abstract_eval_for(name: str) -> Callable:
    def abstract_eval(x: ShapedArray, y: ShapedArray, **_) -> list[ShapedArray]:
        if y.shape != x.shape or y.dtype != x.dtype:
            same_shape_dtype(name, x, y)  # raises the error
        if x.weak_type and not y.weak_type:
            return [y]  # avals are immutable: share the operand's
        return [x]
    return abstract_eval


def compare_abstract_eval_for(name: str) -> Callable:
    def abstract_eval(x: ShapedArray, y: ShapedArray, **_) -> list[ShapedArray]:
        same_shape_dtype(name, x, y)
        return [ShapedArray(x.shape, np.dtype(bool))]
    return abstract_eval


# --- tangent helpers --------------------------------------------------------------------------

def zeros_like_aval(aval: ShapedArray):
    return full(aval.shape, 0, aval.dtype)


def instantiate(t: Any) -> Any:
    return zeros_like_aval(t.aval) if type(t) is Zero else t


def add_tangents(x: Any, y: Any) -> Any:
    if type(x) is Zero:
        return y
    if type(y) is Zero:
        return x
    return add_p.bind1(x, y)


def defjvp(prim: Primitive, *jvp_fns: Callable | None) -> None:
    """Set prim.jvp from one linear function per argument (None: the output does not depend on
    it): fn(x_dot, ans, *primals, **params) -> tangent, where `ans` is the primal output, for
    rules that reuse it (exp, tanh, sqrt, ...)."""
    if len(jvp_fns) == 1 and jvp_fns[0] is not None:  # unary: no loop over the arguments
        (fn,) = jvp_fns

        def jvp1(primals, tangents, **params):
            out = prim.bind1(*primals, **params)
            t = tangents[0]
            return [out], [Zero(get_aval_of(out)) if type(t) is Zero
                           else fn(t, out, *primals, **params)]
        prim.jvp = jvp1
        return

    def jvp(primals, tangents, **params):
        out = prim.bind1(*primals, **params)
        t_out = None
        for fn, t in zip(jvp_fns, tangents):
            if fn is not None and type(t) is not Zero:
                d = fn(t, out, *primals, **params)
                t_out = d if t_out is None else add_tangents(t_out, d)
        return [out], [Zero(get_aval_of(out)) if t_out is None else t_out]
    prim.jvp = jvp


def defzero_jvp(prim: Primitive) -> None:
    """Non-differentiable (piecewise-constant or integer-valued) primitive: zero tangent."""
    def jvp(primals, tangents, **params):
        outs = prim.bind(*primals, **params)
        return outs, [Zero(get_aval_of(o)) for o in outs]
    prim.jvp = jvp
    prim.transpose = NOT_APPLICABLE


def deftranspose(prim: Primitive, rule: Callable) -> None:
    """Set prim.transpose to `rule(ct, *args, **params)`. The transposition never calls it
    with a symbolic-zero `ct` (an equation without a cotangent is skipped), so rules are
    written for a nonzero one."""
    prim.transpose = rule


def deflinear(prim: Primitive, transpose: Callable) -> None:
    """A primitive linear in all its (array) arguments: jvp applies it to the tangents, and
    `transpose` is its transpose rule (see deftranspose)."""
    def jvp(primals, tangents, **params):
        out = prim.bind1(*primals, **params)
        if len(tangents) == 1:  # unary (most linear primitives): no generator, no map
            t = tangents[0]
            return [out], [Zero(get_aval_of(out)) if type(t) is Zero
                           else prim.bind1(t, **params)]
        if all(type(t) is Zero for t in tangents):
            return [out], [Zero(get_aval_of(out))]
        return [out], [prim.bind1(*map(instantiate, tangents), **params)]
    prim.jvp = jvp
    deftranspose(prim, transpose)


def not_linear(prim: Primitive) -> None:
    prim.transpose = NOT_APPLICABLE


def full_like(x: Any, value: Any):
    """An array shaped and typed like `x`, filled with `value`."""
    aval = get_aval_of(x)
    return full(aval.shape, value, aval.dtype)


def xp_of(x):
    """The array module of `x` (numpy, or cupy for GPU arrays)."""
    if type(x) is np.ndarray or not hasattr(x, "__cuda_array_interface__"):
        return np
    return get_array_module(x)


def scipy_module(name: str, what: str, required: bool = True):
    """`scipy.<name>` (the one SciPy import of the primitives, on use: SciPy is the optional
    extra `funcgrad[scipy]`), or None when SciPy is absent and not `required`."""
    try:
        return importlib.import_module(f"scipy.{name}")
    except ImportError:
        if not required:
            return None
        raise FuncgradError(f"funcgrad: {what} are computed by SciPy, which is not installed. "
                            f"Install the extra: `pip install funcgrad[scipy]` (or `pip install "
                            f"scipy`).") from None
