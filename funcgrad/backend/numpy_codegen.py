"""CPU lowering: an (optimised) closed program becomes Python source calling NumPy.

One line per equation. Elementwise primitives whose `np_lowering` slot is a NumPy ufunc are
called directly, writing into a dead intermediate buffer with `out=` when one of the right
shape and dtype is free; the named lowerings (`"reshape"`, `"dot_general"`, ...) have emitters
below; anything else calls the primitive's impl, bound once with its params as a local name.
Nothing dispatches through `bind` at call time. The source is kept for `jit(f).lower(x).source`.

A buffer may be overwritten only if this program allocated it (the output of a ufunc, matmul,
reduction or dtype conversion), nothing else reads it later, it is not an output, and no view of
it was ever taken (it was never the input of a reshape, transpose, broadcast, slice, ...).
Donated inputs (`donate_argnums`) count as allocated by the program.

Broadcasts feeding an elementwise call are left to NumPy's own broadcasting (a scalar stays a
scalar); `select` becomes an exact branch-free bit select; `dot_general` becomes `np.matmul`
(or a broadcast multiply for size-1 contractions) where the dimension numbers allow; `cond`,
`while` and `scan` run their sub-programs as generated code too.

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

from ..core import NOT_APPLICABLE
from ..ir import IR, Lit, Var

_VIEW_FREE = {"ufunc", "matmul", "reduce", "astype", "fresh"}  # emitters with fresh results
_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}


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


def _select_bits(c, a, b):
    """`np.where(c, a, b)` for 2/4/8-byte dtypes as branch-free bit operations: exact (NaNs and
    signed zeros included) and many times faster than `np.where` on irregular masks."""
    a, b = np.asarray(a), np.asarray(b)
    ut = _UINT[a.dtype.itemsize]
    m = c.astype(ut)
    np.negative(m, out=m)  # 0 -> 0, 1 -> all ones
    bv = b.view(ut)
    t = np.bitwise_and(np.bitwise_xor(a.view(ut), bv), m)
    np.bitwise_xor(t, bv, out=t)
    return t.view(a.dtype)


def _bcast_reshape(x, tmp, shape):
    return np.broadcast_to(np.reshape(x, tmp), shape)


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


def _ufunc_name(names: _Names, uf) -> str:
    return names.obj(uf, f"_{uf.__name__}_", ("ufunc", uf.__name__))


def _emit(eqn, names: _Names, args: list[str]) -> tuple[str, str | None]:
    """(call expression, kind) for one equation; kind 'ufunc' allows an `out=` buffer."""
    prim, p = eqn.prim, eqn.params
    low = prim.np_lowering
    in_avals = [x.aval for x in eqn.inputs]
    out_aval = eqn.out_binders[0].aval if eqn.out_binders else None
    if (prim.name == "select" and out_aval.ndim and out_aval.dtype.itemsize in _UINT
            and out_aval.dtype.kind in "fiu" and in_avals[0].shape == out_aval.shape):
        return f"{names.obj(_select_bits, '_select_bits')}({', '.join(args)})", "fresh"
    if isinstance(low, np.ufunc):
        return f"{_ufunc_name(names, low)}({', '.join(args)}", "ufunc"
    if low == "identity":
        return args[0], "alias"
    if low == "integer_pow" and p["y"] == 2:
        return f"{_ufunc_name(names, np.multiply)}({args[0]}, {args[0]}", "ufunc"
    if low == "reshape" or low in ("squeeze", "expand_dims"):
        if in_avals[0].shape == out_aval.shape:
            return args[0], "alias"
        return f"np.reshape({args[0]}, {out_aval.shape!r})", "view"
    if low == "transpose":
        return f"np.transpose({args[0]}, {p['permutation']!r})", "view"
    if low == "broadcast_in_dim":
        shape, dims = p["shape"], p["broadcast_dimensions"]
        if in_avals[0].ndim == len(shape):
            return f"np.broadcast_to({args[0]}, {shape!r})", "view"
        tmp = [1] * len(shape)
        for i, d in enumerate(dims):
            tmp[d] = in_avals[0].shape[i]
        fn = names.obj(_bcast_reshape, "_bcast")
        return f"{fn}({args[0]}, {tuple(tmp)!r}, {shape!r})", "view"
    if low == "convert_element_type":
        dt = names.obj(p["new_dtype"], "_dt", ("dtype", p["new_dtype"].str))
        return f"_as_array({args[0]}).astype({dt})", "astype"
    if low in ("reduce_sum", "reduce_max", "reduce_min") and in_avals[0].dtype.kind in "fc":
        uf = {"reduce_sum": np.add, "reduce_max": np.maximum, "reduce_min": np.minimum}[low]
        if not p["axes"]:
            return args[0], "alias"
        return f"{_ufunc_name(names, uf)}.reduce({args[0]}, axis={tuple(p['axes'])!r})", "reduce"
    if low == "dot_general":
        expr = _emit_matmul(p["dimension_numbers"], in_avals, args)
        if expr is not None:
            return expr, "matmul"
    if prim.name == "jit":
        from ..transforms.jit.api import compile_closed
        fn = names.obj(compile_closed(p["jaxpr"]).fn, "_call")
        return f"{fn}({', '.join(args)})", "call"
    loop = _emit_control_flow(prim.name, p, names, args)
    if loop is not None:
        return loop, "call"
    if prim.impl is None or low == NOT_APPLICABLE and prim.impl is None:
        raise NotImplementedError(f"numpy codegen: primitive {prim.name} has no impl")
    fn = names.obj(functools.partial(prim.impl, **p) if p else prim.impl, f"_{prim.name}_")
    return f"{fn}({', '.join(args)})", "call"


# --- control flow: sub-programs are compiled too, so loops run generated code ------------------

def _sub(closed: IR) -> Callable:
    from ..transforms.jit.api import compile_closed
    from ..transforms.jit.passes import optimize
    return compile_closed(optimize(closed)).fn


def _run_cond(fns, n, index, *ops):
    return fns[min(max(int(index), 0), n - 1)](*ops)


def _run_while(cond_fn, body_fn, n_cc, n_bc, *args):
    cc, bc, carry = args[:n_cc], args[n_cc:n_cc + n_bc], list(args[n_cc + n_bc:])
    while bool(cond_fn(*cc, *carry)[0]):
        carry = body_fn(*bc, *carry)
    return carry


def _run_scan(body_fn, num_consts, num_carry, length, reverse, y_avals, *args):
    consts = args[:num_consts]
    carry = list(args[num_consts:num_consts + num_carry])
    xs = args[num_consts + num_carry:]
    ys = []
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = body_fn(*consts, *carry, *[x[i] for x in xs])
        carry = outs[:num_carry]
        ys.append(outs[num_carry:])
    if reverse:
        ys.reverse()
    stacked = [np.stack([np.asarray(y[j]) for y in ys]) if ys else
               np.zeros((0,) + a.shape, a.dtype) for j, a in enumerate(y_avals)]
    return [*carry, *stacked]


def _emit_control_flow(name: str, p: dict, names: _Names, args: list[str]) -> str | None:
    """Calls of compiled sub-programs for cond/switch, while_loop and scan (by their params)."""
    try:
        if name == "cond" and set(p) == {"branches"}:
            fns = tuple(_sub(b) for b in p["branches"])
            fn = names.obj(functools.partial(_run_cond, fns, len(fns)), "_cond")
        elif name == "while" and {"cond_jaxpr", "body_jaxpr"} <= set(p):
            fn = names.obj(functools.partial(_run_while, _sub(p["cond_jaxpr"]),
                                             _sub(p["body_jaxpr"]), p["cond_nconsts"],
                                             p["body_nconsts"]), "_while")
        elif name == "scan" and set(p) == {"jaxpr", "num_consts", "num_carry", "length",
                                           "reverse"}:
            y_avals = tuple(p["jaxpr"].out_avals[p["num_carry"]:])
            fn = names.obj(functools.partial(_run_scan, _sub(p["jaxpr"]), p["num_consts"],
                                             p["num_carry"], p["length"], p["reverse"],
                                             y_avals), "_scan")
        else:
            return None
    except Exception:  # noqa: BLE001  (fall back to the primitive's own impl)
        return None
    return f"{fn}({', '.join(args)})"


def _emit_matmul(dn, in_avals, args) -> str | None:
    """`np.matmul` (or a broadcast multiply) for the dot_general shapes that map onto it."""
    (lc, rc), (lb, rb) = dn
    x, y = in_avals
    a, b = args
    if x.ndim == 0 or y.ndim == 0:
        return None
    k = 1
    for d in lc:
        k *= x.shape[d]
    if k == 1 and x.dtype.kind in "fc":  # contraction of size 1: an outer product per batch
        return _emit_outer(dn, x, y, a, b)
    if not lb and not rb and len(lc) == 1 and y.ndim <= 2:
        if x.ndim == 2 and lc == (0,):
            a = f"{a}.T"
        elif lc != (x.ndim - 1,):
            return None
        if y.ndim == 2 and rc == (1,):
            b = f"{b}.T"
        elif rc != (0,):
            return None
        return f"np.matmul({a}, {b})"
    if lb == rb == (0,) and x.ndim == y.ndim == 3 and len(lc) == 1:
        if lc == (1,):
            a = f"np.swapaxes({a}, 1, 2)"
        elif lc != (2,):
            return None
        if rc == (2,):
            b = f"np.swapaxes({b}, 1, 2)"
        elif rc != (1,):
            return None
        return f"np.matmul({a}, {b})"
    return None


def _emit_outer(dn, x, y, a, b) -> str:
    (lc, rc), (lb, rb) = dn
    lf = [d for d in range(x.ndim) if d not in lc and d not in lb]
    rf = [d for d in range(y.ndim) if d not in rc and d not in rb]
    bs = [x.shape[d] for d in lb]
    sx = tuple(bs + [x.shape[d] for d in lf] + [1] * len(rf))
    sy = tuple(bs + [1] * len(lf) + [y.shape[d] for d in rf])
    px, py = tuple(lb) + tuple(lf) + tuple(lc), tuple(rb) + tuple(rf) + tuple(rc)
    xa = f"np.reshape(np.transpose({a}, {px!r}), {sx!r})"
    ya = f"np.reshape(np.transpose({b}, {py!r}), {sy!r})"
    return f"np.multiply({xa}, {ya})"


def _compactable(jaxpr) -> dict:
    """broadcast_in_dim results that NumPy's implicit broadcasting can stand in for:
    var -> (source atom, shape to reshape it to first or None)."""
    out = {}
    for e in jaxpr.eqns:
        if e.prim.name != "broadcast_in_dim":
            continue
        x, (v,) = e.inputs[0], e.out_binders
        shape, dims = e.params["shape"], e.params["broadcast_dimensions"]
        nd = len(shape)
        if x.aval.ndim == 0 or dims == tuple(range(nd - len(dims), nd)):
            out[v] = (x, None)
        else:
            tmp = [1] * nd
            for i, d in enumerate(dims):
                tmp[d] = x.aval.shape[i]
            out[v] = (x, tuple(tmp))
    return out


def _can_compact(e, j: int, compact: dict) -> bool:
    """May input j of `e` be passed un-broadcast? Only into elementwise calls where another
    input already has the full output shape (so the result's shape is unchanged)."""
    low = e.prim.np_lowering
    if not (isinstance(low, np.ufunc) or e.prim.name == "select"):
        return False
    if e.prim.name == "select" and j == 0:
        return False
    return any(k != j and (type(y) is not Var or y not in compact) and
               y.aval.shape == e.out_binders[0].aval.shape for k, y in enumerate(e.inputs))


def compile_ir(closed: IR, donate: tuple[bool, ...] = (),
                  name: str = "jitted") -> Compiled:
    """Generate and `exec` NumPy source for `closed`; `donate[i]` lets input i be overwritten."""
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
    return Compiled(ns[name], source, len(jaxpr.eqns))
