"""`while_loop`/`fori_loop` and their primitive `while_p`, with all its rules in one block.

`while_p(*cond_consts, *body_consts, *carry; cond_jaxpr, body_jaxpr, cond_nconsts,
body_nconsts)` runs `while cond(carry): carry = body(carry)`. Reverse mode records the trip
count during `linearize` and stages the tangent loop as a `scan` (`scan.py`) -- under `jit`,
where the trip count is known only at run time, inside an eager island (`island.py`);
`fori_loop` with static bounds is a `scan` outright. The family overview is in `__init__.py`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ...avals import ShapedArray
from ...backend.fusion import register_c_expr
from ...backend.native import register_native
from ...backend.numpy_codegen import register_emitter
from ...core import NOT_APPLICABLE, Primitive, Tracer, Zero, get_aval_of, not_mapped
from ...errors import FuncgradError, user_frame
from ...ir import register_pp_rule
from ...primitives import reduce_max
from ...primitives.batching import bdim_at_front
from ...primitives.rules import instantiate, zeros_like_aval
from ...pytree import tree_flatten, tree_unflatten
from ...staging import trace_to_ir
from ...util import merge_lists, partition_list
from ..program import (
    add_unused_inputs,
    batch_ir,
    closure_convert,
    jvp_ir,
    partial_eval_ir,
    partial_eval_ir_fwd,
    permute_inputs,
    permute_outputs,
    split_list,
)
from ..vmap import BatchTracer
from .common import (
    _call,
    _check_carry,
    _concrete,
    _evaluated,
    _fixpoint,
    _known_or_tracer,
    _maybe_concrete,
    _no_transform_active,
    _pp_rule,
    _same_type,
    _stack,
    _stage,
    _trace_fun,
    _unknown_flags,
    _weak_promoted,
    _where,
    control_flow_emitter,
)
from .island import IslandFun, island_p
from .scan import scan, scan_p

__all__ = ["while_loop", "fori_loop", "while_p"]


# ================================================================================================
# while_loop / fori_loop
# ================================================================================================
while_p = Primitive("while", multiple_results=True)


def _while_run(run, *args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    """The loop (`run(program)` runs a sub-program: see common._evaluated)."""
    cond_fn, body_fn = run(cond_jaxpr), run(body_jaxpr)
    cc, bc, carry = split_list(args, [cond_nconsts, body_nconsts])
    while bool(cond_fn(*cc, *carry)[0]):
        carry = body_fn(*bc, *carry)
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
    carry_nz = _fixpoint(lambda f: jvp_ir(body_jaxpr, bc_nz + f, f)[1],
                         [type(t) is not Zero for t in t_carry])
    if not any(carry_nz):
        outs = while_p.bind(*primals, cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr,
                            cond_nconsts=cond_nconsts, body_nconsts=body_nconsts)
        return outs, [Zero(get_aval_of(o)) for o in outs]
    jbody, _ = jvp_ir(body_jaxpr, bc_nz + carry_nz, carry_nz)
    n_bc, n_carry, k_bc, k_carry = len(bc), len(carry), sum(bc_nz), sum(carry_nz)
    n_p = n_bc + n_carry
    perm = [*range(n_bc), *range(n_p, n_p + k_bc), *range(n_bc, n_p),
            *range(n_p + k_bc, n_p + k_bc + k_carry)]
    jbody = permute_inputs(jbody, perm)
    carry_dot_avals = [a for a, z in zip(body_jaxpr.out_avals, carry_nz) if z]
    jcond = add_unused_inputs(cond_jaxpr, carry_dot_avals)
    outs = while_p.bind(*cc, *bc, *[t for t in t_bc if type(t) is not Zero], *carry,
                        *[instantiate(t) for t, z in zip(t_carry, carry_nz) if z],
                        cond_jaxpr=jcond, body_jaxpr=jbody, cond_nconsts=cond_nconsts,
                        body_nconsts=n_bc + k_bc)
    p_out, it = outs[:n_carry], iter(outs[n_carry:])
    return p_out, [next(it) if z else Zero(get_aval_of(p)) for p, z in zip(p_out, carry_nz)]


def _while_partial_eval(trace, tracers, known, *, cond_jaxpr, body_jaxpr, cond_nconsts,
                        body_nconsts):
    """Split a loop for `linearize`; the strategy follows from what is known of the predicate:
    nothing unknown -- run the loop; the predicate unknown -- stage the whole loop; its values
    known now -- `_while_partial_eval_recorded`; known only when the program runs (under
    `jit`/`make_ir`) -- `_while_partial_eval_island`."""
    params = dict(cond_jaxpr=cond_jaxpr, body_jaxpr=body_jaxpr, cond_nconsts=cond_nconsts,
                  body_nconsts=body_nconsts)
    uk = _unknown_flags(known)
    cc_uk, bc_uk, carry_uk = split_list(uk, [cond_nconsts, body_nconsts])
    carry_uk = _fixpoint(lambda f: partial_eval_ir(body_jaxpr, bc_uk + f, False)[2],
                         carry_uk)
    if not any(bc_uk) and not any(carry_uk):
        return while_p.bind(*known, **params)
    if partial_eval_ir(cond_jaxpr, cc_uk + carry_uk, False)[2][0]:
        return _stage(trace, while_p, tracers, params)
    vals = _known_or_tracer(known, tracers)
    cc, _, carry = split_list(vals, [cond_nconsts, body_nconsts])
    pred = _call(cond_jaxpr, [*cc, *[None if u else c for c, u in zip(carry, carry_uk)]])[0]
    if _predicate_values(pred) is None:
        return _while_partial_eval_island(trace, vals, uk, carry_uk, params)
    return _while_partial_eval_recorded(trace, vals, uk, carry_uk, params, pred)


def _predicate_values(pred) -> Any:
    """The value of a predicate now -- per example, for one batched by `vmap` -- or None when
    it is known only when the staged program runs."""
    while isinstance(pred, BatchTracer):
        pred = pred.val
    return _maybe_concrete(pred)


def _while_partial_eval_recorded(trace, vals, uk, carry_uk, params, pred) -> list:
    """The predicate's values are known now (eager `grad`, `vmap` of `grad`): run the known
    (primal) loop, recording the trip count and each iteration's residuals, and stage the
    unknown (tangent) loop as a `scan` over the stacked residuals. A per-example predicate
    under `vmap` runs until every example is done, finished examples masked."""
    cn, bn = params["cond_nconsts"], params["body_nconsts"]
    cc, bc, carry = split_list(vals, [cn, bn])
    bc_uk = uk[cn:cn + bn]
    kbody, ubody, _, n_res, fwd = partial_eval_ir_fwd(params["body_jaxpr"], bc_uk + carry_uk,
                                                      carry_uk)
    (k_bc, u_bc), (k_carry, u_carry) = partition_list(bc_uk, bc), partition_list(carry_uk, carry)
    n_k, holes = len(k_carry), [None] * len(u_carry)  # the predicate reads known values only
    # residuals that are known loop constants are passed once, not stacked per iteration
    inv = [j for j, i in enumerate(fwd) if i is not None and i < len(k_bc)]
    per_iter = [j for j in range(n_res) if j not in inv]
    kbody = permute_outputs(kbody, [*range(n_k), *[n_k + j for j in per_iter]])

    residuals, masks, masked = [], [], False
    while True:
        scalar = _maybe_concrete(pred)
        mask = None if scalar is not None else pred  # vmap of grad: a per-example predicate
        masked = masked or mask is not None
        if not (bool(scalar) if mask is None else bool(np.any(_predicate_values(pred)))):
            break
        outs = _call(kbody, [*k_bc, *k_carry])
        k_carry = (outs[:n_k] if mask is None  # finished examples keep their carry
                   else [_where(mask, n, o) for n, o in zip(outs[:n_k], k_carry)])
        residuals.append(outs[n_k:])
        masks.append(np.True_ if mask is None else mask)
        pred = _call(params["cond_jaxpr"], [*cc, *merge_lists(carry_uk, k_carry, holes)])[0]
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
            m = rit[n_pi]
            off = [_where(m, v, zeros_like_aval(get_aval_of(v))) for v in (*ubc, *uc)]
            new = _call(ubody, [*res, *off])
            return [_where(m, n, o) for n, o in zip(new, uc)]

        inv_avals = [ubody.in_avals[j] for j in inv]
        sbody = trace_to_ir(scan_body, [*inv_avals, *ubody.in_avals[n_res:], *res_avals],
                            name="while_linearize")
        sbody, sconsts = closure_convert(sbody)
        u_out = _stage(trace, scan_p, [*sconsts, *inv_vals, *u_bc, *u_carry, *stacked],
                       dict(jaxpr=sbody, num_consts=len(sconsts) + n_inv + n_ubc,
                            num_carry=n_uc, length=trips, reverse=False))
    return merge_lists(carry_uk, k_carry, u_out)


def _while_partial_eval_island(trace, vals, uk, carry_uk, params) -> list:
    """The predicate is staged (under `jit`/`make_ir`): the known (primal) carry runs as a
    `while`; the unknown (tangent) carry is an eager island, which at run time reruns the loop
    with its tangents -- and whose transpose runs the eager reverse pass, which records the
    trip count and residuals then."""
    cn, bn = params["cond_nconsts"], params["body_nconsts"]
    cc, bc, carry = split_list(vals, [cn, bn])
    bc_uk = uk[cn:cn + bn]
    k_bc, k_carry = partition_list(bc_uk, bc)[0], partition_list(carry_uk, carry)[0]
    holes = [None] * (len(carry) - len(k_carry))
    kbody = partial_eval_ir(params["body_jaxpr"], bc_uk + carry_uk, carry_uk)[0]
    kbody = permute_outputs(kbody, list(range(len(k_carry))))  # the known carry, no residuals

    def kcond(*a):  # (cond consts, known carry): the predicate reads known values only
        return _call(params["cond_jaxpr"], [*a[:cn], *merge_lists(carry_uk, a[cn:], holes)])
    kcond_jaxpr = trace_to_ir(kcond, [get_aval_of(v) for v in (*cc, *k_carry)],
                              name="while_cond")
    k_out = while_p.bind(*cc, *k_bc, *k_carry, cond_jaxpr=kcond_jaxpr, body_jaxpr=kbody,
                         cond_nconsts=cn, body_nconsts=len(k_bc))
    flags = uk[:cn + bn] + carry_uk
    known, unknown = partition_list(flags, vals)

    def tangents_out(*a):  # concrete (known inputs, tangent inputs) -> tangent carry out
        outs = while_p.bind(*merge_lists(flags, a[:len(known)], a[len(known):]), **params)
        return partition_list(carry_uk, outs)[1]

    u_avals = partition_list(carry_uk, params["body_jaxpr"].out_avals)[1]
    u_out = _stage(trace, island_p, [*known, *unknown], dict(
        fun=IslandFun(tangents_out, "while_tangents"), out_avals=tuple(u_avals),
        linear=(False,) * len(known) + (True,) * len(unknown)))
    return merge_lists(carry_uk, k_out, u_out)


def _while_batch(size, xs, bdims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    b = [d is not not_mapped for d in bdims]
    cc_b, bc_b, carry_b = split_list(b, [cond_nconsts, body_nconsts])
    carry_b = _fixpoint(lambda f: batch_ir(body_jaxpr, size, bc_b + f, f)[1], carry_b)
    pred_b = batch_ir(cond_jaxpr, size, cc_b + carry_b, False)[1][0]
    if pred_b:
        carry_b = [True] * len(carry_b)
    bbody = batch_ir(body_jaxpr, size, bc_b + carry_b, carry_b)[0]
    bcond = batch_ir(cond_jaxpr, size, cc_b + carry_b, False)[0]
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
        return [reduce_max(_call(bcond, a)[0], (0,))]

    def masked_body(*a):
        c_cc, c_bc, c_carry = split_list(a, [n_cc, n_bc])
        active = _call(bcond, [*c_cc, *c_carry])[0]
        return [_where(active, n, o) for n, o in zip(_call(bbody, [*c_bc, *c_carry]), c_carry)]

    new_cond = trace_to_ir(any_cond, [*cc_avals, *carry_avals], name="while_batch")
    new_body = trace_to_ir(masked_body, [*cc_avals, *bc_avals, *carry_avals],
                              name="while_batch")
    new_cond, k1 = closure_convert(new_cond)
    new_body, k2 = closure_convert(new_body)
    outs = while_p.bind(*k1, *cc, *k2, *cc, *bc, *carry, cond_jaxpr=new_cond,
                        body_jaxpr=new_body, cond_nconsts=len(k1) + n_cc,
                        body_nconsts=len(k2) + n_cc + n_bc)
    return outs, out_dims


while_p.impl = functools.partial(_while_run, _evaluated)
while_p.abstract_eval = _while_abstract_eval
while_p.jvp = _while_jvp
while_p.transpose = NOT_APPLICABLE  # reverse mode turns the tangent loop into a scan
while_p.partial_eval = _while_partial_eval
while_p.batch = _while_batch
register_c_expr(while_p, NOT_APPLICABLE)  # never fused into a GPU kernel
register_emitter(while_p, control_flow_emitter(_while_run))
register_pp_rule(while_p, _pp_rule)


def _while_native(eqn, args, ctx):  # the loop itself, its sub-programs inlined
    p = eqn.params
    cc, bc, init = split_list(args, [p["cond_nconsts"], p["body_nconsts"]])
    carry = ctx.carry(init)
    pred = ctx.carry(ctx.inline(p["cond_jaxpr"], cc + carry))
    ctx.block(f"while {pred[0]}", (p["body_jaxpr"], bc + carry, carry),
              (p["cond_jaxpr"], cc + carry, pred))
    return carry


register_native(while_p, _while_native, loop=True)


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """`val = init_val; while cond_fun(val): val = body_fun(val); return val`.

    `cond_fun` returns a bool scalar; `body_fun` must keep the carry's pytree structure, shapes
    and dtypes (checked in every mode). Python scalars in `init_val` reach the functions as
    arrays (as `fnp.asarray` makes them). Differentiable in forward mode and -- unlike most
    systems -- in reverse mode too: `grad` records the trip count and per-iteration residuals
    of the forward loop and runs a reverse scan over them (under `jit`, when the compiled
    program runs: see `island.py`). Under `vmap` with a per-example predicate the loop runs
    until every example is done, with finished examples frozen.

    Examples:
        >>> import funcgrad as fg
        >>> body = lambda c: (c[0] + 1, c[1] * 2.0)
        >>> n, v = fg.while_loop(lambda c: c[1] < 100.0, body, (0, 1.0))
        >>> int(n), float(v)  # the body received arrays: int64 and float64
        (7, 128.0)
        >>> fg.grad(lambda x: fg.while_loop(lambda v: v < 10.0, lambda v: v * 3.0, x))(2.0)
        array(9.)
    """
    eager = _no_transform_active() and _concrete(tree_flatten(init_val)[0])
    init_val = _weak_promoted(body_fun, (init_val,), "while_loop", eager)
    init_leaves, init_tree = tree_flatten(init_val)
    init_avals = [get_aval_of(x) for x in init_leaves]
    if eager:
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
        >>> float(fg.fori_loop(0, 4, lambda i, x: x * 2.0, 1.0))
        16.0
    """
    def checked(i, val):  # body_fun, the type of its carry checked in every mode alike
        out = body_fun(i, val)
        (a, t), (b, u) = tree_flatten(val), tree_flatten(out)
        _check_carry("fori_loop", "body_fun", t, [get_aval_of(x) for x in a], u,
                     [get_aval_of(x) for x in b])
        return out

    lo, hi = _maybe_concrete(lower), _maybe_concrete(upper)
    eager = _no_transform_active() and _concrete(tree_flatten(init_val)[0])
    i0 = np.int64(lo) if lo is not None else lower
    init_val = _weak_promoted(body_fun, (i0, init_val), "fori_loop", eager)
    if lo is not None and hi is not None:
        lo, hi = int(lo), int(hi)
        if eager:
            val = init_val
            for i in range(lo, hi):
                val = checked(np.int64(i), val)  # the type of the index under jit
            return val

        def step(carry, _):
            i, val = carry
            return (i + 1, checked(i, val)), None

        (_, val), _ = scan(step, (np.int64(lo), init_val), None, length=max(hi - lo, 0))
        return val
    lower = np.asarray(lower) if not isinstance(lower, Tracer) else lower
    upper = np.asarray(upper) if not isinstance(upper, Tracer) else upper
    _, _, val = while_loop(lambda c: c[0] < c[1],
                           lambda c: (c[0] + 1, c[1], checked(c[0], c[2])),
                           (lower, upper, init_val))
    return val
