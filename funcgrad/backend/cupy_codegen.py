"""GPU lowering: an optimised closed program becomes Python source that launches fused CuPy
kernels for the elementwise groups and fused reductions of `fusion.plan_fusion` and calls
CuPy/cuBLAS (through each primitive's impl, which dispatches on the array module) for everything
else.

Lowering needs no GPU: `jit(f, device="gpu").lower(x)` shows the source and the CUDA C of each
kernel anywhere; only running the result needs CuPy and a device. Kernels compile on first use
and are cached by name (a hash of their source) in `cupy_backend`.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from ..ir import IR, Lit, Var
from . import cupy_backend, current_device
from .fusion import FusedKernel, plan_fusion


def call_device() -> int:
    """The GPU a generated program runs on: the one of the jitted call's arrays (the call enters
    `backend.constants_on`), device 0 outside one."""
    dev = current_device()
    return dev.index if dev.platform == "gpu" else 0


class CompiledGPU:
    """A lowered GPU program: `fn(*args) -> list of outputs`, its `source` and its `kernels`."""

    __slots__ = ("fn", "source", "kernels", "closed", "__weakref__")

    def __init__(self, fn: Callable, source: str, kernels: list[FusedKernel],
                 closed: IR):
        self.fn, self.source, self.kernels, self.closed = fn, source, kernels, closed

    def __call__(self, *args: Any) -> list:
        return self.fn(*args)

    def __repr__(self) -> str:
        return f"CompiledGPU(<{len(self.kernels)} fused kernels>)"


def lower_gpu(closed: IR, name: str = "jitted") -> CompiledGPU:
    """Lower `closed` for the GPU (source + kernels); nothing touches CuPy until it runs."""
    jaxpr = closed.open
    names: dict[Var, str] = {}
    ns: dict[str, Any] = {"_launch": cupy_backend.launch, "_to_device": cupy_backend.to_device,
                          "_device": call_device}
    counter = [0]

    def fresh(prefix: str) -> str:
        counter[0] += 1
        return f"{prefix}{counter[0]}"

    def ref(x) -> str:
        if type(x) is Lit:
            n = fresh("lit")
            ns[n] = x.val
            return n
        return names[x]

    args = [names.setdefault(v, fresh("a")) for v in jaxpr.invars]
    lines = [f"def {name}({', '.join(args)}):"]
    for v, c in zip(jaxpr.constvars, closed.consts):
        n = names[v] = fresh("c")
        ns[f"_host_{n}"], ns[f"_dev_{n}"] = c, {}  # moved once per device the call runs on
        lines.append(f"    {n} = _dev_{n}.get(_device())")
        lines.append(f"    if {n} is None:")
        lines.append(f"        {n} = _dev_{n}[_device()] = _to_device(_host_{n}, _device())")
    kernels = []
    for step in plan_fusion(jaxpr):
        if isinstance(step, FusedKernel):
            k = f"_k{len(kernels)}"
            ns[k] = step
            kernels.append(step)
            outs = [names.setdefault(v, fresh("v")) for v in step.outputs]
            ins = ", ".join(ref(x) for x in step.inputs)
            lines.append(f"    {', '.join(outs)}, = _launch({k}{', ' if ins else ''}{ins})"
                         f"  # {len(step.eqns)} equations fused")
            continue
        fn = fresh(f"_{step.prim.name}_")
        ns[fn] = functools.partial(step.prim.impl, **step.params) if step.params else \
            step.prim.impl
        outs = [names.setdefault(v, fresh("v")) for v in step.out_binders]
        call = f"{fn}({', '.join(ref(x) for x in step.inputs)})"
        if step.prim.multiple_results:
            lines.append(f"    {', '.join(outs)}, = {call}")
        else:
            lines.append(f"    {outs[0]} = {call}")
    lines.append(f"    return [{', '.join(ref(x) for x in jaxpr.outvars)}]")
    source = "\n".join(lines) + "\n"
    exec(compile(source, f"<funcgrad gpu:{name}>", "exec"), ns)  # noqa: S102 (our own source)
    return CompiledGPU(ns[name], source, kernels, closed)
