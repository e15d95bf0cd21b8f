"""`fg.checkpoint`: rematerialisation. Reverse mode saves a checkpointed function's *inputs*
instead of its intermediate values, and recomputes those intermediates during the backward pass,
trading compute for memory (the DeZero book's concern about keeping every intermediate alive).

`checkpoint_p` is a call primitive carrying the function's IR. Its partial-evaluation rule (the
step of `grad` that decides what is saved for the backward pass) is where remat happens: the
known part runs now and keeps only its outputs; the unknown (tangent) part is staged as a
`checkpoint_p` call over the known *inputs* whose program recomputes the forward residuals
itself, so `backward_pass` recomputes them when it transposes that call.
"""
from __future__ import annotations

from typing import Any, Callable

from ..backend.fusion import register_c_expr
from ..core import NOT_APPLICABLE, Primitive, Tracer, UndefPrimal, Zero, _dynamic, get_aval_of
from ..ir import Eqn, eval_ir
from ..primitives.batching import moveaxis
from ..primitives.rules import zeros_like_aval
from ..pytree import flatten_fun, tree_flatten, tree_unflatten
from ..staging import _UNKNOWN, IRTracer, trace_to_ir
from ..util import merge_lists, partition_list
from .program import batch_ir, jvp_ir, partial_eval_ir, split_list, transpose_ir

checkpoint_p = Primitive("checkpoint", multiple_results=True)


def _impl(*args, jaxpr):
    return eval_ir(jaxpr, args)


def _jvp(primals, tangents, *, jaxpr):
    nonzeros = [type(t) is not Zero for t in tangents]
    jv, out_nz = jvp_ir(jaxpr, nonzeros, instantiate=False)
    outs = checkpoint_p.bind(*primals, *[t for t in tangents if type(t) is not Zero], jaxpr=jv)
    n = len(jaxpr.out_avals)
    primal_outs, tangent_outs = outs[:n], iter(outs[n:])
    return primal_outs, [next(tangent_outs) if nz else Zero(get_aval_of(p))
                         for p, nz in zip(primal_outs, out_nz)]


def _partial_eval(trace, tracers, known, *, jaxpr):
    unknowns = [k is _UNKNOWN for k in known]
    known_prog, unknown_prog, out_uk, _ = partial_eval_ir(jaxpr, unknowns, instantiate=False)
    known_in = [k for k in known if k is not _UNKNOWN]
    n_known_out = len(out_uk) - sum(out_uk)
    known_outs = eval_ir(known_prog, known_in)[:n_known_out]  # residuals are dropped, not saved
    if not any(out_uk):
        return known_outs
    k_avals, u_avals = partition_list(unknowns, jaxpr.in_avals)

    def recompute(*args):  # the residuals, recomputed from the saved inputs, then the rest
        kin, uin = split_list(args, [len(k_avals)])
        res = eval_ir(known_prog, kin)[n_known_out:]
        return eval_ir(unknown_prog, [*res, *uin])

    rc = trace_to_ir(recompute, [*k_avals, *u_avals], name="checkpoint")
    ins = [trace.pure(k) for k in known_in] + partition_list(unknowns, tracers)[1]
    outs = [IRTracer(trace, a) for a in rc.out_avals]
    trace.main.global_data.eqns.append(Eqn(checkpoint_p, [t.var for t in ins], dict(jaxpr=rc),
                                           [o.var for o in outs]))
    return merge_lists(out_uk, known_outs, outs)


def _transpose(cts, *args, jaxpr):
    linear = [type(x) is UndefPrimal for x in args]
    cts = [zeros_like_aval(a) if type(c) is Zero else c for c, a in zip(cts, jaxpr.out_avals)]
    t = transpose_ir(jaxpr, linear)
    nonlin = [x for x, lin in zip(args, linear) if not lin]
    outs = iter(checkpoint_p.bind(*nonlin, *cts, jaxpr=t))
    return [next(outs) if lin else None for lin in linear]


def _batch(size, xs, bdims, *, jaxpr):
    in_b = [b is not None for b in bdims]
    xs = [moveaxis(x, b, 0) if b is not None else x for x, b in zip(xs, bdims)]
    bj, out_b = batch_ir(jaxpr, size, in_b, instantiate=False)
    outs = checkpoint_p.bind(*xs, jaxpr=bj)
    return outs, [0 if b else None for b in out_b]


checkpoint_p.impl = _impl
checkpoint_p.abstract_eval = lambda *avals, jaxpr: list(jaxpr.out_avals)
checkpoint_p.jvp = _jvp
checkpoint_p.partial_eval = _partial_eval
checkpoint_p.transpose = _transpose
checkpoint_p.batch = _batch
register_c_expr(checkpoint_p, NOT_APPLICABLE)  # never fused into a GPU kernel


def checkpoint(fun: Callable) -> Callable:
    """`fun`, rematerialised under reverse mode: its intermediates are recomputed in the
    backward pass instead of being saved. Values and derivatives are unchanged.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp
        >>> f = fg.checkpoint(lambda x: fnp.sin(fnp.sin(x)))
        >>> float(fg.grad(f)(0.5)) == float(fg.grad(lambda x: fnp.sin(fnp.sin(x)))(0.5))
        True
    """
    def wrapped(*args: Any):
        leaves, in_tree = tree_flatten(args)
        if _dynamic[0] is None and not any(isinstance(x, Tracer) for x in leaves):
            return fun(*args)  # nothing to differentiate: just run it
        f_flat, out_tree = flatten_fun(fun, in_tree)
        closed = trace_to_ir(f_flat, [get_aval_of(x) for x in leaves], name="checkpoint")
        outs = checkpoint_p.bind(*leaves, jaxpr=closed)
        return tree_unflatten(out_tree.val, outs)

    wrapped.__name__ = f"checkpoint({getattr(fun, '__name__', 'fun')})"
    wrapped.__doc__ = getattr(fun, "__doc__", None)
    return wrapped
