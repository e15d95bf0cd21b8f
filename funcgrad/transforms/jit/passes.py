"""IR optimisation passes used by `jit`: each is a pure function `IR -> IR`.

- `inline_calls`: splice nested `jit` equations into the outer program;
- `dce`: drop equations whose outputs nobody reads (every primitive is pure);
- `cse`: reuse the first of several equations with the same primitive, params and inputs
  (inputs of commutative operations are put in a canonical order first);
- `fold_constants`: evaluate equations whose inputs are all literals or constants, when the
  result is small (at most `FOLD_LIMIT` elements); broadcasts of a scalar stay (they are
  cheaper to keep than an array constant, and the NumPy code generator folds them away);
- `simplify`: algebraic identities that hold bit-for-bit, NaN, inf and signed zeros included:
  `x*1`, `x/1`, `x + (-0.0)`, `x - (+0.0)` (but not `x + (+0.0)`, which turns -0.0 into +0.0;
  integers: any `x+0`), `neg(neg x)`, `a + (-b) = a - b`, `a - (-b) = a + b`, `(-a)(-b) = ab`,
  `-(a(-b)) = ab`, `select(p, x, x)`, reshape/broadcast/transpose chains, identity reshapes
  and dtype conversions, and the forwarding of zeros through linear structural operations
  (`x + zeros`, `reshape(zeros)`, `reduce_sum(zeros)`, ...). `x*0` becomes 0 only for integer
  and boolean dtypes: for floats it is NaN when x is inf or NaN.
- `optimize`: all of them, repeated until the program stops shrinking.

Every pass leaves the program's inputs and outputs (their number and types) unchanged.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ...avals import ShapedArray
from ...core import Tracer
from ...ir import IR, Eqn, Lit, OpenIR, Var, is_scalar_literal
from ...primitives import add_p, broadcast_in_dim_p, neg_p, reshape_p, sub_p, transpose_p
from ...staging import live_eqn_indices

FOLD_LIMIT = 4096  # largest constant (in elements) that constant folding may create
_COMMUTATIVE = {"add", "mul", "max", "min", "eq", "ne", "and", "or", "xor"}


# --- helpers ------------------------------------------------------------------------------------

def _closed(constvars, consts, invars, eqns, outvars) -> IR:
    """Build a program, dropping constants that are no longer read."""
    used = {x for e in eqns for x in e.inputs if type(x) is Var}
    used.update(x for x in outvars if type(x) is Var)
    keep = [(v, c) for v, c in zip(constvars, consts) if v in used]
    return IR(OpenIR([v for v, _ in keep], list(invars), list(eqns), list(outvars)),
                       [c for _, c in keep])


def _sub(env: dict, x):
    while type(x) is Var and x in env:
        x = env[x]
    return x


def _lit_of(val, aval: ShapedArray) -> Lit:
    return Lit(np.asarray(val, dtype=aval.dtype)[()])


def _const_value(x, consts: dict) -> Any:
    """The value of a literal or constant atom, or None (also for outer-transform tracers)."""
    if type(x) is Lit:
        return x.val
    val = consts.get(x)
    return None if isinstance(val, Tracer) else val


def _all_equal(val, scalar) -> bool:
    try:
        arr = np.asarray(val)
        return arr.size <= FOLD_LIMIT and bool(np.all(arr == scalar))
    except Exception:  # noqa: BLE001  (exotic constants are never simplified)
        return False


# --- inlining of nested jit calls ---------------------------------------------------------------

def inline_calls(closed: IR) -> IR:
    """Splice every nested `jit` equation's program into the outer one (with fresh variables)."""
    if not any(e.prim.name == "jit" for e in closed.eqns):
        return closed
    jaxpr = closed.open
    constvars, consts = list(jaxpr.constvars), list(closed.consts)
    env: dict = {}
    eqns: list[Eqn] = []

    def splice(inner: IR, args: list) -> list:
        inner = inline_calls(inner)
        local: dict = {}
        for v, c in zip(inner.open.constvars, inner.consts):
            if is_scalar_literal(c):
                local[v] = _lit_of(c, v.aval)
            else:
                nv = Var(v.aval)
                constvars.append(nv)
                consts.append(c)
                local[v] = nv
        local.update(zip(inner.open.invars, args))
        for e in inner.open.eqns:
            outs = [Var(v.aval) for v in e.out_binders]
            eqns.append(Eqn(e.prim, [local.get(x, x) if type(x) is Var else x for x in e.inputs],
                            e.params, outs))
            local.update(zip(e.out_binders, outs))
        return [local.get(x, x) if type(x) is Var else x for x in inner.open.outvars]

    for e in jaxpr.eqns:
        inputs = [_sub(env, x) for x in e.inputs]
        if e.prim.name == "jit":
            env.update(zip(e.out_binders, splice(e.params["jaxpr"], inputs)))
        else:
            eqns.append(e._replace(inputs=inputs))
    outvars = [_sub(env, x) for x in jaxpr.outvars]
    return _closed(constvars, consts, jaxpr.invars, eqns, outvars)


# --- dead-code elimination ----------------------------------------------------------------------

def dce(closed: IR) -> IR:
    """Remove equations none of whose outputs is read by a later equation or the outputs."""
    jaxpr = closed.open
    kept = [jaxpr.eqns[i] for i in live_eqn_indices(jaxpr.eqns, jaxpr.outvars)]
    return _closed(jaxpr.constvars, closed.consts, jaxpr.invars, kept, jaxpr.outvars)


# --- common subexpression elimination -----------------------------------------------------------

def _atom_key(x, const_ids: dict):
    if type(x) is Lit:
        v = np.asarray(x.val)
        return ("lit", v.dtype.str, v.tobytes())
    return const_ids.get(x, x)


def _sort_key(k):
    return (1, 0, k[1], k[2]) if type(k) is tuple else (0, id(k), "", b"")


def _params_key(params: dict):
    try:
        key = tuple(sorted((k, v) for k, v in params.items()))
        hash(key)
        return key
    except TypeError:
        return None


def cse(closed: IR) -> IR:
    """Replace an equation by an earlier one with the same primitive, params and inputs.

    Constants that are the same array object count as the same input; the inputs of
    commutative primitives (add, mul, max, ...) are compared as an unordered pair.
    """
    jaxpr = closed.open
    const_ids: dict = {}
    first_const: dict[int, Var] = {}
    for v, c in zip(jaxpr.constvars, closed.consts):
        const_ids[v] = first_const.setdefault(id(c), v)
    env: dict = {}
    seen: dict = {}
    eqns = []
    for e in jaxpr.eqns:
        inputs = [_sub(env, x) for x in e.inputs]
        pkey = _params_key(e.params)
        if pkey is None:
            eqns.append(e._replace(inputs=inputs))
            continue
        in_keys = [_atom_key(x, const_ids) for x in inputs]
        if e.prim.name in _COMMUTATIVE:
            in_keys = sorted(in_keys, key=_sort_key)
        key = (e.prim, tuple(in_keys), pkey)
        try:
            prev = seen.get(key)
        except TypeError:
            prev = None
            key = None
        if prev is not None:
            env.update(zip(e.out_binders, prev.out_binders))
            continue
        e = e._replace(inputs=inputs)
        if key is not None:
            seen[key] = e
        eqns.append(e)
    outvars = [_sub(env, x) for x in jaxpr.outvars]
    return _closed(jaxpr.constvars, closed.consts, jaxpr.invars, eqns, outvars)


# --- constant folding ---------------------------------------------------------------------------

def fold_constants(closed: IR, limit: int = FOLD_LIMIT) -> IR:
    """Evaluate equations whose inputs are all known, if each output has <= `limit` elements."""
    jaxpr = closed.open
    constvars, consts = list(jaxpr.constvars), list(closed.consts)
    known = dict(zip(constvars, consts))
    env: dict = {}
    eqns = []
    for e in jaxpr.eqns:
        inputs = [_sub(env, x) for x in e.inputs]
        vals = [_const_value(x, known) for x in inputs]
        small = all(v.aval.size <= limit for v in e.out_binders)
        scalar_fill = e.prim.name == "broadcast_in_dim" and not e.inputs[0].aval.shape
        if (inputs and small and not scalar_fill and all(v is not None for v in vals)
                and callable(e.prim.impl)
                and e.prim.name != "jit" and not any(isinstance(v, Var) for v in vals)):
            try:
                with np.errstate(all="ignore"):  # the same warnings would come at run time
                    outs = e.prim.impl(*vals, **e.params)
                outs = outs if e.prim.multiple_results else [outs]
            except Exception:  # noqa: BLE001  (leave it for run time, where it raises properly)
                outs = None
            if outs is not None and all(np.shape(o) == v.aval.shape
                                        for o, v in zip(outs, e.out_binders)):
                for v, o in zip(e.out_binders, outs):
                    o = np.asarray(o, dtype=v.aval.dtype)
                    if o.ndim == 0:
                        env[v] = _lit_of(o, v.aval)
                    else:
                        nv = Var(v.aval)
                        constvars.append(nv)
                        consts.append(o)
                        known[nv] = o
                        env[v] = nv
                continue
        eqns.append(e._replace(inputs=inputs))
    outvars = [_sub(env, x) for x in jaxpr.outvars]
    return _closed(constvars, consts, jaxpr.invars, eqns, outvars)


# --- algebraic simplification -------------------------------------------------------------------

_NO_FILL = object()


class _Simplifier:
    def __init__(self, closed: IR):
        self.consts = dict(zip(closed.open.constvars, closed.consts))
        self.producer: dict[Var, Eqn] = {}
        self.eqns: list[Eqn] = []
        self.fills: dict[Var, Any] = {}  # variables known to hold one repeated scalar

    def is_value(self, x, scalar, sign: bool | None = None) -> bool:
        """Is every element of `x` equal to `scalar` (a zero's sign bit `sign`, if given)?"""
        val = _const_value(x, self.consts)
        if val is None:
            val = self.fills.get(x, _NO_FILL)
            if val is _NO_FILL:
                return False
        if not _all_equal(val, scalar):
            return False
        if sign is None or np.asarray(val).dtype.kind not in "fc":
            return True
        return bool(np.all(np.signbit(np.real(np.asarray(val))) == sign))

    def emit(self, prim, inputs, params, aval) -> Var:
        out = Var(aval)
        e = Eqn(prim, inputs, params, [out])
        self.eqns.append(e)
        self.producer[out] = e
        return out

    def negated(self, x):
        """`y` if `x` is `neg y` (the sign flip is exact in floating point), else None."""
        src = self.producer.get(x) if type(x) is Var else None
        return src.inputs[0] if src is not None and src.prim.name == "neg" else None

    def zeros_of(self, aval: ShapedArray):
        lit = _lit_of(0, aval)
        if not aval.shape:
            return lit
        out = self.emit(broadcast_in_dim_p, [lit], {"shape": aval.shape,
                                                    "broadcast_dimensions": ()}, aval)
        self.fills[out] = lit.val
        return out

    def rewrite(self, e: Eqn, xs: list):
        """An atom standing for the single output of `e`, or None to keep `e`."""
        name, p = e.prim.name, e.params
        out = e.out_binders[0]
        aval = out.aval
        same = [type(x) is not Lit and x.aval.shape == aval.shape and x.aval.dtype == aval.dtype
                or (type(x) is Lit and not aval.shape and x.aval.dtype == aval.dtype)
                for x in xs]
        exact = aval.dtype.kind in "biu"
        if name == "mul":
            for i in (0, 1):
                if self.is_value(xs[1 - i], 1) and same[i]:
                    return xs[i]
                if exact and self.is_value(xs[1 - i], 0):
                    return self.zeros_of(aval)
        if name in ("mul", "div"):
            if name == "div" and self.is_value(xs[1], 1) and same[0]:
                return xs[0]
            negs = [self.negated(x) for x in xs]
            if negs[0] is not None and negs[1] is not None:  # (-a)(-b) = ab, (-a)/(-b) = a/b
                return self.emit(e.prim, negs, {}, aval)
        if name == "add":
            for i in (0, 1):  # x + (-0.0) is x exactly; x + (+0.0) turns a -0.0 into +0.0
                if self.is_value(xs[1 - i], 0, sign=True) and same[i]:
                    return xs[i]
            for i in (0, 1):  # a + (-b) = a - b
                b = self.negated(xs[1 - i])
                if b is not None:
                    return self.emit(sub_p, [xs[i], b], {}, aval)
        elif name == "sub":
            if self.is_value(xs[1], 0, sign=False) and same[0]:  # x - (+0.0) is x exactly
                return xs[0]
            if self.is_value(xs[0], 0, sign=True) and same[1]:  # (-0.0) - x is -x exactly
                return self.emit(neg_p, [xs[1]], {}, aval)
            b = self.negated(xs[1])
            if b is not None:  # a - (-b) = a + b
                return self.emit(add_p, [xs[0], b], {}, aval)
        elif name == "neg":
            src = self.producer.get(xs[0])
            if src is not None and src.prim.name == "neg":
                return src.inputs[0]
            if src is not None and src.prim.name == "mul":  # -(a * (-b)) = a * b
                a, b = src.inputs
                for u, w in ((a, b), (b, a)):
                    nw = self.negated(w)
                    if nw is not None:
                        return self.emit(src.prim, [u, nw], {}, aval)
            if self.is_value(xs[0], 0) and aval.dtype.kind not in "fc":
                return self.zeros_of(aval)
        elif name == "select":
            if xs[1] is xs[2] and same[1]:
                return xs[1]
        elif name == "integer_pow":
            if p["y"] == 1 and same[0]:
                return xs[0]
        elif name == "convert_element_type":
            if xs[0].aval.dtype == aval.dtype and same[0]:
                return xs[0]
        elif name in ("reshape", "broadcast_in_dim", "transpose", "squeeze", "expand_dims"):
            return self.rewrite_shape(name, p, xs[0], aval)
        elif name == "reduce_sum":
            if self.is_value(xs[0], 0, sign=False) and aval.dtype.kind != "c":
                return self.zeros_of(aval)
            if not p["axes"] and same[0]:
                return xs[0]
        return None

    def rewrite_shape(self, name, p, x, aval):
        if self.is_value(x, 0, sign=False):  # rearranging (+0.0) zeros gives zeros
            return self.zeros_of(aval)
        src = self.producer.get(x)
        if name == "transpose":
            perm = p["permutation"]
            if perm == tuple(range(len(perm))):
                return x
            if src is not None and src.prim.name == "transpose":
                inner = src.params["permutation"]
                comp = tuple(inner[i] for i in perm)
                if comp == tuple(range(len(comp))):
                    return src.inputs[0]
                return self.emit(transpose_p, [src.inputs[0]], {"permutation": comp}, aval)
            return None
        if name == "broadcast_in_dim":
            dims = p["broadcast_dimensions"]
            if x.aval.shape == aval.shape and dims == tuple(range(len(dims))):
                return x
            if src is not None and src.prim.name == "broadcast_in_dim":
                inner = src.params["broadcast_dimensions"]
                comp = tuple(dims[d] for d in inner)
                return self.emit(broadcast_in_dim_p, [src.inputs[0]],
                                 {"shape": aval.shape, "broadcast_dimensions": comp}, aval)
            return None
        # reshape, squeeze, expand_dims: all are reshapes of the same elements
        if x.aval.shape == aval.shape:
            return x
        if src is not None and src.prim.name in ("reshape", "squeeze", "expand_dims"):
            base = src.inputs[0]
            if base.aval.shape == aval.shape:
                return base
            return self.emit(reshape_p, [base], {"new_sizes": aval.shape}, aval)
        return None


def simplify(closed: IR) -> IR:
    """Apply exact algebraic identities (see the module docstring) in one forward sweep."""
    jaxpr = closed.open
    s = _Simplifier(closed)
    env: dict = {}
    for e in jaxpr.eqns:
        xs = [_sub(env, x) for x in e.inputs]
        new = None
        if len(e.out_binders) == 1 and not e.prim.multiple_results:
            try:
                new = s.rewrite(e, xs)
            except (KeyError, TypeError, ValueError):
                new = None
        if new is not None:
            env[e.out_binders[0]] = new
            continue
        e = e._replace(inputs=xs)
        s.eqns.append(e)
        for v in e.out_binders:
            s.producer[v] = e
        if e.prim.name == "broadcast_in_dim":
            val = _const_value(xs[0], s.consts)
            if val is not None and np.ndim(val) == 0:
                s.fills[e.out_binders[0]] = val
    outvars = [_sub(env, x) for x in jaxpr.outvars]
    return _closed(jaxpr.constvars, closed.consts, jaxpr.invars, s.eqns, outvars)


# --- the pipeline -------------------------------------------------------------------------------

PASSES = (simplify, fold_constants, cse, dce)


def optimize(closed: IR, max_rounds: int = 8) -> IR:
    """Inline nested calls, then run every pass until the equation count stops falling."""
    closed = inline_calls(closed)
    n = len(closed.eqns) + 1
    for _ in range(max_rounds):
        if len(closed.eqns) >= n:
            break
        n = len(closed.eqns)
        for p in PASSES:
            closed = p(closed)
    return closed
