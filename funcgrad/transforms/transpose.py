"""Reverse mode's second half: run a linear program backwards (`backward_pass`).

Equations that read no linear input are evaluated forwards first; the linear ones are then
transposed in reverse order with each primitive's transpose rule, accumulating cotangents
functionally (never in place).
"""
from __future__ import annotations

from typing import Any

from ..core import FuncgradError, UndefPrimal, Zero, bind
from ..ir import Jaxpr, Lit, Var
from ..primitives.rules import add_tangents


def backward_pass(jaxpr: Jaxpr, consts: list, args: list, cts_out: list) -> list:
    """Cotangents of the `UndefPrimal` entries of `args`, given the output cotangents."""
    primal_env: dict[Var, Any] = dict(zip(jaxpr.constvars, consts))
    linear: set[Var] = set()
    for v, a in zip(jaxpr.invars, args):
        if type(a) is UndefPrimal:
            linear.add(v)
        else:
            primal_env[v] = a

    def read_primal(x):
        return x.val if type(x) is Lit else primal_env[x]

    linear_eqns = []
    for eqn in jaxpr.eqns:
        if any(type(x) is Var and x in linear for x in eqn.inputs):
            linear_eqns.append(eqn)
            linear.update(eqn.out_binders)
        else:
            outs = bind(eqn.prim, *[read_primal(x) for x in eqn.inputs], **eqn.params)
            primal_env.update(zip(eqn.out_binders, outs))

    ct_env: dict[Var, Any] = {}

    def write_ct(v, ct):
        if ct is None or type(ct) is Zero:
            return
        ct_env[v] = add_tangents(ct_env[v], ct) if v in ct_env else ct

    for v, ct in zip(jaxpr.outvars, cts_out):
        if type(v) is Var and v in linear:
            write_ct(v, ct)

    for eqn in reversed(linear_eqns):
        cts = [ct_env.pop(v, None) for v in eqn.out_binders]
        if all(ct is None for ct in cts):
            continue
        cts = [Zero(v.aval) if ct is None else ct for v, ct in zip(eqn.out_binders, cts)]
        invals = [UndefPrimal(x.aval) if type(x) is Var and x in linear else read_primal(x)
                  for x in eqn.inputs]
        rule = eqn.prim.transpose
        if rule is None or isinstance(rule, str):
            raise FuncgradError(f"reverse mode: {eqn.prim.name} is not linear in its tangent "
                                f"inputs and has no transpose rule")
        cts_in = rule(cts if eqn.prim.multiple_results else cts[0], *invals, **eqn.params)
        for x, ct in zip(eqn.inputs, cts_in):
            if type(x) is Var and x in linear:
                write_ct(x, ct)
    return [ct_env.get(v, Zero(v.aval)) if type(a) is UndefPrimal else None
            for v, a in zip(jaxpr.invars, args)]
