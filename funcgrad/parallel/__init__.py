"""Data parallelism over MPI: `init`, `rank`, `size`, `barrier` and the collectives `psum`,
`pmean`, `pmax`, `all_gather` and `broadcast`, which take pytrees.

Launch the same script on several processes (`mpiexec -n 4 python train.py`); each process is a
rank, holds a full copy of the parameters, computes gradients on its share of every batch
(`data.DataLoader(..., shard=True)`) and averages them with `pmean` before the update::

    from funcgrad import parallel
    parallel.init()                                  # size() == 1 without mpiexec
    params = parallel.broadcast(params, root=0)      # every rank starts from rank 0's
    @fg.jit
    def step(params, x, t):
        g = parallel.pmean(fg.grad(loss)(params, x, t))   # one all-reduce of all leaves
        return fg.tree_map(lambda p, g: p - 0.1 * g, params, g)

The collectives are primitives (`collectives.py`: rules for jvp, transpose, vmap and jit);
`_mpi.py` owns the transport: MPI for NumPy arrays and, for CuPy arrays, NCCL (`_nccl.py`; one
GPU per rank, `device()`, with the NCCL communicator set up over MPI on first use). With one
process every collective returns its input without staging anything (`all_gather` adds the axis
of length 1), so single-process code pays nothing.
"""
from __future__ import annotations

from typing import Any

from ..backend import CPU, Device, devices
from ..core import get_aval_of
from ..primitives import expand_dims
from ..pytree import tree_flatten, tree_map, tree_unflatten
from . import _mpi
from .collectives import all_gather_p, broadcast_p, pmax_p, pmean_p, psum_p


def init() -> None:
    """Join the MPI world through mpi4py (idempotent; the collectives call it when needed).

    Without an MPI launcher, or without mpi4py, this process is the whole world (`size() == 1`).
    Started as one of several processes without mpi4py installed, it raises ImportError naming
    the `parallel` extra. With several processes, an uncaught exception on any rank aborts all
    of them (MPI_Abort), so that none waits forever in a collective.
    """
    _mpi.init()


def rank() -> int:
    """This process's index in the world, 0 .. size() - 1."""
    return _mpi.world().rank


def size() -> int:
    """The number of processes in the world (1 without mpiexec)."""
    return _mpi.world().size


def device() -> Device:
    """This rank's GPU, `gpu:<rank % number of GPUs>` (the CPU on a machine without one): put
    the arrays there (`fg.device_put(params, parallel.device())`) and the collectives of those
    arrays run over NCCL, GPU to GPU."""
    gpus = [d for d in devices() if d.platform == "gpu"]
    return gpus[rank() % len(gpus)] if gpus else CPU


def barrier() -> None:
    """Wait until every rank has reached this call."""
    _mpi.barrier()


def _collective(prim, tree: Any, **params) -> Any:
    leaves, treedef = tree_flatten(tree)
    if not leaves or _mpi.world().size == 1:
        return tree
    return tree_unflatten(treedef, prim.bind(*leaves, **params))


def psum(tree: Any) -> Any:
    """Every leaf summed over ranks (one all-reduce for the whole tree)."""
    return _collective(psum_p, tree)


def pmean(tree: Any) -> Any:
    """Every (floating-point) leaf averaged over ranks (one all-reduce for the whole tree).

    Examples:
        >>> from funcgrad import parallel
        >>> parallel.pmean({"w": 1.5})                 # one process: the identity
        {'w': 1.5}
    """
    return _collective(pmean_p, tree)


def pmax(tree: Any) -> Any:
    """Every leaf's elementwise maximum over ranks."""
    return _collective(pmax_p, tree)


def broadcast(tree: Any, root: int = 0) -> Any:
    """Rank `root`'s value of every leaf, on every rank (shapes and dtypes must agree)."""
    return _collective(broadcast_p, tree, root=int(root))


def all_gather(tree: Any, axis: int = 0) -> Any:
    """Every leaf stacked over ranks, in rank order, on a new axis `axis` of length size()."""
    leaves, treedef = tree_flatten(tree)
    axes = []
    for x in leaves:
        ndim = len(get_aval_of(x).shape)
        axes.append(axis + ndim + 1 if axis < 0 else axis)
    n = _mpi.world().size
    if n == 1:
        return tree_map(lambda x, ax: expand_dims(x, (ax,)), tree,
                        tree_unflatten(treedef, axes))
    if not leaves:
        return tree
    return tree_unflatten(treedef, all_gather_p.bind(*leaves, axes=tuple(axes), axis_size=n))


__all__ = ["init", "rank", "size", "device", "barrier", "psum", "pmean", "pmax", "all_gather",
           "broadcast", "psum_p", "pmean_p", "pmax_p", "all_gather_p", "broadcast_p"]
