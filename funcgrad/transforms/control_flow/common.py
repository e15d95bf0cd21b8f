"""Helpers shared by the control-flow primitives (`cond.py`, `scan.py`, `while_loop.py`).

Tracing a user function into a closed sub-program, running a sub-program (compiled when its
inputs are concrete), staging an equation by hand inside a partial-eval rule, stacking per-step
outputs, row selection, carry checks and fixpoints, and the printing rule of every primitive
whose params hold sub-programs. The overview of the control-flow family is the docstring of
`funcgrad/transforms/control_flow/__init__.py`.
"""
from __future__ import annotations

import contextlib
import functools
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ...avals import ShapedArray
from ...backend import get_array_module, is_gpu_array
from ...backend.compile import compile_closed
from ...backend.numpy_codegen import call_emitter
from ...core import DEBUG_NANS as _DEBUG_NANS
from ...core import Primitive, Tracer, _dynamic, get_aval_of, trace_stack
from ...errors import ConcretizationError, FuncgradError, user_frame
from ...ir import IR, Eqn, _pp_atom, _pp_ir_lines, eval_ir, pp_param
from ...primitives import broadcast_in_dim, concatenate, convert_element_type, expand_dims, select
from ...pytree import flatten_fun, keystr, tree_flatten, tree_flatten_with_path, tree_unflatten
from ...staging import _UNKNOWN, IRTracer, trace_to_ir
from ..program import closure_convert


def _no_transform_active() -> bool:
    return len(trace_stack) == 1 and _dynamic[0] is None


def _maybe_concrete(x: Any) -> Any:
    """The concrete value of `x`, or None when it is only known abstractly."""
    if not isinstance(x, Tracer):
        return x
    try:
        return x.concrete_value()
    except ConcretizationError:
        return None


def _concrete(xs: Sequence) -> bool:
    return not any(isinstance(x, Tracer) for x in xs)


def _call(closed: IR, args: Sequence) -> list:
    """Run a sub-program: its compiled code on concrete values (loop bodies run many times),
    otherwise `eval_ir` under whatever transform owns the traced ones."""
    if _dynamic[0] is None and not _DEBUG_NANS[0] and _concrete(args):
        return compile_closed(closed, gpu=any(map(is_gpu_array, args))).fn(*args)  # its device
    return eval_ir(closed, args)


# How a control-flow primitive runs its sub-programs: its loop is written once, taking one of
# these. The impl evaluates them (`_call`); the generated NumPy code runs their compiled code.
def _evaluated(closed: IR) -> Callable:
    return lambda *args: _call(closed, args)


def _compiled_fn(closed: IR) -> Callable:
    return compile_closed(closed).fn


def control_flow_emitter(loop: Callable):
    """The NumPy emitter of a control-flow primitive whose impl is `partial(loop, _evaluated)`:
    a call of `loop` running the compiled sub-programs."""
    return call_emitter(lambda **params: functools.partial(loop, _compiled_fn, **params))


def _same_type(a: ShapedArray, b: ShapedArray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def _paths(tree_struct_example) -> list[str]:
    return [keystr(p) for p, _ in tree_flatten_with_path(tree_struct_example)[0]]


def _trace_fun(fun: Callable, args: tuple, what: str):
    """Stage `fun(*args)` (args a tuple of pytrees). Returns (program with constants hoisted
    into leading inputs, the constants, output tree, output example with avals as leaves)."""
    leaves, in_tree = tree_flatten(args)
    f_flat, out_tree = flatten_fun(fun, in_tree)
    closed = trace_to_ir(f_flat, [get_aval_of(x) for x in leaves], name=what)
    closed, consts = closure_convert(closed)
    return closed, consts, out_tree.val


def _as_arrays(tree, dtypes: Sequence | None = None, eager: bool = True):
    """`tree` with its leaves given a dtype in `dtypes` cast to it and, `eager`, its Python
    scalars made arrays as `fnp.asarray` makes them (bool, int64, float64, complex128; on the
    device of its arrays), so that a branch or an eager loop body always receives arrays
    (`x.dtype`, `x.astype(...)` work; staged bodies receive tracers)."""
    leaves, tree_def = tree_flatten(tree)
    xp = get_array_module(*[v for v in leaves if not isinstance(v, Tracer)])

    def conv(v, d):
        if d is not None and (isinstance(v, Tracer) or not eager):
            return convert_element_type(v, d)
        py = eager and type(v) in (bool, int, float, complex)
        return xp.asarray(v, d) if d is not None or py else v
    return tree_unflatten(tree_def, [conv(v, d) for v, d in
                                     zip(leaves, dtypes or [None] * len(leaves))])


def _weak_promoted(step: Callable, args: tuple, what: str, eager: bool):
    """A loop's initial carry `args[-1]`, its Python scalars made arrays (`eager`) and, by JAX's
    rule for weak-typed values (Python scalars, or computed from them only), each weak leaf in
    the dtype the body `step(*args)` (returning the carry) returns for it when that is a
    promotion of it (a `0.0` carry accumulating float32 values is float32). A body running only
    on values (Python control flow on them) cannot be traced: nothing is promoted then."""
    init = args[-1]
    leaves, tree = tree_flatten(init)
    avals, dtypes = [get_aval_of(v) for v in leaves], None
    if any(a.weak_type for a in avals):
        with contextlib.suppress(FuncgradError):
            out_tree, outs = _out_type(step, args, what)
            dtypes = out_tree == tree and [
                b.dtype if a.weak_type and a.shape == b.shape and a.dtype != b.dtype and
                np.result_type(a.dtype.type(0).item(), b.dtype) == b.dtype else None
                for a, b in zip(avals, outs)]
    return _as_arrays(init, dtypes or None, eager)


_OUT_TYPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # fun -> {in types: out}


def _out_type(fun: Callable, args: tuple, what: str):
    """(output tree, output avals) of `fun(*args)` traced with abstract values only, cached per
    function (held weakly) and input types, so a repeated eager call does not trace again."""
    leaves, in_tree = tree_flatten(args)
    key = (in_tree, *[(a.shape, a.dtype, a.weak_type) for a in map(get_aval_of, leaves)])
    try:
        table = _OUT_TYPES.setdefault(fun, {})
    except TypeError:  # not weak-referenceable (a builtin): traced every time
        table = {}
    if key not in table:
        closed, _, out_tree = _trace_fun(fun, args, what)
        table[key] = (out_tree, list(closed.out_avals))
    return table[key]


def _stage(trace, prim: Primitive, tracers: list, params: dict) -> list:
    """Record `prim` as an equation of a (partial) staging trace, bypassing its partial-eval
    hook. `tracers` may hold known values; they become constants of the program."""
    tracers = [t if isinstance(t, IRTracer) and t._trace is trace else trace.pure(t)
               for t in tracers]
    avals_out = prim.abstract_eval(*[t.aval for t in tracers], **params)
    outs = [IRTracer(trace, a) for a in avals_out]
    trace.main.global_data.eqns.append(Eqn(prim, [t.var for t in tracers], params,
                                           [o.var for o in outs]))
    return outs


def _stack(vals: list):
    """Stack per-step values along a new leading axis (on their own device when concrete)."""
    if all(not isinstance(v, Tracer) for v in vals):
        xp = get_array_module(*vals)  # GPU arrays stay there
        return xp.stack([xp.asarray(v) for v in vals])
    return concatenate([expand_dims(v, (0,)) for v in vals], 0)


def _where(mask, new, old):
    """`new` where `mask` holds, else `old`; `mask` (bool) covers the leading axes of `new`."""
    shape = get_aval_of(new).shape
    mask_ndim = get_aval_of(mask).ndim
    if mask_ndim != len(shape):
        mask = broadcast_in_dim(mask, shape, tuple(range(mask_ndim)))
    return select(mask, new, old)


def _pp_rule(eqn, name, indent: int) -> list[str]:
    """Print an equation whose params hold sub-programs (alone or in tuples), one per block."""
    lhs = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in eqn.out_binders)
    pad = " " * indent
    lines = [f"{pad}{lhs} = {eqn.prim.name}["]
    for k, v in eqn.params.items():
        if k.startswith("_"):
            continue
        if isinstance(v, IR):
            sub = _pp_ir_lines(v.open, name, indent + 4)
            lines.append(f"{pad}  {k}=" + sub[0].lstrip())
            lines.extend(sub[1:])
        elif isinstance(v, tuple) and v and all(isinstance(b, IR) for b in v):
            lines.append(f"{pad}  {k}=(")
            for b in v:
                lines.extend(_pp_ir_lines(b.open, name, indent + 4))
            lines.append(f"{pad}  )")
        else:
            lines.append(f"{pad}  {k}={pp_param(v)}")
    args = " ".join(_pp_atom(x, name) for x in eqn.inputs)
    lines.append(f"{pad}] {args}")
    return lines


def _unknown_flags(known: list) -> list[bool]:
    return [k is _UNKNOWN for k in known]


def _known_or_tracer(known: list, tracers: list) -> list:
    return [t if k is _UNKNOWN else k for k, t in zip(known, tracers)]


def _fixpoint(step: Callable, flags: list[bool]) -> list[bool]:
    """Grow `flags` (carry nonzero/unknown/batched) until the body maps it into itself."""
    flags = list(flags)
    while True:
        out = step(flags)
        new = [a or b for a, b in zip(flags, out)]
        if new == flags:
            return flags
        flags = new


def _check_carry(what: str, fun_name: str, init_tree, init_avals, out_tree, out_avals) -> None:
    if out_tree != init_tree:
        raise FuncgradError(
            f"{what}: {fun_name} must return a carry with the same pytree structure as the "
            f"initial value, but the initial carry is {init_tree} and {fun_name} returned "
            f"{out_tree}, at {user_frame()}")
    for j, (a, b) in enumerate(zip(init_avals, out_avals)):
        if not _same_type(a, b):
            path = _paths(tree_unflatten(init_tree, list(range(init_tree.num_leaves))))[j]
            raise FuncgradError(
                f"{what}: the carry changed type: carry{path} is {a.str_short()} initially but "
                f"{fun_name} returns {b.str_short()}, at {user_frame()}\nA loop carry must keep "
                f"its shape and dtype; cast with `.astype(...)` (e.g. start from `0.0`, not `0`, "
                f"for a float accumulator) or use `fnp.broadcast_to`.")
