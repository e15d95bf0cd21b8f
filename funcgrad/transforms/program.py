"""Program-level transforms: jvp, batching, partial evaluation and transposition of a whole
`IR`, each returning a new `IR`.

Higher-order primitives (`cond`, `while_loop`, `scan`) carry sub-programs in their params, and
their rules need those sub-programs transformed; `jit` needs the same. Every function here works
by *re-tracing*: it stages a Python function that interprets the input program under the
ordinary interpreters (`jvp_flat`, `vmap_flat`, a partial `IRTrace`, `backward_pass`), so the
program-level transforms agree with the value-level ones by construction.

Conventions (stable; `jit` and `control_flow` rely on them):

- `jvp_ir(closed, nonzeros, instantiate)` -> `(jvp_closed, out_nonzeros)`.
  `jvp_closed` takes `(*primals, *tangents_of_nonzero_inputs)` and returns
  `(*primal_outs, *tangents_of_nonzero_outputs)`.
- `batch_ir(closed, size, in_batched, instantiate)` -> `(batched_closed, out_batched)`.
  Batched inputs and outputs carry the batch axis at position 0.
- `partial_eval_ir(closed, unknowns, instantiate)`
  -> `(known, unknown, out_unknowns, num_residuals)`.
  `known` takes the known inputs and returns `(*known_outs, *residuals)`;
  `unknown` takes `(*residuals, *unknown_inputs)` and returns the unknown outputs.
- `transpose_ir(closed, linear)` -> `transposed`, taking
  `(*non_linear_inputs, *output_cotangents)` and returning one cotangent (zeros instantiated)
  per linear input. The program must be linear in the inputs flagged `linear`.

`instantiate` is a bool or one bool per output: force that output to be nonzero / batched /
unknown even where the analysis proves it is not.

Examples:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> ir = fg.make_ir(lambda x, y: x * y)(1.0, 2.0)
    >>> jv, nz = jvp_ir(ir, [True, False], instantiate=False)
    >>> [float(v) for v in jv(3.0, 5.0, 1.0)]   # (x*y, dx*y) at x=3, y=5, dx=1
    [15.0, 5.0]
"""
from __future__ import annotations

import weakref
from typing import Sequence

import numpy as np

from ..avals import ShapedArray
from ..core import Tracer, UndefPrimal, Zero, new_main, not_mapped
from ..ir import IR, OpenIR, Var
from ..primitives.batching import bdim_at_front
from ..primitives.rules import zeros_like_aval
from ..staging import Builder, IRTrace, IRTracer, trace_to_ir
from .jvp import jvp_flat
from .transpose import backward_pass
from .vmap import vmap_flat

_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _memoized(fn):
    """Cache a program transform per input program (by identity) and hashable arguments; the
    cache entry dies with the program. Programs are never mutated, so this is safe."""
    names = fn.__code__.co_varnames[1:fn.__code__.co_argcount]

    def wrapper(closed, *args, **kwargs):
        if kwargs:
            args = args + tuple(kwargs[n] for n in names[len(args):])
        key = (fn.__name__, *(tuple(a) if isinstance(a, list) else a for a in args))
        try:
            table = _MEMO.setdefault(closed, {})
            hit = table.get(key)
        except TypeError:  # unhashable argument: no caching
            return fn(closed, *args)
        if hit is None:
            hit = table[key] = fn(closed, *args)
        return hit
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


def _inst_list(instantiate: bool | Sequence[bool], n: int) -> list[bool]:
    if isinstance(instantiate, (bool, np.bool_)):
        return [bool(instantiate)] * n
    inst = [bool(b) for b in instantiate]
    assert len(inst) == n, (len(inst), n)
    return inst


# --- small structural helpers -------------------------------------------------------------------

def _rewired(closed: IR, invars: list | None = None, outvars: list | None = None) -> IR:
    j = closed.open
    return IR(OpenIR(j.constvars, j.invars if invars is None else invars, j.eqns,
                     j.outvars if outvars is None else outvars), closed.consts)


def closure_convert(closed: IR) -> tuple[IR, list]:
    """Turn the constants of `closed` into leading inputs: returns (program with no consts,
    the constant values to pass in front of the original inputs)."""
    j = closed.open
    if not j.constvars:
        return closed, []
    return IR(OpenIR([], [*j.constvars, *j.invars], j.eqns, j.outvars), []), closed.consts


def permute_inputs(closed: IR, perm: Sequence[int]) -> IR:
    """A program whose i-th input is input `perm[i]` of `closed`."""
    return _rewired(closed, invars=[closed.open.invars[p] for p in perm])


def permute_outputs(closed: IR, perm: Sequence[int]) -> IR:
    """A program whose i-th output is output `perm[i]` of `closed`."""
    return _rewired(closed, outvars=[closed.open.outvars[p] for p in perm])


def add_unused_inputs(closed: IR, avals: Sequence[ShapedArray],
                      at: int | None = None) -> IR:
    """A program with extra inputs of the given types (ignored), inserted at position `at`."""
    invars = closed.open.invars
    at = len(invars) if at is None else at
    return _rewired(closed, invars=[*invars[:at], *[Var(a) for a in avals], *invars[at:]])


def split_list(xs: Sequence, sizes: Sequence[int]) -> list[list]:
    """Split `xs` into consecutive pieces of the given sizes (the rest, if any, is last)."""
    out, start = [], 0
    for n in sizes:
        out.append(list(xs[start:start + n]))
        start += n
    out.append(list(xs[start:]))
    return out


# --- jvp ----------------------------------------------------------------------------------------

@_memoized
def jvp_ir(closed: IR, nonzeros: Sequence[bool],
              instantiate: bool | Sequence[bool]) -> tuple[IR, list[bool]]:
    """Forward-mode derivative of a program.

    Returns `(jvp_closed, out_nonzeros)`: `jvp_closed(*primals, *t)` where `t` holds a tangent
    for each input with `nonzeros[i]`, returning `(*primal_outs, *t_out)` with a tangent for each
    output with `out_nonzeros[j]` (structurally nonzero, or forced by `instantiate`).
    """
    nonzeros = [bool(b) for b in nonzeros]
    in_avals = closed.in_avals
    n_out = len(closed.out_avals)
    inst = _inst_list(instantiate, n_out)
    nz_avals = [a for a, nz in zip(in_avals, nonzeros) if nz]
    out_nz_box: list[list[bool]] = []

    def f(*args):
        primals, tans = list(args[:len(in_avals)]), list(args[len(in_avals):])
        it = iter(tans)
        tangents = [next(it) if nz else Zero(a) for a, nz in zip(in_avals, nonzeros)]
        p_out, t_out = jvp_flat(closed, primals, tangents, name="jvp_ir")
        out_nz = [type(t) is not Zero or i for t, i in zip(t_out, inst)]
        out_nz_box.append(out_nz)
        t_out = [zeros_like_aval(t.aval) if type(t) is Zero else t
                 for t, nz in zip(t_out, out_nz) if nz]
        return [*p_out, *t_out]

    jvp_closed = trace_to_ir(f, [*in_avals, *nz_avals], name="jvp_ir")
    return jvp_closed, out_nz_box[-1]


# --- batching -----------------------------------------------------------------------------------

@_memoized
def batch_ir(closed: IR, size: int, in_batched: Sequence[bool],
                instantiate: bool | Sequence[bool]) -> tuple[IR, list[bool]]:
    """Vectorise a program over a leading batch axis of size `size`.

    Inputs with `in_batched[i]` get an extra leading axis; returns `(batched, out_batched)`,
    where outputs with `out_batched[j]` have the batch axis at position 0.
    """
    in_batched = [bool(b) for b in in_batched]
    n_out = len(closed.out_avals)
    inst = _inst_list(instantiate, n_out)
    in_avals = [ShapedArray((size,) + a.shape, a.dtype, a.weak_type) if b else a
                for a, b in zip(closed.in_avals, in_batched)]
    out_b_box: list[list[bool]] = []

    def f(*args):
        outs, bdims = vmap_flat(closed, size, list(args),
                                [0 if b else not_mapped for b in in_batched])
        res, out_b = [], []
        for o, b, i in zip(outs, bdims, inst):
            if b is not_mapped and not i:
                res.append(o)
                out_b.append(False)
            else:
                res.append(bdim_at_front(o, b, size))
                out_b.append(True)
        out_b_box.append(out_b)
        return res

    batched = trace_to_ir(f, in_avals, name="batch_ir")
    return batched, out_b_box[-1]


# --- partial evaluation -------------------------------------------------------------------------

def partial_eval_ir(closed: IR, unknowns: Sequence[bool],
                       instantiate: bool | Sequence[bool]
                       ) -> tuple[IR, IR, list[bool], int]:
    """Split a program into the part computable from its known inputs and the rest.

    Returns `(known, unknown, out_unknowns, num_residuals)`: `known(*known_inputs)` returns
    `(*known_outputs, *residuals)`; `unknown(*residuals, *unknown_inputs)` returns the unknown
    outputs (`out_unknowns[j]`, which includes every output forced by `instantiate`).
    """
    return partial_eval_ir_fwd(closed, unknowns, instantiate)[:4]


@_memoized
def partial_eval_ir_fwd(closed: IR, unknowns: Sequence[bool],
                           instantiate: bool | Sequence[bool]
                           ) -> tuple[IR, IR, list[bool], int, list]:
    """`partial_eval_ir` plus, per residual, the index of the known input it simply forwards
    (None when it is computed). Loops use this to pass loop-invariant residuals once instead of
    stacking one copy per iteration.

    Implementation: the known part is staged by an outer full-staging trace, the unknown part by
    a partial `IRTrace` on top of it whose known values are the outer trace's tracers; those
    that the unknown part reads are the residuals.
    """
    unknowns = [bool(u) for u in unknowns]
    in_avals = closed.in_avals
    n_out = len(closed.out_avals)
    inst = _inst_list(instantiate, n_out)
    known_avals = [a for a, u in zip(in_avals, unknowns) if not u]
    result: dict = {}

    def known_fun(*known_args):
        builder = Builder(partial=True)
        with new_main(IRTrace, builder, name="partial_eval") as main:
            trace = main.trace
            uk_tracers = [trace.new_arg(a) for a, u in zip(in_avals, unknowns) if u]
            it_k, it_u = iter(known_args), iter(uk_tracers)
            args = [next(it_u) if u else next(it_k) for u in unknowns]
            outs = closed(*args)

            def is_unknown(o):
                return (isinstance(o, IRTracer) and o._trace is not None
                        and o._trace.main is main and o.var not in builder.consts)

            out_uk = [is_unknown(o) or i for o, i in zip(outs, inst)]
            uk_outs = []
            for o, uk in zip(outs, out_uk):
                if not uk:
                    continue
                if isinstance(o, IRTracer) and o._trace is not None and o._trace.main is main:
                    uk_outs.append(o)
                else:
                    uk_outs.append(trace.pure(o))
            unknown_closed = builder.build(uk_tracers, uk_outs, check=False)
        # constants of the unknown part that are outer tracers become residuals
        j = unknown_closed.open
        res_vars, res_vals, keep_vars, keep_vals = [], [], [], []
        for v, val in zip(j.constvars, unknown_closed.consts):
            if isinstance(val, Tracer):
                res_vars.append(v)
                res_vals.append(val)
            else:
                keep_vars.append(v)
                keep_vals.append(val)
        unknown = IR(OpenIR(keep_vars, [*res_vars, *j.invars], j.eqns, j.outvars),
                              keep_vals)
        ids = {id(a): i for i, a in enumerate(known_args)}
        fwd = [ids.get(id(r)) for r in res_vals]
        result.update(unknown=unknown, out_uk=out_uk, num_res=len(res_vals), fwd=fwd)
        known_outs = [builder.consts[o.var] if isinstance(o, IRTracer) and o.var in
                      builder.consts else o for o, uk in zip(outs, out_uk) if not uk]
        return [*known_outs, *res_vals]

    known = trace_to_ir(known_fun, known_avals, name="partial_eval")
    return known, result["unknown"], result["out_uk"], result["num_res"], result["fwd"]


# --- transposition ------------------------------------------------------------------------------

@_memoized
def transpose_ir(closed: IR, linear: Sequence[bool]) -> IR:
    """The transpose of a program that is linear in the inputs flagged `linear`.

    The result takes `(*non_linear_inputs, *output_cotangents)` and returns one cotangent per
    linear input (zeros where the cotangent is structurally zero).
    """
    linear = [bool(b) for b in linear]
    in_avals = closed.in_avals
    out_avals = closed.out_avals
    nl_avals = [a for a, lin in zip(in_avals, linear) if not lin]

    def f(*args):
        nl, cts = args[:len(nl_avals)], args[len(nl_avals):]
        it = iter(nl)
        invals = [UndefPrimal(a) if lin else next(it) for a, lin in zip(in_avals, linear)]
        cts_in = backward_pass(closed, invals, list(cts))
        return [zeros_like_aval(a) if ct is None or type(ct) is Zero else ct
                for ct, a, lin in zip(cts_in, in_avals, linear) if lin]

    return trace_to_ir(f, [*nl_avals, *[a.strip_weak_type() for a in out_avals]],
                          name="transpose_ir")
