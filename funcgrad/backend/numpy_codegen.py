"""CPU lowering: an (optimised) closed program becomes Python source calling NumPy.

One line per equation, written by the primitive's entry in the emitter table `emitters`, which
each primitive's block fills with `register_emitter` (this module knows no primitive): NumPy
ufuncs are called directly (`ufunc_emitter`), writing into a dead intermediate buffer with `out=`
when one of the right shape and dtype is free; views, dtype conversions, reductions, matmuls
and the compiled sub-programs of control flow have their own entries. A primitive without an
entry (or whose entry declines an equation by returning None) calls its impl, bound once with
its params as a local name. Nothing dispatches through `bind` at call time. The source is kept
for `jit(f).lower(x).source`.

A buffer may be overwritten only if this program allocated it (the output of a ufunc, matmul,
reduction or dtype conversion), nothing else reads it later, it is not an output, and no view of
it was ever taken (it was never the input of a reshape, transpose, broadcast, slice, ...).
Donated inputs (`donate_argnums`) count as allocated by the program.

Broadcasts (primitives registered with `register_broadcast`) feeding a ufunc are left to NumPy's
own broadcasting (a scalar stays a scalar). Compiling a program once per program object is
`compile.py`; the GPU's lowering is `cupy_codegen.py`.

Example (the source of `jit(lambda x, y: fnp.sin(x) * y + 1.0)` at two f32[3] arrays; `_l7`
is the float32 literal 1.0, bound once in the function's namespace):

    def jitted(v1, v2):
        v4 = _sin_3(v1)
        v6 = _multiply_5(v4, v2, out=v4)
        v9 = _add_8(v6, _l7, out=v6)
        return [v9]
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ..core import Primitive
from ..ir import IR, Eqn, Lit, Var, sub_programs

# An emitter is fn(eqn, args, names) -> (expression, kind), or None to call the impl instead.
# `args` are the operands' names in the source; `names.obj(x, prefix)` binds a Python object as
# a name. Kinds: "ufunc" (a fresh result; the expression is a call left open for `out=`),
# "fresh" (a fresh result), "view" (may share memory with an operand), "alias" (is an operand),
# "call" (anything else).
Emitter = Callable[[Eqn, list, "_Names"], "tuple[str, str] | None"]
emitters: dict[Primitive, Emitter] = {}
# primitive -> fn(eqn) -> its operand's shape with size-1 axes inserted at the output's rank:
# the equation is that reshape followed by NumPy broadcasting (an implicit broadcast)
broadcasts: dict[Primitive, Callable[[Eqn], tuple]] = {}
# primitive -> the first operand that NumPy may broadcast for it (ufuncs: 0)
broadcasting: dict[Primitive, int] = {}
_VIEW_FREE = {"ufunc", "fresh"}  # kinds whose results this program owns


def register_emitter(prim: Primitive, emit: Emitter, broadcasts_from: int | None = None) -> None:
    """Lower `prim` with `emit`; `broadcasts_from`: operands from that index on may arrive
    un-broadcast (the emitted call broadcasts them as NumPy does)."""
    emitters[prim] = emit
    if broadcasts_from is not None:
        broadcasting[prim] = broadcasts_from


def register_broadcast(prim: Primitive, operand_shape: Callable[[Eqn], tuple]) -> None:
    """Mark `prim` as a broadcast that NumPy's implicit broadcasting can stand in for."""
    broadcasts[prim] = operand_shape


def ufunc_emitter(uf: np.ufunc) -> Emitter:
    """The emitter calling the NumPy ufunc `uf` on the operands (with `out=` reuse)."""
    return lambda eqn, args, names: (f"{names.ufunc(uf)}({', '.join(args)}", "ufunc")


def call_emitter(make: Callable[..., Callable]) -> Emitter:
    """The emitter calling `make(**params)` (a Python function, built once per equation)."""
    return lambda eqn, args, names: (
        f"{names.obj(make(**eqn.params), f'_{eqn.prim.name}')}({', '.join(args)})", "call")


class Compiled:
    """A lowered program: `fn(*args) -> list of outputs`, plus its `source`."""

    # (it holds no reference to the program itself: compiled code is cached in a weak-keyed
    # table beside its program, and a value referring to its key would keep it alive forever)
    __slots__ = ("fn", "source", "n_eqns", "__weakref__")

    def __init__(self, fn: Callable, source: str, n_eqns: int):
        self.fn, self.source, self.n_eqns = fn, source, n_eqns

    def __call__(self, *args: Any) -> list:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"Compiled(<{self.n_eqns} equations>)"


def _as_array(x):
    return x if type(x) is np.ndarray else np.asarray(x)


def _copy(x):
    return np.array(x)


class _Names:
    def __init__(self):
        self.count = 0
        self.vars: dict[Var, str] = {}
        self.ns: dict[str, Any] = {"_as_array": _as_array, "_copy": _copy, "np": np}
        self.by_id: dict[Any, str] = {}

    def fresh(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def var(self, v: Var) -> str:
        name = self.vars.get(v)
        if name is None:
            name = self.vars[v] = self.fresh("v")
        return name

    def obj(self, obj: Any, prefix: str, key: Any = None) -> str:
        key = key if key is not None else ("id", id(obj))
        name = self.by_id.get(key)
        if name is None:
            name = self.by_id[key] = self.fresh(prefix)
            self.ns[name] = obj
        return name

    def atom(self, x) -> str:
        if type(x) is Lit:
            val = np.asarray(x.val, dtype=x.aval.dtype)[()]
            return self.obj(val, "_l", ("lit", val.dtype.str, val.tobytes()))
        return self.var(x)

    def ufunc(self, uf) -> str:
        return self.obj(uf, f"_{uf.__name__}_", ("ufunc", uf.__name__))


def _emit(eqn, names: _Names, args: list[str]) -> tuple[str, str]:
    """(call expression, kind) for one equation: its emitter's, or a call of its impl."""
    emit = emitters.get(eqn.prim)
    got = emit(eqn, args, names) if emit is not None else None
    if got is not None:
        return got
    prim, p = eqn.prim, eqn.params
    if prim.impl is None:
        raise NotImplementedError(f"numpy codegen: primitive {prim.name} has no impl")
    fn = names.obj(functools.partial(prim.impl, **p) if p else prim.impl, f"_{prim.name}_")
    return f"{fn}({', '.join(args)})", "call"


def _compactable(jaxpr) -> dict:
    """Broadcasts that NumPy's implicit broadcasting can stand in for:
    var -> (source atom, shape to reshape it to first or None)."""
    out = {}
    for e in jaxpr.eqns:
        shape_of = broadcasts.get(e.prim)
        if shape_of is not None:
            x, (v,) = e.inputs[0], e.out_binders
            tmp = tuple(shape_of(e))
            implicit = (1,) * (len(tmp) - x.aval.ndim) + tuple(x.aval.shape)
            out[v] = (x, None if tmp == implicit else tmp)
    return out


def _can_compact(e, j: int, compact: dict) -> bool:
    """May input j of `e` be passed un-broadcast? Only into elementwise calls where another
    input already has the full output shape (so the result's shape is unchanged)."""
    first = broadcasting.get(e.prim)
    if first is None or j < first:
        return False
    return any(k != j and (type(y) is not Var or y not in compact) and
               y.aval.shape == e.out_binders[0].aval.shape for k, y in enumerate(e.inputs))


def compile_ir(closed: IR, donate: tuple[bool, ...] = (), name: str = "jitted",
               sub_source: Callable[[IR], str] | None = None) -> Compiled:
    """Generate and `exec` NumPy source for `closed`; `donate[i]` lets input i be overwritten.
    `sub_source(program)`: the source of a sub-program's compiled code (a loop body, a branch),
    appended to the shown `.source` after the function, headed by its role and caller."""
    jaxpr = closed.open
    names = _Names()
    for v, c in zip(jaxpr.constvars, closed.consts):
        names.vars[v] = names.obj(c, "_k")
    params = [names.var(v) for v in jaxpr.invars]
    outset = {x for x in jaxpr.outvars if type(x) is Var}
    compact = _compactable(jaxpr)
    # which operands each equation reads once broadcasts are folded into ufunc calls
    reads: list[list] = []
    for i, e in enumerate(jaxpr.eqns):
        reads.append([compact[x][0] if type(x) is Var and x in compact and
                      _can_compact(e, j, compact) else x for j, x in enumerate(e.inputs)])
    live = {x for x in jaxpr.outvars if type(x) is Var}
    needed = [False] * len(jaxpr.eqns)
    for i in range(len(jaxpr.eqns) - 1, -1, -1):
        e = jaxpr.eqns[i]
        if any(v in live for v in e.out_binders):
            needed[i] = True
            live.update(x for x in reads[i] if type(x) is Var)
    last_use: dict[Var, int] = {}
    for i, e in enumerate(jaxpr.eqns):
        if needed[i]:
            for x in reads[i]:
                if type(x) is Var:
                    last_use[x] = i
    owned: set[Var] = {v for v, d in zip(jaxpr.invars, donate) if d}
    viewed: set[Var] = set()  # variables that something else may alias
    producer_kind: dict[Var, str] = {}
    of_const: set[Var] = set(jaxpr.constvars)  # may share memory with a constant
    lines = [f"def {name}({', '.join(params)}):"]
    subs: list = []  # (the name calling it, role, sub-program)
    for i, e in enumerate(jaxpr.eqns):
        if not needed[i]:
            continue
        args = []
        for j, x in enumerate(e.inputs):
            if reads[i][j] is not x:  # a broadcast folded into NumPy's own broadcasting
                src, tmp = compact[x]
                a = names.atom(src)
                args.append(a if tmp is None else f"np.reshape({a}, {tmp!r})")
                if type(src) is Var:
                    viewed.add(src)
            else:
                args.append(names.atom(x))
        expr, kind = _emit(e, names, args)
        if sub_source is not None:
            subs += [(expr.split("(")[0], r, p) for r, p in sub_programs(e) if isinstance(p, IR)]
        outs = e.out_binders
        if kind not in _VIEW_FREE:
            viewed.update(x for x in reads[i] if type(x) is Var)
        if kind == "ufunc":
            aval = outs[0].aval
            buf = None
            if aval.ndim:
                for x in reads[i]:
                    if (type(x) is Var and x in owned and x not in viewed and x not in outset
                            and last_use.get(x) == i and x.aval.shape == aval.shape
                            and x.aval.dtype == aval.dtype):
                        buf = x
                        break
            expr += f", out={names.var(buf)})" if buf is not None else ")"
            if buf is not None:
                owned.discard(buf)
        if len(outs) == 1 and not e.prim.multiple_results:
            lhs = names.var(outs[0])
        else:
            lhs = ", ".join(names.var(v) for v in outs) + ("," if len(outs) == 1 else "")
        lines.append(f"    {lhs} = {expr}")
        for v in outs:
            producer_kind[v] = kind
            if kind not in _VIEW_FREE and any(x in of_const for x in reads[i] if type(x) is Var):
                of_const.add(v)
            if kind in _VIEW_FREE and v.aval.ndim:
                owned.add(v)
    rets = []
    for x in jaxpr.outvars:
        s = names.atom(x)
        if type(x) is Lit or x.aval.ndim == 0:
            s = f"_as_array({s})"
        elif x in of_const or producer_kind.get(x) == "view":  # never hand out a constant
            s = f"_copy({s})"
        rets.append(s)
    lines.append(f"    return [{', '.join(rets)}]")
    source = "\n".join(lines) + "\n"
    ns = dict(names.ns)
    exec(compile(source, f"<funcgrad.jit {name}>", "exec"), ns)  # noqa: S102  (our own source)
    for callee, role, sub in subs:  # shown, not run: each body runs as its own compiled code
        fn = role.replace(" ", "_")
        text = sub_source(sub).replace("def jitted(", f"def {fn}(", 1)
        source += f"\n# {role} (run by {callee} in {name})\n" + text.replace(" in jitted)",
                                                                         f" in {fn})")
    return Compiled(ns[name], source, len(jaxpr.eqns))
