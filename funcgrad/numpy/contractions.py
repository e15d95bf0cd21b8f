"""`fnp`'s contractions: matmul, dot, vdot, inner, outer, tensordot and einsum, each a
`dot_general` (einsum: one per operand pair) after NumPy's promotion and broadcasting, with
JAX's `precision`/`preferred_element_type` keywords.

Built on `indexing.py` (diagonals for repeated einsum indices), `shapes.py`, `ufuncs.py` and
`_base.py`; `funcgrad.numpy` re-exports `__all__`.
"""
from __future__ import annotations

import numpy as np

from .. import primitives as prims  # their bind wrappers share names with fnp's functions
from ..avals import result_dtype
from ..core import FuncgradError, Tracer, user_frame
from . import _base
from ._base import (
    _aval,
    _broadcast_shapes,
    asarray,
    astype,
    broadcast_to,
    contraction_operands,
    np_contraction,
    numpy_fallback,
)
from .indexing import diagonal
from .shapes import ravel, reshape, squeeze, sum, transpose
from .ufuncs import multiply

__all__ = ["matmul", "dot", "vdot", "inner", "outer", "tensordot", "einsum"]

# --- linear algebra ---------------------------------------------------------------------------

def _mm_promote(x, y):
    ax, ay = _aval(x), _aval(y)
    dt, _ = result_dtype(ax, ay)
    if not isinstance(x, Tracer):
        x = asarray(x, dtype=dt)  # no copy when the dtype already matches
    elif ax.dtype != dt:
        x = astype(x, dt)
    if not isinstance(y, Tracer):
        y = asarray(y, dtype=dt)
    elif ay.dtype != dt:
        y = astype(y, dt)
    return x, y


@numpy_fallback(np_contraction(np.matmul))
def matmul(a, b, *, precision=None, preferred_element_type=None, out_sharding=None):
    """`a @ b` like `numpy.matmul`, with JAX's keywords (`preferred_element_type`: the operands
    cast to it first; `precision` has no effect: funcgrad computes in the operands' dtype)."""
    x, y = contraction_operands("matmul", a, b, preferred_element_type, out_sharding)
    x, y = _mm_promote(x, y)
    ax, ay = _aval(x), _aval(y)
    if ax.ndim == 0 or ay.ndim == 0:
        raise FuncgradError(f"matmul: operands must be at least 1-d, got {ax.str_short()} @ "
                            f"{ay.str_short()}, at {user_frame()}")
    if ax.ndim == 1 and ay.ndim == 1:
        return prims.dot_general(x, y, (((0,), (0,)), ((), ())))
    if ax.ndim == 1:
        return squeeze(matmul(reshape(x, (1, -1)), y), -2)
    if ay.ndim == 1:
        return squeeze(matmul(x, reshape(y, (-1, 1))), -1)
    if ax.shape[-1] != ay.shape[-2]:
        raise FuncgradError(f"matmul: inner dimensions differ: {ax.str_short()} @ "
                            f"{ay.str_short()} ({ax.shape[-1]} != {ay.shape[-2]}), at "
                            f"{user_frame()}")
    if ax.ndim == 2 and ay.ndim == 2:
        return prims.dot_general(x, y, (((1,), (0,)), ((), ())))
    if ay.ndim == 2:  # (..., m, k) @ (k, n): a plain contraction, no batch dims needed
        return prims.dot_general(x, y, (((ax.ndim - 1,), (0,)), ((), ())))
    batch = _broadcast_shapes("matmul", ax.shape[:-2], ay.shape[:-2])
    x = broadcast_to(x, batch + ax.shape[-2:])
    y = broadcast_to(y, batch + ay.shape[-2:])
    nb = len(batch)
    return prims.dot_general(x, y, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))


@numpy_fallback(np_contraction(np.dot))
def dot(a, b, *, precision=None, preferred_element_type=None, out_sharding=None):
    """`numpy.dot`, with JAX's keywords as in `matmul`."""
    x, y = contraction_operands("dot", a, b, preferred_element_type, out_sharding)
    ax, ay = _aval(x), _aval(y)
    if ax.ndim == 0 or ay.ndim == 0:
        return multiply(x, y)
    if ay.ndim <= 2:
        return matmul(x, y)
    return tensordot(x, y, ((ax.ndim - 1,), (ay.ndim - 2,)))


def vdot(a, b, *, precision=None, preferred_element_type=None):
    """`numpy.vdot`: the dot product of the flattened operands, the first conjugated."""
    x, y = contraction_operands("vdot", a, b, preferred_element_type, None)
    x = asarray(x)
    return dot(ravel(prims.conj(x) if _aval(x).dtype.kind == "c" else x), ravel(y))


def inner(a, b, *, precision=None, preferred_element_type=None):
    x, y = contraction_operands("inner", a, b, preferred_element_type, None)
    return tensordot(x, y, ((_aval(x).ndim - 1,), (_aval(y).ndim - 1,)))


@numpy_fallback(np.outer)
def outer(a, b, out=None):
    _base.no_out("outer", out)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


@numpy_fallback(np_contraction(np.tensordot))
def tensordot(a, b, axes=2, *, precision=None, preferred_element_type=None, out_sharding=None):
    x, y = contraction_operands("tensordot", a, b, preferred_element_type, out_sharding)
    x, y = _mm_promote(x, y)
    ax, ay = _aval(x), _aval(y)
    if isinstance(axes, int):
        lc, rc = tuple(range(ax.ndim - axes, ax.ndim)), tuple(range(axes))
    else:
        lc, rc = axes
        lc = (lc,) if isinstance(lc, int) else tuple(lc)
        rc = (rc,) if isinstance(rc, int) else tuple(rc)
        lc, rc = tuple(a % ax.ndim for a in lc), tuple(a % ay.ndim for a in rc)
    return prims.dot_general(x, y, ((lc, rc), ((), ())))


def _np_einsum(subscripts, *operands, out=None, optimize="auto", precision=None,
               preferred_element_type=None, out_sharding=None):
    _base.no_out("einsum", out)
    _base._placed(None, None, out_sharding, "einsum")
    dt = preferred_element_type
    return np.einsum(subscripts, *[o if dt is None else astype(o, dt) for o in operands],
                     optimize=optimize if optimize != "auto" else False)


@numpy_fallback(_np_einsum)
def einsum(subscripts: str, /, *operands, out=None, optimize="auto", precision=None,
           preferred_element_type=None, out_sharding=None):
    """Einstein summation for one or two operands per step (chains fold left to right); an
    index repeated within one operand takes that diagonal first (traces, diagonals). JAX's
    keywords as in `matmul`; `optimize` (the contraction order) is NumPy's on concrete arrays."""
    _base.no_out("einsum", out)
    _base._placed(None, None, out_sharding, "einsum")
    if preferred_element_type is not None:
        operands = [astype(o, preferred_element_type) for o in operands]
    ins, out = subscripts.replace(" ", "").split("->") if "->" in subscripts else \
        (subscripts.replace(" ", ""), None)
    in_specs = ins.split(",")
    if out is None:
        letters = "".join(in_specs)
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(in_specs) != len(operands):
        raise FuncgradError(f"einsum: {len(in_specs)} operand specs for {len(operands)} operands")
    operands = list(operands)
    for k, spec in enumerate(in_specs):  # a repeated index takes that diagonal ("ii->i", "ii")
        while len(set(spec)) != len(spec):
            c = next(c for c in spec if spec.count(c) > 1)
            i, j = spec.index(c), spec.index(c, spec.index(c) + 1)
            operands[k] = diagonal(operands[k], 0, i, j)
            spec = "".join(ch for n, ch in enumerate(spec) if n not in (i, j)) + c
        in_specs[k] = spec
    x, xs = operands[0], in_specs[0]
    for y, ys in zip(operands[1:], in_specs[1:]):
        rest = set(out).union(*[set(s) for s in in_specs[in_specs.index(ys) + 1:]])
        x, xs = _einsum_pair(x, xs, y, ys, rest)
    drop = tuple(i for i, c in enumerate(xs) if c not in out)
    if drop:
        x = sum(x, drop)
        xs = "".join(c for c in xs if c in out)
    return transpose(x, [xs.index(c) for c in out])


def _einsum_pair(x, xs, y, ys, keep):
    x_only = [i for i, c in enumerate(xs) if c not in ys and c not in keep]
    if x_only:
        x, xs = sum(x, tuple(x_only)), "".join(c for c in xs if c in ys or c in keep)
    y_only = [i for i, c in enumerate(ys) if c not in xs and c not in keep]
    if y_only:
        y, ys = sum(y, tuple(y_only)), "".join(c for c in ys if c in xs or c in keep)
    shared = [c for c in xs if c in ys]
    batch = [c for c in shared if c in keep]
    contract = [c for c in shared if c not in keep]
    x, y = _mm_promote(x, y)
    dn = ((tuple(xs.index(c) for c in contract), tuple(ys.index(c) for c in contract)),
          (tuple(xs.index(c) for c in batch), tuple(ys.index(c) for c in batch)))
    out = prims.dot_general(x, y, dn)
    spec = "".join(batch) + "".join(c for c in xs if c not in shared) + \
        "".join(c for c in ys if c not in shared)
    return out, spec
