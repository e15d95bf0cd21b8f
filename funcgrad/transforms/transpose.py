"""Reverse mode's second half: run a linear program backwards (`backward_pass`).

Equations that read no linear input are evaluated forwards first; the linear ones are then
transposed in reverse order with each primitive's transpose rule, accumulating cotangents
functionally (never in place). Symbolic-zero cotangents are never stored: an equation none of
whose outputs has a cotangent is skipped, so a rule of one output never sees a zero one.
"""
from __future__ import annotations

from typing import Any

from ..core import DEBUG_NANS, NAN_CONTEXT, NAN_SOURCE, FuncgradError, UndefPrimal, Zero, bind
from ..ir import IR, Lit, Var
from ..primitives.ops import add

_new = object.__new__


def backward_pass(closed: IR, args: list, cts_out: list) -> list:
    """Cotangents of the `UndefPrimal` entries of `args`, given the output cotangents."""
    jaxpr = closed.open
    primal_env: dict[Var, Any] = dict(zip(jaxpr.constvars, closed.consts))
    linear: set[Var] = set()
    for v, a in zip(jaxpr.invars, args):
        if type(a) is UndefPrimal:
            linear.add(v)
        else:
            primal_env[v] = a

    linear_eqns = []
    for eqn in jaxpr.eqns:
        for x in eqn.inputs:
            if x in linear:  # (a Lit is never in `linear`: atoms hash by identity)
                linear_eqns.append(eqn)
                linear.update(eqn.out_binders)
                break
        else:
            outs = bind(eqn.prim, *[x.val if type(x) is Lit else primal_env[x]
                                    for x in eqn.inputs], **eqn.params)
            primal_env.update(zip(eqn.out_binders, outs))

    ct_env: dict[Var, Any] = {}
    for v, ct in zip(jaxpr.outvars, cts_out):
        if v in linear and ct is not None and type(ct) is not Zero:
            ct_env[v] = add(ct_env[v], ct) if v in ct_env else ct  # (neither is a Zero)

    try:
        _transpose_eqns(linear_eqns, linear, primal_env, ct_env)
    finally:
        NAN_CONTEXT[0] = None
    return [ct_env.get(v, Zero(v.aval)) if type(a) is UndefPrimal else None
            for v, a in zip(jaxpr.invars, args)]


def _transpose_eqns(linear_eqns: list, linear: set, primal_env: dict, ct_env: dict) -> None:
    for eqn in reversed(linear_eqns):
        prim, outs = eqn.prim, eqn.out_binders
        if prim.multiple_results:
            cts = [ct_env.pop(v, None) for v in outs]
            if all(ct is None for ct in cts):
                continue
            ct = [Zero(v.aval) if ct is None else ct for v, ct in zip(outs, cts)]
        else:
            ct = ct_env.pop(outs[0], None)
            if ct is None:
                continue
        invals = []
        for x in eqn.inputs:  # a plain loop: cheaper than a comprehension on short lists
            if x in linear:
                u = _new(UndefPrimal)  # (slots filled directly: a hot path)
                u.aval = x.aval
                invals.append(u)
            else:
                invals.append(x.val if type(x) is Lit else primal_env[x])
        rule = prim.transpose
        if rule is None or type(rule) is str:
            raise FuncgradError(f"reverse mode: {prim.name} is not linear in its tangent "
                                f"inputs and has no transpose rule")
        if DEBUG_NANS[0]:  # name the forward line if this equation's derivative makes a NaN
            NAN_CONTEXT[0] = NAN_SOURCE.get(outs[0])
        cts_in = rule(ct, *invals, **eqn.params)
        for x, ct in zip(eqn.inputs, cts_in):
            if ct is not None and type(ct) is not Zero and x in linear:
                ct_env[x] = add(ct_env[x], ct) if x in ct_env else ct
