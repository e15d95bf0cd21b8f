"""Batching: BatchTrace/BatchTracer, `vmap_flat` and the public `vmap`.

Each primitive's batching rule (in its block in funcgrad/primitives/) sees the values and their
batch dimensions (`not_mapped` = None for unbatched values); there is no loop fallback.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from ..avals import ShapedArray
from ..backend import constants_on
from ..core import Trace, Tracer, full_raise, get_aval_of, new_main, not_mapped
from ..errors import ConcretizationError, FuncgradError, user_frame
from ..primitives.batching import bdim_at_front, moveaxis
from ..pytree import (
    flatten_fun,
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_prefix_broadcast,
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

    def process_primitive(self, prim, tracers, params):
        vals = [t.val for t in tracers]
        bdims = [t.batch_dim for t in tracers]
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
        paths = [keystr(p) for p, _ in tree_flatten_with_path(args)[0]]
        prefix = in_axes if isinstance(in_axes, (int, type(None))) else tuple(in_axes) \
            if isinstance(in_axes, list) else in_axes
        if isinstance(prefix, tuple) and len(prefix) != len(args):
            raise FuncgradError(f"vmap: in_axes has {len(prefix)} entries but the function was "
                                f"called with {len(args)} positional arguments, at {user_frame()}")
        axes = tree_prefix_broadcast(prefix, args)
        sizes = {}
        for i, (x, ax, path) in enumerate(zip(leaves, axes, paths)):
            if ax is None:
                continue
            nd = get_aval_of(x).ndim
            if not isinstance(ax, int) or not -nd <= ax < nd:
                raise FuncgradError(f"vmap: in_axes={ax} is out of range for argument "
                                    f"args{path} of shape {get_aval_of(x).shape}, "
                                    f"at {user_frame()}")
            axes[i] = ax % nd
            sizes.setdefault(get_aval_of(x).shape[axes[i]], []).append(f"args{path}")
        if not sizes:
            raise FuncgradError("vmap: in_axes maps no argument (all None); nothing to vectorise")
        if len(sizes) > 1:
            detail = "; ".join(f"size {n}: {', '.join(ps)}" for n, ps in sizes.items())
            raise FuncgradError(f"vmap: mapped axes have different sizes ({detail}), at "
                                f"{user_frame()}")
        size = next(iter(sizes))
        f_flat, out_tree = flatten_fun(functools.partial(fun, **kwargs), in_tree)
        with constants_on(leaves):
            outs, bdims = vmap_flat(f_flat, size, leaves, axes)
        out_tree = out_tree.val
        oaxes = tree_prefix_broadcast(out_axes, tree_unflatten(out_tree, outs))
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
