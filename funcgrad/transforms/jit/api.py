"""`jit`: stage a function once per abstract signature, optimise its IR, lower it to NumPy source.

The pieces:
- `Jitted`, the callable `jit` returns. Its compile cache maps a key
  (argument tree structure, shape/dtype/weak type of every leaf, static argument values, device,
  transform depth) to an optimised program (`passes.optimize`) and its generated code
  (`backend.numpy_codegen`). The cache is a bounded LRU held by the object. Wrappers of the
  same function with the same options share it through a table keyed weakly on the function,
  so `jit(f)(x)` inside a loop compiles once; nothing in it refers to the function, so
  `del f` frees it.
- `jit_p`, the call primitive that carries a program in its params. Called under another
  transform, a jitted function binds `jit_p`, and its rules (in `call.py`, beside
  `compile_closed`) build a new program for the transformed call (jvp, batching, partial
  evaluation for `grad`, transposition), each compiled once and cached beside the program it
  came from. Outer staging keeps the call; `optimize` inlines it.

Examples:
    >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
    >>> f = fg.jit(lambda x: fnp.sin(x) * 2.0)
    >>> f(np.zeros(2))
    array([0., 0.])
    >>> [e.prim.name for e in f.lower(np.zeros(2)).ir.eqns]
    ['sin', 'broadcast_in_dim', 'mul']
"""
from __future__ import annotations

import functools
import inspect
import itertools
import warnings
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from ... import core
from ...avals import ShapedArray
from ...backend import CPU, as_device, check_same_device, native
from ...core import FuncgradError, Tracer, get_aval_of, user_frame
from ...ir import typecheck_ir
from ...pytree import (
    PyTreeDef,
    flatten_fun,
    keystr,
    tree_flatten,
    tree_flatten_with_path,
    tree_structure,
    tree_unflatten,
)
from ...staging import CHECK_IR, trace_to_ir
from .call import Lowered as Lowered
from .call import _compiled as _compiled
from .call import _derived as _derived
from .call import _hoist_tracer_consts, _OnDevice
from .call import compile_closed as compile_closed
from .call import jit_p as jit_p
from .passes import optimize

CACHE_SIZE = 64  # entries per jitted function (least recently used evicted first)
RETRACE_WARN = 8  # warn (once) when a function has been traced more often than this


# --- the cache key ------------------------------------------------------------------------------

def _leaf_key(x) -> tuple:
    if type(x) is np.ndarray:
        return (x.shape, x.dtype, False)
    a = get_aval_of(x)
    return (a.shape, a.dtype, a.weak_type)


def _leaf_str(k: tuple) -> str:
    return ShapedArray(k[0], k[1]).str_short() + (" (weak)" if k[2] else "")


_MSG_UNHASHABLE = """\
funcgrad.jit: static argument {which} of {fn} has an unhashable value of type {tname}: {val!r}
  at {where}
Static arguments are part of the compile-cache key, so they must be hashable (and are compared by
value, never by identity). Fixes:
  - pass a tuple instead of a list, or a frozen dataclass / namedtuple instead of a dict;
  - or, if it is an array, do not mark it static: pass it as an ordinary (traced) argument."""


class _Entry:
    """One compiled signature: the optimised program, its code, the output tree structure,
    outer-transform tracers it closes over (None if none) and which inputs are donated."""
    __slots__ = ("closed", "compiled", "out_tree", "hoisted", "donate", "raw", "single", "tick")

    def __init__(self, closed, compiled, out_tree, hoisted, donate, raw):
        self.closed, self.compiled, self.out_tree = closed, compiled, out_tree
        self.hoisted, self.donate, self.raw = hoisted, donate, raw
        self.tick, mark = 0, object()
        self.single = out_tree.num_leaves == 1 and tree_unflatten(out_tree, [mark]) is mark


_clock = itertools.count()  # recency clock for least-recently-used eviction
_shared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # user function -> caches


def _shared_cache(fun: Callable, options: tuple) -> dict:
    """The cache of `fun` under `options`, shared by every `jit(fun, **options)`, so that
    `jit(f)(x)` written inside a loop compiles once. Held weakly: the table never keeps `fun`
    alive (the entries refer to programs and generated code, not to `fun`)."""
    try:
        return _shared.setdefault(fun, {}).setdefault(options, {})
    except TypeError:  # not weak-referenceable (a builtin, a ufunc): a cache of its own
        return {}


_ARGS_TREES: dict[int, PyTreeDef] = {}  # n -> the structure of (n positional arrays, no kwargs)
_CPU = str(CPU)
_SCALARS = (float, int, bool, complex)


def _args_tree(n: int) -> PyTreeDef:
    return _ARGS_TREES.setdefault(n, tree_structure((tuple(range(n)), {})))


class Jitted:
    """A function compiled per abstract signature; see `jit`."""

    def __init__(self, fun: Callable, static_argnums: Sequence[int], static_argnames: Sequence[str],
                 device: Any, donate_argnums: Sequence[int], backend: str = "auto"):
        _check_static_spec(fun, static_argnums, static_argnames)
        if backend not in ("numpy", "auto") and (backend != "native" or not native.available()):
            raise FuncgradError(f"jit: backend={backend!r} at {user_frame()}: use 'numpy', 'auto' "
                                f"or 'native' (needs Numba: `pip install funcgrad[fast]`)")
        self.backend = backend
        self.fun = fun
        self.static_argnums, self.static_argnames, self.donate_argnums = map(
            tuple, (static_argnums, static_argnames, donate_argnums))
        # None: follow the arguments (GPU arrays in -> GPU code); "cpu"/"gpu[:i]": fixed
        self.device = None if device is None else str(as_device(device))
        # key -> _Entry, shared by every `jit` of the same function with the same options,
        # through a weak-keyed table
        self._cache = _shared_cache(fun, (self.static_argnums, self.static_argnames,
                                          self.device, self.donate_argnums, backend))
        self._last_key: tuple | None = None
        self._last_paths: list[str] = []
        self._miss_text = "no cache miss yet: the function has not been traced."
        self._n_traces, self._warned = 0, False
        try:
            params = list(inspect.signature(fun).parameters)
        except (TypeError, ValueError):
            params = []
        self._arg_names = params
        self._static_pos = set(self.static_argnums) | {params.index(n) for n in
                                                       self.static_argnames if n in params}
        self._static_names = set(self.static_argnames) | {params[i] for i in self.static_argnums
                                                          if 0 <= i < len(params)}
        self.__name__ = getattr(fun, "__name__", "jitted")
        self.__qualname__ = getattr(fun, "__qualname__", self.__name__)
        self.__doc__ = getattr(fun, "__doc__", None)
        self.__wrapped__ = fun
        self._plain = not (self._static_pos or self._static_names or self.donate_argnums)

    # --- calling ------------------------------------------------------------------------------
    def _split(self, args: tuple, kwargs: dict):
        static_pos = self._static_pos
        n = len(args)
        statics = [(i % n, args[i % n]) for i in sorted(static_pos) if -n <= i < n]
        dyn = tuple(a for i, a in enumerate(args) if (i not in static_pos and i - n not in
                                                      static_pos))
        static = tuple(statics) + tuple(sorted((k, v) for k, v in kwargs.items()
                                               if k in self._static_names))
        dkw = {k: v for k, v in kwargs.items() if k not in self._static_names}
        for which, val in static:
            try:
                hash(val)
            except TypeError:
                raise FuncgradError(_MSG_UNHASHABLE.format(
                    which=repr(which), fn=self.__name__, tname=type(val).__name__, val=val,
                    where=user_frame())) from None
        return dyn, dkw, static

    def _key(self, args, kwargs):
        dyn, dkw, static = self._split(args, kwargs)
        leaves, in_tree = tree_flatten((dyn, dkw))
        static_key = tuple((w, type(v), v) for w, v in static)
        device = self.device or str(check_same_device(leaves, f"jit({self.__name__})"))
        try:
            leaf_keys = tuple(_leaf_key(x) for x in leaves)
        except TypeError:
            self._not_an_array(args, kwargs, leaves)
        key = (in_tree, leaf_keys, static_key, device,
               len(core.trace_stack))  # the transform depth: closures may hold its tracers
        return key, leaves, in_tree, static

    def _not_an_array(self, args, kwargs, leaves) -> None:
        paths = self._paths(args, kwargs)
        for i, x in enumerate(leaves):
            try:
                _leaf_key(x)
            except TypeError:
                name = (paths + [f"leaf {i}"] * len(leaves))[i]
                raise FuncgradError(
                    f"jit({self.__name__}): argument {name} is a {type(x).__name__}, not an "
                    f"array, at {user_frame()}\nPass Python values that select code (sizes, "
                    f"flags, objects, `self` of a method) as static arguments: "
                    f"`fg.jit(f, static_argnums=...)` or `static_argnames=...`; or make the "
                    f"object a pytree (`fg.tree_util.register_dataclass`).") from None

    def _get(self, key, leaves, in_tree, static, args, kwargs) -> _Entry:
        tick = next(_clock)
        entry = self._cache.get(key)
        if entry is not None:
            entry.tick = tick
            self._last_key = key
            return entry
        self._record_miss(key, args, kwargs)
        entry = self._trace(in_tree, leaves, static, args, key[3])
        if entry.hoisted is None:  # programs closing over outer tracers are never reused
            self._cache[key], entry.tick = entry, tick
            if len(self._cache) > CACHE_SIZE:  # evict the least recently used entry
                del self._cache[min(self._cache, key=lambda k: self._cache[k].tick)]
        self._last_key = key
        return entry

    def _trace(self, in_tree, leaves, static, args, device: str = "cpu") -> _Entry:
        fun = self.fun
        static_pos = {w: v for w, v in static if isinstance(w, int)}
        static_kw = {w: v for w, v in static if isinstance(w, str)}
        n = len(args)

        def f_dyn(dyn, dkw):
            it = iter(dyn)
            full = [static_pos[i] if i in static_pos else next(it) for i in range(n)]
            return fun(*full, **dkw, **static_kw)

        f_flat, out_tree = flatten_fun(f_dyn, in_tree)
        raw = trace_to_ir(f_flat, [get_aval_of(x) for x in leaves], name="jit")
        closed, hoisted = _hoist_tracer_consts(raw)
        closed = optimize(closed)
        if CHECK_IR[0]:
            typecheck_ir(closed.open)
        donate = tuple([False] * len(hoisted) + self._donate_mask(in_tree, n))
        if device.startswith("gpu"):
            compiled = _OnDevice(compile_closed(closed, gpu=True), int(device[4:] or 0))
        else:
            compiled = compile_closed(closed, donate if any(donate) else ())
            if self.backend != "numpy" and not any(donate):  # (donation: NumPy tier only)
                compiled = native.Native(compiled, closed, now=self.backend == "native")
        self._n_traces += 1
        return _Entry(closed, compiled, out_tree.val, hoisted or None, donate, raw)

    def _donate_mask(self, in_tree, n) -> list[bool]:
        if not self.donate_argnums:
            return [False] * in_tree.num_leaves
        dyn_pos = [i for i in range(n) if i not in self._static_pos]
        dyn_tree, _ = tree_unflatten(in_tree, list(range(in_tree.num_leaves)))
        donated = {i % n for i in self.donate_argnums if n}
        mask = [pos in donated for pos, sub in zip(dyn_pos, dyn_tree)
                for _ in tree_flatten(sub)[0]]
        return mask + [False] * (in_tree.num_leaves - len(mask))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if core.DEBUG_NANS[0]:  # run op by op, so the first NaN is found with its own line
            return self.fun(*args, **kwargs)
        key = None
        if not kwargs and self._plain and core._dynamic[0] is None and len(core.trace_stack) == 1:
            # the common case, NumPy arrays and scalars only: the key `_key` would give, without
            # flattening (a Python or NumPy scalar is one leaf, on the CPU)
            leaf_keys = []
            for a in args:
                if type(a) is np.ndarray:
                    leaf_keys.append((a.shape, a.dtype, False))
                elif type(a) in _SCALARS or isinstance(a, (np.number, np.bool_)):
                    leaf_keys.append(_leaf_key(a))
                else:
                    break
            else:
                tree = _ARGS_TREES.get(len(args)) or _args_tree(len(args))
                key = (tree, tuple(leaf_keys), (), self.device or _CPU, 1)
        if key is not None:
            entry = self._cache.get(key)
            if entry is not None:  # the hot path: no flattening, no checks
                self._last_key = key
                entry.tick = next(_clock)
                outs = entry.compiled.fn(*args)
                return outs[0] if entry.single else tree_unflatten(entry.out_tree, outs)
            leaves = list(args)
            entry = self._get(key, leaves, key[0], (), args, kwargs)
        else:
            key, leaves, in_tree, static = self._key(args, kwargs)
            entry = self._get(key, leaves, in_tree, static, args, kwargs)
        hoisted = entry.hoisted
        if hoisted is None and core._dynamic[0] is None and not any(
                isinstance(x, Tracer) for x in leaves):
            if self.donate_argnums:
                leaves = self._donated(leaves, entry)
            outs = entry.compiled.fn(*leaves)
        else:
            outs = jit_p.bind(*(hoisted or []), *leaves, jaxpr=entry.closed,
                              name=self.__name__)
        return tree_unflatten(entry.out_tree, outs)

    def _donated(self, leaves, entry) -> list:
        """Donated leaves must be writeable C-contiguous arrays not shared with other args."""
        out = list(leaves)
        for i, (d, x) in enumerate(zip(entry.donate, leaves)):
            if d and not (type(x) is np.ndarray and x.flags.writeable and x.flags.c_contiguous
                          and not any(y is x for j, y in enumerate(out) if j != i)):
                out[i] = np.array(x)
        return out

    # --- introspection ------------------------------------------------------------------------
    def lower(self, *args: Any, **kwargs: Any) -> Lowered:
        """Trace (or fetch from the cache) and return the optimised IR and generated source."""
        key, leaves, in_tree, static = self._key(args, kwargs)
        entry = self._get(key, leaves, in_tree, static, args, kwargs)
        return Lowered(entry.closed, entry.compiled.source, entry.raw,
                       getattr(entry.compiled, "kernels", ()))

    def tier(self, *args: Any, wait: bool = False, **kwargs: Any) -> str:
        """The code running for these arguments: "numpy" or "native" (`wait`: let a tier-up
        in progress finish first)."""
        c = self._get(*self._key(args, kwargs), args, kwargs).compiled
        _ = wait and getattr(c, "thread", None) and c.thread.join()
        return getattr(c, "tier", "numpy")

    def clear_cache(self) -> None:
        """Forget every compiled signature."""
        self._cache.clear()
        self._last_key = None

    def cache_size(self) -> int:  # the number of compiled signatures
        return len(self._cache)

    def explain_cache_miss(self) -> str:
        """Why the most recent trace happened: which part of the cache key changed."""
        return self._miss_text

    def _paths(self, args, kwargs) -> list[str]:
        dyn, dkw, _ = self._split(args, kwargs)
        names = [self._arg_names[i] if i < len(self._arg_names) else f"args[{i}]"
                 for i in range(len(args)) if i not in self._static_pos]
        return [name + keystr(p) for name, a in [*zip(names, dyn), *dkw.items()]
                for p, _ in tree_flatten_with_path(a)[0]]

    def _record_miss(self, key, args, kwargs) -> None:
        try:
            paths = self._paths(args, kwargs)
        except Exception:  # noqa: BLE001  (names are a nicety)
            paths = []
        old = self._last_key
        text = (f"{self.__name__}: first call, traced for {self._sig(key, paths)}" if old is None
                else f"{self.__name__}: cache miss (traced again) because\n  " + "\n  ".join(
                    self._diff(old, key, self._last_paths, paths)))
        self._miss_text, self._last_paths = text, paths
        if self._n_traces + 1 > RETRACE_WARN and not self._warned and old is not None:
            self._warned = True
            warnings.warn(f"funcgrad.jit: {self.__name__} has been traced "
                          f"{self._n_traces + 1} times with changing arguments; each trace "
                          f"re-stages and recompiles it. Latest change:\n{text}\nKeep shapes, "
                          f"dtypes and static arguments fixed between calls (pad batches, "
                          f"pass Python numbers as arrays, or mark fewer arguments static).",
                          RuntimeWarning, stacklevel=4)

    def _sig(self, key, paths) -> str:
        leaves = key[1]
        names = paths if len(paths) == len(leaves) else [f"leaf {i}" for i in range(len(leaves))]
        return ", ".join([f"{n}: {_leaf_str(k)}" for n, k in zip(names, leaves)] +
                         [f"static {w}={v!r}" for w, _, v in key[2]]) or "no arguments"

    def _diff(self, old, new, old_paths, new_paths) -> list[str]:
        out = []
        if old[0] != new[0]:
            out.append(f"the argument tree structure changed: {old[0]} -> {new[0]}")
        else:
            names = new_paths if len(new_paths) == len(new[1]) else [
                f"leaf {i}" for i in range(len(new[1]))]
            for n, a, b in zip(names, old[1], new[1]):
                if a[:2] != b[:2]:
                    what = " and ".join(w for w, i in (("shape", 0), ("dtype", 1)) if a[i] != b[i])
                    out.append(f"argument {n}: {what} {_leaf_str(a)} -> {_leaf_str(b)}")
                elif a[2] != b[2]:
                    out.append(f"argument {n}: weak type {_leaf_str(a)} -> {_leaf_str(b)} "
                               f"(a Python scalar vs an array)")
        olds, news = {w: (t, v) for w, t, v in old[2]}, {w: (t, v) for w, t, v in new[2]}
        for w in sorted(set(olds) | set(news), key=str):
            if olds.get(w) != news.get(w):
                name = (self._arg_names + [w] * (w + 1))[w] if isinstance(w, int) else w
                out.append(f"static argument {name}: {olds.get(w, (0, None))[1]!r} -> "
                           f"{news.get(w, (0, None))[1]!r}")
        if old[3] != new[3]:
            out.append(f"device: {old[3]} -> {new[3]}")
        if old[4] != new[4]:
            out.append(f"called under {new[4] - 1} enclosing transform(s) instead of "
                       f"{old[4] - 1} (jit retraces per transform depth)")
        return out or ["the key matched an entry that had been evicted or cleared "
                       f"(cache size {CACHE_SIZE}) or was never cached"]

    def __repr__(self) -> str:
        return f"<jitted {self.__name__}>"

    def __get__(self, obj, objtype=None):
        """As a method: the instance is the first argument (static, or a registered pytree)."""
        return self if obj is None else functools.partial(self, obj)


def _check_static_spec(fun: Callable, static_argnums, static_argnames) -> None:
    """Static argument positions and names must exist in `fun`'s signature (when it has one)."""
    try:
        sig = inspect.signature(fun)
    except (TypeError, ValueError):
        return
    ps = list(sig.parameters.values())
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in ps):
        return
    n, fn = len(ps), f"{getattr(fun, '__name__', 'fun')}{sig}"
    for bad in ([f"static_argnums={i} is out of range for {fn} ({n} parameter(s))"
                 for i in static_argnums if not -n <= i < n] +
                [f"static_argnames={s!r} is not a parameter of {fn}" for s in static_argnames
                 if s not in {p.name for p in ps}]):
        raise FuncgradError(f"jit: {bad}, at {user_frame()}")


def jit(fun: Callable, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), device: Any = None,
        donate_argnums: int | Sequence[int] = (), backend: str = "auto") -> Jitted:
    """Compile `fun` per abstract signature: stage it to IR, optimise, generate NumPy code.

    Args:
        fun: a pure function of arrays and pytrees of arrays.
        static_argnums: positions of arguments that are Python values (sizes, flags,
            callables); they must be hashable, are compared by value, and a new value retraces.
        static_argnames: the same, by keyword name.
        device: None (follow the arguments: CuPy arrays run on the GPU, NumPy arrays on the
            CPU; mixing them is an error), "cpu", or "gpu"/"gpu:<i>" (NumPy arguments are moved
            to the device). Lowering for the GPU needs no GPU: `.lower(x).kernels` shows the
            fused kernels anywhere.
        donate_argnums: arguments whose buffers the compiled code may overwrite (the caller
            promises not to use them after the call).
        backend: "numpy" (generated NumPy code), "native" (the program compiled by Numba, the
            `fast` extra, at its first call and cached on disk; NumPy code where an equation
            has no native lowering) or "auto" (NumPy code at once; a program whose values all
            have at most `backend.native.AUTO_SMALL` elements goes native from its second call
            if it holds a loop, else from its `AUTO_CALLS`-th, compiled on that call; larger
            programs, where NumPy and BLAS are the floor, stay on NumPy, as does everything
            without Numba).

    Returns:
        A callable with `.lower(*args)` (`.ir`, `.source`), `.explain_cache_miss()` and
        `.clear_cache()`.

    Examples:
        >>> import funcgrad as fg, funcgrad.numpy as fnp, numpy as np
        >>> f = fg.jit(lambda x, n: x ** n, static_argnums=1)
        >>> f(np.arange(3.0), 2)
        array([0., 1., 4.])
    """
    as_tuple = lambda v: (v,) if isinstance(v, (int, str)) else tuple(v)  # noqa: E731
    return Jitted(fun, as_tuple(static_argnums), as_tuple(static_argnames), device,
                  as_tuple(donate_argnums), backend)
