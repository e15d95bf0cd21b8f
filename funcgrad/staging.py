"""Staging: a trace that records primitives into IR instead of running them, and `make_ir`.

The same trace serves two masters: `make_ir`/`jit` stage *everything* (a dynamic main), and
`linearize` stages only the tangent computation (a non-dynamic main whose known inputs are
concrete values or lower-level tracers, which become constants of the linear program).
"""
from __future__ import annotations

import bisect
import functools
from typing import Any, Callable

import numpy as np

from . import core
from .avals import _PY_SCALAR_AVAL as _SCALAR_AVAL
from .avals import ShapedArray, get_aval
from .core import (
    DEBUG_NANS,
    NAN_SOURCE,
    Trace,
    Tracer,
    Zero,
    check_below,
    get_aval_of,
    new_main,
    user_frame,
)
from .errors import ShapeError
from .ir import IR, Eqn, Lit, OpenIR, Var, is_scalar_literal, typecheck_ir
from .pytree import flatten_fun, partial_args, tree_flatten

CHECK_IR = [True]  # typecheck every IR `make_ir`/`jit` build; tests also check linearize's


class IRTracer(Tracer):
    __slots__ = ("var",)

    def __init__(self, trace: Trace, aval: ShapedArray):
        self._trace = trace
        self.var = Var(aval)

    @property
    def aval(self) -> ShapedArray:
        return self.var.aval


def live_eqn_indices(eqns: list[Eqn], outvars: list) -> list[int]:
    """Indices (ascending) of the equations some output of which is read by a later live
    equation or is among `outvars`: what dead-code removal keeps (every primitive is pure)."""
    live, kept = {x for x in outvars if type(x) is Var}, []
    for i in reversed(range(len(eqns))):
        if any(v in live for v in eqns[i].out_binders):
            kept.append(i)
            live.update(x for x in eqns[i].inputs if type(x) is Var)
    return kept[::-1]


class Builder:
    """Accumulates equations and constants while a function is staged."""

    __slots__ = ("eqns", "consts", "const_ids", "partial", "regions")

    def __init__(self, partial: bool = False):
        self.eqns: list[Eqn] = []
        self.regions: list[tuple[str, int, int]] = []  # see `region`
        self.consts: dict[Var, Any] = {}
        self.const_ids: dict[int, Var] = {}  # id of a constant value -> its Var
        self.partial = partial

    def build(self, in_tracers: list[IRTracer], outs: list, check: bool = True,
              dce: bool = False) -> IR:
        """Close over the recorded equations; inline scalar constants as literals; with `dce`,
        drop the equations whose outputs nothing reads (every primitive is pure)."""
        lits = {v: Lit(val) for v, val in self.consts.items() if type(v) is Var and not
                isinstance(val, Tracer) and is_scalar_literal(val)} if self.consts else None
        out_atoms = []
        for o in outs:
            if isinstance(o, IRTracer):
                out_atoms.append(o.var)
            else:  # a known output (or a symbolic zero): a constant of the program
                t = self.new_const(o if not isinstance(o, Zero) else _zeros(o.aval), o)
                out_atoms.append(t.var)
        eqns, regions = self.eqns, self.regions
        if dce:
            kept = live_eqn_indices(eqns, out_atoms)
            new_at = functools.partial(bisect.bisect_left, kept)  # a region's bounds after DCE
            regions = [(r, new_at(a), new_at(b)) for r, a, b in regions if new_at(a) < new_at(b)]
            eqns = [eqns[i] for i in kept]
        if lits:
            eqns = [e._replace(inputs=[lits.get(x, x) if type(x) is Var else x for x in e.inputs])
                    for e in eqns]
            out_atoms = [lits.get(x, x) for x in out_atoms]
        constvars = [v for v in self.consts if type(v) is Var and v not in (lits or ())
                     ] if self.consts else []
        if constvars:  # keep only the constants that are read (a scalar-only program has none)
            used = {x for e in eqns for x in e.inputs if type(x) is Var}
            used.update(x for x in out_atoms if type(x) is Var)
            constvars = [v for v in constvars if v in used]
        jaxpr = OpenIR(constvars, [t.var for t in in_tracers], eqns, out_atoms, regions)
        if check and CHECK_IR[0]:
            typecheck_ir(jaxpr)
        return IR(jaxpr, [self.consts[v] for v in constvars] if constvars else constvars)

    def new_const(self, val: Any, orig: Any = None) -> IRTracer:
        """A constant of the program holding `val` (`orig`: the symbolic zero it stands for)."""
        t = IRTracer(None, get_aval(val) if not isinstance(orig, Zero) else orig.aval)
        self.consts[t.var] = val
        return t


class region:
    """`with region("backward"):` marks the equations staged meanwhile into each program being
    built (by `make_ir`, `jit` or a body's tracing; not linearize's) as one labelled region of
    it (`OpenIR.regions`), which the pictures of the program draw as a cluster. (A class, not a
    generator: every eager `grad` call enters one.)"""

    __slots__ = ("label", "marks")

    def __init__(self, label: str):
        self.label = label

    def __enter__(self) -> None:
        stack = core.trace_stack  # (eager grad: only the eval level; no comprehension then)
        self.marks = [(b, len(b.eqns)) for m in stack[1:]
                      if type(b := m.global_data) is Builder and not b.partial] if len(
            stack) > 1 else ()

    def __exit__(self, *exc) -> None:
        for b, n in self.marks:
            b.regions += [(self.label, n, len(b.eqns))] if len(b.eqns) > n else []


def _zeros(aval: ShapedArray):
    return np.zeros(aval.shape, aval.dtype)


class IRTrace(Trace):
    """Records each primitive as an equation; values from outside become constants."""

    def new_arg(self, aval: ShapedArray) -> IRTracer:
        return IRTracer(self, aval)

    def pure(self, val: Any) -> IRTracer:
        return self._tracer(self.atom(val))

    def _tracer(self, atom: Var | Lit) -> IRTracer:
        t = _new(IRTracer)
        t._trace, t.var = self, atom
        return t

    lift = pure

    def atom(self, val: Any) -> Var | Lit:
        """The program's atom for a value from below: a literal inlined into equations
        (scalars), else a constant of the program (one per array object)."""
        builder: Builder = self.main.global_data
        tv = type(val)
        if tv in _SCALAR_TYPES or not isinstance(val, Tracer) and is_scalar_literal(val):
            v = _new(Lit)  # inlined into equations
            v.val, v.aval = val, _SCALAR_AVAL.get(tv) or get_aval(val)
        elif (v := builder.const_ids.get(id(val))) is None or builder.consts[v] is not val:
            builder.const_ids[id(val)] = v = Var(get_aval_of(check_below(val)))
        builder.consts[v] = val  # (a Lit: known to partial evaluation, never a constvar)
        return v

    def process_primitive(self, prim, args, params):  # (see Trace.process_primitive)
        builder: Builder = self.main.global_data
        ins, avals_in = [], []
        for t in args:  # a plain loop: cheaper than comprehensions on short lists
            v = t.var if type(t) is IRTracer and t._trace is self else self.atom(t)
            ins.append(v)
            avals_in.append(v.aval)
        if builder.partial and prim.partial_eval is not None:
            known = [builder.consts.get(v, _UNKNOWN) for v in ins]
            if any(k is not _UNKNOWN for k in known):
                return prim.partial_eval(self, list(map(self._tracer, ins)), known, **params)
        try:
            avals_out = prim.abstract_eval(*avals_in, **params)
        except ShapeError as e:  # say where in the user's code (eager errors show it anyway)
            if " at " in str(e):
                raise
            raise ShapeError(f"{e}, at {user_frame()}") from None
        if len(avals_out) == 1:  # the common case, built with the C-level constructors
            var = _new(Var)
            var.aval = avals_out[0]
            out = _new(IRTracer)
            out._trace, out.var = self, var
            outs = [out]
            builder.eqns.append(_new_tuple(Eqn, (prim, ins, params, [var])))
        else:
            outs = [IRTracer(self, a) for a in avals_out]
            builder.eqns.append(Eqn(prim, ins, params, [o.var for o in outs]))
        if DEBUG_NANS[0]:  # remember the user's line, to name it if reverse mode makes a NaN
            if len(NAN_SOURCE) > 100_000:
                NAN_SOURCE.clear()
            NAN_SOURCE[outs[0].var] = user_frame()
        return outs


_UNKNOWN = object()
_new, _new_tuple = object.__new__, tuple.__new__  # skip the Python-level __init__/__new__
_SCALAR_TYPES = frozenset({float, int, bool, complex, np.float64, np.float32})


def trace_to_ir(f_flat: Callable, in_avals: list[ShapedArray], name: str = "make_ir",
                check: bool = True, dce: bool = False) -> IR:
    """Stage `f_flat` (flat list of arrays in, flat list out) into a closed program."""
    builder = Builder()
    with new_main(IRTrace, builder, name=name, dynamic=True) as main:
        trace = main.trace
        in_tracers = [trace.new_arg(a) for a in in_avals]
        outs = f_flat(*in_tracers)
        outs = [o if isinstance(o, IRTracer) and o._trace.main is main else trace.pure(o)
                if isinstance(o, Tracer) else o for o in outs]
        return builder.build(in_tracers, outs, check, dce)


def make_ir(fun: Callable, static_argnums: int | tuple[int, ...] = (),
            optimize: bool = True) -> Callable[..., IR]:
    """Returns a function that stages `fun` at the given arguments and returns its IR.

    By default (`optimize=True`) the program is printed without its dead equations (those
    whose results nothing reads), unlike JAX's make_jaxpr: make_ir is for reading, and
    `make_ir(grad(f))` would otherwise show the forward pass's unused values (the loss itself,
    intermediate tangents) beside the gradient. Every primitive is pure, so nothing observable
    is lost, and `jit` drops the same equations before running. Nothing else is rewritten.
    `optimize=False` returns the program exactly as traced.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> print(fg.make_ir(fnp.sin)(np.ones(3, np.float32)))
        { lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)

    def make_ir_f(*args: Any) -> IR:
        static = set(a % len(args) for a in static_argnums) if args else set()
        f_dyn, dyn = partial_args(fun, args, [i for i in range(len(args)) if i not in static])
        leaves, in_tree = tree_flatten(dyn)
        f_flat, _ = flatten_fun(f_dyn, in_tree)
        return trace_to_ir(f_flat, [get_aval(x) for x in leaves], dce=optimize)

    return make_ir_f

