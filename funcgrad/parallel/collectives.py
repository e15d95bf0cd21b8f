"""The collective primitives of `funcgrad.parallel`, one block each: psum, pmean, pmax,
all_gather, broadcast.

Each takes any number of operands (the leaves of the user's pytree) and returns as many results
(`multiple_results=True`), so that a collective over a whole gradient tree is ONE equation whose
impl packs the leaves into one contiguous buffer and makes one call (`_mpi.py`, the module that
owns the transport: MPI for host arrays, NCCL for GPU arrays). The rules follow JAX's SPMD
convention, where every rank runs the same program: psum is linear and its transpose is psum
(pmean's is pmean); all_gather's transpose sums the cotangents over ranks and keeps this rank's
slice; broadcast's sums them onto the root. Under `vmap` each mapped slice is reduced (the batch
axis stays where it is). Under `jit` the generated code calls the impl, i.e. the MPI or NCCL call.

Symbolic zeros are structural (the same on every rank), so skipping the communication of a zero
tangent or cotangent keeps all ranks making the same calls in the same order; a rule whose
result depends on the rank (broadcast's transpose) selects real zeros from the communicated
value, so that the program (and what jit's dead-code elimination keeps of it) is the same on
every rank.

The public wrappers over pytrees are in `__init__.py`.
"""
from __future__ import annotations

import numpy as np

from ..avals import ShapedArray
from ..backend import get_array_module
from ..backend.fusion import register_c_expr
from ..core import NOT_APPLICABLE, Primitive, UndefPrimal, Zero, get_aval_of, not_mapped, user_frame
from ..errors import FuncgradError
from ..primitives import convert_element_type, div, eq, full, mul, select, slice_, squeeze
from . import _mpi


def _check_dtypes(name: str, avals, inexact: bool = False) -> None:
    for a in avals:
        if a.dtype == np.bool_ or (inexact and not np.issubdtype(a.dtype, np.inexact)):
            raise FuncgradError(
                f"funcgrad.parallel.{name}: operand {a.str_short()} has dtype {a.dtype}, which "
                f"{name} does not reduce; convert it first (e.g. `x.astype(np.float32)`), "
                f"at {user_frame()}")


def _same_avals(*avals, **_) -> list[ShapedArray]:
    return [ShapedArray(a.shape, a.dtype, a.weak_type) for a in avals]


def _subset(params: dict, live: list[int]) -> dict:
    """The params of the same collective applied to the operands `live` only."""
    if "axes" in params:
        return dict(params, axes=tuple(params["axes"][i] for i in live))
    return params


def _linear_jvp(prim: Primitive):
    """jvp of a collective linear in every operand: the collective of the nonzero tangents."""
    def jvp(primals, tangents, **params):
        outs = prim.bind(*primals, **params)
        t_outs = [Zero(get_aval_of(o)) for o in outs]
        live = [i for i, t in enumerate(tangents) if type(t) is not Zero]
        if live:
            for i, t in zip(live, prim.bind(*[tangents[i] for i in live],
                                            **_subset(params, live))):
                t_outs[i] = t
        return outs, t_outs
    return jvp


def _transpose_by(prim: Primitive, finish=None):
    """Transpose rule: `prim` (psum or pmean) over the nonzero cotangents of the linear operands
    in one call, each result then passed through `finish(ct, i, aval_i, params)` if given."""
    def transpose(cts, *xs, **params):
        live = [i for i, (x, ct) in enumerate(zip(xs, cts))
                if type(x) is UndefPrimal and type(ct) is not Zero]
        outs = [Zero(x.aval) if type(x) is UndefPrimal else None for x in xs]
        if live:
            for i, ct in zip(live, prim.bind(*[cts[i] for i in live])):
                outs[i] = ct if finish is None else finish(ct, i, xs[i].aval, params)
        return outs
    return transpose


def _batch_in_place(prim: Primitive):
    """vmap over an elementwise collective: reduce the batched arrays, batch axes unchanged."""
    def batch(axis_size, xs, bdims, **params):
        return prim.bind(*xs, **params), list(bdims)
    return batch


# --- psum, pmean ------------------------------------------------------------------------------
# sum (mean) over ranks: linear; transpose(psum) = psum, transpose(pmean) = pmean (SPMD)
psum_p = Primitive("psum", multiple_results=True)
pmean_p = Primitive("pmean", multiple_results=True)


def _allreduce_rules(prim: Primitive, op: str) -> None:
    def impl(*xs):
        _check_dtypes(prim.name, [get_aval_of(x) for x in xs], inexact=op == "mean")
        return _mpi.allreduce(list(xs), op)

    def abstract_eval(*avals):
        _check_dtypes(prim.name, avals, inexact=op == "mean")
        return _same_avals(*avals)

    prim.impl, prim.abstract_eval = impl, abstract_eval
    prim.jvp = _linear_jvp(prim)
    prim.transpose = _transpose_by(prim)
    prim.batch = _batch_in_place(prim)
    register_c_expr(prim, NOT_APPLICABLE)  # a library call (MPI/NCCL), never fused


_allreduce_rules(psum_p, "sum")
_allreduce_rules(pmean_p, "mean")


# --- pmax -------------------------------------------------------------------------------------
# max over ranks; d max = the tangent of the rank(s) holding the max (averaged over ties)
pmax_p = Primitive("pmax", multiple_results=True)


def _pmax_jvp(primals, tangents):
    outs = pmax_p.bind(*primals)
    t_outs = [Zero(get_aval_of(o)) for o in outs]
    live = [i for i, t in enumerate(tangents) if type(t) is not Zero]
    if live:
        masks = [convert_element_type(eq(primals[i], outs[i]), get_aval_of(outs[i]).dtype)
                 for i in live]
        counts = psum_p.bind(*masks)
        picked = psum_p.bind(*[mul(tangents[i], m) for i, m in zip(live, masks)])
        for i, p, c in zip(live, picked, counts):
            t_outs[i] = div(p, c)
    return outs, t_outs


_allreduce_rules(pmax_p, "max")  # impl, abstract eval and batching as psum's
pmax_p.jvp = _pmax_jvp
pmax_p.transpose = NOT_APPLICABLE


# --- all_gather -------------------------------------------------------------------------------
# operand i stacked over ranks on a new axis axes[i] (of length axis_size): linear; its
# transpose sums the cotangents over ranks and keeps this rank's slice (a reduce-scatter)
all_gather_p = Primitive("all_gather", multiple_results=True)


def _all_gather_impl(*xs, axes, axis_size):
    return [get_array_module(g).moveaxis(g, 0, a) if a else g
            for g, a in zip(_mpi.allgather(list(xs)), axes)]


def _all_gather_abstract_eval(*avals, axes, axis_size):
    out = []
    for a, ax in zip(avals, axes):
        if not 0 <= ax <= a.ndim:
            raise FuncgradError(f"funcgrad.parallel.all_gather: axis {ax} is out of range for "
                                f"an operand {a.str_short()} (0..{a.ndim}), at {user_frame()}")
        out.append(ShapedArray(a.shape[:ax] + (axis_size,) + a.shape[ax:], a.dtype, a.weak_type))
    return out


def _all_gather_own_slice(ct, i, aval, params):
    ax, r = params["axes"][i], _mpi.world().rank
    shape = get_aval_of(ct).shape
    start = tuple(r if d == ax else 0 for d in range(len(shape)))
    limit = tuple(r + 1 if d == ax else n for d, n in enumerate(shape))
    return squeeze(slice_(ct, start, limit), (ax,))


def _all_gather_batch_rule(size, xs, bdims, *, axes, axis_size):
    new_axes, out_bdims = [], []
    for ax, b in zip(axes, bdims):
        if b is not_mapped:
            new_axes.append(ax)
            out_bdims.append(not_mapped)
        elif b <= ax:  # the batch axis comes first: the gathered axis moves up by one
            new_axes.append(ax + 1)
            out_bdims.append(b)
        else:
            new_axes.append(ax)
            out_bdims.append(b + 1)
    return all_gather_p.bind(*xs, axes=tuple(new_axes), axis_size=axis_size), out_bdims


all_gather_p.impl = _all_gather_impl
all_gather_p.abstract_eval = _all_gather_abstract_eval
all_gather_p.jvp = _linear_jvp(all_gather_p)
all_gather_p.transpose = _transpose_by(psum_p, _all_gather_own_slice)
all_gather_p.batch = _all_gather_batch_rule
register_c_expr(all_gather_p, NOT_APPLICABLE)


# --- broadcast --------------------------------------------------------------------------------
# every rank gets the root's operands: linear; transpose: the root receives the sum over ranks
# of the cotangents, every other rank (real, not symbolic) zeros
broadcast_p = Primitive("broadcast", multiple_results=True)


def _broadcast_to_root(ct, i, aval, params):
    # select, not a constant zero: every rank's program must still read the psum, or jit's
    # dead-code elimination drops it on the other ranks and the root waits for them forever
    is_root = _mpi.world().rank == params["root"]
    return select(full(aval.shape, is_root, np.bool_), ct, full(aval.shape, 0, aval.dtype))


broadcast_p.impl = lambda *xs, root: _mpi.bcast(list(xs), root)
broadcast_p.abstract_eval = _same_avals
broadcast_p.jvp = _linear_jvp(broadcast_p)
broadcast_p.transpose = _transpose_by(psum_p, _broadcast_to_root)
broadcast_p.batch = _batch_in_place(broadcast_p)
register_c_expr(broadcast_p, NOT_APPLICABLE)

COLLECTIVES = (psum_p, pmean_p, pmax_p, all_gather_p, broadcast_p)
