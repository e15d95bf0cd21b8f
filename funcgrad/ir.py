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
    """A program in A-normal form: `{ lambda constvars ; invars . let eqns in (outvars) }`.
    `regions`: labelled runs of equations `(label, start, stop)` recorded while it was staged
    (a grad program's "backward" part); the pictures draw them as clusters."""

    __slots__ = ("constvars", "invars", "eqns", "outvars", "regions")

    def __init__(self, constvars: list[Var], invars: list[Var], eqns: list[Eqn], outvars: list,
                 regions: Sequence[tuple[str, int, int]] = ()):
        self.constvars, self.invars, self.eqns, self.outvars = constvars, invars, eqns, outvars
        self.regions = regions

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
        """Graphviz DOT text: values as orange ellipses, equations as light-blue boxes, a grad
        program's forward and backward parts and every sub-program as labelled clusters."""
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


def _is_prog(v) -> bool:
    return isinstance(v, (OpenIR, IR)) or isinstance(v, tuple) and any(map(_is_prog, v))


def _pp_line(eqn, name: _Namer) -> str:
    """One equation on one line, its sub-programs left out: `b:f32[3] = while[...] a`."""
    lhs = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in eqn.out_binders)
    ptxt = " ".join(f"{k}={pp_param(v)}" for k, v in eqn.params.items()
                    if not k.startswith("_") and not _is_prog(v))
    args = " ".join(_pp_atom(x, name) for x in eqn.inputs)
    return f"{lhs} = {eqn.prim.name}" + (f"[{ptxt}]" if ptxt else "") + (f" {args}" if args else "")


def _pp_eqn(eqn, name: _Namer, indent: int) -> list[str]:
    rule = pp_rules.get(eqn.prim)
    if rule is not None:
        return rule(eqn, name, indent)
    subs = {k: v for k, v in eqn.params.items() if isinstance(v, (OpenIR, IR))}
    if not subs:
        return [" " * indent + _pp_line(eqn, name)]
    params = {k: v for k, v in eqn.params.items() if k not in subs and not k.startswith("_")}
    head = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in eqn.out_binders) + \
        f" = {eqn.prim.name}"
    args = " ".join(_pp_atom(x, name) for x in eqn.inputs)
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


def _pp_head(jaxpr, name: _Namer) -> str:
    consts = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in jaxpr.constvars)
    ins = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in jaxpr.invars)
    return f"{{ lambda {consts + ' ' if consts else ''}; {ins}. let"


def _pp_tail(jaxpr, name: _Namer) -> str:
    outs = ", ".join(_pp_atom(x, name) for x in jaxpr.outvars)
    return f"in ({outs},) }}" if len(jaxpr.outvars) == 1 else f"in ({outs}) }}"


def _pp_ir_lines(jaxpr, name: _Namer, indent: int) -> list[str]:
    head = _pp_head(jaxpr, name)
    body = [ln for e in jaxpr.eqns for ln in _pp_eqn(e, name, indent + 4)]
    tail = _pp_tail(jaxpr, name)
    one_line = f"{head} {' '.join(b.strip() for b in body)}{' ' if body else ''}{tail}"
    if len(body) <= 1 and len(one_line) + indent <= _WIDTH and "\n" not in one_line:
        if all("{" not in b for b in body):
            return [" " * indent + one_line]
    return [" " * indent + head, *body, " " * (indent + 2) + tail]


def pp_ir(jaxpr) -> str:
    """The canonical text of a program: `{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }`."""
    return "\n".join(_pp_ir_lines(jaxpr, _Namer(), 0))


# --- pictures: sub-programs, sections, Graphviz, HTML ----------------------------------------

def sub_programs(eqn) -> list[tuple[str, Any]]:
    """An equation's sub-programs (IR or OpenIR) with their roles, in parameter order:
    ("while cond", ...), ("while body", ...), ("cond branch 1", ...), ("jit body", ...)."""
    out = []
    for k, v in eqn.params.items():
        many = isinstance(v, (tuple, list))
        role = {"jaxpr": "body", "call": "body", "branches": "branch"}.get(k, k.split("_jaxpr")[0])
        out += [(f"{eqn.prim.name} {role}" + (f" {i}" if many else ""), s)
                for i, s in enumerate(v if many else (v,)) if isinstance(s, (IR, OpenIR))]
    return out


def _open(p) -> OpenIR:
    return p.open if isinstance(p, IR) else p


def eqn_sections(jaxpr) -> list:
    """Each equation's section: the label of the innermost region holding it (numbered when
    there are several: "backward 1", "backward 2"), "forward" outside every region; all None
    when the program has no regions."""
    regions = jaxpr.regions
    out = ["forward" if regions else None] * len(jaxpr.eqns)
    for i, (lab, start, stop) in sorted(enumerate(regions), key=lambda r: r[1][1] - r[1][2]):
        out[start:stop] = [f"{lab} {i + 1}" if len(regions) > 1 else lab] * (stop - start)
    return out


def _q(text: str) -> str:
    """A DOT string literal (newlines become line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_FILL = {"forward": "#eaf2fb", "backward": "#fdecea", "fused": "#eafbea"}


def ir_to_dot(jaxpr, verbose: bool = False, name: str = "g", sections: list | None = None) -> str:
    """DOT text in the DeZero picture style: values orange ellipses (inputs and outputs with
    their shape and an "input i"/"output i" line, constants and literals grey notes),
    equations blue boxes. A program with regions (a grad program) draws its "forward" and
    "backward" equations as two labelled clusters; every loop, branch, jit or custom-rule body
    is a nested cluster labelled with its primitive and role ("while body", "cond branch 1").
    `sections`: a cluster label (or None) per equation, overriding the regions."""
    namer, ids, edges, count = _Namer(), {}, [], itertools.count()

    def node(x, out: list, tag: str = "", top: bool = False) -> str:
        if x in ids:  # (a Lit is never in `ids`: each use is its own grey note)
            return ids[x]
        nid = f"v{next(count)}"
        label = (_pp_lit(x) if type(x) is Lit else namer(x)) + (
            f": {x.aval.shape} {x.aval.dtype}" if verbose else "")
        if type(x) is Lit or tag == "const":
            out.append(f"{nid} [label={_q(label)}, color=gray, style=filled, shape=note]")
            return nid
        ids[x] = nid
        look = ", shape=invhouse" if tag.startswith("in") else ", peripheries=2" if tag else ""
        look += ("" if not (top and tag) else ", fillcolor=gold" if "output" in tag else
                 ", fillcolor=palegreen")  # the program's own inputs and outputs stand out
        out.append(f"{nid} [label={_q(label + (chr(10) + tag if tag else ''))}, "
                   f"color=orange, style=filled{look}]")
        return nid

    def cluster(label: str, body: list, style: str) -> list:
        return [f"subgraph cluster_{next(count)} {{", f"label={_q(label)}; {style}", *body, "}"]

    def draw(jx: OpenIR, out: list, sects: list, top: bool = False) -> None:
        tags = {v: f"input {i}" for i, v in enumerate(jx.invars)}
        for i, v in enumerate(jx.outvars):
            if type(v) is Var:
                tags[v] = (tags[v] + ", " if v in tags else "") + f"output {i}"
        for v in jx.constvars:
            node(v, out, "const")
        for v in jx.invars:
            node(v, out, tags[v], top)
        groups: dict[str, list] = {}
        for eqn, sect in zip(jx.eqns, sects):
            dst = out if sect is None else groups.setdefault(sect, [])
            eid = f"e{next(count)}"
            label = eqn.prim.name
            if verbose and eqn.params:
                label += "\n" + ", ".join(f"{k}={pp_param(p)}" for k, p in eqn.params.items()
                                          if not k.startswith("_") and not _is_prog(p))
            box = f"{eid} [label={_q(label)}, color=lightblue, style=filled, shape=box]"
            subs = sub_programs(eqn)
            if subs:
                inner = [box]
                for role, sub in subs:
                    body: list = []
                    draw(_open(sub), body, [None] * len(_open(sub).eqns))
                    inner += cluster(role, body, 'style="rounded,dashed"; color=gray40')
                    edges.extend(f"{eid} -> {ids[v]} [style=dashed, arrowhead=none]"
                                 for v in _open(sub).invars[:1])
                dst += cluster(eqn.prim.name, inner, "style=rounded; color=gray60")
            else:
                dst.append(box)
            edges.extend(f"{node(x, dst, tags.get(x, ''))} -> {eid}" for x in eqn.inputs)
            edges.extend(f"{eid} -> {node(v, dst, tags.get(v, ''), top)}"
                         for v in eqn.out_binders)
        for v in jx.outvars:
            node(v, out, tags.get(v, ""), top)
        for sect, body in groups.items():
            fill = _FILL.get(sect.split(" ")[0], "#f4f4f4")
            out += cluster(sect, body, f"style=filled; fillcolor={_q(fill)}; fontsize=16")

    lines = [f"digraph {name} {{"]
    draw(jaxpr, lines, sections or eqn_sections(jaxpr), True)
    return "\n".join(lines + edges + ["}"])


def ir_outline(jaxpr, sections: list | None = None, name: _Namer | None = None,
               indent: int = 0) -> list[tuple[int, str, str]]:
    """The picture as text rows `(indent, kind, text)`: kind "code" (the jaxpr form, one
    equation a row), "section" (where a grad program's forward or backward part begins) or
    "role" (a sub-program's heading, "while body:", its rows indented below)."""
    name = name or _Namer()
    rows, last = [(indent, "code", _pp_head(jaxpr, name))], None
    for eqn, sect in zip(jaxpr.eqns, sections or eqn_sections(jaxpr)):
        if sect != last and sect is not None:
            rows.append((indent + 2, "section", sect))
        last = sect
        rows.append((indent + 4, "code", _pp_line(eqn, name)))
        for role, sub in sub_programs(eqn):
            rows.append((indent + 6, "role", role + ":"))
            rows += ir_outline(_open(sub), None, name, indent + 8)
    return rows + [(indent + 2, "code", _pp_tail(jaxpr, name))]


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
# and answers within DISPLAY_DOT_TIMEOUT seconds; otherwise a notebook gets the outline
# (`ir_outline`), folded to DISPLAY_MAX_LINES rows under a count of equations per primitive:
# never a hang, never None.

DISPLAY_MAX_EQNS, DISPLAY_DOT_TIMEOUT, DISPLAY_MAX_LINES = 300, 2.0, 80


def count_eqns(jaxpr) -> dict[str, int]:
    """Equations per primitive name, sub-programs (loop, branch and jit bodies) included."""
    counts, stack = {}, [jaxpr]
    while stack:
        for eqn in stack.pop().eqns:
            counts[eqn.prim.name] = counts.get(eqn.prim.name, 0) + 1
            stack += [_open(s) for _, s in sub_programs(eqn)]
    return counts


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ROW = {"section": '<b style="color:#1f5fa8">── {} ──</b>', "role": "<i><b>{}</b></i>",
        "fold": '<i style="color:gray">{}</i>', "code": "{}"}


def ir_display(jaxpr, sections: list | None = None) -> dict[str, str]:
    """A notebook's mime bundle of a program: `image/svg+xml` and `text/html` (the same picture
    when `dot` drew it, else the folded outline: sections and nested bodies as indented text)
    and `text/plain` (the folded outline). `sections` as in `ir_to_dot`."""
    counts = count_eqns(jaxpr)
    n, m = sum(counts.values()), DISPLAY_MAX_LINES
    rows, lines = ir_outline(jaxpr, sections), [(0, "code", ln) for ln in str(jaxpr).split("\n")]
    for r in (rows, lines):  # folded in place
        if len(r) > m:
            r[m * 3 // 4:len(r) - m // 4] = [(4, "fold", f"... {len(r) - m} lines folded ...")]
    plain = "\n".join(" " * i + t for i, _, t in lines)  # the canonical text form
    svg = dot_to_svg(ir_to_dot(jaxpr, sections=sections), DISPLAY_DOT_TIMEOUT) if n <= \
        DISPLAY_MAX_EQNS else None
    if svg is not None:
        return {"image/svg+xml": svg, "text/html": f"<div>{svg[svg.find('<svg'):]}</div>",
                "text/plain": plain}
    why = "too large to draw" if n > DISPLAY_MAX_EQNS else "`dot` is absent or too slow"
    head = f"{n} equations: " + ", ".join(f"{k} {v}" for k, v in sorted(
        counts.items(), key=lambda kv: (-kv[1], kv[0])))
    html = "\n".join(" " * i + _ROW[k].format(_esc(t)) for i, k, t in rows)
    esc = [_esc(ln) for ln in [head] + [" " * i + (f"── {t} ──" if k == "section" else t)
                                        for i, k, t in rows]]
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{8 * max(map(len, esc)) + 16}" '
           f'height="{16 * len(esc) + 8}" font-family="monospace" font-size="13">' + "".join(
               f'<text x="8" y="{16 * i + 16}" xml:space="preserve">{ln}</text>'
               for i, ln in enumerate(esc)) + "</svg>")
    return {"image/svg+xml": svg, "text/plain": plain, "text/html":
            f"<div><p><b>{_esc(head)}</b> ({why}; the outline)</p><pre>{html}</pre></div>"}
