"""Batching: BatchTrace/BatchTracer, `vmap_flat` and the public `vmap`.

Each primitive's batching rule (in its block in funcgrad/primitives/) sees the values and their
batch dimensions (`not_mapped` = None for unbatched values); there is no loop fallback.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from ..avals import ShapedArray
from ..backend import constants_on
from ..core import Trace, Tracer, check_below, full_raise, get_aval_of, new_main, not_mapped
from ..errors import ConcretizationError, FuncgradError, arg_label, not_array_msg, user_frame
from ..primitives.batching import bdim_at_front, moveaxis
from ..pytree import (
    TreeMismatchError,
    flatten_fun,
    keystr,
    leaf_label,
    tree_flatten,
    tree_prefix_broadcast,
    tree_structure,
    tree_unflatten,
)


class BatchTracer(Tracer):
    __slots__ = ("val", "batch_dim")

    def __init__(self, trace: Trace, val, batch_dim):
        self._trace = trace
        self.val = val
        self.batch_dim = batch_dim

    @property
    def aval(self) -> ShapedArray:
        aval = get_aval_of(self.val)
        if self.batch_dim is not_mapped:
            return aval
        shape = aval.shape[:self.batch_dim] + aval.shape[self.batch_dim + 1:]
        return ShapedArray(shape, aval.dtype, aval.weak_type)

    def numeric_value(self):
        if self.batch_dim is not_mapped and isinstance(self.val, Tracer):
            return self.val.numeric_value()
        return self.concrete_value()

    def concrete_value(self):
        if self.batch_dim is not_mapped:
            v = self.val
            return v.concrete_value() if isinstance(v, Tracer) else v
        raise ConcretizationError(
            f"funcgrad: a value batched by `vmap` ({self.aval.str_short()} per example) was "
            f"used as a Python bool/number, at {user_frame()}\nEach example may take a different "
            f"branch: use `fnp.where(pred, a, b)` or `fg.cond(pred, f, g, x)` instead of `if`.")


class BatchTrace(Trace):
    def pure(self, val):
        return BatchTracer(self, val, not_mapped)

    lift = pure

    def process_primitive(self, prim, args, params):  # (see Trace.process_primitive)
        vals, bdims = [], []
        for t in args:  # this trace's tracers, and unbatched values from below
            mine = type(t) is BatchTracer and t._trace is self
            vals.append(t.val if mine else check_below(t))
            bdims.append(t.batch_dim if mine else not_mapped)
        if all(b is not_mapped for b in bdims):
            outs = prim.bind(*vals, **params)
            return [BatchTracer(self, o, not_mapped) for o in outs]
        rule = prim.batch
        if rule is None or isinstance(rule, str):
            raise FuncgradError(f"vmap: primitive {prim.name} has no batching rule")
        outs, bdims_out = rule(self.main.global_data, vals, bdims, **params)
        return [BatchTracer(self, o, b) for o, b in zip(outs, bdims_out)]


def vmap_flat(f: Callable, axis_size: int, args: list, in_axes: list) -> tuple[list, list]:
    with new_main(BatchTrace, axis_size, name="vmap") as main:
        trace = main.trace
        tracers = [x if ax is not_mapped else BatchTracer(trace, x, ax)
                   for x, ax in zip(args, in_axes)]
        outs = [full_raise(trace, o) for o in f(*tracers)]
        return [o.val for o in outs], [o.batch_dim for o in outs]


def aval_of_arg(name: str, x, fun: Callable, args: tuple, i: int, nums=None) -> ShapedArray:
    """The aval of leaf `i` of `fun`'s positional arguments `args` (at `nums`); a non-array leaf
    is an error naming its key path and the fix for transform `name`."""
    try:
        return get_aval_of(x)
    except TypeError:
        label = leaf_label(fun, args, i, nums)
    raise FuncgradError(not_array_msg(name, label, x))


def _axes(what: str, prefix, tree, fun: Callable) -> list:
    """`prefix` (in_axes or out_axes) broadcast to the leaves of `tree` (args or the output)."""
    try:
        return tree_prefix_broadcast(prefix, tree)
    except TreeMismatchError as e:
        _, path, expected, found = e.args
        of, at = ("arguments", "output")[what == "out_axes"], keystr(path)
        whose = (f"argument `{arg_label(fun, path[0].idx, keystr(path[1:]))}`" if path else
                 "the positional arguments") if what == "in_axes" else f"the output{at}"
        raise FuncgradError(
            f"vmap: {what} must be a tree prefix of the {of}: {what}{at} is {expected} but "
            f"{whose} is {found}, at {user_frame()}\n  {what}: {prefix!r}\n  {of}: "
            f"{tree_structure(tree)}\nGive {what} as one int or None for all of them, or a tree "
            f"like the {of} with an int or None per part" + (
                ": one entry per positional argument, e.g. in_axes=(0, {'w': 0, 'name': None})."
                if what == "in_axes" else ".")) from None


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """Vectorise `fun` over a mapped axis of its inputs.

    Args:
        fun: function of arrays (pytrees of arrays).
        in_axes: int, None, or a pytree prefix of the positional arguments giving the mapped
            axis of each (None: not mapped). Keyword arguments are never mapped.
        out_axes: int, None or a pytree prefix of the output: where the mapped axis goes.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> fg.vmap(fnp.dot, in_axes=(0, None))(np.ones((3, 2)), np.ones(2))
        array([2., 2., 2.])
    """
    def vmapped(*args: Any, **kwargs: Any):
        leaves, in_tree = tree_flatten(args)
        prefix = tuple(in_axes) if isinstance(in_axes, list) else in_axes
        if isinstance(prefix, tuple) and len(prefix) != len(args):
            raise FuncgradError(f"vmap: in_axes has {len(prefix)} entries but the function was "
                                f"called with {len(args)} positional arguments, at {user_frame()}"
                                f"\nGive one entry per positional argument (None for those not "
                                f"mapped), e.g. in_axes=(0, None).")
        axes = _axes("in_axes", prefix, args, fun) if type(prefix) is not int else \
            [prefix] * len(leaves)
        sizes = {}
        for i, (x, ax) in enumerate(zip(leaves, axes)):
            if ax is None:
                continue
            shape = aval_of_arg("vmap", x, fun, args, i).shape
            if not isinstance(ax, int) or not -len(shape) <= ax < len(shape):
                why = "out of range" if isinstance(ax, int) else "an axis is an int or None"
                raise FuncgradError(
                    f"vmap: in_axes={ax!r} for argument `{leaf_label(fun, args, i)}` of shape "
                    f"{shape}: {why}, at {user_frame()}\nUse an axis in [-{len(shape)}, "
                    f"{len(shape)}), or None to leave it unmapped"
                    f"{' (a scalar cannot be mapped)' * (not shape)}.")
            axes[i] = ax % len(shape)
            sizes.setdefault(shape[axes[i]], []).append(i)
        if not sizes:
            raise FuncgradError(f"vmap: in_axes maps no argument (all None), at {user_frame()}\n"
                                f"Map at least one argument: give it an axis in in_axes.")
        if len(sizes) > 1:
            detail = "".join(f"\n  * size {n}: axis {axes[i]} of argument `"
                             f"{leaf_label(fun, args, i)}` ({get_aval_of(leaves[i]).str_short()})"
                             for n, idx in sizes.items() for i in idx)
            raise FuncgradError(f"vmap: the mapped axes have different sizes, at {user_frame()}"
                                f"{detail}\nMapped axes must all have the same size: fix the "
                                f"shapes, or leave some arguments unmapped with None in in_axes.")
        size = next(iter(sizes))
        f_flat, out_tree = flatten_fun(functools.partial(fun, **kwargs), in_tree)
        with constants_on(leaves):
            outs, bdims = vmap_flat(f_flat, size, leaves, axes)
        out_tree = out_tree.val
        oaxes = _axes("out_axes", out_axes, tree_unflatten(out_tree, outs), fun)
        final = []
        for o, b, oa in zip(outs, bdims, oaxes):
            if oa is None:
                if b is not not_mapped:
                    raise FuncgradError("vmap: out_axes=None for an output that depends on the "
                                        f"mapped inputs, at {user_frame()}\nGive that output "
                                        "an axis (e.g. out_axes=0), or compute it outside vmap.")
                final.append(o)
                continue
            if b is not_mapped:
                o, b = bdim_at_front(o, b, size), 0
            nd = get_aval_of(o).ndim
            if not isinstance(oa, int) or not -nd <= oa < nd:
                raise FuncgradError(f"vmap: out_axes={oa!r} is out of range for an output of "
                                    f"shape {get_aval_of(o).shape} (batched), at {user_frame()}"
                                    f"\nUse an axis in [-{nd}, {nd}).")
            final.append(moveaxis(o, b, oa))
        return tree_unflatten(out_tree, final)

    return vmapped
