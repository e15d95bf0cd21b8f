"""Compile a closed program once: generated code cached beside the program object.

`compile_closed(closed)` is NumPy source on the CPU (`numpy_codegen`) or, with `gpu=True`,
source launching fused CuPy kernels (`cupy_codegen`). The cache is weak-keyed by the program,
so compiled code lives exactly as long as its program. `jit` and the control-flow primitives
(whose loop bodies run as compiled code) call it; programs are optimised by their callers.
"""
from __future__ import annotations

import weakref

from ..ir import IR
from .cupy_codegen import lower_gpu
from .numpy_codegen import compile_ir

_compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def compile_closed(closed: IR, donate: tuple[bool, ...] = (), gpu: bool = False):
    """The generated code for `closed` (compiled once per program object and `donate`/`gpu`):
    an object with `fn(*args) -> list of outputs` and its `source`."""
    per = _compiled.get(closed)
    if per is None:
        per = _compiled[closed] = {}
    key = "gpu" if gpu else donate
    c = per.get(key)
    if c is None:
        c = per[key] = lower_gpu(closed) if gpu else compile_ir(
            closed, donate, sub_source=lambda sub: compile_closed(sub).source)
    return c
