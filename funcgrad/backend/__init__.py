"""Backend selection and device placement: NumPy by default, CuPy for arrays on an NVIDIA GPU.

Arrays at rest are the backend's own arrays (no wrapper type). CuPy is imported only by
`cupy_backend.py`, and only when a GPU array or device is involved.

The package sits below the primitives (it imports only errors, util, pytree, avals, core and
ir) and never names a primitive: code generation reads tables that each primitive's block
fills. `numpy_codegen.py` holds the NumPy emitter table and generates the CPU source;
`fusion.py` holds the C-expression table and plans the GPU's fused kernels; `cupy_codegen.py`
generates the GPU source; `compile.py` compiles a closed program once, for either.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import FuncgradError
from ..pytree import tree_map
from . import cupy_backend  # (CuPy itself is imported only there, on first use)


def is_gpu_array(x: Any) -> bool:
    return hasattr(x, "__cuda_array_interface__")


def get_array_module(*xs):
    """The array module (numpy or cupy) that owns `xs` (the `xp` idiom)."""
    for x in xs:
        if is_gpu_array(x):
            return cupy_backend.cupy_module()
    return np


class Device:
    """A place arrays live: `cpu`, or `gpu:<index>`."""

    __slots__ = ("platform", "index")

    def __init__(self, platform: str, index: int = 0):
        self.platform, self.index = platform, index

    def __repr__(self) -> str:
        return "cpu" if self.platform == "cpu" else f"gpu:{self.index}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and (self.platform, self.index) == (other.platform,
                                                                              other.index)

    def __hash__(self) -> int:
        return hash((self.platform, self.index))


CPU = Device("cpu")


def devices() -> list[Device]:
    """The devices funcgrad can use here: `[cpu]`, plus `gpu:i` for each CUDA device CuPy sees."""
    try:
        n = cupy_backend.num_devices()
    except ImportError:
        n = 0
    return [CPU] + [Device("gpu", i) for i in range(n)]


def as_device(device: Any) -> Device:
    """Parse `None`, 'cpu', 'gpu', 'gpu:1', 'cuda' or a `Device`."""
    if device is None or isinstance(device, Device):
        return device or CPU
    if isinstance(device, str):
        name, _, idx = device.lower().partition(":")
        if name == "cpu" and not idx:
            return CPU
        if name in ("gpu", "cuda") and (not idx or idx.isdigit()):
            return Device("gpu", int(idx or 0))
    raise FuncgradError(f"funcgrad: unknown device {device!r}; use 'cpu', 'gpu' or 'gpu:<index>' "
                        f"(fg.devices() lists what this machine has).")


def device_of(x: Any) -> Device:
    if is_gpu_array(x):
        return Device("gpu", int(getattr(getattr(x, "device", None), "id", 0)))
    return CPU


def device_put(x: Any, device: Any = None):
    """Copy every array leaf of the pytree `x` to `device` (default: the CPU)."""
    dev = as_device(device)
    if dev.platform == "cpu":
        return to_numpy(x)
    return tree_map(lambda a: cupy_backend.to_device(a, dev.index), x)


def to_numpy(x: Any):
    """Every array leaf of the pytree `x` as a NumPy array on the host."""
    def host(a):
        return cupy_backend.to_host(a) if is_gpu_array(a) else np.asarray(a)
    return tree_map(host, x)


def from_dlpack(x: Any):
    """An array sharing memory with a DLPack-capable object (a GPU one stays on the GPU)."""
    dev = getattr(x, "__dlpack_device__", None)
    if dev is not None and dev()[0] != 1:  # 1 = kDLCPU
        return cupy_backend.from_dlpack(x)
    return np.from_dlpack(x)


def check_same_device(leaves: list, where: str) -> Device:
    """The one device all array leaves live on; mixing CPU and GPU arrays is an error."""
    seen: dict[Device, int] = {}
    for i, x in enumerate(leaves):
        if isinstance(x, np.ndarray) or is_gpu_array(x):
            seen.setdefault(device_of(x), i)
    if len(seen) > 1:
        desc = ", ".join(f"argument leaf {i} on {d}" for d, i in seen.items())
        raise FuncgradError(f"{where}: arrays on different devices in one call ({desc}). "
                            f"funcgrad never copies silently: move them with "
                            f"`fg.device_put(x, device)` first.")
    return next(iter(seen), CPU)


# The device eager constants (zeros, identities, seeds, masks) are made on: the device of the
# arrays of the transform or call that is running, so a constant never meets an operand on another
# device. Transforms and calls enter `constants_on(their leaves)`.
_PLACE: list = [CPU]


class constants_on:
    """`with constants_on(leaves):` makes eager constants on the device of `leaves` (a class,
    not a generator: it is entered on every transform call)."""

    __slots__ = ()

    def __init__(self, leaves):
        dev = None
        for x in leaves:
            if isinstance(x, np.ndarray):
                dev = dev or CPU
            elif is_gpu_array(x):
                dev = device_of(x)
                break
        _PLACE.append(dev or _PLACE[-1])  # only tracers or scalars: keep the caller's device

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        _PLACE.pop()


def current_device() -> Device:
    return _PLACE[-1]


def constant_xp():
    """The array module constants are made with now (numpy, or cupy on a GPU call)."""
    return np if _PLACE[-1].platform == "cpu" else cupy_backend.cupy_module()


def place(x):
    """The host array `x` on the device constants are made on now (unchanged on the CPU)."""
    dev = _PLACE[-1]
    return x if dev.platform == "cpu" or is_gpu_array(x) else cupy_backend.to_device(x, dev.index)
