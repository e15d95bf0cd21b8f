"""The call primitive `jit_p` with all its rules (its lowering included).

`backend.compile.compile_closed` turns an optimised program into generated code once per
program object (re-exported here); `_derive` caches the programs built from it by the rules
(jvp, batching, partial evaluation, transposition). `Lowered` (what
`jit(f).lower(...)` returns), `_OnDevice` and `_hoist_tracer_consts` are the lowering helpers of
the jit object. The user-facing `jit`, its per-function compile cache and the cache-miss
explanations live in `api.py`.
"""
from __future__ import annotations

import weakref
from typing import Any, Callable

import numpy as np

from ... import core
from ...backend import constants_on, cupy_backend
from ...backend.compile import _compiled as _compiled  # noqa: F401  (re-exported for jit)
from ...backend.compile import compile_closed
from ...backend.fusion import register_c_expr
from ...backend.numpy_codegen import call_emitter, register_emitter
from ...core import NOT_APPLICABLE, Primitive, Tracer, Zero
from ...ir import IR, Eqn, OpenIR, eqn_sections, ir_display, ir_to_dot
from ...primitives.batching import moveaxis
from ...staging import _UNKNOWN, IRTracer
from .. import program as irt
from .passes import optimize

# --- programs derived by the rules, cached beside the program ---------------------------------

_derived: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _derive(closed: IR, key: tuple, build: Callable[[], Any]) -> Any:
    per = _derived.get(closed)
    if per is None:
        per = _derived[closed] = {}
    got = per.get(key)
    if got is None:
        got = per[key] = build()
    return got


# --- the call primitive -----------------------------------------------------------------------

jit_p = Primitive("jit", multiple_results=True)


def _jit_impl(*args, jaxpr: IR, name: str):
    gpu = any(hasattr(a, "__cuda_array_interface__") for a in args)
    return compile_closed(jaxpr, gpu=gpu).fn(*args)


def _jit_jvp(primals, tangents, *, jaxpr, name):
    nonzeros = tuple(type(t) is not Zero for t in tangents)

    def build():
        jvp_closed, out_nz = irt.jvp_ir(jaxpr, nonzeros, instantiate=False)
        return optimize(jvp_closed), out_nz
    jvp_closed, out_nz = _derive(jaxpr, ("jvp", nonzeros), build)
    outs = jit_p.bind(*primals, *[t for t in tangents if type(t) is not Zero],
                      jaxpr=jvp_closed, name=f"jvp({name})")
    n = len(jaxpr.out_avals)
    it = iter(outs[n:])
    t_out = [next(it) if nz else Zero(a) for nz, a in zip(out_nz, jaxpr.out_avals)]
    return outs[:n], t_out


def _jit_batch(size, xs, bdims, *, jaxpr, name):
    in_batched = tuple(b is not core.not_mapped for b in bdims)
    xs = [moveaxis(x, b, 0) if b is not core.not_mapped and b != 0 else x
          for x, b in zip(xs, bdims)]

    def build():
        batched, out_b = irt.batch_ir(jaxpr, size, in_batched, instantiate=False)
        return optimize(batched), out_b
    batched, out_b = _derive(jaxpr, ("batch", size, in_batched), build)
    outs = jit_p.bind(*xs, jaxpr=batched, name=f"vmap({name})")
    return outs, [0 if b else core.not_mapped for b in out_b]


def _jit_partial_eval(trace, tracers, known, *, jaxpr, name):
    """Some inputs known (values), some unknown (staged): run the known part now as one
    compiled call, stage one `jit` call on the residuals and the unknown inputs."""
    unknowns = tuple(k is _UNKNOWN for k in known)
    if not any(unknowns):
        return jit_p.bind(*known, jaxpr=jaxpr, name=name)

    def build():
        k, u, out_uk, n_res = irt.partial_eval_ir(jaxpr, unknowns, instantiate=False)
        return optimize(k), optimize(u), out_uk, n_res
    k_closed, u_closed, out_uk, n_res = _derive(jaxpr, ("pe", unknowns), build)
    k_outs = jit_p.bind(*[k for k in known if k is not _UNKNOWN], jaxpr=k_closed,
                        name=f"known({name})")
    n_known = len(k_outs) - n_res
    residuals = k_outs[n_known:]
    in_tracers = [trace.pure(r) for r in residuals]
    in_tracers += [t for t, u in zip(tracers, unknowns) if u]
    builder = trace.main.global_data
    outs = [IRTracer(trace, a) for a in u_closed.out_avals]
    builder.eqns.append(Eqn(jit_p, [t.var for t in in_tracers],
                            {"jaxpr": u_closed, "name": f"unknown({name})"},
                            [o.var for o in outs]))
    it_k, it_u = iter(k_outs[:n_known]), iter(outs)
    return [next(it_u) if uk else next(it_k) for uk in out_uk]


def _jit_transpose(cts, *invals, jaxpr, name):
    linear = tuple(core.is_undefined_primal(x) for x in invals)

    def build():
        return optimize(irt.transpose_ir(jaxpr, linear))
    t_closed = _derive(jaxpr, ("transpose", linear), build)
    out_avals = jaxpr.out_avals
    cts = [np.zeros(a.shape, a.dtype) if type(c) is Zero else c for c, a in zip(cts, out_avals)]
    nl = [x for x, lin in zip(invals, linear) if not lin]
    outs = iter(jit_p.bind(*nl, *cts, jaxpr=t_closed, name=f"transpose({name})"))
    return [next(outs) if lin else None for lin in linear]


jit_p.impl = _jit_impl
jit_p.abstract_eval = lambda *avals, jaxpr, name: list(jaxpr.out_avals)
jit_p.jvp = _jit_jvp
jit_p.transpose = _jit_transpose
jit_p.batch = _jit_batch
jit_p.partial_eval = _jit_partial_eval
# a nested call: `optimize` inlines it; otherwise the generated code calls its compiled code
register_emitter(jit_p, call_emitter(lambda jaxpr, name: compile_closed(jaxpr).fn))
register_c_expr(jit_p, NOT_APPLICABLE)  # never fused into a GPU kernel


# --- lowering helpers of the jit object -------------------------------------------------------

class Lowered:
    """What `jit(f).lower(*args)` returns: the optimised IR (`.ir`), the generated source
    (`.source`) and, for the GPU, the fused kernels (`.kernels`, each with its CUDA C in
    `.source`; empty on the CPU)."""

    def __init__(self, ir: IR, source: str, raw_ir: IR, kernels=()):
        self.ir, self.source, self.raw_ir = ir, source, raw_ir
        self.kernels = list(kernels)

    def __repr__(self) -> str:
        return f"Lowered(ir=<{len(self.ir.eqns)} equations>)\n{self.source}"

    def sections(self) -> list:
        """The cluster of each equation of `.ir` in the pictures: its fused kernel ("fused
        kernel 0") when the lowering made kernels, else its part of a grad program ("forward",
        "backward", matched through `.raw_ir`), else None."""
        raw = self.raw_ir.open
        of = {v: f"fused kernel {i}" for i, k in enumerate(self.kernels) for e in k.eqns
              for v in e.out_binders} or {
            v: s for e, s in zip(raw.eqns, eqn_sections(raw)) for v in e.out_binders}
        return [next((of[v] for v in e.out_binders if v in of), None) for e in self.ir.eqns]

    def to_dot(self, verbose: bool = False, name: str = "g") -> str:
        """The optimised program's picture (`IR.to_dot`), its fused kernels or its forward and
        backward parts as clusters (`sections`)."""
        return ir_to_dot(self.ir.open, verbose, name, self.sections())

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {**ir_display(self.ir.open, self.sections()), "text/plain": repr(self)}


class _OnDevice:
    """GPU code behind a jitted call: host (NumPy) arguments are moved to the device first
    (the caller asked for `device="gpu"`); device arrays pass through."""

    __slots__ = ("compiled", "index", "source", "kernels")

    def __init__(self, compiled, index: int):
        self.compiled, self.index = compiled, index
        self.source, self.kernels = compiled.source, compiled.kernels

    def fn(self, *args):
        args = [a if hasattr(a, "__cuda_array_interface__") else
                cupy_backend.to_device(a, self.index) for a in args]
        with constants_on(args):  # constants made or moved while it runs go to its device
            return self.compiled.fn(*args)


def _hoist_tracer_consts(closed: IR) -> tuple[IR, list]:
    """Constants that are tracers of an outer transform become leading inputs."""
    j = closed.open
    tv, tvals, cv, cvals = [], [], [], []
    for v, c in zip(j.constvars, closed.consts):
        (tv if isinstance(c, Tracer) else cv).append(v)
        (tvals if isinstance(c, Tracer) else cvals).append(c)
    if not tv:
        return closed, []
    return IR(OpenIR(cv, [*tv, *j.invars], j.eqns, j.outvars), cvals), tvals
