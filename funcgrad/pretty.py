"""The canonical text form of the IR (JAX's jaxpr form) and its Graphviz picture."""
from __future__ import annotations

import itertools
import shutil
import subprocess
from typing import Any

import numpy as np

from .avals import ShapedArray, short_dtype

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
    from .ir import ClosedJaxpr, Jaxpr
    if isinstance(v, (Jaxpr, ClosedJaxpr)):
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
    from .ir import Lit
    return _pp_lit(x) if type(x) is Lit else name(x)


def _pp_eqn(eqn, name: _Namer, indent: int) -> list[str]:
    from .ir import ClosedJaxpr, Jaxpr
    if callable(eqn.prim.pp_rule):  # higher-order primitives print their sub-programs
        return eqn.prim.pp_rule(eqn, name, indent)
    lhs = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in eqn.out_binders)
    subs = {k: v for k, v in eqn.params.items() if isinstance(v, (Jaxpr, ClosedJaxpr))}
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
        jaxpr = v.jaxpr if isinstance(v, ClosedJaxpr) else v
        sub = _pp_jaxpr_lines(jaxpr, name, indent + 4)
        lines.append(" " * (indent + 2) + f"{k}=" + sub[0].lstrip())
        lines.extend(sub[1:])
    lines.append(" " * indent + "] " + args)
    return lines


def _pp_jaxpr_lines(jaxpr, name: _Namer, indent: int) -> list[str]:
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


def pp_jaxpr(jaxpr) -> str:
    """The canonical text of a program: `{ lambda ; a:f32[3]. let b:f32[3] = sin a in (b,) }`."""
    return "\n".join(_pp_jaxpr_lines(jaxpr, _Namer(), 0))


# --- Graphviz -------------------------------------------------------------------------------

def jaxpr_to_dot(jaxpr, verbose: bool = False, name: str = "g") -> str:
    """DOT text in the DeZero picture style: values orange ellipses, equations blue boxes."""
    from .ir import Lit
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
        from .pretty import pp_param as _pp
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


def dot_to_svg(dot: str) -> str | None:
    """Render DOT to SVG with the `dot` binary, or None when Graphviz is not installed."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    res = subprocess.run([exe, "-Tsvg"], input=dot.encode(), capture_output=True, timeout=30)
    return res.stdout.decode() if res.returncode == 0 else None
