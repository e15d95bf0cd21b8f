"""NCCL for the collectives of device (CuPy) arrays: rank r of the MPI world drives GPU
r % device_count, and one NCCL communicator joins those GPUs.

The communicator is made on the first collective of device arrays (every rank reaches it at the
same time, as every collective): rank 0 draws NCCL's unique id, MPI broadcasts it, and every rank
builds `NcclCommunicator(size, id, rank)` on its GPU. `_mpi.py` packs the leaves on the device
exactly as on the host (one buffer per dtype for a reduction, raw bytes for a gather or a
broadcast) and hands the buffer to one call here; each call is enqueued on the device's current
CuPy stream, so the work around it stays ordered without a synchronisation. CuPy itself is
reached only through `funcgrad.backend.cupy_backend`; a device address is CuPy's `x.data.ptr`.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import cupy_backend, device_of
from ..errors import FuncgradError

# the element types NCCL reduces (no bool, int16 or complex: complex sums go as pairs of reals)
_NCCL_TYPES = {np.dtype(t): f"NCCL_{t.upper()}" for t in (
    "int8", "uint8", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64")}
_NCCL_OPS = {"sum": "NCCL_SUM", "mean": "NCCL_SUM", "max": "NCCL_MAX"}


class Communicator:
    """An NCCL communicator with the module it came from and the GPU it drives."""

    __slots__ = ("nccl", "comm", "device")

    def __init__(self, w):  # collective: every rank of `w` calls it
        self.device = device(w)
        self.nccl = cupy_backend.nccl_module()
        unique_id = w.comm.bcast(self.nccl.get_unique_id() if w.rank == 0 else None, root=0)
        self.comm = cupy_backend.nccl_communicator(w.size, unique_id, w.rank, self.device)

    def check(self, w, xs: list) -> None:
        for x in xs:
            if device_of(x).index != self.device:
                raise FuncgradError(
                    f"funcgrad.parallel: rank {w.rank} runs its collectives on gpu:"
                    f"{self.device} (rank % number of GPUs), but an operand lives on "
                    f"{device_of(x)}; put the arrays there first: "
                    f"fg.device_put(x, parallel.device())")

    def stream(self) -> int:
        return cupy_backend.current_stream_ptr(self.device)


def communicator(w) -> Communicator:
    if w.nccl is None:
        w.nccl = Communicator(w)
    return w.nccl


def allreduce(w, buf, op: str):
    """`buf` (one flat device buffer, one dtype) reduced over ranks in place; returned."""
    c = communicator(w)
    flat, dtype = buf, buf.dtype
    if dtype.kind == "c" and op != "max":
        flat = buf.view(np.dtype(dtype.char.lower()))  # complex: its real and imaginary parts
    name = _NCCL_TYPES.get(flat.dtype)
    if name is None:
        raise FuncgradError(f"funcgrad.parallel: NCCL cannot reduce {dtype} arrays over GPUs "
                            f"({op}); convert them first (e.g. `x.astype(np.float32)`)")
    ptr = flat.data.ptr
    c.comm.allReduce(ptr, ptr, flat.size, getattr(c.nccl, name), getattr(c.nccl, _NCCL_OPS[op]),
                     c.stream())
    return buf


def allgather(w, send, recv) -> None:
    """The bytes `send` of every rank into the rows of `recv` (size, send.size), in rank order."""
    c = communicator(w)
    c.comm.allGather(send.data.ptr, recv.data.ptr, send.size,
                     c.nccl.NCCL_UINT8, c.stream())


def bcast(w, buf, root: int) -> None:
    """The bytes `buf` of rank `root` into `buf` on every rank."""
    c = communicator(w)
    c.comm.bcast(buf.data.ptr, buf.size, c.nccl.NCCL_UINT8, root, c.stream())


def device(w) -> Any:
    """The GPU index this rank's collectives use (rank % number of GPUs)."""
    return w.rank % max(cupy_backend.num_devices(), 1)
