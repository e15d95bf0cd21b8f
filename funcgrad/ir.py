"""The typed IR: variables, literals, equations and programs, its checker, its evaluator, its
canonical text form (JAX's jaxpr form) and its Graphviz picture.

Building (tracing Python into IR) lives in `funcgrad/staging.py`. Higher-order primitives print
their sub-programs with a rule registered in the printer table (`register_pp_rule`).
"""
from __future__ import annotations

import itertools
import shutil
import subprocess
from typing import Any, NamedTuple, Sequence

import numpy as np

from .avals import ShapedArray, get_aval, short_dtype
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


class OpenIR:
    """A program in A-normal form: `{ lambda constvars ; invars . let eqns in (outvars) }`."""

    __slots__ = ("constvars", "invars", "eqns", "outvars")

    def __init__(self, constvars: list[Var], invars: list[Var], eqns: list[Eqn], outvars: list):
        self.constvars, self.invars, self.eqns, self.outvars = constvars, invars, eqns, outvars

    in_avals = property(lambda self: [v.aval for v in self.invars])
    out_avals = property(lambda self: [v.aval for v in self.outvars])

    def __str__(self) -> str:
        return pp_ir(self)

    __repr__ = __str__


class IR:
    """A closed program: an `OpenIR` (`.open`) together with the values of its constvars
    (`.consts`). `make_ir` returns one of these, and every transform passes these around."""

    __slots__ = ("open", "consts", "__weakref__")

    def __init__(self, open_ir: OpenIR, consts: list):
        assert len(open_ir.constvars) == len(consts)
        self.open, self.consts = open_ir, list(consts)

    eqns = property(lambda self: self.open.eqns)
    in_avals = property(lambda self: self.open.in_avals)
    out_avals = property(lambda self: self.open.out_avals)

    def __call__(self, *args: Any) -> list:
        """`eval_ir(self, args)`: a closed program is a function of flat arguments."""
        return eval_ir(self, args)

    def __str__(self) -> str:
        return pp_ir(self.open)

    __repr__ = __str__

    def to_dot(self, verbose: bool = False, name: str = "g") -> str:
        """Graphviz DOT text: values as orange ellipses, equations as light-blue boxes."""
        return ir_to_dot(self.open, verbose=verbose, name=name)

    # what a notebook shows: the Graphviz picture, or the folded text form (see `ir_display`)
    _repr_mimebundle_ = lambda self, include=None, exclude=None: ir_display(self.open)
    _repr_svg_ = lambda self: ir_display(self.open)["image/svg+xml"]
    _repr_html_ = lambda self: ir_display(self.open)["text/html"]


# --- evaluation -------------------------------------------------------------------------------

def eval_ir(closed: IR, args: Sequence[Any]) -> list:
    """Evaluate a closed program on flat arguments, binding each equation's primitive (so it
    runs under whatever transforms own the arguments). The one evaluator of programs."""
    jaxpr = closed.open
    env: dict[Var, Any] = {}

    def read(x):
        return x.val if type(x) is Lit else env[x]

    for v, val in zip(jaxpr.constvars, closed.consts):
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


def typecheck_ir(jaxpr: OpenIR) -> None:
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


def is_scalar_literal(x: Any) -> bool:
    return (isinstance(x, (bool, int, float, complex, np.generic))
            or (isinstance(x, np.ndarray) and x.ndim == 0))


# --- printing: the canonical text form and the Graphviz picture ------------------------------

_WIDTH = 80


def _names():
    for n in itertools.count():
        s, n = "", n
        while True:
            s = chr(ord("a") + n % 26) + s
            n = n // 26 - 1
            if n < 0:
                break
        yield s


class _Namer:
    def __init__(self):
        self.names: dict[Any, str] = {}
        self.gen = _names()

    def __call__(self, v) -> str:
        if v not in self.names:
            self.names[v] = next(self.gen)
        return self.names[v]


def _pp_lit(lit) -> str:
    val = lit.val
    if isinstance(val, np.ndarray):
        val = val.item()
    if isinstance(val, (bool, np.bool_)):
        return str(bool(val))
    if isinstance(val, (float, np.floating)):
        return f"{float(val)!r}"
    if isinstance(val, (int, np.integer)):
        return str(int(val))
    return str(val)


def pp_param(v: Any) -> str:
    if isinstance(v, (OpenIR, IR)):
        return "{...}"
    if isinstance(v, np.dtype):
        return short_dtype(v)
    if isinstance(v, ShapedArray):
        return v.str_short()
    if isinstance(v, type) and issubclass(v, np.generic):
        return short_dtype(np.dtype(v))
    if isinstance(v, tuple):
        inner = ", ".join(pp_param(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return str(v)


def _pp_atom(x, name: _Namer) -> str:
    return _pp_lit(x) if type(x) is Lit else name(x)


pp_rules: dict[Primitive, Any] = {}  # primitive -> fn(eqn, name, indent) -> lines


def register_pp_rule(prim: Primitive, rule) -> None:
    """Print `prim`'s equations with `rule` (higher-order primitives print their sub-programs)."""
    pp_rules[prim] = rule


def _pp_eqn(eqn, name: _Namer, indent: int) -> list[str]:
    rule = pp_rules.get(eqn.prim)
    if rule is not None:
        return rule(eqn, name, indent)
    lhs = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in eqn.out_binders)
    subs = {k: v for k, v in eqn.params.items() if isinstance(v, (OpenIR, IR))}
    params = {k: v for k, v in eqn.params.items() if k not in subs and not k.startswith("_")}
    ptxt = " ".join(f"{k}={pp_param(v)}" for k, v in params.items())
    head = f"{lhs} = {eqn.prim.name}"
    args = " ".join(_pp_atom(x, name) for x in eqn.inputs)
    if not subs:
        return [" " * indent + head + (f"[{ptxt}]" if ptxt else "") + (f" {args}" if args else "")]
    lines = [" " * indent + head + "["]
    for k, v in params.items():
        lines.append(" " * (indent + 2) + f"{k}={pp_param(v)}")
    for k, v in subs.items():
        jaxpr = v.open if isinstance(v, IR) else v
        sub = _pp_ir_lines(jaxpr, name, indent + 4)
        lines.append(" " * (indent + 2) + f"{k}=" + sub[0].lstrip())
        lines.extend(sub[1:])
    lines.append(" " * indent + "] " + args)
    return lines


def _pp_ir_lines(jaxpr, name: _Namer, indent: int) -> list[str]:
    consts = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in jaxpr.constvars)
    ins = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in jaxpr.invars)
    head = f"{{ lambda {consts + ' ' if consts else ''}; {ins}. let"
    body = [ln for e in jaxpr.eqns for ln in _pp_eqn(e, name, indent + 4)]
    outs = ", ".join(_pp_atom(x, name) for x in jaxpr.outvars)
    tail = f"in ({outs},) }}" if len(jaxpr.outvars) == 1 else f"in ({outs}) }}"
    one_line = f"{head} {' '.join(b.strip() for b in body)}{' ' if body else ''}{tail}"
    if len(body) <= 1 and len(one_line) + indent <= _WIDTH and "\n" not in one_line:
        if all("{" not in b for b in body):
            return [" " * indent + one_line]
    return [" " * indent + head, *body, " " * (indent + 2) + tail]


def pp_ir(jaxpr) -> str:
    """The canonical text of a program: `{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }`."""
    return "\n".join(_pp_ir_lines(jaxpr, _Namer(), 0))


# --- Graphviz -------------------------------------------------------------------------------

def ir_to_dot(jaxpr, verbose: bool = False, name: str = "g") -> str:
    """DOT text in the DeZero picture style: values orange ellipses, equations blue boxes."""
    namer = _Namer()
    lines = [f"digraph {name} {{"]
    ids: dict[Any, str] = {}

    def var_node(v, role: str = "") -> str:
        if v in ids:
            return ids[v]
        nid = f"v{len(ids)}"
        ids[v] = nid
        label = namer(v) if type(v) is not Lit else _pp_lit(v)
        if verbose:
            label += f": {v.aval.shape} {v.aval.dtype}"
        color = {"in": "orange", "out": "orange", "const": "gray"}.get(role, "orange")
        lines.append(f'{nid} [label="{label}", color={color}, style=filled]')
        return nid

    for v in jaxpr.constvars:
        var_node(v, "const")
    for v in jaxpr.invars:
        var_node(v, "in")
    for i, eqn in enumerate(jaxpr.eqns):
        eid = f"e{i}"
        _pp = pp_param
        label = eqn.prim.name
        if verbose and eqn.params:
            label += "\\n" + ", ".join(f"{k}={_pp(p)}" for k, p in eqn.params.items()
                                       if not k.startswith("_"))
        lines.append(f'{eid} [label="{label}", color=lightblue, style=filled, shape=box]')
        for x in eqn.inputs:
            lines.append(f"{var_node(x)} -> {eid}")
        for v in eqn.out_binders:
            lines.append(f"{eid} -> {var_node(v)}")
    for v in jaxpr.outvars:
        var_node(v, "out")
    lines.append("}")
    return "\n".join(lines)


def dot_to_svg(dot: str, timeout: float = 30.0) -> str | None:
    """Render DOT to SVG with the `dot` binary; None when Graphviz is not installed, fails or
    takes longer than `timeout` seconds."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        res = subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True,
                             timeout=timeout)
    except (subprocess.TimeoutExpired, OSError):
        return None
    return res.stdout.decode() if res.returncode == 0 else None


# --- notebook display -------------------------------------------------------------------------
# `dot` draws a program only when it is small (DISPLAY_MAX_EQNS equations, sub-programs included)
# and answers within DISPLAY_DOT_TIMEOUT seconds; otherwise a notebook gets the text form, folded
# to DISPLAY_MAX_LINES lines under a count of equations per primitive: never a hang, never None.

DISPLAY_MAX_EQNS, DISPLAY_DOT_TIMEOUT, DISPLAY_MAX_LINES = 300, 2.0, 80


def count_eqns(jaxpr) -> dict[str, int]:
    """Equations per primitive name, sub-programs (loop, branch and jit bodies) included."""
    counts, stack = {}, [jaxpr]
    while stack:
        for eqn in stack.pop().eqns:
            counts[eqn.prim.name] = counts.get(eqn.prim.name, 0) + 1
            for v in eqn.params.values():
                subs = v if isinstance(v, (tuple, list)) else (v,)
                stack += [s.open if isinstance(s, IR) else s for s in subs
                          if isinstance(s, (IR, OpenIR))]
    return counts


def ir_display(jaxpr) -> dict[str, str]:
    """A notebook's mime bundle of a program: `image/svg+xml` and `text/html` (the same picture
    when `dot` drew it, else the folded text form) and `text/plain`."""
    counts = count_eqns(jaxpr)
    n = sum(counts.values())
    lines = pp_ir(jaxpr).splitlines()
    if len(lines) > DISPLAY_MAX_LINES:
        k = DISPLAY_MAX_LINES * 3 // 4
        lines = lines[:k] + [f"    ... {len(lines) - DISPLAY_MAX_LINES} lines folded ..."] + \
            lines[k - DISPLAY_MAX_LINES:]
    svg = dot_to_svg(ir_to_dot(jaxpr), DISPLAY_DOT_TIMEOUT) if n <= DISPLAY_MAX_EQNS else None
    if svg is not None:
        return {"image/svg+xml": svg, "text/html": f"<div>{svg[svg.find('<svg'):]}</div>",
                "text/plain": "\n".join(lines)}
    why = "too large to draw" if n > DISPLAY_MAX_EQNS else "`dot` is absent or too slow"
    head = f"{n} equations: " + ", ".join(f"{k} {v}" for k, v in sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0])))
    esc = [ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
           for ln in [head, *lines]]
    rows = "".join(f'<text x="8" y="{16 * i + 16}" xml:space="preserve">{ln}</text>'
                   for i, ln in enumerate(esc))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{8 * max(map(len, esc)) + 16}" '
           f'height="{16 * len(esc) + 8}" font-family="monospace" font-size="13">{rows}</svg>')
    html = f"<div><p><b>{esc[0]}</b> ({why}; the text form)</p><pre>{chr(10).join(esc[1:])}</pre>"
    return {"image/svg+xml": svg, "text/plain": "\n".join(lines), "text/html": html + "</div>"}
