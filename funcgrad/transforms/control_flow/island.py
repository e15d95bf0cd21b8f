"""Eager islands: a staged equation that runs a differentiable Python function when the program
runs, on the concrete values it then has.

`island_p(*args; fun, out_avals, linear)` calls `fun(*args)` (a function of arrays written with
funcgrad, returning a list). Transforms that need values known only at run time use it: reverse
mode of a `while_loop` whose trip count depends on staged values (`while_loop.py`) records the trip
count when the compiled program runs, not when it is traced. Every rule is itself an island
built from the eager transforms -- jvp runs `jvp_flat` of `fun`, transpose runs `vjp_flat` (for
the inputs marked `linear`, in which `fun` is linear), batching runs `vmap_flat` -- so islands
compose with every transform, at eager speed inside the compiled program.
"""
from __future__ import annotations

import re
from typing import Callable

from ...avals import ShapedArray, is_float
from ...backend import get_array_module
from ...backend.fusion import register_c_expr
from ...backend.numpy_codegen import register_emitter
from ...core import NOT_APPLICABLE, Primitive, Zero, get_aval_of, is_undefined_primal
from ...primitives.batching import bdim_at_front
from ..autodiff import vjp_flat
from ..jvp import jvp_flat
from ..vmap import vmap_flat

island_p = Primitive("island", multiple_results=True)


class IslandFun:
    """The function an island runs, named for the IR printer (`island[fun=while_tangents]`)."""

    __slots__ = ("fn", "name")

    def __init__(self, fn: Callable, name: str):
        self.fn, self.name = fn, name

    def __call__(self, *args):
        return list(self.fn(*args))

    def __repr__(self) -> str:
        return self.name


def island(fn: Callable, name: str, args: list, out_avals: list, linear: list) -> list:
    return island_p.bind(*args, fun=IslandFun(fn, name), out_avals=tuple(out_avals),
                         linear=tuple(linear))


def _zeros(aval: ShapedArray, like: list):
    return get_array_module(*like).zeros(aval.shape, aval.dtype)


def _float_outs(outs: list, out_avals: tuple) -> list:
    return [o for o, a in zip(outs, out_avals) if is_float(a.dtype)]


def _island_jvp(primals, tangents, *, fun, out_avals, linear):
    outs = island_p.bind(*primals, fun=fun, out_avals=out_avals, linear=linear)
    nz = [type(t) is not Zero and is_float(get_aval_of(p).dtype)
          for p, t in zip(primals, tangents)]
    t_avals = [a for a in out_avals if is_float(a.dtype)]
    if not any(nz) or not t_avals:
        return outs, [Zero(a) for a in out_avals]
    n = len(primals)

    def tangents_of(*a):  # (primals, nonzero tangents) -> tangents of the float outputs
        ps, ts = list(a[:n]), iter(a[n:])
        dx = [next(ts) if z else Zero(get_aval_of(p)) for p, z in zip(ps, nz)]
        _, touts = jvp_flat(fun, ps, dx)
        return [_zeros(t.aval, ps) if type(t) is Zero else t
                for t in _float_outs(touts, out_avals)]

    t_in = [t for t, z in zip(tangents, nz) if z]
    t_out = iter(island(tangents_of, f"jvp({fun})", [*primals, *t_in], t_avals,
                        [False] * n + [True] * len(t_in)))
    return outs, [next(t_out) if is_float(a.dtype) else Zero(a) for a in out_avals]


def _island_transpose(cts, *args, fun, out_avals, linear):
    undef = [is_undefined_primal(a) for a in args]
    if any(u and not lin for u, lin in zip(undef, linear)):
        raise NotImplementedError(f"island {fun}: transposed in an input it is not linear in")
    known = [a for a, u in zip(args, undef) if not u]
    lin_avals = [a.aval for a, u in zip(args, undef) if u]
    cts = [_zeros(a, known) if type(c) is Zero else c for c, a in zip(cts, out_avals)]
    nk = len(known)

    def cotangents_of(*a):  # (known inputs, output cotangents) -> input cotangents
        kn, cs = a[:nk], list(a[nk:])

        def f_lin(*x):
            xs, ks = iter(x), iter(kn)
            return fun(*[next(xs) if u else next(ks) for u in undef])

        _, f_vjp = vjp_flat(f_lin, [_zeros(av, kn) for av in lin_avals])
        return [_zeros(av, kn) if type(c) is Zero else c for c, av in zip(f_vjp(cs), lin_avals)]

    outs = iter(island(cotangents_of, f"transpose({fun})", [*known, *cts], lin_avals,
                       [False] * nk + [True] * len(cts)))
    return [next(outs) if u else None for u in undef]


def _island_batch(size, xs, bdims, *, fun, out_avals, linear):
    axes = list(bdims)

    def batched(*a):
        outs, out_b = vmap_flat(fun, size, list(a), axes)
        return [bdim_at_front(o, b, size) for o, b in zip(outs, out_b)]

    avals = [ShapedArray((size, *a.shape), a.dtype, a.weak_type) for a in out_avals]
    return island(batched, f"vmap({fun})", list(xs), avals, list(linear)), [0] * len(avals)


island_p.impl = lambda *args, fun, out_avals, linear: fun(*args)
island_p.abstract_eval = lambda *avals, fun, out_avals, linear: list(out_avals)
island_p.jvp = _island_jvp
island_p.transpose = _island_transpose
island_p.batch = _island_batch
register_c_expr(island_p, NOT_APPLICABLE)  # never fused into a GPU kernel


def _island_emit(eqn, args, names):  # a call named for the function it runs
    fun = eqn.params["fun"]
    name = names.obj(fun, "_" + re.sub(r"[^0-9a-zA-Z]+", "_", fun.name))
    return f"{name}({', '.join(args)})", "call"


register_emitter(island_p, _island_emit)
