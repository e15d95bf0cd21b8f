"""Forward mode: JVPTrace/JVPTracer and `jvp_flat`. Tangents may be symbolic `Zero`s."""
from __future__ import annotations

from typing import Callable

from ..core import Trace, Tracer, Zero, check_below, full_raise, get_aval_of, new_main
from ..errors import _MSG_DROPS_DERIVATIVE, ConcretizationError, FuncgradError, user_frame

_new = object.__new__


class JVPTracer(Tracer):
    __slots__ = ("primal", "tangent", "_aval")

    def __init__(self, trace: Trace, primal, tangent):
        self._trace = trace
        self.primal = primal
        self.tangent = tangent
        self._aval = None

    @property
    def aval(self):
        aval = self._aval
        if aval is None:
            aval = self._aval = get_aval_of(self.primal)
        return aval

    def concrete_value(self):
        p = self.primal
        return p.concrete_value() if isinstance(p, Tracer) else p

    def numeric_value(self):
        if type(self.tangent) is not Zero:  # the number would be a constant: no derivative
            raise ConcretizationError(_MSG_DROPS_DERIVATIVE.format(
                name=self._trace.main.name, aval=self.aval.str_short(), where=user_frame()))
        p = self.primal
        return p.numeric_value() if isinstance(p, Tracer) else p


class JVPTrace(Trace):
    def pure(self, val):  # a constant: a zero tangent (slots filled directly: a hot path)
        zero = _new(Zero)
        zero.aval = get_aval_of(val)
        t = _new(JVPTracer)
        t._trace, t.primal, t.tangent, t._aval = self, val, zero, None
        return t

    lift = pure

    def process_primitive(self, prim, args, params):  # (see Trace.process_primitive)
        primals, tangents, nonzero = [], [], False
        for t in args:  # a plain loop: cheaper than comprehensions on short lists
            if type(t) is JVPTracer and t._trace is self:
                primals.append(t.primal)
                t = t.tangent
                tangents.append(t)
                if type(t) is not Zero:
                    nonzero = True
            else:  # a value from below: a constant, with a zero tangent
                primals.append(check_below(t))
                tangents.append(Zero(get_aval_of(t)))
        if not nonzero:  # no input carries a tangent: just apply the primitive
            outs = prim.bind1(*primals, **params)
            return [self.pure(o) for o in (outs if prim.multiple_results else [outs])]
        rule = prim.jvp
        if rule is None or isinstance(rule, str):
            raise FuncgradError(f"`{self.main.name}`: primitive {prim.name} has no derivative "
                                f"rule, at {user_frame()}")
        primals_out, tangents_out = rule(primals, tangents, **params)
        if len(primals_out) == 1:  # the common case: no zip, no comprehension, no __init__
            t = _new(JVPTracer)
            t._trace, t.primal, t.tangent, t._aval = self, primals_out[0], tangents_out[0], None
            return [t]
        return [JVPTracer(self, p, t) for p, t in zip(primals_out, tangents_out)]


def jvp_flat(f: Callable, primals: list, tangents: list, name: str = "jvp",
             site: tuple | None = None) -> tuple[list, list]:
    """Push `tangents` forward through `f` (flat lists in and out) at `primals`."""
    with new_main(JVPTrace, name=name, site=site) as main:
        trace = main.live_trace
        primals_out, tangents_out = [], []
        for o in f(*[JVPTracer(trace, x, t) for x, t in zip(primals, tangents)]):
            if not (type(o) is JVPTracer and o._trace is trace):
                o = full_raise(trace, o)
            primals_out.append(o.primal)
            tangents_out.append(o.tangent)
        return primals_out, tangents_out
