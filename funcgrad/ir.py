"""The typed IR: variables, literals, equations and programs, plus its checker and evaluator.

Printing lives in `funcgrad/pretty.py`; building (tracing Python into IR) in `funcgrad/staging.py`.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .avals import ShapedArray, get_aval
from .core import Primitive, bind


class Var:
    """A variable of the IR, typed by its aval. Identity is object identity."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval


class Lit:
    """A scalar constant inlined into an equation."""

    __slots__ = ("val", "aval")

    def __init__(self, val: Any):
        self.aval = get_aval(val)
        self.val = val


Atom = Var | Lit


class Eqn(NamedTuple):
    prim: Primitive
    inputs: list  # list[Atom]
    params: dict
    out_binders: list  # list[Var]


class Jaxpr:
    """A program in A-normal form: `{ lambda constvars ; invars . let eqns in (outvars) }`."""

    __slots__ = ("constvars", "invars", "eqns", "outvars")

    def __init__(self, constvars: list[Var], invars: list[Var], eqns: list[Eqn], outvars: list):
        self.constvars, self.invars, self.eqns, self.outvars = constvars, invars, eqns, outvars

    in_avals = property(lambda self: [v.aval for v in self.invars])
    out_avals = property(lambda self: [v.aval for v in self.outvars])

    def __str__(self) -> str:
        from .pretty import pp_jaxpr
        return pp_jaxpr(self)

    __repr__ = __str__


class ClosedJaxpr:
    """A Jaxpr together with the values of its constvars. `make_ir` returns one of these."""

    __slots__ = ("jaxpr", "consts", "__weakref__")

    def __init__(self, jaxpr: Jaxpr, consts: list):
        assert len(jaxpr.constvars) == len(consts)
        self.jaxpr, self.consts = jaxpr, list(consts)

    eqns = property(lambda self: self.jaxpr.eqns)
    in_avals = property(lambda self: self.jaxpr.in_avals)
    out_avals = property(lambda self: self.jaxpr.out_avals)

    def __call__(self, *args: Any) -> list:
        return eval_jaxpr(self.jaxpr, self.consts, args)

    def __str__(self) -> str:
        from .pretty import pp_jaxpr
        return pp_jaxpr(self.jaxpr)

    __repr__ = __str__

    def to_dot(self, verbose: bool = False, name: str = "g") -> str:
        """Graphviz DOT text: values as orange ellipses, equations as light-blue boxes."""
        from .pretty import jaxpr_to_dot
        return jaxpr_to_dot(self.jaxpr, verbose=verbose, name=name)

    def _repr_svg_(self) -> str | None:
        from .pretty import dot_to_svg
        return dot_to_svg(self.to_dot())


IR = ClosedJaxpr


# --- evaluation -------------------------------------------------------------------------------

def eval_jaxpr(jaxpr: Jaxpr, consts: list, args: list) -> list:
    """Interpret `jaxpr` by binding each equation's primitive (so it works under any trace)."""
    env: dict[Var, Any] = {}

    def read(x):
        return x.val if type(x) is Lit else env[x]

    for v, val in zip(jaxpr.constvars, consts):
        env[v] = val
    for v, val in zip(jaxpr.invars, args):
        env[v] = val
    for eqn in jaxpr.eqns:
        outs = bind(eqn.prim, *[read(x) for x in eqn.inputs], **eqn.params)
        for v, val in zip(eqn.out_binders, outs):
            env[v] = val
    return [read(x) for x in jaxpr.outvars]


# --- type checking ----------------------------------------------------------------------------

class IRTypeError(Exception):
    pass


def typecheck_jaxpr(jaxpr: Jaxpr) -> None:
    """Check that every variable is bound once before use and every equation's types agree."""
    env: set[Var] = set()
    for v in [*jaxpr.constvars, *jaxpr.invars]:
        if v in env:
            raise IRTypeError(f"variable bound twice: {v.aval.str_short()}")
        env.add(v)
    for i, eqn in enumerate(jaxpr.eqns):
        for x in eqn.inputs:
            if type(x) is Var and x not in env:
                raise IRTypeError(f"equation {i} ({eqn.prim}) reads an unbound variable")
        avals_in = [x.aval for x in eqn.inputs]
        avals_out = eqn.prim.abstract_eval(*avals_in, **eqn.params)
        if len(avals_out) != len(eqn.out_binders):
            raise IRTypeError(f"equation {i} ({eqn.prim}): {len(avals_out)} outputs expected, "
                              f"{len(eqn.out_binders)} bound")
        for v, a in zip(eqn.out_binders, avals_out):
            if (v.aval.shape, v.aval.dtype) != (a.shape, a.dtype):
                raise IRTypeError(f"equation {i} ({eqn.prim}) binds {v.aval.str_short()} but "
                                  f"produces {a.str_short()}")
            if v in env:
                raise IRTypeError(f"equation {i} ({eqn.prim}) rebinds a variable")
            env.add(v)
    for x in jaxpr.outvars:
        if type(x) is Var and x not in env:
            raise IRTypeError("an output reads an unbound variable")


def jaxpr_as_fun(closed: ClosedJaxpr):
    return lambda *args: eval_jaxpr(closed.jaxpr, closed.consts, list(args))


def is_scalar_literal(x: Any) -> bool:
    return (isinstance(x, (bool, int, float, complex, np.generic))
            or (isinstance(x, np.ndarray) and x.ndim == 0))
