"""Differentiable, batchable control flow: `cond`/`switch`, `while_loop`, `fori_loop`, `scan`.

Three higher-order primitives carry IR sub-programs (closed over nothing: constants are hoisted
into leading operands) in their params:

- `cond_p(index, *ops; branches)`: run `branches[index]` (index clamped into range).
- `while_p(*cond_consts, *body_consts, *carry; cond_jaxpr, body_jaxpr, cond_nconsts,
  body_nconsts)`: `while cond(carry): carry = body(carry)`.
- `scan_p(*consts, *carry, *xs; jaxpr, num_consts, num_carry, length, reverse)`:
  `carry, y_i = body(consts, carry, x_i)` for i = 0..length-1 (or backwards), ys stacked.

Each has impl, abstract eval, jvp, partial eval (how `linearize` stages only the tangent part),
transpose (cond, scan), batching and printing rules, all in one block per primitive.

Eager fast paths: when no transform is active, `while_loop`, `fori_loop` and `scan` are plain
Python loops and `cond`/`switch` call the chosen branch; whenever the predicate of a `cond` is
concrete (also under `grad` and `jvp`, whose primal values are concrete), only the chosen branch
is traced.

Reverse mode through `while_loop` (no fixed trip count): during `linearize` the primal loop runs
(its predicate is concrete), recording the trip count `T` and the residuals of each iteration;
the tangent loop is staged as a length-`T` `scan` over the stacked residuals, whose transpose is
a reverse `scan`. Under full staging (`make_ir`, `jit`) the trip count is unknown and reverse
mode raises an error suggesting `fori_loop` with static bounds or `scan`.

vmap of `cond` with a batched predicate whose values are known (eager vmap, vmap of grad) runs
each branch only on the rows that take it: gather those rows, run the branch batched, scatter
back. When the predicate values are not known (under `make_ir`/`jit`) both branches run on every
row and `select` picks the results.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from ..avals import ShapedArray
from ..core import DEBUG_NANS as _DEBUG_NANS
from ..core import (
    NOT_APPLICABLE,
    ConcretizationError,
    FuncgradError,
    Primitive,
    Tracer,
    Zero,
    _dynamic,
    get_aval_of,
    is_undefined_primal,
    not_mapped,
    trace_stack,
    user_frame,
)
from ..ir import ClosedJaxpr, Eqn, eval_jaxpr
from ..pytree import keystr, tree_flatten, tree_flatten_with_path, tree_unflatten
from ..staging import _UNKNOWN, JaxprTracer, trace_to_jaxpr
from .ir_transforms import (
    add_unused_inputs,
    batch_jaxpr,
    closure_convert,
    jvp_jaxpr,
    partial_eval_jaxpr,
    partial_eval_jaxpr_fwd,
    permute_inputs,
    permute_outputs,
    split_list,
    transpose_jaxpr,
)

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan", "cond_p", "while_p", "scan_p"]


# --- shared helpers -----------------------------------------------------------------------------

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


def _call(closed: ClosedJaxpr, args: Sequence) -> list:
    """Run a sub-program: as compiled NumPy code on concrete values (loop bodies run many
    times), interpreted under whatever transform owns traced ones."""
    if _dynamic[0] is None and not _DEBUG_NANS[0] and not any(isinstance(a, Tracer)
                                                              for a in args):
        from .jit import compile_closed
        return compile_closed(closed).fn(*args)
    return eval_jaxpr(closed.jaxpr, closed.consts, list(args))


def _same_type(a: ShapedArray, b: ShapedArray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype


def _paths(tree_struct_example) -> list[str]:
    return [keystr(p) for p, _ in tree_flatten_with_path(tree_struct_example)[0]]


def _trace_fun(fun: Callable, args: tuple, what: str):
    """Stage `fun(*args)` (args a tuple of pytrees). Returns (program with constants hoisted
    into leading inputs, the constants, output tree, output example with avals as leaves)."""
    leaves, in_tree = tree_flatten(args)
    out_trees = []

    def f_flat(*ls):
        out = fun(*tree_unflatten(in_tree, ls))
        o_leaves, o_tree = tree_flatten(out)
        out_trees.append(o_tree)
        return o_leaves

    closed = trace_to_jaxpr(f_flat, [get_aval_of(x) for x in leaves], name=what)
    closed, consts = closure_convert(closed)
    return closed, consts, out_trees[-1]


def _stage(trace, prim: Primitive, tracers: list, params: dict) -> list:
    """Record `prim` as an equation of a (partial) staging trace, bypassing its partial-eval
    hook. `tracers` may hold known values; they become constants of the program."""
    tracers = [t if isinstance(t, JaxprTracer) and t._trace is trace else trace.pure(t)
               for t in tracers]
    avals_out = prim.abstract_eval(*[t.aval for t in tracers], **params)
    outs = [JaxprTracer(trace, a) for a in avals_out]
    trace.main.global_data.eqns.append(Eqn(prim, [t.var for t in tracers], params,
                                           [o.var for o in outs]))
    return outs


def _zeros_like(aval: ShapedArray):
    from ..primitives.rules import zeros_like_aval
    return zeros_like_aval(aval)


def _instantiate(t):
    return _zeros_like(t.aval) if type(t) is Zero else t


def _stack(vals: list):
    if all(not isinstance(v, Tracer) for v in vals):
        if any(hasattr(v, "__cuda_array_interface__") for v in vals):  # GPU arrays stay there
            from ..backend import get_array_module
            xp = get_array_module(*vals)
            return xp.stack([xp.asarray(v) for v in vals])
        return np.stack([np.asarray(v) for v in vals])
    from ..numpy import stack
    return stack(vals)


def _pp_rule(eqn, name, indent: int) -> list[str]:
    """Print an equation whose params hold sub-programs (alone or in tuples), one per block."""
    from ..pretty import _pp_atom, _pp_jaxpr_lines, pp_param
    lhs = " ".join(f"{name(v)}:{v.aval.str_short()}" for v in eqn.out_binders)
    pad = " " * indent
    lines = [f"{pad}{lhs} = {eqn.prim.name}["]
    for k, v in eqn.params.items():
        if k.startswith("_"):
            continue
        if isinstance(v, ClosedJaxpr):
            sub = _pp_jaxpr_lines(v.jaxpr, name, indent + 4)
            lines.append(f"{pad}  {k}=" + sub[0].lstrip())
            lines.extend(sub[1:])
        elif isinstance(v, tuple) and v and all(isinstance(b, ClosedJaxpr) for b in v):
            lines.append(f"{pad}  {k}=(")
            for b in v:
                lines.extend(_pp_jaxpr_lines(b.jaxpr, name, indent + 4))
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


# ================================================================================================
# cond / switch
# ================================================================================================
cond_p = Primitive("cond", multiple_results=True)


def _clamp_index(i, n: int) -> int:
    return int(min(max(int(i), 0), n - 1))


def _cond_impl(index, *ops, branches):
    return _call(branches[_clamp_index(index, len(branches))], ops)


def _cond_abstract_eval(index, *ops, branches):
    if index.shape != () or index.dtype.kind not in "iu":
        raise FuncgradError(f"cond: the branch index must be an integer scalar, got "
                            f"{index.str_short()}")
    for b in branches:
        if len(b.in_avals) != len(ops) or not all(map(_same_type, b.in_avals, ops)):
            raise FuncgradError("cond: operand types do not match the branch programs")
    return list(branches[0].out_avals)


def _cond_jvp(primals, tangents, *, branches):
    index, *ops = primals
    _, *tops = tangents
    nz = [type(t) is not Zero for t in tops]
    n_out = len(branches[0].out_avals)
    out_nz = [False] * n_out
    for b in branches:
        _, onz = jvp_jaxpr(b, nz, False)
        out_nz = [x or y for x, y in zip(out_nz, onz)]
    jbranches = tuple(jvp_jaxpr(b, nz, out_nz)[0] for b in branches)
    outs = cond_p.bind(index, *ops, *[t for t in tops if type(t) is not Zero],
                       branches=jbranches)
    p_out, t_nz = outs[:n_out], iter(outs[n_out:])
    t_out = [next(t_nz) if z else Zero(get_aval_of(p)) for p, z in zip(p_out, out_nz)]
    return p_out, t_out


def _cond_partial_eval(trace, tracers, known, *, branches):
    """Known index: with a concrete value inline the chosen branch; otherwise split every branch
    into a known cond (producing the union of all branches' residuals) and an unknown cond."""
    if known[0] is _UNKNOWN:
        return _stage(trace, cond_p, tracers, dict(branches=branches))
    iv = _maybe_concrete(known[0])
    if iv is not None:
        b = branches[_clamp_index(iv, len(branches))]
        outs = _call(b, _known_or_tracer(known[1:], tracers[1:]))
        return list(outs)
    uk = _unknown_flags(known[1:])
    n_out = len(branches[0].out_avals)
    out_uk = [False] * n_out
    for b in branches:
        out_uk = [x or y for x, y in zip(out_uk, partial_eval_jaxpr(b, uk, False)[2])]
    if not any(out_uk):
        outs = cond_p.bind(*known, branches=branches)
        return list(outs)
    splits = [partial_eval_jaxpr(b, uk, out_uk) for b in branches]
    n_known = n_out - sum(out_uk)
    res_avals = [list(k.out_avals[n_known:]) for k, _, _, _ in splits]
    all_res = [a for r in res_avals for a in r]
    offsets = np.cumsum([0] + [len(r) for r in res_avals]).tolist()
    known_avals = [a for a, u in zip(branches[0].in_avals, uk) if not u]

    def known_branch(i):
        kb = splits[i][0]

        def f(*xs):
            outs = _call(kb, xs)
            res = [_zeros_like(a) for a in all_res]
            res[offsets[i]:offsets[i + 1]] = outs[n_known:]
            return [*outs[:n_known], *res]
        return trace_to_jaxpr(f, known_avals, name="cond_partial_eval")

    def unknown_branch(i):
        ub = splits[i][1]
        uk_avals = ub.in_avals[len(res_avals[i]):]

        def f(*xs):
            res, rest = xs[:len(all_res)], xs[len(all_res):]
            return _call(ub, [*res[offsets[i]:offsets[i + 1]], *rest])
        return trace_to_jaxpr(f, [*all_res, *uk_avals], name="cond_partial_eval")

    known_branches = tuple(known_branch(i) for i in range(len(branches)))
    unknown_branches = tuple(unknown_branch(i) for i in range(len(branches)))
    known_ops = [k for k in known[1:] if k is not _UNKNOWN]
    k_outs = cond_p.bind(known[0], *known_ops, branches=known_branches)
    known_vals, res_vals = k_outs[:n_known], k_outs[n_known:]
    uk_tracers = [t for t, u in zip(tracers[1:], uk) if u]
    u_outs = _stage(trace, cond_p, [known[0], *res_vals, *uk_tracers],
                    dict(branches=unknown_branches))
    ki, ui = iter(known_vals), iter(u_outs)
    return [next(ui) if u else (next(ki)) for u in out_uk]


def _cond_transpose(cts, index, *ops, branches):
    if is_undefined_primal(index):
        raise FuncgradError("cond: the branch index cannot be a linear input")
    linear = [is_undefined_primal(x) for x in ops]
    cts = [_instantiate(c) for c in cts]
    tbranches = tuple(transpose_jaxpr(b, linear) for b in branches)
    nonlin = [x for x, lin in zip(ops, linear) if not lin]
    outs = iter(cond_p.bind(index, *nonlin, *cts, branches=tbranches))
    return [None] + [next(outs) if lin else None for lin in linear]


def _cond_batch(size, xs, bdims, *, branches):
    from ..primitives.batching import bdim_at_front
    index, *ops = xs
    ib, *obs = bdims
    in_b = [b is not not_mapped for b in obs]
    ops = [bdim_at_front(x, b, size) if b is not not_mapped else x for x, b in zip(ops, obs)]
    if ib is not_mapped:
        n_out = len(branches[0].out_avals)
        out_b = [False] * n_out
        for b in branches:
            out_b = [x or y for x, y in zip(out_b, batch_jaxpr(b, size, in_b, False)[1])]
        bb = tuple(batch_jaxpr(b, size, in_b, out_b)[0] for b in branches)
        outs = cond_p.bind(index, *ops, branches=bb)
        return outs, [0 if b else not_mapped for b in out_b]
    index = bdim_at_front(index, ib, size)
    iv = _maybe_concrete(index)
    if iv is not None:
        from ..backend import to_numpy
        return _cond_batch_gather(size, np.asarray(to_numpy(iv)), ops, in_b, branches)
    return _cond_batch_select(size, index, ops, in_b, branches)


def _run_batched(closed: ClosedJaxpr, size: int, ops: list, in_b: list[bool]) -> list:
    """Run a program on `size` rows (batched operands have the rows at axis 0)."""
    from ..primitives.batching import bdim_at_front
    from .vmap import vmap_flat
    outs, bdims = vmap_flat(lambda *a: _call(closed, a), size, ops,
                            [0 if b else not_mapped for b in in_b])
    return [bdim_at_front(o, b, size) for o, b in zip(outs, bdims)]


def _cond_batch_gather(size, iv, ops, in_b, branches):
    """Each branch runs only on the rows whose index selects it; rows are put back in order."""
    from ..primitives.indexing import gather
    from ..primitives.shape import concatenate
    iv = np.clip(iv.astype(np.int64), 0, len(branches) - 1)
    groups = [(k, np.flatnonzero(iv == k)) for k in range(len(branches))]
    groups = [(k, rows) for k, rows in groups if rows.size] or groups[:1]  # size 0: branch 0
    if len(groups) == 1:
        outs = _run_batched(branches[groups[0][0]], size, ops, in_b)
        return outs, [0] * len(outs)
    pieces = []
    for k, rows in groups:
        sub = [gather(x, [rows], (0,)) if b else x for x, b in zip(ops, in_b)]
        pieces.append(_run_batched(branches[k], rows.size, sub, in_b))
    inverse = np.argsort(np.concatenate([rows for _, rows in groups]), kind="stable")
    outs = [gather(concatenate([p[j] for p in pieces], 0), [inverse], (0,))
            for j in range(len(pieces[0]))]
    return outs, [0] * len(outs)


def _cond_batch_select(size, index, ops, in_b, branches):
    """Predicate values unknown (full staging): run every branch on every row, then select."""
    from .. import numpy as fnp
    results = [_run_batched(b, size, ops, in_b) for b in branches]
    outs = list(results[0])
    for k in range(1, len(branches)):
        for j, o in enumerate(results[k]):
            nd = get_aval_of(o).ndim
            pick = fnp.reshape(index == k, (size,) + (1,) * (nd - 1))
            outs[j] = fnp.where(pick, o, outs[j])
    return outs, [0] * len(outs)


cond_p.impl = _cond_impl
cond_p.abstract_eval = _cond_abstract_eval
cond_p.jvp = _cond_jvp
cond_p.transpose = _cond_transpose
cond_p.partial_eval = _cond_partial_eval
cond_p.batch = _cond_batch
cond_p.pp_rule = _pp_rule


def _index_from_pred(pred) -> Any:
    from ..primitives.shape import convert_element_type
    aval = get_aval_of(pred)
    if aval.shape != ():
        raise FuncgradError(f"cond: the predicate must be a scalar, got {aval.str_short()}, at "
                            f"{user_frame()}\nFor elementwise choices use `fnp.where(pred, a, b)`;"
                            f" under vmap a per-example scalar predicate is fine.")
    if aval.dtype == np.dtype(bool):
        return convert_element_type(pred, np.int32)
    if aval.dtype.kind in "iu":
        return convert_element_type(pred != 0, np.int32)
    raise FuncgradError(f"cond: the predicate must be a bool (or integer) scalar, got "
                        f"{aval.str_short()}, at {user_frame()}\nCompare first, e.g. `x > 0`.")


def _branch_types_error(what: str, names: list[str], trees: list, outs: list) -> None:
    t0 = trees[0]
    for name, t, closed in zip(names[1:], trees[1:], outs[1:]):
        if t != t0:
            raise FuncgradError(
                f"{what}: the branches must return the same pytree structure, but {names[0]} "
                f"returns {t0} and {name} returns {t}, at {user_frame()}\nMake every branch "
                f"return the same containers (tuples/dicts/lists) with the same keys.")
        for j, (a, b) in enumerate(zip(outs[0].out_avals, closed.out_avals)):
            if not _same_type(a, b):
                path = _paths(tree_unflatten(t0, list(range(t0.num_leaves))))[j]
                raise FuncgradError(
                    f"{what}: the branches must return values of the same shape and dtype, but "
                    f"output{path} is {a.str_short()} in {names[0]} and {b.str_short()} in "
                    f"{name}, at {user_frame()}\nCast with `.astype(...)` or broadcast with "
                    f"`fnp.broadcast_to(...)` so that every branch agrees.")


def _staged_switch(index, branches: Sequence[Callable], operands: tuple, what: str,
                   names: list[str]):
    traced = [_trace_fun(b, operands, what) for b in branches]
    _branch_types_error(what, names, [t[2] for t in traced], [t[0] for t in traced])
    ops, _ = tree_flatten(operands)
    # each branch's hoisted constants become operands; the others ignore them
    all_consts = [c for t in traced for c in t[1]]
    const_avals = [get_aval_of(c) for c in all_consts]
    progs, start = [], 0
    for closed, consts, _ in traced:
        n = len(consts)
        p = add_unused_inputs(closed, const_avals[:start], at=0)
        p = add_unused_inputs(p, const_avals[start + n:], at=len(const_avals[:start]) + n)
        progs.append(p)
        start += n
    outs = cond_p.bind(index, *all_consts, *ops, branches=tuple(progs))
    return tree_unflatten(traced[0][2], outs)


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """`true_fun(*operands)` if `pred` else `false_fun(*operands)`, differentiable and batchable.

    Both branches must return the same pytree of the same shapes and dtypes. With a concrete
    `pred` (eager code, or under `grad`/`jvp`) only the chosen branch runs. Under `vmap` with a
    per-example predicate each branch runs only on the examples that take it.

    Examples:
        >>> import funcgrad as fg
        >>> fg.cond(2.0 > 0, lambda x: x ** 2, lambda x: -x, 3.0)
        9.0
        >>> fg.grad(lambda x: fg.cond(x > 0, lambda x: x ** 2, lambda x: -x, x))(3.0)
        array(6.)
    """
    p = _maybe_concrete(pred)
    if p is not None:
        if np.ndim(p) != 0:
            raise FuncgradError(f"cond: the predicate must be a scalar, got shape {np.shape(p)},"
                                f" at {user_frame()}\nFor elementwise choices use "
                                f"`fnp.where(pred, a, b)`.")
        return true_fun(*operands) if bool(p) else false_fun(*operands)
    index = _index_from_pred(pred)
    return _staged_switch(index, [false_fun, true_fun], operands, "cond",
                          ["false_fun", "true_fun"])


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """`branches[index](*operands)` with `index` clamped into `[0, len(branches) - 1]`.

    Examples:
        >>> import funcgrad as fg
        >>> fg.switch(1, [lambda x: x + 1, lambda x: x * 10], 2.0)
        20.0
    """
    branches = list(branches)
    if not branches:
        raise FuncgradError(f"switch: `branches` is empty, at {user_frame()}")
    i = _maybe_concrete(index)
    if i is not None:
        if np.ndim(i) != 0 or np.asarray(i).dtype.kind not in "iub":
            raise FuncgradError(f"switch: the index must be an integer scalar, got "
                                f"{get_aval_of(index).str_short()}, at {user_frame()}")
        return branches[_clamp_index(i, len(branches))](*operands)
    aval = get_aval_of(index)
    if aval.shape != () or aval.dtype.kind not in "iu":
        raise FuncgradError(f"switch: the index must be an integer scalar, got "
                            f"{aval.str_short()}, at {user_frame()}")
    from .. import numpy as fnp
    from ..primitives.shape import convert_element_type
    idx = convert_element_type(fnp.clip(index, 0, len(branches) - 1), np.int32)
    return _staged_switch(idx, branches, operands, "switch",
                          [f"branches[{k}]" for k in range(len(branches))])


# ================================================================================================
# scan
# ================================================================================================
scan_p = Primitive("scan", multiple_results=True)


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = split_list(args, [num_consts, num_carry])
    ys = []
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = _call(jaxpr, [*consts, *carry, *[x[i] for x in xs]])
        carry, y = outs[:num_carry], outs[num_carry:]
        ys.append(y)
    if reverse:
        ys.reverse()
    y_avals = jaxpr.out_avals[num_carry:]
    stacked = [_stack([y[j] for y in ys]) if ys else np.zeros((0,) + a.shape, a.dtype)
               for j, a in enumerate(y_avals)]
    return [*carry, *stacked]


def _scan_abstract_eval(*avals, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = split_list(avals, [num_consts, num_carry])
    body_in = jaxpr.in_avals
    x_avals = [ShapedArray(x.shape[1:], x.dtype, x.weak_type) for x in xs]
    if any(x.shape[:1] != (length,) for x in xs):
        raise FuncgradError(f"scan: every xs leaf needs leading axis {length}")
    if not all(map(_same_type, body_in, [*consts, *carry, *x_avals])):
        raise FuncgradError("scan: operand types do not match the body program")
    out = jaxpr.out_avals
    ys = [ShapedArray((length,) + a.shape, a.dtype, a.weak_type) for a in out[num_carry:]]
    return [*out[:num_carry], *ys]


def _fixpoint(step: Callable, flags: list[bool]) -> list[bool]:
    """Grow `flags` (carry nonzero/unknown/batched) until the body maps it into itself."""
    flags = list(flags)
    while True:
        out = step(flags)
        new = [a or b for a, b in zip(flags, out)]
        if new == flags:
            return flags
        flags = new


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse):
    nz = [type(t) is not Zero for t in tangents]
    c_nz, carry_nz, xs_nz = split_list(nz, [num_consts, num_carry])
    n_y = len(jaxpr.out_avals) - num_carry
    carry_nz = _fixpoint(lambda f: jvp_jaxpr(jaxpr, c_nz + f + xs_nz,
                                             f + [False] * n_y)[1][:num_carry], carry_nz)
    jbody, out_nz = jvp_jaxpr(jaxpr, c_nz + carry_nz + xs_nz, carry_nz + [False] * n_y)
    ys_nz = out_nz[num_carry:]
    n_c, n_x = num_consts, len(xs_nz)
    k_c, k_carry, k_x = sum(c_nz), sum(carry_nz), sum(xs_nz)
    n_p = n_c + num_carry + n_x
    # jbody inputs: (c, carry, x, c_dot, carry_dot, x_dot) -> (c, c_dot, carry, carry_dot, x, x_dot)
    perm = [*range(n_c), *range(n_p, n_p + k_c),
            *range(n_c, n_c + num_carry), *range(n_p + k_c, n_p + k_c + k_carry),
            *range(n_c + num_carry, n_p), *range(n_p + k_c + k_carry, n_p + k_c + k_carry + k_x)]
    jbody = permute_inputs(jbody, perm)
    k_y = sum(ys_nz)
    n_o = num_carry + n_y
    # outputs: (carry, y, carry_dot, y_dot) -> (carry, carry_dot, y, y_dot)
    operm = [*range(num_carry), *range(n_o, n_o + k_carry), *range(num_carry, n_o),
             *range(n_o + k_carry, n_o + k_carry + k_y)]
    jbody = permute_outputs(jbody, operm)
    consts, carry, xs = split_list(primals, [num_consts, num_carry])
    t_c, t_carry, t_xs = split_list(tangents, [num_consts, num_carry])
    outs = scan_p.bind(
        *consts, *[t for t in t_c if type(t) is not Zero],
        *carry, *[_instantiate(t) for t, z in zip(t_carry, carry_nz) if z],
        *xs, *[t for t in t_xs if type(t) is not Zero],
        jaxpr=jbody, num_consts=n_c + k_c, num_carry=num_carry + k_carry, length=length,
        reverse=reverse)
    carry_out, carry_dot, ys, ys_dot = split_list(outs, [num_carry, k_carry, n_y])
    cd, yd = iter(carry_dot), iter(ys_dot)
    t_out = [next(cd) if z else Zero(get_aval_of(p)) for p, z in zip(carry_out, carry_nz)]
    t_out += [next(yd) if z else Zero(get_aval_of(p)) for p, z in zip(ys, ys_nz)]
    return [*carry_out, *ys], t_out


def _scan_partial_eval(trace, tracers, known, *, jaxpr, num_consts, num_carry, length, reverse):
    params = dict(jaxpr=jaxpr, num_consts=num_consts, num_carry=num_carry, length=length,
                  reverse=reverse)
    uk = _unknown_flags(known)
    c_uk, carry_uk, xs_uk = split_list(uk, [num_consts, num_carry])
    n_y = len(jaxpr.out_avals) - num_carry
    carry_uk = _fixpoint(lambda f: partial_eval_jaxpr(jaxpr, c_uk + f + xs_uk,
                                                      f + [False] * n_y)[2][:num_carry], carry_uk)
    all_uk = c_uk + carry_uk + xs_uk
    if all(all_uk):
        return _stage(trace, scan_p, tracers, params)
    kbody, ubody, out_uk, n_res, fwd = partial_eval_jaxpr_fwd(jaxpr, all_uk,
                                                              carry_uk + [False] * n_y)
    if not any(out_uk):
        return scan_p.bind(*known, **params)
    vals = _known_or_tracer(known, tracers)
    groups = split_list(vals, [num_consts, num_carry])[:3]
    flags = [c_uk, carry_uk, xs_uk]
    k_consts, k_carry, k_xs = [[v for v, u in zip(g, f) if not u] for g, f in zip(groups, flags)]
    u_consts, u_carry, u_xs = [[v for v, u in zip(g, f) if u] for g, f in zip(groups, flags)]
    # residuals that are known loop constants are passed once, not stacked per iteration
    inv = [j for j, i in enumerate(fwd) if i is not None and i < len(k_consts)]
    per_iter = [j for j in range(n_res) if j not in inv]
    n_kcarry = len(k_carry)
    n_kout = len(kbody.out_avals) - n_res
    kbody = permute_outputs(kbody, [*range(n_kout), *[n_kout + j for j in per_iter]])
    k_outs = scan_p.bind(*k_consts, *k_carry, *k_xs, jaxpr=kbody, num_consts=len(k_consts),
                         num_carry=n_kcarry, length=length, reverse=reverse)
    kcarry_out, kys, res = split_list(k_outs, [n_kcarry, n_kout - n_kcarry])
    # unknown body (res, uc, ucarry, ux) -> scan body (res_inv, uc, ucarry, ux, res_per_iter)
    n_uc, n_ucarry, n_ux = len(u_consts), len(u_carry), len(u_xs)
    perm = [*inv, *range(n_res, n_res + n_uc + n_ucarry + n_ux), *per_iter]
    ubody = permute_inputs(ubody, perm)
    inv_vals = [k_consts[fwd[j]] for j in inv]
    u_outs = _stage(trace, scan_p, [*inv_vals, *u_consts, *u_carry, *u_xs, *res],
                    dict(jaxpr=ubody, num_consts=len(inv) + n_uc, num_carry=n_ucarry,
                         length=length, reverse=reverse))
    ucarry_out, uys = u_outs[:n_ucarry], u_outs[n_ucarry:]
    kc, uc, ky, uy = iter(kcarry_out), iter(ucarry_out), iter(kys), iter(uys)
    outs = [next(uc) if u else (next(kc)) for u in out_uk[:num_carry]]
    outs += [next(uy) if u else (next(ky)) for u in out_uk[num_carry:]]
    return outs


def _scan_transpose(cts, *args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = split_list(args, [num_consts, num_carry])
    c_lin = [is_undefined_primal(x) for x in consts]
    x_lin = [is_undefined_primal(x) for x in xs]
    # every carry is linear; one with a known value (an instantiated zero) just gets no ct
    carry_undef = [is_undefined_primal(x) for x in carry]
    carry = [x if u else _AvalOf(get_aval_of(x)) for x, u in zip(carry, carry_undef)]
    ct_carry, ct_ys = split_list([_instantiate(c) for c in cts], [num_carry])[:2]
    body_t = transpose_jaxpr(jaxpr, c_lin + [True] * num_carry + x_lin)
    nl_consts = [x for x, lin in zip(consts, c_lin) if not lin]
    nl_xs = [x for x, lin in zip(xs, x_lin) if not lin]
    lin_c_avals = [x.aval for x, lin in zip(consts, c_lin) if lin]
    n_nlc, n_lc, n_nlx = len(nl_consts), len(lin_c_avals), len(nl_xs)

    def body(*a):
        nlc, acc, ctc, nlx, cty = split_list(a, [n_nlc, n_lc, num_carry, n_nlx])
        outs = _call(body_t, [*nlc, *nlx, *ctc, *cty])
        d_c, d_carry, d_x = split_list(outs, [n_lc, num_carry])
        from ..primitives.rules import add_tangents
        return [*[add_tangents(s, d) for s, d in zip(acc, d_c)], *d_carry, *d_x]

    y_avals = [ShapedArray(a.shape[1:], a.dtype) for a in map(get_aval_of, ct_ys)]
    nlx_avals = [ShapedArray(a.shape[1:], a.dtype) for a in map(get_aval_of, nl_xs)]
    body_closed = trace_to_jaxpr(body, [*map(get_aval_of, nl_consts), *lin_c_avals,
                                        *[c.aval for c in carry], *nlx_avals, *y_avals],
                                 name="scan_transpose")
    outs = scan_p.bind(*nl_consts, *[_zeros_like(a) for a in lin_c_avals], *ct_carry,
                       *nl_xs, *ct_ys, jaxpr=body_closed, num_consts=n_nlc,
                       num_carry=n_lc + num_carry, length=length, reverse=not reverse)
    ct_c, ct_init, ct_x = split_list(outs, [n_lc, num_carry])
    ic, ix = iter(ct_c), iter(ct_x)
    return ([next(ic) if lin else None for lin in c_lin]
            + [c if u else None for c, u in zip(ct_init, carry_undef)]
            + [next(ix) if lin else None for lin in x_lin])


class _AvalOf:
    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval


def _scan_batch(size, xs, bdims, *, jaxpr, num_consts, num_carry, length, reverse):
    from ..primitives.batching import bdim_at_front, moveaxis
    b = [d is not not_mapped for d in bdims]
    c_b, carry_b, xs_b = split_list(b, [num_consts, num_carry])
    n_y = len(jaxpr.out_avals) - num_carry
    carry_b = _fixpoint(lambda f: batch_jaxpr(jaxpr, size, c_b + f + xs_b,
                                              f + [False] * n_y)[1][:num_carry], carry_b)
    bbody, out_b = batch_jaxpr(jaxpr, size, c_b + carry_b + xs_b, carry_b + [False] * n_y)
    consts, carry, xv = split_list(xs, [num_consts, num_carry])
    cd, carryd, xd = split_list(bdims, [num_consts, num_carry])
    consts = [bdim_at_front(x, d, size) if d is not not_mapped else x for x, d in zip(consts, cd)]
    carry = [bdim_at_front(x, d, size) if f else x for x, d, f in zip(carry, carryd, carry_b)]
    xv = [moveaxis(x, d, 1) if d is not not_mapped else x for x, d in zip(xv, xd)]
    outs = scan_p.bind(*consts, *carry, *xv, jaxpr=bbody, num_consts=num_consts,
                       num_carry=num_carry, length=length, reverse=reverse)
    out_dims = [0 if f else not_mapped for f in carry_b]
    out_dims += [1 if f else not_mapped for f in out_b[num_carry:]]
    return outs, out_dims


scan_p.impl = _scan_impl
scan_p.abstract_eval = _scan_abstract_eval
scan_p.jvp = _scan_jvp
scan_p.transpose = _scan_transpose
scan_p.partial_eval = _scan_partial_eval
scan_p.batch = _scan_batch
scan_p.pp_rule = _pp_rule


def _check_carry(what: str, fun_name: str, init_tree, init_avals, out_tree, out_avals) -> None:
    if out_tree != init_tree:
        raise FuncgradError(
            f"{what}: {fun_name} must return a carry with the same pytree structure as the "
            f"initial value, but the initial carry is {init_tree} and {fun_name} returned "
            f"{out_tree}, at {user_frame()}")
    paths = _paths(tree_unflatten(init_tree, list(range(init_tree.num_leaves))))
    for path, a, b in zip(paths, init_avals, out_avals):
        if not _same_type(a, b):
            raise FuncgradError(
                f"{what}: the carry changed type: carry{path} is {a.str_short()} initially but "
                f"{fun_name} returns {b.str_short()}, at {user_frame()}\nA loop carry must keep "
                f"its shape and dtype; cast with `.astype(...)` (e.g. start from `0.0`, not `0`, "
                f"for a float accumulator) or use `fnp.broadcast_to`.")


def scan(f: Callable, init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False) -> tuple[Any, Any]:
    """Loop `carry, y = f(carry, x)` over the leading axis of `xs`, stacking the `y`s.

    Semantics (for `reverse=False`)::

        carry = init
        for i in range(length):
            carry, y_i = f(carry, xs[i])
        return carry, stack(y_0, ..., y_{length-1})

    `xs` may be any pytree (or None with an explicit `length`); differentiable in both modes
    (reverse mode runs the loop backwards over stored residuals) and batchable.

    Examples:
        >>> import funcgrad as fg, numpy as np
        >>> total, ys = fg.scan(lambda c, x: (c + x, c * x), 0.0, np.arange(1.0, 4.0))
        >>> float(total), ys
        (6.0, array([0., 2., 9.]))
    """
    x_leaves, x_tree = tree_flatten(xs)
    lengths = {get_aval_of(x).shape[0] if get_aval_of(x).ndim else None for x in x_leaves}
    if None in lengths:
        raise FuncgradError(f"scan: every leaf of xs needs a leading axis to scan over; got a "
                            f"scalar, at {user_frame()}")
    if length is not None:
        lengths.add(int(length))
    if len(lengths) > 1:
        raise FuncgradError(f"scan: the leading axes of xs (and `length`) disagree: "
                            f"{sorted(lengths)}, at {user_frame()}")
    if not lengths:
        raise FuncgradError(f"scan: pass `length` when xs is None or empty, at {user_frame()}")
    n = lengths.pop()
    init_leaves, init_tree = tree_flatten(init)
    if n and _no_transform_active() and not any(isinstance(v, Tracer)
                                                for v in init_leaves + x_leaves):
        return _scan_eager(f, init, init_tree, init_leaves, xs, x_tree, x_leaves, n, reverse)
    x_avals = [ShapedArray(get_aval_of(x).shape[1:], get_aval_of(x).dtype) for x in x_leaves]
    out_trees = []

    def body_flat(*ls):
        c = tree_unflatten(init_tree, ls[:len(init_leaves)])
        x = tree_unflatten(x_tree, ls[len(init_leaves):])
        res = f(c, x)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise FuncgradError(f"scan: f must return a pair (carry, y), got "
                                f"{type(res).__name__}, at {user_frame()}")
        c_leaves, c_tree = tree_flatten(res[0])
        y_leaves, y_tree = tree_flatten(res[1])
        out_trees.append((c_tree, y_tree))
        return [*c_leaves, *y_leaves]

    in_avals = [get_aval_of(x) for x in init_leaves] + x_avals
    closed = trace_to_jaxpr(body_flat, in_avals, name="scan")
    c_tree, y_tree = out_trees[-1]
    _check_carry("scan", "f", init_tree, in_avals[:len(init_leaves)], c_tree,
                 closed.out_avals[:len(init_leaves)])
    closed, consts = closure_convert(closed)
    outs = scan_p.bind(*consts, *init_leaves, *x_leaves, jaxpr=closed, num_consts=len(consts),
                       num_carry=len(init_leaves), length=n, reverse=bool(reverse))
    return (tree_unflatten(c_tree, outs[:len(init_leaves)]),
            tree_unflatten(y_tree, outs[len(init_leaves):]))


def _scan_eager(f, init, init_tree, init_leaves, xs, x_tree, x_leaves, n, reverse):
    carry = init
    init_avals = [get_aval_of(x) for x in init_leaves]
    ys = []
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        x = tree_unflatten(x_tree, [v[i] for v in x_leaves])
        res = f(carry, x)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise FuncgradError(f"scan: f must return a pair (carry, y), got "
                                f"{type(res).__name__}, at {user_frame()}")
        carry, y = res
        c_leaves, c_tree = tree_flatten(carry)
        _check_carry("scan", "f", init_tree, init_avals, c_tree,
                     [get_aval_of(c) for c in c_leaves])
        ys.append(tree_flatten(y))
    if reverse:
        ys.reverse()
    y_tree = ys[0][1]
    stacked = [_stack([y[0][j] for y in ys]) for j in range(len(ys[0][0]))]
    return carry, tree_unflatten(y_tree, stacked)


# ================================================================================================
# while_loop / fori_loop
# ================================================================================================
while_p = Primitive("while", multiple_results=True)


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = split_list(args, [cond_nconsts, body_nconsts])
    while bool(_call(cond_jaxpr, [*cc, *carry])[0]):
        carry = _call(body_jaxpr, [*bc, *carry])
    return carry


def _while_abstract_eval(*avals, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    _, _, carry = split_list(avals, [cond_nconsts, body_nconsts])
    if not all(map(_same_type, body_jaxpr.out_avals, carry)):
        raise FuncgradError("while: the body changes the carry's type")
    pa = cond_jaxpr.out_avals[0]
    if pa.shape != () or pa.dtype != np.dtype(bool):
        raise FuncgradError(f"while: the predicate must be a bool scalar, got {pa.str_short()}")
    return list(carry)


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = split_list(primals, [cond_nconsts, body_nconsts])
    _, t_bc, t_carry = split_list(tangents, [cond_nconsts, body_nconsts])
    bc_nz = [type(t) is not Zero for t in t_bc]
    carry_nz = _fixpoint(lambda f: jvp_jaxpr(body_jaxpr, bc_nz + f, f)[1],
                         [type(t) is not Zero for t in t_carry])
    if not any(carry_nz):
        outs = while_p.bind(*primals, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
                            cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
        return outs, [Zero(get_aval_of(o)) for o in outs]
    jbody, _ = jvp_jaxpr(body_jaxpr, bc_nz + carry_nz, carry_nz)
    n_bc, n_carry, k_bc, k_carry = len(bc), len(carry), sum(bc_nz), sum(carry_nz)
    n_p = n_bc + n_carry
    perm = [*range(n_bc), *range(n_p, n_p + k_bc), *range(n_bc, n_p),
            *range(n_p + k_bc, n_p + k_bc + k_carry)]
    jbody = permute_inputs(jbody, perm)
    carry_dot_avals = [a for a, z in zip(body_jaxpr.out_avals, carry_nz) if z]
    jcond = add_unused_inputs(cond_jaxpr, carry_dot_avals)
    outs = while_p.bind(*cc, *bc, *[t for t in t_bc if type(t) is not Zero], *carry,
                        *[_instantiate(t) for t, z in zip(t_carry, carry_nz) if z],
                        cond_jaxpr=jcond, body_jaxpr=jbody, cond_nconsts=cond_nconsts,
                        body_nconsts=n_bc + k_bc)
    p_out, it = outs[:n_carry], iter(outs[n_carry:])
    return p_out, [next(it) if z else Zero(get_aval_of(p)) for p, z in zip(p_out, carry_nz)]


_MSG_WHILE_STAGED = """\
funcgrad: reverse-mode differentiation of `while_loop` needs a concrete trip count, but here the
loop's predicate depends on values that `{name}` is staging (they are not known until the
program runs), at {where}
Eager `grad` of a while_loop works: the forward loop runs, its trip count and per-iteration
residuals are recorded, and the backward pass is a reverse scan over them. Under `make_ir`/`jit`
use a loop with a static trip count instead:
  - `fg.fori_loop(lower, upper, body, init)` with Python-int bounds (staged as a scan), or
  - `fg.scan(f, init, xs, length=n)`; or forward mode (`fg.jvp`, `fg.jacfwd`)."""


def _while_partial_eval(trace, tracers, known, *, cond_jaxpr, body_jaxpr, cond_nconsts,
                        body_nconsts):
    params = dict(cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr, cond_nconsts=cond_nconsts,
                  body_nconsts=body_nconsts)
    uk = _unknown_flags(known)
    cc_uk, bc_uk, carry_uk = split_list(uk, [cond_nconsts, body_nconsts])
    carry_uk = _fixpoint(lambda f: partial_eval_jaxpr(body_jaxpr, bc_uk + f, False)[2],
                         carry_uk)
    if not any(bc_uk) and not any(carry_uk):
        return while_p.bind(*known, **params)
    if partial_eval_jaxpr(cond_jaxpr, cc_uk + carry_uk, False)[2][0]:
        return _stage(trace, while_p, tracers, params)  # predicate itself is unknown
    kbody, ubody, _, n_res, fwd = partial_eval_jaxpr_fwd(body_jaxpr, bc_uk + carry_uk, carry_uk)
    vals = _known_or_tracer(known, tracers)
    cc, bc, carry = split_list(vals, [cond_nconsts, body_nconsts])
    k_bc = [v for v, u in zip(bc, bc_uk) if not u]
    u_bc = [v for v, u in zip(bc, bc_uk) if u]
    k_carry = [v for v, u in zip(carry, carry_uk) if not u]
    u_carry = [v for v, u in zip(carry, carry_uk) if u]
    n_k = len(k_carry)
    # residuals that are known loop constants are passed once, not stacked per iteration
    inv = [j for j, i in enumerate(fwd) if i is not None and i < len(k_bc)]
    per_iter = [j for j in range(n_res) if j not in inv]
    kbody = permute_outputs(kbody, [*range(n_k), *[n_k + j for j in per_iter]])

    def full_carry(kc):
        it = iter(kc)
        return [None if u else next(it) for u in carry_uk]  # the predicate reads known ones only

    residuals, masks, masked = [], [], False
    while True:
        pred = _call(cond_jaxpr, [*cc, *full_carry(k_carry)])[0]
        try:
            go, mask = bool(pred), None
        except ConcretizationError:
            go, mask = _any_over_batch(pred), pred  # vmap of grad: a per-example predicate
            if go is None:
                stager = _dynamic[0].name if _dynamic[0] is not None else trace.main.name
                raise FuncgradError(_MSG_WHILE_STAGED.format(name=stager,
                                                             where=user_frame())) from None
            masked = True
        if not go:
            break
        outs = _call(kbody, [*k_bc, *k_carry])
        res = outs[n_k:]
        if mask is None:
            k_carry = outs[:n_k]
        else:  # finished examples keep their carry
            from .. import numpy as fnp
            k_carry = [fnp.where(mask, n, o) for n, o in zip(outs[:n_k], k_carry)]
        residuals.append(res)
        masks.append(np.True_ if mask is None else mask)
    trips = len(residuals)
    if trips == 0:
        u_out = list(u_carry)
    else:
        n_pi = len(per_iter)
        stacked = [_stack([r[j] for r in residuals]) for j in range(n_pi)]
        inv_vals = [k_bc[fwd[j]] for j in inv]
        n_inv, n_ubc, n_uc = len(inv), len(u_bc), len(u_carry)
        res_avals = list(kbody.out_avals[n_k:])
        if masked:
            stacked.append(_stack(masks))
            res_avals.append(ShapedArray((), np.dtype(bool)))

        def scan_body(*a):  # (res_inv, u_bc, u_carry, res_i[, mask_i]) -> u_carry
            rinv, ubc, uc, rit = split_list(a, [n_inv, n_ubc, n_uc])
            res = [None] * n_res
            for j, v in zip(inv, rinv):
                res[j] = v
            for j, v in zip(per_iter, rit):
                res[j] = v
            if not masked:
                return _call(ubody, [*res, *ubc, *uc])
            # finished examples: the body ran on their frozen carry, where it may be undefined
            # (NaN residuals). Select their tangent inputs away *before* the body as well as
            # its outputs after, so that in the transpose the body's (NaN) cotangents are
            # selected away too instead of being multiplied by a zero cotangent
            from .. import numpy as fnp
            m = rit[n_pi]
            off = [fnp.where(m, v, fnp.zeros_like(v)) for v in (*ubc, *uc)]
            new = _call(ubody, [*res, *off])
            return [fnp.where(m, n, o) for n, o in zip(new, uc)]

        inv_avals = [ubody.in_avals[j] for j in inv]
        sbody = trace_to_jaxpr(scan_body, [*inv_avals, *ubody.in_avals[n_res:], *res_avals],
                               name="while_linearize")
        sbody, sconsts = closure_convert(sbody)
        u_out = _stage(trace, scan_p, [*sconsts, *inv_vals, *u_bc, *u_carry, *stacked],
                       dict(jaxpr=sbody, num_consts=len(sconsts) + n_inv + n_ubc,
                            num_carry=n_uc, length=trips, reverse=False))
    ki, ui = iter(k_carry), iter(u_out)
    return [next(ui) if u else (next(ki)) for u in carry_uk]


def _any_over_batch(pred) -> bool | None:
    """Whether any example's predicate holds, for a per-example predicate under `vmap` whose
    values are known (None when they are not)."""
    from .vmap import BatchTracer
    if not isinstance(pred, BatchTracer):
        c = _maybe_concrete(pred)
        return None if c is None else bool(np.any(c))
    return _any_over_batch(pred.val)


def _while_batch(size, xs, bdims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    from .. import numpy as fnp
    from ..primitives.batching import bdim_at_front
    b = [d is not not_mapped for d in bdims]
    cc_b, bc_b, carry_b = split_list(b, [cond_nconsts, body_nconsts])
    carry_b = _fixpoint(lambda f: batch_jaxpr(body_jaxpr, size, bc_b + f, f)[1], carry_b)
    pred_b = batch_jaxpr(cond_jaxpr, size, cc_b + carry_b, False)[1][0]
    if pred_b:
        carry_b = [True] * len(carry_b)
    bbody = batch_jaxpr(body_jaxpr, size, bc_b + carry_b, carry_b)[0]
    bcond = batch_jaxpr(cond_jaxpr, size, cc_b + carry_b, False)[0]
    vals = [bdim_at_front(x, d, size) if d is not not_mapped else x for x, d in zip(xs, bdims)]
    cc, bc, carry = split_list(vals, [cond_nconsts, body_nconsts])
    carry_was_b = split_list(b, [cond_nconsts, body_nconsts])[2]
    carry = [bdim_at_front(x, not_mapped, size) if f and not was else x
             for x, f, was in zip(carry, carry_b, carry_was_b)]
    out_dims = [0 if f else not_mapped for f in carry_b]
    if not pred_b:
        outs = while_p.bind(*cc, *bc, *carry, cond_jaxpr=bcond, body_jaxpr=bbody,
                            cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
        return outs, out_dims
    # per-example predicate: iterate while any example is active; finished ones stay frozen
    cc_avals, bc_avals = [get_aval_of(x) for x in cc], [get_aval_of(x) for x in bc]
    carry_avals = [get_aval_of(x) for x in carry]
    n_cc, n_bc = len(cc), len(bc)

    def any_cond(*a):
        return [fnp.any(_call(bcond, a)[0])]

    def masked_body(*a):
        c_cc, c_bc, c_carry = split_list(a, [n_cc, n_bc])
        active = _call(bcond, [*c_cc, *c_carry])[0]
        new = _call(bbody, [*c_bc, *c_carry])
        out = []
        for n_val, o_val in zip(new, c_carry):
            nd = get_aval_of(o_val).ndim
            out.append(fnp.where(fnp.reshape(active, (size,) + (1,) * (nd - 1)), n_val, o_val))
        return out

    new_cond = trace_to_jaxpr(any_cond, [*cc_avals, *carry_avals], name="while_batch")
    new_body = trace_to_jaxpr(masked_body, [*cc_avals, *bc_avals, *carry_avals],
                              name="while_batch")
    new_cond, k1 = closure_convert(new_cond)
    new_body, k2 = closure_convert(new_body)
    outs = while_p.bind(*k1, *cc, *k2, *cc, *bc, *carry, cond_jaxpr=new_cond,
                        body_jaxpr=new_body, cond_nconsts=len(k1) + n_cc,
                        body_nconsts=len(k2) + n_cc + n_bc)
    return outs, out_dims


while_p.impl = _while_impl
while_p.abstract_eval = _while_abstract_eval
while_p.jvp = _while_jvp
while_p.transpose = NOT_APPLICABLE  # reverse mode turns the tangent loop into a scan
while_p.partial_eval = _while_partial_eval
while_p.batch = _while_batch
while_p.pp_rule = _pp_rule


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """`val = init_val; while cond_fun(val): val = body_fun(val); return val`.

    `cond_fun` returns a bool scalar; `body_fun` must keep the carry's pytree structure, shapes
    and dtypes. Differentiable in forward mode and — unlike most systems — in reverse mode too:
    `grad` records the trip count and per-iteration residuals of the forward loop and runs a
    reverse scan over them (this needs a concrete trip count, so not under `make_ir`/`jit`).
    Under `vmap` with a per-example predicate the loop runs until every example is done, with
    finished examples frozen.

    Examples:
        >>> import funcgrad as fg
        >>> fg.while_loop(lambda c: c[1] < 100.0, lambda c: (c[0] + 1, c[1] * 2.0), (0, 1.0))
        (7, 128.0)
        >>> fg.grad(lambda x: fg.while_loop(lambda v: v < 10.0, lambda v: v * 3.0, x))(2.0)
        array(9.)
    """
    init_leaves, init_tree = tree_flatten(init_val)
    init_avals = [get_aval_of(x) for x in init_leaves]
    if _no_transform_active() and not any(isinstance(v, Tracer) for v in init_leaves):
        val = init_val
        while _eager_pred(cond_fun(val)):
            val = body_fun(val)
            v_leaves, v_tree = tree_flatten(val)
            _check_carry("while_loop", "body_fun", init_tree, init_avals, v_tree,
                         [get_aval_of(v) for v in v_leaves])
        return val
    cond_closed, cond_consts, cond_tree = _trace_fun(cond_fun, (init_val,), "while_loop")
    pa = cond_closed.out_avals
    if cond_tree.num_leaves != 1 or pa[0].shape != () or pa[0].dtype != np.dtype(bool):
        got = ", ".join(a.str_short() for a in pa) or "nothing"
        raise FuncgradError(f"while_loop: cond_fun must return a bool scalar, got {got}, at "
                            f"{user_frame()}\nUnder vmap a per-example bool is fine; reduce "
                            f"arrays with `fnp.all(...)` / `fnp.any(...)`.")
    body_closed, body_consts, body_tree = _trace_fun(body_fun, (init_val,), "while_loop")
    _check_carry("while_loop", "body_fun", init_tree, init_avals, body_tree,
                 body_closed.out_avals)
    outs = while_p.bind(*cond_consts, *body_consts, *init_leaves, cond_jaxpr=cond_closed,
                        body_jaxpr=body_closed, cond_nconsts=len(cond_consts),
                        body_nconsts=len(body_consts))
    return tree_unflatten(init_tree, outs)


def _eager_pred(p) -> bool:
    if np.ndim(p) != 0:
        raise FuncgradError(f"while_loop: cond_fun must return a bool scalar, got shape "
                            f"{np.shape(p)}, at {user_frame()}\nReduce arrays with "
                            f"`fnp.all(...)` / `fnp.any(...)`.")
    return bool(p)


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any) -> Any:
    """`val = init_val; for i in range(lower, upper): val = body_fun(i, val); return val`.

    With Python-int (concrete) bounds the loop is staged as a fixed-length `scan`, so it is
    differentiable in both modes everywhere (also under `make_ir`/`jit`); with traced bounds it
    is a `while_loop`.

    Examples:
        >>> import funcgrad as fg
        >>> fg.fori_loop(0, 4, lambda i, x: x * 2.0, 1.0)
        16.0
    """
    lo, hi = _maybe_concrete(lower), _maybe_concrete(upper)
    if lo is not None and hi is not None:
        lo, hi = int(lo), int(hi)
        init_leaves, _ = tree_flatten(init_val)
        if _no_transform_active() and not any(isinstance(v, Tracer) for v in init_leaves):
            val = init_val
            for i in range(lo, hi):
                val = body_fun(i, val)
            return val

        def step(carry, _):
            i, val = carry
            return (i + 1, body_fun(i, val)), None

        (_, val), _ = scan(step, (np.int64(lo), init_val), None, length=max(hi - lo, 0))
        return val
    from .. import numpy as fnp
    lower = fnp.asarray(lower) if not isinstance(lower, Tracer) else lower
    upper = fnp.asarray(upper) if not isinstance(upper, Tracer) else upper
    _, _, val = while_loop(lambda c: c[0] < c[1],
                           lambda c: (c[0] + 1, c[1], body_fun(c[0], c[2])),
                           (lower, upper, init_val))
    return val
