"""`scan` and its primitive `scan_p`, with all its rules in one block.

`scan_p(*consts, *carry, *xs; jaxpr, num_consts, num_carry, length, reverse)` computes
`carry, y_i = body(consts, carry, x_i)` for i = 0..length-1 (or backwards), ys stacked. Its
transpose is a reverse `scan`; `while_loop.py` reuses it for `fori_loop` with static bounds and
for reverse mode through `while_loop`. The family overview is in `__init__.py`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from ...avals import ShapedArray
from ...backend.fusion import register_c_expr
from ...backend.native import ctor, register_native
from ...backend.numpy_codegen import register_emitter
from ...core import (
    NOT_APPLICABLE,
    FuncgradError,
    Primitive,
    Zero,
    get_aval_of,
    is_undefined_primal,
    not_mapped,
    user_frame,
)
from ...ir import register_pp_rule
from ...primitives.batching import bdim_at_front, moveaxis
from ...primitives.rules import add_tangents, instantiate, zeros_like_aval
from ...pytree import flatten_fun, tree_flatten, tree_structure, tree_unflatten
from ...staging import trace_to_ir
from ...util import merge_lists, partition_list
from ..program import (
    batch_ir,
    closure_convert,
    jvp_ir,
    partial_eval_ir,
    partial_eval_ir_fwd,
    permute_inputs,
    permute_outputs,
    split_list,
    transpose_ir,
)
from .common import (
    _call,
    _check_carry,
    _concrete,
    _evaluated,
    _fixpoint,
    _known_or_tracer,
    _no_transform_active,
    _pp_rule,
    _same_type,
    _stack,
    _stage,
    _unknown_flags,
    _weak_promoted,
    control_flow_emitter,
)

__all__ = ["scan", "scan_p"]


# ================================================================================================
# scan
# ================================================================================================
scan_p = Primitive("scan", multiple_results=True)


def _scan_run(run, *args, jaxpr, num_consts, num_carry, length, reverse):
    """The loop (`run(program)` runs a sub-program: see common._evaluated)."""
    body = run(jaxpr)
    consts, carry, xs = split_list(args, [num_consts, num_carry])
    ys = []
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        outs = body(*consts, *carry, *[x[i] for x in xs])
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


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse):
    nz = [type(t) is not Zero for t in tangents]
    c_nz, carry_nz, xs_nz = split_list(nz, [num_consts, num_carry])
    n_y = len(jaxpr.out_avals) - num_carry
    carry_nz = _fixpoint(lambda f: jvp_ir(jaxpr, c_nz + f + xs_nz,
                                             f + [False] * n_y)[1][:num_carry], carry_nz)
    jbody, out_nz = jvp_ir(jaxpr, c_nz + carry_nz + xs_nz, carry_nz + [False] * n_y)
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
        *carry, *[instantiate(t) for t, z in zip(t_carry, carry_nz) if z],
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
    carry_uk = _fixpoint(lambda f: partial_eval_ir(jaxpr, c_uk + f + xs_uk,
                                                      f + [False] * n_y)[2][:num_carry], carry_uk)
    all_uk = c_uk + carry_uk + xs_uk
    if all(all_uk):
        return _stage(trace, scan_p, tracers, params)
    kbody, ubody, out_uk, n_res, fwd = partial_eval_ir_fwd(jaxpr, all_uk,
                                                              carry_uk + [False] * n_y)
    if not any(out_uk):
        return scan_p.bind(*known, **params)
    vals = _known_or_tracer(known, tracers)
    (k_consts, u_consts), (k_carry, u_carry), (k_xs, u_xs) = [
        partition_list(f, g) for f, g in zip([c_uk, carry_uk, xs_uk],
                                             split_list(vals, [num_consts, num_carry]))]
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
    return (merge_lists(out_uk[:num_carry], kcarry_out, u_outs[:n_ucarry])
            + merge_lists(out_uk[num_carry:], kys, u_outs[n_ucarry:]))


def _scan_transpose(cts, *args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = split_list(args, [num_consts, num_carry])
    c_lin = [is_undefined_primal(x) for x in consts]
    x_lin = [is_undefined_primal(x) for x in xs]
    # every carry is linear; one with a known value (an instantiated zero) just gets no ct
    carry_undef = [is_undefined_primal(x) for x in carry]
    carry = [x if u else _AvalOf(get_aval_of(x)) for x, u in zip(carry, carry_undef)]
    ct_carry, ct_ys = split_list([instantiate(c) for c in cts], [num_carry])[:2]
    body_t = transpose_ir(jaxpr, c_lin + [True] * num_carry + x_lin)
    nl_consts = [x for x, lin in zip(consts, c_lin) if not lin]
    nl_xs = [x for x, lin in zip(xs, x_lin) if not lin]
    lin_c_avals = [x.aval for x, lin in zip(consts, c_lin) if lin]
    n_nlc, n_lc, n_nlx = len(nl_consts), len(lin_c_avals), len(nl_xs)

    def body(*a):
        nlc, acc, ctc, nlx, cty = split_list(a, [n_nlc, n_lc, num_carry, n_nlx])
        outs = _call(body_t, [*nlc, *nlx, *ctc, *cty])
        d_c, d_carry, d_x = split_list(outs, [n_lc, num_carry])
        return [*[add_tangents(s, d) for s, d in zip(acc, d_c)], *d_carry, *d_x]

    y_avals = [ShapedArray(a.shape[1:], a.dtype) for a in map(get_aval_of, ct_ys)]
    nlx_avals = [ShapedArray(a.shape[1:], a.dtype) for a in map(get_aval_of, nl_xs)]
    body_closed = trace_to_ir(body, [*map(get_aval_of, nl_consts), *lin_c_avals,
                                        *[c.aval for c in carry], *nlx_avals, *y_avals],
                                 name="scan_transpose")
    outs = scan_p.bind(*nl_consts, *[zeros_like_aval(a) for a in lin_c_avals], *ct_carry,
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
    b = [d is not not_mapped for d in bdims]
    c_b, carry_b, xs_b = split_list(b, [num_consts, num_carry])
    n_y = len(jaxpr.out_avals) - num_carry
    carry_b = _fixpoint(lambda f: batch_ir(jaxpr, size, c_b + f + xs_b,
                                              f + [False] * n_y)[1][:num_carry], carry_b)
    bbody, out_b = batch_ir(jaxpr, size, c_b + carry_b + xs_b, carry_b + [False] * n_y)
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


scan_p.impl = functools.partial(_scan_run, _evaluated)
scan_p.abstract_eval = _scan_abstract_eval
scan_p.jvp = _scan_jvp
scan_p.transpose = _scan_transpose
scan_p.partial_eval = _scan_partial_eval
scan_p.batch = _scan_batch
register_c_expr(scan_p, NOT_APPLICABLE)  # never fused into a GPU kernel
register_emitter(scan_p, control_flow_emitter(_scan_run))
register_pp_rule(scan_p, _pp_rule)


def _scan_native(eqn, args, ctx):  # the loop itself, the ys written into preallocated arrays
    p, nc, i = eqn.params, eqn.params["num_carry"], ctx.fresh("i")
    consts, init, xs = split_list(args, [p["num_consts"], nc])
    carry, n = ctx.carry(init), p["length"]
    ys = ctx.carry([f"np.empty({(n,) + a.shape!r}, {ctor(a.dtype)})"
                    for a in p["jaxpr"].out_avals[nc:]])
    ctx.block(f"for {i} in range({f'{n} - 1, -1, -1' if p['reverse'] else n})", (
        p["jaxpr"], consts + carry + [f"{x}[{i}]" for x in xs], carry + [f"{y}[{i}]" for y in ys]))
    return carry + ys


register_native(scan_p, _scan_native, loop=True)


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

    def body(c, x):
        res = f(c, x)
        if not (isinstance(res, tuple) and len(res) == 2):
            raise FuncgradError(f"scan: f must return a pair (carry, y), got "
                                f"{type(res).__name__}, at {user_frame()}")
        return res

    eager = n and _no_transform_active() and _concrete(init_leaves + x_leaves)
    if n:  # (the body's types, probed on zeros: no equation added outside the probe)
        x0 = [np.zeros(get_aval_of(x).shape[1:], get_aval_of(x).dtype) for x in x_leaves]
        init = _weak_promoted(lambda c: body(c, tree_unflatten(x_tree, x0))[0], (init,),
                              "scan", eager)
        init_leaves = tree_flatten(init)[0]
    if eager:
        return _scan_eager(body, init, init_tree, xs, x_tree, x_leaves, n, reverse)
    x_avals = [ShapedArray(get_aval_of(x).shape[1:], get_aval_of(x).dtype) for x in x_leaves]
    body_flat, out_trees = flatten_fun(body, tree_structure((init, xs)), has_aux=True)
    in_avals = [get_aval_of(x) for x in init_leaves] + x_avals
    closed = trace_to_ir(body_flat, in_avals, name="scan")
    c_tree, y_tree = out_trees.val
    _check_carry("scan", "f", init_tree, in_avals[:len(init_leaves)], c_tree,
                 closed.out_avals[:len(init_leaves)])
    closed, consts = closure_convert(closed)
    outs = scan_p.bind(*consts, *init_leaves, *x_leaves, jaxpr=closed, num_consts=len(consts),
                       num_carry=len(init_leaves), length=n, reverse=bool(reverse))
    return (tree_unflatten(c_tree, outs[:len(init_leaves)]),
            tree_unflatten(y_tree, outs[len(init_leaves):]))


def _scan_eager(body, carry, init_tree, xs, x_tree, x_leaves, n, reverse):
    init_avals = [get_aval_of(x) for x in tree_flatten(carry)[0]]
    ys = []
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        carry, y = body(carry, tree_unflatten(x_tree, [v[i] for v in x_leaves]))
        c_leaves, c_tree = tree_flatten(carry)
        _check_carry("scan", "f", init_tree, init_avals, c_tree,
                     [get_aval_of(c) for c in c_leaves])
        ys.append(tree_flatten(y))
    if reverse:
        ys.reverse()
    y_tree = ys[0][1]
    stacked = [_stack([y[0][j] for y in ys]) for j in range(len(ys[0][0]))]
    return carry, tree_unflatten(y_tree, stacked)
