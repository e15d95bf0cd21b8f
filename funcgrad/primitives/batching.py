"""Batch-axis helpers shared by the batching rules (built on the shape primitives of ops.py)."""
from __future__ import annotations

from ..core import get_aval_of, not_mapped
from .ops import broadcast_in_dim, transpose


def moveaxis(x, src: int, dst: int):
    ndim = get_aval_of(x).ndim
    src, dst = src % ndim, dst % ndim
    if src == dst:
        return x
    perm = [i for i in range(ndim) if i != src]
    perm.insert(dst, src)
    return transpose(x, perm)


def bdim_at_front(x, bdim, size: int):
    """Move the batch axis of `x` to the front, broadcasting an unbatched `x` to `size`."""
    if bdim is not_mapped:
        aval = get_aval_of(x)
        return broadcast_in_dim(x, (size,) + aval.shape, tuple(range(1, aval.ndim + 1)))
    return moveaxis(x, bdim, 0)


def broadcasting_batcher(prim):
    """Batching rule for elementwise primitives: align batch axes, then apply."""
    def batch(size, xs, bdims, **params):
        bds = {b for b in bdims if b is not not_mapped}
        if len(bds) == 1 and all(b is not not_mapped for b in bdims):
            outs = prim.bind(*xs, **params)
            return outs, [bdims[0]] * len(outs)
        xs = [bdim_at_front(x, b, size) for x, b in zip(xs, bdims)]
        outs = prim.bind(*xs, **params)
        return outs, [0] * len(outs)
    return batch
