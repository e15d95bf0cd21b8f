"""The native CPU tier: an optimised closed program becomes Python source that Numba compiles.

One statement per equation, written by the primitive's entry in the table `emitters`, which each
primitive's block fills with `register_native` (this module knows no primitive). An entry is a
NumPy ufunc (called on the operands), a format string over the operands (`{d}` is the output
dtype's constructor, e.g. `np.float32`) or `fn(eqn, args, ctx) -> expression` (a list of them
for several results; None declines). A program with an equation no entry accepts is not lowered
(`compile_native` returns None and the caller keeps the NumPy code). Values of rank 0 are Numba
scalars, never 0-d arrays. Control flow is lowered in place: `while`, `scan` and `cond` inline
their sub-programs into Python loops and branches (`ctx.inline`), so a whole loop runs as one
native function. Elementwise chains are fused into single loops by Numba's array-expression
pass; `np.dot` calls BLAS.

Disk cache: the generated module is written to `cache_dir()` (`$FUNCGRAD_CACHE_DIR/native`,
default `~/.cache/funcgrad/native`) under the hash of its source, which the optimised program
fixes as the in-memory cache key fixes the program, and Numba compiles it with `cache=True`,
so a second process with the same program loads the machine code instead of compiling again.
Constants are passed as arguments, never baked into the source.
"""
from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
import threading
import types
from typing import Any

import numpy as np

from ..core import Primitive
from ..ir import IR, Lit, OpenIR, Var, sub_programs
from .numpy_codegen import _can_compact, _compactable, broadcasts

# primitive -> ufunc | format string | fn(eqn, args, ctx) -> expression(s) or None
emitters: dict[Primitive, Any] = {}
_IN = "input"  # (an input or constant counts as a view: handed out only as a copy)
views: set = {_IN}  # primitives whose result may share memory with an operand
loops: set[Primitive] = set()  # primitives that loop (a program holding one tiers up at once)


def register_native(prim: Primitive, emit: Any, view: bool = False, loop: bool = False) -> None:
    """Lower `prim` natively with `emit`; `view`: its result may alias an operand; `loop`: it
    runs a loop (see `Native`)."""
    emitters[prim] = emit
    _ = view and views.add(prim), loop and loops.add(prim)


class Unsupported(Exception):
    """An equation the native tier does not lower (the program stays on the NumPy tier)."""


def ctor(dtype) -> str:
    """The Numba-compilable constructor of a NumPy dtype: `np.float32`, `np.bool_`, ..."""
    if (dtype := np.dtype(dtype)).kind not in "biuf":
        raise Unsupported(f"dtype {dtype}")
    return "np.bool_" if dtype.kind == "b" else f"np.{dtype.name}"


class Ctx:
    """The source being written: lines at the current indentation (`depth`), the constants."""

    def __init__(self):
        self.lines, self.consts, self.depth, self.count = [], [], 1, 0

    def fresh(self, prefix: str = "t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def line(self, s: str) -> None:
        self.lines.append("    " * self.depth + s)

    def assign(self, names: list[str], exprs: list[str]) -> None:  # all at once (a swap too)
        if names:
            self.line(f"{names[0]} = {exprs[0]}" if len(names) == 1 else
                      f"{', '.join(names)} = {', '.join(exprs)}")

    def carry(self, exprs: list[str]) -> list[str]:  # fresh names holding `exprs`
        names = [self.fresh("c") for _ in exprs]
        self.assign(names, exprs)
        return names

    def block(self, header: str, *parts) -> None:
        """`header:` and under it each part `(program, its inputs, names for its outputs)`."""
        self.line(header + ":")
        self.depth += 1
        for closed, args, outs in parts:
            self.assign(outs, self.inline(closed, args))
        self.depth -= 1

    def const(self, c) -> str:
        ctor((c := np.asarray(c)).dtype)  # (only dtypes Numba compiles)
        self.consts.append(c[()] if c.ndim == 0 else c)
        return f"k{len(self.consts) - 1}"

    def atom(self, x, env: dict) -> str:
        if type(x) is not Lit:
            return env[x]
        if (val := np.asarray(x.val, dtype=x.aval.dtype)).ndim:
            return self.const(val)
        text = repr(val.item()).replace("inf", "np.inf").replace("nan", "np.nan")
        return f"{ctor(val.dtype)}({text})"

    def inline(self, closed: IR, args: list[str]) -> list[str]:
        """Write the equations of `closed` with its inputs named `args`; its outputs' names."""
        jaxpr = closed.open
        env = dict(zip(jaxpr.invars, args)) | {v: self.const(c) for v, c in
                                               zip(jaxpr.constvars, closed.consts)}
        compact = _compactable(jaxpr)  # broadcasts that elementwise readers leave to Numba
        reads = [[compact[x] if type(x) is Var and x in compact and _can_compact(e, j, compact)
                  else (x, None) for j, x in enumerate(e.inputs)] for e in jaxpr.eqns]
        full = {x for r in reads for x, _ in r} | set(jaxpr.outvars)  # (read as they are)
        for e, r in zip(jaxpr.eqns, reads):
            if e.prim in broadcasts and e.out_binders[0] not in full:
                continue  # (every reader takes its operand, broadcast by Numba)
            emit, a = emitters.get(e.prim), [(self.atom(x, env), t) for x, t in r]
            a = [s if t is None else f"np.ascontiguousarray({s}).reshape({t!r})" for s, t in a]
            expr = (None if emit is None else f"np.{emit.__name__}({', '.join(a)})"
                    if isinstance(emit, np.ufunc) else emit.format(
                        *a, d=ctor(e.out_binders[0].aval.dtype)) if isinstance(emit, str)
                    else emit(e, a, self))
            if expr is None:
                raise Unsupported(e.prim.name)
            outs = [self.fresh("v") for _ in e.out_binders]
            self.assign(outs, expr if isinstance(expr, list) else [expr])  # (a list: several)
            env.update(zip(e.out_binders, outs))
        return [self.atom(x, env) for x in jaxpr.outvars]


def lower_native(closed: IR) -> str | None:
    """The module source for `closed` (`kernel`, compiled by Numba, and `call`, converting
    arguments and results), or None where an equation is not supported."""
    jaxpr, ctx, params = closed.open, Ctx(), [f"a{i}" for i in range(len(closed.open.invars))]
    try:
        outs = ctx.inline(closed, params)
        made = {x: e.prim for e in jaxpr.eqns for x in e.out_binders}
        outs = [f"{s}.copy()" if type(x) is Var and x.aval.ndim and made.get(x, _IN) in views
                else s for x, s in zip(jaxpr.outvars, outs)]  # never an input, constant or view
        conv = [f"{ctor(v.aval.dtype)}({p})" if v.aval.ndim == 0 else p  # rank 0: scalars
                for v, p in zip(jaxpr.invars, params)]
        rets = [f"np.asarray(r[{i}], {ctor(x.aval.dtype)})" if x.aval.ndim == 0 else f"r[{i}]"
                for i, x in enumerate(jaxpr.outvars)]
    except Unsupported:
        return None
    ks = [f"k{i}" for i in range(len(ctx.consts))]
    return (f"import numpy as np\nimport numba\n\n\n@numba.njit(cache=True, nogil=True)\n"
            f"def kernel({', '.join(ks + params)}):\n" + "\n".join(ctx.lines) +
            f"\n    return ({', '.join(outs)},)\n\n\ndef call({', '.join(params)}):\n"
            f"    r = kernel({', '.join(ks + conv)})\n    return [{', '.join(rets)}]\n",
            ctx.consts)


def _load(source: str, consts: list):
    """Write `source` to the cache directory (once, under its hash) and import it."""
    d = os.path.join(os.environ.get("FUNCGRAD_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "funcgrad"), "native")  # (the cache directory)
    os.makedirs(d, exist_ok=True)
    name = f"fg_{hashlib.sha256(source.encode()).hexdigest()[:24]}"
    path = os.path.join(d, name + ".py")
    if not os.path.exists(path):  # (rewriting it would invalidate Numba's cache of it)
        with open(tmp := f"{path}.{os.getpid()}.{threading.get_ident()}", "w") as f:
            f.write(source)
        os.replace(tmp, path)  # (atomic: another process never reads half a file)
    mod = sys.modules[name] = types.ModuleType(name)  # (Numba's cache finds it by name)
    mod.__dict__.update((f"k{i}", c) for i, c in enumerate(consts))  # bound once, as globals
    exec(compile(source, path, "exec"), mod.__dict__)  # noqa: S102  (our source, from its file)
    return mod.__dict__


def available() -> bool:
    """Is Numba installed (the `fast` extra)?"""
    return importlib.util.find_spec("numba") is not None


AUTO_CALLS = 32  # `backend="auto"`: calls of one compiled signature before it tiers up
# `auto` tiers up a program (a loop included) only if no value in it, its sub-programs'
# included, has more elements than this: on large arrays NumPy's kernels and BLAS are the floor
# already (the same OpenBLAS GEMMs), and the native code of an MLP step (784-1000-10, batch 100)
# measured 1.19x slower than its NumPy code in f32 (5.3 vs 4.5 ms CPU) and 1.9x in f64 (15.9 vs
# 8.5 ms): each call's large arrays are fresh malloc'd blocks in Numba (page faults every call)
# where NumPy asks for huge pages. A scan over an MNIST epoch of that step: 426-544 ms native
# vs 334-342 ms as NumPy steps, after a 7-16 s compilation; its loop's Python dispatch is ~1 %.
AUTO_SMALL = 1 << 16


def _values(jaxpr: OpenIR):
    """Every value of a program: its inputs and equation outputs, sub-programs' included."""
    yield from jaxpr.constvars
    yield from jaxpr.invars
    for e in jaxpr.eqns:
        yield from e.out_binders
        for _, sub in sub_programs(e):
            yield from _values(sub.open if isinstance(sub, IR) else sub)


class Native:
    """The code of a jitted signature on the native tier: `fn(*args) -> list of outputs`.

    `backend="native"` (`now=True`) lowers and compiles on the first call, in the caller.
    `backend="auto"` runs the NumPy code at once and tiers up a program none of whose values
    (sub-programs' included) has over `AUTO_SMALL` elements (larger ones stay on NumPy): on the
    second call if it holds a loop (`while`, `fori_loop`, `scan`), else on the `AUTO_CALLS`-th,
    lowering and compiling in the caller on that call (the compilation is a native run on that
    call's arguments, its result dropped; a disk-cached kernel loads in milliseconds); then `fn`
    becomes the native function. A program the native tier does not lower, or whose
    compilation fails (`error`), stays on NumPy (`tier`). Without Numba nothing is attempted.
    """

    __slots__ = ("fn", "source", "tier", "error", "kernel", "thread", "_numpy", "_closed",
                 "_calls", "_now", "__weakref__")

    def __init__(self, numpy_code, closed: IR, now: bool = False):
        self._numpy, self._closed, self.source = numpy_code, closed, numpy_code.source
        self.tier, self.error, self.kernel, self.thread, self._now = "numpy", None, None, None, now
        loop = any(e.prim in loops for e in closed.open.eqns)
        small = all(math.prod(v.aval.shape) <= AUTO_SMALL for v in _values(closed.open))
        self._calls = AUTO_CALLS - (1 if now else 2 if loop else AUTO_CALLS)
        self.fn = self._count if available() and (now or small) else numpy_code.fn

    def _count(self, *args):
        self._calls += 1
        if self._calls < AUTO_CALLS:
            return self._numpy.fn(*args)
        self.fn = self._numpy.fn  # stop counting
        # in the calling thread: CPython 3.11's compiler is not safe to run from two threads at
        # once (Numba and `compile` in a worker thread broke a concurrent import's compilation)
        self._tier_up(*args)
        return self.fn(*args)

    def _tier_up(self, *args) -> None:
        # The generated module imports Numba (the optional `fast` extra, imported only on use);
        # no colour in its messages: colorama would swap sys.stdout from this thread
        os.environ.setdefault("NUMBA_DISABLE_ERROR_MESSAGE_HIGHLIGHTING", "1")
        try:
            lowered = lower_native(self._closed)
            if lowered is not None:
                (ns := _load(*lowered))["call"](*args)  # (Numba compiles for these types)
                self.source, self.kernel, self.tier, self.fn = lowered[0], ns["kernel"], \
                    "native", ns["call"]
        except Exception as e:  # noqa: BLE001  (the NumPy code stays; the reason is kept)
            self.error = e
