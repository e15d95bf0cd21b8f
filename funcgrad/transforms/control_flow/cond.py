"""`cond`/`switch` and their primitive `cond_p`, with all its rules in one block.

`cond_p(index, *ops; branches)` runs `branches[index]` (index clamped into range). vmap of a
`cond` with a batched predicate runs each branch only on the rows that take it (gather, run
batched, scatter back): at once when the predicate is known, in an island when it is staged.
Shared helpers live in `common.py`; the family overview is in `__init__.py`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from ...backend import to_numpy
from ...backend.fusion import register_c_expr
from ...backend.native import register_native
from ...backend.numpy_codegen import register_emitter
from ...core import NOT_APPLICABLE, Primitive, Zero, get_aval_of, is_undefined_primal, not_mapped
from ...errors import FuncgradError, user_frame
from ...ir import IR, register_pp_rule
from ...primitives import concatenate, convert_element_type, eq, full, gather, max_p, min_p, ne_p
from ...primitives.batching import bdim_at_front
from ...primitives.rules import instantiate, zeros_like_aval
from ...pytree import tree_flatten, tree_unflatten
from ...staging import _UNKNOWN, trace_to_ir
from ...util import merge_lists, partition_list
from ..jit.passes import optimize
from ..program import _memoized, add_unused_inputs, batch_ir, jvp_ir, partial_eval_ir, transpose_ir
from ..vmap import vmap_flat
from .common import (
    _as_arrays,
    _call,
    _concrete,
    _evaluated,
    _known_or_tracer,
    _maybe_concrete,
    _out_type,
    _paths,
    _pp_rule,
    _same_type,
    _stage,
    _trace_fun,
    _unknown_flags,
    _where,
    control_flow_emitter,
)
from .island import island

__all__ = ["cond", "switch", "cond_p"]


# ================================================================================================
# cond / switch
# ================================================================================================
cond_p = Primitive("cond", multiple_results=True)


def _clamp_index(i, n: int) -> int:
    return int(min(max(int(i), 0), n - 1))


def _cond_run(run, index, *ops, branches):  # `run(program)`: see common._evaluated
    return run(branches[_clamp_index(index, len(branches))])(*ops)


def _cond_abstract_eval(index, *ops, branches):
    if index.shape != () or index.dtype.kind not in "iu":
        raise FuncgradError(f"cond: the branch index must be an integer scalar, got "
                            f"{index.str_short()}")
    for b in branches:
        if len(b.in_avals) != len(ops) or not all(map(_same_type, b.in_avals, ops)):
            raise FuncgradError("cond: operand types do not match the branch programs")
    return list(branches[0].out_avals)


def _any_branch(flags: list[list[bool]]) -> list[bool]:
    """Per output: whether it is nonzero/unknown/batched in any branch."""
    return [any(fs) for fs in zip(*flags)]


def _cond_jvp(primals, tangents, *, branches):
    index, *ops = primals
    _, *tops = tangents
    nz = [type(t) is not Zero for t in tops]
    n_out = len(branches[0].out_avals)
    out_nz = _any_branch([jvp_ir(b, nz, False)[1] for b in branches])
    jbranches = tuple(jvp_ir(b, nz, out_nz)[0] for b in branches)
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
    out_uk = _any_branch([partial_eval_ir(b, uk, False)[2] for b in branches])
    if not any(out_uk):
        outs = cond_p.bind(*known, branches=branches)
        return list(outs)
    splits = [partial_eval_ir(b, uk, out_uk) for b in branches]
    n_known = n_out - sum(out_uk)
    res_avals = [list(k.out_avals[n_known:]) for k, _, _, _ in splits]
    all_res = [a for r in res_avals for a in r]
    offsets = np.cumsum([0] + [len(r) for r in res_avals]).tolist()
    known_avals = [a for a, u in zip(branches[0].in_avals, uk) if not u]

    def known_branch(i):
        kb = splits[i][0]

        def f(*xs):
            outs = _call(kb, xs)
            res = [zeros_like_aval(a) for a in all_res]
            res[offsets[i]:offsets[i + 1]] = outs[n_known:]
            return [*outs[:n_known], *res]
        return trace_to_ir(f, known_avals, name="cond_partial_eval")

    def unknown_branch(i):
        ub = splits[i][1]
        uk_avals = ub.in_avals[len(res_avals[i]):]

        def f(*xs):
            res, rest = xs[:len(all_res)], xs[len(all_res):]
            return _call(ub, [*res[offsets[i]:offsets[i + 1]], *rest])
        return trace_to_ir(f, [*all_res, *uk_avals], name="cond_partial_eval")

    known_branches = tuple(known_branch(i) for i in range(len(branches)))
    unknown_branches = tuple(unknown_branch(i) for i in range(len(branches)))
    known_ops = [k for k in known[1:] if k is not _UNKNOWN]
    k_outs = cond_p.bind(known[0], *known_ops, branches=known_branches)
    known_vals, res_vals = k_outs[:n_known], k_outs[n_known:]
    u_outs = _stage(trace, cond_p, [known[0], *res_vals, *partition_list(uk, tracers[1:])[1]],
                    dict(branches=unknown_branches))
    return merge_lists(out_uk, known_vals, u_outs)


def _cond_transpose(cts, index, *ops, branches):
    if is_undefined_primal(index):
        raise FuncgradError("cond: the branch index cannot be a linear input")
    linear = [is_undefined_primal(x) for x in ops]
    cts = [instantiate(c) for c in cts]
    tbranches = tuple(transpose_ir(b, linear) for b in branches)
    nonlin = [x for x, lin in zip(ops, linear) if not lin]
    outs = iter(cond_p.bind(index, *nonlin, *cts, branches=tbranches))
    return [None] + [next(outs) if lin else None for lin in linear]


def _cond_batch(size, xs, bdims, *, branches):
    index, *ops = xs
    ib, *obs = bdims
    in_b = [b is not not_mapped for b in obs]
    ops = [bdim_at_front(x, b, size) if b is not not_mapped else x for x, b in zip(ops, obs)]
    if ib is not_mapped:
        out_b = _any_branch([batch_ir(b, size, in_b, False)[1] for b in branches])
        bb = tuple(batch_ir(b, size, in_b, out_b)[0] for b in branches)
        outs = cond_p.bind(index, *ops, branches=bb)
        return outs, [0 if b else not_mapped for b in out_b]
    index = bdim_at_front(index, ib, size)
    if _maybe_concrete(index) is not None:
        outs = _cond_batch_rows(size, in_b, branches, False, index, *ops)
        return outs, [0] * len(outs)
    # values unknown until the program runs (jit, make_ir): an island gathering each branch's
    # rows when they are known (its derivative: the transpose of a gather is a scatter-add).
    # Selecting is faster for cheap branches (x*2 | -x: 2 us vs 35 us at 10 rows, 19 vs 100 us
    # at 10,000) and small batches (a 120-op branch: 30 vs 86 us at 100 rows; the gather wins
    # from ~1,000 rows: 250 vs 190 us), but it runs every branch on every row (warnings, side
    # effects, wasted work): the gather is kept at every size.
    out_avals = [a.update(shape=(size, *a.shape)) for a in branches[0].out_avals]
    rows = functools.partial(_cond_batch_rows, size, in_b, branches, True)
    outs = island(rows, "cond_gather_rows", [index, *ops], out_avals, [False] * (1 + len(ops)))
    return outs, [0] * len(outs)


def _cond_batch_rows(size, in_b, branches, staged, index, *ops) -> list:
    iv = _maybe_concrete(index)  # None only in a nested vmap batching the index itself
    if iv is None:
        return _cond_batch_select(size, index, list(ops), in_b, branches)
    return _cond_batch_gather(size, np.asarray(to_numpy(iv)), list(ops), in_b, branches, staged)


@_memoized
def _batched_optimized(closed: IR, size: int, in_b: tuple) -> IR:
    return optimize(batch_ir(closed, size, in_b, True)[0])


def _run_batched(closed: IR, size: int, ops: list, in_b: list[bool], compiled: bool) -> list:
    """Run a program on `size` rows (batched operands have the rows at axis 0); `compiled`:
    through the compiled code of its batched form (cached per program and size)."""
    if compiled:
        return _call(_batched_optimized(closed, size, tuple(in_b)), ops)
    outs, bdims = vmap_flat(lambda *a: _call(closed, a), size, ops,
                            [0 if b else not_mapped for b in in_b])
    return [bdim_at_front(o, b, size) for o, b in zip(outs, bdims)]


def _bucket(n: int) -> int:  # n rounded up to a multiple of its power of two over 8
    q = 1 << max(n.bit_length() - 4, 0)
    return -(-n // q) * q


def _cond_batch_gather(size, iv, ops, in_b, branches, staged=False):
    """Each branch runs only on the rows whose index selects it; rows are put back in order.
    In a staged program's island on concrete values (`staged`), each branch runs its compiled
    batched code on its rows padded (with repeats of its own rows) to one of 8 sizes per
    octave (at most 1/8 more rows), so that few sizes are compiled, whatever the split."""
    iv = np.clip(iv.astype(np.int64), 0, len(branches) - 1)
    groups = [(k, np.flatnonzero(iv == k)) for k in range(len(branches))]
    groups = [(k, rows) for k, rows in groups if rows.size] or groups[:1]  # size 0: branch 0
    compiled = staged and _concrete(ops)
    if len(groups) == 1:
        return _run_batched(branches[groups[0][0]], size, ops, in_b, compiled)
    pieces, pos, start = [], np.empty(size, np.int64), 0
    for k, rows in groups:
        take = np.resize(rows, _bucket(rows.size)) if compiled else rows
        sub = [gather(x, [take], (0,)) if b else x for x, b in zip(ops, in_b)]
        pieces.append(_run_batched(branches[k], take.size, sub, in_b, compiled))
        pos[rows] = np.arange(start, start + rows.size)  # where each row's result lies
        start += take.size
    return [gather(concatenate([p[j] for p in pieces], 0), [pos], (0,))
            for j in range(len(pieces[0]))]


def _cond_batch_select(size, index, ops, in_b, branches):
    """Predicate values unknown (full staging): run every branch on every row, then select."""
    results = [_run_batched(b, size, ops, in_b, False) for b in branches]
    outs = list(results[0])
    index_aval = get_aval_of(index)
    for k in range(1, len(branches)):
        pick = eq(index, full(index_aval.shape, k, index_aval.dtype))
        outs = [_where(pick, o, old) for o, old in zip(results[k], outs)]
    return outs


cond_p.impl = functools.partial(_cond_run, _evaluated)
cond_p.abstract_eval = _cond_abstract_eval
cond_p.jvp = _cond_jvp
cond_p.transpose = _cond_transpose
cond_p.partial_eval = _cond_partial_eval
cond_p.batch = _cond_batch
register_c_expr(cond_p, NOT_APPLICABLE)  # never fused into a GPU kernel
register_emitter(cond_p, control_flow_emitter(_cond_run))


def _cond_native(eqn, args, ctx):  # an if/elif chain on the clamped index
    bs = eqn.params["branches"]
    outs = [ctx.fresh("o") for _ in bs[0].out_avals]
    for k, b in enumerate(bs):
        ctx.block("if True" if len(bs) == 1 else "else" if k == len(bs) - 1 else
                  f"{'el' * (k > 0)}if {args[0]} {'<=' if k == 0 else '=='} {k}",
                  (b, args[1:], outs))
    return outs


register_native(cond_p, _cond_native)
register_pp_rule(cond_p, _pp_rule)


def _index_from_pred(pred) -> Any:
    aval = get_aval_of(pred)
    if aval.shape != ():
        raise FuncgradError(f"cond: the predicate must be a scalar, got {aval.str_short()}, at "
                            f"{user_frame()}\nFor elementwise choices use `fnp.where(pred, a, b)`;"
                            f" under vmap a per-example scalar predicate is fine.")
    if aval.dtype == np.dtype(bool):
        return convert_element_type(pred, np.int32)
    if aval.dtype.kind in "iu":
        return convert_element_type(ne_p.bind1(pred, np.zeros((), aval.dtype)), np.int32)
    raise FuncgradError(f"cond: the predicate must be a bool (or integer) scalar, got "
                        f"{aval.str_short()}, at {user_frame()}\nCompare first, e.g. `x > 0`.")


def _branch_types_error(what: str, names: list[str], trees: list, outs: list) -> None:
    """Raise unless every branch returns the tree `trees[k]` of avals `outs[k]` alike."""
    t0 = trees[0]
    for name, t, avals in zip(names[1:], trees[1:], outs[1:]):
        if t != t0:
            raise FuncgradError(
                f"{what}: the branches must return the same pytree structure, but {names[0]} "
                f"returns {t0} and {name} returns {t}, at {user_frame()}\nMake every branch "
                f"return the same containers (tuples/dicts/lists) with the same keys.")
        for j, (a, b) in enumerate(zip(outs[0], avals)):
            if not _same_type(a, b):
                path = _paths(tree_unflatten(t0, list(range(t0.num_leaves))))[j]
                raise FuncgradError(
                    f"{what}: the branches must return values of the same shape and dtype, but "
                    f"output{path} is {a.str_short()} in {names[0]} and {b.str_short()} in "
                    f"{name}, at {user_frame()}\nCast with `.astype(...)` or broadcast with "
                    f"`fnp.broadcast_to(...)` so that every branch agrees.")


def _eager_switch(k: int, branches: Sequence[Callable], operands: tuple, what: str, names):
    """Run the chosen branch on the values; the others are traced with abstract values only
    (cached), to check that every branch returns the same types, as staged code does. With
    Python-scalar operands the chosen one is traced too: its outputs take the dtypes staged
    code gives them (JAX's weak-type rule: `2.0 * float32` is float32)."""
    weak = any(get_aval_of(v).weak_type for v in tree_flatten(operands)[0])
    out = branches[k](*_as_arrays(operands))
    leaves, tree = tree_flatten(out)
    types = [_out_type(b, operands, what) if i != k or weak else
             (tree, [get_aval_of(v) for v in leaves]) for i, b in enumerate(branches)]
    _branch_types_error(what, names, [t for t, _ in types], [a for _, a in types])
    if weak and types[k][0] == tree:  # Python-scalar operands: the dtypes staged code gives
        out = _as_arrays(out, [a.dtype if get_aval_of(v).dtype != a.dtype else None
                               for v, a in zip(leaves, types[k][1])])
    return out


def _staged_switch(index, branches: Sequence[Callable], operands: tuple, what: str,
                   names: list[str]):
    traced = [_trace_fun(b, operands, what) for b in branches]
    _branch_types_error(what, names, [t[2] for t in traced], [t[0].out_avals for t in traced])
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

    Both branches must return the same pytree of the same shapes and dtypes, checked in every
    mode. With a concrete `pred` (eager code, or under `grad`/`jvp`) the chosen branch runs on
    the values; the other is traced with abstract values only, to check its types (it never
    sees the data; the trace is cached per function and input types). Under `vmap` with a
    per-example predicate each branch runs only on the examples that take it, also in
    compiled code. Python-scalar operands reach the branches as arrays (as `fnp.asarray`).

    Examples:
        >>> import funcgrad as fg
        >>> float(fg.cond(2.0 > 0, lambda x: x ** 2, lambda x: -x, 3.0))
        9.0
        >>> fg.grad(lambda x: fg.cond(x > 0, lambda x: x ** 2, lambda x: -x, x))(3.0)
        array(6.)
    """
    p, names = _maybe_concrete(pred), ["false_fun", "true_fun"]
    if p is not None:
        if np.ndim(p) != 0:
            raise FuncgradError(f"cond: the predicate must be a scalar, got shape {np.shape(p)},"
                                f" at {user_frame()}\nFor elementwise choices use "
                                f"`fnp.where(pred, a, b)`.")
        return _eager_switch(int(bool(p)), [false_fun, true_fun], operands, "cond", names)
    return _staged_switch(_index_from_pred(pred), [false_fun, true_fun], operands, "cond", names)


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """`branches[index](*operands)` with `index` clamped into `[0, len(branches) - 1]`.

    As for `cond`: every branch must return the same types; with a concrete `index` the chosen
    branch runs on the values and the others are traced with abstract values only (cached).

    Examples:
        >>> import funcgrad as fg
        >>> float(fg.switch(1, [lambda x: x + 1, lambda x: x * 10], 2.0))
        20.0
    """
    branches = list(branches)
    if not branches:
        raise FuncgradError(f"switch: `branches` is empty, at {user_frame()}")
    i = _maybe_concrete(index)
    names = [f"branches[{k}]" for k in range(len(branches))]
    if i is not None:
        if np.ndim(i) != 0 or np.asarray(i).dtype.kind not in "iub":
            raise FuncgradError(f"switch: the index must be an integer scalar, got "
                                f"{get_aval_of(index).str_short()}, at {user_frame()}")
        return _eager_switch(_clamp_index(i, len(branches)), branches, operands, "switch", names)
    aval = get_aval_of(index)
    if aval.shape != () or aval.dtype.kind not in "iu":
        raise FuncgradError(f"switch: the index must be an integer scalar, got "
                            f"{aval.str_short()}, at {user_frame()}")
    low, high = np.zeros((), aval.dtype), np.asarray(len(branches) - 1, aval.dtype)
    idx = convert_element_type(min_p.bind1(max_p.bind1(index, low), high), np.int32)
    return _staged_switch(idx, branches, operands, "switch", names)
