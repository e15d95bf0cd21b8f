"""Fusion planning for the GPU: group maximal runs of elementwise equations into single kernels.

Pure Python over the IR (no CuPy here), so the plan and the CUDA C it renders are tested on the
CPU. `plan_fusion(jaxpr)` returns the program as a list of steps in a valid execution order:
each step is either one `Eqn` (a reduction, a contraction, a shape op: a library call), one
`FusedKernel` (a group of elementwise equations, run as one `cupy.ElementwiseKernel`, with one
output per value read outside it) or one `FusedReduction` (a group and the reduction reading
it, run as one `cupy.ReductionKernel`).

The C-expression table `c_exprs` is filled by each primitive's block (`register_c_expr`); this
module knows no primitive. An entry is `fn(args, in_dtypes, out_dtype, **params) -> str`: the C
expression of one element from the operands' C expressions `args`, typed by the NumPy dtypes
of the operands and the result (`C_TYPES` names them in C). An equation is elementwise (can be a
kernel member) when its primitive has an entry and all its dtypes have C types.

Grouping rule. Equations are visited in program order. An elementwise equation joins an open
group of its output shape that produces one of its inputs; otherwise it starts a group. A group
closes as soon as anything outside it reads one of its values, so a kernel never has to run
both before and after another step: the kernel runs where its last member was. A broadcast
(a primitive registered with `numpy_codegen.register_broadcast`) joins a group as an *input
adapter* when its operand comes from outside the group: the kernel then reads the operand
reshaped with size-1 axes and lets the elementwise launch broadcast it, so bias adds and
softmax's row broadcasts fuse. Siblings: an elementwise equation that no open group feeds joins
an open group of its shape that reads one of its inputs (open groups are independent of each
other, so merging them is always valid): ten functions of one input are one multi-output kernel.

Producers recomputed in their readers. After grouping, a closed group (at most 32 equations) all
of whose readers (at most 4) are groups of its shape or reductions registered with
`register_reduction` of one of its values is copied into each reader and its own kernel dropped:
a reader group runs the group's equations first; a reduction becomes a `FusedReduction` whose
map expression is the group's body (a device function). Elementwise work is cheap next to the
memory traffic a separate kernel costs, so softmax and cross-entropy's exp(z - max) is computed
by the row sum and again by the consumer instead of being stored and read back.

Epilogues. Last, a kernel reading a reduction's result, of the result's size, whose other
inputs are ready before the reduction runs, is computed by the reduction's kernel after the
reduction (`cupy.ReductionKernel`'s post-map expression), so the normalising divide, log, safe
max or parameter update after a row or bias sum costs no launch of its own.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np

from ..core import NOT_APPLICABLE, Primitive
from ..ir import Eqn, Lit, OpenIR, Var
from .native import views
from .numpy_codegen import broadcasts

# C types of the dtypes a fused kernel handles (CuPy's ElementwiseKernel names them this way)
C_TYPES = {
    np.dtype("bool"): "bool", np.dtype("int8"): "signed char", np.dtype("uint8"): "unsigned char",
    np.dtype("int16"): "short", np.dtype("uint16"): "unsigned short",
    np.dtype("int32"): "int", np.dtype("uint32"): "unsigned int",
    np.dtype("int64"): "long long", np.dtype("uint64"): "unsigned long long",
    np.dtype("float16"): "float16", np.dtype("float32"): "float", np.dtype("float64"): "double",
}
CExpr = Callable[..., str]  # fn(args, in_dtypes, out_dtype, **params) -> C expression
c_exprs: dict[Primitive, CExpr] = {}
# reductions a producer group fuses into: prim -> (combine of `a` and `b` in C, identity(dtype))
reductions: dict[Primitive, tuple[str, Callable[[np.dtype], Any]]] = {}


def register_reduction(prim: Primitive, combine: str, identity: Callable[[np.dtype], Any]):
    """Let `prim` (params: `axes`) absorb its elementwise producer into a `cupy.ReductionKernel`
    reducing with the C expression `combine` of `a` and `b`, starting from `identity(dtype)`."""
    reductions[prim] = (combine, identity)


def register_c_expr(prim: Primitive, rule: CExpr | str) -> None:
    """Fuse `prim` into GPU kernels as the C expression `rule` makes; a string is a template
    over the operands ("({0} + {1})"), and NOT_APPLICABLE marks a primitive never fused (the
    generated code calls its impl)."""
    c_exprs[prim] = rule if callable(rule) or rule == NOT_APPLICABLE else (
        lambda args, ins, out, **_: rule.format(*args))


def is_elementwise(eqn: Eqn) -> bool:
    """Whether `eqn` can be an expression inside a fused kernel."""
    return callable(c_exprs.get(eqn.prim)) and all(
        v.aval.dtype in C_TYPES for v in (*eqn.out_binders, *eqn.inputs))


def _is_adapter(eqn: Eqn) -> bool:
    return eqn.prim in broadcasts and eqn.inputs[0].aval.dtype in C_TYPES


class FusedKernel:
    """One fused elementwise kernel: its equations, inputs, outputs and CUDA C.

    Attributes:
        name: kernel name (stable: derived from the source text).
        eqns: member equations in program order.
        inputs: atoms read from outside (each passed as one kernel argument).
        input_shapes: the shape each input is reshaped to before the launch (size-1 axes added
            for broadcast adapters); `None` when passed as is.
        outputs: member variables read outside the kernel (each one kernel output).
        shape: the iteration shape.
        in_params, out_params, operation: the three strings of `cupy.ElementwiseKernel`.
    """

    def __init__(self, eqns: list[Eqn], inputs: list, input_shapes: list, outputs: list[Var],
                 shape: tuple[int, ...], in_params: str, out_params: str, operation: str):
        self.eqns, self.inputs, self.input_shapes = eqns, inputs, input_shapes
        self.outputs = outputs
        self.shape = shape
        self.in_params, self.out_params, self.operation = in_params, out_params, operation
        digest = hashlib.sha1(f"{in_params}|{out_params}|{operation}".encode()).hexdigest()[:10]
        self.name = f"funcgrad_fused_{digest}"

    @property
    def source(self) -> str:
        """The kernel as readable CUDA C: parameters as comments, then the per-element body."""
        n = sum(1 for e in self.eqns if not _is_adapter(e))
        return (f"// {self.name}: {n} primitive(s) fused, iteration shape {self.shape}\n"
                f"// in:  {self.in_params}\n// out: {self.out_params}\n{self.operation}")

    def __repr__(self) -> str:
        return f"FusedKernel({self.name}, {len(self.eqns)} eqns, shape={self.shape})"


class FusedReduction(FusedKernel):
    """An elementwise group fused into the reduction that consumes it: one `cupy.ReductionKernel`
    whose map expression calls the group's body (a device function in `preamble`). Beyond
    `FusedKernel`'s attributes (`outputs` is the reduction's result, `shape` the iteration shape
    before reducing): `axes`, `map_expr`, `reduce_expr`, `post_map_expr`, `identity`,
    `reduce_type`, `preamble`."""

    def __init__(self, k: FusedKernel, eqn: Eqn, combine: str, identity: Any):
        out, dt = eqn.out_binders[0], eqn.out_binders[0].aval.dtype
        rdt = np.dtype("float32") if dt == np.float16 else dt  # CuPy sums float16 in float
        self.axes = tuple(eqn.params["axes"])
        self.reduce_expr, self.reduce_type = combine, C_TYPES[rdt]
        self.identity = _c_literal(identity(dt), rdt)
        self.post_map_expr, self.n_extra = f"out0 = ({C_TYPES[dt]})(a)", 0
        ret = k.operation.rsplit(" = ", 1)[1].rstrip(";")  # the body's one output assignment
        fn = f"map_{hashlib.sha1(k.operation.encode()).hexdigest()[:10]}"
        args = [p.split() for p in k.in_params.split(", ")] if k.in_params else []
        self.map_expr = f"{fn}({', '.join(n for _, n in args)})"
        self.preamble = (f"__device__ {C_TYPES[dt]} {fn}("
                         f"{', '.join(f'const {C_TYPES[np.dtype(t)]} {n}' for t, n in args)}) {{\n"
                         + "".join(f"  {ln}\n" for ln in k.operation.splitlines()[:-1])
                         + f"  return {ret};\n}}\n")
        super().__init__([*k.eqns, eqn], k.inputs, k.input_shapes, [out], k.shape, k.in_params,
                         f"{dt.name} out0", f"{self.preamble}|{combine}|{self.axes}")

    def with_epilogue(self, e: FusedKernel, host: Var) -> FusedReduction:
        """This reduction also computing the kernel `e` in `post_map_expr`: a device function of
        the result (`e`'s input `host`) and `e`'s other inputs (of the result's size, read as
        extra output parameters after `e`'s outputs) writing `e`'s outputs after `out0`."""
        fn, n = f"epilogue_{e.name[-10:]}_{e.inputs.index(host)}", len(e.outputs) + 1
        outs, ins = ([p.split() for p in ps.split(", ")] for ps in (e.out_params, e.in_params))
        extra = [x for x in e.inputs if x is not host]
        self.preamble += (f"__device__ void {fn}(" + ", ".join(
            [f"const {C_TYPES[np.dtype(t)]} {a}" for t, a in ins]
            + [f"{C_TYPES[np.dtype(t)]} &{a}" for t, a in outs]) + ") {\n"
            + "".join(f"  {ln}\n" for ln in e.operation.splitlines()) + "}\n")
        args = [self.post_map_expr if x is host else f"out{n + extra.index(x)}" for x in e.inputs]
        self.post_map_expr = f"{fn}({', '.join(args + [f'out{i}' for i in range(1, n)])})"
        self.out_params += "".join(f", {t} out{i + 1}" for i, (t, _) in enumerate(outs)) + "".join(
            f", {x.aval.dtype.name} out{n + i}" for i, x in enumerate(extra))
        self.eqns, self.outputs = self.eqns + e.eqns, self.outputs + e.outputs
        self.inputs, self.input_shapes = self.inputs + extra, self.input_shapes + [None] * len(
            extra)
        self.name, self.n_extra = f"{self.name}_{fn[9:]}", len(extra)
        return self

    @property
    def source(self) -> str:
        return (f"// {self.name}: reduction over axes {self.axes} of shape {self.shape}\n"
                f"// in:  {self.in_params}\n// out: {self.out_params}\n{self.preamble}"
                f"// map: {self.map_expr}  reduce: {self.reduce_expr}  identity: {self.identity}"
                f"  post map: {self.post_map_expr}")


class _Group:
    __slots__ = ("eqns", "shape", "open")

    def __init__(self, shape):
        self.eqns: list[Eqn] = []
        self.shape = shape
        self.open = True


def plan_fusion(jaxpr: OpenIR) -> list[Any]:
    """The program as steps (`Eqn` or `FusedKernel`) in a valid execution order."""
    producer: dict[Var, _Group] = {}
    steps: list[Any] = []  # Eqn, or _Group placeholders resolved at the end
    last_pos: dict[int, int] = {}  # id(group) -> index in steps of its placeholder
    read_by: dict[Var, list[_Group]] = {}  # the groups that read each variable
    for eqn in jaxpr.eqns:
        readers = []
        for x in eqn.inputs:
            g = producer.get(x) if type(x) is Var else None
            if g is not None and g not in readers:
                readers.append(g)
        shape = eqn.out_binders[0].aval.shape if eqn.out_binders else ()
        group = None
        if is_elementwise(eqn):
            # open groups of this shape that feed this equation merge into one: being open,
            # none of them is read from outside, so they are independent of each other ...
            # and siblings: open groups of this shape reading one of its inputs
            ins = [x for x in eqn.inputs if type(x) is Var]
            cands = list(dict.fromkeys(g for g in readers + [h for x in ins for h in
                                                              read_by.get(x, ())]
                                       if g.open and g.shape == shape))
            if cands:
                group = cands[0]
                for other in cands[1:]:
                    group.eqns.extend(other.eqns)
                    other.open = False  # merged: its entries in read_by are stale
                    for e in other.eqns:
                        for v in e.out_binders:
                            producer[v] = group
                    steps[last_pos.pop(id(other))] = None
        for g in readers:  # every other group read here is consumed from outside: it closes
            if g is not group:
                g.open = False
        if group is None and (_is_adapter(eqn) or is_elementwise(eqn)):
            group = _Group(shape)  # an adapter alone waits for an elementwise reader to join
        if group is None:
            steps.append(eqn)
            continue
        group.eqns.append(eqn)
        for x in eqn.inputs:
            if type(x) is Var:
                read_by.setdefault(x, []).append(group)
        for v in eqn.out_binders:
            producer[v] = group
        if id(group) in last_pos:  # the kernel runs where its last member is
            steps[last_pos[id(group)]] = None
        last_pos[id(group)] = len(steps)
        steps.append(group)
    _inline_producers(jaxpr, steps)
    used_outside = _uses_outside(jaxpr, steps)
    out: list[Any] = []
    for s in steps:
        if s is None:
            continue
        if isinstance(s, _Group):
            if all(_is_adapter(e) for e in s.eqns):
                out.extend(s.eqns)  # a broadcast nobody fused: a plain library call
            else:
                out.append(_render(s, used_outside))
        else:
            out.append(s)
    return _attach_epilogues(out)


def _attach_epilogues(steps: list) -> list:
    """A kernel of a reduction's result's size reading that result (or a reshape of it) and
    otherwise only values of that size ready before the reduction runs becomes the reduction's
    epilogue (`FusedReduction.with_epilogue`), one launch less: softmax's max -> safe max, its
    sum -> log + max, mean's sum -> divide, a bias gradient's sum -> the SGD update. The last
    reduction such a kernel reads hosts it; a library reduction becomes a `FusedReduction`
    whose map reads its operand."""
    src: dict[Var, int] = {}  # a reduction's result (or a view of it) -> the reduction's step
    made: dict[Var, int] = {}  # what the other steps compute -> their step
    for i, s in enumerate(steps):
        outs = s.outputs if isinstance(s, FusedKernel) else s.out_binders
        if isinstance(s, FusedReduction) or isinstance(s, Eqn) and s.prim in reductions and \
                s.params["axes"] and type(s.inputs[0]) is Var and s.inputs[0].aval.dtype in (
                    t for t in C_TYPES if t.kind in "fiu"):
            src[outs[0]] = i
        elif isinstance(s, Eqn) and s.prim in views and s.inputs[0] in src and "permutation" \
                not in s.params and s.out_binders[0].aval.size == s.inputs[0].aval.size != 0 and \
                s.out_binders[0].aval.shape != s.inputs[0].aval.shape:  # a reshape: same order
            src[outs[0]] = src[s.inputs[0]]
        elif type(s) is FusedKernel and s.outputs and any(x in src for x in s.inputs):
            j = max(src.get(x, -1) for x in s.inputs)  # the last reduction read hosts it
            host = [x for x in s.inputs if src.get(x) == j]
            if len(host) == 1 and all(int(np.prod(t or x.aval.shape)) == np.prod(s.shape) ==
                                      host[0].aval.size for x, t in zip(s.inputs, s.input_shapes)) \
                    and all(made.get(x, src.get(x, -1)) < j for x in s.inputs if x is not host[0]):
                src, r = {v: k for v, k in src.items() if k != j}, steps[j]  # one epilogue each
                if isinstance(r, Eqn):
                    x = r.inputs[0]
                    r = FusedReduction(FusedKernel([], [x], [None], [], x.aval.shape,
                                                   f"{x.aval.dtype.name} in0", "", "out0 = in0;"),
                                       r, *reductions[r.prim])
                steps[j], steps[i] = r.with_epilogue(s, host[0]), None
                made.update((v, j) for v in s.outputs)
                continue
        made.update((v, i) for v in outs)
    return [s for s in steps if s is not None]


def _inline_producers(jaxpr: OpenIR, steps: list) -> None:
    """Recompute each group inside all its readers, and drop its kernel, when every reader is a
    group of its shape or a reduction of one of its values (which becomes a `FusedReduction`);
    small groups with at most four readers only, so the recomputation stays bounded."""
    readers: dict[Var, list] = {}
    for s in steps:
        for x in [x for e in (s.eqns if isinstance(s, _Group) else [s] if s else [])
                  for x in e.inputs]:
            if type(x) is Var and s not in readers.setdefault(x, []):
                readers[x].append(s)
    outvars = {x for x in jaxpr.outvars if type(x) is Var}
    pos = {id(s): i for i, s in enumerate(steps)}  # readers come later (kept as a check)
    for i, g in enumerate(steps):
        if not isinstance(g, _Group) or len(g.eqns) > 32 or all(_is_adapter(e) for e in g.eqns):
            continue
        own = [v for e in g.eqns for v in e.out_binders]
        rs = {id(r): (r, v) for v in own for r in readers.get(v, ()) if r is not g}
        if not rs or len(rs) > 4 or outvars.intersection(own) or min(map(pos.get, rs)) < i or \
                not all(
                r.shape == g.shape if isinstance(r, _Group) else r.prim in reductions and
                r.params["axes"] and r.inputs[0] is v and v.aval.dtype.kind in "fiu"
                for r, v in rs.values()):
            continue
        red = {id(r): _render(g, {v}) for r, v in rs.values() if not isinstance(r, _Group)}
        if not all(np.broadcast_shapes(*[s or a.aval.shape for a, s in zip(
                k.inputs, k.input_shapes)], ()) == g.shape for k in red.values()):
            continue  # a reduction's launch must broadcast its operands to the full shape
        for j, r in enumerate(steps[i + 1:], i + 1):
            if id(r) in red:
                steps[j] = FusedReduction(red[id(r)], r, *reductions[r.prim])
            elif id(r) in rs:  # g's equations first, once each, in program order
                r.eqns = list({id(e): e for e in g.eqns + r.eqns}.values())
        steps[i] = None
        for v in own:
            readers.pop(v, None)


def _uses_outside(jaxpr: OpenIR, steps: list) -> set[Var]:
    """The values a step reads but does not compute (and the outputs): kernel outputs."""
    used = {x for x in jaxpr.outvars if type(x) is Var}
    for s in steps:
        eqns = s.eqns if isinstance(s, (_Group, FusedKernel)) else [s] if s else []
        own = {v for e in eqns for v in e.out_binders}
        used.update(x for e in eqns for x in e.inputs if type(x) is Var and x not in own)
    return used


# --- rendering ---------------------------------------------------------------------------------

def _c_literal(val: Any, dtype: np.dtype) -> str:
    val = np.asarray(val).item()
    if dtype == np.bool_:
        return "true" if val else "false"
    if dtype.kind == "f":
        r = repr(float(val))
        r = {"inf": "(1.0/0.0)", "-inf": "(-1.0/0.0)", "nan": "(0.0/0.0)"}.get(r, r)
        return f"(({C_TYPES[dtype]}){r})"  # typed: an untyped double makes overloads ambiguous
    return f"(({C_TYPES[dtype]}){int(val)})"


def _render(group: _Group, used_outside: set[Var]) -> FusedKernel:
    names: dict[Any, str] = {}
    inputs, input_shapes, in_params, body = [], [], [], []
    ndim = len(group.shape)

    def arg(x) -> str:
        if type(x) is Lit:
            return _c_literal(x.val, x.aval.dtype)
        if x not in names:
            names[x] = f"in{len(inputs)}"
            inputs.append(x)
            input_shapes.append(None if len(x.aval.shape) == ndim else
                                (1,) * (ndim - len(x.aval.shape)) + tuple(x.aval.shape))
            in_params.append(f"{x.aval.dtype.name} {names[x]}")
        return names[x]

    n_tmp = 0
    for eqn in group.eqns:
        out = eqn.out_binders[0]
        ctype = C_TYPES[out.aval.dtype]
        if _is_adapter(eqn):  # the operand, reshaped to the kernel's rank, broadcasts at launch
            (x,) = eqn.inputs
            if type(x) is Lit:
                names[out] = _c_literal(x.val, x.aval.dtype)
                continue
            names[out] = arg(x)
            input_shapes[inputs.index(x)] = tuple(broadcasts[eqn.prim](eqn))
            continue
        args = [arg(x) if type(x) is Lit or x not in names else names[x] for x in eqn.inputs]
        expr = c_exprs[eqn.prim](args, [x.aval.dtype for x in eqn.inputs], out.aval.dtype,
                                 **eqn.params)
        tmp = f"t{n_tmp}"
        n_tmp += 1
        body.append(f"const {ctype} {tmp} = {expr};")
        names[out] = tmp
    outputs = [v for e in group.eqns for v in e.out_binders if v in used_outside]
    out_params = []
    for i, v in enumerate(outputs):
        out_params.append(f"{v.aval.dtype.name} out{i}")
        body.append(f"out{i} = {names[v]};")
    return FusedKernel(group.eqns, inputs, input_shapes, outputs, group.shape,
                       ", ".join(in_params), ", ".join(out_params), "\n".join(body))

