"""The CuPy backend: the one module in funcgrad that imports CuPy (lazily, on first use).

Without CuPy or without a GPU, nothing here is imported by the rest of funcgrad until a GPU is
asked for, and then the error says what is missing. The NCCL binding CuPy ships
(`cupy.cuda.nccl`) is reached through `nccl_module()`, `nccl_communicator()` and
`current_stream_ptr()`: `funcgrad.parallel` runs its collectives of device arrays on them.
"""
from __future__ import annotations

from typing import Any

from ..core import FuncgradError

_cupy: list[Any] = []  # the imported module, once
_kernels: dict[str, Any] = {}  # fused kernel cache: name (a hash of the source) -> kernel


def available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device."""
    try:
        cp = _import()
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, no driver, no device: all mean "no GPU here"
        return False


def _import():
    if not _cupy:
        import cupy  # the only CuPy import in funcgrad
        _cupy.append(cupy)
    return _cupy[0]


def cupy_module():
    """The `cupy` module, or a clear error when it cannot be used."""
    try:
        cp = _import()
    except ImportError:
        raise FuncgradError("funcgrad: a GPU was requested but CuPy is not installed. Install "
                            "the extra for the machine's CUDA: `pip install funcgrad[cuda12]` "
                            "or `pip install funcgrad[cuda13]` (`nvidia-smi` shows the CUDA "
                            "version), or keep the arrays on the CPU.") from None
    return cp


def num_devices() -> int:
    return _import().cuda.runtime.getDeviceCount() if available() else 0


def to_device(x: Any, index: int = 0):
    cp = cupy_module()
    if not available():
        raise FuncgradError("funcgrad: a GPU was requested but CuPy finds no CUDA device "
                            "(check `nvidia-smi`); use device='cpu'.")
    with cp.cuda.Device(index):
        return cp.asarray(x)


def to_host(x: Any):
    return x.get()


def from_dlpack(x: Any):
    return cupy_module().from_dlpack(x)


def nccl_module():
    """CuPy's NCCL binding (`cupy.cuda.nccl`), or a clear error when NCCL cannot be loaded."""
    cupy_module()
    from cupy.cuda import nccl  # CuPy's NCCL binding (optional), imported on use
    if not getattr(nccl, "available", False):
        raise FuncgradError("funcgrad.parallel: collectives of GPU arrays use NCCL, which CuPy "
                            "cannot load here. Install it for the machine's CUDA (`pip install "
                            "nvidia-nccl-cu12` or `nvidia-nccl-cu13`), or move the arrays to the "
                            "host first (fg.to_numpy).")
    return nccl


def nccl_communicator(size: int, unique_id: Any, rank: int, index: int):
    """`NcclCommunicator(size, unique_id, rank)` for device `index` (NCCL binds it to the device
    current at creation)."""
    nccl = nccl_module()
    with _import().cuda.Device(index):
        return nccl.NcclCommunicator(size, unique_id, rank)


def current_stream_ptr(index: int) -> int:
    """The handle of the current CuPy stream of device `index` (0 for the null stream)."""
    cp = _import()
    with cp.cuda.Device(index):
        return cp.cuda.get_current_stream().ptr


def scatter_add_into(out, index, updates) -> None:
    """`out[index] += updates` with repeated indices accumulating (NumPy's `add.at`)."""
    import cupyx  # optional dependency: CuPy's extras, imported on use
    cupyx.scatter_add(out, index, updates)


def fused_kernel(kernel):
    """The `cupy.ElementwiseKernel` of a `fusion.FusedKernel`, or the `cupy.ReductionKernel` of a
    `fusion.FusedReduction` (made once, cached; CuPy compiles it on first launch)."""
    k = _kernels.get(kernel.name)
    if k is None:
        cp = cupy_module()
        k = _kernels[kernel.name] = cp.ReductionKernel(
            kernel.in_params, kernel.out_params, kernel.map_expr, kernel.reduce_expr,
            kernel.post_map_expr, kernel.identity, kernel.name, reduce_type=kernel.reduce_type,
            preamble=kernel.preamble) if hasattr(kernel, "axes") else cp.ElementwiseKernel(
            kernel.in_params, kernel.out_params, kernel.operation, kernel.name)
    return k


def launch(kernel, *inputs):
    """Run a fused kernel: inputs reshaped for broadcasting, outputs allocated at full shape (a
    fused reduction allocates its own, reduced over `kernel.axes`)."""
    cp = cupy_module()
    args = [x.reshape(s) if s is not None else x for x, s in zip(inputs, kernel.input_shapes)]
    if hasattr(kernel, "axes"):  # an epilogue's outputs have the result's size, any shape
        shape = tuple(s for i, s in enumerate(kernel.shape) if i not in kernel.axes)
        outs = [cp.empty(shape, v.aval.dtype) for v in kernel.outputs]
        n = len(args) - kernel.n_extra  # an epilogue's other inputs: read as outputs
        fused_kernel(kernel)(*args[:n], *outs, *[a.reshape(shape) for a in args[n:]],
                             axis=kernel.axes)
        return [o.reshape(v.aval.shape) for o, v in zip(outs, kernel.outputs)]
    outs = [cp.empty(kernel.shape, v.aval.dtype) for v in kernel.outputs]
    fused_kernel(kernel)(*args, *outs)
    return outs


def special_module():
    """`cupyx.scipy.special` (the GPU impls of funcgrad's special-function primitives)."""
    cupy_module()
    import cupyx.scipy.special as sp  # CuPy's SciPy port (optional), imported on use
    return sp
