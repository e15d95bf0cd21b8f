"""`cupy.cuda.nccl` of the CuPy stand-in: NCCL's multi-process API as CuPy wraps it
(cupy_backends/cuda/libs/nccl.pyx), run over MPI (mpi4py) on host copies of the stand-in's device
buffers, so that `mpiexec -n 2` exercises a caller's NCCL code path for real on the CPU.

Modelled as CuPy has it: `get_unique_id()` returns a tuple of 128 ints (C chars);
`NcclCommunicator(ndev, commId, rank)` takes that tuple (anything else is a TypeError) and binds
to the current device; its collectives take device addresses (`x.data.ptr`), an element count,
NCCL's datatype and reduction codes and a stream handle, all plain ints, in CuPy's order:
`allReduce(sendbuf, recvbuf, count, datatype, op, stream)`, `reduce(..., op, root, stream)`,
`broadcast(sendbuff, recvbuff, count, datatype, root, stream)`, `bcast(buff, count, datatype,
root, stream)`, `allGather(sendbuf, recvbuf, count, datatype, stream)`. An address is a key into
the registry of the stand-in's device buffers (`_device_bytes`): an address that is not inside a
live device array of the communicator's device raises NcclError, as an invalid device pointer
does. Every rank must construct its communicator with the same id, its own MPI rank and the world
size. Not modelled: asynchrony (the call completes before it returns), groups, send/recv,
bfloat16, and NCCL's refusal of two ranks on one GPU (the stand-in has as many devices as
`$FAKECUPY_DEVICES` says, 1 by default, and every process has its own).
"""
from __future__ import annotations

import os

import numpy

available = True
NCCL_UNIQUE_ID_BYTES = 128
NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = range(5)
NCCL_INT8 = NCCL_CHAR = 0
NCCL_UINT8 = 1
NCCL_INT32 = NCCL_INT = 2
NCCL_UINT32 = 3
NCCL_INT64 = 4
NCCL_UINT64 = 5
NCCL_FLOAT16 = NCCL_HALF = 6
NCCL_FLOAT32 = NCCL_FLOAT = 7
NCCL_FLOAT64 = NCCL_DOUBLE = 8
NCCL_BFLOAT16 = 9
_DTYPES = {NCCL_INT8: "int8", NCCL_UINT8: "uint8", NCCL_INT32: "int32", NCCL_UINT32: "uint32",
           NCCL_INT64: "int64", NCCL_UINT64: "uint64", NCCL_FLOAT16: "float16",
           NCCL_FLOAT32: "float32", NCCL_FLOAT64: "float64"}
_REDUCE = {NCCL_SUM: numpy.sum, NCCL_PROD: numpy.prod, NCCL_MAX: numpy.max, NCCL_MIN: numpy.min}


class NcclError(RuntimeError):
    pass


def get_unique_id() -> tuple:
    return tuple(b - 256 if b > 127 else b for b in os.urandom(NCCL_UNIQUE_ID_BYTES))


def _int(name, v):
    if not isinstance(v, (int, numpy.integer)) or isinstance(v, bool):
        raise TypeError(f"an integer is required for {name}, got {type(v).__name__}")
    return int(v)


class NcclCommunicator:
    def __init__(self, ndev, commId, rank):
        from mpi4py import MPI  # the transport of this model
        ndev, rank = _int("ndev", ndev), _int("rank", rank)
        if not isinstance(commId, tuple):
            raise TypeError(f"Argument 'commId' has incorrect type (expected tuple, got "
                            f"{type(commId).__name__})")
        assert len(commId) == NCCL_UNIQUE_ID_BYTES
        world = MPI.COMM_WORLD
        joined = world.allgather((commId, ndev, rank))
        if any(c != commId for c, _, _ in joined) or ndev != world.size or \
                [r for _, _, r in joined] != list(range(world.size)):
            raise NcclError("NCCL_ERROR_INVALID_USAGE: the ranks did not agree on the unique "
                            f"id, the size or the ranks: {[(n, r) for _, n, r in joined]}")
        from . import _current
        self._mpi, self._rank, self._ndev, self._dev = world.Dup(), rank, ndev, _current[0]

    def device_id(self):
        return self._dev

    def rank_id(self):
        return self._rank

    def size(self):
        return self._ndev

    def destroy(self):
        self._mpi = None

    def _view(self, ptr, count, datatype):
        if _int("datatype", datatype) not in _DTYPES:
            raise NcclError(f"NCCL_ERROR_INVALID_ARGUMENT: datatype {datatype}")
        from . import _device_bytes
        dtype = numpy.dtype(_DTYPES[datatype])
        return _device_bytes(ptr, count * dtype.itemsize, self._dev).view(dtype)

    def _gather(self, send):  # every rank's `send`, stacked in rank order (host copies)
        out = numpy.empty((self._ndev,) + send.shape, send.dtype)
        self._mpi.Allgather(numpy.ascontiguousarray(send), out)
        return out

    def allReduce(self, sendbuf, recvbuf, count, datatype, op, stream):
        count, op, _ = _int("count", count), _int("op", op), _int("stream", stream)
        send = self._view(_int("sendbuf", sendbuf), count, datatype)
        recv = self._view(_int("recvbuf", recvbuf), count, datatype)
        stacked = self._gather(send)
        if op == NCCL_AVG:
            recv[...] = (numpy.sum(stacked, 0) / self._ndev).astype(recv.dtype)
        elif op in _REDUCE:
            recv[...] = _REDUCE[op](stacked, 0)
        else:
            raise NcclError(f"NCCL_ERROR_INVALID_ARGUMENT: op {op}")

    def reduce(self, sendbuf, recvbuf, count, datatype, op, root, stream):
        send = self._view(_int("sendbuf", sendbuf), _int("count", count), datatype).copy()
        stacked = self._gather(send)
        if self._rank == _int("root", root):
            self._view(_int("recvbuf", recvbuf), count, datatype)[...] = _REDUCE[op](stacked, 0)

    def allGather(self, sendbuf, recvbuf, count, datatype, stream):
        count, _ = _int("count", count), _int("stream", stream)
        send = self._view(_int("sendbuf", sendbuf), count, datatype)
        recv = self._view(_int("recvbuf", recvbuf), count * self._ndev, datatype)
        recv[...] = self._gather(send).reshape(-1)

    def broadcast(self, sendbuff, recvbuff, count, datatype, root, stream):
        count, root, _ = _int("count", count), _int("root", root), _int("stream", stream)
        if not 0 <= root < self._ndev:
            raise NcclError(f"NCCL_ERROR_INVALID_ARGUMENT: root {root}")
        recv = self._view(_int("recvbuff", recvbuff), count, datatype)
        data = (self._view(_int("sendbuff", sendbuff), count, datatype).copy()
                if self._rank == root else numpy.empty_like(recv))
        self._mpi.Bcast(data, root=root)
        recv[...] = data

    def bcast(self, buff, count, datatype, root, stream):
        self.broadcast(buff, buff, count, datatype, root, stream)
