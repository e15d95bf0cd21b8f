"""The MPI world of `funcgrad.parallel`: the one module that imports mpi4py (on first use).

It holds the process group (`WORLD`: communicator, rank, size), `init()` and the buffer-based
transport the collective primitives of `collectives.py` call: every function here takes and
returns arrays of one place, all NumPy arrays on the host or all CuPy arrays on this rank's GPU,
packs them into one contiguous buffer (per dtype for reductions, as raw bytes for gathers and
broadcasts) and makes ONE call on it: MPI on the host, NCCL on the GPU (`_nccl.py`, whose
communicator is set up over this MPI world). Arrays are never pickled.

Without mpi4py, or when it is installed but the script was not started by an MPI launcher with
more than one process, the world has one process and every collective is the identity.
"""
from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from ..backend import get_array_module, is_gpu_array
from ..errors import FuncgradError
from . import _nccl

# environment variables by which MPI launchers announce the number of processes they started
_LAUNCHER_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS",
                       "SLURM_NTASKS", "MV2_COMM_WORLD_SIZE", "I_MPI_NUMRANKS")

_MSG_NO_MPI4PY = (
    "funcgrad.parallel: this process was started as one of {n} processes ({var}={n}), but "
    "mpi4py is not installed, so the processes cannot talk to each other. Install the "
    "`parallel` extra:\n    pip install \"funcgrad[parallel]\"      # mpi4py, for the system "
    "MPI of a cluster\n    pip install \"funcgrad[parallel]\" mpich  # on a laptop: an MPI "
    "with `mpiexec` from the package registry")


class World:
    """The process group: `comm` (an mpi4py communicator, or None for one process), `rank`,
    `size`, and `MPI` (the mpi4py.MPI module, or None)."""

    __slots__ = ("comm", "rank", "size", "MPI", "initialized", "scratch", "nccl")

    def __init__(self):
        self.comm = self.MPI = self.nccl = None  # nccl: the GPUs' communicator, made on use
        self.rank, self.size, self.initialized = 0, 1, False
        self.scratch: dict[np.dtype, np.ndarray] = {}  # all-reduce buffers, kept between calls


WORLD = World()


def _launcher_size() -> tuple[str, int] | None:
    for var in _LAUNCHER_SIZE_VARS:
        value = os.environ.get(var, "")
        if value.isdigit():
            return var, int(value)
    return None


def init() -> World:
    """Join the MPI world (idempotent). Installs an excepthook that aborts every rank when one
    raises, so that the others fail promptly instead of waiting in a collective forever."""
    if WORLD.initialized:
        return WORLD
    try:
        from mpi4py import MPI  # optional dependency (the `parallel` extra), imported on use
    except ImportError:
        launched = _launcher_size()
        if launched is not None and launched[1] > 1:
            raise ImportError(_MSG_NO_MPI4PY.format(var=launched[0], n=launched[1])) from None
        MPI = None
    if MPI is not None:
        WORLD.MPI, WORLD.comm = MPI, MPI.COMM_WORLD
        WORLD.rank, WORLD.size = WORLD.comm.Get_rank(), WORLD.comm.Get_size()
        if WORLD.size > 1:
            _install_abort_hook()
    WORLD.initialized = True
    return WORLD


def world() -> World:
    return WORLD if WORLD.initialized else init()


def _install_abort_hook() -> None:
    previous = sys.excepthook

    def abort_all(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        sys.stderr.write(f"funcgrad.parallel: rank {WORLD.rank} of {WORLD.size} raised "
                         f"{exc_type.__name__}; aborting all ranks (MPI_Abort)\n")
        sys.stderr.flush()
        WORLD.comm.Abort(1)

    sys.excepthook = abort_all


def barrier() -> None:
    w = world()
    if w.size > 1:
        w.comm.Barrier()


# --- packing: many arrays, one contiguous buffer ------------------------------------------------

def _group_by_dtype(xs: list[np.ndarray]) -> dict[np.dtype, list[int]]:
    groups: dict[np.dtype, list[int]] = {}
    for i, x in enumerate(xs):
        groups.setdefault(x.dtype, []).append(i)
    return groups


def _pack(w: World, xs: list[np.ndarray], idx: list[int]) -> np.ndarray:
    """The arrays `idx` of `xs` (one dtype) copied into one reused buffer. (A fresh buffer on
    every call makes a 3 MB shared-memory all-reduce twice as slow: its pages are new. CuPy's
    memory pool reuses device memory by itself.)"""
    xp = get_array_module(xs[idx[0]])
    if xp is not np:
        return xp.concatenate([xs[i].reshape(-1) for i in idx])
    dtype, n = xs[idx[0]].dtype, sum(xs[i].size for i in idx)
    buf = w.scratch.get(dtype)
    if buf is None or buf.size < n:
        buf = w.scratch[dtype] = np.empty(n, dtype)
    buf = buf[:n]
    offset = 0
    for i in idx:
        buf[offset:offset + xs[i].size] = xs[i].reshape(-1)
        offset += xs[i].size
    return buf


_ALIGN = 16  # byte offsets of the leaves in a raw buffer, so that every view is aligned


def _byte_layout(xs: list[np.ndarray]) -> tuple[list[int], int]:
    offsets, total = [], 0
    for x in xs:
        offsets.append(total)
        total += -(-x.nbytes // _ALIGN) * _ALIGN
    return offsets, total


def _pack_bytes(xp, xs: list, offsets: list[int], total: int):
    buf = xp.empty(total, np.uint8)
    for x, o in zip(xs, offsets):
        buf[o:o + x.nbytes] = xp.ascontiguousarray(x).reshape(-1).view(np.uint8)
    return buf


# --- the collectives on NumPy arrays (MPI) or on CuPy arrays (NCCL) ---------------------------

def _placed(w: World, xs) -> tuple[list, Any]:
    """`xs` with their array module: NumPy arrays (host) or CuPy arrays on this rank's GPU."""
    gpu = [is_gpu_array(x) for x in xs]
    if not any(gpu):
        return [np.asarray(x) for x in xs], np
    if not all(gpu):
        raise FuncgradError("funcgrad.parallel: one collective mixes host (NumPy) and GPU "
                            "arrays; put them on one device first (fg.device_put)")
    if w.size > 1:
        _nccl.communicator(w).check(w, xs)
    return list(xs), get_array_module(*xs)


def allreduce(xs: list[Any], op: str) -> list[Any]:
    """`op` in {"sum", "mean", "max"} over ranks, element by element; one Allreduce (one NCCL
    allReduce for GPU arrays) per dtype."""
    w = world()
    xs, xp = _placed(w, xs)
    if w.size == 1:
        return xs
    mpi_op = w.MPI.MAX if op == "max" else w.MPI.SUM
    outs: list[Any] = [None] * len(xs)
    for dtype, idx in _group_by_dtype(xs).items():
        buf = _pack(w, xs, idx)
        if xp is np:
            w.comm.Allreduce(w.MPI.IN_PLACE, buf, op=mpi_op)
        else:
            _nccl.allreduce(w, buf, op)
        if op == "mean":
            buf = xp.divide(buf, w.size)
        elif xp is np:
            buf = buf.copy()  # out of the reused scratch (a GPU buffer is a fresh one)
        offset = 0
        for i in idx:
            n = xs[i].size
            outs[i] = buf[offset:offset + n].reshape(xs[i].shape)
            offset += n
    return outs


def allgather(xs: list[Any]) -> list[Any]:
    """Each array stacked over ranks on a new leading axis, in rank order; one Allgather (NCCL
    allGather)."""
    w = world()
    xs, xp = _placed(w, xs)
    if w.size == 1:
        return [x[None] for x in xs]
    offsets, total = _byte_layout(xs)
    send, recv = _pack_bytes(xp, xs, offsets, total), xp.empty((w.size, total), np.uint8)
    if xp is np:
        w.comm.Allgather(send, recv)
    else:
        _nccl.allgather(w, send, recv)
    return [xp.ascontiguousarray(recv[:, o:o + x.nbytes]).view(x.dtype).reshape(
        (w.size,) + x.shape) for x, o in zip(xs, offsets)]


def bcast(xs: list[Any], root: int) -> list[Any]:
    """Rank `root`'s arrays on every rank; one Bcast (NCCL bcast)."""
    w = world()
    xs, xp = _placed(w, xs)
    if w.size == 1:
        return xs
    if not 0 <= root < w.size:
        raise FuncgradError(f"funcgrad.parallel.broadcast: root={root} is not a rank of this "
                            f"world of {w.size} processes (ranks 0..{w.size - 1})")
    offsets, total = _byte_layout(xs)
    buf = _pack_bytes(xp, xs, offsets, total) if w.rank == root else xp.empty(total, np.uint8)
    if xp is np:
        w.comm.Bcast(buf, root=root)
    else:
        _nccl.bcast(w, buf, root)
    return [buf[o:o + x.nbytes].view(x.dtype).reshape(x.shape) for x, o in zip(xs, offsets)]
